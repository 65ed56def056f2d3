//! Decode + verify of one scanned visa page: image decoding, QR search, ES256 verification and
//! the MRZ cross-check — everything `scan` does. Targets: 1250x880 p50 < 12 ms, 2480x1750
//! p50 < 40 ms. Criterion reports the mean; the percentile loop after it prints p50/p99 over a
//! set of distinct pages (JPEG q85, as counter scanners send them).
//!
//! `cargo bench -p checkpost-docscan --bench scan`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use checkpost_docscan::generate::{PageSize, VisaSpec, encode_jpeg, render_page, test_issuer};
use checkpost_docscan::{Checks, Limits, TrustList, scan};
use checkpost_document::Identity;
use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn pages(size: PageSize, n: u64) -> Vec<(Vec<u8>, Identity)> {
    (0..n)
        .map(|seed| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let spec = VisaSpec::sample(&mut rng);
            let page = render_page(&spec.seal(&test_issuer()), size, &mut rng);
            (encode_jpeg(&page, 85), spec.identity())
        })
        .collect()
}

fn trust() -> TrustList {
    let mut t = TrustList::empty();
    t.insert(test_issuer().trusted(
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2027, 12, 31).unwrap_or_default(),
    ));
    t
}

fn bench(c: &mut Criterion) {
    let trust = trust();
    let limits = Limits::default();
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
    let mut group = c.benchmark_group("scan");
    group.sample_size(30);
    for (name, size) in [
        ("1250x880", PageSize::Small),
        ("2480x1750", PageSize::Large),
    ] {
        let set = pages(size, 20);
        let run = |(bytes, mrz): &(Vec<u8>, Identity)| {
            let checks = Checks {
                trust: &trust,
                register: None,
                mrz: Some(mrz),
                today,
            };
            let r = scan(black_box(bytes), &limits, &checks);
            assert!(r.is_valid(), "{:?}", r.all_reasons().collect::<Vec<_>>());
            r
        };
        let mut i = 0;
        group.bench_function(format!("decode_verify_{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % set.len();
                run(&set[i])
            })
        });
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..5 {
            for p in &set {
                let t = Instant::now();
                black_box(run(p));
                times.push(t.elapsed());
            }
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "scan/decode_verify_{name}: p50 {:.2} ms, p99 {:.2} ms over {} runs",
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            times.len()
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
