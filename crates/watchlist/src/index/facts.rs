//! What the matcher checks on every candidate and every exact hit, per entry, in 16 bytes: the
//! list, the action, the directions and validity window ([`crate::index::applies`]), sex and
//! nationality. With these in the index an entry is read (decoded) only when it is reported.

use checkpost_document::{PartialDate, Sex};
use chrono::{Datelike, NaiveDate};

use crate::{Decision, Direction, Entry, ListKind};

/// Flag bits of [`Facts::flags`].
const DEPARTURE: u8 = 1;
const ARRIVAL: u8 = 2;
const HAS_FROM: u8 = 4;
const HAS_UNTIL: u8 = 8;

/// A nationality too long to pack (more than 3 bytes once trimmed): compared as a string.
pub(super) const LONG_NATIONALITY: u32 = u32::MAX;

/// One entry's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Facts {
    pub(super) list: ListKind,
    pub(super) action: Decision,
    /// Directions the entry applies in (its list's defaults when it names none), and which of
    /// the validity bounds are set.
    flags: u8,
    pub(super) sex: Sex,
    /// [`pack_nationality`] of the listed nationality.
    pub(super) nationality: u32,
    /// First and last day in force, [`pack_day`]ed, when the flags say they are set.
    valid_from: u32,
    valid_until: u32,
}

impl Facts {
    pub(super) fn of(e: &Entry) -> Facts {
        let dirs: &[Direction] = if e.directions.is_empty() {
            e.list.default_directions()
        } else {
            &e.directions
        };
        let mut flags = 0;
        for d in dirs {
            flags |= match d {
                Direction::Departure => DEPARTURE,
                Direction::Arrival => ARRIVAL,
            };
        }
        if e.valid_from.is_some() {
            flags |= HAS_FROM;
        }
        if e.valid_until.is_some() {
            flags |= HAS_UNTIL;
        }
        Facts {
            list: e.list,
            action: e.action,
            flags,
            sex: e.sex,
            nationality: pack_nationality(e.nationality.as_deref()),
            valid_from: e.valid_from.map_or(0, |d| pack_day(d, 1, 1)),
            valid_until: e.valid_until.map_or(0, |d| pack_day(d, 12, 31)),
        }
    }

    /// True when the entry applies in `direction` (`None`: any) and is in force on `today`; an
    /// unknown month or day of a bound reads as the widest (January 1st / December 31st).
    pub(super) fn applies(&self, direction: Option<Direction>, today: NaiveDate) -> bool {
        let bit = match direction {
            None => DEPARTURE | ARRIVAL,
            Some(Direction::Departure) => DEPARTURE,
            Some(Direction::Arrival) => ARRIVAL,
        };
        if self.flags & bit == 0 {
            return false;
        }
        // (year, month, day) in one ordered integer; month and day fit 8 bits each.
        let now = (i64::from(today.year()) << 16) | i64::from((today.month() << 8) | today.day());
        !(self.flags & HAS_FROM != 0 && now < i64::from(self.valid_from)
            || self.flags & HAS_UNTIL != 0 && now > i64::from(self.valid_until))
    }
}

/// A bound of the validity window as one ordered integer: year, month (or `month`), day (or
/// `day`), as the tuple comparison of the three would order them.
fn pack_day(d: PartialDate, month: u8, day: u8) -> u32 {
    (u32::from(d.year) << 16)
        | (u32::from(d.month.unwrap_or(month)) << 8)
        | u32::from(d.day.unwrap_or(day))
}

/// A nationality as compared by the matcher (trimmed, ASCII case ignored), packed: 0 for none,
/// else its length + 1 in the top byte and its (upper-cased) bytes below, or
/// [`LONG_NATIONALITY`] when it has more than 3 bytes. Two packed nationalities are equal
/// exactly when the strings are equal ignoring ASCII case.
pub(super) fn pack_nationality(n: Option<&str>) -> u32 {
    let Some(n) = n.map(str::trim) else {
        return 0;
    };
    if n.len() > 3 {
        return LONG_NATIONALITY;
    }
    let mut packed = (n.len() as u32 + 1) << 24;
    for (k, b) in n.bytes().enumerate() {
        packed |= u32::from(b.to_ascii_uppercase()) << (16 - 8 * k);
    }
    packed
}

impl Facts {
    /// Whether the query's nationality and the listed one are both present and differ (trimmed,
    /// ASCII case ignored). `listed` reads the entry's own string; it is called only when both
    /// are too long to pack (never for ICAO codes).
    pub(super) fn nationality_conflict<'a>(
        &self,
        query: Option<&str>,
        listed: impl FnOnce() -> Option<&'a str>,
    ) -> bool {
        let q = pack_nationality(query);
        if q == 0 || self.nationality == 0 {
            return false;
        }
        if q == LONG_NATIONALITY && self.nationality == LONG_NATIONALITY {
            let query = query.unwrap_or_default().trim();
            return listed().is_some_and(|b| !query.eq_ignore_ascii_case(b.trim()));
        }
        q != self.nationality
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn packed_nationalities_compare_like_the_strings() {
        let cases = ["PAK", "pak", " PAK ", "AFG", "", "D", "GBRX", "gbrx", "ÄÖ"];
        for a in cases {
            for b in cases {
                let same = a.trim().eq_ignore_ascii_case(b.trim());
                let (pa, pb) = (pack_nationality(Some(a)), pack_nationality(Some(b)));
                if pa != LONG_NATIONALITY || pb != LONG_NATIONALITY {
                    assert_eq!(pa == pb, same, "{a:?} {b:?}");
                }
                let facts = Facts {
                    nationality: pb,
                    ..Facts::of(&crate::synth::generate(1, 1)[0])
                };
                assert_eq!(
                    facts.nationality_conflict(Some(a), || Some(b)),
                    !same,
                    "{a:?} {b:?}"
                );
            }
            assert_ne!(pack_nationality(Some(a)), pack_nationality(None));
        }
    }
}
