//! The indexes and the matcher: exact document / CNIC lookups, name matching with its slack, and
//! the rule that the machine only escalates on strong identity.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations

use checkpost_document::{Cnic, Identity, PartialDate, Sex};
use checkpost_watchlist::index::Index;
use checkpost_watchlist::matcher::{Query, decision};
use checkpost_watchlist::{Decision, Direction, Entries, Entry, EntryId, ListKind, MatchKind};
use chrono::NaiveDate;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn entry(id: &str, list: ListKind, name: &str, dob: &str, action: Decision) -> Entry {
    Entry {
        list,
        entry_id: EntryId(id.to_string()),
        full_name: name.to_string(),
        aliases: vec![],
        father_name: None,
        dob: (!dob.is_empty()).then(|| PartialDate::parse(dob).unwrap()),
        sex: Sex::Male,
        nationality: Some("PAK".to_string()),
        document_numbers: vec![],
        national_id: None,
        action,
        directions: list.default_directions().to_vec(),
        reason: "test".to_string(),
        reference: "REF/1".to_string(),
        valid_from: None,
        valid_until: None,
    }
}

fn query(given: &str, surname: &str, dob: &str) -> Query {
    Query {
        surname: surname.to_string(),
        given_names: given.to_string(),
        dob: (!dob.is_empty()).then(|| PartialDate::parse(dob).unwrap()),
        sex: Sex::Male,
        nationality: Some("PAK".to_string()),
        issuing_state: Some("PAK".to_string()),
        ..Query::default()
    }
}

/// A small list with a few people sharing common names.
fn list() -> Vec<Entry> {
    let mut v = vec![
        entry(
            "BL-1",
            ListKind::Blacklist,
            "MUHAMMAD ASIF KHAN",
            "1985-04-12",
            Decision::Offload,
        ),
        entry(
            "ECL-1",
            ListKind::Ecl,
            "SYED HUSSAIN ALI SHAH",
            "1970-07",
            Decision::Offload,
        ),
        entry(
            "PO-1",
            ListKind::Po,
            "ABDUL RAHMAN QURESHI",
            "1990",
            Decision::Detain,
        ),
        entry(
            "BL-2",
            ListKind::Blacklist,
            "MUHAMMAD TARIQ KHAN",
            "1985-04-12",
            Decision::Offload,
        ),
        entry(
            "BL-3",
            ListKind::Blacklist,
            "IMRAN AHMED BUTT",
            "1979-02-03",
            Decision::Detain,
        ),
        entry("SLTD-1", ListKind::Sltd, "", "", Decision::Offload),
        entry("CNIC-1", ListKind::CnicBlock, "", "", Decision::SecondCheck),
    ];
    v[0].father_name = Some("MUHAMMAD YOUSAF KHAN".to_string());
    v[0].aliases = vec!["ASIF KHAN NIAZI".to_string()];
    v[0].document_numbers = vec!["AB1234567".to_string()];
    v[5].document_numbers = vec!["CD7654321".to_string()];
    v[5].nationality = Some("PAK".to_string());
    v[6].national_id = Some(Cnic::parse("35202-1234567-1").unwrap());
    v
}

fn find(entries: &[Entry], q: &Query) -> Vec<checkpost_watchlist::matcher::Match> {
    Index::build(entries).find(
        &Entries::encode(entries),
        q,
        Some(Direction::Departure),
        today(),
    )
}

#[test]
fn document_number_with_matching_state_is_a_strong_document_match() {
    let e = list();
    let mut q = query("JOHN", "DOE", "1960-01-01");
    q.document_number = Some("cd 7654321".to_string());
    let m = find(&e, &q);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].entry_id.0, "SLTD-1");
    assert_eq!(m[0].kind, MatchKind::Document);
    assert!(m[0].strong);
    assert_eq!(m[0].score, 1.0);
    assert_eq!(m[0].level, Decision::Offload);
}

#[test]
fn a_listed_number_from_another_state_is_not_a_document_match() {
    let e = list();
    let mut q = query("JOHN", "DOE", "1960-01-01");
    q.document_number = Some("CD7654321".to_string());
    q.issuing_state = Some("GBR".to_string());
    q.nationality = Some("GBR".to_string());
    assert!(find(&e, &q).is_empty());
}

#[test]
fn national_id_is_matched_with_or_without_dashes() {
    let e = list();
    let mut q = query("JOHN", "DOE", "1960-01-01");
    q.national_id = Some(Cnic::parse("3520212345671").unwrap());
    let m = find(&e, &q);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].kind, MatchKind::NationalId);
    assert_eq!(m[0].level, Decision::SecondCheck);
}

