//! `checkpost loadgen`: drives a server at a fixed request rate and reports latency.
//!
//! Open loop: request `i` is due at `start + i / rate` whatever happened to earlier ones, and its
//! latency is measured from that intended time, not from when it was actually sent. A server that
//! stalls therefore shows the stall in every request that queued behind it, instead of the
//! generator quietly slowing down (coordinated omission). Sends are scheduled from a dedicated
//! OS thread (`thread::sleep` is precise to tens of µs; tokio's timer wheel is 1 ms, which
//! would add up to a millisecond of generator-made latency at high rates).
//!
//! Passengers are synthetic valid TD3 MRZs from the `mrz` crate's emitter; a share of them are
//! listed persons taken from the same watchlist the server's snapshot was built from (its CSV,
//! or `snapshot synth`'s seed). Bounded: at most 10 minutes, at most 50,000 req/s, loopback only.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use checkpost_proto::v1 as pb;
use checkpost_watchlist::Entry;
use chrono::Datelike;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Flags of `checkpost loadgen`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Server, token and TLS flags; the server must be a loopback address (127.0.0.0/8, ::1
    /// or localhost).
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// Requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// How long to send for, e.g. 30s (at most 10m).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The CSV the server's snapshot was built from; listed passengers come from its first rows.
    #[arg(long)]
    snapshot_csv: Option<PathBuf>,
    /// Or: the `snapshot synth --entries N` count the snapshot was built from…
    #[arg(long)]
    synth_entries: Option<usize>,
    /// …and its seed. Also seeds the passenger generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of passengers who are listed persons (their name, date of birth and document from
    /// the watchlist), in percent. A real post sees well under 1 % listed travellers and flags
    /// a few percent in all, most of them namesakes; the default of 1 % plus the namesakes below
    /// keeps the flag rate in that range. `--listed-share 5 --common-name-share 100` is the mix
    /// of earlier sessions (30–50 % flagged on a 1M synthetic list).
    #[arg(long, alias = "listed-percent", default_value_t = 1.0, value_parser = percent)]
    listed_share: f64,
    /// Share of the other passengers whose names are common Pakistani names (the synthetic
    /// watchlist is full of them, so some are flagged as name-only matches: the namesakes a
    /// post meets every day), in percent. The rest get rare names that match no entry.
    #[arg(long, default_value_t = 3.0, value_parser = percent)]
    common_name_share: f64,
    /// HTTP/2 connections to spread the calls over.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Calls in flight past which new calls are counted as errors instead of sent.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: u64,
    /// Deadline of each call.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The counter id of every call. With access control on, a terminal screens only as the
    /// identity it authenticated as, so pass the token's name here. Default: sixteen counters,
    /// L-00 to L-15.
    #[arg(long)]
    counter: Option<String>,
    /// Travel direction of the passengers.
    #[arg(long, default_value = "departure")]
    direction: String,
    /// Tokio worker threads of the generator (besides its sending thread). Loadgen and the
    /// server usually share the machine: one worker keeps the generator to about one core.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("must be a percentage from 0 to 100, not {s}")),
    }
}

const MAX_DURATION: Duration = Duration::from_secs(600);
const MAX_RATE: u32 = 50_000;
const POOL: usize = 20_000;
const LISTED_POOL: usize = 5_000;

fn check_loopback(url: &str) -> anyhow::Result<()> {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = if let Some(h) = rest.strip_prefix('[') {
        h.split(']').next().unwrap_or_default()
    } else {
        rest.rsplit_once(':').map_or(rest, |(h, _)| h)
    };
    let ok = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !ok {
        bail!("loadgen only drives servers on loopback (127.0.0.0/8, ::1, localhost), not {host}");
    }
    Ok(())
}

