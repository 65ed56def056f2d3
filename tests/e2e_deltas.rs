//! Intraday signed deltas over real gRPC: an Exit Control List order applied with
//! `Watchlists.ApplyDelta` is enforced on the very next `Screen`, survives a restart, can be
//! lifted by a removal, is refused (and changes nothing) when badly signed or damaged, and is
//! dropped once a snapshot that contains it is activated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::watchlists_client::WatchlistsClient;
use checkpost_server::{AppState, Config};
use checkpost_watchlist::EntryId;
use checkpost_watchlist::csv::{ImportOptions, import};
use checkpost_watchlist::snapshot::{self, SigningKey, read_signing_key};
use chrono::Utc;
use common::{Passport, Snap, TestServer, codes, decision, fixture, passport, request};
use pb::Direction::{Arrival, Departure};
use tonic::Code;
use tonic::transport::Channel;

const HEADER: &str = "list,entry_id,full_name,aliases,father_name,dob,gender,nationality,document_numbers,national_id,action,directions,reason,reference,valid_from,valid_until";

/// The court's order of this morning: the default test passenger may not leave.
const ECL_ORDER: &str = "ECL,ECL-9001,HAMZA QURESHI,,,1990-01-15,M,PAK,ZZ7000001,,OFFLOAD,DEPARTURE,Court order,IHC/WP/2026/901,,";

fn key(name: &str) -> SigningKey {
    read_signing_key(&std::fs::read_to_string(fixture(&format!("keys/{name}.key"))).unwrap())
        .unwrap()
}

fn ecl_entries() -> Vec<checkpost_watchlist::Entry> {
    let csv = format!("{HEADER}\n{ECL_ORDER}\n");
    import(
        &[("ecl.csv", csv.as_bytes())],
        ImportOptions { lenient: false },
    )
    .unwrap()
    .entries
}

/// The ECL order as a delta signed by `key`.
fn ecl_delta(key: &SigningKey, id: &str) -> Vec<u8> {
    checkpost_watchlist::delta::build(&ecl_entries(), &[], id, Utc::now(), None, key).unwrap()
}

fn removal_delta(entry_id: &str, id: &str) -> Vec<u8> {
    checkpost_watchlist::delta::build(
        &[],
        &[EntryId(entry_id.into())],
        id,
        Utc::now(),
        None,
        &key("hq-test"),
    )
    .unwrap()
}

fn watchlists(server: &TestServer) -> WatchlistsClient<Channel> {
    WatchlistsClient::new(server.channel.clone())
}

async fn apply(
    server: &TestServer,
    delta: Vec<u8>,
) -> Result<pb::ApplyDeltaResponse, tonic::Status> {
    watchlists(server)
        .apply_delta(pb::ApplyDeltaRequest { delta })
        .await
        .map(tonic::Response::into_inner)
}

async fn delta_count(server: &TestServer) -> u64 {
    watchlists(server)
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .delta_count
}

