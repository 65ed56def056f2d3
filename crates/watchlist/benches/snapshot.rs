//! Snapshot build and load at 1M synthetic entries (targets: build < 15 s, load = verify +
//! decode + index < 3 s), CSV import of the same list, and resident memory per loaded entry
//! (target < 500 bytes), printed before the timings since criterion measures time only. The
//! memory figure comes from a fresh child process (see `memory_child`).
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
use criterion::{Criterion, criterion_group};

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

/// Peak resident set size of this process so far, in bytes (Linux; 0 elsewhere).
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// Set in the child process that measures one load's memory: the snapshot file to load.
const CHILD_ENV: &str = "SNAPSHOT_BENCH_MEMORY_CHILD";

/// The memory figure, measured in a fresh process: load the file, drop the file's bytes, and
/// report how much the process grew. In the bench process itself the allocator would hand the
/// load memory freed by the setup (generated entries, CSV), which hides part of the snapshot's
/// footprint (the figure this bench printed before session 3 was such an underestimate).
fn memory_child(path: &str) {
    let key = key();
    let before = rss_bytes();
    let bytes = std::fs::read(path).expect("snapshot file");
    let file_len = bytes.len();
    let t = Instant::now();
    let snap = Snapshot::load(&bytes, &[key.verifying_key()]).expect("load");
    let load_time = t.elapsed();
    drop(bytes);
    let after = rss_bytes();
    let n = snap.index.len().max(1) as f64;
    println!(
        "{} {} {} {} {}",
        after.saturating_sub(before),
        peak_rss_bytes().saturating_sub(before + file_len as u64),
        snap.index.heap_bytes(),
        load_time.as_nanos(),
        n
    );
    std::hint::black_box(&snap);
}

/// Runs [`memory_child`] in a fresh copy of this bench and prints its figures.
fn memory_report(bytes: &[u8], n: usize) {
    let dir = std::env::temp_dir().join(format!("checkpost-snapshot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bench.snap");
    std::fs::write(&path, bytes).expect("write snapshot");
    let out = std::process::Command::new(std::env::current_exe().expect("bench exe"))
        .env(CHILD_ENV, &path)
        .output()
        .expect("memory child");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [resident, peak, index_heap, nanos, _] = f[..] else {
        panic!(
            "memory child failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let n = n as f64;
    eprintln!(
        "snapshot bench memory (fresh process, file bytes dropped): resident {:.1} B/entry \
         (index heap {:.1} B/entry counted), transient peak during load above file + result \
         {:.1} B/entry; that load took {:.2?}",
        resident / n,
        index_heap / n,
        (peak - resident).max(0.0) / n,
        Duration::from_nanos(nanos as u64),
    );
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
    eprintln!(
        "snapshot bench: {n} entries, file {:.1} MB, CSV {:.1} MB",
        bytes.len() as f64 / 1e6,
        csv.len() as f64 / 1e6,
    );
    memory_report(&bytes, n);

    // One measured load, and for scale its parts done apart: decoding every entry, and building
    // the index over decoded entries (a load does both in one pass, on every core).
    let t = Instant::now();
    let snap = Snapshot::load(&bytes, &trusted).expect("load");
    let load_time = t.elapsed();
    let t = Instant::now();
    let decoded = snap.entries().to_vec();
    let decode_time = t.elapsed();
    let t = Instant::now();
    let index = checkpost_watchlist::index::Index::build(&decoded);
    let index_time = t.elapsed();
    drop(index);
    drop(decoded);
    eprintln!(
        "snapshot bench: one load {load_time:.2?}; apart: decode every entry {decode_time:.2?}, \
         Index::build over decoded entries {index_time:.2?}"
    );
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

fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        memory_child(&path);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
