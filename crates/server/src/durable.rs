//! The durable side of a screening, over any [`Store`]: [`StoreAudit`] (the [`AuditSink`] that
//! writes the audit record, the case, the evidence and the suppressions in one transaction and
//! answers only once they are durable) and [`StoreCleared`] (the engine's [`ClearedMatches`]
//! over [`Store::find_cleared`]).
//!
//! Formats the server writes into the store's blobs ("the server's format"):
//! - `reasons_json`: a JSON array of [`ReasonJson`], readable by an auditor.
//! - `matched_entries_json`: a JSON array of the matched [`Entry`]s as HQ exported them.
//! - `document_json`: a JSON object whose `pb` is the hex of the prost-encoded wire message.
//!   The generated types carry no serde, and the encoded message round-trips exactly.
//! - the replayed response: [`encode_response`] (a version byte, the request fingerprint, the
//!   prost-encoded message), so a replay after a restart is byte-for-byte the first answer.
//!   Databases from before it hold the `document_json` form, which [`decode_response`] reads.

use std::path::Path;
use std::sync::Arc;

use checkpost_document::{PartialDate, Sex, TravelDocument};
use checkpost_engine::{ClearedMatches, DocumentKey, EntryId, Outcome};
use checkpost_proto::v1 as pb;
use checkpost_store::{
    AuditKind, AuditRecord, CaseDetails, DocumentIdentity, EvidenceBlob, MatchedEntry, Store,
    Suppression,
};
use checkpost_watchlist::Entry;
use chrono::{DateTime, Datelike, Utc};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::ServerError;
use crate::audit::{AppendFuture, Appended, AuditSink, ScreeningRecord};
use crate::retry::Stored;

/// Name of the file in the data dir holding the key of document-identity hashes.
pub const DOCUMENT_KEY_FILE: &str = "document-identity.key";

/// Keyed blake3 hashes of document identities: the cleared-match memory's key. The key is kept
/// in the data dir beside the database so that the hashes stay stable across restarts (the log
/// hash key may be random per start).
#[derive(Clone)]
pub struct DocumentHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for DocumentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocumentHasher(<key>)")
    }
}

