//! The signed snapshot file: what HQ builds every night and every post loads. This module owns
//! its layout, its signing and the order of checks at load time; the body's encoding is
//! `postcard` (compact, serde-based, well kept) and the signature is ed25519 (`ed25519-dalek`).
//!
//! # Layout (format version 1, integers little-endian)
//! ```text
//! 0        8 bytes   magic "CPWLSNAP"
//! 8        u32       format version
//! 12       u32       header length H (at most MAX_HEADER_BYTES)
//! 16       H bytes   header (postcard): label, created-at, per-list counts, entry count,
//!                    body length, chunk lengths, blake3 digest of the body, signer's key
//! 16+H     u32       signature length S: 64, or 0 for an unsigned file
//! 20+H     S bytes   ed25519 signature over bytes 0 .. 16+H (magic to end of header, so it
//!                    covers the body digest and length)
//! 20+H+S   body      chunks, each a postcard list of up to CHUNK_ENTRIES entries, in
//!                    build order (chunks bound the loader's peak memory, and leave room
//!                    for decoding on several cores)
//! ```
//! The framing (everything but the header's fields and the body) is shared with delta files
//! in one private module (`envelope`); errors from it name the kind of file
//! ([`crate::FileKind::Snapshot`]).
//!
//! # Load order
//! [`Snapshot::load`] checks, in this order, and stops at the first failure, each with its own
//! [`WatchlistError`] variant: length and magic (`Truncated`, `NotASnapshot`), format version
//! (`FutureFormat`), header (`MalformedHeader`), signature present (`Unsigned`), signer trusted
//! (`UntrustedSigner`), signature valid (`BadSignature`), body length (`Truncated`; bytes past
//! the signed length are `Corrupted`), body digest (`Corrupted`). Only then is the body decoded,
//! so nothing from an unverified file is used. Every byte of the file is covered by the
//! signature or the digest, so any change to any byte is refused (the loader is fuzzed with
//! single-byte changes, truncations and garbage in `tests/snapshot_file.rs`).
//!
//! # Keys
//! Keys are PEM files: the signing key as PKCS#8 (`-----BEGIN PRIVATE KEY-----`), the public key
//! as SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), the formats `openssl genpkey -algorithm
//! ed25519` and `openssl pkey -pubout` use, so HQ may make keys with either tool.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
pub use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::entries::Entries;
use crate::envelope::{self, Format, Opened};
use crate::index::Index;
use crate::index::build::{self, Shaper};
use crate::matcher::{Match, Query};
use crate::normalize::Normalizer;
use crate::{Direction, Entry, FileKind, ListKind, WatchlistError};

/// The newest file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"CPWLSNAP";

/// Largest header accepted (the header is small; a larger length is a broken file).
pub const MAX_HEADER_BYTES: u32 = envelope::MAX_HEADER_BYTES;

/// Entries per body chunk.
pub const CHUNK_ENTRIES: usize = 32 * 1024;

/// The framing of a snapshot file ([`crate::envelope`]).
const FORMAT: Format = Format {
    magic: MAGIC,
    version: FORMAT_VERSION,
    kind: FileKind::Snapshot,
};

/// What a snapshot says about itself. [`read_header`] returns it without any trust;
/// [`Snapshot::load`] only after the signature and digest verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// File format version.
    pub format_version: u32,
    /// HQ's label for this build (e.g. `2026-11-23.1`).
    pub version: String,
    /// When HQ built it.
    pub created_at: DateTime<Utc>,
    /// Entries per list, in [`ListKind::ALL`] order, every list present.
    pub counts: Vec<(ListKind, u64)>,
    /// blake3 digest of the body.
    pub body_digest: [u8; 32],
    /// The ed25519 public key that signed it.
    pub signer: [u8; 32],
}

impl SnapshotHeader {
    /// A header describing `entries` (counts and the digest of their encoded body), with no
    /// signer: for tests and tools that build a [`Snapshot`] in memory.
    pub fn for_entries(
        entries: &[Entry],
        version: &str,
        created_at: DateTime<Utc>,
    ) -> Result<Self, WatchlistError> {
        let (body, _) = encode_body(entries)?;
        Ok(Self {
            format_version: FORMAT_VERSION,
            version: version.to_string(),
            created_at,
            counts: counts(entries.iter().map(|e| e.list)),
            body_digest: *blake3::hash(&body).as_bytes(),
            signer: [0; 32],
        })
    }

