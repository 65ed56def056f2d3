//! Property tests: zones emitted by the `mrz` crate round-trip to the identity they were made
//! from, a corrupted check-digit-covered field is reported against that field (except the
//! substitutions 7-3-1 weighting cannot see), and no input makes `parse` panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use checkpost_document::{
    CheckVerdict, Field, Identity, MrzError, MrzFormat, ParseOptions, PartialDate, ProblemKind,
    Sex, parse,
};
use mrz::{Date, MrzDate};
use proptest::prelude::*;

/// What a generated document holds, before emission.
#[derive(Debug, Clone)]
struct Person {
    surname: String,
    given_names: String,
    document_number: String,
    nationality: &'static str,
    issuing_state: &'static str,
    dob: (i32, u32, u32),
    sex: Sex,
    expiry: (i32, u32, u32),
    personal_number: String,
}

fn person() -> impl Strategy<Value = Person> {
    let codes = prop::sample::select(vec!["PAK", "AFG", "GBR", "UTO", "IND", "CHN", "D", "ARE"]);
    (
        "[A-Z]{2,10}",
        "[A-Z]{2,8}( [A-Z]{2,8})?",
        "[A-Z0-9][A-Z0-9]{8}",
        codes.clone(),
        codes,
        // Years the crate's century rule maps back unchanged: a birth year after 2026 would read
        // as 19xx (see `parse`); expiries are always 20xx.
        (1927i32..=2026, 1u32..=12, 1u32..=28),
        prop::sample::select(vec![Sex::Male, Sex::Female, Sex::Unspecified]),
        (2000i32..=2099, 1u32..=12, 1u32..=28),
        "([0-9]{13})?",
    )
        .prop_map(
            |(
                surname,
                given_names,
                document_number,
                nationality,
                issuing_state,
                dob,
                sex,
                expiry,
                personal_number,
            )| Person {
                surname,
                given_names,
                document_number,
                nationality,
                issuing_state,
                dob,
                sex,
                expiry,
                personal_number,
            },
        )
}

fn mrz_sex(sex: Sex) -> mrz::Sex {
    match sex {
        Sex::Male => mrz::Sex::Male,
        Sex::Female => mrz::Sex::Female,
        Sex::Unspecified => mrz::Sex::Unspecified,
    }
}

fn date((y, m, d): (i32, u32, u32)) -> MrzDate {
    MrzDate::Calendar(Date::new(y, m, d))
}

/// The zone for `p` in `format`, emitted by the `mrz` crate.
fn emit(p: &Person, format: MrzFormat) -> String {
    let optional = (!p.personal_number.is_empty()).then(|| p.personal_number.clone());
    match format {
        MrzFormat::Td3 => mrz::format_td3(&mrz::Td3Fields {
            document_code: "P".into(),
            issuing_country: p.issuing_state.into(),
            document_number: p.document_number.clone(),
            surname: p.surname.clone(),
            given_names: p.given_names.clone(),
            nationality: p.nationality.into(),
            date_of_birth: date(p.dob),
            sex: mrz_sex(p.sex),
            date_of_expiry: date(p.expiry),
            personal_number: optional,
        }),
        MrzFormat::Td2 => mrz::format_td2(&mrz::Td2Fields {
            document_code: "I".into(),
            issuing_country: p.issuing_state.into(),
            document_number: p.document_number.clone(),
            surname: p.surname.clone(),
            given_names: p.given_names.clone(),
            nationality: p.nationality.into(),
            date_of_birth: date(p.dob),
            sex: mrz_sex(p.sex),
            date_of_expiry: date(p.expiry),
            optional_data: None,
        }),
        MrzFormat::Td1 => mrz::format_td1(&mrz::Td1Fields {
            document_code: "I".into(),
            issuing_country: p.issuing_state.into(),
            document_number: p.document_number.clone(),
            optional_data_1: optional,
            surname: p.surname.clone(),
            given_names: p.given_names.clone(),
            nationality: p.nationality.into(),
            date_of_birth: date(p.dob),
            sex: mrz_sex(p.sex),
            date_of_expiry: date(p.expiry),
            optional_data_2: None,
        }),
        MrzFormat::MrvA => mrz::format_mrv_a(&mrz::MrvAFields {
            document_code: "V".into(),
            issuing_country: p.issuing_state.into(),
            document_number: p.document_number.clone(),
            surname: p.surname.clone(),
            given_names: p.given_names.clone(),
            nationality: p.nationality.into(),
            date_of_birth: date(p.dob),
            sex: mrz_sex(p.sex),
            date_of_expiry: date(p.expiry),
            optional_data: optional,
        }),
        MrzFormat::MrvB => mrz::format_mrv_b(&mrz::MrvBFields {
            document_code: "V".into(),
            issuing_country: p.issuing_state.into(),
            document_number: p.document_number.clone(),
            surname: p.surname.clone(),
            given_names: p.given_names.clone(),
            nationality: p.nationality.into(),
            date_of_birth: date(p.dob),
            sex: mrz_sex(p.sex),
            date_of_expiry: date(p.expiry),
            optional_data: None,
        }),
    }
}

fn expected_identity(p: &Person, format: MrzFormat) -> Identity {
    let (y, m, d) = p.dob;
    // The CNIC rule: a 13-digit personal number on a non-visa document issued by PAK.
    let carries_personal_number = matches!(format, MrzFormat::Td3 | MrzFormat::Td1);
    let national_id =
        (p.issuing_state == "PAK" && carries_personal_number && !p.personal_number.is_empty())
            .then(|| checkpost_document::Cnic::parse(&p.personal_number).unwrap());
    Identity {
        surname: p.surname.clone(),
        given_names: p.given_names.clone(),
        date_of_birth: Some(PartialDate::full(y as u16, m as u8, d as u8).unwrap()),
        sex: p.sex,
        nationality: p.nationality.into(),
        issuing_state: p.issuing_state.into(),
        document_number: p.document_number.clone(),
        national_id,
    }
}

