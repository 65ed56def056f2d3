//! `checkpost snapshot`: HQ's tools for the nightly watchlist snapshot — make a signing key,
//! build and sign a snapshot from CSV exports, verify and inspect a snapshot file, and write a
//! synthetic watchlist; and the intraday signed delta (add/remove entries) that a post applies
//! over its snapshot. The work lives in `checkpost_watchlist::{csv, snapshot, delta, synth}`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use checkpost_watchlist::csv::{ImportOptions, import_with_progress};
use checkpost_watchlist::delta::{self, Delta};
use checkpost_watchlist::snapshot::{self, SigningKey, Snapshot, VerifyingKey};
use checkpost_watchlist::{EntryId, WatchlistError, synth};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use rand::RngCore;

/// Flags of `checkpost snapshot`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Make an HQ signing key (PEM, PKCS#8) and its public key beside it (`.pub`).
    Keygen {
        /// Where to write the private key; the public key goes to the same path with `.pub`.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Import CSV exports, validate them, and write a signed snapshot.
    Build {
        /// A CSV export (repeat for several files; entry ids must be unique across them).
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        /// HQ signing key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The snapshot file to write (written to a temporary file, then renamed).
        #[arg(long)]
        out: PathBuf,
        /// Version label; defaults to the build time, e.g. `2026-11-23T0230Z`.
        #[arg(long)]
        version: Option<String>,
        /// Skip bad rows (and list them) instead of refusing the build.
        #[arg(long)]
        lenient: bool,
    },
    /// Write a signed intraday delta: entries to add (or replace, by entry id) from CSV exports,
    /// and entry ids to remove. Apply it with `Watchlists.ApplyDelta`.
    Delta {
        /// A CSV export of entries to add or replace (same columns as `build`; repeatable).
        #[arg(long = "add")]
        adds: Vec<PathBuf>,
        /// An entry id to remove (repeatable).
        #[arg(long = "remove")]
        removes: Vec<String>,
        /// HQ signing key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The delta's id, e.g. `2026-11-23-ecl-017`; a post applies an id once.
        #[arg(long)]
        id: String,
        /// The snapshot version the delta was prepared against (recorded, not enforced).
        #[arg(long)]
        base: Option<String>,
        /// The delta file to write (written to a temporary file, then renamed).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a snapshot's (or delta's) signature and digest against trusted public keys (exit 1
    /// if it fails).
    Verify {
        /// The snapshot or delta file.
        file: PathBuf,
        /// A trusted HQ public key (PEM); repeat for several.
        #[arg(long = "pubkey", required = true)]
        pubkeys: Vec<PathBuf>,
    },
    /// Show a snapshot's (or delta's) header: version, age, counts, digest, signer. Verifies
    /// nothing.
    Inspect {
        /// The snapshot or delta file.
        file: PathBuf,
    },
    /// Write a realistic synthetic watchlist CSV (the same seed gives the same file).
    Synth {
        /// Number of entries.
        #[arg(long)]
        entries: usize,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Keygen { out, force } => keygen(&out, force),
        Command::Build {
            inputs,
            key,
            out,
            version,
            lenient,
        } => build(&inputs, &key, &out, version, lenient),
        Command::Delta {
            adds,
            removes,
            key,
            id,
            base,
            out,
        } => build_delta(&adds, &removes, &key, &id, base.as_deref(), &out),
        Command::Verify { file, pubkeys } => verify(&file, &pubkeys),
        Command::Inspect { file } => inspect(&file),
        Command::Synth { entries, seed, out } => {
            let list = synth::generate(entries, seed);
            let file =
                fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let mut w = BufWriter::new(file);
            synth::write_csv(&list, &mut w)?;
            w.flush()?;
            println!(
                "wrote {} synthetic entries (seed {seed}) to {}",
                list.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn keygen(out: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let public_path = out.with_extension("pub");
    for p in [out, public_path.as_path()] {
        if p.exists() && !force {
            bail!("{} exists; pass --force to overwrite", p.display());
        }
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    write_private(out, snapshot::signing_key_pem(&key)?.as_bytes())?;
    fs::write(
        &public_path,
        snapshot::verifying_key_pem(&key.verifying_key())?,
    )
    .with_context(|| format!("writing {}", public_path.display()))?;
    println!(
        "wrote signing key {} (keep it at HQ) and public key {} (give it to posts)\nsigner {}",
        out.display(),
        public_path.display(),
        hex_key(&key.verifying_key())
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

fn hex_key(k: &VerifyingKey) -> String {
    k.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads each input file whole, named by its path (the CSV importer's sources).
fn read_files(inputs: &[PathBuf]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    inputs
        .iter()
        .map(|p| {
            fs::read(p)
                .map(|b| (p.display().to_string(), b))
                .with_context(|| format!("reading {}", p.display()))
        })
        .collect()
}

/// The files from [`read_files`] as the importer takes them.
fn as_sources(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect()
}

fn build(
    inputs: &[PathBuf],
    key_path: &Path,
    out: &Path,
    version: Option<String>,
    lenient: bool,
) -> anyhow::Result<ExitCode> {
    let key = snapshot::read_signing_key(&read_text(key_path)?)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let files = read_files(inputs)?;
    let sources = as_sources(&files);
    let total: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();

    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:40}] {bytes}/{total_bytes} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("importing");
    let imported = import_with_progress(&sources, ImportOptions { lenient }, &mut |done| {
        bar.set_position(done)
    });
    bar.finish_and_clear();
    let imported = match imported {
        Ok(i) => i,
        Err(WatchlistError::RejectedRows { rows }) => {
            for row in &rows {
                eprintln!("rejected: {row}");
            }
            bail!(
                "refused the build: {} bad row(s) (fix them, or pass --lenient to skip them)",
                rows.len()
            );
        }
        Err(e) => return Err(e.into()),
    };
    for row in &imported.rejected {
        eprintln!("skipped: {row}");
    }

    let created_at = Utc::now();
    let version = version.unwrap_or_else(|| created_at.format("%Y-%m-%dT%H%MZ").to_string());
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("encoding and signing");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let bytes = snapshot::build(&imported.entries, &version, created_at, &key);
    spinner.finish_and_clear();
    let bytes = bytes?;

    // Write beside the target and rename, so a post watching the path never reads half a file.
    let tmp = out.with_extension("partial");
    fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;

    let header = snapshot::read_header(&bytes)?;
    println!(
        "built {} ({} entries, {} bytes, {} row(s) skipped)",
        out.display(),
        header.total(),
        bytes.len(),
        imported.rejected.len()
    );
    print_header(&header)?;
    Ok(ExitCode::SUCCESS)
}

fn verify(file: &Path, pubkeys: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let keys: Vec<VerifyingKey> = pubkeys
        .iter()
        .map(|p| {
            snapshot::read_verifying_key(&read_text(p)?)
                .with_context(|| format!("reading {}", p.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if delta::is_delta(&bytes) {
        return verify_delta(file, &bytes, &keys);
    }
    match Snapshot::load(&bytes, &keys) {
        Ok(snap) => {
            println!(
                "OK: {} verified: {} entries, digest {}, signed by {}",
                file.display(),
                snap.len(),
                snap.digest_hex(),
                snap.header.signer_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!(
                "FAILED: {}: {} check failed: {err}",
                file.display(),
                check_name(&err)
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Which load check an error comes from, in the words ops use.
fn check_name(err: &WatchlistError) -> &'static str {
    match err {
        WatchlistError::Truncated { .. } => "length (truncated)",
        WatchlistError::NotASnapshot => "magic (not a snapshot)",
        WatchlistError::NotADelta => "magic (not a delta)",
        WatchlistError::FutureFormat { .. } => "format version",
        WatchlistError::MalformedHeader { .. } => "header",
        WatchlistError::Unsigned { .. } => "signature present (unsigned)",
        WatchlistError::NoTrustedKeys => "trusted keys",
        WatchlistError::UntrustedSigner { .. } => "trusted signer",
        WatchlistError::BadSignature { .. } => "signature",
        WatchlistError::Corrupted { .. } => "body digest (corrupted)",
        _ => "body",
    }
}

fn inspect(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if delta::is_delta(&bytes) {
        let header = delta::read_header(&bytes)?;
        println!(
            "{} ({} bytes) — delta header only, NOT verified (use `snapshot verify`)",
            file.display(),
            bytes.len()
        );
        print_delta_header(&header)?;
        return Ok(ExitCode::SUCCESS);
    }
    let header = snapshot::read_header(&bytes)?;
    println!(
        "{} ({} bytes) — header only, NOT verified (use `snapshot verify`)",
        file.display(),
        bytes.len()
    );
    print_header(&header)?;
    let age = Utc::now() - header.created_at;
    println!(
        "age:            {}h {:02}m",
        age.num_hours(),
        age.num_minutes().rem_euclid(60)
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the header; written through a `Write` so that a closed pipe (`| head`) ends the
/// command with an error instead of a panic.
fn print_header(h: &snapshot::SnapshotHeader) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "format version: {}", h.format_version)?;
    writeln!(out, "version:        {}", h.version)?;
    writeln!(out, "created at:     {}", h.created_at.to_rfc3339())?;
    writeln!(out, "digest:         {}", h.digest_hex())?;
    writeln!(out, "signer:         {}", h.signer_hex())?;
    writeln!(out, "entries:        {}", h.total())?;
    for (list, n) in &h.counts {
        writeln!(out, "  {:<12} {n}", list.as_str())?;
    }
    Ok(())
}

/// Reads CSV exports strictly (a delta is urgent and small: any bad row refuses it, listed).
fn import_strict(inputs: &[PathBuf]) -> anyhow::Result<Vec<checkpost_watchlist::Entry>> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let files = read_files(inputs)?;
    let sources = as_sources(&files);
    match import_with_progress(&sources, ImportOptions { lenient: false }, &mut |_| {}) {
        Ok(imported) => Ok(imported.entries),
        Err(WatchlistError::RejectedRows { rows }) => {
            for row in &rows {
                eprintln!("rejected: {row}");
            }
            bail!("refused the delta: {} bad row(s)", rows.len());
        }
        Err(e) => Err(e.into()),
    }
}

fn build_delta(
    adds: &[PathBuf],
    removes: &[String],
    key_path: &Path,
    id: &str,
    base: Option<&str>,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let key = snapshot::read_signing_key(&read_text(key_path)?)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let entries = import_strict(adds)?;
    let removes: Vec<EntryId> = removes
        .iter()
        .map(|r| EntryId(r.trim().to_string()))
        .collect();
    let bytes = delta::build(&entries, &removes, id, Utc::now(), base, &key)?;
    let tmp = out.with_extension("partial");
    fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    println!(
        "built delta {} ({} add(s), {} removal(s), {} bytes)",
        out.display(),
        entries.len(),
        removes.len(),
        bytes.len()
    );
    print_delta_header(&delta::read_header(&bytes)?)?;
    Ok(ExitCode::SUCCESS)
}

fn verify_delta(file: &Path, bytes: &[u8], keys: &[VerifyingKey]) -> anyhow::Result<ExitCode> {
    match Delta::load(bytes, keys) {
        Ok(d) => {
            println!(
                "OK: delta {} verified: id {}, {} add(s), {} removal(s), digest {}, signed by {}",
                file.display(),
                d.header.id,
                d.adds.len(),
                d.removes.len(),
                d.header.digest_hex(),
                d.header.signer_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!(
                "FAILED: delta {}: {} check failed: {err}",
                file.display(),
                check_name(&err)
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn print_delta_header(h: &delta::DeltaHeader) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "kind:           delta")?;
    writeln!(out, "format version: {}", h.format_version)?;
    writeln!(out, "id:             {}", h.id)?;
    writeln!(out, "created at:     {}", h.created_at.to_rfc3339())?;
    writeln!(
        out,
        "base snapshot:  {}",
        h.base_version.as_deref().unwrap_or("(any)")
    )?;
    writeln!(out, "adds:           {}", h.adds)?;
    writeln!(out, "removes:        {}", h.removes)?;
    writeln!(out, "digest:         {}", h.digest_hex())?;
    writeln!(out, "signer:         {}", h.signer_hex())?;
    Ok(())
}
