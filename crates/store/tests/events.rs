//! The case event log: strictly increasing cursors that a reader resumes from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use checkpost_store::{CaseEventKind, SqliteStore, Store};
use common::{at, flagged};

#[test]
fn a_reader_resuming_from_its_last_cursor_misses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    for n in 1..=3 {
        store
            .record_screening(flagged(n, "ISB", "k", "d"))
            .wait()
            .expect("store");
    }
    store
        .record_screening(flagged(4, "LHE", "k", "d"))
        .wait()
        .expect("other post");

    // First session: reads two events, then "disconnects".
    let first = store.events_after(Some("ISB"), 0, 2).expect("read");
    assert_eq!(first.len(), 2);
    let mut cursor = first.last().expect("events").cursor;
    let mut seen: Vec<(u64, String, CaseEventKind)> = first
        .iter()
        .map(|e| (e.cursor, e.case.case_id.clone(), e.kind))
        .collect();

    // Meanwhile more happens.
    store
        .claim_case("case-s-1", "r1", at(50))
        .wait()
        .expect("claim");
    store
        .claim_case("case-s-4", "r1", at(51))
        .wait()
        .expect("claim other post");
    store
        .release_case("case-s-1", "r1", at(52))
        .wait()
        .expect("release");
    store
        .record_screening(flagged(5, "ISB", "k", "d"))
        .wait()
        .expect("store");

    // Second session resumes from the cursor, in small pages.
    loop {
        let page = store.events_after(Some("ISB"), cursor, 2).expect("read");
        if page.is_empty() {
            break;
        }
        for e in page {
            assert!(e.cursor > cursor, "cursors strictly increase");
            cursor = e.cursor;
            seen.push((e.cursor, e.case.case_id.clone(), e.kind));
        }
    }
    let got: Vec<(&str, CaseEventKind)> = seen.iter().map(|(_, c, k)| (c.as_str(), *k)).collect();
    assert_eq!(
        got,
        [
            ("case-s-1", CaseEventKind::Created),
            ("case-s-2", CaseEventKind::Created),
            ("case-s-3", CaseEventKind::Created),
            ("case-s-1", CaseEventKind::Claimed),
            ("case-s-1", CaseEventKind::Released),
            ("case-s-5", CaseEventKind::Created),
        ]
    );
    // All posts: the LHE events are there too.
    assert_eq!(store.events_after(None, 0, 100).expect("all").len(), 8);
}

#[test]
fn each_event_carries_the_case_as_it_was_right_after_the_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    store
        .record_screening(flagged(1, "ISB", "k", "d"))
        .wait()
        .expect("store");
    store
        .claim_case("case-s-1", "r1", at(10))
        .wait()
        .expect("claim");
    store
        .release_case("case-s-1", "r1", at(11))
        .wait()
        .expect("release");
    let events = store.events_after(None, 0, 10).expect("read");
    let versions: Vec<(u64, Option<&str>)> = events
        .iter()
        .map(|e| (e.case.version, e.case.claimed_by.as_deref()))
        .collect();
    assert_eq!(versions, [(1, None), (2, Some("r1")), (3, None)]);
}

#[test]
fn the_notifier_wakes_waiters_and_subscribers_after_each_commit_with_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let seen = Arc::new(AtomicU64::new(0));
    {
        let seen = seen.clone();
        store
            .notifier()
            .subscribe(Box::new(move |c| seen.store(c, Ordering::SeqCst)));
    }
    let start = store.notifier().latest();
    assert_eq!(start, 0);
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || store.notifier().wait_after(start, Duration::from_secs(30)))
    };
    store
        .record_screening(flagged(1, "ISB", "k", "d"))
        .wait()
        .expect("store");
    let woke_at = waiter.join().expect("waiter");
    assert_eq!(woke_at, 1);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // A screening without a case writes no event and does not move the cursor.
    store
        .record_screening(common::clear(2, "ISB"))
        .wait()
        .expect("store");
    assert_eq!(store.notifier().latest(), 1);
}
