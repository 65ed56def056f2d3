//! What a screening is about and what it is decided against. Plain data; the server fills it
//! from the request and from what it holds (snapshot, rules, the cleared-match memory).

use std::fmt;
use std::sync::Arc;

use checkpost_document::TravelDocument;
use checkpost_watchlist::delta::DeltaSet;
use checkpost_watchlist::{Direction, EntryId, Snapshot};
use chrono::{DateTime, FixedOffset, Utc};

use crate::reason::Reason;
use crate::rules::Rules;

/// Travel details the officer or the booking system supplies; they feed the SOP rules. Text
/// values are compared case-insensitively with surrounding spaces ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TravelDetails {
    /// ICAO 3-letter destination (departures) or origin (arrivals) country.
    pub destination: Option<String>,
    /// Visa type as the SOPs name it: `WORK`, `VISIT`, `STUDY`, `UMRAH`, …
    pub visa_type: Option<String>,
    /// Declared purpose of travel: `EMPLOYMENT`, `TOURISM`, `FAMILY`, …
    pub purpose: Option<String>,
    /// The passenger travels without a companion.
    pub travelling_alone: bool,
    /// A parent or legal guardian is present (with a minor).
    pub guardian_present: bool,
    /// Relation of the accompanying adult (`FATHER`, `MOTHER`, `NONE`, …), for the record.
    pub guardian_relation: Option<String>,
    /// The passport carries the emigration protector stamp (needed for work visas).
    pub protector_stamp: bool,
    /// Visa number as printed, when the terminal has one.
    pub visa_number: Option<String>,
}

/// A check that could not run (deadline reached, image unreadable, …). Each one makes the
/// decision at least SECOND_CHECK: the officer is never shown a CLEAR that skipped a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    /// The check that did not run, e.g. `"scan"`, `"watchlist"`, `"seal"`.
    pub check: String,
    /// Why, in a sentence for the officer (no PII).
    pub why: String,
}

/// One passenger at one counter, as far as the decision is concerned.
#[derive(Debug, Clone)]
pub struct ScreenInput<'a> {
    /// Departure or arrival: decides which lists and rules apply.
    pub direction: Direction,
    /// The document as parsed from the MRZ.
    pub document: &'a TravelDocument,
    /// Travel details for the SOP rules.
    pub travel: &'a TravelDetails,
    /// Reasons produced by stages outside the engine (the scan and seal stage); they count
    /// towards the decision like any other reason.
    pub external: Vec<Reason>,
    /// Checks that could not run; each fails closed (at least SECOND_CHECK).
    pub incomplete: Vec<Incomplete>,
}

/// What to do when the active snapshot is older than [`Context::stale_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StalePolicy {
    /// Fail closed: a stale snapshot makes every decision at least SECOND_CHECK. The default.
    #[default]
    Escalate,
    /// Add a SNAPSHOT_STALE reason at level CLEAR and otherwise decide as usual (for a post
    /// whose HQ link is known to be down, by an explicit ops decision).
    Annotate,
}

impl StalePolicy {
    /// `"escalate"` or `"annotate"`, as config files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Escalate => "escalate",
            Self::Annotate => "annotate",
        }
    }
}

impl std::str::FromStr for StalePolicy {
    type Err = String;

    /// Reads `escalate` or `annotate` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "escalate" => Ok(Self::Escalate),
            "annotate" => Ok(Self::Annotate),
            other => Err(format!(
                "'{other}' is not a stale policy; expected escalate or annotate"
            )),
        }
    }
}

impl fmt::Display for StalePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key of the cleared-match memory: the document (issuing state + number) a reviewer
/// cleared against an entry. Its `Debug` form hides the number (no raw PII in logs).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentKey {
    issuing_state: String,
    document_number: String,
}

impl DocumentKey {
    /// A key from its parts, upper-cased and trimmed so that spellings agree.
    pub fn new(issuing_state: &str, document_number: &str) -> Self {
        Self {
            issuing_state: issuing_state.trim().to_ascii_uppercase(),
            document_number: document_number.trim().to_ascii_uppercase(),
        }
    }

    /// The key of a parsed document.
    pub fn of(document: &TravelDocument) -> Self {
        Self::new(&document.issuing_state, &document.document_number)
    }