const FORMATS: [MrzFormat; 5] = [
    MrzFormat::Td1,
    MrzFormat::Td2,
    MrzFormat::Td3,
    MrzFormat::MrvA,
    MrzFormat::MrvB,
];

/// The check-covered fields of line 2 (TD1: lines 1 and 2) as (field, 0-based line, data cells).
fn covered_fields(format: MrzFormat) -> Vec<(Field, usize, std::ops::Range<usize>)> {
    match format {
        MrzFormat::Td1 => vec![
            (Field::DocumentNumber, 0, 5..14),
            (Field::DateOfBirth, 1, 0..6),
            (Field::DateOfExpiry, 1, 8..14),
        ],
        _ => {
            let mut v = vec![
                (Field::DocumentNumber, 1, 0..9),
                (Field::DateOfBirth, 1, 13..19),
                (Field::DateOfExpiry, 1, 21..27),
            ];
            if format == MrzFormat::Td3 {
                v.push((Field::PersonalNumber, 1, 28..42));
            }
            v
        }
    }
}

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_generated_valid_document_round_trips_to_the_same_identity(p in person(), f in 0usize..5) {
        let format = FORMATS[f];
        let zone = emit(&p, format);
        let doc = parse(&zone, ParseOptions::default()).unwrap();
        prop_assert_eq!(doc.format, format);
        prop_assert!(doc.is_valid(), "{zone}\n{:?}", doc.problems);
        prop_assert_eq!(doc.identity(), expected_identity(&p, format), "{}", zone);
        let (y, m, d) = p.expiry;
        prop_assert_eq!(doc.date_of_expiry, chrono::NaiveDate::from_ymd_opt(y, m, d));
    }

    /// A single substituted character in a check-covered field fails that field's check digit
    /// and is reported against that field, unless the two characters are congruent mod 10 —
    /// the substitutions `mrz::blindspot` names (e.g. K↔<, I↔S, B↔L, A↔K, 1↔L, 6↔G; the full
    /// atlas is `mrz::CLASSES`), which no 7-3-1 check digit can see.
    #[test]
    fn a_corrupted_field_is_reported_against_that_field_except_blind_substitutions(
        p in person(),
        f in 0usize..5,
        which in 0usize..4,
        offset in 0usize..14,
        replacement in 0usize..ALPHABET.len(),
    ) {
        let format = FORMATS[f];
        let zone = emit(&p, format);
        let fields = covered_fields(format);
        let (field, line, cells) = fields[which % fields.len()].clone();
        let column = cells.start + offset % cells.len();
        let mut lines: Vec<Vec<u8>> = zone.lines().map(|l| l.as_bytes().to_vec()).collect();
        let original = lines[line][column] as char;
        let new = ALPHABET[replacement] as char;
        prop_assume!(new != original);
        // A filler in a document number's first cell is refused structurally (below).
        prop_assume!(!(field == Field::DocumentNumber && column == cells.start && new == '<'));
        lines[line][column] = new as u8;
        let text = lines.iter().map(|l| String::from_utf8(l.clone()).unwrap()).collect::<Vec<_>>().join("\n");
        let doc = parse(&text, ParseOptions::default()).unwrap();
        let check = doc.check(field).unwrap();
        if mrz::blindspot(new, original).is_blind() {
            prop_assert_eq!(check.verdict, CheckVerdict::Verified, "{} -> {} should be invisible", original, new);
        } else {
            prop_assert_eq!(check.verdict, CheckVerdict::Refuted, "{}", text);
            prop_assert!(
                doc.problems.iter().any(|pr| pr.kind == ProblemKind::CheckDigitFailed && pr.field == field),
                "{:?}", doc.problems
            );
            prop_assert!(!doc.is_valid());
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,600}", repair: bool) {
        let _ = parse(&text, ParseOptions { repair });
    }

    #[test]
    fn parse_never_panics_on_mrz_shaped_text(
        lines in prop::collection::vec("[A-Z0-9<]{28,46}", 1..5),
        sep in prop::sample::select(vec!["\n", "\r\n", " \n "]),
        repair: bool,
    ) {
        let _ = parse(&lines.join(sep), ParseOptions { repair });
    }
}

#[test]
fn the_blind_substitutions_the_test_above_excuses_are_the_mrz_crates() {
    // Named here so the excused set is explicit: congruent mod 10 under 7-3-1 weighting.
    for (a, b) in [
        ('K', '<'),
        ('I', 'S'),
        ('B', 'L'),
        ('A', 'K'),
        ('1', 'L'),
        ('6', 'G'),
        ('0', 'U'),
    ] {
        assert!(mrz::blindspot(a, b).is_blind(), "{a}/{b}");
    }
    for (a, b) in [('O', '0'), ('I', '1'), ('B', '8'), ('S', '5'), ('Z', '2')] {
        assert!(!mrz::blindspot(a, b).is_blind(), "{a}/{b}");
    }
}

#[test]
fn a_filler_in_the_document_numbers_first_cell_is_a_structural_error() {
    let text = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n<898902C36UTO7408122F1204159ZE184226B<<<<<10";
    assert!(matches!(
        parse(text, ParseOptions::default()),
        Err(MrzError::LeadingFiller {
            line: 2,
            column: 1,
            ..
        })
    ));
}
