//! `checkpost match`: loads a signed snapshot once, then streams identity queries (one JSON object
//! a line) from a file or stdin and prints every match and the level the matcher alone gives.
//! Ops use it to test a name against tonight's list and to tune thresholds.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use checkpost_document::{Cnic, PartialDate, Sex};
use checkpost_watchlist::matcher::{self, Match, Query, Thresholds};
use checkpost_watchlist::snapshot::{Snapshot, read_verifying_key};
use checkpost_watchlist::{Direction, Entries};

/// Flags of `checkpost match`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The signed snapshot file.
    #[arg(long)]
    snapshot: PathBuf,
    /// A trusted HQ public key (repeatable).
    #[arg(long = "pubkey", required = true)]
    pubkeys: Vec<PathBuf>,
    /// One JSON object per query instead of text.
    #[arg(long)]
    json: bool,
    /// Screen for this direction only (DEPARTURE or ARRIVAL); default: any direction.
    #[arg(long)]
    direction: Option<Direction>,
    /// Day the entries' validity is checked against (YYYY-MM-DD); default: today (UTC).
    #[arg(long)]
    today: Option<chrono::NaiveDate>,
    /// Minimum combined score to report a name match (default: the matcher's standard).
    #[arg(long)]
    report: Option<f32>,
    /// Minimum name similarity for a strong NAME_DOB match (default: the matcher's standard).
    #[arg(long)]
    strong_name: Option<f32>,
    /// Queries, one JSON object a line; stdin when absent or `-`.
    file: Option<PathBuf>,
}

/// One query line. Unknown fields are refused so that a typo in a field name is not silently
/// ignored.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryLine {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_names: String,
    #[serde(default)]
    dob: Option<String>,
    #[serde(default)]
    sex: Option<String>,
    #[serde(default)]
    nationality: Option<String>,
    #[serde(default)]
    issuing_state: Option<String>,
    #[serde(default)]
    document_number: Option<String>,
    #[serde(default)]
    national_id: Option<String>,
    #[serde(default)]
    father_name: Option<String>,
}

/// A query line that could not be used: its 1-based line number, the field, and why.
#[derive(Debug)]
struct BadLine {
    line: usize,
    field: &'static str,
    reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: field '{}': {}",
            self.line, self.field, self.reason
        )
    }
}

fn parse_line(line: usize, text: &str) -> Result<(Option<String>, Query), BadLine> {
    let raw: QueryLine = serde_json::from_str(text).map_err(|e| BadLine {
        line,
        field: field_of(&e.to_string()),
        reason: e.to_string(),
    })?;
    let bad = |field: &'static str, reason: String| BadLine {
        line,
        field,
        reason,
    };
    let opt = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let dob = opt(raw.dob)
        .map(|d| PartialDate::parse(&d))
        .transpose()
        .map_err(|e| bad("dob", e.to_string()))?;
    let sex = match opt(raw.sex) {
        None => Sex::Unspecified,
        Some(s) => Sex::parse(&s).ok_or_else(|| bad("sex", format!("'{s}' is not M, F or X")))?,
    };
    let national_id = opt(raw.national_id)
        .map(|c| Cnic::parse(&c))
        .transpose()
        .map_err(|e| bad("national_id", e.to_string()))?;
    if raw.surname.trim().is_empty()
        && raw.given_names.trim().is_empty()
        && raw
            .document_number
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        && national_id.is_none()
    {
        return Err(bad(
            "surname",
            "a query needs a name, a document number or a national ID".to_string(),
        ));
    }
    let id = raw.id.map(|v| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    });
    Ok((
        id,
        Query {
            surname: raw.surname.trim().to_uppercase(),
            given_names: raw.given_names.trim().to_uppercase(),
            dob,
            sex,
            nationality: opt(raw.nationality).map(|s| s.to_uppercase()),
            issuing_state: opt(raw.issuing_state).map(|s| s.to_uppercase()),
            document_number: opt(raw.document_number),
            national_id,
            father_name: opt(raw.father_name).map(|s| s.to_uppercase()),
        },
    ))
}

/// serde_json names an unknown or mistyped field in its message as `` `field` ``.
fn field_of(message: &str) -> &'static str {
    const FIELDS: [&str; 10] = [
        "id",
        "surname",
        "given_names",
        "dob",
        "sex",
        "nationality",
        "issuing_state",
        "document_number",
        "national_id",
        "father_name",
    ];
    if message.starts_with("unknown field") {
        return "(unknown field)";
    }
    FIELDS
        .into_iter()
        .find(|f| message.contains(&format!("`{f}`")))
        .unwrap_or("(line)")
}

#[derive(serde::Serialize)]
struct JsonMatch<'a> {
    entry_id: &'a str,
    list: &'static str,
    kind: &'static str,
    score: f32,
    matched_tokens: &'a [String],
    strong: bool,
    level: &'static str,
}

#[derive(serde::Serialize)]
struct JsonResult<'a> {
    line: usize,
    id: Option<&'a str>,
    decision: &'static str,
    matches: Vec<JsonMatch<'a>>,
}

