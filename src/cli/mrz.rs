//! `checkpost mrz parse`: reads MRZ blocks (documents separated by blank lines) from a file or
//! stdin and prints each document's fields and check-digit verdicts, or one JSON object per
//! document. Exit code 0 when every document is valid, 1 when any is not, 2 on I/O errors.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use checkpost_document::{Block, CheckVerdict, MrzError, ParseOptions, TravelDocument};

/// Flags of `checkpost mrz`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Parse MRZ blocks and check every check digit.
    Parse(ParseArgs),
}

#[derive(clap::Args)]
struct ParseArgs {
    /// Print one JSON object per document (schema in crates/document/README.md).
    #[arg(long)]
    json: bool,
    /// Repair OCR misreads (O/0, B/8, …) when every check digit then verifies; each repair is
    /// reported.
    #[arg(long)]
    repair: bool,
    /// File holding MRZ blocks; stdin when absent or `-`.
    file: Option<PathBuf>,
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Parse(a) => parse(a),
    }
}

fn parse(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let bytes = read_input(args.file.as_ref())?;
    // Invalid UTF-8 is the text's problem, not an I/O error: the replacement character is then
    // reported as an illegal MRZ character with its position.
    let text = String::from_utf8_lossy(&bytes);
    let blocks = checkpost_document::split_blocks(&text);
    if blocks.is_empty() {
        eprintln!("no MRZ found in the input");
        return Ok(ExitCode::from(1));
    }
    let opts = ParseOptions {
        repair: args.repair,
    };
    let mut all_valid = true;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for block in &blocks {
        let result = checkpost_document::parse(&block.text, opts);
        all_valid &= result.as_ref().is_ok_and(TravelDocument::is_valid);
        if args.json {
            serde_json::to_writer(&mut out, &json(block, &result))?;
            writeln!(out)?;
        } else {
            human(&mut out, block, &result)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::from(if all_valid { 0 } else { 1 }))
}

fn read_input(file: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .with_context(|| format!("reading {}", path.display()))?;
        }
        _ => {
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
        }
    }
    Ok(bytes)
}

/// The 1-based input line of a zone line (1-based) in `block`.
fn input_line(block: &Block, zone_line: usize) -> usize {
    block.start_line + zone_line.saturating_sub(1)
}

fn json(block: &Block, result: &Result<TravelDocument, MrzError>) -> serde_json::Value {
    use serde_json::json;
    match result {
        Ok(doc) => {
            let mut v = serde_json::to_value(doc).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.insert("input_line".into(), json!(block.start_line));
                map.insert("valid".into(), json!(doc.is_valid()));
                map.insert("check_digits_valid".into(), json!(doc.check_digits_valid()));
            }
            v
        }
        Err(e) => json!({
            "input_line": block.start_line,
            "valid": false,
            "error": {
                "code": e.code(),
                "message": e.to_string(),
                "line": e.line(),
                "column": e.column(),
                "input_line": input_line(block, e.line().unwrap_or(1)),
            },
        }),
    }
}

fn human(
    out: &mut impl Write,
    block: &Block,
    result: &Result<TravelDocument, MrzError>,
) -> std::io::Result<()> {
    let doc = match result {
        Ok(doc) => doc,
        Err(e) => {
            let at = input_line(block, e.line().unwrap_or(1));
            writeln!(out, "input line {at}: INVALID: {e}")?;
            return writeln!(out);
        }
    };
    let verdict = if doc.is_valid() { "valid" } else { "INVALID" };
    writeln!(
        out,
        "input line {}: {} {} — {verdict}",
        block.start_line, doc.format, doc.document_code
    )?;
    let dob = doc
        .date_of_birth
        .map_or_else(|| "unknown".to_string(), |d| d.to_string());
    let expiry = doc
        .date_of_expiry
        .map_or_else(|| "unreadable".to_string(), |d| d.to_string());
    let cnic = doc
        .national_id
        .as_ref()
        .map_or_else(String::new, |c| c.dashed());
    let sex = match doc.sex {
        checkpost_document::Sex::Male => "M",
        checkpost_document::Sex::Female => "F",
        checkpost_document::Sex::Unspecified => "<",
    };
    for (name, value) in [
        ("issuing_state", doc.issuing_state.as_str()),
        ("document_number", &doc.document_number),
        ("surname", &doc.surname),
        ("given_names", &doc.given_names),
        ("nationality", &doc.nationality),
        ("date_of_birth", &dob),
        ("sex", sex),
        ("date_of_expiry", &expiry),
        ("personal_number", &doc.personal_number),
        ("optional_data", &doc.optional_data),
        ("national_id", &cnic),
    ] {
        if !value.is_empty() {
            writeln!(out, "  {name:<16} {value}")?;
        }
    }
    for c in &doc.checks {
        match c.verdict {
            CheckVerdict::NotPrinted => {
                writeln!(out, "  check {:<16} not printed", c.field.as_str())?;
            }
            v => writeln!(
                out,
                "  check {:<16} {} (input line {}, column {})",
                c.field.as_str(),
                v.as_str(),
                input_line(block, c.line.into()),
                c.column
            )?,
        }
    }
    for r in &doc.repairs {
        writeln!(
            out,
            "  repair {:<15} {:?} -> {:?} (input line {}, column {})",
            r.field.as_str(),
            r.from,
            r.to,
            input_line(block, r.line.into()),
            r.column
        )?;
    }
    for p in &doc.problems {
        writeln!(
            out,
            "  problem {:<14} {} (input line {})",
            p.kind.as_str(),
            p.message,
            input_line(block, p.line.into())
        )?;
    }
    writeln!(out)
}
