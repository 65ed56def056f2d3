//! Values shared by every checkpost crate: sex, (partial) dates and the Pakistani CNIC.
//! Each is parsed in exactly one place, here.

use std::fmt;

/// A person's sex as documents and watchlists record it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum Sex {
    /// M.
    Male,
    /// F.
    Female,
    /// X, `<`, or not recorded.
    #[default]
    Unspecified,
}

impl Sex {
    /// Reads `M`/`MALE`, `F`/`FEMALE`, `X`/`<`/empty (any case, surrounding spaces ignored).
    /// Returns `None` for anything else so that callers can report the bad value.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "M" | "MALE" => Some(Self::Male),
            "F" | "FEMALE" => Some(Self::Female),
            "" | "X" | "<" | "U" | "UNSPECIFIED" => Some(Self::Unspecified),
            _ => None,
        }
    }
}

/// Why a date string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[error("'{0}' is not a date: expected YYYY-MM-DD, YYYY-MM or YYYY")]
    Shape(String),
    /// The shape is right but no such day exists.
    #[error("'{0}' is not a calendar date")]
    NotInCalendar(String),
}

/// A date that may be known only to the year or the month, as watchlists and some documents
/// record dates of birth. Ordering is lexical on (year, month, day) with unknown parts first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PartialDate {
    /// Four-digit year.
    pub year: u16,
    /// 1–12, when known.
    pub month: Option<u8>,
    /// 1–31, when known (only with a month).
    pub day: Option<u8>,
}

impl PartialDate {
    /// A full calendar date.
    pub fn full(year: u16, month: u8, day: u8) -> Result<Self, DateError> {
        let d = Self {
            year,
            month: Some(month),
            day: Some(day),
        };
        d.validate()?;
        Ok(d)
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let t = s.trim();
        let bad = || DateError::Shape(t.to_string());
        let num = |p: &str, len: usize| -> Result<u32, DateError> {
            if p.len() == len && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse::<u32>().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let mut parts = t.split('-');
        let year = num(parts.next().ok_or_else(bad)?, 4)? as u16;
        let month = parts
            .next()
            .map(|p| num(p, 2))
            .transpose()?
            .map(|m| m as u8);
        let day = parts
            .next()
            .map(|p| num(p, 2))
            .transpose()?
            .map(|d| d as u8);
        if parts.next().is_some() {
            return Err(bad());
        }
        let d = Self { year, month, day };
        d.validate()?;
        Ok(d)
    }

    fn validate(&self) -> Result<(), DateError> {
        let ok = match (self.month, self.day) {
            (None, None) => true,
            (Some(m), None) => (1..=12).contains(&m),
            (Some(m), Some(d)) => {
                chrono::NaiveDate::from_ymd_opt(self.year.into(), m.into(), d.into()).is_some()
            }
            (None, Some(_)) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(DateError::NotInCalendar(self.to_string()))
        }
    }

    /// The calendar date, when all three parts are known.
    pub fn to_naive(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::from_ymd_opt(self.year.into(), self.month?.into(), self.day?.into())
    }

    /// True when year, month and day are all known.
    pub fn is_full(&self) -> bool {
        self.day.is_some()
    }
}

impl From<chrono::NaiveDate> for PartialDate {
    fn from(d: chrono::NaiveDate) -> Self {
        use chrono::Datelike;
        Self {
            year: d.year() as u16,
            month: Some(d.month() as u8),
            day: Some(d.day() as u8),
        }
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        Ok(())
    }
}

/// Why a CNIC was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CnicError {
    /// Not 13 digits once dashes and spaces are removed.
    #[error("CNIC '{0}' must be 13 digits (dashes allowed as 12345-1234567-1)")]
    Shape(String),
}

/// A Pakistani Computerised National Identity Card number: 13 digits, stored without dashes.
/// The last digit is odd for men and even for women.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Cnic(String);

impl Cnic {
    /// Parses `1234512345671` or `12345-1234567-1` (spaces tolerated).
    pub fn parse(s: &str) -> Result<Self, CnicError> {
        // Fast path for the form MRZs print (13 bare digits): no per-char filtering.
        if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self(s.to_string()));
        }
        let digits: String = s
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect();
        if digits.len() == 13 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(CnicError::Shape(s.trim().to_string()))
        }
    }

    /// The 13 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The sex the last digit encodes: odd for male, even for female.
    pub fn sex(&self) -> Sex {
        match self.0.as_bytes().last() {
            Some(b) if (b - b'0') % 2 == 1 => Sex::Male,
            Some(_) => Sex::Female,
            None => Sex::Unspecified,
        }
    }

    /// The conventional dashed form, `12345-1234567-1`.
    pub fn dashed(&self) -> String {
        format!("{}-{}-{}", &self.0[..5], &self.0[5..12], &self.0[12..])
    }
}

impl fmt::Display for Cnic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn partial_dates_parse_at_each_precision_and_refuse_impossible_days() {
        assert_eq!(PartialDate::parse("1974").unwrap().to_string(), "1974");
        assert_eq!(PartialDate::parse("1974-08").unwrap().month, Some(8));
        assert!(PartialDate::parse("1974-08-12").unwrap().is_full());
        assert!(matches!(
            PartialDate::parse("1974-02-30"),
            Err(DateError::NotInCalendar(_))
        ));
        assert!(matches!(
            PartialDate::parse("74-08-12"),
            Err(DateError::Shape(_))
        ));
        assert!(matches!(
            PartialDate::parse("1974-13"),
            Err(DateError::NotInCalendar(_))
        ));
    }

    #[test]
    fn cnic_accepts_dashes_and_reads_sex_from_last_digit() {
        let male = Cnic::parse("35202-1234567-1").unwrap();
        assert_eq!(male.as_str(), "3520212345671");
        assert_eq!(male.sex(), Sex::Male);
        assert_eq!(male.dashed(), "35202-1234567-1");
        assert_eq!(Cnic::parse("3520212345678").unwrap().sex(), Sex::Female);
        assert!(Cnic::parse("35202-123456-1").is_err());
        assert!(Cnic::parse("35202-1234567-X").is_err());
    }
}