impl DocumentHasher {
    /// A hasher with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Reads the key from `dir`, creating it (random, owner-only) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, ServerError> {
        let path = dir.join(DOCUMENT_KEY_FILE);
        let io = |source| ServerError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let mut key = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut key).map_err(|e| ServerError::Config {
                    source_name: path.display().to_string(),
                    message: format!("must be 64 hex characters: {e}"),
                })?;
                Ok(Self::new(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io)?;
                let key: [u8; 32] = rand::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(&path).map_err(io)?;
                std::io::Write::write_all(&mut file, hex::encode(key).as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(Self::new(key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The hex keyed hash of a document identity (issuing state and number).
    pub fn key_of(&self, document: &DocumentKey) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(document.issuing_state().as_bytes());
        h.update(&[0x1f]);
        h.update(document.document_number().as_bytes());
        h.finalize().to_hex().to_string()
    }
}

/// One reason as stored in `reasons_json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReasonJson {
    /// Machine code.
    pub code: String,
    /// Officer-facing sentence.
    pub message: String,
    /// Level, wire spelling.
    pub level: String,
    /// List, wire spelling; empty when none.
    #[serde(default)]
    pub list: String,
    /// Entry or rule id.
    #[serde(default)]
    pub entry_id: String,
    /// Match kind, wire spelling; empty when none.
    #[serde(default)]
    pub match_kind: String,
    /// Match score.
    #[serde(default)]
    pub score: f32,
    /// Matched name tokens.
    #[serde(default)]
    pub matched_tokens: Vec<String>,
    /// Document field.
    #[serde(default)]
    pub field: String,
    /// MRZ line.
    #[serde(default)]
    pub line: u32,
    /// MRZ column.
    #[serde(default)]
    pub column: u32,
    /// Previously cleared by a reviewer.
    #[serde(default)]
    pub previously_cleared: bool,
    /// The case that cleared it.
    #[serde(default)]
    pub cleared_by_case_id: String,
    /// Raises a protection referral.
    #[serde(default)]
    pub protection_referral: bool,
}

impl ReasonJson {
    /// From the wire reason.
    pub fn from_pb(r: &pb::Reason) -> Self {
        Self {
            code: r.code.clone(),
            message: r.message.clone(),
            level: r.level().as_str_name().to_string(),
            list: name_or_empty(r.list, |v| {
                pb::ListKind::try_from(v).ok().map(|x| x.as_str_name())
            }),
            entry_id: r.entry_id.clone(),
            match_kind: name_or_empty(r.match_kind, |v| {
                pb::MatchKind::try_from(v).ok().map(|x| x.as_str_name())
            }),
            score: r.score,
            matched_tokens: r.matched_tokens.clone(),
            field: r.field.clone(),
            line: r.line,
            column: r.column,
            previously_cleared: r.previously_cleared,
            cleared_by_case_id: r.cleared_by_case_id.clone(),
            protection_referral: r.protection_referral,
        }
    }

    /// Back to the wire reason.
    pub fn to_pb(&self) -> pb::Reason {
        let enum_of = |s: &str, f: fn(&str) -> Option<i32>| f(s).unwrap_or(0);
        pb::Reason {
            code: self.code.clone(),
            message: self.message.clone(),
            level: enum_of(&self.level, |s| {
                pb::Decision::from_str_name(s).map(i32::from)
            }),
            list: enum_of(&self.list, |s| {
                pb::ListKind::from_str_name(s).map(i32::from)
            }),
            entry_id: self.entry_id.clone(),
            match_kind: enum_of(&self.match_kind, |s| {
                pb::MatchKind::from_str_name(s).map(i32::from)
            }),
            score: self.score,
            matched_tokens: self.matched_tokens.clone(),
            field: self.field.clone(),
            line: self.line,
            column: self.column,
            previously_cleared: self.previously_cleared,
            cleared_by_case_id: self.cleared_by_case_id.clone(),
            protection_referral: self.protection_referral,
        }
    }
}

fn name_or_empty(v: i32, f: impl Fn(i32) -> Option<&'static str>) -> String {
    if v == 0 {
        String::new()
    } else {
        f(v).unwrap_or_default().to_string()
    }
}

#[derive(Serialize, Deserialize)]
struct Encoded {
    /// Hex of the prost-encoded message.
    pb: String,
    /// Hex blake3 of the request that produced it (replayed responses only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    fingerprint: String,
}

fn json_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Audit(format!("stored {what} is unreadable: {e}"))
}

/// Encodes a wire message as `{"pb": hex}` (with the request fingerprint for a response).
pub fn encode_pb(
    msg: &impl Message,
    fingerprint: Option<&[u8; 32]>,
) -> Result<String, ServerError> {
    serde_json::to_string(&Encoded {
        pb: to_hex(&msg.encode_to_vec()),
        fingerprint: fingerprint
            .map(|f| to_hex(f.as_slice()))
            .unwrap_or_default(),
    })
    .map_err(|e| ServerError::Audit(e.to_string()))
}

/// Lower-case hex of `bytes`. `hex::encode` collects a `char` iterator into its `String`
/// (pushing UTF-8 one char at a time), which showed among the top symbols of a worker under
/// load; `encode_to_slice` writes the bytes straight into a buffer of the right size.
fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // The buffer is exactly twice as long, so this cannot fail; an empty string if it ever did.
    if hex::encode_to_slice(bytes, &mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes what [`encode_pb`] wrote: the message and the fingerprint, when one was stored.
pub fn decode_pb<M: Message + Default>(
    what: &str,
    json: &str,
) -> Result<(M, Option<[u8; 32]>), ServerError> {
    let enc: Encoded = serde_json::from_str(json).map_err(|e| json_err(what, e))?;
    let bytes = hex::decode(&enc.pb).map_err(|e| json_err(what, e))?;
    let msg = M::decode(bytes.as_slice()).map_err(|e| json_err(what, e))?;
    let fingerprint = if enc.fingerprint.is_empty() {
        None
    } else {
        let mut f = [0u8; 32];
        hex::decode_to_slice(&enc.fingerprint, &mut f).map_err(|e| json_err(what, e))?;
        Some(f)
    };
    Ok((msg, fingerprint))
}

/// First byte of a response stored by [`encode_response`]; a response stored before it (JSON
/// from [`encode_pb`]) starts with `{`.
const RESPONSE_V2: u8 = 2;

/// The response to replay, as the store keeps it: a version byte, the 32-byte request
/// fingerprint, then the prost-encoded message. Half the size of [`encode_pb`]'s hex-in-JSON,
/// for every screening, and no JSON or hex work on the hot path.
pub fn encode_response(response: &pb::ScreenResponse, fingerprint: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + response.encoded_len());
    out.push(RESPONSE_V2);
    out.extend_from_slice(fingerprint);
    // Writing into a Vec cannot run out of room.
    let _ = response.encode(&mut out);
    out
}