fn delta_files(data_dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(data_dir.join("deltas")) {
        Ok(dir) => dir.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The default test passenger (HAMZA QURESHI, ZZ7000001), not on any list of the fixture.
async fn screen_hamza(server: &TestServer, direction: pb::Direction) -> pb::ScreenResponse {
    server
        .screen(request(passport(&Passport::default()), direction))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_ecl_addition_is_enforced_on_the_very_next_screen_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start(Snap::Fresh, |c| c.data_dir = data.clone()).await;
    let before = screen_hamza(&server, Departure).await;
    assert_eq!(
        before.decision(),
        pb::Decision::Clear,
        "{:?}",
        codes(&before)
    );

    // Ops build the delta with the CLI, exactly as at HQ.
    let csv = dir.path().join("ecl.csv");
    std::fs::write(&csv, format!("{HEADER}\n{ECL_ORDER}\n")).unwrap();
    let file = dir.path().join("ecl-017.cpdelta");
    let out = Command::new(env!("CARGO_BIN_EXE_checkpost"))
        .args(["snapshot", "delta", "--add"])
        .arg(&csv)
        .arg("--key")
        .arg(fixture("keys/hq-test.key"))
        .args(["--id", "2026-11-23-ecl-017", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified = Command::new(env!("CARGO_BIN_EXE_checkpost"))
        .args(["snapshot", "verify"])
        .arg(&file)
        .arg("--pubkey")
        .arg(fixture("keys/hq-test.pub"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success() && text.contains("OK: delta"),
        "{text}"
    );

    let applied = apply(&server, std::fs::read(&file).unwrap()).await.unwrap();
    assert_eq!(applied.delta_id, "2026-11-23-ecl-017");
    assert_eq!(
        (applied.added, applied.removed, applied.delta_count),
        (1, 0, 1)
    );
    assert_eq!(delta_files(&data).len(), 1, "persisted before the answer");

    let after = screen_hamza(&server, Departure).await;
    assert_eq!(
        after.decision(),
        pb::Decision::Offload,
        "{:?}",
        codes(&after)
    );
    assert!(
        after.reasons.iter().any(|r| r.entry_id == "ECL-9001"),
        "{:#?}",
        after.reasons
    );
    // The Exit Control List binds departures only.
    let arriving = screen_hamza(&server, Arrival).await;
    assert_eq!(
        arriving.decision(),
        pb::Decision::Clear,
        "{}",
        decision(&arriving)
    );
    assert_eq!(delta_count(&server).await, 1);

    // Re-applying the same delta is a no-op.
    let again = apply(&server, std::fs::read(&file).unwrap()).await.unwrap();
    assert_eq!(again.delta_count, 1);
    assert_eq!(delta_files(&data).len(), 1);
    server.stop().await;

    // A restart on the same data dir still enforces it.
    let restarted = TestServer::start(Snap::Fresh, |c| c.data_dir = data.clone()).await;
    assert_eq!(delta_count(&restarted).await, 1);
    let after_restart = screen_hamza(&restarted, Departure).await;
    assert_eq!(
        after_restart.decision(),
        pb::Decision::Offload,
        "{:?}",
        codes(&after_restart)
    );
    restarted.stop().await;
}

#[tokio::test]
async fn a_removal_by_delta_clears_a_listed_traveller() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let ayesha = || {
        request(
            passport(&Passport {
                surname: "BIBI",
                given: "AYESHA",
                number: "CD7654321",
                dob: Some((1985, 7, 10)),
                sex: mrz::Sex::Female,
                ..Default::default()
            }),
            Departure,
        )
    };
    let listed = server.screen(ayesha()).await.unwrap();
    assert_eq!(
        listed.decision(),
        pb::Decision::Offload,
        "{:?}",
        codes(&listed)
    );

    let applied = apply(&server, removal_delta("ECL-0002", "lift-ecl-0002"))
        .await
        .unwrap();
    assert_eq!((applied.added, applied.removed), (0, 1));
    let lifted = server.screen(ayesha()).await.unwrap();
    assert_eq!(
        lifted.decision(),
        pb::Decision::Clear,
        "{:#?}",
        lifted.reasons
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_delta_is_refused_with_its_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start(Snap::Fresh, |c| c.data_dir = data.clone()).await;
    let good = ecl_delta(&key("hq-test"), "d1");

    let wrong_key = apply(&server, ecl_delta(&key("other-test"), "d1"))
        .await
        .unwrap_err();
    assert_eq!(wrong_key.code(), Code::InvalidArgument);
    assert!(
        wrong_key.message().contains("untrusted key"),
        "{}",
        wrong_key.message()
    );

    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x01;
    let err = apply(&server, corrupt).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("corrupted"), "{}", err.message());

    let err = apply(&server, good[..good.len() - 10].to_vec())
        .await
        .unwrap_err();
    assert!(err.message().contains("truncated"), "{}", err.message());

    let err = apply(&server, b"not a delta at all".to_vec())
        .await
        .unwrap_err();
    assert!(err.message().contains("bad magic"), "{}", err.message());

    assert_eq!(delta_count(&server).await, 0);
    assert!(delta_files(&data).is_empty(), "{:?}", delta_files(&data));
    let still = screen_hamza(&server, Departure).await;
    assert_eq!(still.decision(), pb::Decision::Clear);

    // The same id with different content is refused too; the first stays in force.
    apply(&server, good).await.unwrap();
    let other = removal_delta("ECL-0002", "d1");
    let err = apply(&server, other).await.unwrap_err();
    assert!(
        err.message().contains("already in force"),
        "{}",
        err.message()
    );
    assert_eq!(delta_count(&server).await, 1);
    server.stop().await;
}

/// Tonight's snapshot: the fixture list plus the ECL order, built now (newer than the active).
async fn upload_nightly_with_the_order(server: &TestServer, version: &str) {
    let csv = std::fs::read(fixture("watchlists/sample.csv")).unwrap();
    let mut entries = import(&[("sample.csv", &csv)], ImportOptions { lenient: false })
        .unwrap()
        .entries;
    entries.extend(ecl_entries());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let bytes = snapshot::build(&entries, version, Utc::now(), &key("hq-test")).unwrap();
    let uploaded = watchlists(server)
        .upload_snapshot(tokio_stream::iter(vec![pb::UploadSnapshotChunk {
            data: bytes,
            activate: true,
        }]))
        .await
        .unwrap()
        .into_inner();
    assert!(uploaded.activated);
}

#[tokio::test]
async fn a_snapshot_that_contains_the_delta_supersedes_it_and_a_rollback_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start(Snap::Fresh, |c| c.data_dir = data.clone()).await;
    apply(&server, ecl_delta(&key("hq-test"), "d1"))
        .await
        .unwrap();
    assert_eq!(delta_count(&server).await, 1);
    assert_eq!(delta_files(&data).len(), 1);

    // The nightly snapshot carries the order: the delta leaves the overlay, and the order is
    // enforced by the snapshot. Its file stays while the rollback target lacks the order.
    upload_nightly_with_the_order(&server, "nightly-1").await;
    assert_eq!(delta_count(&server).await, 0);
    assert_eq!(delta_files(&data).len(), 1);
    let r = screen_hamza(&server, Departure).await;
    assert_eq!(r.decision(), pb::Decision::Offload, "{:?}", codes(&r));

    // Rolling back to the morning snapshot must not lift the court's order.
    watchlists(&server)
        .rollback_snapshot(pb::RollbackSnapshotRequest {})
        .await
        .unwrap();
    assert_eq!(delta_count(&server).await, 1);
    let r = screen_hamza(&server, Departure).await;
    assert_eq!(r.decision(), pb::Decision::Offload, "{:?}", codes(&r));

    // Once the active snapshot and the rollback target both carry it, the file goes.
    upload_nightly_with_the_order(&server, "nightly-2").await;
    upload_nightly_with_the_order(&server, "nightly-3").await;
    assert_eq!(delta_count(&server).await, 0);
    assert!(delta_files(&data).is_empty(), "{:?}", delta_files(&data));
    let r = screen_hamza(&server, Departure).await;
    assert_eq!(r.decision(), pb::Decision::Offload, "{:?}", codes(&r));
    server.stop().await;
}

#[tokio::test]
async fn a_persisted_delta_that_no_longer_verifies_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("deltas")).unwrap();
    let mut bytes = ecl_delta(&key("hq-test"), "d1");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(data.join("deltas/00000000-damaged.cpdelta"), bytes).unwrap();
    let config = Config {
        hq_pubkeys: vec![fixture("keys/hq-test.pub")],
        data_dir: data,
        ..Config::default()
    };
    let err = AppState::load(config).unwrap().open_store().unwrap_err();
    assert!(
        err.to_string().contains("00000000-damaged.cpdelta"),
        "{err}"
    );
}
