//! Every zone in `fixtures/mrz/*.mrz` parses to the fields, problems and repairs in the
//! `*.expected.json` beside it, or fails with the structural error named there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use checkpost_document::{MrzFormat, ParseOptions, parse};
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mrz")
}

fn fixtures() -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("mrz") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected_path = path.with_extension("expected.json");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("{name}: missing {}", expected_path.display())),
        )
        .unwrap_or_else(|e| panic!("{name}: bad expected JSON: {e}"));
        out.push((name, text, expected));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 10, "fixtures/mrz holds too few zones");
    out
}

/// Parses `text` as the fixture says and returns the JSON our CLI would show.
fn actual(text: &str, expected: &Value) -> Value {
    let repair = expected["options"]["repair"].as_bool().unwrap_or(false);
    match parse(text, ParseOptions { repair }) {
        Ok(doc) => {
            let mut v = serde_json::to_value(&doc).unwrap();
            v["valid"] = json!(doc.is_valid());
            v
        }
        Err(e) => json!({
            "valid": false,
            "error": { "code": e.code(), "line": e.line(), "column": e.column(), "message": e.to_string() },
        }),
    }
}

/// Compares the keys `expected` names; problems and repairs are compared on the keys each
/// expected item names, as whole lists (same length, same order).
fn check(name: &str, expected: &Value, actual: &Value) {
    assert_eq!(
        actual["valid"], expected["valid"],
        "{name}: valid\n{actual:#}"
    );
    if let Some(error) = expected.get("error") {
        for (k, v) in error.as_object().unwrap() {
            assert_eq!(&actual["error"][k], v, "{name}: error.{k}\n{actual:#}");
        }
        return;
    }
    for (k, v) in expected["document"].as_object().unwrap() {
        assert_eq!(&actual[k], v, "{name}: {k}\n{actual:#}");
    }
    for list in ["problems", "repairs", "checks"] {
        let Some(want) = expected.get(list) else {
            continue;
        };
        let want = want.as_array().unwrap();
        let got = actual[list].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{name}: {list}\n{actual:#}");
        for (w, g) in want.iter().zip(got) {
            for (k, v) in w.as_object().unwrap() {
                assert_eq!(&g[k], v, "{name}: {list}.{k}\n{actual:#}");
            }
        }
    }
}

fn run_format(prefix: &str) {
    let mut seen = 0;
    for (name, text, expected) in fixtures() {
        if name.starts_with(prefix) {
            check(&name, &expected, &actual(&text, &expected));
            seen += 1;
        }
    }
    assert!(seen > 0, "no fixtures named {prefix}*");
}

#[test]
fn every_fixture_matches_its_expected_json() {
    for (name, text, expected) in fixtures() {
        check(&name, &expected, &actual(&text, &expected));
    }
}

#[test]
fn icao_td1_specimen_parses_with_every_check_verified() {
    run_format("icao-td1");
}

#[test]
fn icao_td2_specimen_parses_with_every_check_verified() {
    run_format("icao-td2");
}

#[test]
fn icao_td3_specimen_parses_with_every_check_verified() {
    run_format("icao-td3");
}

#[test]
fn icao_mrv_a_specimen_parses_with_every_check_verified() {
    run_format("icao-mrv-a");
}

#[test]
fn icao_mrv_b_specimen_parses_with_every_check_verified() {
    run_format("icao-mrv-b");
}

#[test]
fn pakistani_passports_read_the_cnic_from_the_personal_number() {
    run_format("pak-passport");
}

#[test]
fn visas_parse_without_a_national_id() {
    run_format("pak-visa");
    run_format("pak-national-uae-visa");
}

#[test]
fn invalid_fixtures_are_refused_or_flagged() {
    run_format("invalid-");
}

#[test]
fn fixtures_cover_all_five_formats() {
    let mut formats = Vec::new();
    for (_, text, _) in fixtures() {
        if let Ok(doc) = parse(&text, ParseOptions::default()) {
            formats.push(doc.format);
        }
    }
    for f in [
        MrzFormat::Td1,
        MrzFormat::Td2,
        MrzFormat::Td3,
        MrzFormat::MrvA,
        MrzFormat::MrvB,
    ] {
        assert!(formats.contains(&f), "no fixture in {f}");
    }
}

/// Prints each fixture's actual JSON (`cargo test -p checkpost-document --test fixtures -- --ignored --nocapture dump`), to review when adding a fixture.
#[test]
#[ignore]
fn dump() {
    for (name, text, expected) in fixtures() {
        println!("== {name}\n{:#}", actual(&text, &expected));
    }
}
