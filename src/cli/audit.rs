//! `checkpost audit`: checks the tamper-evident audit trail. `verify` walks the blake3 chain and
//! names the first record that was edited, deleted or reordered; exit 1 when the chain is broken.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use checkpost_store::{SqliteStore, Store};

/// Flags of `checkpost audit`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Walk the chain; name the first edited, deleted or reordered record (exit 1 if any).
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The database file (e.g. <data dir>/checkpost.db). Opened read-only.
    #[arg(long)]
    db: PathBuf,
    /// A head recorded earlier, as SEQ:HASH (from a previous `verify`): the record at SEQ must
    /// still exist with that chain hash. Catches a truncated tail or a recomputed chain.
    #[arg(long, value_name = "SEQ:HASH")]
    expect_head: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Verify(a) => verify(a),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.db.is_file(), "no database at {}", args.db.display());
    let store = SqliteStore::open_read_only(&args.db)
        .with_context(|| format!("opening {}", args.db.display()))?;
    let report = store.verify_chain().context("walking the audit chain")?;
    let head = report
        .head
        .map(|(seq, hash)| (seq, checkpost_store::audit::hash_hex(&hash)));
    let anchor = match &args.expect_head {
        Some(spec) => Some(check_anchor(&store, spec)?),
        None => None,
    };
    let anchor_ok = anchor.as_ref().is_none_or(|a| a.is_none());
    if args.json {
        let doc = serde_json::json!({
            "intact": report.is_intact(),
            "records": report.records,
            "head_seq": head.as_ref().map(|h| h.0),
            "head_hash": head.as_ref().map(|h| h.1.clone()),
            "expected_head_mismatch": anchor.as_ref().and_then(|a| a.clone()),
            "first_break": report.first_break.as_ref().map(|b| serde_json::json!({
                "seq": b.seq,
                "what": b.to_string(),
            })),
        });
        println!("{doc}");
    } else {
        match &report.first_break {
            None => {
                println!("audit trail intact: {} records", report.records);
                if let Some((seq, hash)) = &head {
                    // Keep this line elsewhere: a chain cannot see records cut from its end.
                    println!("head: seq {seq} hash {hash}");
                }
            }
            Some(b) => println!(
                "audit trail BROKEN: {b} (first break; records after it cannot be trusted)"
            ),
        }
    }
    if let Some(Some(why)) = &anchor {
        if !args.json {
            println!("audit trail does NOT match the expected head: {why}");
        }
    }
    Ok(ExitCode::from(if report.is_intact() && anchor_ok {
        0
    } else {
        1
    }))
}

/// `None` when the record at the anchored seq has the anchored hash, else why not.
fn check_anchor(store: &SqliteStore, spec: &str) -> anyhow::Result<Option<String>> {
    let (seq, hash) = spec
        .split_once(':')
        .with_context(|| format!("--expect-head '{spec}': expected SEQ:HASH"))?;
    let seq: u64 = seq
        .parse()
        .with_context(|| format!("--expect-head '{spec}': SEQ is not a number"))?;
    anyhow::ensure!(seq > 0, "--expect-head '{spec}': SEQ starts at 1");
    let hash = hash.trim().to_ascii_lowercase();
    let found = store
        .audit_after(seq - 1, 1)
        .context("reading the anchored record")?;
    Ok(match found.first() {
        Some(e) if e.seq == seq => {
            let stored = checkpost_store::audit::hash_hex(&e.hash);
            (stored != hash).then(|| format!("record {seq} has hash {stored}, expected {hash}"))
        }
        _ => Some(format!("record {seq} is missing (the chain was cut)")),
    })
}