    /// Total entries over all lists.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// The body digest, hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.body_digest)
    }

    /// The signer's public key, hex.
    pub fn signer_hex(&self) -> String {
        hex::encode(self.signer)
    }
}

/// The header as encoded in the file.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireHeader {
    version: String,
    created_at_secs: i64,
    created_at_nanos: u32,
    counts: Vec<(ListKind, u64)>,
    entry_count: u64,
    body_len: u64,
    chunk_lens: Vec<u64>,
    body_digest: [u8; 32],
    signer: [u8; 32],
}

envelope::signed_header!(WireHeader);

/// The public header of an opened file (not trusted until [`envelope::verify`] accepted it).
fn header_of(opened: &Opened<'_, WireHeader>) -> SnapshotHeader {
    let wire = &opened.header;
    SnapshotHeader {
        format_version: opened.format_version,
        version: wire.version.clone(),
        created_at: opened.created_at,
        counts: wire.counts.clone(),
        body_digest: wire.body_digest,
        signer: wire.signer,
    }
}

/// Builds a signed snapshot file of `entries`. Refuses an empty list of entries (a post
/// loading it would clear everyone) and duplicate entry ids.
pub fn build(
    entries: &[Entry],
    version: &str,
    created_at: DateTime<Utc>,
    key: &SigningKey,
) -> Result<Vec<u8>, WatchlistError> {
    if entries.is_empty() {
        return Err(WatchlistError::EmptySnapshot);
    }
    let mut ids = HashSet::with_capacity(entries.len());
    if let Some(dup) = entries.iter().find(|e| !ids.insert(&e.entry_id)) {
        return Err(WatchlistError::DuplicateEntryId {
            entry_id: dup.entry_id.clone(),
        });
    }
    let (body, chunk_lens) = encode_body(entries)?;
    let wire = WireHeader {
        version: version.to_string(),
        created_at_secs: created_at.timestamp(),
        created_at_nanos: created_at.timestamp_subsec_nanos(),
        counts: counts(entries.iter().map(|e| e.list)),
        entry_count: entries.len() as u64,
        body_len: body.len() as u64,
        chunk_lens,
        body_digest: *blake3::hash(&body).as_bytes(),
        signer: key.verifying_key().to_bytes(),
    };
    envelope::seal(&FORMAT, &wire, &body, key)
}

/// Reads the header without verifying anything (for `snapshot inspect`). Nothing in it is
/// trustworthy until [`Snapshot::load`] accepts the file.
pub fn read_header(bytes: &[u8]) -> Result<SnapshotHeader, WatchlistError> {
    envelope::open::<WireHeader>(&FORMAT, bytes).map(|o| header_of(&o))
}

/// A verified, indexed snapshot: immutable once loaded. Its entries are held encoded
/// ([`Entries`]) and decoded one at a time when asked for ([`Snapshot::entry`]).
pub struct Snapshot {
    /// What the file said about itself (verified).
    pub header: SnapshotHeader,
    /// `header.body_digest` in hex, made once (every screening names its snapshot by it).
    digest_hex: String,
    /// Every entry, in build order; matches refer to entries by position in this list.
    entries: Entries,
    /// Exact and name indexes over the entries.
    pub index: Index,
}

impl Snapshot {
    /// Verifies `bytes` against the `trusted` HQ keys and loads them: see the module docs for
    /// the order of checks. The body is decoded only after the signature and digest verified.
    pub fn load(bytes: &[u8], trusted: &[VerifyingKey]) -> Result<Snapshot, WatchlistError> {
        let (opened, body) = envelope::verify::<WireHeader>(&FORMAT, bytes, trusted)?;
        let header = header_of(&opened);
        let wire = opened.header;
        let threads = build::threads_for(usize::try_from(wire.entry_count).unwrap_or(0));
        let (entries, index) = load_body(body, &wire.chunk_lens, threads)?;
        if entries.len() as u64 != wire.entry_count || counts(index.lists()) != header.counts {
            return Err(malformed(
                "entry counts disagree with the header".to_string(),
            ));
        }
        Ok(Snapshot {
            digest_hex: header.digest_hex(),
            header,
            entries,
            index,
        })
    }

    /// A snapshot from entries already in memory (tests, tools); builds the index. Nothing is
    /// verified: the caller vouches for `header` and `entries`.
    pub fn from_entries(header: SnapshotHeader, entries: Vec<Entry>) -> Snapshot {
        let index = Index::build(&entries);
        Snapshot {
            digest_hex: header.digest_hex(),
            header,
            entries: Entries::encode(&entries),
            index,
        }
    }

