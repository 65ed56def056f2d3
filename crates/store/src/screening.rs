//! What one screening writes in one transaction: its audit record, the response to replay on a
//! retry, the case it opens, its evidence, and one audit record per suppressed (previously
//! cleared) match. Either all of it is durable, or none of it.

use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;
use crate::case::CaseDetails;

/// A scan kept as evidence, named by the blake3 digest of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceBlob {
    /// blake3 (hex) of `bytes`; checked on write.
    pub digest: String,
    /// The page it shows (`DATA_PAGE`, `VISA_PAGE`, …).
    pub kind: String,
    /// The image file.
    pub bytes: Vec<u8>,
}

/// A match not flagged because a reviewer had cleared it for this document before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// The watchlist entry.
    pub entry_id: String,
    /// Its content digest now (equal to the one cleared).
    pub entry_digest: String,
    /// The case whose resolution cleared it.
    pub cleared_by_case: String,
}

/// Everything one screening stores.
#[derive(Debug, Clone)]
pub struct ScreeningRecord {
    /// The audit record; `kind` must be [`crate::AuditKind::Screening`] and
    /// `client_request_id` non-empty. When a case is opened and `case_id` is empty, the store
    /// assigns `case-<screening_id>`.
    pub audit: AuditRecord,
    /// The response to replay for a retry with the same client request id, as opaque bytes in
    /// the server's format (stored as a BLOB; a database written before migration 2 holds TEXT
    /// there, which reads back as its UTF-8 bytes).
    pub response: Vec<u8>,
    /// `Some` to open a second-check case for this screening.
    pub open_case: Option<CaseDetails>,
    /// Scans to keep (stored once per digest).
    pub evidence: Vec<EvidenceBlob>,
    /// Matches suppressed by cleared-match memory; each becomes its own audit record.
    pub suppressions: Vec<Suppression>,
}

/// What the store answers once a screening is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningReceipt {
    /// Seq of the screening's audit record.
    pub seq: u64,
    /// The screening id stored (the first call's, when `replayed`).
    pub screening_id: String,
    /// The case opened, if any.
    pub case_id: Option<String>,
    /// True when a screening with this client request id was already stored: nothing new was
    /// written and `response` is the first call's.
    pub replayed: bool,
    /// The stored response (see [`ScreeningRecord::response`]).
    pub response: Vec<u8>,
}

/// A stored screening, looked up by client request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScreening {
    /// Seq of its audit record.
    pub seq: u64,
    /// Its screening id.
    pub screening_id: String,
    /// The case it opened, if any.
    pub case_id: Option<String>,
    /// The response as first sent (see [`ScreeningRecord::response`]).
    pub response: Vec<u8>,
}

/// One remembered clearance: this document is not the person on this entry, as the entry
/// stood (its digest) when the reviewer decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearedMatch {
    /// Keyed hash of the document identity.
    pub document_key: String,
    /// The watchlist entry.
    pub entry_id: String,
    /// The entry's content digest when cleared.
    pub entry_digest: String,
    /// The reviewer.
    pub reviewer: String,
    /// The case resolved.
    pub case_id: String,
    /// The reviewer's reason (the resolution notes).
    pub reason: String,
}
