//! End-to-end: every screening is durable before it is answered — its audit record is in the
//! chain, a flagged one opens a case whose id the response carries, and a retry after a restart
//! replays the stored answer instead of opening a second case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use checkpost_proto::v1 as pb;
use checkpost_store::{AuditKind, CaseStatus};
use common::{Passport, Snap, TestServer, decision, khan, passport, request};
use pb::Direction::{Arrival, Departure};

#[tokio::test]
async fn a_flagged_screening_returns_its_case_id_and_its_record_verifies_in_the_chain() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let r = server.screen(request(khan(), Departure)).await.unwrap();
    assert_eq!(decision(&r), "OFFLOAD");
    assert!(!r.case_id.is_empty(), "a flagged screening opens a case");

    let store = server.state.store.clone().unwrap();
    let case = store.get_case(&r.case_id).unwrap();
    assert_eq!(case.screening_id, r.screening_id);
    assert_eq!(case.status, CaseStatus::Open);
    assert_eq!(case.decision, "OFFLOAD");
    assert!(
        case.details
            .matched
            .iter()
            .any(|m| m.entry_id == "ECL-0001" && m.list == "ECL"),
        "{:?}",
        case.details.matched
    );
    assert!(case.details.matched_entries_json.contains("ECL-0001"));
    assert!(case.reasons_json.contains("ECL-0001"));

    let report = store.verify_chain().unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    let records = store.audit_after(0, 100).unwrap();
    let rec = records
        .iter()
        .find(|e| e.record.screening_id == r.screening_id)
        .expect("the screening's audit record");
    assert_eq!(rec.record.kind, AuditKind::Screening);
    assert_eq!(rec.record.decision, "OFFLOAD");
    assert_eq!(rec.record.case_id, r.case_id);
    assert!(rec.record.lists_hit.contains(&"ECL".to_string()));
    assert!(!rec.record.document_key.contains("AB1234567"));
    server.stop().await;
}

#[tokio::test]
async fn a_clear_screening_is_recorded_without_a_case() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let r = server
        .screen(request(passport(&Passport::default()), Arrival))
        .await
        .unwrap();
    assert_eq!(decision(&r), "CLEAR");
    assert!(r.case_id.is_empty());
    let store = server.state.store.clone().unwrap();
    let records = store.audit_after(0, 100).unwrap();
    let rec = records
        .iter()
        .find(|e| e.record.screening_id == r.screening_id)
        .expect("CLEAR is audited too");
    assert_eq!(rec.record.decision, "CLEAR");
    assert!(rec.record.case_id.is_empty());
    assert!(store.verify_chain().unwrap().is_intact());
    server.stop().await;
}

#[tokio::test]
async fn a_retry_after_a_restart_replays_the_stored_answer_and_opens_no_second_case() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_path_buf();
    let req = request(khan(), Departure);

    let first = TestServer::start(Snap::Fresh, |c| c.data_dir = dir.clone()).await;
    let original = first.screen(req.clone()).await.unwrap();
    assert!(!original.case_id.is_empty());
    first.stop().await;

    let second = TestServer::start(Snap::Fresh, |c| c.data_dir = dir.clone()).await;
    let retried = second.screen(req.clone()).await.unwrap();
    assert!(retried.replayed);
    assert_eq!(retried.screening_id, original.screening_id);
    assert_eq!(retried.case_id, original.case_id);
    assert_eq!(retried.decision, original.decision);

    let mut changed = req;
    changed.counter_id = "D-99".into();
    let err = second.screen(changed).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");

    let store = second.state.store.clone().unwrap();
    let page = store.list_cases(&Default::default()).unwrap();
    assert_eq!(page.cases.len(), 1, "one screening, one case");
    assert!(store.verify_chain().unwrap().is_intact());
    second.stop().await;
}

#[tokio::test]
async fn two_posts_using_the_same_request_id_each_get_their_own_screening() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let a = request(khan(), Departure);
    let mut b = a.clone();
    b.post_id = "LHE-AIRPORT".into();
    let ra = server.screen(a).await.unwrap();
    let rb = server.screen(b).await.unwrap();
    assert!(!ra.replayed && !rb.replayed);
    assert_ne!(ra.screening_id, rb.screening_id);
    assert_ne!(ra.case_id, rb.case_id);
    let store = server.state.store.clone().unwrap();
    assert_eq!(
        store.list_cases(&Default::default()).unwrap().cases.len(),
        2
    );
    server.stop().await;
}
