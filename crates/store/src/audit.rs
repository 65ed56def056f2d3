//! The audit record, its canonical bytes and the blake3 chain over them, and the walk that
//! checks the chain. This module is pure: the SQLite backend feeds it rows.
//!
//! Chain: `h_0 = blake3("checkpost-audit-v1")`, `h_n = blake3(h_{n-1} || seq_n || canonical(r_n))`.
//! Hashing the seq makes a record moved to another position fail even when its bytes are
//! intact. Limits, stated plainly: the chain is unkeyed, so someone with write access who
//! rewrites a record *and recomputes every hash after it* leaves a chain that verifies, and a
//! chain alone cannot see records cut from its *end*. Both are caught by comparing the head
//! (last seq and hash, which the verifier reports) with a copy kept outside the database —
//! shipped logs, HQ, a printed report: a rewritten chain has a different head at the same seq.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an audit record records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditKind {
    /// One `Screen` call (CLEAR included).
    Screening,
    /// A reviewer claimed a case.
    CaseClaimed,
    /// A reviewer released a case.
    CaseReleased,
    /// A reviewer resolved a case.
    CaseResolved,
    /// A match was not flagged because a reviewer had cleared it for this document before.
    MatchSuppressed,
}

impl AuditKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Screening => "SCREENING",
            Self::CaseClaimed => "CASE_CLAIMED",
            Self::CaseReleased => "CASE_RELEASED",
            Self::CaseResolved => "CASE_RESOLVED",
            Self::MatchSuppressed => "MATCH_SUPPRESSED",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SCREENING" => Self::Screening,
            "CASE_CLAIMED" => Self::CaseClaimed,
            "CASE_RELEASED" => Self::CaseReleased,
            "CASE_RESOLVED" => Self::CaseResolved,
            "MATCH_SUPPRESSED" => Self::MatchSuppressed,
            _ => return None,
        })
    }
}

/// Who the document says the traveller is. PII: kept in the database (the protected record),
/// never logged or printed by `stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentIdentity {
    /// ICAO 3-letter issuing state.
    pub issuing_state: String,
    /// Document number as read.
    pub number: String,
    /// Primary identifier (surname).
    pub surname: String,
    /// Secondary identifier (given names).
    pub given_names: String,
}

/// One record of the audit trail. Plain data: enums are their wire spellings, reasons and
/// details are JSON blobs the server writes, so the store stays independent of the engine.
/// Fields a kind does not use stay empty (a transition has no document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// What happened.
    pub kind: AuditKind,
    /// When (stored with microsecond precision; finer digits are dropped before hashing).
    pub at: DateTime<Utc>,
    /// The screening this record belongs to.
    pub screening_id: String,
    /// The client's retry key (screenings only).
    pub client_request_id: String,
    /// Check-post.
    pub post_id: String,
    /// Counter.
    pub counter_id: String,
    /// Officer at the counter, or the reviewer for a case transition.
    pub officer_id: String,
    /// `DEPARTURE` / `ARRIVAL`.
    pub direction: String,
    /// The document's identity.
    pub document: DocumentIdentity,
    /// Keyed blake3 hash of the document identity (the cleared-match memory's key).
    pub document_key: String,
    /// `CLEAR` / `SECOND_CHECK` / `OFFLOAD` / `DETAIN`.
    pub decision: String,
    /// Every reason code of the decision.
    pub reason_codes: Vec<String>,
    /// The full reasons, as JSON.
    pub reasons_json: String,
    /// Lists with a hit (`ECL`, …).
    pub lists_hit: Vec<String>,
    /// The snapshot that answered; empty when none was active.
    pub snapshot_version: String,
    /// blake3 digests of the scans kept as evidence.
    pub evidence_digests: Vec<String>,
    /// `M` / `F` / `X` (for disaggregated stats).
    pub sex: String,
    /// Age band, e.g. `0-17`, `18-29` (for stats; never the date of birth).
    pub age_band: String,
    /// ICAO 3-letter nationality.
    pub nationality: String,
    /// ICAO 3-letter destination (departures) or origin (arrivals).
    pub destination: String,
    /// The screening raised a protection referral.
    pub protection_referral: bool,
    /// The case opened by, or changed by, this record; empty when none.
    pub case_id: String,
    /// Kind-specific details as JSON (outcome and notes of a resolution, the suppressed entry).
    pub detail_json: String,
}

impl AuditRecord {
    /// An empty record of `kind` at `at`; fill the fields the kind uses.
    pub fn new(kind: AuditKind, at: DateTime<Utc>) -> Self {
        Self {
            kind,
            at,
            screening_id: String::new(),
            client_request_id: String::new(),
            post_id: String::new(),
            counter_id: String::new(),
            officer_id: String::new(),
            direction: String::new(),
            document: DocumentIdentity::default(),
            document_key: String::new(),
            decision: String::new(),
            reason_codes: Vec::new(),
            reasons_json: String::new(),
            lists_hit: Vec::new(),
            snapshot_version: String::new(),
            evidence_digests: Vec::new(),
            sex: String::new(),
            age_band: String::new(),
            nationality: String::new(),
            destination: String::new(),
            protection_referral: false,
            case_id: String::new(),
            detail_json: String::new(),
        }
    }