    /// The entries, in build order.
    pub fn entries(&self) -> &Entries {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the snapshot holds no entry (only an in-memory one can: a file never does).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What a screening reports of entry `i` (a [`Match::entry`]), without decoding it; `None`
    /// past the end.
    pub fn view(&self, i: usize) -> Option<crate::EntryView<'_>> {
        self.entries.view(i)
    }

    /// Entry `i` (a [`Match::entry`]), decoded; `None` past the end.
    pub fn entry(&self, i: usize) -> Option<Entry> {
        self.entries.get(i)
    }

    /// Every entry matching `q` that applies in `direction` (`None`: any) and is in force on
    /// `today`, strongest first (see [`Index::find`]).
    pub fn find(&self, q: &Query, direction: Option<Direction>, today: NaiveDate) -> Vec<Match> {
        self.index.find(&self.entries, q, direction, today)
    }

    /// The body digest, hex: how the server and the audit trail name this snapshot.
    pub fn digest_hex(&self) -> String {
        self.digest_hex.clone()
    }

    /// How old the snapshot is at `now` (negative if HQ's clock was ahead).
    pub fn age(&self, now: DateTime<Utc>) -> chrono::Duration {
        now - self.header.created_at
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("header", &self.header)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Reads a signing key from PEM (PKCS#8, `-----BEGIN PRIVATE KEY-----`).
pub fn read_signing_key(text: &str) -> Result<SigningKey, WatchlistError> {
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| WatchlistError::Key {
        reason: format!("not an ed25519 PKCS#8 PEM private key: {e}"),
    })
}

/// Reads a public key from PEM (SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`).
pub fn read_verifying_key(text: &str) -> Result<VerifyingKey, WatchlistError> {
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| WatchlistError::Key {
        reason: format!("not an ed25519 PEM public key: {e}"),
    })
}

/// The signing key as PKCS#8 PEM, for `snapshot keygen` to write (mode 0600 is the caller's job).
pub fn signing_key_pem(key: &SigningKey) -> Result<String, WatchlistError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.as_str().to_string())
        .map_err(|e| WatchlistError::Key {
            reason: e.to_string(),
        })
}

/// The public key as SubjectPublicKeyInfo PEM.
pub fn verifying_key_pem(key: &VerifyingKey) -> Result<String, WatchlistError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| WatchlistError::Key {
            reason: e.to_string(),
        })
}

/// Entries per list, every list present, in [`ListKind::ALL`] order.
fn counts(lists: impl Iterator<Item = ListKind>) -> Vec<(ListKind, u64)> {
    let mut counts: Vec<(ListKind, u64)> = ListKind::ALL.iter().map(|l| (*l, 0)).collect();
    for list in lists {
        if let Some(slot) = counts.iter_mut().find(|(l, _)| *l == list) {
            slot.1 += 1;
        }
    }
    counts
}

/// The body and the length of each chunk in it.
fn encode_body(entries: &[Entry]) -> Result<(Vec<u8>, Vec<u64>), WatchlistError> {
    encode_body_in(entries, CHUNK_ENTRIES)
}

/// [`encode_body`] with `per_chunk` entries a chunk.
fn encode_body_in(
    entries: &[Entry],
    per_chunk: usize,
) -> Result<(Vec<u8>, Vec<u64>), WatchlistError> {
    let mut body = Vec::new();
    let mut lens = Vec::new();
    for chunk in entries.chunks(per_chunk) {
        let bytes = postcard::to_stdvec(chunk).map_err(|e| WatchlistError::Encode {
            kind: FileKind::Snapshot,
            reason: e.to_string(),
        })?;
        lens.push(bytes.len() as u64);
        body.extend_from_slice(&bytes);
    }
    Ok((body, lens))
}

fn malformed(reason: String) -> WatchlistError {
    WatchlistError::MalformedBody {
        kind: FileKind::Snapshot,
        reason,
    }
}

