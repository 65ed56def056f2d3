//! Reading one zone: our structural checks, the `mrz` crate for fields and check digits, then
//! checkpost's rules on top (CNIC, problems with positions).
//!
//! Where the `mrz` crate falls short for us, measured on our fixtures and the ICAO specimens, and
//! filled here: its `BadLength` does not say which line, and it has no notion of "lowercase" or of
//! a wrong line count (its direct parsers take lines as arguments), so the structural checks
//! that name line and column are ours; it reports check verdicts per field but not where each
//! digit sits (see `layout`); it accepts fillers in an expiry date (we report `InvalidDate`); and
//! it knows nothing of the CNIC.

use chrono::NaiveDate;

use super::error::{MAX_MRZ_BYTES, MrzError};
use super::layout::{check_positions, field_at, field_start, overflow_check_position};
use super::types::{
    Check, CheckVerdict, Field, MrzFormat, ParseOptions, Problem, ProblemKind, Repair,
    TravelDocument, sex_zone_char,
};
use crate::{Cnic, PartialDate, Sex};

/// Parses one machine-readable zone (2 or 3 lines; CRLF, blank lines around it and spaces
/// around each line are tolerated).
///
/// A structural failure (empty, too long, wrong line count or width, a character outside
/// `A-Z 0-9 <`, lowercase, a document code the layout does not admit) is an [`MrzError`]. A failed
/// check digit is not: the document parses and carries a [`Problem`] per failed digit, so the
/// officer sees which field is in doubt.
///
/// Dates: two-digit years follow the `mrz` crate's rule, which Doc 9303 does not define — a date
/// of birth whose year is after `mrz::CURRENT_YY` (26, i.e. 2026) is 19xx, otherwise 20xx; an
/// expiry is always 20xx. The crate pins the pivot as a constant rather than reading the clock,
/// which keeps this function pure; it is bumped by a crate release.
///
/// With [`ParseOptions::repair`], a zone whose check digits fail is handed to
/// `mrz::find_and_parse_with`, which corrects OCR lookalikes (`O`/`0`, `B`/`8`, …). Only changes
/// to cells a check digit covers are kept, and only when every check digit then verifies and the
/// zone keeps its shape; every changed character is listed in [`TravelDocument::repairs`].
/// Structural errors are never repaired.
///
/// Never panics, whatever the input.
pub fn parse(text: &str, opts: ParseOptions) -> Result<TravelDocument, MrzError> {
    let lines = structural_lines(text)?;
    let format = detect_format(&lines)?;
    let crate_opts = ::mrz::ParseOptions::default();
    let mut data = parse_with_crate(format, &lines, &crate_opts)?;
    let mut repairs = Vec::new();
    if opts.repair && !data.checks.all_valid() {
        if let Some((repaired, changes)) = repair(format, &lines, &crate_opts) {
            data = repaired;
            repairs = changes;
        }
    }
    Ok(build(format, data, repairs))
}

/// Splits and checks the text: line count, alphabet, case. Returns the trimmed lines.
fn structural_lines(text: &str) -> Result<Vec<&str>, MrzError> {
    if text.len() > MAX_MRZ_BYTES {
        return Err(MrzError::TooLong {
            len: text.len(),
            max: MAX_MRZ_BYTES,
        });
    }
    // Trimming the whole text drops blank lines around the zone; a blank line inside it stays
    // and fails the width check with its line number.
    let mut lines: Vec<&str> = Vec::with_capacity(3);
    lines.extend(text.trim().split('\n').map(str::trim));
    if lines.first().is_none_or(|l| l.is_empty()) {
        return Err(MrzError::Empty);
    }
    if !(2..=3).contains(&lines.len()) {
        return Err(MrzError::LineCount {
            found: lines.len(),
            expected: "2 (TD2, TD3, MRV-A, MRV-B) or 3 (TD1)",
        });
    }
    for (i, line) in lines.iter().enumerate() {
        // Fast path: the whole line is in the MRZ alphabet (the common case, and per-char
        // position bookkeeping is only needed to report the first bad one).
        if line.bytes().all(is_mrz_byte) {
            continue;
        }
        for (j, c) in line.chars().enumerate() {
            let (line, column, character) = (i + 1, j + 1, c);
            if c.is_ascii_lowercase() {
                return Err(MrzError::Lowercase {
                    line,
                    column,
                    character,
                });
            }
            if !matches!(c, 'A'..='Z' | '0'..='9' | '<') {
                return Err(MrzError::IllegalCharacter {
                    line,
                    column,
                    character,
                });
            }
        }
    }
    Ok(lines)
}