#[test]
fn name_with_full_dob_is_a_strong_name_dob_match_in_any_spelling_and_order() {
    let e = list();
    for (given, surname) in [
        ("MUHAMMAD ASIF", "KHAN"),
        ("MOHD ASIF", "KHAN"),
        ("KHAN MOHAMMAD", "ASIF"),
        ("HAJI MUHAMMAD ASIF", "KHAN"),
    ] {
        let m = find(&e, &query(given, surname, "1985-04-12"));
        assert_eq!(
            m.first().map(|m| m.entry_id.0.as_str()),
            Some("BL-1"),
            "{given} {surname}"
        );
        assert_eq!(m[0].kind, MatchKind::NameDob, "{given} {surname}");
        assert_eq!(m[0].level, Decision::Offload);
        assert!(m[0].matched_tokens.contains(&"ASIF".to_string()));
        assert!(
            m.iter().all(|x| x.entry_id.0 != "BL-2"),
            "TARIQ is another person"
        );
    }
}

#[test]
fn name_only_match_is_capped_at_second_check() {
    let e = list();
    // No date of birth on the query: nothing corroborates the name.
    let m = find(&e, &query("MUHAMMAD ASIF", "KHAN", ""));
    let bl1 = m.iter().find(|m| m.entry_id.0 == "BL-1").unwrap();
    assert_eq!(bl1.kind, MatchKind::NameOnly);
    assert!(!bl1.strong);
    assert_eq!(bl1.level, Decision::SecondCheck);
    assert_eq!(decision(&m), Decision::SecondCheck);
}

#[test]
fn year_only_dob_corroborates_only_weakly() {
    let e = list();
    let m = find(&e, &query("ABDURRAHMAN", "QURESHI", "1990-03-01"));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].entry_id.0, "PO-1");
    assert!(!m[0].strong);
    assert_eq!(m[0].level, Decision::SecondCheck);
}

#[test]
fn year_month_dob_is_reported_but_only_weakly_and_honorifics_do_not_matter() {
    let e = list();
    let m = find(&e, &query("HUSAIN ALI", "SHAH", "1970-07-21"));
    assert_eq!(m[0].entry_id.0, "ECL-1");
    assert_eq!(m[0].kind, MatchKind::NameOnly);
    assert!(!m[0].strong);
    assert_eq!(m[0].level, Decision::SecondCheck);
}

#[test]
fn ecl_entry_is_ignored_on_arrival() {
    let e = list();
    let idx = Index::build(&e);
    let stored = Entries::encode(&e);
    let q = query("HUSAIN ALI", "SHAH", "1970-07-21");
    assert!(
        idx.find(&stored, &q, Some(Direction::Arrival), today())
            .is_empty()
    );
    assert_eq!(idx.find(&stored, &q, None, today()).len(), 1);
}

#[test]
fn entries_out_of_their_validity_window_are_ignored() {
    let mut e = list();
    e[4].valid_until = Some(PartialDate::parse("2026-10").unwrap());
    let q = query("IMRAN AHMAD", "BUTT", "1979-02-03");
    assert!(find(&e, &q).is_empty());
    e[4].valid_until = Some(PartialDate::parse("2026").unwrap());
    assert_eq!(find(&e, &q).len(), 1);
    e[4].valid_from = Some(PartialDate::parse("2026-11-24").unwrap());
    assert!(find(&e, &q).is_empty());
}

#[test]
fn one_typo_dropped_middle_name_and_truncation_still_match() {
    let e = list();
    // One typo.
    let m = find(&e, &query("MUHAMMAD ASIFF", "KHAN", "1985-04-12"));
    assert_eq!(m[0].entry_id.0, "BL-1");
    // Dropped middle name: found, but a human decides.
    let m = find(&e, &query("IMRAN", "BUTT", "1979-02-03"));
    assert_eq!(m[0].entry_id.0, "BL-3");
    assert!(!m[0].strong);
    // MRZ truncation of a long name (TD1: 30 characters of SURNAME<<GIVEN NAMES).
    let mut long = e.clone();
    long.push(entry(
        "BL-9",
        ListKind::Blacklist,
        "GHULAM MUSTAFA NIZAMUDDIN QURESHI",
        "1966-01-05",
        Decision::Offload,
    ));
    let field = "QURESHI<<GHULAM<MUSTAFA<NIZAMUDDIN";
    let cut = &field[..30];
    let (surname, given) = cut.split_once("<<").unwrap();
    let m = find(
        &long,
        &query(&given.replace('<', " "), surname, "1966-01-05"),
    );
    assert_eq!(m[0].entry_id.0, "BL-9", "{cut}");
    assert!(m[0].strong);
}

#[test]
fn alias_matches_like_the_full_name() {
    let e = list();
    let m = find(&e, &query("ASIF", "KHAN NIAZI", "1985-04-12"));
    assert_eq!(m[0].entry_id.0, "BL-1");
}

#[test]
fn hard_negative_same_name_other_dob_and_father_is_not_reported() {
    let e = list();
    let mut q = query("MUHAMMAD ASIF", "KHAN", "1985-09-30");
    q.father_name = Some("GHULAM SARWAR".to_string());
    assert!(find(&e, &q).is_empty());
}

#[test]
fn contradicting_father_name_prevents_a_strong_match() {
    let e = list();
    let mut q = query("MUHAMMAD ASIF", "KHAN", "1985-04-12");
    q.father_name = Some("GHULAM SARWAR".to_string());
    assert!(find(&e, &q).iter().all(|m| !m.strong));
    q.father_name = Some("MOHD YOUSAF KHAN".to_string());
    assert!(find(&e, &q)[0].strong);
}

