//! A debug harness for the matcher's tail latency (not a specification): builds the benches'
//! 1M-entry synthetic list, times the benches' query mixes, and prints, for the slowest queries,
//! their shape and where the work went (query tokens and expansions, candidates generated on the
//! dated and weak paths, candidates pre-scored and judged, matches).
//!
//! `cargo test --release -p checkpost-watchlist --lib tail_probe -- --ignored --nocapture`
//! (`TAIL_ENTRIES`, `TAIL_SLOWEST` and `TAIL_DUMP` — a file to write the slowest queries to, one
//! JSON object a line, for callgrind runs of `checkpost match` — change what it does).
//!
//! Instruction counts (repeatable on a shared machine): with `TAIL_CALLGRIND=1` the probe
//! runs the slow set once and each mix once, nothing else, for
//! `valgrind --tool=callgrind --toggle-collect='*tail_probe::measured'
//! --dump-after='*tail_probe::measured'` on the release test binary: one dump per set, in the
//! order slow set, passport mix, no DOB, unlisted (the toggle pattern must not match a closure
//! inside: entering one would toggle collection off).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use checkpost_document::{PartialDate, Sex};
use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::Entries;
use crate::matcher::Query;
use crate::synth;

const SEED: u64 = 20_261_123;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

/// The engine bench's unlisted passengers (`crates/engine/benches/screen.rs`): a given name of
/// one listed person, the surname of another, a random full date of birth.
fn unlisted_mix(entries: &[Entry], n: usize) -> Vec<Query> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0xBEEF);
    let people: Vec<&Entry> = entries
        .iter()
        .filter(|e| !e.full_name.is_empty())
        .take(200_000)
        .collect();
    let split = |full: &str| match full.rsplit_once(' ') {
        Some((given, surname)) => (surname.to_string(), given.to_string()),
        None => (full.to_string(), String::new()),
    };
    (0..n)
        .map(|_| {
            let e = people[rng.gen_range(0..people.len())];
            let other = people[rng.gen_range(0..people.len())];
            let (_, given) = split(&e.full_name);
            let (surname, _) = split(&other.full_name);
            Query {
                surname,
                given_names: given,
                dob: Some(PartialDate {
                    year: rng.gen_range(1950..2005),
                    month: Some(rng.gen_range(1..=12)),
                    day: Some(rng.gen_range(1..=28)),
                }),
                sex: Sex::Male,
                nationality: Some("PAK".into()),
                issuing_state: Some("PAK".into()),
                ..Query::default()
            }
        })
        .collect()
}

/// Where one query's work went.
fn anatomy(index: &Index, entries: &Entries, q: &Query) -> String {
    let t = Thresholds::STANDARD;
    let qt = index.query_tokens(q, &t);
    let toks: Vec<String> = qt
        .iter()
        .map(|t| {
            format!(
                "{}{}",
                t.expansions.len(),
                if t.optional { "?" } else { "" }
            )
        })
        .collect();
    let (dated, weak) = match q.dob {
        Some(d) => {
            let c = index.dated_candidates(&qt, d, &t, false);
            let mut w = Vec::new();
            index.weak_candidates(&qt, false, &mut w);
            (c.len(), w.len())
        }
        None => {
            let mut w = Vec::new();
            index.weak_candidates(&qt, true, &mut w);
            (0, w.len())
        }
    };
    let m = index.find(entries, q, Some(Direction::Departure), today());
    // Best-of-5 time of each stage (the caches as warm as in the timed loop).
    let time = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let t_tokens = time(&mut || {
        std::hint::black_box(index.query_tokens(q, &t));
    });
    let t_dated = time(&mut || {
        if let Some(d) = q.dob {
            std::hint::black_box(index.dated_candidates(&qt, d, &t, false));
        }
    });
    let t_weak = time(&mut || {
        let mut w = Vec::new();
        index.weak_candidates(&qt, q.dob.is_none(), &mut w);
        std::hint::black_box(w);
    });
    format!(
        "[tokens {t_tokens:.1?} dated {t_dated:.1?} weak {t_weak:.1?}] tokens {} expansions [{}] dated {dated} weak {weak} matches {} (strong {})",
        qt.len(),
        toks.join(" "),
        m.len(),
        m.iter().filter(|m| m.strong).count()
    )
}

