//! Prometheus metrics on their own HTTP port: decisions, latencies, snapshot age, deltas, queue depth.
//!
//! Two kinds of figures. Counters and histograms moved on the hot path ([`Metrics`], held in
//! [`AppState`]) are plain atomics behind handles created once at start: recording a screening
//! or an RPC takes no lock and allocates nothing. Gauges that describe state (the snapshot, its
//! age, the case queue) are read from [`AppState`] when Prometheus scrapes, so they are never
//! out of date and cost nothing between scrapes.
//!
//! The exposition is OpenMetrics text, written by `prometheus-client` (the Prometheus project's
//! own Rust client), served by `axum` (already in the tree through tonic) at `GET /metrics`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use checkpost_engine::{Decision, Outcome, ReasonCode};
use checkpost_store::{CaseStatus, Store, StoreError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::net::TcpListener;
use tonic::codegen::http;

use crate::ServerError;
use crate::state::AppState;

/// The `[metrics]` section of the server config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the Prometheus endpoint (`GET /metrics`), e.g. `127.0.0.1:9464`. `None` (the
    /// default): no endpoint. It is a separate port so it can be firewalled apart from gRPC.
    pub listen: Option<SocketAddr>,
    /// Allow `listen` beyond loopback. The endpoint has no access control (it shows counts of
    /// decisions and reasons, no PII), so an address other hosts can reach must be a deliberate
    /// choice of a firewalled network: without this the server refuses to start.
    pub allow_remote: bool,
}

