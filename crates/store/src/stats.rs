//! Screening counts for auditors and the research cell: by decision, reason, list, post,
//! direction, destination, sex and age band (and sex × age band, the disaggregation the national
//! action plan asks for). Only screening records count; nothing here identifies a person.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Counts over screenings in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Start (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Screenings counted.
    pub screenings: u64,
    /// Screenings that raised a protection referral.
    pub protection_referrals: u64,
    /// Per dimension (`decision`, `reason`, `list`, `post`, `direction`, `destination`, `sex`,
    /// `age_band`, `sex_age_band`), per value, the count. A screening counts once per reason
    /// code and once per list it hit. An empty value is counted as `UNKNOWN`.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    /// The dimensions, in output order.
    pub const DIMENSIONS: [&'static str; 9] = [
        "decision",
        "reason",
        "list",
        "post",
        "direction",
        "destination",
        "sex",
        "age_band",
        "sex_age_band",
    ];

    /// Every (dimension, value, count), dimensions in [`Self::DIMENSIONS`] order.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        Self::DIMENSIONS.iter().flat_map(move |d| {
            self.counts
                .get(*d)
                .into_iter()
                .flat_map(move |m| m.iter().map(move |(v, c)| (*d, v.as_str(), *c)))
        })
    }

    pub(crate) fn add(&mut self, dimension: &str, value: &str, count: u64) {
        let value = if value.is_empty() { "UNKNOWN" } else { value };
        *self
            .counts
            .entry(dimension.to_owned())
            .or_default()
            .entry(value.to_owned())
            .or_default() += count;
    }
}