fn report(label: &str, index: &Index, entries: &Entries, queries: &[Query], slowest: usize) {
    // A digest of every result (entries, kinds, scores, tokens, levels): two versions of the
    // matcher that print the same digest found the same matches.
    let digest = queries
        .iter()
        .map(|q| {
            format!(
                "{:?}",
                index.find(entries, q, Some(Direction::Departure), today())
            )
        })
        .fold(0u64, |h, s| hash_u64(h ^ hash(&s)));
    println!("{label}: results digest {digest:016x}");
    let mut best = vec![Duration::MAX; queries.len()];
    let mut matches = 0;
    for _ in 0..3 {
        for (k, q) in queries.iter().enumerate() {
            let t = Instant::now();
            let m = index.find(entries, q, Some(Direction::Departure), today());
            best[k] = best[k].min(t.elapsed());
            matches += m.len();
        }
    }
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(best[k]));
    let mut sorted = best.clone();
    sorted.sort();
    let p = |x: f64| sorted[((sorted.len() - 1) as f64 * x).round() as usize];
    println!(
        "{label}: {} queries, {:.2} matches/query, best-of-3 p50 {:.1?} p90 {:.1?} p99 {:.1?} max {:.1?}",
        queries.len(),
        matches as f64 / (3 * queries.len()) as f64,
        p(0.5),
        p(0.9),
        p(0.99),
        p(1.0)
    );
    for &k in order.iter().take(slowest) {
        let q = &queries[k];
        println!(
            "  {:>8.1?}  {} / {} dob {:?}: {}",
            best[k],
            q.given_names,
            q.surname,
            q.dob.map(|d| d.to_string()),
            anatomy(index, entries, q)
        );
    }
    if let Ok(path) = std::env::var("TAIL_DUMP") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for &k in order.iter().take(slowest) {
            writeln!(f, "{}", serde_json_line(&queries[k])).unwrap();
        }
    }
}

/// The query as `checkpost match` reads it.
fn serde_json_line(q: &Query) -> String {
    format!(
        "{{\"surname\":\"{}\",\"given_names\":\"{}\",\"dob\":{},\"sex\":\"{}\",\"nationality\":{}}}",
        q.surname,
        q.given_names,
        q.dob.map_or("null".into(), |d| format!("\"{d}\"")),
        match q.sex {
            Sex::Male => "M",
            Sex::Female => "F",
            Sex::Unspecified => "X",
        },
        q.nationality
            .as_deref()
            .map_or("null".into(), |n| format!("\"{n}\""))
    )
}

/// The slowest query shapes of the three mixes (session 3 analysis), one of each.
fn slow_queries() -> Vec<Query> {
    let q = |given: &str, surname: &str, dob: Option<&str>| Query {
        surname: surname.into(),
        given_names: given.into(),
        dob: dob.and_then(|d| PartialDate::parse(d).ok()),
        sex: Sex::Male,
        nationality: Some("PAK".into()),
        issuing_state: Some("PAK".into()),
        ..Query::default()
    };
    vec![
        q("ABDUL RASHID KALEEM SHAH", "JEHAN", Some("2005-08-27")),
        q("MUHAMMAD ABDUL LATIF SHAH", "SYED", Some("1973-04-14")),
        q("MUHAMMAD GHULAM MUHAMMAD", "KHATRI", Some("1959-02-05")),
        q("MUHAMMAD", "KHAN", Some("1965-03-27")),
        q("MUHAMMAD ABDUL RAHMAN", "KHAN", Some("1950-06-11")),
        q("MUHAMMAD SARFRAZ", "MOHAMMADI", Some("1980-10-17")),
        q("MUHAMMAD HASSAN", "KHAN", None),
        q("MUHAMMAD AHMED", "HUSSAIN", None),
        q("ABDUL RASHID KALEEM SHAH", "JEHAN", None),
    ]
}