fn is_mrz_byte(b: u8) -> bool {
    matches!(b, b'A'..=b'Z' | b'0'..=b'9' | b'<')
}

/// Moves a string out of the crate's reading with its trailing fillers removed, without copying.
fn take_trimmed(s: &mut String) -> String {
    let mut owned = std::mem::take(s);
    owned.truncate(owned.trim_end_matches('<').len());
    owned
}

/// The format from line 1's width, the line count and the document code. All lines are ASCII
/// by now, so byte length is width.
fn detect_format(lines: &[&str]) -> Result<MrzFormat, MrzError> {
    let line1 = lines.first().copied().unwrap_or_default();
    let first = line1.as_bytes().first().copied();
    let code = || line1.get(..2).unwrap_or(line1).to_string();
    let (format, expected_lines, line_phrase) = match line1.len() {
        30 => match first {
            Some(b'I' | b'A' | b'C') => (MrzFormat::Td1, 3, "3 for lines of 30 (TD1)"),
            _ => {
                return Err(MrzError::DocumentCode {
                    code: code(),
                    layout: "lines of 30 (TD1)",
                    expected: "I, A or C (identity card)",
                });
            }
        },
        36 => match first {
            Some(b'V') => (MrzFormat::MrvB, 2, "2 for lines of 36 (TD2, MRV-B)"),
            Some(b'I' | b'A' | b'C') => (MrzFormat::Td2, 2, "2 for lines of 36 (TD2, MRV-B)"),
            _ => {
                return Err(MrzError::DocumentCode {
                    code: code(),
                    layout: "lines of 36 (TD2, MRV-B)",
                    expected: "I, A or C (TD2 travel document) or V (MRV-B visa)",
                });
            }
        },
        44 => match first {
            Some(b'P') => (MrzFormat::Td3, 2, "2 for lines of 44 (TD3, MRV-A)"),
            Some(b'V') => (MrzFormat::MrvA, 2, "2 for lines of 44 (TD3, MRV-A)"),
            _ => {
                return Err(MrzError::DocumentCode {
                    code: code(),
                    layout: "lines of 44 (TD3, MRV-A)",
                    expected: "P (TD3 passport) or V (MRV-A visa)",
                });
            }
        },
        found => return Err(MrzError::UnknownWidth { line: 1, found }),
    };
    if lines.len() != expected_lines {
        return Err(MrzError::LineCount {
            found: lines.len(),
            expected: line_phrase,
        });
    }
    for (i, line) in lines.iter().enumerate().skip(1) {
        if line.len() != format.width() {
            return Err(MrzError::LineLength {
                line: i + 1,
                found: line.len(),
                expected: format.width(),
                format: format.as_str(),
            });
        }
    }
    Ok(format)
}

/// Hands the checked lines to the `mrz` crate's direct parser for `format`.
fn parse_with_crate(
    format: MrzFormat,
    lines: &[&str],
    opts: &::mrz::ParseOptions,
) -> Result<::mrz::MrzData, MrzError> {
    let line = |i: usize| lines.get(i).copied().unwrap_or_default();
    let result = match format {
        MrzFormat::Td1 => ::mrz::parse_td1_with(line(0), line(1), line(2), opts),
        MrzFormat::Td2 => ::mrz::parse_td2_with(line(0), line(1), opts),
        MrzFormat::Td3 => ::mrz::parse_td3_with(line(0), line(1), opts),
        MrzFormat::MrvA => ::mrz::parse_mrv_a_with(line(0), line(1), opts),
        MrzFormat::MrvB => ::mrz::parse_mrv_b_with(line(0), line(1), opts),
    };
    result.map_err(|e| from_crate_error(format, e))
}

/// Our checks run first, so only the crate's own content checks reach here in practice; the
/// rest are mapped for completeness.
fn from_crate_error(format: MrzFormat, e: ::mrz::MrzError) -> MrzError {
    match e {
        ::mrz::MrzError::LeadingFiller { line, position, .. } => MrzError::LeadingFiller {
            line: line + 1,
            column: position + 1,
            field: Field::DocumentNumber.as_str(),
        },
        ::mrz::MrzError::BadDocumentCode(code) => MrzError::DocumentCode {
            code,
            layout: format.as_str(),
            expected: "a code this format admits",
        },
        ::mrz::MrzError::BadCharacter {
            character,
            line,
            position,
        } => MrzError::IllegalCharacter {
            line: line.map_or(0, |l| l + 1),
            column: position + 1,
            character,
        },
        other => MrzError::Unreadable(other.to_string()),
    }
}

