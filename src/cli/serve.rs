//! `checkpost serve`: runs the gRPC server. Every key of the TOML config can be overridden by a
//! flag; with no config file the defaults apply (listen on 127.0.0.1:50051, no snapshot — every
//! screening then fails closed to SECOND_CHECK).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use checkpost_engine::StalePolicy;
use checkpost_server::{AppState, Config, DurabilityConfig};

/// Flags of `checkpost serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// TOML config file (see fixtures/server/checkpost.toml); flags override its keys.
    #[arg(long, env = "CHECKPOST_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:50051.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Signed watchlist snapshot to load.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// HQ public key file (repeatable); replaces the config's list.
    #[arg(long = "hq-pubkey")]
    hq_pubkeys: Vec<PathBuf>,
    /// SOP rules file.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Directory for durable state.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// What an acknowledged screening survives: power-loss (fsync per batch, the default) or
    /// process-crash.
    #[arg(long, value_enum)]
    durability: Option<DurabilityArg>,
    /// A snapshot older than this is stale, e.g. 36h.
    #[arg(long, value_parser = humantime_duration)]
    stale_after: Option<Duration>,
    /// What a stale snapshot does: escalate (fail closed) or annotate.
    #[arg(long)]
    stale_policy: Option<StalePolicy>,
    /// Largest request accepted, in bytes.
    #[arg(long)]
    max_message_bytes: Option<usize>,
    /// Largest MRZ accepted, in bytes.
    #[arg(long)]
    max_mrz_bytes: Option<usize>,
    /// Most scans per request.
    #[arg(long)]
    max_scans: Option<usize>,
    /// Largest scan image, in bytes.
    #[arg(long)]
    max_image_bytes: Option<usize>,
    /// The post's offset from UTC, e.g. +05:00: "today" (expiry, ages, visas) is the date there.
    #[arg(long, allow_hyphen_values = true)]
    utc_offset: Option<String>,
    /// Directory the nightly job copies signed snapshots into; the newest valid one is
    /// activated by itself.
    #[arg(long)]
    snapshot_dir: Option<PathBuf>,
    /// How often the snapshot dir is looked at, e.g. 10s.
    #[arg(long, value_parser = humantime_duration)]
    snapshot_dir_poll: Option<Duration>,
    /// Largest snapshot accepted by the Watchlists upload, in bytes.
    #[arg(long)]
    max_snapshot_bytes: Option<usize>,
    /// Most Screen calls worked on at once; past it a call is refused at once (UNAVAILABLE).
    #[arg(long)]
    max_in_flight_screens: Option<usize>,
    /// After SIGTERM, the longest wait for calls in flight and open connections, e.g. 30s.
    #[arg(long, value_parser = humantime_duration)]
    drain_timeout: Option<Duration>,
    /// Most remembered request ids for idempotent retries.
    #[arg(long)]
    retry_capacity: Option<usize>,
    /// How long a decision is replayed for a retry, e.g. 24h.
    #[arg(long, value_parser = humantime_duration)]
    retry_ttl: Option<Duration>,
    /// Key (64 hex chars) for the hashes that stand in for document numbers in logs.
    #[arg(long, env = "CHECKPOST_LOG_HASH_KEY", hide_env_values = true)]
    log_hash_key: Option<String>,
    /// Trust list of seal issuer keys (TOML) for the scan stage; reloadable.
    #[arg(long)]
    trust_list: Option<PathBuf>,
    /// Issued-visa register (CSV) for QR codes that carry only a visa number; reloadable.
    #[arg(long)]
    visa_register: Option<PathBuf>,
    /// The most one scan may take within the client's deadline, e.g. 300ms; past it the scan is
    /// not completed and the screening is at least SECOND_CHECK.
    #[arg(long, value_parser = humantime_duration)]
    scan_budget: Option<Duration>,
    /// Address of the Prometheus endpoint (`GET /metrics`), e.g. 127.0.0.1:9464; no endpoint
    /// unless this or the config's `[metrics] listen` is set.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Allow the metrics endpoint beyond loopback (it has no access control: firewall it).
    #[arg(long)]
    metrics_allow_remote: bool,
    /// The global `--log-format`: the "serving on" lines follow it, so a JSON log stays JSON.
    #[arg(from_global)]
    log_format: super::LogFormat,
}

/// `--durability` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum DurabilityArg {
    PowerLoss,
    ProcessCrash,
}

fn humantime_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