/// Decodes what [`encode_response`] wrote, or a response stored as JSON before it.
pub fn decode_response(
    stored: &[u8],
) -> Result<(pb::ScreenResponse, Option<[u8; 32]>), ServerError> {
    match stored.split_first() {
        Some((&RESPONSE_V2, rest)) if rest.len() >= 32 => {
            let (fingerprint, message) = rest.split_at(32);
            let response =
                pb::ScreenResponse::decode(message).map_err(|e| json_err("response", e))?;
            let mut f = [0u8; 32];
            f.copy_from_slice(fingerprint);
            Ok((response, Some(f)))
        }
        Some((b'{', _)) => {
            let text = std::str::from_utf8(stored).map_err(|e| json_err("response", e))?;
            decode_pb("response", text)
        }
        _ => Err(ServerError::Audit(
            "stored response is in no known format".into(),
        )),
    }
}

/// The reasons as stored in `reasons_json`.
pub fn reasons_json(reasons: &[pb::Reason]) -> Result<String, ServerError> {
    let v: Vec<ReasonJson> = reasons.iter().map(ReasonJson::from_pb).collect();
    serde_json::to_string(&v).map_err(|e| ServerError::Audit(e.to_string()))
}

/// The reasons back from `reasons_json`.
pub fn reasons_from_json(json: &str) -> Result<Vec<pb::Reason>, ServerError> {
    if json.is_empty() {
        return Ok(Vec::new());
    }
    let v: Vec<ReasonJson> = serde_json::from_str(json).map_err(|e| json_err("reasons", e))?;
    Ok(v.iter().map(ReasonJson::to_pb).collect())
}

/// The matched entries back from `matched_entries_json`.
pub fn entries_from_json(json: &str) -> Result<Vec<Entry>, ServerError> {
    if json.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|e| json_err("matched entries", e))
}

/// The age band of a date of birth at `today` (`0-17`, `18-29`, `30-44`, `45-59`, `60+`), from
/// the youngest age the date allows; empty when unknown.
pub fn age_band(dob: Option<PartialDate>, today: chrono::NaiveDate) -> String {
    let Some(d) = dob else {
        return String::new();
    };
    let (m, day) = (d.month.unwrap_or(12), d.day.unwrap_or(31));
    let mut age = today.year() - i32::from(d.year);
    if (today.month(), today.day()) < (u32::from(m), u32::from(day)) {
        age -= 1;
    }
    match age {
        i32::MIN..0 => String::new(),
        0..=17 => "0-17".into(),
        18..=29 => "18-29".into(),
        30..=44 => "30-44".into(),
        45..=59 => "45-59".into(),
        _ => "60+".into(),
    }
}

fn sex_code(s: Sex) -> &'static str {
    match s {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::Unspecified => "X",
    }
}

/// Whether a screening opens a second-check case.
pub fn opens_case(outcome: &Outcome) -> bool {
    outcome.decision != checkpost_watchlist::Decision::Clear || outcome.protection_referral
}

/// The snapshot's entries for `matches`, in match order, fetched by the position the engine
/// reported. An entry whose id does not agree (a different snapshot than the one that answered)
/// is left out rather than shown as the wrong person.
fn matched_entries(
    snapshot: Option<&checkpost_watchlist::snapshot::Snapshot>,
    overlay: &checkpost_watchlist::delta::DeltaSet,
    matches: &[&checkpost_engine::MatchedEntry],
) -> Vec<Entry> {
    matches
        .iter()
        .filter_map(|m| {
            overlay
                .entry_at(snapshot, m.entry)
                .filter(|e| e.entry_id == m.entry_id)
        })
        .collect()
}