impl MetricsConfig {
    /// Refuses a `listen` address beyond loopback unless `allow_remote` says it is deliberate.
    pub fn validate(&self) -> Result<(), ServerError> {
        match self.listen {
            Some(addr) if !addr.ip().is_loopback() && !self.allow_remote => {
                Err(ServerError::Config {
                    source_name: "metrics".into(),
                    message: format!(
                        "metrics listen is {addr}, which is not loopback, and the endpoint has no \
                         access control: keep it on 127.0.0.1, or firewall it and set \
                         [metrics] allow_remote = true (or --metrics-allow-remote)"
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Makes every relative path in this section absolute against `base` (the config file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        let _ = base;
    }
}

/// The content type of the OpenMetrics text exposition (Prometheus negotiates it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the RPC latency histogram: 0.5 ms to 10 s. A screening is budgeted
/// in milliseconds; the long tail is there to see a stuck store or a slow scan stage.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// gRPC status code names, indexed by code number (the gRPC spec's canonical spellings).
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const UNKNOWN_CODE: usize = 2;

/// Methods served outside checkpost's own protos (health and reflection).
const EXTRA_METHODS: [&str; 3] = [
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];
/// The label every path that is not a known method is counted under, so a client probing
/// random paths cannot grow the number of series.
const OTHER_METHOD: &str = "other";

/// Every reason code the engine itself emits, so their counters exist (at 0) from the start
/// and recording one is a lookup in an immutable map. Codes from outside stages
/// ([`ReasonCode::External`]) are added on first use.
const ENGINE_REASONS: [ReasonCode; 15] = [
    ReasonCode::WatchlistMatch,
    ReasonCode::DocumentListed,
    ReasonCode::CheckDigitFailed,
    ReasonCode::InvalidDate,
    ReasonCode::DocumentExpired,
    ReasonCode::ValidityTooShort,
    ReasonCode::CnicSexMismatch,
    ReasonCode::UnknownCountryCode,
    ReasonCode::MrzRepaired,
    ReasonCode::DocumentNote,
    ReasonCode::NoSnapshot,
    ReasonCode::SnapshotStale,
    ReasonCode::CheckIncomplete,
    ReasonCode::Rule,
    ReasonCode::ProtectionReferral,
];

type Label = [(&'static str, &'static str); 1];

/// The server's counters and histograms. Cheap to update from any task: every handle is an
/// atomic created at start.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Indexed by [`decision_index`].
    decisions: [Counter; 4],
    reasons: Family<Label, Counter>,
    engine_reasons: HashMap<&'static str, Counter>,
    rpc: Arc<RpcStats>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn decision_index(d: Decision) -> usize {
    match d {
        Decision::Clear => 0,
        Decision::SecondCheck => 1,
        Decision::Offload => 2,
        Decision::Detain => 3,
    }
}

impl Metrics {
    /// A fresh set: every decision and engine reason counter at 0, one latency histogram per
    /// known gRPC method.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let decisions_family = Family::<Label, Counter>::default();
        let decisions = [
            Decision::Clear,
            Decision::SecondCheck,
            Decision::Offload,
            Decision::Detain,
        ]
        .map(|d| {
            decisions_family
                .get_or_create(&[("decision", d.as_str())])
                .clone()
        });
        registry.register(
            "checkpost_decisions",
            "Screenings answered, by decision (retries replayed from memory or the store are not counted again)",
            decisions_family,
        );
        let reasons = Family::<Label, Counter>::default();
        let engine_reasons = ENGINE_REASONS
            .iter()
            .map(|c| {
                (
                    c.as_str(),
                    reasons.get_or_create(&[("code", c.as_str())]).clone(),
                )
            })
            .collect();
        registry.register(
            "checkpost_reasons",
            "Screenings that carried each reason code (a screening counts once per code)",
            reasons.clone(),
        );
        let rpc = Arc::new(RpcStats::new(&known_methods()));
        registry.register_collector(Box::new(Arc::clone(&rpc)));
        Self {
            registry,
            decisions,
            reasons,
            engine_reasons,
            rpc,
        }
    }

    /// Counts one answered screening: its decision and each distinct reason code. Call it once
    /// per screening that was decided and recorded, never for a replayed retry.
    pub fn record_screening(&self, outcome: &Outcome) {
        self.decisions[decision_index(outcome.decision)].inc();
        for (i, reason) in outcome.reasons.iter().enumerate() {
            // A handful of reasons: a scan of the earlier ones beats allocating a set.
            if outcome.reasons[..i].iter().any(|r| r.code == reason.code) {
                continue;
            }
            let code = reason.code.as_str();
            match self.engine_reasons.get(code) {
                Some(counter) => {
                    counter.inc();
                }
                None => {
                    // An outside stage's code: the family's map (a read lock once it exists).
                    self.reasons.get_or_create(&[("code", code)]).inc();
                }
            }
        }
    }

    /// The tower layer that times every gRPC call and counts its status (install it on the
    /// tonic server, outermost, so it sees the status the client sees).
    pub fn rpc_layer(&self) -> RpcLayer {
        RpcLayer {
            stats: Arc::clone(&self.rpc),
        }
    }

    /// Writes the hot-path counters and histograms (no EOF marker).
    fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }
}

/// `package.Service/Method` for every method in checkpost's protos, plus health and reflection.
/// A descriptor set that does not decode (it is compiled in, so only a build fault) leaves just
/// the extra methods; calls are then counted under `other`, never refused.
fn known_methods() -> Vec<String> {
    use prost::Message;
    let mut out: Vec<String> = EXTRA_METHODS.iter().map(|m| (*m).to_string()).collect();
    match prost_types::FileDescriptorSet::decode(checkpost_proto::FILE_DESCRIPTOR_SET) {
        Ok(set) => {
            for file in &set.file {
                let package = file.package();
                for service in &file.service {
                    for method in &service.method {
                        out.push(format!("{package}.{}/{}", service.name(), method.name()));
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list gRPC methods for metrics"),
    }
    out
}

/// One method's call counts by status and its latency histogram, all atomics.
#[derive(Debug)]
struct MethodStats {
    name: String,
    codes: [AtomicU64; GRPC_CODES.len()],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl MethodStats {
    fn new(name: String) -> Self {
        Self {
            name,
            codes: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, code: usize, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|upper| seconds <= *upper)
            .unwrap_or(LATENCY_BUCKETS.len());
        // Relaxed: each figure is a monotonic count; a scrape may see one call's bucket before
        // its sum, which Prometheus tolerates (the next scrape is consistent).
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.codes[code.min(GRPC_CODES.len() - 1)].fetch_add(1, Ordering::Relaxed);
    }
}

/// Per-method RPC statistics, encoded at scrape time.
#[derive(Debug)]
struct RpcStats {
    methods: Vec<MethodStats>,
    /// `/package.Service/Method` → index in `methods`; built once, then only read.
    by_path: HashMap<String, usize>,
    other: usize,
}

impl RpcStats {
    fn new(names: &[String]) -> Self {
        let mut methods: Vec<MethodStats> = names.iter().cloned().map(MethodStats::new).collect();
        let by_path = names
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("/{n}"), i))
            .collect();
        let other = methods.len();
        methods.push(MethodStats::new(OTHER_METHOD.to_string()));
        Self {
            methods,
            by_path,
            other,
        }
    }

    fn index(&self, path: &str) -> usize {
        self.by_path.get(path).copied().unwrap_or(self.other)
    }
}

impl Collector for RpcStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        // Only methods that were called: a series per method and bucket for every method of
        // every service would be mostly zeros.
        let called: Vec<(&MethodStats, [u64; LATENCY_BUCKETS.len() + 1])> = self
            .methods
            .iter()
            .map(|m| (m, m.buckets.each_ref().map(|b| b.load(Ordering::Relaxed))))
            .filter(|(_, b)| b.iter().any(|n| *n > 0))
            .collect();
        {
            let mut family = encoder.encode_descriptor(
                "checkpost_rpc_duration_seconds",
                "gRPC call latency by method, from the request's arrival to its response headers",
                None,
                MetricType::Histogram,
            )?;
            for (m, counts) in &called {
                let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                    .iter()
                    .copied()
                    .chain(std::iter::once(f64::INFINITY))
                    .zip(counts.iter().copied())
                    .collect();
                let count = counts.iter().sum();
                let sum = m.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
                let labels = [("method", m.name.as_str())];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "checkpost_rpc",
            "gRPC calls by method and status code (OK unless the response headers carry a status)",
            None,
            MetricType::Counter,
        )?;
        for (m, _) in &called {
            for (code, n) in m.codes.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let labels = [("method", m.name.as_str()), ("code", GRPC_CODES[code])];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        Ok(())
    }
}

/// Tower layer timing every gRPC call and counting its status; see [`Metrics::rpc_layer`].
///
/// What is measured: from the moment the call reaches the layer to the moment the response
/// headers are ready. For a unary call tonic builds the headers after the handler has finished,
/// so this is the handler's time; for a server stream (`WatchCases`) it is the time to open
/// the stream. The status is read from the `grpc-status` response header, where gRPC puts it
/// for an error answered before any message ("trailers-only"); a response without it is
/// counted as `OK`, since an OK status travels in the trailers, after the body. A stream that
/// fails after its first message is therefore counted as `OK`.
#[derive(Debug, Clone)]
pub struct RpcLayer {
    stats: Arc<RpcStats>,
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService {
            inner,
            stats: Arc::clone(&self.stats),
        }
    }
}

/// The service [`RpcLayer`] wraps around the gRPC routes.
#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    stats: Arc<RpcStats>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let method = self.stats.index(req.uri().path());
        RpcFuture {
            inner: self.inner.call(req),
            stats: Arc::clone(&self.stats),
            method,
            start: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RpcService`]: records the call when the headers are ready.
    #[derive(Debug)]
    pub struct RpcFuture<F> {
        #[pin]
        inner: F,
        stats: Arc<RpcStats>,
        method: usize,
        start: Instant,
    }
}

impl<F, ResBody, E> Future for RpcFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let code = match &result {
            Ok(res) => status_code(res.headers()),
            Err(_) => UNKNOWN_CODE,
        };
        if let Some(m) = this.stats.methods.get(*this.method) {
            m.record(code, this.start.elapsed());
        }
        Poll::Ready(result)
    }
}

/// The `grpc-status` header as an index into [`GRPC_CODES`]: `OK` when absent (the status is
/// then in the trailers), `UNKNOWN` when it is not a code.
fn status_code(headers: &http::HeaderMap) -> usize {
    match headers.get("grpc-status") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n < GRPC_CODES.len())
            .unwrap_or(UNKNOWN_CODE),
    }
}

/// What the scrape reads from the durable store: open (unclaimed) and claimed cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QueueDepth {
    open: u64,
    claimed: u64,
}

async fn queue_depth(store: Arc<dyn Store>) -> Option<QueueDepth> {
    let counted = tokio::task::spawn_blocking(move || {
        Ok::<_, StoreError>(QueueDepth {
            open: store.count_cases(CaseStatus::Open)?,
            claimed: store.count_cases(CaseStatus::Claimed)?,
        })
    })
    .await;
    match counted {
        Ok(Ok(depth)) => Some(depth),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: cannot count cases");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: case count task failed");
            None
        }
    }
}

/// The store's commit-duration histogram as read at a scrape, encoded as a Prometheus
/// histogram in seconds (prometheus-client has no constant histogram; its own `Histogram`
/// would need the store to depend on it).
#[derive(Debug)]
struct CommitHistogram(checkpost_store::CommitTimes);

impl EncodeMetric for CommitHistogram {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        let t = &self.0;
        let buckets: Vec<(f64, u64)> = t
            .counts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let bound = checkpost_store::COMMIT_BOUNDS_MICROS
                    .get(i)
                    .map_or(f64::INFINITY, |&us| us as f64 / 1e6);
                (bound, c)
            })
            .collect();
        encoder.encode_histogram::<NoLabelSet>(t.sum_micros as f64 / 1e6, t.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn gauge<T>(registry: &mut Registry, name: &str, help: &str, value: T)
where
    ConstGauge<T>: EncodeMetric + std::fmt::Debug + Send + Sync + 'static,
{
    registry.register(name, help, ConstGauge::new(value));
}

/// The whole exposition for one scrape: the hot-path counters, then gauges read from `state`
/// now (snapshot, staleness, deltas, case queue), then the OpenMetrics `# EOF` line.
///
/// With no active snapshot, `checkpost_snapshot_stale` is 1 (screening fails closed then too)
/// and the snapshot's info, age and entries are absent. Without a durable store the case gauges
/// are absent.
pub async fn render(state: &Arc<AppState>) -> Result<String, std::fmt::Error> {
    let depth = match &state.store {
        Some(store) => queue_depth(Arc::clone(store)).await,
        None => None,
    };
    let now = chrono::Utc::now();
    let mut scrape = Registry::default();
    let snapshot = state.snapshots.active();
    let stale = match &snapshot {
        None => true,
        Some(s) => {
            let limit = chrono::Duration::from_std(state.config.stale_after)
                .unwrap_or(chrono::Duration::MAX);
            s.age(now) > limit
        }
    };
    if let Some(s) = &snapshot {
        scrape.register(
            "checkpost_snapshot",
            "The active watchlist snapshot",
            Info::new(vec![
                ("version", s.header.version.clone()),
                ("digest", s.digest_hex()),
            ]),
        );
        gauge(
            &mut scrape,
            "checkpost_snapshot_age_seconds",
            "Seconds since HQ built the active snapshot",
            s.age(now).num_milliseconds() as f64 / 1000.0,
        );
        gauge(
            &mut scrape,
            "checkpost_snapshot_entries",
            "Entries in the active snapshot, all lists",
            i64::try_from(s.header.total()).unwrap_or(i64::MAX),
        );
    }
    gauge(
        &mut scrape,
        "checkpost_snapshot_stale",
        "1 when there is no active snapshot or it is older than stale_after",
        i64::from(stale),
    );
    gauge(
        &mut scrape,
        "checkpost_snapshot_stale_after_seconds",
        "The configured stale_after limit",
        state.config.stale_after.as_secs_f64(),
    );
    gauge(
        &mut scrape,
        "checkpost_delta_entries",
        "Delta entries in force over the active snapshot (distinct entry ids added, replaced or removed)",
        i64::try_from(crate::deltas::delta_count(state)).unwrap_or(i64::MAX),
    );
    if let Some(d) = depth {
        gauge(
            &mut scrape,
            "checkpost_case_queue_depth",
            "Second-check cases waiting for a reviewer (open, unclaimed)",
            i64::try_from(d.open).unwrap_or(i64::MAX),
        );
        gauge(
            &mut scrape,
            "checkpost_cases_claimed",
            "Second-check cases a reviewer holds",
            i64::try_from(d.claimed).unwrap_or(i64::MAX),
        );
    }
    if let Some(store) = &state.store {
        let w = store.writer_stats();
        gauge(
            &mut scrape,
            "checkpost_store_batches",
            "Write transactions the store committed since start (one fsync each under power-loss durability)",
            i64::try_from(w.batches).unwrap_or(i64::MAX),
        );
        gauge(
            &mut scrape,
            "checkpost_store_audit_records",
            "Audit records the store appended since start",
            i64::try_from(w.records).unwrap_or(i64::MAX),
        );
        gauge(
            &mut scrape,
            "checkpost_store_records_per_batch",
            "Audit records per committed batch (per fsync) since start: what group commit buys",
            w.records_per_batch(),
        );
        scrape.register(
            "checkpost_store_commit_seconds",
            "Duration of each committed write batch, BEGIN to COMMIT with its fsync: the floor the disk puts under a screening's latency",
            CommitHistogram(w.commit_times),
        );
    }
    gauge(
        &mut scrape,
        "checkpost_screen_shed",
        "Screen calls refused at once because max_in_flight_screens were in progress",
        i64::try_from(state.shed.shed()).unwrap_or(i64::MAX),
    );
    let mut out = String::with_capacity(4096);
    state.metrics.encode(&mut out)?;
    prometheus_client::encoding::text::encode_registry(&mut out, &scrape)?;
    prometheus_client::encoding::text::encode_eof(&mut out)?;
    Ok(out)
}

async fn scrape(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match render(&state).await {
        Ok(body) => ([(http::header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(_) => (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be encoded",
        )
            .into_response(),
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves. Bind the listener yourself
/// (tests bind 127.0.0.1:0); the CLI binds `[metrics] listen`.
pub async fn serve_metrics(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr().ok();
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(state);
    if let Some(addr) = local {
        tracing::info!(listen = %addr, "serving metrics");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Io {
            path: format!(
                "metrics endpoint {}",
                local.map_or_else(|| "?".to_string(), |a| a.to_string())
            )
            .into(),
            source,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_endpoint_beyond_loopback_needs_allow_remote() {
        let at = |addr: &str, allow_remote: bool| MetricsConfig {
            listen: Some(addr.parse().unwrap()),
            allow_remote,
        };
        MetricsConfig::default().validate().unwrap();
        at("127.0.0.1:9464", false).validate().unwrap();
        at("[::1]:9464", false).validate().unwrap();
        let err = at("0.0.0.0:9464", false)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("0.0.0.0:9464") && err.contains("allow_remote"),
            "{err}"
        );
        at("0.0.0.0:9464", true).validate().unwrap();
    }

    #[test]
    fn the_metrics_section_sets_the_listen_address_and_is_off_by_default() {
        use crate::Config;
        let base = Path::new("/cfg");
        assert_eq!(
            Config::from_toml("", "t.toml", base)
                .unwrap()
                .metrics
                .listen,
            None
        );
        let c =
            Config::from_toml("[metrics]\nlisten = \"127.0.0.1:9464\"\n", "t.toml", base).unwrap();
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
        let err = Config::from_toml("[metrics]\nlisen = \"x\"\n", "t.toml", base).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn the_status_comes_from_the_header_and_defaults_to_ok() {
        let mut h = http::HeaderMap::new();
        assert_eq!(GRPC_CODES[status_code(&h)], "OK");
        h.insert("grpc-status", http::HeaderValue::from_static("8"));
        assert_eq!(GRPC_CODES[status_code(&h)], "RESOURCE_EXHAUSTED");
        h.insert("grpc-status", http::HeaderValue::from_static("99"));
        assert_eq!(GRPC_CODES[status_code(&h)], "UNKNOWN");
    }

    #[test]
    fn every_checkpost_method_is_known_and_a_stray_path_is_other() {
        let stats = RpcStats::new(&known_methods());
        let screen = stats.index("/checkpost.v1.Screening/Screen");
        assert_eq!(stats.methods[screen].name, "checkpost.v1.Screening/Screen");
        let watch = stats.index("/checkpost.v1.Review/WatchCases");
        assert_eq!(stats.methods[watch].name, "checkpost.v1.Review/WatchCases");
        assert_eq!(stats.methods[stats.index("/x.Y/Z")].name, OTHER_METHOD);
    }

    #[test]
    fn a_latency_lands_in_the_first_bucket_that_holds_it() {
        let m = MethodStats::new("m".into());
        m.record(0, std::time::Duration::from_millis(3));
        m.record(0, std::time::Duration::from_secs(60));
        let counts: Vec<u64> = m
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[3], 1, "3 ms is in the 5 ms bucket: {counts:?}");
        assert_eq!(counts[LATENCY_BUCKETS.len()], 1, "60 s is only in +Inf");
        assert_eq!(counts.iter().sum::<u64>(), 2);
    }

    #[test]
    fn a_screening_counts_its_decision_once_and_each_code_once() {
        use checkpost_engine::Reason;
        let metrics = Metrics::new();
        let reason = |code| Reason {
            code,
            ..Reason::new(code, Decision::SecondCheck, "x")
        };
        let outcome = Outcome::from_reasons(
            vec![
                reason(ReasonCode::WatchlistMatch),
                reason(ReasonCode::WatchlistMatch),
                reason(ReasonCode::External("SEAL_INVALID")),
            ],
            Vec::new(),
        );
        metrics.record_screening(&outcome);
        let mut out = String::new();
        metrics.encode(&mut out).unwrap();
        assert!(
            out.contains("checkpost_decisions_total{decision=\"SECOND_CHECK\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("checkpost_decisions_total{decision=\"CLEAR\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("checkpost_reasons_total{code=\"WATCHLIST_MATCH\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("checkpost_reasons_total{code=\"SEAL_INVALID\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("checkpost_reasons_total{code=\"NO_SNAPSHOT\"} 0\n"),
            "{out}"
        );
    }
}
