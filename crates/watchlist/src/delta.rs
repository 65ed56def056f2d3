//! Intraday signed deltas: entries HQ adds, changes or removes between two nightly snapshots
//! (a court orders a name onto the Exit Control List at noon), and the [`DeltaSet`] overlay
//! that makes them visible to the matcher on top of the active snapshot.
//!
//! # Layout (format version 1, integers little-endian)
//! ```text
//! 0        8 bytes   magic "CPWLDLTA"
//! 8        u32       format version
//! 12       u32       header length H (at most MAX_HEADER_BYTES)
//! 16       H bytes   header (postcard): delta id, created-at, base snapshot version (optional),
//!                    add and remove counts, body length, blake3 digest of the body, signer's key
//! 16+H     u32       signature length S: 64, or 0 for an unsigned file
//! 20+H     S bytes   ed25519 signature over bytes 0 .. 16+H
//! 20+H+S   body      postcard of (adds: Vec<Entry>, removes: Vec<EntryId>)
//! ```
//! The framing (magic, version, header, signature, body digest) is the snapshot's, shared in
//! one private module, and so is the key discipline ([`crate::snapshot`]): the same PEM keys,
//! the same trusted HQ key list, the signature over the header that carries the body's digest,
//! and the same order of checks at load time, each failure its own [`WatchlistError`] variant
//! naming the file a delta ([`crate::FileKind::Delta`]): `Truncated`, `NotADelta` for a bad
//! magic, `FutureFormat`, `MalformedHeader`, `Unsigned`, `NoTrustedKeys`, `UntrustedSigner`,
//! `BadSignature`, `Corrupted`, `MalformedBody`. Nothing from the body is used before the
//! signature and digest verified.
//!
//! # Overlay semantics
//! Deltas apply in order; for each entry id the last delta that names it wins. An added entry
//! whose id is already in the snapshot *replaces* it (the matcher finds the new content and no
//! longer the old); a removed id hides the snapshot's entry (and any earlier delta's). A delta
//! is superseded by a snapshot that already says the same thing: every add present with the
//! same [`Entry::content_digest`] and every removed id absent.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::entries::Entries;
use crate::envelope::{self, Format, Opened};
use crate::matcher::{Match, Query};
use crate::snapshot::{Snapshot, SnapshotHeader};
use crate::{Direction, Entry, EntryId, FileKind, WatchlistError};

/// The newest delta format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first eight bytes of every delta file.
pub const MAGIC: [u8; 8] = *b"CPWLDLTA";

/// Largest header accepted.
pub const MAX_HEADER_BYTES: u32 = envelope::MAX_HEADER_BYTES;

/// Largest number of adds plus removes in one delta. A delta is an urgent intraday change
/// (a few names, at most a few thousand); its overlay index is rebuilt on every apply, so bulk
/// changes belong in a snapshot.
pub const MAX_DELTA_ENTRIES: usize = 100_000;

/// The framing of a delta file ([`crate::envelope`]).
const FORMAT: Format = Format {
    magic: MAGIC,
    version: FORMAT_VERSION,
    kind: FileKind::Delta,
};

/// What a delta says about itself. [`read_header`] returns it without any trust;
/// [`Delta::load`] only after the signature and digest verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaHeader {
    /// File format version.
    pub format_version: u32,
    /// HQ's id for this delta (e.g. `2026-11-23-ecl-017`); re-applying an id is a no-op.
    pub id: String,
    /// When HQ signed it.
    pub created_at: DateTime<Utc>,
    /// The snapshot version HQ built it against, for the record (not enforced: a delta applies
    /// over whatever snapshot is active).
    pub base_version: Option<String>,
    /// Entries added or replaced.
    pub adds: u64,
    /// Entry ids removed.
    pub removes: u64,
    /// blake3 digest of the body.
    pub body_digest: [u8; 32],
    /// The ed25519 public key that signed it.
    pub signer: [u8; 32],
}

