//! Watchlists: what a post screens people and documents against.
//!
//! - [`vocab`]: decision levels, directions, list kinds, match kinds — the shared vocabulary.
//! - [`Entry`]: one listed person or document.
//! - [`csv`]: HQ's CSV export, strictly validated.
//! - [`snapshot`]: the signed snapshot file: build, sign, verify, load.
//! - [`synth`]: realistic synthetic watchlists for tests, benches and load tests.
//! - [`normalize`]: name normalization (transliteration variants, honorifics, truncation).
//! - [`index`]: exact and name indexes over a snapshot's entries.
//! - [`matcher`]: identity queries, candidate scoring and match kinds.

pub mod csv;
pub mod index;
pub mod matcher;
pub mod normalize;
pub mod snapshot;
pub mod synth;
pub mod vocab;

pub use vocab::{Decision, Direction, EntryId, ListKind, MatchKind};

use checkpost_document::{Cnic, PartialDate, Sex};

/// One watchlist entry as HQ exported it (one CSV row), validated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The list it is on.
    pub list: ListKind,
    /// HQ's id, unique across all lists of a snapshot.
    pub entry_id: EntryId,
    /// Full name as listed, upper case.
    pub full_name: String,
    /// Other names the person is known by.
    pub aliases: Vec<String>,
    /// Father's name, when listed.
    pub father_name: Option<String>,
    /// Date of birth, possibly partial.
    pub dob: Option<PartialDate>,
    /// Sex, when listed.
    pub sex: Sex,
    /// ICAO 3-letter nationality, when listed.
    pub nationality: Option<String>,
    /// Listed document numbers (fillers and spaces removed, upper case).
    pub document_numbers: Vec<String>,
    /// Listed CNIC.
    pub national_id: Option<Cnic>,
    /// What the list asks for on a strong match.
    pub action: Decision,
    /// Directions the entry applies to.
    pub directions: Vec<Direction>,
    /// Why the person is listed.
    pub reason: String,
    /// Court order / letter reference.
    pub reference: String,
    /// First day the entry applies, when limited.
    pub valid_from: Option<PartialDate>,
    /// Last day the entry applies, when limited.
    pub valid_until: Option<PartialDate>,
}
