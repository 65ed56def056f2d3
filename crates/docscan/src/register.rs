//! The issued-visa register: the offline form of online visa verification. Ops export it as CSV
//! (header row, one visa a row) and load it like a watchlist; a QR that carries only a visa
//! number is looked up here, and the record is then cross-checked against the MRZ exactly as a
//! seal would be ([`crate::crosscheck`]). A sealed visa whose number is on the register as
//! revoked or cancelled is refused too.
//!
//! Columns: `visa_number, passport_number, name, dob, nationality, valid_from, valid_until,
//! status` with dates as `YYYY-MM-DD` (`dob` may be `YYYY-MM` or `YYYY`) and status one of
//! `ISSUED`, `REVOKED`, `CANCELLED`.

use std::collections::HashMap;
use std::io::Read;

use checkpost_document::PartialDate;
use chrono::NaiveDate;

use crate::Error;
use crate::crosscheck::Holder;

/// Where an issued visa stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum VisaStatus {
    /// Issued and not withdrawn.
    Issued,
    /// Withdrawn by the issuer.
    Revoked,
    /// Cancelled (e.g. on request, or replaced).
    Cancelled,
}

impl VisaStatus {
    /// The CSV spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "ISSUED",
            Self::Revoked => "REVOKED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// One row of the register.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VisaRecord {
    /// Visa number as issued.
    pub visa_number: String,
    /// Whom it was issued to.
    pub holder: Holder,
    /// First day of validity.
    pub valid_from: NaiveDate,
    /// Last day of validity.
    pub valid_until: NaiveDate,
    /// Current status.
    pub status: VisaStatus,
}

/// The register, keyed by visa number (upper case, separators removed).
#[derive(Debug, Clone, Default)]
pub struct VisaRegister {
    by_number: HashMap<String, VisaRecord>,
}

const COLUMNS: [&str; 8] = [
    "visa_number",
    "passport_number",
    "name",
    "dob",
    "nationality",
    "valid_from",
    "valid_until",
    "status",
];

/// The lookup key of a visa number: upper case, letters and digits only.
pub fn visa_key(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl VisaRegister {
    /// Reads the CSV export. Every row is validated; the first bad one is the error, naming
    /// its line and column.
    pub fn from_csv(reader: impl Read) -> Result<Self, Error> {
        let mut csv = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers = csv
            .headers()
            .map_err(|e| Error::RegisterSyntax {
                line: 1,
                message: e.to_string(),
            })?
            .clone();
        let mut index = [0usize; 8];
        for (i, col) in COLUMNS.iter().enumerate() {
            index[i] = headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(col))
                .ok_or_else(|| Error::RegisterSyntax {
                    line: 1,
                    message: format!("header has no '{col}' column"),
                })?;
        }
        let mut by_number = HashMap::new();
        for row in csv.records() {
            let row = row.map_err(|e| Error::RegisterSyntax {
                line: e.position().map_or(0, |p| p.line()),
                message: e.to_string(),
            })?;
            let line = row.position().map_or(0, |p| p.line());
            let get = |i: usize| row.get(index[i]).unwrap_or("");
            let bad = |field: &'static str, message: String| Error::RegisterField {
                line,
                field,
                message,
            };
            let day = |i: usize| {
                NaiveDate::parse_from_str(get(i), "%Y-%m-%d")
                    .map_err(|_| bad(COLUMNS[i], format!("'{}' is not a YYYY-MM-DD date", get(i))))
            };
            let required = |i: usize| {
                let v = get(i);
                if v.is_empty() {
                    Err(bad(COLUMNS[i], "is empty".into()))
                } else {
                    Ok(v.to_uppercase())
                }
            };
            let status = match get(7).to_ascii_uppercase().as_str() {
                "ISSUED" => VisaStatus::Issued,
                "REVOKED" => VisaStatus::Revoked,
                "CANCELLED" => VisaStatus::Cancelled,
                other => {
                    return Err(bad(
                        "status",
                        format!("'{other}' is not ISSUED, REVOKED or CANCELLED"),
                    ));
                }
            };
            let dob = match get(3) {
                "" => None,
                s => Some(PartialDate::parse(s).map_err(|e| bad("dob", e.to_string()))?),
            };
            let record = VisaRecord {
                visa_number: required(0)?,
                holder: Holder {
                    passport_number: required(1)?,
                    name: required(2)?,
                    date_of_birth: dob,
                    nationality: required(4)?,
                },
                valid_from: day(5)?,
                valid_until: day(6)?,
                status,
            };
            let key = visa_key(&record.visa_number);
            if by_number.insert(key, record).is_some() {
                return Err(bad("visa_number", "appears twice in the register".into()));
            }
        }
        Ok(Self { by_number })
    }

    /// The record for `visa_number`, compared without case or separators.
    pub fn get(&self, visa_number: &str) -> Option<&VisaRecord> {
        self.by_number.get(&visa_key(visa_number))
    }

    /// Number of visas.
    pub fn len(&self) -> usize {
        self.by_number.len()
    }

    /// True when the register holds no visa.
    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }
}
