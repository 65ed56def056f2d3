//! The parsed travel document and the evidence attached to it: check-digit verdicts, repairs and
//! problems, each with the field and 1-based line/column it is about.

use chrono::NaiveDate;
use serde::Serialize;

use crate::{Cnic, Identity, PartialDate, Sex};

/// How [`parse`](crate::parse) treats the text it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// Let the `mrz` crate repair OCR misreads, accepted only when every check digit then agrees
    /// (see [`Repair`]). Off by default: a counter reads printed documents, and an unexpected
    /// "repair" there is more likely an altered document than a misread.
    pub repair: bool,
}

/// The ICAO 9303 layout a machine-readable zone was printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MrzFormat {
    /// ID card: 3 lines of 30.
    Td1,
    /// Official travel document / ID card: 2 lines of 36.
    Td2,
    /// Passport: 2 lines of 44.
    Td3,
    /// Visa, type A: 2 lines of 44.
    MrvA,
    /// Visa, type B: 2 lines of 36.
    MrvB,
}

impl MrzFormat {
    /// `"TD1"`, `"TD2"`, `"TD3"`, `"MRV-A"` or `"MRV-B"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Td1 => "TD1",
            Self::Td2 => "TD2",
            Self::Td3 => "TD3",
            Self::MrvA => "MRV-A",
            Self::MrvB => "MRV-B",
        }
    }

    /// Number of lines in the zone.
    pub fn lines(self) -> usize {
        match self {
            Self::Td1 => 3,
            Self::Td2 | Self::Td3 | Self::MrvA | Self::MrvB => 2,
        }
    }

    /// Characters per line.
    pub fn width(self) -> usize {
        match self {
            Self::Td1 => 30,
            Self::Td2 | Self::MrvB => 36,
            Self::Td3 | Self::MrvA => 44,
        }
    }

    /// True for the two visa formats.
    pub fn is_visa(self) -> bool {
        matches!(self, Self::MrvA | Self::MrvB)
    }
}

impl std::fmt::Display for MrzFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MrzFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A field of the machine-readable zone, named as [`Field::as_str`] spells it in JSON, the
/// gRPC contract and reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Document code (`P`, `PK`, `V`, `ID`, …).
    DocumentCode,
    /// Issuing state or organisation.
    IssuingState,
    /// Document number (with its check digit).
    DocumentNumber,
    /// Surname and given names.
    Name,
    /// Nationality.
    Nationality,
    /// Date of birth (with its check digit).
    DateOfBirth,
    /// Sex cell.
    Sex,
    /// Date of expiry (with its check digit).
    DateOfExpiry,
    /// TD3 personal number, or the primary optional-data element of the other formats.
    PersonalNumber,
    /// TD1's second optional-data element (line 2).
    OptionalData,
    /// The composite check digit.
    Composite,
    /// The national identity number read from the document (e.g. the CNIC).
    NationalId,
}

impl Field {
    /// Snake-case name: `"document_number"`, `"date_of_birth"`, `"composite"`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DocumentCode => "document_code",
            Self::IssuingState => "issuing_state",
            Self::DocumentNumber => "document_number",
            Self::Name => "name",
            Self::Nationality => "nationality",
            Self::DateOfBirth => "date_of_birth",
            Self::Sex => "sex",
            Self::DateOfExpiry => "date_of_expiry",
            Self::PersonalNumber => "personal_number",
            Self::OptionalData => "optional_data",
            Self::Composite => "composite",
            Self::NationalId => "national_id",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What one printed check digit proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckVerdict {
    /// The printed digit agrees with the field (7-3-1 arithmetic; see the `mrz` crate's
    /// `Blindspot` for the substitutions it cannot see).
    Verified,
    /// The printed digit disagrees: a misread or an altered document.
    Refuted,
    /// This format prints no check digit for the field.
    NotPrinted,
}

impl CheckVerdict {
    /// `"verified"`, `"refuted"` or `"not_printed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Refuted => "refuted",
            Self::NotPrinted => "not_printed",
        }
    }
}

/// One check digit of the zone and its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The field the digit covers ([`Field::Composite`] for the composite).
    pub field: Field,
    /// What the arithmetic said.
    pub verdict: CheckVerdict,
    /// 1-based line of the check digit in the zone; 0 when not printed.
    pub line: u8,
    /// 1-based column of the check digit; 0 when not printed.
    pub column: u8,
}

/// One character the `mrz` crate changed to make the zone's check digits agree (only with
/// [`ParseOptions::repair`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// The field the character belongs to.
    pub field: Field,
    /// 1-based line in the zone.
    pub line: u8,
    /// 1-based column.
    pub column: u8,
    /// The character as read.
    pub from: char,
    /// The character after repair.
    pub to: char,
}

/// The kinds of [`Problem`] a parsed document can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A printed check digit disagrees with its field: misread or altered. Makes the document
    /// invalid.
    CheckDigitFailed,
    /// The CNIC's parity (last digit odd = male, even = female) disagrees with the MRZ sex.
    CnicSexMismatch,
    /// A date field holds six digits that name no calendar day, a non-digit, or (for the expiry)
    /// fillers. Makes the document invalid.
    InvalidDate,
    /// The issuer printed fillers for all or part of the date of birth (allowed by Doc 9303
    /// Part 3 §4.8); the date is partial or unknown.
    UnknownDate,
    /// The sex cell is not `M`, `F` or `<` (an `X`, or a misread: no check digit covers it).
    NonConformantSex,
    /// The issuing state or nationality is not a code in the ICAO registry.
    UnknownCountryCode,
}

