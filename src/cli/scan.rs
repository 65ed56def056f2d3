//! `checkpost scan`: decodes every QR code in scanned images and verifies their seals, without a
//! server — so ops can check a trust list, a register or a suspicious visa at a desk.
//! Exit code 0 when every image holds a valid visa code, 1 when any does not, 2 on an error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use checkpost_docscan::{Checks, Limits, ScanReport, TrustList, VisaRegister, scan};
use checkpost_document::{Identity, ParseOptions};

/// Flags of `checkpost scan`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Scanned images (PNG or JPEG).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Trust list (TOML) of issuer keys; without it every seal's signer is unknown.
    #[arg(long)]
    trust: Option<PathBuf>,
    /// MRZ of the passport in hand (2 or 3 lines); the visa's holder is checked against it.
    #[arg(long)]
    mrz_file: Option<PathBuf>,
    /// Issued-visa register (CSV) for QR codes that carry only a visa number.
    #[arg(long)]
    register: Option<PathBuf>,
    /// One JSON object per image instead of text.
    #[arg(long)]
    json: bool,
    /// Day validity windows are checked against (YYYY-MM-DD); default: today (UTC).
    #[arg(long)]
    today: Option<chrono::NaiveDate>,
    /// Largest image file accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    max_bytes: usize,
    /// Largest image accepted, in pixels (width x height).
    #[arg(long, default_value_t = Limits::default().max_pixels)]
    max_pixels: u64,
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let trust = match &args.trust {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading trust list {}", path.display()))?;
            TrustList::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => {
            eprintln!("warning: no --trust list given: every seal's signer is unknown");
            TrustList::empty()
        }
    };
    let register = match &args.register {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("opening register {}", path.display()))?;
            Some(VisaRegister::from_csv(file).with_context(|| format!("in {}", path.display()))?)
        }
        None => None,
    };
    let mrz: Option<Identity> = match &args.mrz_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading MRZ {}", path.display()))?;
            let doc = checkpost_document::parse(&text, ParseOptions::default())
                .with_context(|| format!("in {}", path.display()))?;
            if !doc.check_digits_valid() {
                eprintln!("warning: the MRZ in {} fails a check digit", path.display());
            }
            Some(doc.identity())
        }
        None => None,
    };
    let limits = Limits {
        max_bytes: args.max_bytes,
        max_pixels: args.max_pixels,
        ..Limits::default()
    };
    let checks = Checks {
        trust: &trust,
        register: register.as_ref(),
        mrz: mrz.as_ref(),
        today: args
            .today
            .unwrap_or_else(|| chrono::Utc::now().date_naive()),
    };
    let mut all_valid = true;
    for path in &args.files {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading image {}", path.display()))?;
        let report = scan(&bytes, &limits, &checks);
        all_valid &= report.is_valid();
        if args.json {
            let line = serde_json::json!({
                "file": path.display().to_string(),
                "valid": report.is_valid(),
                "report": report,
            });
            println!("{line}");
        } else {
            print_text(&path.display().to_string(), &report);
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_text(file: &str, r: &ScanReport) {
    let size = r
        .size
        .map_or("unreadable".to_string(), |(w, h)| format!("{w}x{h}"));
    println!(
        "{file}: {} {size} blake3 {} -> {}",
        r.format.as_deref().unwrap_or("?"),
        r.digest,
        if r.is_valid() { "VALID" } else { "NOT VALID" }
    );
    for reason in &r.reasons {
        println!("  {}: {}", reason.code, reason.message);
    }
    for (i, c) in r.codes.iter().enumerate() {
        let corners: Vec<String> = c
            .corners
            .iter()
            .map(|p| format!("({},{})", p.x, p.y))
            .collect();
        println!(
            "  code {} at {}: {}",
            i + 1,
            corners.join(" "),
            c.verdict.as_str()
        );
        println!("    payload: {}", c.payload);
        if let Some(v) = &c.visa {
            println!(
                "    e-visa {} ({}, {} entries) for {} born {}, {}, passport {}, valid {} to {}, signed by {}",
                v.visa_number,
                v.visa_type,
                if v.entries == 0 {
                    "multiple".to_string()
                } else {
                    v.entries.to_string()
                },
                v.holder.name,
                v.holder.date_of_birth.map_or("?".into(), |d| d.to_string()),
                v.holder.nationality,
                v.holder.passport_number,
                v.valid_from,
                v.valid_until,
                v.signer
            );
        }
        if let Some(rec) = &c.record {
            println!(
                "    register: visa {} {} for {}, passport {}, valid {} to {}",
                rec.visa_number,
                rec.status.as_str(),
                rec.holder.name,
                rec.holder.passport_number,
                rec.valid_from,
                rec.valid_until
            );
        }
        if !c.cross_checked && (c.visa.is_some() || c.record.is_some()) {
            println!("    (not checked against a passport: no --mrz-file)");
        }
        for reason in &c.reasons {
            println!("    {}: {}", reason.code, reason.message);
        }
    }
}