    /// ICAO 3-letter issuing state.
    pub fn issuing_state(&self) -> &str {
        &self.issuing_state
    }

    /// Document number (PII: hash it before logging).
    pub fn document_number(&self) -> &str {
        &self.document_number
    }
}

impl fmt::Debug for DocumentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentKey")
            .field("issuing_state", &self.issuing_state)
            .field("document_number", &"<redacted>")
            .finish()
    }
}

/// The memory of matches a second-check officer already cleared: "this document is not the
/// person on this entry". Keyed by the entry's content digest too, so that an entry HQ changed
/// since (new DOB, new document) is looked at again.
pub trait ClearedMatches: Send + Sync {
    /// The case id in which `document` was cleared against `entry` with exactly this
    /// `entry_digest` ([`checkpost_watchlist::Entry::content_digest`]); `None` when it was not.
    fn cleared_by(
        &self,
        document: &DocumentKey,
        entry: &EntryId,
        entry_digest: &[u8; 32],
    ) -> Option<String>;
}

/// A [`ClearedMatches`] that remembers nothing (tests, and posts without a case store).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoneCleared;

impl ClearedMatches for NoneCleared {
    fn cleared_by(&self, _: &DocumentKey, _: &EntryId, _: &[u8; 32]) -> Option<String> {
        None
    }
}

/// Where the intraday deltas in force come from. The engine asks once per screening, so one
/// screening sees one consistent set even while a new delta is being applied. The server's live
/// overlay implements it; tests pass an `Arc<DeltaSet>`.
pub trait DeltaSource: Send + Sync {
    /// The deltas in force now.
    fn current(&self) -> Arc<DeltaSet>;
}

impl DeltaSource for Arc<DeltaSet> {
    fn current(&self) -> Arc<DeltaSet> {
        Arc::clone(self)
    }
}

/// What a screening is decided against: the post's state at decision time.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The active watchlist snapshot; `None` when none is loaded (fails closed: SECOND_CHECK).
    pub snapshot: Option<&'a Snapshot>,
    /// The post's SOP rules.
    pub rules: &'a Rules,
    /// Decision time.
    pub now: DateTime<Utc>,
    /// The post's offset from UTC. "Today" for expiry, validity, ages and entry validity
    /// windows is the date at the post: a passport that expired yesterday in Lahore is expired
    /// at 02:00 local time even though it is still yesterday in UTC.
    pub local_offset: FixedOffset,
    /// A snapshot older than this (by its signed `created_at`) is stale.
    pub stale_after: chrono::Duration,
    /// What a stale snapshot does to the decision.
    pub stale_policy: StalePolicy,
    /// Matches already cleared by a reviewer.
    pub cleared: &'a dyn ClearedMatches,
    /// Intraday deltas over `snapshot` (`None`: none): a delta's additions are matched, the
    /// snapshot entries it removes or replaces are not.
    pub overlay: Option<&'a dyn DeltaSource>,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("snapshot", &self.snapshot.map(|s| s.digest_hex()))
            .field("rules", &self.rules.len())
            .field("now", &self.now)
            .field("local_offset", &self.local_offset)
            .field("stale_after", &self.stale_after)
            .field("stale_policy", &self.stale_policy)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stale_policy_reads_its_config_spellings_and_defaults_to_escalate() {
        assert_eq!(StalePolicy::default(), StalePolicy::Escalate);
        assert_eq!(
            " Annotate ".parse::<StalePolicy>(),
            Ok(StalePolicy::Annotate)
        );
        assert_eq!(
            StalePolicy::Escalate.as_str().parse::<StalePolicy>(),
            Ok(StalePolicy::Escalate)
        );
        assert!(
            "ignore"
                .parse::<StalePolicy>()
                .unwrap_err()
                .contains("escalate")
        );
    }

    #[test]
    fn document_key_agrees_across_spellings_and_hides_the_number_when_debugged() {
        let key = DocumentKey::new(" pak", "ab1234567 ");
        assert_eq!(key, DocumentKey::new("PAK", "AB1234567"));
        assert_eq!(key.document_number(), "AB1234567");
        let shown = format!("{key:?}");
        assert!(
            shown.contains("PAK") && !shown.contains("AB1234567"),
            "{shown}"
        );
    }
}
