//! The committed sample scans in `fixtures/scans/` give the results written beside them in
//! `expected.json`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use checkpost_docscan::{Checks, Limits, TrustList, VisaRegister, scan};
use checkpost_document::ParseOptions;
use chrono::NaiveDate;

#[test]
fn committed_sample_scans_give_their_expected_results() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let trust = TrustList::from_toml(&read("trust/trust.toml")).unwrap();
    let register = VisaRegister::from_csv(read("scans/register.csv").as_bytes()).unwrap();
    let mrz = checkpost_document::parse(&read("scans/evisa-valid.mrz"), ParseOptions::default())
        .unwrap()
        .identity();
    let checks = Checks {
        trust: &trust,
        register: Some(&register),
        mrz: Some(&mrz),
        today: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    };
    let expected: serde_json::Value = serde_json::from_str(&read("scans/expected.json")).unwrap();
    let mut seen = 0;
    for (file, want) in expected.as_object().unwrap() {
        if file.starts_with('_') {
            continue;
        }
        let bytes = std::fs::read(dir.join("scans").join(file)).unwrap();
        let report = scan(&bytes, &Limits::default(), &checks);
        assert_eq!(
            report.is_valid(),
            want["valid"].as_bool().unwrap(),
            "{file}: {report:?}"
        );
        let verdict = report.codes.first().map(|c| c.verdict.as_str());
        assert_eq!(verdict, want["verdict"].as_str(), "{file}");
        let reasons: Vec<&str> = report.all_reasons().map(|r| r.code.as_str()).collect();
        let want_reasons: Vec<&str> = want["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(reasons, want_reasons, "{file}");
        seen += 1;
    }
    assert_eq!(seen, 5);
}