fn print_text(
    out: &mut impl Write,
    line: usize,
    id: Option<&str>,
    q: &Query,
    matches: &[Match],
    entries: &Entries,
) -> std::io::Result<()> {
    let who = format!("{} {}", q.given_names, q.surname);
    let label = id.map_or(format!("line {line}"), |id| format!("line {line} ({id})"));
    writeln!(
        out,
        "{label}: {} -> {} ({} match{})",
        who.trim(),
        matcher::decision(matches),
        matches.len(),
        if matches.len() == 1 { "" } else { "es" }
    )?;
    for m in matches {
        let name = entries
            .get(m.entry as usize)
            .map_or(String::new(), |e| e.full_name);
        writeln!(
            out,
            "  {:<10} {:<12} {:<11} score {:.3} {:<6} level {:<12} tokens [{}] {}",
            m.list.as_str(),
            m.entry_id.0,
            m.kind.as_str(),
            m.score,
            if m.strong { "strong" } else { "weak" },
            m.level.as_str(),
            m.matched_tokens.join(" "),
            name
        )?;
    }
    Ok(())
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut keys = Vec::new();
    for p in &args.pubkeys {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading public key {}", p.display()))?;
        keys.push(
            read_verifying_key(&text).with_context(|| format!("public key {}", p.display()))?,
        );
    }
    let bytes = std::fs::read(&args.snapshot)
        .with_context(|| format!("reading snapshot {}", args.snapshot.display()))?;
    let snap = Snapshot::load(&bytes, &keys)
        .with_context(|| format!("loading snapshot {}", args.snapshot.display()))?;
    drop(bytes);
    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let mut thresholds = Thresholds::STANDARD;
    if let Some(r) = args.report {
        thresholds.report = r;
    }
    if let Some(s) = args.strong_name {
        thresholds.strong_name = s;
    }
    let input: Box<dyn BufRead> = match &args.file {
        Some(p) if p.as_os_str() != "-" => Box::new(BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        _ => Box::new(BufReader::new(std::io::stdin())),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut bad_lines = 0usize;
    for (n, line) in input.lines().enumerate() {
        let line_no = n + 1;
        let text = line.with_context(|| format!("reading query line {line_no}"))?;
        if text.trim().is_empty() {
            continue;
        }
        let (id, q) = match parse_line(line_no, &text) {
            Ok(v) => v,
            Err(e) => {
                bad_lines += 1;
                eprintln!("error: {e}");
                continue;
            }
        };
        let matches = snap
            .index
            .find_with(snap.entries(), &q, args.direction, today, &thresholds);
        if args.json {
            let result = JsonResult {
                line: line_no,
                id: id.as_deref(),
                decision: matcher::decision(&matches).as_str(),
                matches: matches
                    .iter()
                    .map(|m| JsonMatch {
                        entry_id: &m.entry_id.0,
                        list: m.list.as_str(),
                        kind: m.kind.as_str(),
                        score: m.score,
                        matched_tokens: &m.matched_tokens,
                        strong: m.strong,
                        level: m.level.as_str(),
                    })
                    .collect(),
            };
            serde_json::to_writer(&mut out, &result)?;
            writeln!(out)?;
        } else {
            print_text(
                &mut out,
                line_no,
                id.as_deref(),
                &q,
                &matches,
                snap.entries(),
            )?;
        }
        // Streaming: a query piped in interactively sees its answer at once.
        out.flush()?;
    }
    if bad_lines > 0 {
        eprintln!("{bad_lines} query line(s) could not be used");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bad_query_lines_name_line_and_field() {
        let e = parse_line(3, r#"{"surname":"KHAN","dob":"1985-13-01"}"#).unwrap_err();
        assert_eq!((e.line, e.field), (3, "dob"), "{e}");
        let e = parse_line(4, r#"{"surname":"KHAN","sex":"Q"}"#).unwrap_err();
        assert_eq!(e.field, "sex");
        let e = parse_line(5, r#"{"surname":"KHAN","national_id":"123"}"#).unwrap_err();
        assert_eq!(e.field, "national_id");
        let e = parse_line(6, r#"{"surname":7}"#).unwrap_err();
        assert_eq!(e.field, "(line)", "{e}");
        let e = parse_line(7, r#"{"surnam":"KHAN"}"#).unwrap_err();
        assert!(e.to_string().contains("surnam"), "{e}");
        let e = parse_line(8, r#"{"sex":"M"}"#).unwrap_err();
        assert_eq!(e.field, "surname");
    }

    #[test]
    fn good_query_line_becomes_a_query() {
        let (id, q) = parse_line(
            1,
            r#"{"id":17,"surname":"khan","given_names":"muhammad asif","dob":"1985-04","sex":"M","national_id":"35202-1234567-1"}"#,
        )
        .unwrap();
        assert_eq!(id.as_deref(), Some("17"));
        assert_eq!(q.surname, "KHAN");
        assert_eq!(q.dob.map(|d| d.to_string()).as_deref(), Some("1985-04"));
        assert_eq!(q.sex, Sex::Male);
        assert!(q.national_id.is_some());
    }
}
