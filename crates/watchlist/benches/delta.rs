//! Intraday deltas: verifying and loading a 1,000-entry delta, applying a delta over ten in force
//! (the overlay index is rebuilt on every apply), the matcher's cost with a 1,000-entry overlay
//! over a 200k-entry snapshot against the snapshot alone, and rebasing onto a 200k-entry
//! snapshot (one pass over its entries).
//!
//! `cargo bench -p checkpost-watchlist --bench delta`; `DELTA_BENCH_BASE=N` changes the
//! snapshot size.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]
#![allow(clippy::expect_used, clippy::unwrap_used)] // a bench with bad setup should stop loudly

use std::hint::black_box;
use std::path::Path;

use checkpost_watchlist::delta::{self, Delta, DeltaSet};
use checkpost_watchlist::matcher::Query;
use checkpost_watchlist::snapshot::{Snapshot, SnapshotHeader, read_signing_key};
use checkpost_watchlist::{Direction, Entry, EntryId, synth};
use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

const SEED: u64 = 20261123;

fn base_n() -> usize {
    std::env::var("DELTA_BENCH_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn key() -> checkpost_watchlist::snapshot::SigningKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/keys/hq-test.key");
    read_signing_key(&std::fs::read_to_string(path).expect("test key")).expect("test key parses")
}

/// `n` synthetic entries under ids no snapshot uses.
fn delta_entries(n: usize, seed: u64, tag: &str) -> Vec<Entry> {
    synth::generate(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.entry_id = EntryId(format!("DELTA-{tag}-{i}"));
            e
        })
        .collect()
}

fn query(e: &Entry) -> Query {
    let (given, surname) = e.full_name.rsplit_once(' ').unwrap_or(("", &e.full_name));
    Query {
        surname: surname.to_string(),
        given_names: given.to_string(),
        dob: e.dob,
        sex: e.sex,
        nationality: e.nationality.clone(),
        issuing_state: e.nationality.clone(),
        document_number: e.document_numbers.first().cloned(),
        national_id: e.national_id.clone(),
        father_name: None,
    }
}

fn bench(c: &mut Criterion) {
    let key = key();
    let trusted = [key.verifying_key()];
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();

    let base_entries = synth::generate(base_n(), SEED);
    let header = SnapshotHeader::for_entries(&base_entries, "bench", at).expect("header");
    let base = Snapshot::from_entries(header, base_entries);

    // Ten deltas of 100 adds and 10 removals of snapshot ids each.
    let deltas: Vec<Delta> = (0..10)
        .map(|d| {
            let adds = delta_entries(100, SEED + 1 + d as u64, &d.to_string());
            let removes: Vec<EntryId> = (d * 10..d * 10 + 10)
                .filter_map(|i| base.entry(i))
                .map(|e| e.entry_id)
                .collect();
            let bytes =
                delta::build(&adds, &removes, &format!("d{d}"), at, None, &key).expect("build");
            Delta::load(&bytes, &trusted).expect("load")
        })
        .collect();
    let set = DeltaSet::new(deltas.clone());
    let one_k = delta_entries(1000, SEED + 99, "k");
    let one_k_file = delta::build(&one_k, &[], "k", at, None, &key).expect("build");
    let eleventh = Delta::load(
        &delta::build(
            &delta_entries(100, SEED + 50, "x"),
            &[],
            "x",
            at,
            None,
            &key,
        )
        .expect("build"),
        &trusted,
    )
    .expect("load");

    // Queries: half for snapshot entries, half for overlay entries.
    let queries: Vec<Query> = base
        .entries()
        .iter()
        .step_by(base.len() / 500)
        .chain(set.entries().iter())
        .map(|e| query(&e))
        .collect();

    let mut g = c.benchmark_group("delta");
    g.bench_function("load_1k_entry_delta", |b| {
        b.iter(|| Delta::load(black_box(&one_k_file), &trusted))
    });
    g.bench_function("apply_over_10_deltas_1k_entries", |b| {
        b.iter(|| set.with(black_box(eleventh.clone())))
    });
    let mut i = 0usize;
    g.bench_function("find_snapshot_alone", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            base.find(&queries[i], Some(Direction::Departure), today)
        })
    });
    let mut i = 0usize;
    g.bench_function("find_over_1k_overlay", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            set.find_over(Some(&base), &queries[i], Some(Direction::Departure), today)
        })
    });
    g.sample_size(20);
    g.bench_function("rebase_onto_snapshot", |b| b.iter(|| set.rebase(&base)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
