//! Snapshot build and load at 1M synthetic entries (targets: build < 15 s, load = verify +
//! decode + index < 3 s), CSV import of the same list, and resident memory per loaded entry
//! (target < 500 bytes), printed before the timings since criterion measures time only.
//!
//! `cargo bench -p checkpost-watchlist --bench snapshot`; `SNAPSHOT_BENCH_ENTRIES=N` changes
//! the size.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]
#![allow(clippy::expect_used)] // a bench with bad setup should stop loudly

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use checkpost_watchlist::csv::{ImportOptions, import};
use checkpost_watchlist::snapshot::{self, Snapshot, read_signing_key};
use checkpost_watchlist::synth;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

fn entries_n() -> usize {
    std::env::var("SNAPSHOT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn key() -> snapshot::SigningKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/keys/hq-test.key");
    read_signing_key(&std::fs::read_to_string(path).expect("test key")).expect("test key parses")
}

/// Resident set size of this process, in bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn bench(c: &mut Criterion) {
    let n = entries_n();
    let key = key();
    let created = Utc
        .with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
        .single()
        .expect("date");
    let entries = synth::generate(n, 1);
    let bytes = snapshot::build(&entries, "bench", created, &key).expect("build");
    let mut csv = Vec::new();
    synth::write_csv(&entries, &mut csv).expect("csv");
    let trusted = [key.verifying_key()];

    // One measured load for memory and a phase breakdown.
    drop(entries);
    let before = rss_bytes();
    let t = Instant::now();
    let snap = Snapshot::load(&bytes, &trusted).expect("load");
    let load_time = t.elapsed();
    let after = rss_bytes();
    let index_bytes = snap.index.heap_bytes();
    eprintln!(
        "snapshot bench: {n} entries, file {:.1} MB, CSV {:.1} MB; one load {:.2?}; \
         resident +{:.0} bytes/entry (index heap {:.0} bytes/entry)",
        bytes.len() as f64 / 1e6,
        csv.len() as f64 / 1e6,
        load_time,
        after.saturating_sub(before) as f64 / n as f64,
        index_bytes as f64 / n as f64,
    );
    let t = Instant::now();
    let index = checkpost_watchlist::index::Index::build(&snap.entries);
    let index_time = t.elapsed();
    drop(index);
    eprintln!(
        "snapshot bench: of that load, index build {index_time:.2?}, verify + decode {:.2?}",
        load_time.saturating_sub(index_time)
    );
    let entries = snap.entries.clone();
    drop(snap);

    let mut g = c.benchmark_group("snapshot_1m");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));
    g.bench_function("build (encode + digest + sign)", |b| {
        b.iter(|| snapshot::build(black_box(&entries), "bench", created, &key).expect("build"))
    });
    g.bench_function("load (verify + decode + index)", |b| {
        b.iter(|| Snapshot::load(black_box(&bytes), &trusted).expect("load"))
    });
    g.bench_function("csv import (parse + validate)", |b| {
        b.iter(|| import(&[("bench.csv", black_box(&csv))], ImportOptions::default()).expect("csv"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
