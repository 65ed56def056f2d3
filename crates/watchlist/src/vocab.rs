//! The vocabulary every layer above the document shares: how severe a decision is, which way a
//! passenger crosses, which list an entry is on, and how a match was made.

use std::fmt;
use std::str::FromStr;

/// The answer to a screening, ordered by severity (`Clear < SecondCheck < Offload < Detain`), so
/// that the decision for a passenger is the `max` of every check's level.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum Decision {
    /// Every check ran and none objected.
    #[default]
    Clear,
    /// A human at the second-check counter decides.
    SecondCheck,
    /// The passenger does not travel / enter.
    Offload,
    /// The passenger is held.
    Detain,
}

impl Decision {
    /// The wire / CSV spelling: `CLEAR`, `SECOND_CHECK`, `OFFLOAD`, `DETAIN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "CLEAR",
            Self::SecondCheck => "SECOND_CHECK",
            Self::Offload => "OFFLOAD",
            Self::Detain => "DETAIN",
        }
    }
}

/// Which way the passenger crosses the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// Leaving the country.
    Departure,
    /// Entering the country.
    Arrival,
}

impl Direction {
    /// The wire / CSV spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Departure => "DEPARTURE",
            Self::Arrival => "ARRIVAL",
        }
    }
}

/// The lists a post holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ListKind {
    /// Persons barred from travel or entry.
    Blacklist,
    /// Exit Control List: departures only.
    Ecl,
    /// Passport Control List.
    Pcl,
    /// Proclaimed offenders.
    Po,
    /// Stolen and lost travel documents.
    Sltd,
    /// Blocked CNICs.
    CnicBlock,
}

impl ListKind {
    /// Every list, in a stable order (used for per-list counts).
    pub const ALL: [ListKind; 6] = [
        Self::Blacklist,
        Self::Ecl,
        Self::Pcl,
        Self::Po,
        Self::Sltd,
        Self::CnicBlock,
    ];

    /// The CSV / wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blacklist => "BLACKLIST",
            Self::Ecl => "ECL",
            Self::Pcl => "PCL",
            Self::Po => "PO",
            Self::Sltd => "SLTD",
            Self::CnicBlock => "CNIC_BLOCK",
        }
    }

    /// Directions an entry of this list applies to when its row names none. The ECL is about
    /// leaving the country; every other list applies both ways.
    pub fn default_directions(self) -> &'static [Direction] {
        match self {
            Self::Ecl => &[Direction::Departure],
            _ => &[Direction::Departure, Direction::Arrival],
        }
    }
}

/// How an entry was matched. Only the first three are strong enough for OFFLOAD/DETAIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MatchKind {
    /// Document number (with issuing state / nationality) is listed.
    Document,
    /// National ID is listed.
    NationalId,
    /// Name matches and the date of birth corroborates it.
    NameDob,
    /// Name matches with nothing to corroborate it.
    NameOnly,
}

impl MatchKind {
    /// True when the machine may act on this match beyond SECOND_CHECK (DESIGN: "a machine only
    /// escalates on strong identity").
    pub fn is_strong(self) -> bool {
        !matches!(self, Self::NameOnly)
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Document => "DOCUMENT",
            Self::NationalId => "NATIONAL_ID",
            Self::NameDob => "NAME_DOB",
            Self::NameOnly => "NAME_ONLY",
        }
    }
}

/// A spelling that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {what}; expected one of {expected}")]
pub struct UnknownValue {
    /// What was being parsed ("list", "action", "direction").
    pub what: &'static str,
    /// The value found.
    pub value: String,
    /// The accepted spellings.
    pub expected: &'static str,
}

macro_rules! from_str_by_name {
    ($ty:ty, $what:literal, $expected:literal, [$($v:expr),+]) => {
        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                [$($v),+]
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| UnknownValue { what: $what, value: t.to_string(), expected: $expected })
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

from_str_by_name!(
    Decision,
    "decision",
    "CLEAR, SECOND_CHECK, OFFLOAD, DETAIN",
    [
        Decision::Clear,
        Decision::SecondCheck,
        Decision::Offload,
        Decision::Detain
    ]
);
from_str_by_name!(
    Direction,
    "direction",
    "DEPARTURE, ARRIVAL",
    [Direction::Departure, Direction::Arrival]
);
from_str_by_name!(
    ListKind,
    "list",
    "BLACKLIST, ECL, PCL, PO, SLTD, CNIC_BLOCK",
    [
        ListKind::Blacklist,
        ListKind::Ecl,
        ListKind::Pcl,
        ListKind::Po,
        ListKind::Sltd,
        ListKind::CnicBlock
    ]
);
from_str_by_name!(
    MatchKind,
    "match kind",
    "DOCUMENT, NATIONAL_ID, NAME_DOB, NAME_ONLY",
    [
        MatchKind::Document,
        MatchKind::NationalId,
        MatchKind::NameDob,
        MatchKind::NameOnly
    ]
);

/// HQ's id for an entry; a newtype so it is never confused with a case or screening id.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct EntryId(pub String);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_order_by_severity() {
        assert!(Decision::Clear < Decision::SecondCheck);
        assert!(Decision::SecondCheck < Decision::Offload);
        assert!(Decision::Offload < Decision::Detain);
    }

    #[test]
    fn spellings_round_trip_and_unknown_values_name_the_choices() {
        for l in ListKind::ALL {
            assert_eq!(l.as_str().parse::<ListKind>(), Ok(l));
        }
        assert_eq!(
            "second_check".parse::<Decision>(),
            Ok(Decision::SecondCheck)
        );
        let err = "EXIT".parse::<ListKind>().unwrap_err();
        assert!(err.to_string().contains("CNIC_BLOCK"), "{err}");
    }

    #[test]
    fn ecl_applies_to_departures_only_by_default() {
        assert_eq!(ListKind::Ecl.default_directions(), &[Direction::Departure]);
        assert!(
            ListKind::Blacklist
                .default_directions()
                .contains(&Direction::Arrival)
        );
    }
}