/// Builds everything one screening stores.
pub fn build_record(
    r: &ScreeningRecord<'_>,
    hasher: &DocumentHasher,
    now: DateTime<Utc>,
) -> Result<checkpost_store::ScreeningRecord, ServerError> {
    let doc: &TravelDocument = r.document;
    let document_key = hasher.key_of(&DocumentKey::of(doc));
    let response = r.response;
    let mut audit = AuditRecord::new(AuditKind::Screening, now);
    audit.screening_id = r.screening_id.to_string();
    audit.client_request_id = r.client_request_id.to_string();
    audit.post_id = r.post_id.to_string();
    audit.counter_id = r.counter_id.to_string();
    audit.officer_id = r.officer_id.to_string();
    audit.direction = r.direction.as_str().to_string();
    audit.document = DocumentIdentity {
        issuing_state: doc.issuing_state.clone(),
        number: doc.document_number.clone(),
        surname: doc.surname.clone(),
        given_names: doc.given_names.clone(),
    };
    audit.document_key = document_key;
    audit.decision = r.outcome.decision.as_str().to_string();
    audit.reason_codes = r
        .outcome
        .reasons
        .iter()
        .map(|x| x.code.as_str().to_string())
        .collect();
    audit.reasons_json = reasons_json(&response.reasons)?;
    let mut lists: Vec<String> = r
        .outcome
        .reasons
        .iter()
        .filter(|x| !x.previously_cleared)
        .filter_map(|x| x.list.map(|l| l.as_str().to_string()))
        .collect();
    lists.sort();
    lists.dedup();
    audit.lists_hit = lists;
    audit.snapshot_version = response
        .snapshot
        .as_ref()
        .map(|s| s.version.clone())
        .unwrap_or_default();
    audit.evidence_digests = response
        .scans
        .iter()
        .map(|s| s.evidence_digest.clone())
        .collect();
    audit.sex = sex_code(doc.sex).to_string();
    audit.age_band = age_band(doc.date_of_birth, now.date_naive());
    audit.nationality = doc.nationality.clone();
    audit.destination = r.destination.unwrap_or_default().to_string();
    audit.protection_referral = r.outcome.protection_referral;

    let open_case = if opens_case(r.outcome) {
        let flagged: Vec<_> = r
            .outcome
            .matches
            .iter()
            .filter(|m| m.cleared_by_case.is_none())
            .collect();
        let matched = flagged
            .iter()
            .map(|m| MatchedEntry {
                entry_id: m.entry_id.to_string(),
                list: m.list.as_str().to_string(),
                content_digest: hex::encode(m.entry_digest),
            })
            .collect();
        Some(CaseDetails {
            document_json: encode_pb(&crate::convert::document(doc), None)?,
            matched_entries_json: serde_json::to_string(&matched_entries(
                r.snapshot, r.overlay, &flagged,
            ))
            .map_err(|e| ServerError::Audit(e.to_string()))?,
            matched,
        })
    } else {
        None
    };
    let suppressions = r
        .outcome
        .matches
        .iter()
        .filter_map(|m| {
            m.cleared_by_case.as_ref().map(|case| Suppression {
                entry_id: m.entry_id.to_string(),
                entry_digest: hex::encode(m.entry_digest),
                cleared_by_case: case.clone(),
            })
        })
        .collect();
    // The images themselves are kept only for a flagged screening, whose case the reviewer
    // must see them in; a CLEAR passenger's scans are not retained (the audit record still names
    // their digests, which proves what was examined without keeping the pages).
    let keep_scans = open_case.is_some();
    let evidence = r
        .scans
        .iter()
        .filter(|_| keep_scans)
        .map(|s| EvidenceBlob {
            digest: blake3::hash(&s.image).to_hex().to_string(),
            kind: s.kind().as_str_name().to_string(),
            bytes: s.image.clone(),
        })
        .collect();
    Ok(checkpost_store::ScreeningRecord {
        audit,
        response: encode_response(response, r.fingerprint),
        open_case,
        evidence,
        suppressions,
    })
}

/// The [`AuditSink`] over a [`Store`].
#[derive(Clone)]
pub struct StoreAudit {
    store: Arc<dyn Store>,
    hasher: DocumentHasher,
}

impl std::fmt::Debug for StoreAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreAudit").finish_non_exhaustive()
    }
}

impl StoreAudit {
    /// A sink writing to `store`, keying documents with `hasher`.
    pub fn new(store: Arc<dyn Store>, hasher: DocumentHasher) -> Self {
        Self { store, hasher }
    }
}