/// Asks the `mrz` crate to repair the zone, and keeps only what a check digit proves: changes to
/// cells some check digit covers. The crate's search also normalizes cells no digit covers (name
/// separators, letters in the country codes); those changes are dropped, because a name or
/// nationality nobody can verify must stay as printed for screening. The result is re-read with
/// the direct parser from the original lines plus the kept changes, and accepted only when every
/// check digit then verifies and each line keeps its width. (The crate can also rebuild a line
/// one character short; that stays a structural error here rather than a guess.)
fn repair(
    format: MrzFormat,
    lines: &[&str],
    opts: &::mrz::ParseOptions,
) -> Option<(::mrz::MrzData, Vec<Repair>)> {
    let joined = lines.join("\n");
    let repaired = ::mrz::find_and_parse_with(&joined, opts).ok()?;
    if !repaired.checksum_consistent() || repaired.damaged_recovery {
        return None;
    }
    let new_lines: Vec<&str> = repaired.mrz_lines.lines().collect();
    if new_lines.len() != lines.len() {
        return None;
    }
    let mut changes = Vec::new();
    let mut fixed: Vec<Vec<u8>> = Vec::with_capacity(lines.len());
    for (i, (old, new)) in lines.iter().zip(&new_lines).enumerate() {
        if old.len() != new.len() {
            return None;
        }
        let mut line = old.as_bytes().to_vec();
        for (j, (from, to)) in old.bytes().zip(new.bytes()).enumerate() {
            let field = field_at(format, i, j);
            if from != to && covered_by_check_digit(format, field) {
                changes.push(Repair {
                    field,
                    line: u8::try_from(i + 1).ok()?,
                    column: u8::try_from(j + 1).ok()?,
                    from: char::from(from),
                    to: char::from(to),
                });
                if let Some(cell) = line.get_mut(j) {
                    *cell = to;
                }
            }
        }
        fixed.push(line);
    }
    if changes.is_empty() {
        return None;
    }
    let fixed: Vec<&str> = fixed
        .iter()
        .map(|l| std::str::from_utf8(l).ok())
        .collect::<Option<_>>()?;
    let data = parse_with_crate(format, &fixed, opts).ok()?;
    data.checks.all_valid().then_some((data, changes))
}

/// True when some check digit of `format` covers `field`'s cells: the document number, dates
/// and composite everywhere, and the optional data under the composite (TD1, TD2) or its own
/// digit (TD3). Visas print no composite, so their optional data is covered by nothing.
fn covered_by_check_digit(format: MrzFormat, field: Field) -> bool {
    match field {
        Field::DocumentNumber | Field::DateOfBirth | Field::DateOfExpiry | Field::Composite => true,
        Field::PersonalNumber | Field::OptionalData => !format.is_visa(),
        _ => false,
    }
}

/// Builds our document from the crate's reading, adding checkpost's rules.
fn build(format: MrzFormat, mut data: ::mrz::MrzData, repairs: Vec<Repair>) -> TravelDocument {
    let mut problems = Vec::new();
    let overflow = data.document_number_full.is_some();
    let document_number = match data.document_number_full.take() {
        Some(mut full) => take_trimmed(&mut full),
        None => take_trimmed(&mut data.document_number),
    };
    let checks = checks(
        format,
        &data.checks,
        overflow.then_some(document_number.len()),
    );
    for check in &checks {
        if check.verdict == CheckVerdict::Refuted {
            problems.push(Problem {
                kind: ProblemKind::CheckDigitFailed,
                field: check.field,
                line: check.line,
                column: check.column,
                message: format!(
                    "line {}, column {}: the {} check digit does not match its field (misread or altered document)",
                    check.line,
                    check.column,
                    check.field.as_str().replace('_', " ")
                ),
            });
        }
    }
    let date_of_birth = date_of_birth(format, data.date_of_birth, &mut problems);
    let date_of_expiry = date_of_expiry(format, data.date_of_expiry, &mut problems);
    let sex = sex(format, data.sex, &mut problems);
    let issuing_state = take_trimmed(&mut data.issuing_country);
    let nationality = take_trimmed(&mut data.nationality);
    country_code(format, Field::IssuingState, &issuing_state, &mut problems);
    country_code(format, Field::Nationality, &nationality, &mut problems);
    let personal_number = data
        .optional_data_1
        .take()
        .map(|mut p| take_trimmed(&mut p))
        .unwrap_or_default();
    let national_id = national_id(format, &issuing_state, &personal_number, sex, &mut problems);
    TravelDocument {
        format,
        document_code: take_trimmed(&mut data.document_type),
        issuing_state,
        document_number,
        surname: std::mem::take(&mut data.surname),
        given_names: std::mem::take(&mut data.given_names),
        nationality,
        date_of_birth,
        sex,
        date_of_expiry,
        personal_number,
        optional_data: data
            .optional_data_2
            .take()
            .map(|mut p| take_trimmed(&mut p))
            .unwrap_or_default(),
        national_id,
        checks,
        repairs,
        problems,
    }
}