impl DeltaHeader {
    /// The body digest, hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.body_digest)
    }

    /// The signer's public key, hex.
    pub fn signer_hex(&self) -> String {
        hex::encode(self.signer)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WireHeader {
    id: String,
    created_at_secs: i64,
    created_at_nanos: u32,
    base_version: Option<String>,
    adds: u64,
    removes: u64,
    body_len: u64,
    body_digest: [u8; 32],
    signer: [u8; 32],
}

envelope::signed_header!(WireHeader);

/// The public header of an opened file (not trusted until [`envelope::verify`] accepted it).
fn header_of(opened: Opened<'_, WireHeader>) -> DeltaHeader {
    let wire = opened.header;
    DeltaHeader {
        format_version: opened.format_version,
        id: wire.id,
        created_at: opened.created_at,
        base_version: wire.base_version,
        adds: wire.adds,
        removes: wire.removes,
        body_digest: wire.body_digest,
        signer: wire.signer,
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WireBody {
    adds: Vec<Entry>,
    removes: Vec<EntryId>,
}

/// Checks that a delta names each id once and is neither empty nor too large.
fn check_ids(adds: &[Entry], removes: &[EntryId]) -> Result<(), WatchlistError> {
    if adds.is_empty() && removes.is_empty() {
        return Err(WatchlistError::Encode {
            kind: FileKind::Delta,
            reason: "a delta must add or remove at least one entry".to_string(),
        });
    }
    if adds.len() + removes.len() > MAX_DELTA_ENTRIES {
        return Err(WatchlistError::Encode {
            kind: FileKind::Delta,
            reason: format!(
                "a delta holds at most {MAX_DELTA_ENTRIES} adds and removes; build a snapshot instead"
            ),
        });
    }
    let mut ids = HashSet::with_capacity(adds.len() + removes.len());
    for id in adds.iter().map(|e| &e.entry_id).chain(removes) {
        if !ids.insert(id) {
            return Err(WatchlistError::DuplicateEntryId {
                entry_id: id.clone(),
            });
        }
    }
    Ok(())
}

/// Builds a signed delta file that adds (or replaces) `adds` and removes `removes`. `id` names
/// the delta (re-applying an id is a no-op at the post); `base_version` records the snapshot
/// HQ built it against. Refuses an empty delta, more than [`MAX_DELTA_ENTRIES`], and an id named
/// twice (added twice, removed twice, or both added and removed).
pub fn build(
    adds: &[Entry],
    removes: &[EntryId],
    id: &str,
    created_at: DateTime<Utc>,
    base_version: Option<&str>,
    key: &SigningKey,
) -> Result<Vec<u8>, WatchlistError> {
    if id.trim().is_empty() {
        return Err(WatchlistError::Encode {
            kind: FileKind::Delta,
            reason: "a delta needs a non-empty id".to_string(),
        });
    }
    check_ids(adds, removes)?;
    let encode = |e: postcard::Error| WatchlistError::Encode {
        kind: FileKind::Delta,
        reason: e.to_string(),
    };
    let body = postcard::to_stdvec(&WireBody {
        adds: adds.to_vec(),
        removes: removes.to_vec(),
    })
    .map_err(encode)?;
    let wire = WireHeader {
        id: id.trim().to_string(),
        created_at_secs: created_at.timestamp(),
        created_at_nanos: created_at.timestamp_subsec_nanos(),
        base_version: base_version.map(str::to_string),
        adds: adds.len() as u64,
        removes: removes.len() as u64,
        body_len: body.len() as u64,
        body_digest: *blake3::hash(&body).as_bytes(),
        signer: key.verifying_key().to_bytes(),
    };
    envelope::seal(&FORMAT, &wire, &body, key)
}

/// Whether `bytes` start like a delta file (for tools that accept snapshots and deltas).
pub fn is_delta(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Reads the header without verifying anything (for `snapshot inspect`).
pub fn read_header(bytes: &[u8]) -> Result<DeltaHeader, WatchlistError> {
    envelope::open::<WireHeader>(&FORMAT, bytes).map(header_of)
}

/// A verified, decoded delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// What the file said about itself (verified).
    pub header: DeltaHeader,
    /// Entries added, or replacing the snapshot's entry of the same id.
    pub adds: Vec<Entry>,
    /// Entry ids removed.
    pub removes: Vec<EntryId>,
}

impl Delta {
    /// Verifies `bytes` against the `trusted` HQ keys and decodes them, in the order of checks
    /// in the module docs.
    pub fn load(bytes: &[u8], trusted: &[VerifyingKey]) -> Result<Delta, WatchlistError> {
        let (opened, body) = envelope::verify::<WireHeader>(&FORMAT, bytes, trusted)?;
        let header = header_of(opened);
        let malformed = |reason: String| WatchlistError::MalformedBody {
            kind: FileKind::Delta,
            reason,
        };
        let wire: WireBody = postcard::from_bytes(body).map_err(|e| malformed(e.to_string()))?;
        if wire.adds.len() as u64 != header.adds || wire.removes.len() as u64 != header.removes {
            return Err(malformed(
                "add/remove counts disagree with the header".to_string(),
            ));
        }
        check_ids(&wire.adds, &wire.removes).map_err(|e| malformed(e.to_string()))?;
        Ok(Delta {
            header,
            adds: wire.adds,
            removes: wire.removes,
        })
    }

    /// Whether `snapshot` already says everything this delta says: every add is in it with the
    /// same content digest and every removed id is absent. Such a delta can be dropped.
    pub fn superseded_by(&self, snapshot: &Snapshot) -> bool {
        let digests = digests_of(snapshot, std::slice::from_ref(self));
        superseded(self, &digests)
    }
}

/// For each of `deltas`, whether `snapshot` supersedes it ([`Delta::superseded_by`]), in one
/// pass over the snapshot.
pub fn superseded_each(deltas: &[Delta], snapshot: &Snapshot) -> Vec<bool> {
    let digests = digests_of(snapshot, deltas);
    deltas.iter().map(|d| superseded(d, &digests)).collect()
}

/// The content digests of the snapshot entries whose ids any of `deltas` names (one pass over
/// the snapshot's ids, decoding only the named entries; the snapshot has no id index, and
/// rebasing is rare).
fn digests_of(snapshot: &Snapshot, deltas: &[Delta]) -> HashMap<EntryId, [u8; 32]> {
    let named: HashSet<&str> = deltas
        .iter()
        .flat_map(|d| d.adds.iter().map(|e| &e.entry_id).chain(&d.removes))
        .map(|id| id.0.as_str())
        .collect();
    let entries = snapshot.entries();
    (0..entries.len())
        .filter(|&i| entries.id(i).is_some_and(|id| named.contains(id)))
        .filter_map(|i| entries.get(i))
        .map(|e| (e.entry_id.clone(), e.content_digest()))
        .collect()
}

fn superseded(delta: &Delta, digests: &HashMap<EntryId, [u8; 32]>) -> bool {
    delta
        .adds
        .iter()
        .all(|e| digests.get(&e.entry_id) == Some(&e.content_digest()))
        && delta.removes.iter().all(|id| !digests.contains_key(id))
}

/// The ordered deltas in force over a snapshot, and the overlay they make: a small index of the
/// added/replaced entries and the set of snapshot ids they hide. Immutable; applying a delta
/// makes a new set (the server swaps it in atomically).
pub struct DeltaSet {
    deltas: Vec<Delta>,
    /// The entries in force from deltas (last delta wins per id), indexed.
    overlay: Snapshot,
    /// Every id a delta adds, replaces or removes: the snapshot's entry of that id is hidden.
    masked: HashSet<EntryId>,
}

impl Default for DeltaSet {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl std::fmt::Debug for DeltaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSet")
            .field(
                "deltas",
                &self
                    .deltas
                    .iter()
                    .map(|d| d.header.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("entries", &self.overlay.len())
            .field("masked", &self.masked.len())
            .finish()
    }
}

impl DeltaSet {
    /// The overlay of `deltas`, applied in order (the last delta naming an id wins).
    pub fn new(deltas: Vec<Delta>) -> DeltaSet {
        // Insertion order of ids is kept so the overlay's entry positions are deterministic.
        let mut order: Vec<EntryId> = Vec::new();
        let mut state: HashMap<EntryId, Option<&Entry>> = HashMap::new();
        for d in &deltas {
            let changes = d
                .adds
                .iter()
                .map(|e| (&e.entry_id, Some(e)))
                .chain(d.removes.iter().map(|id| (id, None)));
            for (id, value) in changes {
                if state.insert(id.clone(), value).is_none() {
                    order.push(id.clone());
                }
            }
        }
        let entries: Vec<Entry> = order
            .iter()
            .filter_map(|id| state.get(id).copied().flatten().cloned())
            .collect();
        let created_at = deltas
            .iter()
            .map(|d| d.header.created_at)
            .max()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        // The overlay header is never signed or shown; `for_entries` only fails to encode on a
        // bug, and then the counts/digest are informational anyway.
        let header =
            SnapshotHeader::for_entries(&entries, "deltas", created_at).unwrap_or(SnapshotHeader {
                format_version: crate::snapshot::FORMAT_VERSION,
                version: "deltas".to_string(),
                created_at,
                counts: Vec::new(),
                body_digest: [0; 32],
                signer: [0; 32],
            });
        let masked = order.into_iter().collect();
        DeltaSet {
            deltas,
            overlay: Snapshot::from_entries(header, entries),
            masked,
        }
    }

    /// The deltas in force, in the order they apply.
    pub fn deltas(&self) -> &[Delta] {
        &self.deltas
    }

    /// The delta with this id, if in force.
    pub fn get(&self, id: &str) -> Option<&Delta> {
        self.deltas.iter().find(|d| d.header.id == id)
    }

    /// No delta in force.
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// Entries in force from deltas: distinct ids added, replaced or removed.
    pub fn entry_count(&self) -> u64 {
        self.masked.len() as u64
    }

    /// The entries the deltas add or replace, in force (last delta wins).
    pub fn entries(&self) -> &Entries {
        self.overlay.entries()
    }

    /// Whether the snapshot's entry with this id is hidden (removed or replaced by a delta).
    pub fn masks(&self, id: &EntryId) -> bool {
        self.masked.contains(id)
    }

    /// This set with `delta` applied after the others. A delta whose id is already in force is
    /// not applied twice: the set is returned unchanged (`None`).
    pub fn with(&self, delta: Delta) -> Option<DeltaSet> {
        if self.get(&delta.header.id).is_some() {
            return None;
        }
        let mut deltas = self.deltas.clone();
        deltas.push(delta);
        Some(DeltaSet::new(deltas))
    }

    /// Splits off the deltas `snapshot` supersedes ([`Delta::superseded_by`]): returns the set
    /// of the others and the ids of those dropped, in order.
    pub fn rebase(&self, snapshot: &Snapshot) -> (DeltaSet, Vec<String>) {
        let mask = superseded_each(&self.deltas, snapshot);
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for (d, gone) in self.deltas.iter().zip(mask) {
            if gone {
                dropped.push(d.header.id.clone());
            } else {
                kept.push(d.clone());
            }
        }
        (DeltaSet::new(kept), dropped)
    }

    /// Every entry of `base` overlaid with these deltas that matches `q` in `direction` on
    /// `today`, strongest first (the order of [`crate::index::Index::find`]). Matches of base
    /// entries a delta hides are dropped. A delta entry's [`Match::entry`] is its position in the
    /// combined list *base entries, then [`DeltaSet::entries`]*; resolve it with
    /// [`DeltaSet::entry_at`] (a caller that only holds the base finds no entry there, never
    /// the wrong one).
    pub fn find_over(
        &self,
        base: Option<&Snapshot>,
        q: &Query,
        direction: Option<Direction>,
        today: NaiveDate,
    ) -> Vec<Match> {
        let mut out: Vec<Match> = base
            .map(|b| b.find(q, direction, today))
            .unwrap_or_default();
        if self.masked.is_empty() {
            return out;
        }
        out.retain(|m| !self.masked.contains(&m.entry_id));
        if self.overlay.is_empty() {
            // Removals only: nothing to look up in the overlay.
            return out;
        }
        let offset = base.map_or(0, |b| b.len() as u32);
        out.extend(
            self.overlay
                .find(q, direction, today)
                .into_iter()
                .map(|mut m| {
                    m.entry += offset;
                    m
                }),
        );
        out.sort_by(|a, b| {
            b.strong
                .cmp(&a.strong)
                .then(b.level.cmp(&a.level))
                .then(b.score.total_cmp(&a.score))
                .then(a.entry.cmp(&b.entry))
        });
        out
    }

    /// [`DeltaSet::entry_at`] as a view (what a screening reports, without decoding).
    pub fn view_at<'a>(
        &'a self,
        base: Option<&'a Snapshot>,
        position: u32,
    ) -> Option<crate::EntryView<'a>> {
        let base_len = base.map_or(0, Snapshot::len);
        let position = position as usize;
        match base {
            Some(b) if position < base_len => b.view(position),
            _ => self.overlay.view(position - base_len),
        }
    }

    /// The entry at `position` of the combined list [`DeltaSet::find_over`] reports positions
    /// in, decoded.
    pub fn entry_at(&self, base: Option<&Snapshot>, position: u32) -> Option<Entry> {
        let base_len = base.map_or(0, Snapshot::len);
        let position = position as usize;
        match base {
            Some(b) if position < base_len => b.entry(position),
            _ => self.overlay.entry(position - base_len),
        }
    }
}
