//! End-to-end: the Prometheus endpoint of a real server on 127.0.0.1:0, scraped over HTTP after
//! real gRPC calls. Counters move by exactly what was answered (a replayed retry counts once),
//! the latency histogram counts every Screen call, and the state gauges (snapshot age and
//! staleness, case queue depth) match the server's state at the scrape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use checkpost_proto::v1 as pb;
use common::{
    Passport, Snap, TestServer, codes, decision, khan, metric_samples, passport, request,
    scrape_metrics,
};
use pb::Direction::Departure;
use tokio::sync::oneshot;
use tonic::Code;

const SCREEN: &str = "checkpost.v1.Screening/Screen";

/// A metrics endpoint over `server`'s state, on an OS-chosen loopback port.
async fn metrics_endpoint(server: &TestServer) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(checkpost_server::metrics::serve_metrics(
        Arc::clone(&server.state),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| {
        panic!(
            "no {series} in {:?}",
            samples.keys().collect::<BTreeSet<_>>()
        )
    })
}

#[tokio::test]
async fn counters_move_by_exactly_what_was_answered_and_gauges_read_the_state() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let (metrics, _stop) = metrics_endpoint(&server).await;

    let before = metric_samples(&scrape_metrics(metrics).await);
    assert_eq!(
        value(&before, r#"checkpost_decisions_total{decision="CLEAR"}"#),
        0.0
    );
    assert_eq!(value(&before, "checkpost_case_queue_depth"), 0.0);

    let clear_req = request(passport(&Passport::default()), Departure);
    let clear = server.screen(clear_req.clone()).await.unwrap();
    assert_eq!(decision(&clear), "CLEAR", "{:?}", codes(&clear));
    let flagged = server.screen(request(khan(), Departure)).await.unwrap();
    assert_ne!(decision(&flagged), "CLEAR");
    assert!(!flagged.case_id.is_empty(), "{:?}", codes(&flagged));
    // A retry is answered from memory: it must not be counted as a second screening.
    let retry = server.screen(clear_req).await.unwrap();
    assert!(retry.replayed);
    // Refused before any decision: counted as an RPC with its status, not as a screening.
    let refused = server
        .screen(request(String::new(), Departure))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    let after = metric_samples(&scrape_metrics(metrics).await);

    // Decisions: one CLEAR, one of the flagged decision, nothing else.
    let mut expected_decisions: BTreeMap<&str, f64> = BTreeMap::new();
    *expected_decisions.entry(decision(&clear)).or_default() += 1.0;
    *expected_decisions.entry(decision(&flagged)).or_default() += 1.0;
    for d in ["CLEAR", "SECOND_CHECK", "OFFLOAD", "DETAIN"] {
        let series = format!(r#"checkpost_decisions_total{{decision="{d}"}}"#);
        assert_eq!(
            value(&after, &series),
            expected_decisions.get(d).copied().unwrap_or(0.0),
            "{series}"
        );
    }
    // Reasons: each response's distinct codes, once each.
    let mut expected_reasons: BTreeMap<&str, f64> = BTreeMap::new();
    for r in [&clear, &flagged] {
        for code in codes(r).into_iter().collect::<BTreeSet<_>>() {
            *expected_reasons.entry(code).or_default() += 1.0;
        }
    }
    assert!(
        expected_reasons.contains_key("WATCHLIST_MATCH"),
        "{expected_reasons:?}"
    );
    for (code, n) in &expected_reasons {
        let series = format!(r#"checkpost_reasons_total{{code="{code}"}}"#);
        assert_eq!(value(&after, &series), *n, "{series}");
    }
    let counted_reasons: f64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("checkpost_reasons_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(counted_reasons, expected_reasons.values().sum::<f64>());

    // RPCs: four Screen calls timed; three OK (one of them the replay), one INVALID_ARGUMENT.
    let count = format!(r#"checkpost_rpc_duration_seconds_count{{method="{SCREEN}"}}"#);
    assert_eq!(value(&after, &count), 4.0);
    // Buckets are cumulative: +Inf holds every call.
    let inf = format!(r#"checkpost_rpc_duration_seconds_bucket{{le="+Inf",method="{SCREEN}"}}"#);
    assert_eq!(value(&after, &inf), 4.0);
    let sum = format!(r#"checkpost_rpc_duration_seconds_sum{{method="{SCREEN}"}}"#);
    assert!(value(&after, &sum) > 0.0);
    let ok = format!(r#"checkpost_rpc_total{{method="{SCREEN}",code="OK"}}"#);
    assert_eq!(value(&after, &ok), 3.0);
    let invalid = format!(r#"checkpost_rpc_total{{method="{SCREEN}",code="INVALID_ARGUMENT"}}"#);
    assert_eq!(value(&after, &invalid), 1.0);

    // Snapshot gauges: the fixture snapshot, built just now, is fresh.
    let info = format!(
        r#"checkpost_snapshot_info{{version="e2e-fixture",digest="{}"}}"#,
        clear.snapshot.as_ref().unwrap().digest
    );
    assert_eq!(value(&after, &info), 1.0);
    assert_eq!(value(&after, "checkpost_snapshot_stale"), 0.0);
    let age = value(&after, "checkpost_snapshot_age_seconds");
    assert!((0.0..3600.0).contains(&age), "age {age}");
    assert_eq!(
        value(&after, "checkpost_snapshot_stale_after_seconds"),
        server.state.config.stale_after.as_secs_f64()
    );
    assert!(value(&after, "checkpost_snapshot_entries") > 0.0);
    assert_eq!(
        value(&after, "checkpost_delta_entries"),
        checkpost_server::deltas::delta_count(&server.state) as f64
    );

    // Queue depth: the open cases, exactly as the Review service lists them.
    let open = server
        .review()
        .list_cases(pb::ListCasesRequest {
            statuses: vec![pb::CaseStatus::Open.into()],
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases
        .len();
    assert_eq!(open, 1);
    assert_eq!(value(&after, "checkpost_case_queue_depth"), open as f64);
    assert_eq!(value(&after, "checkpost_cases_claimed"), 0.0);
    // Two screenings were recorded (the replayed retry and the refused MRZ write nothing).
    let records = value(&after, "checkpost_store_audit_records");
    let batches = value(&after, "checkpost_store_batches");
    assert_eq!(records, 2.0);
    assert!((1.0..=2.0).contains(&batches), "{batches}");
    assert_eq!(
        value(&after, "checkpost_store_records_per_batch"),
        records / batches
    );
    // Every committed batch is in the commit-duration histogram, and its buckets add up.
    assert_eq!(
        value(&after, "checkpost_store_commit_seconds_count"),
        batches
    );
    assert_eq!(
        value(
            &after,
            r#"checkpost_store_commit_seconds_bucket{le="+Inf"}"#
        ),
        batches
    );
    assert!(value(&after, "checkpost_store_commit_seconds_sum") > 0.0);
    assert!(
        value(
            &after,
            r#"checkpost_store_commit_seconds_bucket{le="0.00005"}"#
        ) <= value(&after, r#"checkpost_store_commit_seconds_bucket{le="1.0"}"#)
    );
    assert_eq!(value(&after, "checkpost_screen_shed"), 0.0);

    // A claimed case leaves the queue.
    server
        .review()
        .claim_case(pb::ClaimCaseRequest {
            case_id: flagged.case_id.clone(),
            reviewer_id: "rev-a".into(),
        })
        .await
        .unwrap();
    let claimed = metric_samples(&scrape_metrics(metrics).await);
    assert_eq!(value(&claimed, "checkpost_case_queue_depth"), 0.0);
    assert_eq!(value(&claimed, "checkpost_cases_claimed"), 1.0);
    // Scraping moved no counter.
    assert_eq!(
        value(&claimed, r#"checkpost_decisions_total{decision="CLEAR"}"#),
        1.0
    );

    server.stop().await;
}

#[tokio::test]
async fn an_old_snapshot_and_no_snapshot_both_show_as_stale() {
    let old = TestServer::start(Snap::HoursOld(48), |_| {}).await;
    let (metrics, _stop) = metrics_endpoint(&old).await;
    let s = metric_samples(&scrape_metrics(metrics).await);
    assert_eq!(value(&s, "checkpost_snapshot_stale"), 1.0);
    let age = value(&s, "checkpost_snapshot_age_seconds");
    assert!(age >= 48.0 * 3600.0, "age {age}");
    old.stop().await;

    let none = TestServer::start(Snap::None, |_| {}).await;
    let (metrics, _stop) = metrics_endpoint(&none).await;
    let s = metric_samples(&scrape_metrics(metrics).await);
    assert_eq!(value(&s, "checkpost_snapshot_stale"), 1.0);
    assert!(!s.contains_key("checkpost_snapshot_age_seconds"));
    assert!(!s.keys().any(|k| k.starts_with("checkpost_snapshot_info")));
    none.stop().await;
}
