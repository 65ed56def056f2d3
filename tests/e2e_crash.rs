//! Crash test over real gRPC on loopback: the `checkpost` binary serves under concurrent load and
//! is killed with SIGKILL mid-load, then restarted on the same data dir. Everything the client saw
//! acknowledged must have survived: its audit record, its case, and its idempotent replay; and
//! `checkpost audit verify` must find the chain intact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::review_client::ReviewClient;
use checkpost_proto::v1::screening_client::ScreeningClient;
use checkpost_store::{DEFAULT_FILE_NAME, SqliteStore, Store};
use chrono::Utc;
use common::{
    Passport, announced_addr, decision, fixture, fixture_snapshot, passport, request, serve_command,
};
use pb::Direction::{Arrival, Departure};
use tonic::transport::Channel;

/// Concurrent client tasks.
const TASKS: usize = 8;
/// Upper bound on Screen calls per task (the kill normally comes long before).
const MAX_PER_TASK: usize = 400;
/// Acknowledged screenings to wait for before the kill.
const KILL_AFTER_ACKS: usize = 200;

/// A `checkpost serve` child process, killed (SIGKILL) when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `checkpost serve` on an OS-chosen loopback port with `durability` and waits until
    /// it listens.
    fn start(snapshot: &Path, data_dir: &Path, durability: &str) -> Self {
        let mut child = serve_command(snapshot, data_dir)
            .arg("--durability")
            .arg(durability)
            .spawn()
            .expect("spawning checkpost serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        // Keeps draining stderr for the child's whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = announced_addr(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => addr,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("checkpost serve did not start listening ({e}); exit: {status:?}");
            }
        };
        Self { child, addr }
    }

    /// Sends SIGKILL and reaps the child.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the child");
    }

    /// A channel to the server with a per-call deadline.
    async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connecting to the child server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One screening the client saw answered.
struct Ack {
    request: pb::ScreenRequest,
    response: pb::ScreenResponse,
    flagged: bool,
}

/// The fixture passenger on the ECL, leaving: flagged (OFFLOAD) with a case.
fn ecl_listed() -> String {
    std::fs::read_to_string(fixture("passengers/ecl-listed-departure.mrz"))
        .unwrap()
        .trim()
        .to_string()
}

/// A clear passenger with a distinct document number.
fn clear(task: usize, i: usize) -> String {
    let number = format!("ZC{task:01}{i:06}");
    passport(&Passport {
        number: &number,
        ..Default::default()
    })
}

/// Sends Screen calls until the server goes away or the bound is reached; records every answer.
async fn load(
    task: usize,
    mut client: ScreeningClient<Channel>,
    ecl: String,
    acks: Arc<Mutex<Vec<Ack>>>,
) {
    for i in 0..MAX_PER_TASK {
        let flagged = (task + i) % 2 == 0;
        let req = if flagged {
            request(ecl.clone(), Departure)
        } else {
            request(clear(task, i), Arrival)
        };
        match client.screen(req.clone()).await {
            Ok(r) => acks.lock().unwrap().push(Ack {
                request: req,
                response: r.into_inner(),
                flagged,
            }),
            // The server was killed: anything unanswered was never acknowledged.
            Err(_) => return,
        }
    }
}

async fn crash_and_restart(dir: &Path, durability: &str) {
    let snapshot = fixture_snapshot(dir, Utc::now());
    let data_dir: PathBuf = dir.join("data");
    let ecl = ecl_listed();

    // Phase 1: load, then SIGKILL mid-load.
    let server = ServerProcess::start(&snapshot, &data_dir, durability);
    let channel = server.channel().await;
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            tokio::spawn(load(
                t,
                ScreeningClient::new(channel.clone()),
                ecl.clone(),
                Arc::clone(&acks),
            ))
        })
        .collect();
    loop {
        let n = acks.lock().unwrap().len();
        let all_done = tasks.iter().all(tokio::task::JoinHandle::is_finished);
        if n >= KILL_AFTER_ACKS || all_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let unfinished = tasks.iter().filter(|t| !t.is_finished()).count();
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    drop(channel);
    assert!(
        unfinished > 0,
        "the kill must land while clients are still sending"
    );
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    let flagged = acks.iter().filter(|a| a.flagged).count();
    eprintln!(
        "{} screenings acknowledged ({flagged} flagged) before SIGKILL; {unfinished} of {TASKS} clients still sending",
        acks.len()
    );
    assert!(
        acks.len() >= KILL_AFTER_ACKS,
        "acknowledged: {}",
        acks.len()
    );
    assert!(flagged > 0, "some acknowledged screenings were flagged");
    for a in &acks {
        if a.flagged {
            assert_eq!(decision(&a.response), "OFFLOAD");
            assert!(
                !a.response.case_id.is_empty(),
                "a flagged screening opens a case"
            );
        } else {
            assert_eq!(decision(&a.response), "CLEAR");
            assert!(a.response.case_id.is_empty());
        }
    }

    // Phase 2: restart on the same data dir.
    let server = ServerProcess::start(&snapshot, &data_dir, durability);
    let channel = server.channel().await;
    let mut review = ReviewClient::new(channel.clone());
    let mut screening = ScreeningClient::new(channel.clone());
    for a in acks.iter().filter(|a| a.flagged) {
        let case = review
            .get_case(pb::GetCaseRequest {
                case_id: a.response.case_id.clone(),
                include_images: false,
            })
            .await
            .unwrap_or_else(|e| panic!("case {} lost: {e:?}", a.response.case_id))
            .into_inner();
        assert_eq!(case.case_id, a.response.case_id);
        assert_eq!(case.screening_id, a.response.screening_id);
    }
    for a in &acks {
        let r = screening
            .screen(a.request.clone())
            .await
            .unwrap_or_else(|e| panic!("retry of {}: {e:?}", a.request.client_request_id))
            .into_inner();
        assert!(r.replayed, "retry of {}", a.request.client_request_id);
        assert_eq!(r.screening_id, a.response.screening_id);
        assert_eq!(r.case_id, a.response.case_id);
        assert_eq!(r.decision, a.response.decision);
    }
    drop((review, screening, channel));
    server.kill();

    // Every acknowledged screening has its audit record, and the chain verifies.
    let db = data_dir.join(DEFAULT_FILE_NAME);
    let store = SqliteStore::open_read_only(&db).unwrap();
    let mut recorded = HashSet::new();
    let mut after = 0;
    loop {
        let page = store.audit_after(after, 1000).unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        recorded.extend(page.into_iter().map(|e| e.record.screening_id));
    }
    drop(store);
    for a in &acks {
        assert!(
            recorded.contains(&a.response.screening_id),
            "no audit record for acknowledged screening {}",
            a.response.screening_id
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_checkpost"))
        .arg("audit")
        .arg("verify")
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_under_load_keeps_every_acknowledged_screening_case_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    tokio::time::timeout(
        Duration::from_secs(28),
        crash_and_restart(dir.path(), "power-loss"),
    )
    .await
    .expect("the crash test finishes within its time bound");
}

/// `process-crash` durability fsyncs only at checkpoints, yet a commit has reached the OS
/// before its response is sent, so killing the process loses nothing acknowledged either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_process_crash_durability_a_killed_server_keeps_every_acknowledged_screening() {
    let dir = tempfile::tempdir().unwrap();
    tokio::time::timeout(
        Duration::from_secs(28),
        crash_and_restart(dir.path(), "process-crash"),
    )
    .await
    .expect("the crash test finishes within its time bound");
}
