//! `checkpost`: the one binary. It parses flags and wires the crates together; every
//! subcommand lives in `cli/<name>.rs` and the work itself lives in the crates.

// A binary exports nothing, so `pub` inside it is only a readability marker for "the module's
// entry points"; the workspace lint meant for libraries does not apply here.
#![allow(unreachable_pub)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

// mimalloc rather than glibc's malloc: a screening allocates and frees across threads (tokio
// workers build the record, the store's writer thread drops it; hyper and prost allocate per
// frame), where glibc's arenas showed `malloc`, `free`, `malloc_consolidate` and
// `unlink_chunk` at ~10 % of a worker's CPU under load. Measured: see BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Immigration check-post screening engine.
#[derive(Parser)]
#[command(name = "checkpost", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = cli::LogFormat::Pretty)]
    log_format: cli::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC server.
    Serve(cli::serve::Args),
    /// Build, sign, verify and inspect watchlist snapshots; generate synthetic watchlists.
    Snapshot(cli::snapshot::Args),
    /// Match identity queries (JSON lines) against a snapshot.
    Match(cli::matching::Args),
    /// Screen one passenger against a running server.
    Screen(cli::screen::Args),
    /// Decode QR codes in scans and verify their seals, without a server.
    Scan(cli::scan::Args),
    /// List, show, claim and resolve second-check cases.
    Cases(cli::cases::Args),
    /// Verify the tamper-evident audit trail.
    Audit(cli::audit::Args),
    /// Parse and check MRZ text.
    Mrz(cli::mrz::Args),
    /// Gender- and age-disaggregated screening statistics, without PII.
    Stats(cli::stats::Args),
    /// Drive a server at a fixed request rate and report latency percentiles.
    Loadgen(cli::loadgen::Args),
    /// Upload, activate and roll back snapshots, apply deltas and reload files on a running server.
    Watchlists(cli::watchlists::Args),
    /// Access control helpers: make bearer tokens.
    Auth(cli::auth::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of main: dropping it flushes the log queue.
    let _log = cli::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve(a) => cli::serve::run(a),
        Command::Snapshot(a) => cli::snapshot::run(a),
        Command::Match(a) => cli::matching::run(a),
        Command::Screen(a) => cli::screen::run(a),
        Command::Scan(a) => cli::scan::run(a),
        Command::Cases(a) => cli::cases::run(a),
        Command::Audit(a) => cli::audit::run(a),
        Command::Mrz(a) => cli::mrz::run(a),
        Command::Stats(a) => cli::stats::run(a),
        Command::Loadgen(a) => cli::loadgen::run(a),
        Command::Watchlists(a) => cli::watchlists::run(a),
        Command::Auth(a) => cli::auth::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
