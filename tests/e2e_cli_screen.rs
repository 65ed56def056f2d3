//! End-to-end: the `checkpost screen` client subcommand against an in-process server on
//! 127.0.0.1:0 — its output and its exit codes (0 CLEAR, 1 any other decision, 2 a failed call).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Passport, Snap, TestServer, fixture, passport, run_cli, strings};

async fn run_screen(server: &TestServer, args: &[&str], stdin: Option<String>) -> (i32, String) {
    let mut all = strings(&["screen", "--server", &format!("http://{}", server.addr)]);
    all.extend(strings(args));
    let (code, out, err) = run_cli(all, Vec::new(), stdin).await;
    (code, out + &err)
}

#[tokio::test]
async fn screen_prints_the_decision_and_exits_by_it() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let listed = fixture("mrz/pak-passport-male.mrz");
    let (code, out) = run_screen(
        &server,
        &[
            "--mrz-file",
            listed.to_str().unwrap(),
            "--direction",
            "departure",
        ],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DECISION: OFFLOAD"), "{out}");
    assert!(out.contains("ECL-0001"), "{out}");

    let (code, out) = run_screen(
        &server,
        &["--direction", "arrival", "--json"],
        Some(passport(&Passport::default())),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(json["decision"], "CLEAR");
    assert_eq!(json["document"]["surname"], "QURESHI");
    assert_eq!(json["replayed"], false);
    server.stop().await;
}

#[tokio::test]
async fn screen_exits_2_naming_the_field_when_the_server_refuses() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let bad = fixture("mrz/invalid-lowercase.mrz");
    let (code, out) = run_screen(
        &server,
        &[
            "--mrz-file",
            bad.to_str().unwrap(),
            "--direction",
            "departure",
        ],
        None,
    )
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("InvalidArgument") && out.contains("mrz: line 1, column 7"),
        "{out}"
    );
    server.stop().await;
}
