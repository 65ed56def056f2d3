//! Tampering with the audit table directly in SQL is found by the chain walk, at the right seq.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use checkpost_store::audit::{BreakKind, ChainBreak};
use checkpost_store::{SqliteStore, Store};
use common::{at, clear, flagged};

/// A store with 10 records (screenings and case transitions), closed; returns its path.
fn ten_records() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpost.db");
    let store = SqliteStore::open(&path).expect("open");
    for n in 1..=6 {
        store
            .record_screening(clear(n, "ISB"))
            .wait()
            .expect("store");
    }
    store
        .record_screening(flagged(7, "ISB", "k", "d"))
        .wait()
        .expect("store");
    store
        .claim_case("case-s-7", "r1", at(100))
        .wait()
        .expect("claim");
    store
        .release_case("case-s-7", "r1", at(101))
        .wait()
        .expect("release");
    store
        .record_screening(clear(10, "ISB"))
        .wait()
        .expect("store");
    let report = store.verify_chain().expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 10);
    drop(store);
    (dir, path)
}

fn tamper_then_verify(sql: &str) -> Option<ChainBreak> {
    let (_dir, path) = ten_records();
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    conn.execute_batch(sql).expect("tamper");
    drop(conn);
    let store = SqliteStore::open_read_only(&path).expect("open read-only");
    store.verify_chain().expect("verify").first_break
}

fn broken_at(seq: u64, kind: BreakKind) -> Option<ChainBreak> {
    Some(ChainBreak { seq, kind })
}

#[test]
fn an_untouched_chain_verifies() {
    assert_eq!(tamper_then_verify("SELECT 1"), None);
}

#[test]
fn editing_a_decision_is_found_at_that_record() {
    assert_eq!(
        tamper_then_verify("UPDATE audit SET decision = 'CLEAR' WHERE seq = 7"),
        broken_at(7, BreakKind::Edited)
    );
}

#[test]
fn editing_the_officer_of_a_transition_is_found_at_that_record() {
    assert_eq!(
        tamper_then_verify("UPDATE audit SET officer_id = 'someone-else' WHERE seq = 8"),
        broken_at(8, BreakKind::Edited)
    );
}

#[test]
fn editing_a_record_and_recomputing_nothing_else_cannot_hide_behind_a_new_hash() {
    // Rewriting the hash of the edited record breaks the link from the next record instead.
    assert_eq!(
        tamper_then_verify(
            "UPDATE audit SET decision = 'CLEAR', hash = zeroblob(32) WHERE seq = 4"
        ),
        broken_at(4, BreakKind::Edited)
    );
}

#[test]
fn deleting_a_record_is_found_at_its_seq() {
    assert_eq!(
        tamper_then_verify("DELETE FROM audit WHERE seq = 5"),
        broken_at(5, BreakKind::Deleted)
    );
}

#[test]
fn swapping_two_whole_records_is_found_at_the_first_of_them() {
    assert_eq!(
        tamper_then_verify(
            "UPDATE audit SET seq = -1 WHERE seq = 3;
             UPDATE audit SET seq = 3 WHERE seq = 4;
             UPDATE audit SET seq = 4 WHERE seq = -1;"
        ),
        broken_at(3, BreakKind::Reordered)
    );
}

#[test]
fn swapping_two_records_contents_under_their_hashes_is_found_at_the_first_of_them() {
    assert_eq!(
        tamper_then_verify(
            "CREATE TEMP TABLE h AS SELECT seq, hash FROM audit WHERE seq IN (5, 6);
             UPDATE audit SET seq = -1 WHERE seq = 5;
             UPDATE audit SET seq = 5 WHERE seq = 6;
             UPDATE audit SET seq = 6 WHERE seq = -1;
             UPDATE audit SET hash = (SELECT hash FROM h WHERE h.seq = audit.seq)
               WHERE seq IN (5, 6);"
        ),
        broken_at(5, BreakKind::Reordered)
    );
}

#[test]
fn a_column_that_no_longer_decodes_is_reported_at_its_record() {
    let found = tamper_then_verify("UPDATE audit SET reason_codes = 'not json' WHERE seq = 2");
    assert!(
        matches!(found, Some(ChainBreak { seq: 2, kind: BreakKind::Unreadable(ref why) }) if why.contains("reason_codes")),
        "{found:?}"
    );
}
