//! What metrics cost on the hot path: counting one screening, the RPC layer around one call
//! (against the same call unwrapped), and one full scrape (off the hot path, for scale).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use checkpost_engine::{Decision, Outcome, Reason, ReasonCode};
use checkpost_server::metrics::{Metrics, render};
use checkpost_server::{AppState, Config};
use criterion::{Criterion, criterion_group, criterion_main};
use tonic::codegen::http;
use tower::{Layer, Service};

/// Polls a future that is ready at once (both services below are).
fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the bench services are always ready"),
    }
}

fn request() -> http::Request<()> {
    http::Request::builder()
        .uri("/checkpost.v1.Screening/Screen")
        .body(())
        .unwrap()
}

fn ok(
    _: http::Request<()>,
) -> std::future::Ready<Result<http::Response<()>, std::convert::Infallible>> {
    std::future::ready(Ok(http::Response::new(())))
}

fn bench(c: &mut Criterion) {
    let metrics = Metrics::new();
    let flagged = Outcome::from_reasons(
        vec![
            Reason::new(ReasonCode::WatchlistMatch, Decision::Offload, "x"),
            Reason::new(ReasonCode::WatchlistMatch, Decision::SecondCheck, "y"),
            Reason::new(ReasonCode::DocumentNote, Decision::Clear, "z"),
        ],
        Vec::new(),
    );
    c.bench_function("metrics/record_screening_3_reasons", |b| {
        b.iter(|| metrics.record_screening(black_box(&flagged)))
    });

    let mut bare = tower::service_fn(ok);
    c.bench_function("metrics/rpc_call_without_layer", |b| {
        b.iter(|| ready(bare.call(black_box(request()))).unwrap())
    });
    let mut layered = metrics.rpc_layer().layer(tower::service_fn(ok));
    c.bench_function("metrics/rpc_call_with_layer", |b| {
        b.iter(|| ready(layered.call(black_box(request()))).unwrap())
    });

    let state = Arc::new(AppState::load(Config::default()).unwrap());
    for _ in 0..1000 {
        state.metrics.record_screening(&flagged);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function("metrics/render_scrape_no_store", |b| {
        b.iter(|| rt.block_on(render(&state)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
