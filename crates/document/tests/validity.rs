//! Validity at a date, the identity we screen, and the CNIC rules, on whole documents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use checkpost_document::{Field, ParseOptions, ProblemKind, Sex, parse};
use chrono::NaiveDate;

const PAK_MALE: &str =
    "P<PAKKHAN<<MUHAMMAD<ASIF<<<<<<<<<<<<<<<<<<<<\nAB12345671PAK8503149M30091293520212345671<94";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn a_document_is_valid_through_its_expiry_day_and_expired_the_day_after() {
    let doc = parse(PAK_MALE, ParseOptions::default()).unwrap();
    assert_eq!(doc.date_of_expiry, Some(day(2030, 9, 12)));
    assert_eq!(doc.days_of_validity_left(day(2030, 9, 2)), Some(10));
    assert_eq!(doc.days_of_validity_left(day(2030, 9, 12)), Some(0));
    assert!(!doc.is_expired(day(2030, 9, 12)));
    assert_eq!(doc.days_of_validity_left(day(2030, 9, 13)), Some(-1));
    assert!(doc.is_expired(day(2030, 9, 13)));
}

#[test]
fn an_unreadable_expiry_counts_as_expired_and_invalidates_the_read() {
    // Expiry 301312 (month 13), check digits recomputed so that only the date is wrong.
    let zone = mrz::format_td3(&mrz::Td3Fields {
        issuing_country: "PAK".into(),
        document_number: "AB1234567".into(),
        surname: "KHAN".into(),
        given_names: "ASIF".into(),
        nationality: "PAK".into(),
        date_of_birth: mrz::MrzDate::Calendar(mrz::Date::new(1985, 3, 14)),
        sex: mrz::Sex::Male,
        date_of_expiry: mrz::MrzDate::OutOfCalendar(mrz::Date::new(2030, 13, 12)),
        ..Default::default()
    });
    let doc = parse(&zone, ParseOptions::default()).unwrap();
    assert!(doc.check_digits_valid());
    assert_eq!(doc.date_of_expiry, None);
    assert_eq!(doc.days_of_validity_left(day(2026, 1, 1)), None);
    assert!(doc.is_expired(day(2026, 1, 1)));
    assert!(!doc.is_valid());
    let p = &doc.problems[0];
    assert_eq!(
        (p.kind, p.field, p.line, p.column),
        (ProblemKind::InvalidDate, Field::DateOfExpiry, 2, 22)
    );
}

#[test]
fn identity_carries_names_with_single_spaces_and_the_cnic() {
    let id = parse(PAK_MALE, ParseOptions::default()).unwrap().identity();
    assert_eq!(id.surname, "KHAN");
    assert_eq!(id.given_names, "MUHAMMAD ASIF");
    assert_eq!(id.date_of_birth.unwrap().to_string(), "1985-03-14");
    assert_eq!(id.sex, Sex::Male);
    assert_eq!(
        (id.nationality.as_str(), id.issuing_state.as_str()),
        ("PAK", "PAK")
    );
    assert_eq!(id.document_number, "AB1234567");
    assert_eq!(id.national_id.unwrap().dashed(), "35202-1234567-1");
}

#[test]
fn a_thirteen_digit_personal_number_is_not_a_cnic_unless_pakistan_issued() {
    let gbr = PAK_MALE.replacen("P<PAK", "P<GBR", 1);
    let doc = parse(&gbr, ParseOptions::default()).unwrap();
    assert!(doc.is_valid(), "line 1 is not covered by any check digit");
    assert_eq!(doc.personal_number, "3520212345671");
    assert_eq!(doc.national_id, None);
}

#[test]
fn an_x_in_the_sex_cell_reads_unspecified_with_a_problem() {
    let zone = PAK_MALE.replacen("9M3009", "9X3009", 1);
    let doc = parse(&zone, ParseOptions::default()).unwrap();
    assert_eq!(doc.sex, Sex::Unspecified);
    assert!(doc.is_valid(), "no check digit covers the sex cell");
    let p = &doc.problems[0];
    assert_eq!(
        (p.kind, p.field, p.line, p.column),
        (ProblemKind::NonConformantSex, Field::Sex, 2, 21)
    );
}

