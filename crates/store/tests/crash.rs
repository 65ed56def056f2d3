//! Crash safety: a child process appends under load and is killed with SIGKILL; every write it
//! saw acknowledged is in the database afterwards, every case it opened exists, and the chain
//! verifies.
//!
//! The child is this test binary re-run with `CHECKPOST_STORE_CRASH_CHILD=<db path>`: the test
//! `crash_child_appender` then appends from several threads and prints `ACK <seq> <request id>
//! <case id or ->` for each completed ticket; without the variable it returns at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use checkpost_store::{Durability, SqliteStore, Store};

const CHILD_ENV: &str = "CHECKPOST_STORE_CRASH_CHILD";
/// `full` or `normal`: the child's [`Durability`].
const DURABILITY_ENV: &str = "CHECKPOST_STORE_CRASH_DURABILITY";
const THREADS: u64 = 4;
/// Acks the parent waits for before it kills the child.
const KILL_AFTER_ACKS: usize = 600;

#[test]
fn crash_child_appender() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let durability = match std::env::var(DURABILITY_ENV).as_deref() {
        Ok("normal") => Durability::ProcessCrash,
        _ => Durability::PowerLoss,
    };
    let store = Arc::new(SqliteStore::open_with(&path, durability).expect("child open"));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                // Bounded: the parent kills long before this ends.
                for i in 0..1_000_000u64 {
                    let n = i * THREADS + t;
                    let s = if n % 5 == 0 {
                        common::flagged(n, "ISB", "k", "d")
                    } else {
                        common::clear(n, "ISB")
                    };
                    let r = store.record_screening(s).wait().expect("append");
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(
                        out,
                        "ACK {} req-{n} {}",
                        r.seq,
                        r.case_id.as_deref().unwrap_or("-")
                    );
                    let _ = out.flush();
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

#[test]
fn every_acknowledged_write_survives_a_sigkill_and_the_chain_verifies() {
    crash_and_check("full");
}

#[test]
fn with_process_crash_durability_acknowledged_writes_still_survive_a_sigkill() {
    crash_and_check("normal");
}

fn crash_and_check(durability: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpost.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "crash_child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .env(DURABILITY_ENV, durability)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut acked: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut lines = BufReader::new(stdout).lines();
    let mut killed = false;
    for line in lines.by_ref() {
        let line = line.expect("line");
        let mut parts = line.split_whitespace();
        if parts.next() != Some("ACK") {
            continue;
        }
        let seq: u64 = parts.next().expect("seq").parse().expect("seq number");
        let req = parts.next().expect("request id").to_owned();
        let case = parts.next().expect("case id").to_owned();
        acked.insert(seq, (req, case));
        if acked.len() == KILL_AFTER_ACKS {
            child.kill().expect("SIGKILL the child"); // Child::kill is SIGKILL on Unix.
            killed = true;
            break;
        }
    }
    // Acks already in the pipe were also seen acknowledged: collect them too.
    for line in lines.map_while(Result::ok) {
        let mut parts = line.split_whitespace();
        if parts.next() == Some("ACK") {
            if let (Some(seq), Some(req), Some(case)) = (parts.next(), parts.next(), parts.next()) {
                if let Ok(seq) = seq.parse() {
                    acked.insert(seq, (req.to_owned(), case.to_owned()));
                }
            }
        }
    }
    let status = child.wait().expect("child exit");
    assert!(killed, "the child stopped before it was killed: {status:?}");
    assert!(!status.success());

    let store = SqliteStore::open(&path).expect("reopen after crash");
    let report = store.verify_chain().expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert!(report.records >= acked.len() as u64);
    let mut cases = 0;
    for (seq, (req, case)) in &acked {
        let stored = store
            .get_screening_by_request_id(req)
            .expect("lookup")
            .unwrap_or_else(|| panic!("acknowledged {req} (seq {seq}) is missing"));
        assert_eq!(stored.seq, *seq);
        if case != "-" {
            cases += 1;
            let found = store.get_case(case).expect("acknowledged case exists");
            assert_eq!(&found.screening_id, &stored.screening_id);
        }
    }
    assert!(cases > 0, "the load opened cases");
    // The reopened store goes on appending to the same chain.
    let next = store
        .record_screening(common::clear(9_999_999, "ISB"))
        .wait()
        .expect("append");
    assert_eq!(next.seq, report.records + 1);
}
