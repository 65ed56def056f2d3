//! Second-check cases: what a reviewer sees, how a case moves (OPEN → CLAIMED → RESOLVED, with
//! release back to OPEN), and the event log a live stream resumes from by cursor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Where a case is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseStatus {
    /// Waiting for a reviewer.
    Open,
    /// Held by one reviewer.
    Claimed,
    /// Closed with an outcome.
    Resolved,
}

impl CaseStatus {
    /// The stored / wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Claimed => "CLAIMED",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// How a reviewer closed a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseOutcome {
    /// The passenger may travel.
    Cleared,
    /// The passenger was offloaded.
    Offloaded,
    /// The passenger was detained / handed over.
    Detained,
    /// Referred to the anti-trafficking desk for protection.
    ReferredToProtection,
}

impl CaseOutcome {
    /// The stored / wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cleared => "CLEARED",
            Self::Offloaded => "OFFLOADED",
            Self::Detained => "DETAINED",
            Self::ReferredToProtection => "REFERRED_TO_PROTECTION",
        }
    }
}

impl std::str::FromStr for CaseOutcome {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "CLEARED" => Self::Cleared,
            "OFFLOADED" => Self::Offloaded,
            "DETAINED" => Self::Detained,
            "REFERRED_TO_PROTECTION" => Self::ReferredToProtection,
            _ => {
                return Err(StoreError::BadValue {
                    what: "case outcome",
                    value: s.to_owned(),
                });
            }
        })
    }
}

impl std::str::FromStr for CaseStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "OPEN" => Self::Open,
            "CLAIMED" => Self::Claimed,
            "RESOLVED" => Self::Resolved,
            _ => {
                return Err(StoreError::BadValue {
                    what: "case status",
                    value: s.to_owned(),
                });
            }
        })
    }
}

/// A matched watchlist entry as the store needs it: enough to remember a clearance. The
/// entry's full details for the reviewer live in [`CaseDetails::matched_entries_json`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedEntry {
    /// HQ's entry id.
    pub entry_id: String,
    /// The list (`ECL`, …).
    pub list: String,
    /// blake3 digest of the entry's content; any change to the entry changes it.
    pub content_digest: String,
}

/// What a flagged screening adds to its audit record to open a case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseDetails {
    /// The parsed document, as JSON (the server's format).
    pub document_json: String,
    /// Details of every matched entry, as JSON (the server's format).
    pub matched_entries_json: String,
    /// The matched entries' ids and digests.
    pub matched: Vec<MatchedEntry>,
}

/// How a case was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The outcome.
    pub outcome: CaseOutcome,
    /// The reviewer's notes.
    pub notes: String,
    /// The reviewer.
    pub resolved_by: String,
    /// When.
    pub resolved_at: DateTime<Utc>,
    /// Entries the reviewer found are not this traveller.
    pub cleared_entry_ids: Vec<String>,
}

/// A second-check case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Id (assigned when the screening's record is appended).
    pub case_id: String,
    /// The screening that opened it.
    pub screening_id: String,
    /// Check-post.
    pub post_id: String,
    /// Counter.
    pub counter_id: String,
    /// Officer at the counter.
    pub officer_id: String,
    /// `DEPARTURE` / `ARRIVAL`.
    pub direction: String,
    /// The machine's decision.
    pub decision: String,
    /// Every reason, as JSON (the server's format).
    pub reasons_json: String,
    /// The screening raised a protection referral.
    pub protection_referral: bool,
    /// The document, matched entries and their digests.
    pub details: CaseDetails,
    /// blake3 digests of the stored scans.
    pub evidence_digests: Vec<String>,
    /// Keyed hash of the document identity (cleared-match memory key).
    pub document_key: String,
    /// When opened.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// Where it is.
    pub status: CaseStatus,
    /// The reviewer holding it, when CLAIMED.
    pub claimed_by: Option<String>,
    /// The resolution, when RESOLVED.
    pub resolution: Option<Resolution>,
    /// Increases with every change (1 when opened).
    pub version: u64,
}

/// What happened to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseEventKind {
    /// Opened.
    Created,
    /// Claimed.
    Claimed,
    /// Released.
    Released,
    /// Resolved.
    Resolved,
}

impl CaseEventKind {
    /// The stored / wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CASE_CREATED",
            Self::Claimed => "CASE_CLAIMED",
            Self::Released => "CASE_RELEASED",
            Self::Resolved => "CASE_RESOLVED",
        }
    }
}

/// One change to one case, at a strictly increasing cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEvent {
    /// Position in the event log (from 1, strictly increasing, never reused).
    pub cursor: u64,
    /// What happened.
    pub kind: CaseEventKind,
    /// The case as it was right after the change.
    pub case: Case,
}

/// Filters and paging for listing cases; unset fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this post's cases.
    pub post_id: Option<String>,
    /// Only cases in these states (empty: any).
    pub statuses: Vec<CaseStatus>,
    /// Only cases opened at or before this instant (the caller computes `now - min_age`).
    pub opened_before: Option<DateTime<Utc>>,
    /// Page size (0 means the default, 50; capped at 500).
    pub page_size: u32,
    /// A previous page's `next_page_token`.
    pub page_token: Option<String>,
}

/// One page of cases, newest first.
#[derive(Debug, Clone, Default)]
pub struct CasePage {
    /// The cases.
    pub cases: Vec<Case>,
    /// Pass back for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// A request to resolve a case.
#[derive(Debug, Clone)]
pub struct Resolve {
    /// The case.
    pub case_id: String,
    /// The reviewer (must hold the case).
    pub reviewer: String,
    /// The outcome.
    pub outcome: CaseOutcome,
    /// Why (required, non-empty).
    pub notes: String,
    /// With [`CaseOutcome::Cleared`]: matched entries that are not this traveller; each is
    /// remembered (document key, entry id, entry digest) so the same document is not flagged
    /// again for that unchanged entry alone.
    pub cleared_entry_ids: Vec<String>,
}
