//! The background checkpointer: the writer never checkpoints inside a commit, yet committed
//! pages still reach the database file and the WAL does not grow without bound.
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
fn committed_screenings_reach_the_database_file_without_the_writer_checkpointing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let tickets: Vec<_> = (1..=2_000)
        .map(|n| store.record_screening(clear(n, "ISB")))
        .collect();
    for t in tickets {
        t.wait().expect("recorded");
    }
    wait_for(&store, |s| s.checkpoints >= 1 && s.wal_backlog_frames == 0);
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
        let before = store.writer_stats().checkpoints;
        wait_for(&store, |s| {
            s.checkpoints > before && s.wal_backlog_frames == 0
        });
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
