//! Identity queries and how a candidate entry is scored against one: name similarity, date of
//! birth, sex, nationality and father's name, the match kind, and whether the match is strong
//! enough for the machine to act beyond SECOND_CHECK. Candidate generation lives in
//! [`crate::index`]; this module only judges a candidate.
//!
//! # Thresholds and their limits
//! The defaults ([`Thresholds::STANDARD`]) were tuned on the synthetic quality set
//! (`tests/quality.rs`). They state what the machine will and will not do:
//! - A name match is reported at [`Thresholds::report`] and above (name similarity at least
//!   [`Thresholds::name_min`]). Below it the entry is not shown at all.
//! - `NAME_DOB` (strong) needs name similarity ≥ [`Thresholds::strong_name`] **and** the full
//!   date of birth equal on both sides, and no contradicting sex or father's name. A listed
//!   year-month or year, or a day/month swap, corroborates only weakly: such a match is
//!   `NAME_ONLY` (SECOND_CHECK) and a human decides. Why not year-month: on common names
//!   (MUHAMMAD ALI KHAN) a shared birth month among a million entries is a coincidence often
//!   enough that the machine would offload namesakes; a full date is thirty times rarer.
//! - A date of birth whose year differs from the listed one by more than
//!   [`Thresholds::dob_year_tolerance`] is not a name candidate at all: such an entry is found
//!   only by document number or national ID. The same holds for a name with no token in common
//!   with the list (no exact, phonetic, one-typo or truncation link) — a transliteration neither
//!   in the tables nor within one edit is missed.
//! - Document numbers match only with a compatible nationality / issuing state (a number alone
//!   from another state is not a DOCUMENT match); national IDs match on all 13 digits.

use checkpost_document::{Cnic, Identity, PartialDate, Sex};

use crate::{Decision, EntryId, ListKind, MatchKind};

/// What a post knows about a traveller, as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Query {
    /// Surname (MRZ primary identifier).
    pub surname: String,
    /// Given names (MRZ secondary identifier).
    pub given_names: String,
    /// Date of birth, possibly partial.
    pub dob: Option<PartialDate>,
    /// Sex.
    pub sex: Sex,
    /// ICAO 3-letter nationality.
    pub nationality: Option<String>,
    /// ICAO 3-letter issuing state of the document.
    pub issuing_state: Option<String>,
    /// Document number.
    pub document_number: Option<String>,
    /// National ID (CNIC).
    pub national_id: Option<Cnic>,
    /// Father's name, when known (not in an MRZ; from a CNIC or an officer).
    pub father_name: Option<String>,
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl From<&Identity> for Query {
    fn from(id: &Identity) -> Self {
        Query {
            surname: id.surname.clone(),
            given_names: id.given_names.clone(),
            dob: id.date_of_birth,
            sex: id.sex,
            nationality: non_empty(&id.nationality),
            issuing_state: non_empty(&id.issuing_state),
            document_number: non_empty(&id.document_number),
            national_id: id.national_id.clone(),
            father_name: None,
        }
    }
}

/// One watchlist entry that matched a query.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Match {
    /// Index of the entry in the snapshot's entries.
    pub entry: u32,
    /// HQ's id of the entry.
    pub entry_id: EntryId,
    /// The list the entry is on.
    pub list: ListKind,
    /// How it matched (the strongest way, when several).
    pub kind: MatchKind,
    /// Score in [0, 1]; 1 for document and national-ID matches.
    pub score: f32,
    /// Canonical name tokens of the entry that matched, so a reviewer can see why.
    pub matched_tokens: Vec<String>,
    /// May the machine escalate beyond SECOND_CHECK on this match alone.
    pub strong: bool,
    /// The entry's action, capped at SECOND_CHECK when not `strong`.
    pub level: Decision,
}

/// The limits of name matching. See the module documentation for what each one means for
/// officers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimum combined score (name similarity adjusted by DOB, sex, nationality, father's name)
    /// for a name match to be reported.
    pub report: f32,
    /// Minimum name similarity for a name match to be reported at all.
    pub name_min: f32,
    /// Minimum name similarity for a `NAME_DOB` (strong) match.
    pub strong_name: f32,
    /// Years a listed date of birth may differ from the document's and still make the entry a
    /// name candidate (0: same year only).
    pub dob_year_tolerance: u16,
    /// Length of `SURNAME<<GIVEN NAMES` from which the last given name is treated as possibly
    /// truncated: the shortest MRZ name field (TD1) holds 30 characters, less one for a cut that
    /// lands on a filler (trimmed by the MRZ reader).
    pub truncation_min_len: usize,
}

impl Thresholds {
    /// The defaults, tuned on `tests/quality.rs`.
    pub const STANDARD: Thresholds = Thresholds {
        report: 0.80,
        name_min: 0.80,
        strong_name: 0.92,
        dob_year_tolerance: 0,
        truncation_min_len: 29,
    };
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::STANDARD
    }
}

/// How a query's date of birth agrees with a listed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DobAgreement {
    /// Both full and equal.
    Exact,
    /// Same year and month; at least one side knows no day.
    Month,
    /// Same year; at least one side knows only the year.
    Year,
    /// Both full, same year, day and month swapped.
    Swapped,
    /// One side does not know the date of birth.
    Unknown,
    /// Both known and contradicting.
    Conflict,
}

