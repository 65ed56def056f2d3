//! What the scan stage adds around docscan inside Screen: one clean visa page (200 dpi PNG with a
//! genuine e-visa seal) scanned directly with `checkpost_docscan::scan`, and through
//! `ScanStage::run` (semaphore permit, copy into `spawn_blocking`, timeout, result collection)
//! on a current-thread runtime. The difference is the stage's overhead.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use checkpost_docscan::generate::{PageSize, Perturbation, VisaSpec, scan_image, test_issuer};
use checkpost_docscan::{Checks, Limits, TrustList};
use checkpost_server::Config;
use checkpost_server::deadline::Deadline;
use checkpost_server::scanstage::{ScanOutcome, ScanStage};
use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;

fn bench(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let spec = VisaSpec::sample(&mut rand::rngs::StdRng::seed_from_u64(7));
    let image = scan_image(
        &spec.seal(&test_issuer()),
        PageSize::Small,
        Perturbation::Clean,
        11,
    );
    let mut trust = TrustList::empty();
    trust.insert(test_issuer().trusted(
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
    ));
    let subject = spec.identity();

    let mut config = Config::default();
    config.scan.budget = Duration::from_secs(30);
    config.scan.max_concurrent = 1;
    let stage = ScanStage::load(&config).unwrap();
    stage.set_trust_list(trust.clone());

    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: Some(&subject),
        today,
    };
    let direct = checkpost_docscan::scan(&image, &Limits::default(), &checks);
    assert!(direct.is_valid(), "{:?}", direct.reasons);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("scan_stage");
    g.sample_size(30);
    g.bench_function("docscan_scan_direct_1250x880_png", |b| {
        b.iter(|| {
            black_box(checkpost_docscan::scan(
                black_box(&image),
                &Limits::default(),
                &checks,
            ))
        })
    });
    g.bench_function("scanstage_run_1250x880_png", |b| {
        b.iter(|| {
            let out = rt.block_on(stage.run(
                &[image.as_slice()],
                &subject,
                today,
                &Deadline::new(tokio::time::Instant::now(), None),
            ));
            assert!(matches!(&out[0], ScanOutcome::Done(r) if r.is_valid()));
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
