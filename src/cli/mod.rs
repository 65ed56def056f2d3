//! The subcommands, one module each. A module parses its flags into its `Args`, calls the crates,
//! and prints; exit code 0 for success, 1 for "ran, but the answer is negative" (an invalid
//! document, a failed verification), 2 for an error.

pub mod audit;
pub mod auth;
pub mod cases;
pub mod client;
pub mod loadgen;
pub mod matching;
pub mod mrz;
pub mod scan;
pub mod screen;
pub mod serve;
pub mod snapshot;
pub mod stats;
pub mod watchlists;

/// How logs are written to stderr.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the tracing subscriber. `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal; log files and CI logs get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second init (tests calling into the CLI twice) is harmless, so its error is ignored.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// A multi-threaded tokio runtime for the subcommands that talk gRPC.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
