//! Does a visa belong to the passport in hand, and is it valid today? One place for the rules,
//! used for sealed e-visas and for register records alike. Each disagreement is its own reason.
//!
//! - passport number: equal after removing spaces, `<` fillers and case;
//! - name: the watchlist normalizer's `same_name` (transliteration variants, honorifics, token
//!   order, MRZ truncation), so `MOHD ALI KHAN` on the visa matches `KHAN<<MUHAMMAD<ALI`;
//! - date of birth: equal where both are known to the day; a partial date must agree on the
//!   parts it has;
//! - nationality: equal ICAO codes (`D` and `DEU` are not folded: the MRZ prints `D<<`);
//! - validity: `valid_from <= today <= valid_until`.

use checkpost_document::{Identity, PartialDate};
use chrono::NaiveDate;

use crate::report::{Reason, ReasonCode};

/// Whom a visa was issued to, as the seal or the register says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// Passport number the visa was issued against.
    pub passport_number: String,
    /// Full name, surname first, upper case.
    pub name: String,
    /// Date of birth.
    pub date_of_birth: Option<PartialDate>,
    /// ICAO 3-letter nationality.
    pub nationality: String,
}

/// Every way `holder` disagrees with the passport's MRZ identity.
pub fn holder_reasons(holder: &Holder, mrz: &Identity) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let doc = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    if doc(&holder.passport_number) != doc(&mrz.document_number) {
        reasons.push(Reason::new(
            ReasonCode::VisaPassportMismatch,
            "the visa was issued for another passport number than the one presented".into(),
        ));
    }
    let mrz_name = format!("{} {}", mrz.surname, mrz.given_names);
    if !same_name(&holder.name, &mrz_name) {
        reasons.push(Reason::new(
            ReasonCode::VisaNameMismatch,
            format!(
                "the visa names '{}', the passport '{}'",
                holder.name,
                mrz_name.trim()
            ),
        ));
    }
    if let (Some(a), Some(b)) = (holder.date_of_birth, mrz.date_of_birth) {
        if !dates_agree(a, b) {
            reasons.push(Reason::new(
                ReasonCode::VisaDobMismatch,
                format!("the visa gives date of birth {a}, the passport {b}"),
            ));
        }
    }
    if !holder
        .nationality
        .trim()
        .eq_ignore_ascii_case(mrz.nationality.trim())
    {
        reasons.push(Reason::new(
            ReasonCode::VisaNationalityMismatch,
            format!(
                "the visa gives nationality {}, the passport {}",
                holder.nationality, mrz.nationality
            ),
        ));
    }
    reasons
}

/// A reason when `today` is outside `[from, until]`.
pub fn validity_reason(from: NaiveDate, until: NaiveDate, today: NaiveDate) -> Option<Reason> {
    if today < from {
        Some(Reason::new(
            ReasonCode::VisaNotYetValid,
            format!("the visa is valid from {from}; today is {today}"),
        ))
    } else if today > until {
        Some(Reason::new(
            ReasonCode::VisaExpired,
            format!("the visa expired on {until}; today is {today}"),
        ))
    } else {
        None
    }
}

fn dates_agree(a: PartialDate, b: PartialDate) -> bool {
    a.year == b.year
        && (a.month.is_none() || b.month.is_none() || a.month == b.month)
        && (a.day.is_none() || b.day.is_none() || a.day == b.day)
}

/// Name equality through the watchlist normalizer (one idea, one place).
fn same_name(a: &str, b: &str) -> bool {
    checkpost_watchlist::normalize::Normalizer::standard().same_name(a, b)
}
