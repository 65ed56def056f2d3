//! Screenings: idempotent retries, evidence, and stats without PII.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use checkpost_store::{EvidenceBlob, SqliteStore, Store, StoreError};
use common::{at, clear, flagged};

#[test]
fn a_retry_with_the_same_request_id_replays_the_first_answer_and_stores_nothing_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let first = store
        .record_screening(flagged(1, "ISB", "k", "d"))
        .wait()
        .expect("first");
    assert!(!first.replayed);
    let mut retry = flagged(1, "ISB", "k", "d");
    retry.audit.screening_id = "s-retry".to_owned();
    retry.response = b"different".to_vec();
    let second = store.record_screening(retry).wait().expect("retry");
    assert!(second.replayed);
    assert_eq!(second.screening_id, "s-1");
    assert_eq!(second.case_id, first.case_id);
    assert_eq!(second.response, first.response);
    assert_eq!(store.audit_after(0, 10).expect("audit").len(), 1);
    assert_eq!(
        store
            .list_cases(&Default::default())
            .expect("list")
            .cases
            .len(),
        1
    );

    let stored = store
        .get_screening_by_request_id("req-1")
        .expect("lookup")
        .expect("found");
    assert_eq!(stored.screening_id, "s-1");
    assert_eq!(stored.case_id.as_deref(), Some("case-s-1"));
    assert!(
        store
            .get_screening_by_request_id("req-2")
            .expect("lookup")
            .is_none()
    );
}

#[test]
fn a_reopened_store_continues_the_chain_and_remembers_screenings() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = SqliteStore::open_in_dir(dir.path()).expect("open");
        store.record_screening(clear(1, "ISB")).wait().expect("1");
    }
    let store = SqliteStore::open_in_dir(dir.path()).expect("reopen");
    let r = store.record_screening(clear(2, "ISB")).wait().expect("2");
    assert_eq!(r.seq, 2);
    assert!(
        store
            .get_screening_by_request_id("req-1")
            .expect("lookup")
            .is_some()
    );
    let report = store.verify_chain().expect("verify");
    assert!(report.is_intact());
    assert_eq!(report.records, 2);
}

#[test]
fn evidence_is_stored_once_by_digest_and_a_wrong_digest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let bytes = b"\x89PNG fake scan".to_vec();
    let digest = blake3::hash(&bytes).to_hex().to_string();
    let blob = EvidenceBlob {
        digest: digest.clone(),
        kind: "DATA_PAGE".to_owned(),
        bytes,
    };
    let mut s = clear(1, "ISB");
    s.evidence = vec![blob.clone()];
    s.audit.evidence_digests = vec![digest.clone()];
    store.record_screening(s).wait().expect("store");
    assert_eq!(
        store.get_evidence(&digest).expect("read"),
        Some(blob.clone())
    );

    let mut bad = clear(2, "ISB");
    bad.evidence = vec![EvidenceBlob {
        digest: "00".repeat(32),
        ..blob
    }];
    let err = store.record_screening(bad).wait().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidRecord {
                field: "evidence.digest",
                ..
            }
        ),
        "{err}"
    );
    // The refused screening left nothing behind.
    assert!(
        store
            .get_screening_by_request_id("req-2")
            .expect("lookup")
            .is_none()
    );
    assert_eq!(store.audit_after(0, 10).expect("audit").len(), 1);
}

#[test]
fn stats_count_screenings_by_every_dimension_in_range_without_pii() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    for n in 1..=4 {
        store
            .record_screening(clear(n, "ISB"))
            .wait()
            .expect("clear");
    }
    let mut f = flagged(5, "LHE", "k", "d");
    f.audit.reason_codes = vec![
        "WATCHLIST_NAME_ONLY".to_owned(),
        "WATCHLIST_NAME_ONLY".to_owned(),
    ];
    f.audit.protection_referral = true;
    store.record_screening(f).wait().expect("flagged");
    store
        .claim_case("case-s-5", "r1", at(6))
        .wait()
        .expect("claim"); // not a screening
    store
        .record_screening(clear(100, "ISB"))
        .wait()
        .expect("out of range");

    let stats = store.stats(Some(at(1)), Some(at(6))).expect("stats");
    assert_eq!(stats.screenings, 5);
    assert_eq!(stats.protection_referrals, 1);
    let get = |d: &str, v: &str| stats.counts.get(d).and_then(|m| m.get(v)).copied();
    assert_eq!(get("decision", "CLEAR"), Some(4));
    assert_eq!(get("decision", "SECOND_CHECK"), Some(1));
    assert_eq!(
        get("reason", "WATCHLIST_NAME_ONLY"),
        Some(1),
        "once per screening"
    );
    assert_eq!(get("list", "ECL"), Some(1));
    assert_eq!(get("post", "ISB"), Some(4));
    assert_eq!(get("post", "LHE"), Some(1));
    assert_eq!(get("sex", "F"), Some(3));
    assert_eq!(get("sex", "M"), Some(2));
    assert_eq!(get("sex_age_band", "F/18-29"), Some(3));
    assert_eq!(get("destination", "ARE"), Some(5));
    let text = serde_json::to_string(&stats).expect("json");
    for pii in ["AB000", "KHAN", "AHMED", "dockey"] {
        assert!(!text.contains(pii), "stats leak {pii}: {text}");
    }
}

#[test]
fn a_ticket_is_a_future_that_completes_once_the_write_is_durable() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("tempdir");
    // Callers hold the store as a trait object shared across threads.
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let mut ticket = store.record_screening(clear(1, "ISB"));
    assert_send(&ticket);
    let mut cx = Context::from_waker(Waker::noop());
    let receipt = loop {
        match std::pin::Pin::new(&mut ticket).poll(&mut cx) {
            Poll::Ready(r) => break r.expect("stored"),
            Poll::Pending => std::thread::yield_now(),
        }
    };
    assert_eq!(receipt.seq, 1);
    assert!(
        store
            .get_screening_by_request_id("req-1")
            .expect("lookup")
            .is_some()
    );
}

#[test]
fn a_read_only_store_refuses_writes_but_reads_and_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpost.db");
    SqliteStore::open(&path)
        .expect("open")
        .record_screening(clear(1, "ISB"))
        .wait()
        .expect("store");
    let ro = SqliteStore::open_read_only(&path).expect("open read-only");
    assert!(matches!(
        ro.record_screening(clear(2, "ISB")).wait(),
        Err(StoreError::ReadOnly)
    ));
    assert!(ro.verify_chain().expect("verify").is_intact());
    assert_eq!(ro.stats(None, None).expect("stats").screenings, 1);
}
