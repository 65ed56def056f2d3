//! `checkpost watchlists upload|activate|rollback|status|reload|apply-delta`: the ops side of a
//! running server, over its `Watchlists` service. Exit code 0 on success; 1 when `status` finds
//! no active snapshot or a stale one; 2 when the call failed (the server's message says which
//! check refused the file).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use checkpost_proto::v1 as pb;
use pb::watchlists_client::WatchlistsClient;
use serde_json::{Value, json};

use super::client::AuthChannel;

/// Chunk size of an upload (the contract allows at most 1 MiB per chunk).
const CHUNK_BYTES: usize = 1024 * 1024;

/// Flags of `checkpost watchlists`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    client: super::client::ClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Upload a signed snapshot file; the server verifies it and keeps it staged.
    Upload {
        /// The snapshot file (from `checkpost snapshot build`).
        file: PathBuf,
        /// Activate it as soon as it verified.
        #[arg(long)]
        activate: bool,
    },
    /// Make a staged snapshot active.
    Activate {
        /// Its digest (hex), as `upload` or `status` printed it.
        digest: String,
    },
    /// Swap the active snapshot with the previous one.
    Rollback,
    /// What is active, kept for rollback and staged, and how old it is.
    Status {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Re-read files ops edit; with no target, all of them.
    Reload {
        /// rules, trust-list, visa-register (repeatable).
        #[arg(value_enum)]
        targets: Vec<ReloadArg>,
    },
    /// Apply a signed intraday delta file (from `checkpost snapshot delta`).
    ApplyDelta {
        /// The delta file.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReloadArg {
    Rules,
    TrustList,
    VisaRegister,
}

fn target(t: ReloadArg) -> pb::ReloadTarget {
    match t {
        ReloadArg::Rules => pb::ReloadTarget::Rules,
        ReloadArg::TrustList => pb::ReloadTarget::TrustList,
        ReloadArg::VisaRegister => pb::ReloadTarget::VisaRegister,
    }
}

fn status_error(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map_or_else(|| "-".to_string(), |d| d.to_rfc3339())
}

fn list_name(l: i32) -> &'static str {
    pb::ListKind::try_from(l).map_or("?", |l| l.as_str_name())
}

fn age(seconds: i64) -> String {
    let secs = u64::try_from(seconds).unwrap_or(0);
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

fn info_json(i: &pb::SnapshotInfo) -> Value {
    json!({
        "version": i.version,
        "digest": i.digest,
        "signer": i.signer,
        "created_at": time(i.created_at.as_ref()),
        "age_seconds": i.age_seconds,
        "counts": i.counts.iter().map(|c| (list_name(c.list).to_string(), json!(c.entries)))
            .collect::<serde_json::Map<_, _>>(),
        "total_entries": i.total_entries,
        "format_version": i.format_version,
    })
}

fn info_line(label: &str, i: &pb::SnapshotInfo) {
    let counts: Vec<String> = i
        .counts
        .iter()
        .map(|c| format!("{} {}", list_name(c.list), c.entries))
        .collect();
    println!(
        "{label:<9} {} ({} entries: {}), created {} (age {}), digest {}, signer {}",
        i.version,
        i.total_entries,
        counts.join(", "),
        time(i.created_at.as_ref()),
        age(i.age_seconds),
        i.digest,
        i.signer
    );
}

fn print_status(s: &pb::WatchlistStatus, as_json: bool) {
    if as_json {
        let v = json!({
            "active": s.active.as_ref().map(info_json),
            "previous": s.previous.as_ref().map(info_json),
            "staged": s.staged.iter().map(info_json).collect::<Vec<_>>(),
            "delta_count": s.delta_count,
            "stale": s.stale,
            "stale_after_seconds": s.stale_after_seconds,
        });
        println!("{v}");
        return;
    }
    match &s.active {
        Some(a) => info_line("active:", a),
        None => println!("active:   none (every screening fails closed to SECOND_CHECK)"),
    }
    if let Some(p) = &s.previous {
        info_line("previous:", p);
    }
    for st in &s.staged {
        info_line("staged:", st);
    }
    println!("deltas:   {} entries in force", s.delta_count);
    println!(
        "stale:    {} (limit {})",
        if s.stale { "YES" } else { "no" },
        age(s.stale_after_seconds)
    );
}

/// The upload stream: the file in chunks, each a copy of one slice (the file is shared, not
/// copied whole).
fn chunks(
    bytes: Vec<u8>,
    activate: bool,
) -> impl tokio_stream::Stream<Item = pb::UploadSnapshotChunk> + Send + 'static {
    let bytes = Arc::new(bytes);
    let n = bytes.len().div_ceil(CHUNK_BYTES).max(1);
    tokio_stream::iter((0..n).map(move |i| {
        let start = i * CHUNK_BYTES;
        let end = (start + CHUNK_BYTES).min(bytes.len());
        pb::UploadSnapshotChunk {
            data: bytes[start..end].to_vec(),
            activate,
        }
    }))
}

async fn call(mut client: WatchlistsClient<AuthChannel>, command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Upload { file, activate } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let size = bytes.len();
            let r = client
                .upload_snapshot(chunks(bytes, activate))
                .await
                .map_err(status_error)?
                .into_inner();
            if let Some(i) = &r.snapshot {
                info_line(if r.activated { "active:" } else { "staged:" }, i);
            }
            eprintln!(
                "uploaded {} ({size} bytes){}",
                file.display(),
                if r.activated {
                    "; now active"
                } else {
                    "; activate it with `checkpost watchlists activate <digest>`"
                }
            );
        }
        Command::Activate { digest } => {
            let s = client
                .activate_snapshot(pb::ActivateSnapshotRequest { digest })
                .await
                .map_err(status_error)?
                .into_inner();
            print_status(&s, false);
        }
        Command::Rollback => {
            let s = client
                .rollback_snapshot(pb::RollbackSnapshotRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            print_status(&s, false);
        }
        Command::Status { json } => {
            let s = client
                .get_status(pb::GetStatusRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            print_status(&s, json);
            if s.stale || s.active.is_none() {
                return Ok(1);
            }
        }
        Command::Reload { targets } => {
            let r = client
                .reload(pb::ReloadRequest {
                    targets: targets.into_iter().map(|t| target(t).into()).collect(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            for line in r.loaded {
                println!("{line}");
            }
        }
        Command::ApplyDelta { file } => {
            let delta =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = client
                .apply_delta(pb::ApplyDeltaRequest { delta })
                .await
                .map_err(status_error)?
                .into_inner();
            println!(
                "delta {} (signed {}): {} added or replaced, {} removed; {} delta entries in force",
                r.delta_id,
                time(r.created_at.as_ref()),
                r.added,
                r.removed,
                r.delta_count
            );
        }
    }
    Ok(0)
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    let code = rt.block_on(async move {
        let channel = args.client.connect().await?;
        call(WatchlistsClient::new(channel), args.command).await
    })?;
    Ok(ExitCode::from(code))
}