    /// The bytes the chain hashes: a fixed-order, length-prefixed encoding of every field (no
    /// serializer whose output could change between versions). Time is microseconds.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.reasons_json.len() + self.detail_json.len());
        out.extend_from_slice(b"checkpost-audit-record-v1");
        put_str(&mut out, self.kind.as_str());
        out.extend_from_slice(&self.at.timestamp_micros().to_le_bytes());
        for s in [
            &self.screening_id,
            &self.client_request_id,
            &self.post_id,
            &self.counter_id,
            &self.officer_id,
            &self.direction,
            &self.document.issuing_state,
            &self.document.number,
            &self.document.surname,
            &self.document.given_names,
            &self.document_key,
            &self.decision,
        ] {
            put_str(&mut out, s);
        }
        put_list(&mut out, &self.reason_codes);
        put_str(&mut out, &self.reasons_json);
        put_list(&mut out, &self.lists_hit);
        put_str(&mut out, &self.snapshot_version);
        put_list(&mut out, &self.evidence_digests);
        for s in [
            &self.sex,
            &self.age_band,
            &self.nationality,
            &self.destination,
        ] {
            put_str(&mut out, s);
        }
        out.push(u8::from(self.protection_referral));
        put_str(&mut out, &self.case_id);
        put_str(&mut out, &self.detail_json);
        out
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_list(out: &mut Vec<u8>, items: &[String]) {
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for s in items {
        put_str(out, s);
    }
}

/// A chain hash (32 bytes of blake3).
pub type ChainHash = [u8; 32];

/// A chain hash as lower-case hex (how reports and auditors write it down).
pub fn hash_hex(hash: &ChainHash) -> String {
    hex::encode(hash)
}

/// The hash before the first record.
pub fn genesis() -> ChainHash {
    *blake3::hash(b"checkpost-audit-v1").as_bytes()
}

/// `h_n = blake3(h_{n-1} || seq || canonical(record))`.
pub fn chain_hash(prev: &ChainHash, seq: u64, record: &AuditRecord) -> ChainHash {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&seq.to_le_bytes());
    h.update(&record.canonical());
    *h.finalize().as_bytes()
}

/// A stored record with its position and chain hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// The record.
    pub record: AuditRecord,
    /// The chain hash stored with it.
    pub hash: ChainHash,
}

/// What the store answers once a record is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditReceipt {
    /// The record's seq.
    pub seq: u64,
    /// Its chain hash.
    pub hash: ChainHash,
}

/// How the chain is broken at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// The record's content no longer hashes to its stored hash.
    Edited,
    /// No record has this seq (it was deleted).
    Deleted,
    /// The record at this seq belongs at another position (records were swapped or moved).
    Reordered,
    /// A column could not even be read back (e.g. a list that is no longer JSON).
    Unreadable(String),
}

/// The first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The seq of the first record that is edited, missing or out of place.
    pub seq: u64,
    /// How.
    pub kind: BreakKind,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            BreakKind::Edited => write!(f, "record {} was edited", self.seq),
            BreakKind::Deleted => write!(f, "record {} was deleted", self.seq),
            BreakKind::Reordered => {
                write!(
                    f,
                    "record {} was reordered (it holds another record)",
                    self.seq
                )
            }
            BreakKind::Unreadable(why) => write!(f, "record {} is unreadable: {why}", self.seq),
        }
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read (up to and including the first break).
    pub records: u64,
    /// Last seq and hash of an intact chain (compare with one kept elsewhere to detect a
    /// truncated tail); `None` when the chain is empty or broken.
    pub head: Option<(u64, ChainHash)>,
    /// The first break, or `None` when every record verifies.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// True when no break was found.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// One row as the verifier sees it: the record, or why it could not be decoded.
pub type VerifyRow = (u64, std::result::Result<AuditRecord, String>, ChainHash);

/// Walks rows in seq order and names the first record that was edited, deleted or reordered.
/// Stops at the first break (everything after it is unverifiable by construction).
pub fn verify_rows(rows: impl IntoIterator<Item = VerifyRow>) -> VerifyReport {
    let mut prev = genesis();
    let mut expected_seq = 1u64;
    let mut records = 0u64;
    let mut head = None;
    let mut rows = rows.into_iter().peekable();
    while let Some((seq, record, stored)) = rows.next() {
        records += 1;
        head = Some((seq, stored));
        let found = |kind| VerifyReport {
            records,
            head: None,
            first_break: Some(ChainBreak {
                seq: expected_seq,
                kind,
            }),
        };
        if seq != expected_seq {
            return found(BreakKind::Deleted);
        }
        let record = match record {
            Ok(r) => r,
            Err(why) => return found(BreakKind::Unreadable(why)),
        };
        let computed = chain_hash(&prev, seq, &record);
        if computed != stored {
            // Does the next row's content belong here? Then records were swapped or moved
            // rather than edited in place.
            let reordered = rows.peek().is_some_and(|(_, next, next_hash)| {
                next.as_ref().is_ok_and(|n| {
                    let h = chain_hash(&prev, seq, n);
                    h == stored || h == *next_hash
                })
            });
            return found(if reordered {
                BreakKind::Reordered
            } else {
                BreakKind::Edited
            });
        }
        prev = stored;
        expected_seq += 1;
    }
    VerifyReport {
        records,
        head,
        first_break: None,
    }
}