/// Decodes the (verified) body and indexes it in one pass, on `threads` threads, each taking a
/// run of whole chunks: every entry is decoded once, handed to the index builder and dropped, so
/// no list of decoded entries is ever held (a decoded entry takes ~5 times its encoding). The
/// body itself is kept as the entries' arena ([`Entries`]).
fn load_body(
    body: &[u8],
    chunk_lens: &[u64],
    threads: usize,
) -> Result<(Entries, Index), WatchlistError> {
    if u32::try_from(body.len()).is_err() {
        return Err(malformed(format!(
            "body of {} bytes is over the 4 GiB this build holds",
            body.len()
        )));
    }
    // Each chunk: (start in the body, its bytes, entries it says it holds).
    let mut chunks: Vec<(usize, &[u8], usize)> = Vec::with_capacity(chunk_lens.len());
    let mut rest = body;
    for (i, len) in chunk_lens.iter().enumerate() {
        let len = usize::try_from(*len)
            .ok()
            .filter(|l| *l <= rest.len())
            .ok_or_else(|| malformed(format!("chunk {i} runs past the body")))?;
        let (chunk, tail) = rest.split_at(len);
        let (count, _) = postcard::take_from_bytes::<u64>(chunk)
            .map_err(|e| malformed(format!("chunk {i}: {e}")))?;
        // Signed by HQ, still bounded by the chunk's bytes (an entry takes several).
        let count = usize::try_from(count).unwrap_or(usize::MAX).min(len);
        chunks.push((body.len() - rest.len(), chunk, count));
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(malformed(format!(
            "{} bytes after the last chunk",
            rest.len()
        )));
    }
    // Runs of whole chunks, about the same number of entries each.
    let total: usize = chunks.iter().map(|c| c.2).sum();
    let per = total.div_ceil(threads.max(1)).max(1);
    // (number of the run's first entry, its chunks as (chunk number, start, bytes, entries)).
    type Run<'b> = (usize, Vec<(usize, usize, &'b [u8], usize)>);
    let mut runs: Vec<Run<'_>> = Vec::new();
    let mut first = 0usize;
    for (k, &(at, chunk, count)) in chunks.iter().enumerate() {
        match runs.last_mut() {
            Some((start, run)) if first - *start < per => run.push((k, at, chunk, count)),
            _ => runs.push((first, vec![(k, at, chunk, count)])),
        }
        first += count;
    }
    let norm = Normalizer::standard();
    let shaped = build::parallel_map(runs, |(first, run)| -> Result<_, WatchlistError> {
        let capacity = run.iter().map(|c| c.3).sum();
        let mut shaper = Shaper::new(norm, first as u32, capacity);
        let mut starts: Vec<u32> = Vec::with_capacity(capacity);
        for (k, at, chunk, count) in run {
            let (_, mut rest) = postcard::take_from_bytes::<u64>(chunk)
                .map_err(|e| malformed(format!("chunk {k}: {e}")))?;
            for _ in 0..count {
                let start = at + (chunk.len() - rest.len());
                let (entry, tail) = postcard::take_from_bytes::<Entry>(rest)
                    .map_err(|e| malformed(format!("chunk {k}: {e}")))?;
                starts.push(start as u32);
                shaper.push(&entry);
                rest = tail;
            }
            if !rest.is_empty() {
                return Err(malformed(format!(
                    "chunk {k}: {} bytes after its {count} entries",
                    rest.len()
                )));
            }
        }
        Ok((shaper.finish(), starts))
    });
    let mut shares = Vec::with_capacity(shaped.len());
    let mut starts: Vec<u32> = Vec::with_capacity(total);
    for r in shaped {
        let (share, s) = r?;
        shares.push(share);
        starts.extend_from_slice(&s);
    }
    let index = build::assemble(shares, norm, None);
    Ok((Entries::from_parts(body.into(), starts), index))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::index::build::tests::assert_same;

    #[test]
    fn a_body_loaded_on_any_number_of_threads_gives_back_its_entries_and_their_index() {
        let entries = crate::synth::generate(9_000, 3);
        let (body, lens) = encode_body_in(&entries, 1_000).unwrap();
        let reference = Index::build_threads(&entries, None, 1);
        for threads in [1, 2, 3, 4, 16] {
            let (loaded, index) = load_body(&body, &lens, threads).unwrap();
            assert_eq!(loaded.to_vec(), entries, "{threads} threads");
            assert_same(&reference, &index, &format!("{threads} threads"));
        }
    }

    #[test]
    fn a_chunk_with_bytes_past_its_entries_is_malformed() {
        let entries = crate::synth::generate(20, 4);
        let (mut body, mut lens) = encode_body_in(&entries, 10).unwrap();
        body.insert(lens[0] as usize, 0);
        lens[0] += 1;
        let err = load_body(&body, &lens, 2).unwrap_err();
        assert!(
            matches!(&err, WatchlistError::MalformedBody { reason, .. } if reason.contains("chunk 0")),
            "{err}"
        );
        let err = load_body(&body[..body.len() - 1], &lens, 1).unwrap_err();
        assert!(matches!(err, WatchlistError::MalformedBody { .. }), "{err}");
    }
}