#[test]
fn an_unknown_country_code_is_a_screening_signal_not_an_invalid_read() {
    let zone = PAK_MALE.replacen("P<PAK", "P<QQQ", 1);
    let doc = parse(&zone, ParseOptions::default()).unwrap();
    assert!(doc.is_valid());
    assert!(
        doc.problems
            .iter()
            .any(|p| p.kind == ProblemKind::UnknownCountryCode
                && p.field == Field::IssuingState
                && (p.line, p.column) == (1, 3))
    );
}

#[test]
fn without_repair_a_misread_is_reported_not_fixed() {
    let misread = PAK_MALE.replacen("8503149", "85O3149", 1);
    let doc = parse(&misread, ParseOptions::default()).unwrap();
    assert!(doc.repairs.is_empty());
    assert!(!doc.is_valid());
    assert!(
        doc.problems
            .iter()
            .any(|p| p.kind == ProblemKind::CheckDigitFailed && p.field == Field::DateOfBirth)
    );
    let repaired = parse(&misread, ParseOptions { repair: true }).unwrap();
    assert!(repaired.is_valid());
    assert_eq!(repaired.repairs.len(), 1);
    assert_eq!(repaired.repairs[0].field, Field::DateOfBirth);
}

#[test]
fn repair_is_refused_when_no_reading_makes_the_check_digits_agree() {
    // A digit changed into another digit: no lookalike to undo, so the read stays refuted.
    let altered = PAK_MALE.replacen("8503149", "8503159", 1);
    let doc = parse(&altered, ParseOptions { repair: true }).unwrap();
    assert!(doc.repairs.is_empty());
    assert!(!doc.check_digits_valid());
}

#[test]
fn a_long_document_number_is_reassembled_and_its_check_digit_located_in_the_optional_data() {
    let zone = mrz::format_td1(&mrz::Td1Fields {
        document_code: "I".into(),
        issuing_country: "UTO".into(),
        document_number: "D23145890734".into(),
        optional_data_1: None,
        surname: "ERIKSSON".into(),
        given_names: "ANNA".into(),
        nationality: "UTO".into(),
        date_of_birth: mrz::MrzDate::Calendar(mrz::Date::new(1974, 8, 12)),
        sex: mrz::Sex::Female,
        date_of_expiry: mrz::MrzDate::Calendar(mrz::Date::new(2030, 4, 15)),
        optional_data_2: None,
    });
    let doc = parse(&zone, ParseOptions::default()).unwrap();
    assert!(doc.is_valid(), "{zone}");
    assert_eq!(doc.document_number, "D23145890734");
    let check = doc.check(Field::DocumentNumber).unwrap();
    // Line 1: 9 cells in the field, `<` in column 15, the remainder "734" in 16-18, check in 19.
    assert_eq!((check.line, check.column), (1, 19), "{zone}");
    let line1 = zone.lines().next().unwrap();
    assert!(line1.as_bytes()[18].is_ascii_digit(), "{line1}");
}

#[test]
fn repair_changes_only_cells_a_check_digit_covers() {
    // The date misread (O for 0) is proven by its check digit. The nationality `P4K`, the sex `N`
    // and the name are covered by none, so they stay exactly as printed (and are reported).
    let misread = PAK_MALE
        .replacen("PAK8503149M", "P4K85O3149N", 1)
        .replacen("ASIF<<<<", "ASIF<K<<", 1);
    let doc = parse(&misread, ParseOptions { repair: true }).unwrap();
    assert!(doc.is_valid());
    assert_eq!(doc.repairs.len(), 1, "{:?}", doc.repairs);
    assert_eq!(doc.repairs[0].field, Field::DateOfBirth);
    assert_eq!(doc.given_names, "MUHAMMAD ASIF K");
    assert_eq!(doc.nationality, "P4K");
    assert_eq!(doc.sex, Sex::Unspecified);
    assert!(
        doc.problems
            .iter()
            .any(|p| p.kind == ProblemKind::NonConformantSex)
    );
    assert!(
        doc.problems
            .iter()
            .any(|p| p.kind == ProblemKind::UnknownCountryCode && p.field == Field::Nationality)
    );
}
