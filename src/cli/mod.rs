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

/// Keeps the log writer's thread alive; dropping it flushes every queued line and reports, on
/// stderr, how many lines were dropped because the log sink could not keep up. Hold it until
/// the process exits.
pub struct LogGuard {
    _worker: tracing_appender::non_blocking::WorkerGuard,
    dropped: tracing_appender::non_blocking::ErrorCounter,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let dropped = self.dropped.dropped_lines();
        if dropped > 0 {
            eprintln!("warning: {dropped} log line(s) dropped: the log sink was too slow");
        }
    }
}

/// Lines queued for the log writer thread before new lines are dropped.
const LOG_QUEUE_LINES: usize = 64 * 1024;

/// Installs the tracing subscriber. `RUST_LOG` filters (default `info`).
///
/// Lines go to stderr through `tracing-appender`'s non-blocking writer: a tokio worker that logs
/// only queues the line, so a slow log pipe (a stalled shipper, a full terminal) can never hold
/// up a screening. If the queue fills, lines are dropped rather than blocking the counters (the
/// audit trail, not the log, is the record of every screening) and the count is reported when
/// the returned guard drops.
pub fn init_logging(format: LogFormat) -> LogGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal; log files and CI logs get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, worker) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("checkpost-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    // A second init (tests calling into the CLI twice) is harmless, so its error is ignored.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    LogGuard {
        _worker: worker,
        dropped,
    }
}

/// A multi-threaded tokio runtime for the subcommands that talk gRPC.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