/// One pass over a query set, the function callgrind collects (see the module docs).
#[inline(never)]
fn measured(index: &Index, entries: &Entries, queries: &[Query]) -> usize {
    queries
        .iter()
        .map(|q| {
            index
                .find(entries, q, Some(Direction::Departure), today())
                .len()
        })
        .sum()
}

/// The bound dated candidates are pruned by is never below the similarity the scorer gives:
/// random query and listed token weights, random credits, random extra listed tokens.
#[test]
fn name_bound_is_never_below_the_name_similarity() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for _ in 0..100_000 {
        let n = rng.gen_range(1..8);
        let wq: Vec<f32> = (0..n).map(|_| rng.gen_range(1.0..15.0)).collect();
        let total_q: f32 = wq.iter().sum();
        let (mut got, mut carried, mut listed) = (0.0f32, 0.0f32, 0.0f32);
        for &w in &wq {
            if rng.gen_bool(0.6) {
                let wl: f32 = rng.gen_range(1.0..15.0);
                let credit = [1.0, 0.9, 0.85][rng.gen_range(0..3)];
                got += credit * w.min(wl);
                carried += w;
                listed += wl;
            }
        }
        listed += if rng.gen_bool(0.5) {
            0.0
        } else {
            rng.gen_range(0.0..20.0)
        };
        let real = crate::normalize::blend(got, total_q, listed);
        assert!(real <= name_bound(carried, total_q), "{real} > bound");
    }
}

#[test]
#[ignore = "debug harness: 1M entries, run in release with --nocapture"]
fn tail_probe() {
    let n = std::env::var("TAIL_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let slowest = std::env::var("TAIL_SLOWEST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let entries = synth::generate(n, SEED);
    let index = Index::build(&entries);
    let stored = Entries::encode(&entries);
    if std::env::var_os("TAIL_SLOW_SET").is_some() {
        // For callgrind (`--instr-atstart=no`, then `callgrind_control -i on` once "built" is
        // printed): the instructions of a fixed set of slow queries found by this probe.
        println!("built");
        std::thread::sleep(Duration::from_secs(5));
        let n = measured(&index, &stored, &slow_queries());
        println!("slow set done ({n} matches)");
        return;
    }
    let passport = synth::passport_queries(&entries, 2_000);
    let no_dob: Vec<Query> = passport
        .iter()
        .map(|q| Query {
            dob: None,
            ..q.clone()
        })
        .collect();
    let unlisted = unlisted_mix(&entries, 4_000);
    if let Ok(only) = std::env::var("TAIL_CALLGRIND") {
        // `TAIL_CALLGRIND=passport` (or `slow`, `no DOB`, `unlisted`): that set alone, whose
        // dump then annotates by line (callgrind_annotate attributes a later dump's costs to
        // the thread's root only).
        let slow = slow_queries();
        for (label, set) in [
            ("slow", &slow),
            ("passport", &passport),
            ("no DOB", &no_dob),
            ("unlisted", &unlisted),
        ] {
            if only.is_empty() || only == "1" || only == label {
                let n = measured(&index, &stored, set);
                println!("{label}: {n} matches");
            }
        }
        return;
    }
    let t = Instant::now();
    let mut x = 0u8;
    for e in entries.iter().step_by(97).take(10_000) {
        x ^= e.content_digest()[0];
    }
    println!(
        "content_digest: {:.2?} per entry ({x})",
        t.elapsed() / 10_000
    );
    // `TAIL_LOOP=N`: N passes over the mixes first, for a profiler attached after the build.
    let passes: usize = std::env::var("TAIL_LOOP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    println!("built; looping {passes} passes");
    let mut sink = 0;
    for _ in 0..passes {
        for q in passport.iter().chain(&no_dob).chain(&unlisted) {
            sink += index
                .find(&stored, q, Some(Direction::Departure), today())
                .len();
        }
    }
    println!("looped ({sink} matches)");
    report(
        "passport mix, full DOB",
        &index,
        &stored,
        &passport,
        slowest,
    );
    report("same names, no DOB", &index, &stored, &no_dob, slowest);
    report("unlisted (engine mix)", &index, &stored, &unlisted, slowest);
}
