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
    /// Most remembered request ids for idempotent retries.
    #[arg(long)]
    retry_capacity: Option<usize>,
    /// How long a decision is replayed for a retry, e.g. 24h.
    #[arg(long, value_parser = humantime_duration)]
    retry_ttl: Option<Duration>,
    /// Key (64 hex chars) for the hashes that stand in for document numbers in logs.
    #[arg(long, env = "CHECKPOST_LOG_HASH_KEY", hide_env_values = true)]
    log_hash_key: Option<String>,
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
    let r = &mut config.idempotency;
    r.capacity = args.retry_capacity.unwrap_or(r.capacity);
    r.ttl = args.retry_ttl.unwrap_or(r.ttl);
    if args.log_hash_key.is_some() {
        config.log_hash_key = args.log_hash_key;
    }
    Ok(config)
}

/// Runs the subcommand: serves until SIGTERM or ctrl-c, then drains calls in flight.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config(args)?;
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
        eprintln!("checkpost serving on {}", listener.local_addr()?);
        checkpost_server::serve(state, listener, checkpost_server::shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
