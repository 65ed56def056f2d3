//! Parse + validate + identity for one zone of each format: what the counter pays per document.
#![allow(missing_docs)]

use checkpost_document::{ParseOptions, parse};
use criterion::{Criterion, black_box, criterion_group, criterion_main};

const ZONES: [(&str, &str); 5] = [
    (
        "td3",
        "P<PAKKHAN<<MUHAMMAD<ASIF<<<<<<<<<<<<<<<<<<<<\nAB12345671PAK8503149M30091293520212345671<94",
    ),
    (
        "td2",
        "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6",
    ),
    (
        "td1",
        "I<PAKRX001234513520298765431<<\n8701015M3301018PAK<<<<<<<<<<<9\nQURESHI<<IMRAN<<<<<<<<<<<<<<<<",
    ),
    (
        "mrv_a",
        "V<PAKLI<<WEI<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\nE123456782CHN8802196M2701013BUSINESS3M<<<<<<",
    ),
    (
        "mrv_b",
        "V<ARERAZA<<ALI<HASSAN<<<<<<<<<<<<<<<\nKP11223345PAK9905016M2612317W1234567",
    ),
];

fn parse_validate_identity(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_validate_identity");
    for (name, zone) in ZONES {
        group.bench_function(name, |b| {
            b.iter(|| {
                let doc = parse(black_box(zone), ParseOptions::default()).ok()?;
                Some((doc.is_valid(), doc.identity()))
            })
        });
    }
    group.finish();
    // Baseline: the `mrz` crate's own TD3 parse, the floor under our figure.
    let (l1, l2) = ZONES[0].1.split_once('\n').unwrap_or_default();
    let opts = mrz::ParseOptions::default();
    c.bench_function("mrz_crate_parse_td3", |b| {
        b.iter(|| mrz::parse_td3_with(black_box(l1), black_box(l2), &opts))
    });
}

criterion_group!(benches, parse_validate_identity);
criterion_main!(benches);
