//! The SOP rules files: the sample in `fixtures/rules/sop.toml` loads, and every file in
//! `fixtures/rules/bad/` is refused with exactly the error written beside it
//! (`<name>.expected`), which names the file, line, column, rule and key.

// Tests and benches may panic on their own fixtures (COMMON.md: unwrap is for input-dependent
// library paths only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use checkpost_engine::{Decision, EngineError, ReasonCode, RuleRef, Rules};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/rules")
}

#[test]
fn sample_sop_rules_load_with_their_outcomes() {
    let text = std::fs::read_to_string(fixtures().join("sop.toml")).unwrap();
    let rules = Rules::from_toml(&text, "sop.toml").unwrap();
    assert_eq!(rules.version(), Some("sample-2026-11"));
    assert_eq!(rules.source(), "sop.toml");
    assert_eq!(rules.len(), 7);
    let minor = rules.get("MINOR-WITHOUT-GUARDIAN").unwrap();
    assert!(minor.protection_referral());
    assert_eq!(minor.decision(), Decision::SecondCheck);
    assert_eq!(minor.code(), ReasonCode::Rule);
    let arriving = rules.get("MINOR-ARRIVING-ALONE").unwrap();
    assert_eq!(arriving.decision(), Decision::Clear);
    assert_eq!(arriving.code(), ReasonCode::ProtectionReferral);
    assert_eq!(
        rules.get("VALIDITY-UNDER-SIX-MONTHS").unwrap().code(),
        ReasonCode::ValidityTooShort
    );
    // The sample never offloads: the SOPs leave that to the second-check officer.
    assert!(rules.iter().all(|r| r.decision() <= Decision::SecondCheck));
}

#[test]
fn an_empty_file_is_no_rules() {
    assert!(Rules::from_toml("", "empty.toml").unwrap().is_empty());
    assert!(
        Rules::from_toml("# nothing yet\n", "empty.toml")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn every_bad_rules_file_is_refused_with_its_expected_error() {
    let dir = fixtures().join("bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "fixtures missing: {files:?}");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected beside it", name));
        match Rules::from_toml(&text, &name) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) if e.to_string() != expected.trim() => failures.push(format!(
                "{name}:\n  expected: {}\n  actual:   {e}",
                expected.trim()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_name_the_rule_by_id_or_by_position_when_it_has_none() {
    let text = std::fs::read_to_string(fixtures().join("bad/missing_id.toml")).unwrap();
    match Rules::from_toml(&text, "missing_id.toml") {
        Err(EngineError::Rule {
            rule, key, line, ..
        }) => {
            assert_eq!(rule, RuleRef::Index(2));
            assert_eq!(key, "id");
            assert_eq!(line, 7);
        }
        other => panic!("{other:?}"),
    }
    let text = std::fs::read_to_string(fixtures().join("bad/unknown_key.toml")).unwrap();
    match Rules::from_toml(&text, "unknown_key.toml") {
        Err(EngineError::Rule {
            rule,
            key,
            line,
            column,
            ..
        }) => {
            assert_eq!(rule, RuleRef::Id("MINOR".into()));
            assert_eq!(key, "guardian");
            assert_eq!((line, column), (5, 1));
        }
        other => panic!("{other:?}"),
    }
}
