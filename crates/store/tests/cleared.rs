//! Cleared-match memory: a namesake cleared once is remembered for that document and that
//! entry as it stood — nothing wider.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use checkpost_store::{
    AuditKind, CaseOutcome, Resolve, SqliteStore, Store, StoreError, Suppression,
};
use common::{at, flagged};

fn resolve_cleared(store: &SqliteStore, case_id: &str, entries: &[&str]) -> Result<(), StoreError> {
    store.claim_case(case_id, "r1", at(10)).wait()?;
    store
        .resolve_case(
            Resolve {
                case_id: case_id.to_owned(),
                reviewer: "r1".to_owned(),
                outcome: CaseOutcome::Cleared,
                notes: "namesake: different father's name and DOB".to_owned(),
                cleared_entry_ids: entries.iter().map(|s| (*s).to_owned()).collect(),
            },
            at(11),
        )
        .wait()
        .map(|_| ())
}

#[test]
fn a_cleared_match_is_found_only_for_the_same_document_and_the_same_entry_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    store
        .record_screening(flagged(1, "ISB", "doc-a", "digest-1"))
        .wait()
        .expect("store");
    resolve_cleared(&store, "case-s-1", &["ECL-1"]).expect("resolve");

    assert_eq!(
        store
            .find_cleared("doc-a", "ECL-1", "digest-1")
            .expect("find")
            .as_deref(),
        Some("case-s-1")
    );
    assert_eq!(
        store
            .find_cleared("doc-a", "ECL-1", "digest-2")
            .expect("find"),
        None,
        "entry changed"
    );
    assert_eq!(
        store
            .find_cleared("doc-b", "ECL-1", "digest-1")
            .expect("find"),
        None,
        "other passport"
    );
    assert_eq!(
        store
            .find_cleared("doc-a", "ECL-2", "digest-1")
            .expect("find"),
        None,
        "other entry"
    );
}

#[test]
fn clearing_needs_the_cleared_outcome_and_an_entry_the_case_matched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    store
        .record_screening(flagged(1, "ISB", "doc-a", "digest-1"))
        .wait()
        .expect("store");
    let err = resolve_cleared(&store, "case-s-1", &["ECL-9"]).unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownEntry { ref entry_id, .. } if entry_id == "ECL-9"),
        "{err}"
    );
    let err = store
        .resolve_case(
            Resolve {
                case_id: "case-s-1".to_owned(),
                reviewer: "r1".to_owned(),
                outcome: CaseOutcome::Offloaded,
                notes: "n".to_owned(),
                cleared_entry_ids: vec!["ECL-1".to_owned()],
            },
            at(12),
        )
        .wait()
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ClearedNeedsClearedOutcome { .. }),
        "{err}"
    );
    assert_eq!(
        store
            .find_cleared("doc-a", "ECL-1", "digest-1")
            .expect("find"),
        None
    );
}

#[test]
fn each_suppression_is_audited_in_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    store
        .record_screening(flagged(1, "ISB", "doc-a", "digest-1"))
        .wait()
        .expect("store");
    resolve_cleared(&store, "case-s-1", &["ECL-1"]).expect("resolve");

    let mut next = common::clear(2, "ISB");
    next.audit.document_key = "doc-a".to_owned();
    next.suppressions = vec![Suppression {
        entry_id: "ECL-1".to_owned(),
        entry_digest: "digest-1".to_owned(),
        cleared_by_case: "case-s-1".to_owned(),
    }];
    store.record_screening(next).wait().expect("store");
    let records = store.audit_after(0, 100).expect("audit");
    let kinds: Vec<AuditKind> = records.iter().map(|e| e.record.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::Screening,
            AuditKind::CaseClaimed,
            AuditKind::CaseResolved,
            AuditKind::Screening,
            AuditKind::MatchSuppressed,
        ]
    );
    let last = &records[4].record;
    assert_eq!(last.case_id, "case-s-1");
    assert_eq!(last.screening_id, "s-2");
    assert!(last.detail_json.contains("ECL-1"));
    assert!(store.verify_chain().expect("verify").is_intact());
}
