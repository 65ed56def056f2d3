//! The `Watchlists` service over real gRPC: uploads that verify or are refused (each refusal
//! leaving the active snapshot serving), staging, activation by digest, rollback, the
//! `snapshot_dir` watcher, the `checkpost.snapshot` health entry and swaps under screening load.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::watchlists_client::WatchlistsClient;
use checkpost_watchlist::snapshot::{SigningKey, read_signing_key};
use chrono::{DateTime, Utc};
use common::{Passport, Snap, TestServer, run_cli};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

fn hq_key() -> SigningKey {
    read_signing_key(&std::fs::read_to_string(common::fixture("keys/hq-test.key")).unwrap())
        .unwrap()
}

/// A signed snapshot of 50 synthetic entries (`seed` makes the digest), built `hours_ago`.
fn snapshot(seed: u64, version: &str, created_at: DateTime<Utc>, key: &SigningKey) -> Vec<u8> {
    let entries = checkpost_watchlist::synth::generate(50, seed);
    checkpost_watchlist::snapshot::build(&entries, version, created_at, key).unwrap()
}

fn hours_ago(h: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::hours(h)
}

fn client(server: &TestServer) -> WatchlistsClient<Channel> {
    WatchlistsClient::new(server.channel.clone())
}

/// Uploads `bytes` in 4 KiB chunks.
async fn upload(
    server: &TestServer,
    bytes: &[u8],
    activate: bool,
) -> Result<pb::UploadSnapshotResponse, tonic::Status> {
    let chunks: Vec<pb::UploadSnapshotChunk> = bytes
        .chunks(4096)
        .map(|c| pb::UploadSnapshotChunk {
            data: c.to_vec(),
            activate,
        })
        .collect();
    client(server)
        .upload_snapshot(tokio_stream::iter(chunks))
        .await
        .map(tonic::Response::into_inner)
}

