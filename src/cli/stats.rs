//! `checkpost stats`: screening counts by decision, reason, list, post, direction, destination,
//! sex and age band (and sex × age band) over a time range — the gender- and age-disaggregated
//! figures the national action plan asks for. The output never carries names, document numbers,
//! CNICs or dates of birth: the store's stats query does not select them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use checkpost_store::{SqliteStore, Stats, Store};
use chrono::{DateTime, NaiveDate, Utc};

/// Flags of `checkpost stats`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The database file (e.g. <data dir>/checkpost.db). Opened read-only.
    #[arg(long)]
    db: PathBuf,
    /// Start: a day (YYYY-MM-DD, from 00:00 UTC) or an RFC 3339 instant. Default: the beginning.
    #[arg(long, value_parser = parse_from)]
    from: Option<DateTime<Utc>>,
    /// End: a day (YYYY-MM-DD, counted in full) or an RFC 3339 instant (exclusive). Default: now.
    #[arg(long, value_parser = parse_to)]
    to: Option<DateTime<Utc>>,
    /// One JSON object.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// CSV: dimension,value,count.
    #[arg(long)]
    csv: bool,
}

fn parse_instant(s: &str, day_end: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("'{s}' is neither a day (YYYY-MM-DD) nor an RFC 3339 instant"))?;
    let day = if day_end {
        day.succ_opt()
            .ok_or_else(|| format!("'{s}' is the last representable day"))?
    } else {
        day
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

fn parse_from(s: &str) -> Result<DateTime<Utc>, String> {
    parse_instant(s, false)
}

fn parse_to(s: &str) -> Result<DateTime<Utc>, String> {
    parse_instant(s, true)
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.db.is_file(), "no database at {}", args.db.display());
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from < to, "--from must be before --to");
    }
    let store = SqliteStore::open_read_only(&args.db)
        .with_context(|| format!("opening {}", args.db.display()))?;
    let stats = store
        .stats(args.from, args.to)
        .context("counting screenings")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else if args.csv {
        print!("{}", csv(&stats)?);
    } else {
        print!("{}", table(&stats));
    }
    Ok(ExitCode::SUCCESS)
}

/// `dimension,value,count` rows, written with the `csv` crate (it quotes what needs quoting).
fn csv(stats: &Stats) -> anyhow::Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(["dimension", "value", "count"])?;
    let screenings = stats.screenings.to_string();
    let referrals = stats.protection_referrals.to_string();
    w.write_record(["total", "screenings", screenings.as_str()])?;
    w.write_record(["total", "protection_referrals", referrals.as_str()])?;
    for (d, v, c) in stats.rows() {
        w.write_record([d, v, c.to_string().as_str()])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn table(stats: &Stats) -> String {
    let range = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
    let mut out = format!(
        "screenings {} .. {}: {} (protection referrals: {})\n",
        range(stats.from),
        range(stats.to),
        stats.screenings,
        stats.protection_referrals
    );
    let mut last = "";
    for (d, v, c) in stats.rows() {
        if d != last {
            out.push_str(&format!("\n{d}\n"));
            last = d;
        }
        out.push_str(&format!("  {v:<28} {c:>10}\n"));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_day_to_is_counted_in_full_and_an_instant_is_exclusive() {
        assert_eq!(
            parse_to("2026-11-23").map(|t| t.to_rfc3339()),
            Ok("2026-11-24T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            parse_from("2026-11-23").map(|t| t.to_rfc3339()),
            Ok("2026-11-23T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            parse_to("2026-11-23T10:00:00Z").map(|t| t.to_rfc3339()),
            Ok("2026-11-23T10:00:00+00:00".to_owned())
        );
        assert!(parse_from("23/11/2026").is_err());
    }

    #[test]
    fn csv_quotes_values_that_need_it() {
        let mut stats = Stats::default();
        stats
            .counts
            .entry("post".into())
            .or_default()
            .insert("A,B".into(), 2);
        let text = csv(&stats).unwrap();
        assert!(text.contains("post,\"A,B\",2\n"), "{text}");
        assert!(text.starts_with("dimension,value,count\ntotal,screenings,0\n"));
    }
}