fn listed_entries(args: &Args) -> anyhow::Result<Vec<Entry>> {
    let mut entries = if let Some(path) = &args.snapshot_csv {
        // Only the first rows are needed: read the header and up to LISTED_POOL * 2 rows.
        use std::io::BufRead;
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let mut head = String::new();
        for line in std::io::BufReader::new(file)
            .lines()
            .take(LISTED_POOL * 2 + 1)
        {
            head.push_str(&line.with_context(|| format!("reading {}", path.display()))?);
            head.push('\n');
        }
        let name = path.display().to_string();
        checkpost_watchlist::csv::import(
            &[(name.as_str(), head.as_bytes())],
            checkpost_watchlist::csv::ImportOptions { lenient: true },
        )?
        .entries
    } else if let Some(n) = args.synth_entries {
        checkpost_watchlist::synth::generate(n, args.seed)
    } else {
        Vec::new()
    };
    // SLTD and CNIC_BLOCK entries name no person; a passenger is built from a named entry.
    entries.retain(|e| !e.full_name.trim().is_empty());
    entries.truncate(LISTED_POOL);
    Ok(entries)
}

const GIVEN: &[&str] = &[
    "AHMED", "BILAL", "FARHAN", "HAMZA", "IMRAN", "KAMRAN", "NADIA", "SANA", "AYESHA", "ZAINAB",
    "USMAN", "SAAD", "HIRA", "MARIA", "FAISAL", "TARIQ", "OMER", "RABIA", "SAMINA", "JUNAID",
];
const FAMILY: &[&str] = &[
    "QURESHI",
    "BUTT",
    "MIRZA",
    "SHEIKH",
    "ABBASI",
    "KHATTAK",
    "YOUSAFZAI",
    "LODHI",
    "NIAZI",
    "GILANI",
    "SIDDIQUI",
    "FAROOQI",
    "JAFRI",
    "RIZVI",
    "BALOCH",
    "MEMON",
    "SOOMRO",
    "DURRANI",
];

/// Syllables of the rare names unlisted passengers get by default: no watchlist entry (real or
/// `snapshot synth`) is built from them, so these passengers are CLEAR unless a rule flags them.
const SYLLABLES: &[&str] = &[
    "ZO", "VEX", "QUI", "LUR", "TAV", "NIX", "BRO", "FEY", "KUV", "JOX", "PEL", "WUZ", "YRN",
    "GAX", "DRU", "OBO", "SKE", "TIV",
];

/// A made-up name of `n` syllables.
fn rare_name(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())])
        .collect()
}

/// A valid TD3 MRZ; `expiry` from [`expiry`].
fn mrz_for(
    surname: &str,
    given: &str,
    dob: mrz::Date,
    sex: mrz::Sex,
    nationality: &str,
    number: &str,
    expiry: mrz::Date,
) -> String {
    mrz::format_td3(&mrz::Td3Fields {
        document_code: "P".into(),
        issuing_country: nationality.into(),
        document_number: number.into(),
        surname: mrz::encode_name_component(surname),
        given_names: mrz::encode_name_component(given),
        nationality: nationality.into(),
        date_of_birth: mrz::MrzDate::Calendar(dob),
        sex,
        date_of_expiry: mrz::MrzDate::Calendar(expiry),
        personal_number: None,
    })
}

/// An expiry date 1 to 8 years after `year`.
fn expiry(rng: &mut ChaCha8Rng, year: i32) -> mrz::Date {
    mrz::Date::new(
        year + rng.gen_range(1..9),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
    )
}

fn random_number(rng: &mut ChaCha8Rng) -> String {
    let a = rng.gen_range(b'A'..=b'Z') as char;
    let b = rng.gen_range(b'A'..=b'Z') as char;
    format!("{a}{b}{:07}", rng.gen_range(0..10_000_000))
}

/// Who a synthetic passenger is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A listed person.
    Listed,
    /// An unlisted person with a common name (a possible namesake).
    Common,
    /// An unlisted person with a rare name.
    Rare,
}