async fn status(server: &TestServer) -> pb::WatchlistStatus {
    client(server)
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

fn version(info: Option<&pb::SnapshotInfo>) -> Option<&str> {
    info.map(|i| i.version.as_str())
}

/// One screening that must succeed; returns the digest of the snapshot it used.
async fn screen_ok(server: &TestServer) -> String {
    let r = server
        .screen(common::request(
            common::passport(&Passport::default()),
            pb::Direction::Departure,
        ))
        .await
        .unwrap();
    r.snapshot.map(|s| s.digest).unwrap_or_default()
}

async fn snapshot_health(server: &TestServer, service: &str) -> i32 {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Polls `check` every 50 ms until it holds; fails after 30 s (a hang, not a timing assertion).
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// The file without its signature (signature length 0), as an unsigned build would be.
fn strip_signature(signed: &[u8]) -> Vec<u8> {
    let header_len = u32::from_le_bytes(signed[12..16].try_into().unwrap()) as usize;
    let sig_at = 16 + header_len;
    let mut out = signed[..sig_at].to_vec();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&signed[sig_at + 4 + 64..]);
    out
}

#[tokio::test]
async fn bad_uploads_are_refused_with_their_reason_and_the_active_snapshot_keeps_serving() {
    let server = TestServer::start(Snap::None, |_| {}).await;
    let key = hq_key();
    let good = snapshot(1, "night-1", hours_ago(1), &key);
    let r = upload(&server, &good, true).await.unwrap();
    assert!(r.activated);
    let active_digest = r.snapshot.unwrap().digest;

    let fresh = snapshot(2, "night-2", Utc::now(), &key);
    let mut corrupt = fresh.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    let wrong_key = snapshot(2, "night-2", Utc::now(), &SigningKey::from_bytes(&[7; 32]));
    let cases: Vec<(&str, Vec<u8>, Code, &str)> = vec![
        ("corrupt", corrupt, Code::InvalidArgument, "corrupted"),
        (
            "unsigned",
            strip_signature(&fresh),
            Code::InvalidArgument,
            "unsigned",
        ),
        (
            "wrong key",
            wrong_key,
            Code::InvalidArgument,
            "untrusted key",
        ),
        (
            "truncated file",
            fresh[..fresh.len() - 100].to_vec(),
            Code::InvalidArgument,
            "truncated",
        ),
        (
            "not a snapshot",
            b"hello".to_vec(),
            Code::InvalidArgument,
            "not a checkpost snapshot",
        ),
        (
            "older than active",
            snapshot(3, "night-0", hours_ago(5), &key),
            Code::FailedPrecondition,
            "not newer",
        ),
        (
            "same as active",
            good.clone(),
            Code::FailedPrecondition,
            "not newer",
        ),
    ];
    for (kind, bytes, code, needle) in cases {
        for activate in [false, true] {
            let err = upload(&server, &bytes, activate).await.unwrap_err();
            assert_eq!(err.code(), code, "{kind}: {}", err.message());
            assert!(err.message().contains(needle), "{kind}: {}", err.message());
            assert!(
                err.message().contains("active snapshot stays active"),
                "{kind}: {}",
                err.message()
            );
            let s = status(&server).await;
            assert_eq!(s.active.as_ref().unwrap().digest, active_digest, "{kind}");
            assert!(s.staged.is_empty(), "{kind}: nothing half-loaded is kept");
            assert_eq!(screen_ok(&server).await, active_digest, "{kind}");
        }
    }
    // The good one still goes through afterwards.
    let r = upload(&server, &fresh, false).await.unwrap();
    assert!(!r.activated);
    assert_eq!(status(&server).await.staged.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_upload_past_the_size_limit_is_resource_exhausted() {
    let server = TestServer::start(Snap::Fresh, |c| c.limits.max_snapshot_bytes = 1000).await;
    let before = status(&server).await.active.unwrap().digest;
    let big = snapshot(1, "big", Utc::now(), &hq_key());
    assert!(big.len() > 1000);
    let err = upload(&server, &big, true).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());
    assert!(
        err.message().contains("snapshot") && err.message().contains("1000"),
        "{}",
        err.message()
    );
    let s = status(&server).await;
    assert_eq!(s.active.unwrap().digest, before);
    assert!(s.staged.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_drops_mid_upload_leaves_nothing_behind() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let before = status(&server).await.active.unwrap().digest;
    let bytes = snapshot(1, "dropped", Utc::now(), &hq_key());
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadSnapshotChunk>(4);
    let mut c = client(&server);
    let call = tokio::spawn(async move {
        c.upload_snapshot(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    for chunk in bytes[..bytes.len() / 2].chunks(512) {
        tx.send(pb::UploadSnapshotChunk {
            data: chunk.to_vec(),
            activate: true,
        })
        .await
        .unwrap();
    }
    // The client goes away mid-stream: the call is cancelled without ending the stream.
    call.abort();
    let _ = call.await;
    drop(tx);
    let s = status(&server).await;
    assert_eq!(s.active.unwrap().digest, before);
    assert!(s.staged.is_empty());
    assert_eq!(screen_ok(&server).await, before);
    // The server is none the worse: the whole file uploads and activates.
    assert!(upload(&server, &bytes, true).await.unwrap().activated);
    assert_eq!(status(&server).await.active.unwrap().version, "dropped");
    server.stop().await;
}

#[tokio::test]
async fn staged_snapshots_activate_by_digest_and_roll_back_both_ways() {
    let server = TestServer::start(Snap::None, |_| {}).await;
    let key = hq_key();
    let s = status(&server).await;
    assert!(s.active.is_none() && s.stale, "no snapshot is stale");
    assert_eq!(s.stale_after_seconds, 36 * 3600);

    let a = upload(&server, &snapshot(1, "a", hours_ago(4), &key), false)
        .await
        .unwrap()
        .snapshot
        .unwrap();
    assert_eq!(a.total_entries, 50);
    assert_eq!(a.counts.iter().map(|c| c.entries).sum::<u64>(), 50);
    assert_eq!(a.format_version, 1);
    assert_eq!(a.signer.len(), 64);
    assert!(a.age_seconds >= 4 * 3600 - 5);
    assert_eq!(version(status(&server).await.staged.first()), Some("a"));
    let rollback = client(&server)
        .rollback_snapshot(pb::RollbackSnapshotRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        rollback.code(),
        Code::FailedPrecondition,
        "{}",
        rollback.message()
    );

    let s = client(&server)
        .activate_snapshot(pb::ActivateSnapshotRequest {
            digest: a.digest.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version(s.active.as_ref()), Some("a"));
    assert!(s.previous.is_none() && s.staged.is_empty() && !s.stale);
    assert_eq!(screen_ok(&server).await, a.digest);
    let err = client(&server)
        .rollback_snapshot(pb::RollbackSnapshotRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("no previous snapshot"),
        "{}",
        err.message()
    );

    // At most two staged: the oldest upload is dropped.
    let mut digests = Vec::new();
    for (seed, v, h) in [(2, "b", 3), (3, "c", 2), (4, "d", 1)] {
        let info = upload(&server, &snapshot(seed, v, hours_ago(h), &key), false)
            .await
            .unwrap()
            .snapshot
            .unwrap();
        digests.push(info.digest);
    }
    let staged: Vec<String> = status(&server)
        .await
        .staged
        .iter()
        .map(|s| s.version.clone())
        .collect();
    assert_eq!(staged, ["c", "d"]);
    let err = client(&server)
        .activate_snapshot(pb::ActivateSnapshotRequest {
            digest: digests[0].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{}", err.message());

    let s = client(&server)
        .activate_snapshot(pb::ActivateSnapshotRequest {
            digest: digests[2].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version(s.active.as_ref()), Some("d"));
    assert_eq!(version(s.previous.as_ref()), Some("a"));
    assert_eq!(screen_ok(&server).await, digests[2]);
    // c is older than the active d now.
    let err = client(&server)
        .activate_snapshot(pb::ActivateSnapshotRequest {
            digest: digests[1].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());

    let s = client(&server)
        .rollback_snapshot(pb::RollbackSnapshotRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version(s.active.as_ref()), Some("a"));
    assert_eq!(version(s.previous.as_ref()), Some("d"));
    assert_eq!(screen_ok(&server).await, a.digest);
    let s = client(&server)
        .rollback_snapshot(pb::RollbackSnapshotRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version(s.active.as_ref()), Some("d"));
    assert_eq!(version(s.previous.as_ref()), Some("a"));
    server.stop().await;
}

#[tokio::test]
async fn a_snapshot_dropped_into_snapshot_dir_is_activated_and_a_bad_file_is_skipped() {
    let drop_dir = tempfile::tempdir().unwrap();
    let path = drop_dir.path().to_path_buf();
    let server = TestServer::start(Snap::HoursOld(2), |c| {
        c.snapshot_dir = Some(path);
        c.snapshot_dir_poll = Duration::from_millis(50);
    })
    .await;
    let key = hq_key();
    // Newest by its header, but corrupt: refused, and the valid older one is taken instead.
    let mut corrupt = snapshot(5, "nightly-corrupt", Utc::now(), &key);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    std::fs::write(drop_dir.path().join("a-corrupt.cpsnap"), corrupt).unwrap();
    std::fs::write(drop_dir.path().join("b-garbage.cpsnap"), b"garbage").unwrap();
    std::fs::write(
        drop_dir.path().join("c-nightly.cpsnap"),
        snapshot(6, "nightly", hours_ago(1), &key),
    )
    .unwrap();
    eventually("the dropped snapshot is active", || async {
        version(status(&server).await.active.as_ref()) == Some("nightly")
    })
    .await;
    let s = status(&server).await;
    assert_eq!(version(s.previous.as_ref()), Some("e2e-fixture"));
    assert_eq!(screen_ok(&server).await, s.active.unwrap().digest);
    server.stop().await;
}

#[tokio::test]
async fn snapshot_health_is_not_serving_without_a_fresh_snapshot_while_screening_serves() {
    let server = TestServer::start(Snap::None, |_| {}).await;
    assert_eq!(
        snapshot_health(&server, "checkpost.snapshot").await,
        ServingStatus::NotServing as i32
    );
    assert_eq!(
        snapshot_health(&server, "checkpost.v1.Screening").await,
        ServingStatus::Serving as i32
    );
    upload(&server, &snapshot(1, "fresh", Utc::now(), &hq_key()), true)
        .await
        .unwrap();
    eventually("health turns SERVING on activation", || async {
        snapshot_health(&server, "checkpost.snapshot").await == ServingStatus::Serving as i32
    })
    .await;
    server.stop().await;

    let old = TestServer::start(Snap::HoursOld(48), |_| {}).await;
    assert_eq!(
        snapshot_health(&old, "checkpost.snapshot").await,
        ServingStatus::NotServing as i32
    );
    assert!(status(&old).await.stale);
    old.stop().await;
}

#[tokio::test]
async fn snapshot_health_turns_not_serving_when_the_active_snapshot_ages_past_the_limit() {
    let server = TestServer::start(Snap::None, |c| {
        // Long enough to see SERVING first on a busy machine, short enough to wait out.
        c.stale_after = Duration::from_secs(5);
    })
    .await;
    upload(
        &server,
        &snapshot(1, "short-lived", Utc::now(), &hq_key()),
        true,
    )
    .await
    .unwrap();
    let s = status(&server).await;
    assert_eq!(s.stale_after_seconds, 5);
    assert_eq!(
        snapshot_health(&server, "checkpost.snapshot").await,
        ServingStatus::Serving as i32
    );
    eventually("health turns NOT_SERVING by itself", || async {
        snapshot_health(&server, "checkpost.snapshot").await == ServingStatus::NotServing as i32
    })
    .await;
    assert!(status(&server).await.stale);
    server.stop().await;
}

#[tokio::test]
async fn a_replaced_snapshot_is_freed_once_the_rollback_slot_no_longer_holds_it() {
    let server = TestServer::start(Snap::None, |_| {}).await;
    let key = hq_key();
    upload(&server, &snapshot(1, "a", hours_ago(3), &key), true)
        .await
        .unwrap();
    let a = Arc::downgrade(&server.state.snapshots.active().unwrap());
    screen_ok(&server).await;
    upload(&server, &snapshot(2, "b", hours_ago(2), &key), true)
        .await
        .unwrap();
    assert!(a.upgrade().is_some(), "kept for rollback");
    upload(&server, &snapshot(3, "c", hours_ago(1), &key), true)
        .await
        .unwrap();
    screen_ok(&server).await;
    assert!(
        a.upgrade().is_none(),
        "no call and no slot holds it any more"
    );
    server.stop().await;
}

#[tokio::test]
async fn screenings_never_fail_while_snapshots_are_swapped_and_rolled_back() {
    let server = Arc::new(TestServer::start(Snap::Fresh, |_| {}).await);
    let key = hq_key();
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (server, done, ok) = (Arc::clone(&server), Arc::clone(&done), Arc::clone(&ok));
        workers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                screen_ok(&server).await;
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for i in 0..6u64 {
        let bytes = snapshot(10 + i, &format!("swap-{i}"), Utc::now(), &key);
        upload(&server, &bytes, true).await.unwrap();
        if i % 2 == 1 {
            client(&server)
                .rollback_snapshot(pb::RollbackSnapshotRequest {})
                .await
                .unwrap();
        }
    }
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert!(ok.load(Ordering::Relaxed) > 0);
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test]
async fn reload_names_each_file_and_refuses_an_unspecified_target() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let r = client(&server)
        .reload(pb::ReloadRequest { targets: vec![] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.loaded.len(), 3, "{:?}", r.loaded);
    assert!(
        r.loaded[0].starts_with("RULES: ") && r.loaded[0].contains("sop.toml"),
        "{:?}",
        r.loaded
    );
    let r = client(&server)
        .reload(pb::ReloadRequest {
            targets: vec![pb::ReloadTarget::Rules as i32],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.loaded.len(), 1);
    let err = client(&server)
        .reload(pb::ReloadRequest { targets: vec![0] })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}

/// Runs the `checkpost` binary with `args` off the runtime's thread; (exit code, stdout, stderr).
async fn cli(args: Vec<String>) -> (i32, String, String) {
    run_cli(args, Vec::new(), None).await
}

#[tokio::test]
async fn the_cli_uploads_activates_reports_and_names_a_refusal() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let url = format!("http://{}", server.addr);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("next.cpsnap");
    std::fs::write(&file, snapshot(1, "next", Utc::now(), &hq_key())).unwrap();
    let run = |args: &[&str]| {
        let mut v = vec![
            "watchlists".to_string(),
            "--server".to_string(),
            url.clone(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        cli(v)
    };

    let (code, out, err) = run(&["upload", file.to_str().unwrap(), "--activate"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("active:") && out.contains("next"), "{out}");

    let (code, out, err) = run(&["status", "--json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["active"]["version"], "next");
    assert_eq!(v["previous"]["version"], "e2e-fixture");
    assert_eq!(v["active"]["total_entries"], 50);
    assert_eq!(v["stale"], false);

    // The same file again is not newer: exit 2 with the server's reason.
    let (code, _, err) = run(&["upload", file.to_str().unwrap()]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("FailedPrecondition") && err.contains("not newer"),
        "{err}"
    );

    let (code, out, err) = run(&["rollback"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("active:") && out.contains("e2e-fixture"),
        "{out}"
    );
    server.stop().await;
}