impl ProblemKind {
    /// Snake-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckDigitFailed => "check_digit_failed",
            Self::CnicSexMismatch => "cnic_sex_mismatch",
            Self::InvalidDate => "invalid_date",
            Self::UnknownDate => "unknown_date",
            Self::NonConformantSex => "non_conformant_sex",
            Self::UnknownCountryCode => "unknown_country_code",
        }
    }

    /// True when a problem of this kind makes the document invalid (a failed check digit or a
    /// date that is not a date). The others are signals for screening, not defects of the read.
    pub fn invalidates(self) -> bool {
        matches!(self, Self::CheckDigitFailed | Self::InvalidDate)
    }
}

/// Something wrong with a document that still parsed: the field, where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The field it is about.
    pub field: Field,
    /// 1-based line in the zone.
    pub line: u8,
    /// 1-based column (of the check digit for [`ProblemKind::CheckDigitFailed`]).
    pub column: u8,
    /// A sentence for an officer.
    pub message: String,
}

/// A travel document as checkpost read it from its machine-readable zone.
///
/// Text fields are as printed with fillers removed (names: `<` runs as single spaces). Every
/// check digit, repair and problem is listed with its 1-based line and column in the zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TravelDocument {
    /// The layout.
    pub format: MrzFormat,
    /// Document code as printed, trailing filler removed (`P`, `PK`, `V`, `ID`, …).
    pub document_code: String,
    /// ICAO 3-letter issuing state (`D` for Germany is printed `D<<` and read `D`).
    pub issuing_state: String,
    /// Document number without fillers; a long number's overflow is reassembled.
    pub document_number: String,
    /// Primary identifier, `<` runs as single spaces.
    pub surname: String,
    /// Secondary identifier, `<` runs as single spaces.
    pub given_names: String,
    /// ICAO 3-letter nationality.
    pub nationality: String,
    /// Date of birth; partial when the issuer printed fillers for the day or month, `None` when
    /// unknown or unreadable. Century: see [`parse`](crate::parse).
    #[serde(serialize_with = "serialize_partial_date")]
    pub date_of_birth: Option<PartialDate>,
    /// Sex as printed (`X` and other non-conformant cells read as unspecified, with a problem).
    #[serde(serialize_with = "serialize_sex")]
    pub sex: Sex,
    /// Date of expiry; `None` when it is not a calendar date (with a problem).
    pub date_of_expiry: Option<NaiveDate>,
    /// TD3's personal number, or the primary optional-data element of the other formats,
    /// fillers removed (empty when all filler).
    pub personal_number: String,
    /// TD1's second optional-data element (line 2), empty elsewhere.
    pub optional_data: String,
    /// The national identity number, when the document carries one we can read as such: a
    /// 13-digit personal number (TD3) or optional data (TD1) on a document issued by PAK.
    pub national_id: Option<Cnic>,
    /// Every check digit the format defines, in zone order, with its verdict.
    pub checks: Vec<Check>,
    /// Every character changed by repair (empty unless [`ParseOptions::repair`] was set and
    /// a repair was needed and proven).
    pub repairs: Vec<Repair>,
    /// Everything wrong with the document that did not stop it parsing.
    pub problems: Vec<Problem>,
}

impl TravelDocument {
    /// The identity checkpost screens: names, date of birth, sex, nationality, issuing state,
    /// document number and national ID.
    pub fn identity(&self) -> Identity {
        Identity {
            surname: self.surname.clone(),
            given_names: self.given_names.clone(),
            date_of_birth: self.date_of_birth,
            sex: self.sex,
            nationality: self.nationality.clone(),
            issuing_state: self.issuing_state.clone(),
            document_number: self.document_number.clone(),
            national_id: self.national_id.clone(),
        }
    }

    /// True when every check digit this format prints verified. This is consistency of the read,
    /// not validity of the document: see the `mrz` crate's `Blindspot` for the substitutions
    /// no check digit sees, and [`TravelDocument::is_expired`] for the date.
    pub fn check_digits_valid(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.verdict == CheckVerdict::Verified)
            && self
                .checks
                .iter()
                .all(|c| c.verdict != CheckVerdict::Refuted)
    }

    /// True when the read is valid: every check digit verified and no date that is not a date
    /// (no problem whose kind [`invalidates`](ProblemKind::invalidates)). Other problems (CNIC/sex
    /// mismatch, unknown country code, …) are screening signals and leave this true.
    pub fn is_valid(&self) -> bool {
        self.check_digits_valid() && !self.problems.iter().any(|p| p.kind.invalidates())
    }

    /// Days from `today` to the expiry date: 0 on the day of expiry (still valid), negative once
    /// expired. `None` when the expiry is not a calendar date.
    pub fn days_of_validity_left(&self, today: NaiveDate) -> Option<i64> {
        self.date_of_expiry
            .map(|expiry| expiry.signed_duration_since(today).num_days())
    }

    /// True when the document expired before `today` (it is valid through its expiry day).
    /// Fails closed: a document whose expiry cannot be read counts as expired.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        self.days_of_validity_left(today)
            .is_none_or(|days| days < 0)
    }

    /// The check digit verdict for `field`, when the format defines one.
    pub fn check(&self, field: Field) -> Option<&Check> {
        self.checks.iter().find(|c| c.field == field)
    }
}

/// `"1974-08-12"`, `"1974-08"`, `"1974"` or `null`.
fn serialize_partial_date<S: serde::Serializer>(
    d: &Option<PartialDate>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

/// `"M"`, `"F"` or `"<"` (the zone character).
fn serialize_sex<S: serde::Serializer>(sex: &Sex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(sex_zone_char(*sex))
}

/// The MRZ character for a sex: `M`, `F`, `<`.
pub(crate) fn sex_zone_char(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::Unspecified => "<",
    }
}
