//! End-to-end: `checkpost serve` stops on SIGTERM within its drain deadline even when a client
//! holds its connection open and never answers (a counter terminal that froze or fell off the
//! network): HTTP/2's graceful close waits for the peer, so without the deadline the server
//! would never exit and an init system would have to kill it mid-write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::screening_client::ScreeningClient;
use chrono::Utc;
use common::{
    Passport, announced_addr, decision, fixture_snapshot, passport, request, serve_command,
    stderr_lines,
};

/// How long the test waits for the server to exit: far beyond the 1 s drain deadline it runs
/// with, far short of forever.
const EXIT_WITHIN: Duration = Duration::from_secs(60);

// A current-thread runtime on purpose: while the test thread waits for the child below, nothing
// runs the client's connection, so the server's peer is alive but silent.
#[tokio::test(flavor = "current_thread")]
async fn sigterm_stops_the_server_within_its_drain_deadline_despite_a_silent_client() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = fixture_snapshot(dir.path(), Utc::now());
    let mut child = serve_command(&snapshot, &dir.path().join("data"))
        .args(["--drain-timeout", "1s"])
        .spawn()
        .expect("spawning checkpost serve");
    let (rx, reader) = stderr_lines(&mut child);
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server did not announce its address");
        if let Some(addr) = announced_addr(&line) {
            break addr;
        }
    };

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ScreeningClient::new(channel);
    let mrz = passport(&Passport {
        surname: "SADIQ",
        given: "NOOR",
        number: "QP1234567",
        dob: Some((1990, 1, 1)),
        ..Default::default()
    });
    let response = client
        .screen(request(mrz, pb::Direction::Arrival))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decision(&response), "CLEAR");

    // The connection stays open (`client` is alive) and, with this thread blocked, silent.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let asked = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if asked.elapsed() > EXIT_WITHIN {
            let _ = child.kill();
            panic!("the server was still running {EXIT_WITHIN:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    drop(client);
    let lines: Vec<String> = rx.iter().collect();
    reader.join().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("drain deadline passed")),
        "the server did not say why it stopped: {lines:#?}"
    );
}
