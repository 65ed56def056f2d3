//! End-to-end: the real `checkpost serve --log-format json` binary. Every line it writes to
//! stderr is one JSON object (the listen announcements included), and a screened passenger's
//! document number and CNIC appear only as their keyed blake3 hash, never raw. The metrics
//! endpoint the `--metrics-listen` flag opens counts the screening.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::screening_client::ScreeningClient;
use checkpost_server::pii::PiiHasher;
use chrono::Utc;
use common::{
    Passport, announced_addr, decision, fixture_snapshot, metric_samples, passport, request,
    scrape_metrics, serve_command, stderr_lines,
};

/// The `--log-hash-key` the server runs with, so the test can compute the expected hashes.
const LOG_HASH_KEY: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const DOCUMENT_NUMBER: &str = "AB1234567";
/// ECL-0001's CNIC, carried in the passport's personal-number field.
const CNIC_DIGITS: &str = "3520212345671";
const CNIC_DASHED: &str = "35202-1234567-1";

/// The address announced in a JSON line whose message starts with `prefix`.
fn announced(line: &serde_json::Value, prefix: &str) -> Option<SocketAddr> {
    let message = line.pointer("/fields/message")?.as_str()?;
    message.strip_prefix(prefix)?.trim().parse().ok()
}

/// Asks `child` to shut down gracefully (SIGTERM), as an init system would.
fn terminate(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
}

#[tokio::test]
async fn json_logs_carry_only_keyed_hashes_of_document_numbers_and_cnics() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = fixture_snapshot(dir.path(), Utc::now());
    let mut child = serve_command(&snapshot, &dir.path().join("data"))
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .args(["--log-hash-key", LOG_HASH_KEY])
        // A global flag, so it may follow the subcommand.
        .args(["--log-format", "json"])
        // Debug level: more of the stack speaks, and none of it may leak an identifier.
        .env("RUST_LOG", "debug")
        .spawn()
        .expect("spawning checkpost serve");
    let (rx, reader) = stderr_lines(&mut child);

    let mut lines = Vec::new();
    let (mut grpc, mut metrics) = (None, None);
    while grpc.is_none() || metrics.is_none() {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("the server did not announce both listeners; stderr so far: {lines:#?}");
        };
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
            grpc = grpc.or(announced_addr(&line));
            metrics = metrics.or(announced(&json, "checkpost metrics on "));
        }
        lines.push(line);
    }
    let (grpc, metrics) = (grpc.unwrap(), metrics.unwrap());

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let mrz = passport(&Passport {
        surname: "KHAN",
        given: "MUHAMMAD ASIF",
        number: DOCUMENT_NUMBER,
        dob: Some((1979, 3, 14)),
        personal_number: Some(CNIC_DIGITS),
        ..Default::default()
    });
    let response = ScreeningClient::new(channel)
        .screen(request(mrz, pb::Direction::Departure))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(decision(&response), "CLEAR");

    let scraped = metric_samples(&scrape_metrics(metrics).await);
    let flagged = format!(
        r#"checkpost_decisions_total{{decision="{}"}}"#,
        decision(&response)
    );
    assert_eq!(scraped.get(&flagged), Some(&1.0), "{flagged}");

    // Stop the server gracefully: it flushes its log queue on the way out; collect everything
    // it wrote.
    terminate(&child);
    assert!(child.wait().unwrap().success());
    lines.extend(rx.iter());
    reader.join().unwrap();

    let config = checkpost_server::Config {
        log_hash_key: Some(LOG_HASH_KEY.into()),
        ..Default::default()
    };
    let hasher = PiiHasher::new(config.log_hash_key().unwrap());
    let doc_hash = hasher.hash(DOCUMENT_NUMBER);
    let mut hashed_doc_lines = 0;
    for line in &lines {
        let json: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line}"));
        assert!(json.is_object(), "{line}");
        for raw in [DOCUMENT_NUMBER, CNIC_DIGITS, CNIC_DASHED] {
            assert!(!line.contains(raw), "raw identifier {raw} logged: {line}");
        }
        if line.contains(&doc_hash) {
            hashed_doc_lines += 1;
        }
    }
    assert!(
        hashed_doc_lines > 0,
        "no log line carries the document's keyed hash {doc_hash}: {lines:#?}"
    );
    // The hash is the span's `doc` field on the screening's own lines.
    assert!(
        lines.iter().any(|l| {
            let json: serde_json::Value = serde_json::from_str(l).unwrap();
            json.pointer("/span/doc").and_then(|v| v.as_str()) == Some(doc_hash.as_str())
        }),
        "no line with span.doc = {doc_hash}"
    );
}

/// A log shipper that stops reading (a stalled pipe) must not stall the counters: the server
/// logs through a queue, so screenings keep being answered while nobody drains stderr, and the
/// queued lines are flushed once the pipe moves again and the server shuts down.
// Multi-threaded: the test blocks on the child at the end while the runtime closes the client's
// connection (the server's graceful drain waits for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_pipe_nobody_reads_does_not_stall_screenings() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = fixture_snapshot(dir.path(), Utc::now());
    let mut child = serve_command(&snapshot, &dir.path().join("data"))
        // Debug level: every call writes many lines (the gRPC stack's included).
        .env("RUST_LOG", "debug")
        .spawn()
        .expect("spawning checkpost serve");
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let (drain_tx, drain_rx) = mpsc::channel::<()>();
    // Reads only until the listen address is announced, then holds the pipe open without
    // reading (so the server's writes fill it), until told to drain it to the end.
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { return 0 };
            if let Some(addr) = announced_addr(&line) {
                let _ = addr_tx.send(addr);
                break;
            }
        }
        let _ = drain_rx.recv();
        lines.count()
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server did not announce its address");

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let mut client = ScreeningClient::new(channel);
    // Far more log output than a pipe buffers (64 KiB on Linux): a server that wrote its logs
    // synchronously would block its workers on the full pipe and these calls would time out.
    for i in 0..400 {
        let mrz = passport(&Passport {
            surname: "SADIQ",
            given: "NOOR",
            number: &format!("QP{i:07}"),
            dob: Some((1990, 1, 1)),
            ..Default::default()
        });
        let response = client
            .screen(request(mrz, pb::Direction::Arrival))
            .await
            .unwrap_or_else(|status| {
                panic!("screening {i} failed while stderr was stalled: {status}")
            })
            .into_inner();
        assert_eq!(decision(&response), "CLEAR", "screening {i}");
    }

    // Hang up like a counter going off shift, then let the pipe move and stop the server.
    drop(client);
    drain_tx.send(()).unwrap();
    terminate(&child);
    assert!(child.wait().unwrap().success());
    let drained = reader.join().unwrap();
    assert!(
        drained > 400,
        "only {drained} lines reached stderr after it was drained"
    );
}
