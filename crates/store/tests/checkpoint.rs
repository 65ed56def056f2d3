//! The background checkpointer: committed pages reach the database file without waiting for the
//! writer's own checkpoint, and the WAL does not grow without bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use checkpost_store::{SqliteStore, Store};
use common::clear;

/// Polls `stats` until `done` holds; panics after a generous bound (a hang, not a timing).
fn wait_for(store: &SqliteStore, done: impl Fn(&checkpost_store::WriterStats) -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = store.writer_stats();
        if done(&stats) {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "checkpointer never caught up: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a checkpoint pass that began after this call and left nothing in the WAL (the pass
/// in progress when called may have begun before the last write, hence two).
fn wait_for_a_pass_after_now(store: &SqliteStore) {
    let before = store.writer_stats().checkpoints;
    wait_for(store, |s| {
        s.checkpoints >= before + 2 && s.wal_backlog_frames == 0
    });
}

fn audit_rows_in_database_file_alone(db: &std::path::Path) -> i64 {
    // A copy of the main file without its -wal holds only what was checkpointed.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.db");
    std::fs::copy(db, &copy).expect("copy");
    let conn = rusqlite::Connection::open(&copy).expect("open copy");
    conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .expect("count")
}

#[test]
fn committed_screenings_reach_the_database_file_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let tickets: Vec<_> = (1..=2_000)
        .map(|n| store.record_screening(clear(n, "ISB")))
        .collect();
    for t in tickets {
        t.wait().expect("recorded");
    }
    wait_for_a_pass_after_now(&store);
    assert_eq!(audit_rows_in_database_file_alone(store.path()), 2_000);
}

#[test]
fn the_wal_is_restarted_after_a_checkpoint_instead_of_growing_with_every_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let wal = dir.path().join("checkpost.db-wal");
    let mut n = 0;
    let mut round = |store: &SqliteStore| {
        let tickets: Vec<_> = (0..1_000)
            .map(|_| {
                n += 1;
                store.record_screening(clear(n, "ISB"))
            })
            .collect();
        for t in tickets {
            t.wait().expect("recorded");
        }
    };
    round(&store);
    let one_round = std::fs::metadata(&wal).expect("wal").len();
    for _ in 0..4 {
        wait_for_a_pass_after_now(&store);
        round(&store);
    }
    // Five rounds written; the WAL was reused from its start after each checkpoint, so it is
    // about one round's size, not five.
    let after = std::fs::metadata(&wal).expect("wal").len();
    assert!(
        after < one_round * 2,
        "WAL grew from {one_round} to {after} bytes over five checkpointed rounds"
    );
}