/// The five check digits in the crate's order, with positions.
/// `overflow_len` is the full document number's length when it overflowed its field.
fn checks(format: MrzFormat, c: &::mrz::Checks, overflow_len: Option<usize>) -> Vec<Check> {
    let mut positions = check_positions(format);
    if let Some(len) = overflow_len {
        positions[0] = overflow_check_position(format, len).or(positions[0]);
    }
    let verdicts = [
        (Field::DocumentNumber, c.document_number),
        (Field::DateOfBirth, c.date_of_birth),
        (Field::DateOfExpiry, c.date_of_expiry),
        (Field::PersonalNumber, c.personal_number),
        (Field::Composite, c.composite),
    ];
    let mut out = Vec::with_capacity(verdicts.len());
    for ((field, verdict), position) in verdicts.into_iter().zip(positions) {
        let verdict = match verdict {
            Some(true) => CheckVerdict::Verified,
            Some(false) => CheckVerdict::Refuted,
            None => CheckVerdict::NotPrinted,
        };
        let (line, column) = match verdict {
            CheckVerdict::NotPrinted => (0, 0),
            _ => position.unwrap_or((0, 0)),
        };
        out.push(Check {
            field,
            verdict,
            line,
            column,
        });
    }
    out
}

fn problem(format: MrzFormat, kind: ProblemKind, field: Field, message: String) -> Problem {
    let (line, column) = field_start(format, field);
    Problem {
        kind,
        field,
        line,
        column,
        message: format!("line {line}, column {column}: {message}"),
    }
}

/// The date of birth, as precise as the issuer printed it. Partial dates (`7408<<`) keep the
/// year and month; the century of a partial year follows the same crate rule as a full date.
fn date_of_birth(
    format: MrzFormat,
    date: ::mrz::MrzDate,
    problems: &mut Vec<Problem>,
) -> Option<PartialDate> {
    use ::mrz::MrzDate as D;
    let unknown = |problems: &mut Vec<Problem>, what: &str| {
        problems.push(problem(
            format,
            ProblemKind::UnknownDate,
            Field::DateOfBirth,
            format!("the date of birth is {what} (the issuer printed fillers)"),
        ));
    };
    match date {
        D::Calendar(d) => {
            let full = PartialDate::full(
                u16::try_from(d.year).ok()?,
                u8::try_from(d.month).ok()?,
                u8::try_from(d.day).ok()?,
            );
            full.ok()
        }
        D::PartiallyUnknown(raw) => {
            let partial = partial_birth_date(raw.as_str());
            unknown(problems, "partly unknown");
            partial
        }
        D::Unknown => {
            unknown(problems, "unknown");
            None
        }
        other => {
            problems.push(problem(
                format,
                ProblemKind::InvalidDate,
                Field::DateOfBirth,
                format!("the date of birth '{other}' is not a calendar date"),
            ));
            None
        }
    }
}

/// `YYMM<<` → year and month, `YY<<<<` → year; anything else → `None`.
fn partial_birth_date(raw: &str) -> Option<PartialDate> {
    let digits = |s: Option<&str>| {
        s.filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u8>().ok())
    };
    let yy = digits(raw.get(0..2))?;
    // The crate's century rule, applied through the crate rather than restated.
    let field = ::mrz::RawDateField::try_from(format!("{yy:02}0101").as_str()).ok()?;
    let year = ::mrz::MrzDate::from_field(field, ::mrz::DateRole::Birth, ::mrz::CURRENT_YY)
        .calendar()?
        .year;
    let year = u16::try_from(year).ok()?;
    let month = digits(raw.get(2..4)).filter(|m| (1..=12).contains(m));
    Some(PartialDate {
        year,
        month,
        day: None,
    })
}

