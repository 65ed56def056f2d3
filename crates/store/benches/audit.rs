//! Audit appends per second with group commit, and audit records per fsync.
//!
//! Each iteration runs `CLIENTS` threads that each store screenings one after the other,
//! waiting for every ticket (as a server handler does before it answers). With one client
//! there is one record per commit; with many, the writer batches whatever queued while it
//! waited for the disk. After each group the bench prints the writer's batch count, so
//! "records per fsync" is measured, not assumed. The database lives under the target directory
//! (a real disk), with `synchronous=FULL`.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use checkpost_store::{
    AuditKind, AuditRecord, DocumentIdentity, Durability, ScreeningRecord, SqliteStore, Store,
};
use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const PER_CLIENT: u64 = 50;

fn record(n: u64) -> ScreeningRecord {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
        .single()
        .unwrap_or_default();
    let mut r = AuditRecord::new(
        AuditKind::Screening,
        at + chrono::Duration::milliseconds(n as i64),
    );
    r.screening_id = format!("s-{n}");
    r.client_request_id = format!("req-{n}");
    r.post_id = "ISB-AIRPORT".to_owned();
    r.counter_id = "D-07".to_owned();
    r.officer_id = "officer-1".to_owned();
    r.direction = "DEPARTURE".to_owned();
    r.document = DocumentIdentity {
        issuing_state: "PAK".to_owned(),
        number: format!("AB{n:07}"),
        surname: "KHAN".to_owned(),
        given_names: "MUHAMMAD AHMED".to_owned(),
    };
    r.document_key = blake3::hash(&n.to_le_bytes()).to_hex().to_string();
    r.decision = "CLEAR".to_owned();
    r.reasons_json = "[]".to_owned();
    r.snapshot_version = "2026-11-23.1".to_owned();
    r.sex = "M".to_owned();
    r.age_band = "30-44".to_owned();
    r.nationality = "PAK".to_owned();
    r.destination = "ARE".to_owned();
    ScreeningRecord {
        audit: r,
        response: format!(r#"{{"screening_id":"s-{n}","decision":"CLEAR"}}"#).into_bytes(),
        open_case: None,
        evidence: Vec::new(),
        suppressions: Vec::new(),
    }
}

fn appends(c: &mut Criterion) {
    // `full` is what the server runs with; `normal` shows what giving up power-loss
    // durability (Durability::ProcessCrash) would buy.
    run(c, "audit_append_full", Durability::PowerLoss);
    run(c, "audit_append_normal", Durability::ProcessCrash);
}

fn run(c: &mut Criterion, name: &str, durability: Durability) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(
        SqliteStore::open_with(dir.path().join("bench.db"), durability)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let next = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for clients in [1u64, 8, 64] {
        group.throughput(Throughput::Elements(clients * PER_CLIENT));
        let before = store.writer_stats();
        group.bench_with_input(
            BenchmarkId::new("clients", clients),
            &clients,
            |b, &clients| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let handles: Vec<_> = (0..clients)
                            .map(|_| {
                                let (store, next) = (store.clone(), next.clone());
                                std::thread::spawn(move || {
                                    for _ in 0..PER_CLIENT {
                                        let n = next.fetch_add(1, Ordering::Relaxed);
                                        if let Err(e) = store.record_screening(record(n)).wait() {
                                            panic!("append failed: {e}");
                                        }
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            let _ = h.join();
                        }
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
        let after = store.writer_stats();
        let (records, batches) = (
            after.records - before.records,
            after.batches - before.batches,
        );
        eprintln!(
            "{name}/clients/{clients}: {records} records in {batches} commits = {:.1} records per commit (one WAL fsync per commit with full)",
            records as f64 / batches.max(1) as f64
        );
    }
    group.finish();
}

criterion_group!(benches, appends);
criterion_main!(benches);