impl DobAgreement {
    /// Compares a query's date of birth with a listed one.
    pub fn of(query: Option<PartialDate>, listed: Option<PartialDate>) -> Self {
        let (Some(q), Some(e)) = (query, listed) else {
            return Self::Unknown;
        };
        if q.year != e.year {
            return Self::Conflict;
        }
        match (q.month, e.month) {
            (Some(qm), Some(em)) => match (q.day, e.day) {
                (Some(qd), Some(ed)) if qm == em && qd == ed => Self::Exact,
                (Some(qd), Some(ed)) if qm == ed && qd == em => Self::Swapped,
                (Some(_), Some(_)) => Self::Conflict,
                _ if qm == em => Self::Month,
                _ => Self::Conflict,
            },
            _ => Self::Year,
        }
    }

    /// True when the date of birth corroborates a name enough for a strong match: only a full
    /// date that agrees (see the module docs for why a listed year-month is not enough).
    pub fn corroborates(self) -> bool {
        matches!(self, Self::Exact)
    }

    /// What this agreement adds to (or takes from) a name score.
    pub(crate) fn adjustment(self) -> f32 {
        match self {
            Self::Exact => 0.10,
            Self::Month => 0.07,
            Self::Year | Self::Swapped => 0.03,
            // Nothing corroborates: a name that is not whole (a dropped or extra token) is then
            // too weak to report.
            Self::Unknown => -0.10,
            Self::Conflict => -0.25,
        }
    }
}

/// Evidence beyond the name, for one candidate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evidence {
    pub(crate) name: f32,
    pub(crate) dob: DobAgreement,
    pub(crate) sex_conflict: bool,
    pub(crate) nationality_conflict: bool,
    /// `Some(true)`: father's names agree; `Some(false)`: they contradict; `None`: unknown.
    pub(crate) father: Option<bool>,
}

/// What an agreeing father's name adds to a name match's score (the most anything but the name
/// and the date of birth can add; the index uses it to drop candidates early).
pub(crate) const FATHER_AGREES_BONUS: f32 = 0.05;

/// The verdict on one name candidate: `None` when not reported.
pub(crate) fn judge(ev: &Evidence, t: &Thresholds) -> Option<(f32, bool)> {
    if ev.name < t.name_min {
        return None;
    }
    let mut score = ev.name + ev.dob.adjustment();
    if ev.sex_conflict {
        score -= 0.15;
    }
    if ev.nationality_conflict {
        score -= 0.05;
    }
    match ev.father {
        Some(true) => score += FATHER_AGREES_BONUS,
        Some(false) => score -= 0.20,
        None => {}
    }
    let score = score.clamp(0.0, 1.0);
    if score < t.report {
        return None;
    }
    let strong = ev.name >= t.strong_name
        && ev.dob.corroborates()
        && !ev.sex_conflict
        && ev.father != Some(false);
    Some((score, strong))
}

/// True when both sexes are known and differ.
pub(crate) fn sex_conflict(a: Sex, b: Sex) -> bool {
    a != Sex::Unspecified && b != Sex::Unspecified && a != b
}

/// The level a match gives on its own: the entry's action, capped at SECOND_CHECK when weak.
pub fn level_for(action: Decision, strong: bool) -> Decision {
    if strong {
        action
    } else {
        action.min(Decision::SecondCheck)
    }
}

/// The decision level the matcher alone gives for a set of matches (CLEAR when none).
pub fn decision(matches: &[Match]) -> Decision {
    matches
        .iter()
        .map(|m| m.level)
        .max()
        .unwrap_or(Decision::Clear)
}

/// Upper-case letters and digits of a document number, fillers and spaces removed.
pub fn normalize_document_number(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<PartialDate> {
        Some(PartialDate::parse(s).unwrap())
    }

    #[test]
    fn dob_agreement_at_each_precision() {
        assert_eq!(
            DobAgreement::of(d("1985-04-12"), d("1985-04-12")),
            DobAgreement::Exact
        );
        assert_eq!(
            DobAgreement::of(d("1985-04-12"), d("1985-04")),
            DobAgreement::Month
        );
        assert_eq!(
            DobAgreement::of(d("1985-04-12"), d("1985")),
            DobAgreement::Year
        );
        assert_eq!(
            DobAgreement::of(d("1985-04-12"), d("1985-12-04")),
            DobAgreement::Swapped
        );
        assert_eq!(
            DobAgreement::of(d("1985-04-12"), d("1985-05")),
            DobAgreement::Conflict
        );
        assert_eq!(
            DobAgreement::of(d("1985-04-12"), d("1986-04-12")),
            DobAgreement::Conflict
        );
        assert_eq!(
            DobAgreement::of(None, d("1986-04-12")),
            DobAgreement::Unknown
        );
    }

    #[test]
    fn weak_matches_are_capped_at_second_check() {
        assert_eq!(level_for(Decision::Detain, false), Decision::SecondCheck);
        assert_eq!(level_for(Decision::Detain, true), Decision::Detain);
        assert_eq!(
            level_for(Decision::SecondCheck, true),
            Decision::SecondCheck
        );
    }
}