fn config(args: Args) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            let base = path.parent().map(PathBuf::from).unwrap_or_default();
            Config::from_toml(&text, &path.display().to_string(), &base)?
        }
        None => Config::default(),
    };
    // Flags are relative to the working directory, as a shell user expects.
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.snapshot {
        config.snapshot = Some(v);
    }
    if !args.hq_pubkeys.is_empty() {
        config.hq_pubkeys = args.hq_pubkeys;
    }
    if let Some(v) = args.rules {
        config.rules = Some(v);
    }
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.durability {
        config.durability = match v {
            DurabilityArg::PowerLoss => DurabilityConfig::PowerLoss,
            DurabilityArg::ProcessCrash => DurabilityConfig::ProcessCrash,
        };
    }
    if let Some(v) = args.stale_after {
        config.stale_after = v;
    }
    if let Some(v) = args.stale_policy {
        config.stale_policy = v;
    }
    let l = &mut config.limits;
    l.max_message_bytes = args.max_message_bytes.unwrap_or(l.max_message_bytes);
    l.max_mrz_bytes = args.max_mrz_bytes.unwrap_or(l.max_mrz_bytes);
    l.max_scans = args.max_scans.unwrap_or(l.max_scans);
    l.max_image_bytes = args.max_image_bytes.unwrap_or(l.max_image_bytes);
    l.max_in_flight_screens = args
        .max_in_flight_screens
        .unwrap_or(l.max_in_flight_screens);
    l.max_snapshot_bytes = args.max_snapshot_bytes.unwrap_or(l.max_snapshot_bytes);
    l.drain_timeout = args.drain_timeout.unwrap_or(l.drain_timeout);
    if let Some(v) = args.utc_offset {
        config.utc_offset = v;
    }
    if let Some(v) = args.snapshot_dir {
        config.snapshot_dir = Some(v);
    }
    config.snapshot_dir_poll = args.snapshot_dir_poll.unwrap_or(config.snapshot_dir_poll);
    let r = &mut config.idempotency;
    r.capacity = args.retry_capacity.unwrap_or(r.capacity);
    r.ttl = args.retry_ttl.unwrap_or(r.ttl);
    if args.log_hash_key.is_some() {
        config.log_hash_key = args.log_hash_key;
    }
    let scan = &mut config.scan;
    scan.trust_list = args.trust_list.or(scan.trust_list.take());
    scan.visa_register = args.visa_register.or(scan.visa_register.take());
    scan.budget = args.scan_budget.unwrap_or(scan.budget);
    if let Some(v) = args.metrics_listen {
        config.metrics.listen = Some(v);
    }
    config.metrics.allow_remote |= args.metrics_allow_remote;
    Ok(config)
}

/// Runs the subcommand: serves until SIGTERM or ctrl-c, then drains calls in flight.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log_format = args.log_format;
    let config = config(args)?;
    // Refuse an unsafe listen address (auth off beyond loopback, an open metrics endpoint)
    // before binding anything.
    config.auth.validate(config.listen)?;
    config.metrics.validate()?;
    let listen = config.listen;
    let rt = super::runtime()?;
    rt.block_on(async move {
        // Loading a large snapshot is seconds of blocking work: keep it off the async workers.
        // The durable store (cases, audit trail) lives in the data dir; it is opened before the
        // listener, so no screening is ever answered without its record.
        let state =
            tokio::task::spawn_blocking(move || AppState::load(config)?.open_store()).await??;
        let state = Arc::new(state);
        #[cfg(unix)]
        checkpost_server::server::reload_rules_on_sighup(Arc::clone(&state))?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let metrics = match state.config.metrics.listen {
            Some(at) => Some(spawn_metrics(&state, at, log_format).await?),
            None => None,
        };
        announce(log_format, "checkpost serving on", addr);
        let served =
            checkpost_server::serve(state, listener, checkpost_server::shutdown_signal()).await;
        if let Some((stop, task)) = metrics {
            let _ = stop.send(());
            task.await??;
        }
        served?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Prints where a listener is, for people and for tests that start the binary on port 0: a plain
/// line in pretty mode (`checkpost serving on 127.0.0.1:50051`), a log event in JSON mode so that
/// every line on stderr stays one JSON object.
fn announce(format: super::LogFormat, what: &str, addr: SocketAddr) {
    match format {
        super::LogFormat::Pretty => eprintln!("{what} {addr}"),
        super::LogFormat::Json => tracing::info!(listen = %addr, "{what} {addr}"),
    }
}

/// Binds the Prometheus endpoint and serves it in a task until the returned sender fires.
async fn spawn_metrics(
    state: &Arc<AppState>,
    at: SocketAddr,
    log_format: super::LogFormat,
) -> anyhow::Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), checkpost_server::ServerError>>,
)> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("binding the metrics endpoint {at}"))?;
    announce(log_format, "checkpost metrics on", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(checkpost_server::metrics::serve_metrics(
        Arc::clone(state),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    Ok((stop, task))
}