#[test]
fn query_from_an_identity_carries_document_and_cnic() {
    let id = Identity {
        surname: "KHAN".into(),
        given_names: "MUHAMMAD ASIF".into(),
        date_of_birth: Some(PartialDate::parse("1985-04-12").unwrap()),
        sex: Sex::Male,
        nationality: "PAK".into(),
        issuing_state: "PAK".into(),
        document_number: "AB1234567".into(),
        national_id: None,
    };
    let q = Query::from(&id);
    assert_eq!(q.document_number.as_deref(), Some("AB1234567"));
    let m = find(&list(), &q);
    assert_eq!(m.len(), 1, "one match per entry: {m:?}");
    assert_eq!(m[0].kind, MatchKind::Document);
    assert!(
        m[0].matched_tokens.contains(&"KHAN".to_string()),
        "name tokens shown too"
    );
}

#[test]
fn matches_are_sorted_strongest_first() {
    let e = list();
    let mut q = query("MUHAMMAD TARIQ", "KHAN", "");
    q.document_number = Some("AB1234567".to_string());
    let m = find(&e, &q);
    assert!(m.len() >= 2, "{m:?}");
    assert!(m[0].strong && !m[1].strong);
}

#[test]
fn a_particle_with_a_typo_still_joins_its_name() {
    let mut e = list();
    e.push(entry(
        "PO-2",
        ListKind::Po,
        "SAIF ULLAH JADOON",
        "1981-06-14",
        Decision::Detain,
    ));
    for typo in ["SAIF ULLBAH", "SAIF ULLH", "SAIF ULAAH"] {
        let m = find(&e, &query(typo, "JADOON", "1981-06-14"));
        assert!(
            m.iter()
                .any(|m| m.entry_id.0 == "PO-2" && m.level >= Decision::SecondCheck),
            "{typo}: {m:?}"
        );
    }
}

#[test]
fn a_name_match_whose_listed_full_dob_is_years_apart_is_not_reported_even_with_the_father() {
    let e = list();
    // BL-1 is MUHAMMAD ASIF KHAN, 1985-04-12, father MUHAMMAD YOUSAF KHAN.
    for dob in ["1988-04-12", "1981-12-04", "1990-07-01"] {
        let mut q = query("MUHAMMAD ASIF", "KHAN", dob);
        assert!(find(&e, &q).iter().all(|m| m.entry_id.0 != "BL-1"), "{dob}");
        q.father_name = Some("MUHAMMAD YOUSAF KHAN".to_string());
        assert!(find(&e, &q).iter().all(|m| m.entry_id.0 != "BL-1"), "{dob}");
    }
    // The day and month swapped on one side is still a (weak) match.
    let m = find(&e, &query("MUHAMMAD ASIF", "KHAN", "1985-12-04"));
    assert!(m.iter().any(|m| m.entry_id.0 == "BL-1" && !m.strong));
}

#[test]
fn the_fathers_name_and_aliases_of_an_entry_are_kept_apart_in_the_index() {
    let e = list();
    // The father's name is not a name of the entry: it finds nobody on its own.
    let m = find(&e, &query("MUHAMMAD YOUSAF", "KHAN", "1985-04-12"));
    assert!(
        m.iter().all(|m| m.entry_id.0 != "BL-1" || !m.strong),
        "{m:?}"
    );
    // The alias is.
    let m = find(&e, &query("ASIF KHAN", "NIAZI", "1985-04-12"));
    assert!(
        m.iter().any(|m| m.entry_id.0 == "BL-1" && m.strong),
        "{m:?}"
    );
}

/// Forty namesakes listed without a date of birth all match a common name equally (weakly):
/// [`index::MAX_WEAK_MATCHES`] are reported, the lowest entry numbers among the tie, and one of
/// them also listed by document number stays a DOCUMENT match that shows the name tokens.
#[test]
fn tied_weak_namesakes_are_capped_by_entry_number_and_a_document_match_still_shows_its_tokens() {
    use checkpost_watchlist::index;
    let mut e: Vec<Entry> = (0..40)
        .map(|i| {
            entry(
                &format!("BL-{i}"),
                ListKind::Blacklist,
                "MUHAMMAD HASSAN KHAN",
                "",
                Decision::Offload,
            )
        })
        .collect();
    e[30].document_numbers = vec!["AB1234567".to_string()];
    let mut q = query("MUHAMMAD HASSAN", "KHAN", "1980-01-01");
    q.document_number = Some("AB1234567".to_string());
    let m = find(&e, &q);
    let weak: Vec<u32> = m
        .iter()
        .filter(|m| m.kind == MatchKind::NameOnly)
        .map(|m| m.entry)
        .collect();
    assert_eq!(
        weak,
        (0..index::MAX_WEAK_MATCHES as u32).collect::<Vec<_>>()
    );
    let doc = m.iter().find(|m| m.entry == 30).unwrap();
    assert_eq!(doc.kind, MatchKind::Document);
    assert_eq!(doc.matched_tokens, ["MUHAMMAD", "HASSAN", "KHAN"]);
}