impl AuditSink for StoreAudit {
    fn append<'a>(&'a self, record: ScreeningRecord<'a>) -> AppendFuture<'a> {
        let built = build_record(&record, &self.hasher, chrono::Utc::now());
        Box::pin(async move {
            let ticket = self.store.record_screening(built?);
            let receipt = ticket
                .await
                .map_err(|e| ServerError::Audit(e.to_string()))?;
            let replay = if receipt.replayed {
                let (mut response, fingerprint) = decode_response(&receipt.response)?;
                response.case_id = receipt.case_id.clone().unwrap_or_default();
                response.replayed = true;
                Some(Stored {
                    fingerprint: fingerprint.unwrap_or_default(),
                    response,
                })
            } else {
                None
            };
            Ok(Appended {
                case_id: receipt.case_id,
                replay,
            })
        })
    }
}

/// The engine's [`ClearedMatches`] over [`Store::find_cleared`].
///
/// The engine is synchronous, so the look-up runs on the calling thread: it is one indexed
/// query, made only for a document that matched an entry.
#[derive(Clone)]
pub struct StoreCleared {
    store: Arc<dyn Store>,
    hasher: DocumentHasher,
}

impl std::fmt::Debug for StoreCleared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCleared").finish_non_exhaustive()
    }
}

impl StoreCleared {
    /// An adapter over `store`, keying documents with `hasher` (the same as the sink's).
    pub fn new(store: Arc<dyn Store>, hasher: DocumentHasher) -> Self {
        Self { store, hasher }
    }
}

impl ClearedMatches for StoreCleared {
    fn cleared_by(
        &self,
        document: &DocumentKey,
        entry: &EntryId,
        entry_digest: &[u8; 32],
    ) -> Option<String> {
        let key = self.hasher.key_of(document);
        match self
            .store
            .find_cleared(&key, &entry.to_string(), &hex::encode(entry_digest))
        {
            Ok(found) => found,
            Err(e) => {
                // Failing closed: without the memory the match is flagged as usual.
                tracing::warn!(error = %e, "cleared-match memory unavailable; the match stands");
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn age_bands_use_the_youngest_age_the_date_allows() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let full = PartialDate::parse("2008-11-24").ok();
        assert_eq!(age_band(full, today), "0-17");
        let full = PartialDate::parse("2008-11-23").ok();
        assert_eq!(age_band(full, today), "18-29");
        assert_eq!(age_band(None, today), "");
    }

    #[test]
    fn reasons_round_trip_through_their_json() {
        let r = pb::Reason {
            code: "WATCHLIST_NAME".into(),
            level: pb::Decision::SecondCheck.into(),
            list: pb::ListKind::Ecl.into(),
            entry_id: "ECL-1".into(),
            score: 0.5,
            ..Default::default()
        };
        let json = reasons_json(std::slice::from_ref(&r)).unwrap();
        assert!(
            json.contains("SECOND_CHECK") && json.contains("ECL"),
            "{json}"
        );
        assert_eq!(reasons_from_json(&json).unwrap(), vec![r]);
    }

    #[test]
    fn a_stored_response_decodes_in_the_binary_and_in_the_older_json_format() {
        let response = pb::ScreenResponse {
            screening_id: "s-1".into(),
            decision: pb::Decision::SecondCheck.into(),
            ..Default::default()
        };
        let fingerprint = [7u8; 32];
        let binary = encode_response(&response, &fingerprint);
        let json = encode_pb(&response, Some(&fingerprint)).unwrap();
        assert!(binary.len() < json.len());
        for stored in [binary, json.into_bytes()] {
            let (back, f) = decode_response(&stored).unwrap();
            assert_eq!(back, response);
            assert_eq!(f, Some(fingerprint));
        }
        assert!(decode_response(b"").is_err());
        assert!(decode_response(&[RESPONSE_V2, 1, 2]).is_err());
    }

    #[test]
    fn the_document_key_is_stable_for_one_key_and_differs_between_documents() {
        let dir = tempfile::tempdir().unwrap();
        let a = DocumentHasher::load_or_create(dir.path()).unwrap();
        let b = DocumentHasher::load_or_create(dir.path()).unwrap();
        let k = DocumentKey::new("PAK", "AB123");
        assert_eq!(a.key_of(&k), b.key_of(&k));
        assert_ne!(a.key_of(&k), a.key_of(&DocumentKey::new("PAK", "AB124")));
        assert!(!a.key_of(&k).contains("AB123"));
    }
}