/// The expiry must be a calendar date: fillers there are a tolerance of the crate's parser, not
/// something Doc 9303 allows.
fn date_of_expiry(
    format: MrzFormat,
    date: ::mrz::MrzDate,
    problems: &mut Vec<Problem>,
) -> Option<NaiveDate> {
    let naive = date
        .calendar()
        .and_then(|d| NaiveDate::from_ymd_opt(d.year, d.month, d.day));
    if naive.is_none() {
        problems.push(problem(
            format,
            ProblemKind::InvalidDate,
            Field::DateOfExpiry,
            format!("the date of expiry '{date}' is not a calendar date"),
        ));
    }
    naive
}

fn sex(format: MrzFormat, sex: ::mrz::Sex, problems: &mut Vec<Problem>) -> Sex {
    match sex {
        ::mrz::Sex::Male => Sex::Male,
        ::mrz::Sex::Female => Sex::Female,
        ::mrz::Sex::Unspecified => Sex::Unspecified,
        other => {
            problems.push(problem(
                format,
                ProblemKind::NonConformantSex,
                Field::Sex,
                format!(
                    "the sex cell is '{}'; the MRZ prints M, F or < (read as unspecified)",
                    other.zone_char()
                ),
            ));
            Sex::Unspecified
        }
    }
}

/// The `mrz` crate's ICAO/ISO country registry, packed and sorted for binary search.
/// `mrz::country_name` scans its table linearly with string compares (~0.5 µs per lookup,
/// measured), which alone would blow the per-document budget; the data stays the crate's, only
/// the lookup is ours.
static COUNTRY_CODES: std::sync::LazyLock<Vec<u32>> = std::sync::LazyLock::new(|| {
    let mut codes: Vec<u32> = ::mrz::codes()
        .iter()
        .filter_map(|&(code, _)| pack_code(code))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
});

/// A 1-3 letter code as one integer (`None` when longer).
fn pack_code(code: &str) -> Option<u32> {
    if code.len() > 3 {
        return None;
    }
    Some(code.bytes().fold(0u32, |acc, b| (acc << 8) | u32::from(b)))
}

fn is_known_country(code: &str) -> bool {
    pack_code(code).is_some_and(|key| COUNTRY_CODES.binary_search(&key).is_ok())
}

fn country_code(format: MrzFormat, field: Field, code: &str, problems: &mut Vec<Problem>) {
    if !code.is_empty() && !is_known_country(code) {
        problems.push(problem(
            format,
            ProblemKind::UnknownCountryCode,
            field,
            format!(
                "{} '{code}' is not an ICAO country code",
                field.as_str().replace('_', " ")
            ),
        ));
    }
}

/// A 13-digit personal number (TD3) or primary optional data (TD1, TD2) on a document issued by
/// PAK is the holder's CNIC. Visas are excluded: a visa's optional data is the issuer's own
/// reference, and its holder is usually not Pakistani. The CNIC's parity is cross-checked with
/// the MRZ sex.
fn national_id(
    format: MrzFormat,
    issuing_state: &str,
    personal_number: &str,
    sex: Sex,
    problems: &mut Vec<Problem>,
) -> Option<Cnic> {
    if issuing_state != "PAK"
        || format.is_visa()
        || personal_number.len() != 13
        || !personal_number.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cnic = Cnic::parse(personal_number).ok()?;
    if sex != Sex::Unspecified && cnic.sex() != sex {
        let (line, start) = field_start(format, Field::PersonalNumber);
        let column = start + 12;
        problems.push(Problem {
            kind: ProblemKind::CnicSexMismatch,
            field: Field::NationalId,
            line,
            column,
            message: format!(
                "line {line}, column {column}: the CNIC's last digit says {} but the MRZ sex is {}",
                if cnic.sex() == Sex::Male {
                    "male (odd)"
                } else {
                    "female (even)"
                },
                sex_zone_char(sex)
            ),
        });
    }
    Some(cnic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packed_country_lookup_agrees_with_the_mrz_crate() {
        for (code, _) in ::mrz::codes() {
            assert!(is_known_country(code), "{code}");
        }
        for code in ["QQQ", "ABCD", "", "P4K", "<<<"] {
            assert_eq!(
                is_known_country(code),
                ::mrz::country_name(code).is_some(),
                "{code}"
            );
        }
    }
}