/// A pool of MRZs: `listed_share` % built from listed entries, `common_name_share` % of the rest
/// with common names, the others with rare names.
fn passengers(args: &Args, listed: &[Entry]) -> Vec<(String, Kind)> {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x10ad_9e17);
    let year = chrono::Utc::now().year();
    (0..POOL)
        .map(|_| {
            let from_list = !listed.is_empty() && rng.gen_bool(args.listed_share / 100.0);
            if from_list {
                let e = &listed[rng.gen_range(0..listed.len())];
                let mut tokens: Vec<&str> = e.full_name.split_whitespace().collect();
                let surname = tokens.pop().unwrap_or("X");
                let given = tokens.join(" ");
                let dob = e.dob.map_or(mrz::Date::new(1980, 1, 1), |d| {
                    mrz::Date::new(
                        d.year.into(),
                        d.month.unwrap_or(1).into(),
                        d.day.unwrap_or(1).into(),
                    )
                });
                let sex = match e.sex {
                    checkpost_document::Sex::Male => mrz::Sex::Male,
                    checkpost_document::Sex::Female => mrz::Sex::Female,
                    checkpost_document::Sex::Unspecified => mrz::Sex::Unspecified,
                };
                let nat = e.nationality.clone().unwrap_or_else(|| "PAK".into());
                let number = e
                    .document_numbers
                    .first()
                    .cloned()
                    .unwrap_or_else(|| random_number(&mut rng));
                let exp = expiry(&mut rng, year);
                (
                    mrz_for(surname, &given, dob, sex, &nat, &number, exp),
                    Kind::Listed,
                )
            } else {
                let female = rng.gen_bool(0.5);
                let (given, surname, kind) = if rng.gen_bool(args.common_name_share / 100.0) {
                    (
                        GIVEN[rng.gen_range(0..GIVEN.len())].to_owned(),
                        FAMILY[rng.gen_range(0..FAMILY.len())].to_owned(),
                        Kind::Common,
                    )
                } else {
                    (rare_name(&mut rng, 2), rare_name(&mut rng, 3), Kind::Rare)
                };
                let dob = mrz::Date::new(
                    rng.gen_range(1950..2005),
                    rng.gen_range(1..=12),
                    rng.gen_range(1..=28),
                );
                let sex = if female {
                    mrz::Sex::Female
                } else {
                    mrz::Sex::Male
                };
                let number = random_number(&mut rng);
                let exp = expiry(&mut rng, year);
                (
                    mrz_for(&surname, &given, dob, sex, "PAK", &number, exp),
                    kind,
                )
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    in_flight: AtomicU64,
    by_decision: [AtomicU64; 5],
    /// Calls sent per [`Kind`] (listed, common name, rare name).
    by_kind: [AtomicU64; 3],
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_loopback(&args.client.server)?;
    if args.duration > MAX_DURATION || args.rate == 0 || args.rate > MAX_RATE {
        bail!("--rate must be 1..={MAX_RATE} and --duration at most {MAX_DURATION:?}");
    }
    let direction = match args.direction.to_ascii_lowercase().as_str() {
        "departure" => pb::Direction::Departure,
        "arrival" => pb::Direction::Arrival,
        other => bail!("--direction must be departure or arrival, not {other}"),
    };
    let listed = listed_entries(&args)?;
    let pool = Arc::new(passengers(&args, &listed));
    let total = (args.rate as f64 * args.duration.as_secs_f64()).round() as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let channels = rt.block_on(async {
        let bearer = args.client.bearer()?;
        let endpoint = args
            .client
            .endpoint()?
            .tcp_nodelay(true)
            .timeout(args.timeout);
        let mut channels = Vec::new();
        for _ in 0..args.connections.max(1) {
            let channel = endpoint
                .connect()
                .await
                .with_context(|| format!("connecting to {}", args.client.server))?;
            channels.push(tonic::service::interceptor::InterceptedService::new(
                channel,
                bearer.clone(),
            ));
        }
        anyhow::Ok(channels)
    })?;
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let tally = Arc::new(Tally::default());
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let handle = rt.handle().clone();
    eprintln!(
        "loadgen: {total} calls at {} req/s for {:?} against {} ({} listed persons in the pool)",
        args.rate,
        args.duration,
        args.client.server,
        listed.len()
    );
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if tally.in_flight.load(Ordering::Relaxed) >= args.max_in_flight {
            tally.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        tally.in_flight.fetch_add(1, Ordering::Relaxed);
        let channel = channels[i as usize % channels.len()].clone();
        let (mrz, kind) = pool[i as usize % pool.len()].clone();
        tally.by_kind[kind as usize].fetch_add(1, Ordering::Relaxed);
        let (hist, tally) = (Arc::clone(&hist), Arc::clone(&tally));
        let req = pb::ScreenRequest {
            client_request_id: format!("{run_id}-{i}"),
            post_id: "LOADGEN".into(),
            counter_id: args
                .counter
                .clone()
                .unwrap_or_else(|| format!("L-{:02}", i % 16)),
            officer_id: "0000".into(),
            direction: direction.into(),
            mrz,
            ..Default::default()
        };
        tasks.push(handle.spawn(async move {
            let mut client = pb::screening_client::ScreeningClient::new(channel);
            let result = client.screen(req).await;
            let latency = due.elapsed();
            tally.in_flight.fetch_sub(1, Ordering::Relaxed);
            match result {
                Ok(r) => {
                    tally.ok.fetch_add(1, Ordering::Relaxed);
                    let d = r.get_ref().decision.clamp(0, 4) as usize;
                    tally.by_decision[d].fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            let us = u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            hist.lock()
                .unwrap_or_else(|p| p.into_inner())
                .saturating_record(us);
        }));
    }
    let sent_for = start.elapsed();
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let elapsed = start.elapsed();
    let h = hist.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ok = tally.ok.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed) + tally.dropped.load(Ordering::Relaxed);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let names = ["UNSPECIFIED", "CLEAR", "SECOND_CHECK", "OFFLOAD", "DETAIN"];
    let decisions: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(&tally.by_decision)
        .map(|(n, c)| (n.to_string(), c.load(Ordering::Relaxed).into()))
        .collect();
    let sent: [u64; 3] = std::array::from_fn(|k| tally.by_kind[k].load(Ordering::Relaxed));
    let clear = tally.by_decision[1].load(Ordering::Relaxed);
    let flagged_percent = if ok == 0 {
        0.0
    } else {
        100.0 * ok.saturating_sub(clear) as f64 / ok as f64
    };
    let passengers = serde_json::json!({
        "listed": sent[Kind::Listed as usize],
        "common_name": sent[Kind::Common as usize],
        "rare_name": sent[Kind::Rare as usize],
    });
    let summary = serde_json::json!({
        "target_rate": args.rate,
        "calls": total,
        "ok": ok,
        "errors": errors,
        "dropped": tally.dropped.load(Ordering::Relaxed),
        "send_seconds": sent_for.as_secs_f64(),
        "throughput": ok as f64 / elapsed.as_secs_f64(),
        "latency_ms": {
            "p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99), "p99.9": ms(0.999),
            "max": h.max() as f64 / 1000.0, "mean": h.mean() / 1000.0,
        },
        "decisions": decisions,
        "flagged_percent": flagged_percent,
        "passengers": passengers,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "calls {total} (ok {ok}, errors {errors}) in {:.2}s: throughput {:.0} req/s (target {})",
            elapsed.as_secs_f64(),
            ok as f64 / elapsed.as_secs_f64(),
            args.rate
        );
        println!(
            "latency from intended send time: p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            ms(0.50),
            ms(0.90),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1000.0
        );
        println!(
            "decisions: {} ({flagged_percent:.1} % flagged); passengers sent: {passengers}",
            serde_json::Value::Object(decisions)
        );
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers_are_accepted() {
        assert!(check_loopback("http://127.0.0.1:50051").is_ok());
        assert!(check_loopback("http://127.3.4.5:1").is_ok());
        assert!(check_loopback("http://localhost:50051").is_ok());
        assert!(check_loopback("http://[::1]:50051").is_ok());
        assert!(check_loopback("http://10.0.0.1:50051").is_err());
        assert!(check_loopback("http://example.com:50051").is_err());
    }
}
