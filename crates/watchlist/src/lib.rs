//! Watchlists: what a post screens people and documents against.
//!
//! - [`vocab`]: decision levels, directions, list kinds, match kinds — the shared vocabulary.
//! - [`Entry`]: one listed person or document; [`Entries`]: a snapshot's entries, held encoded.
//! - [`csv`]: HQ's CSV export, strictly validated.
//! - [`snapshot`]: the signed snapshot file: build, sign, verify, load.
//! - [`delta`]: signed intraday delta files (adds, replacements, removals between two
//!   snapshots) and the [`delta::DeltaSet`] overlay the matcher sees on top of a snapshot.
//! - [`synth`]: realistic synthetic watchlists for tests, benches and load tests.
//! - [`normalize`]: name normalization (transliteration variants, honorifics, truncation).
//! - [`index`]: exact and name indexes over a snapshot's entries.
//! - [`matcher`]: identity queries, candidate scoring and match kinds.
//! - [`WatchlistError`]: every way the above can refuse its input.

pub mod csv;
pub mod delta;
pub mod entries;
mod envelope;
pub mod index;
pub mod matcher;
pub mod normalize;
pub mod snapshot;
pub mod synth;
pub mod vocab;

pub use csv::RowError;
pub use entries::{Entries, EntryView};
pub use snapshot::{Snapshot, SnapshotHeader};
pub use vocab::{Decision, Direction, EntryId, ListKind, MatchKind};

use checkpost_document::{Cnic, PartialDate, Sex};

/// The blake3 derive-key context of [`Entry::content_digest`].
const ENTRY_DIGEST_CONTEXT: &str = "checkpost watchlist entry v1";

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

impl Entry {
    /// blake3 digest of the entry's canonical encoding (its compact binary form, the same one
    /// the snapshot body uses). Any change to any field changes it; the server shows it to
    /// reviewers and the store remembers "cleared against this exact entry" by it.
    pub fn content_digest(&self) -> [u8; 32] {
        // An entry is encoded on the stack (the same bytes as `to_stdvec`, without its
        // allocation and regrowth) unless it is unusually long.
        let mut buf = [0u8; 1024];
        // Encoding into a Vec cannot fail for this type (no maps, no unsized sequences); the
        // fallback still yields a digest that differs per entry via its Debug form.
        match postcard::to_slice(self, &mut buf) {
            Ok(bytes) => digest_of_encoding(bytes),
            Err(_) => match postcard::to_stdvec(self) {
                Ok(bytes) => digest_of_encoding(&bytes),
                Err(_) => digest_of_encoding(format!("{self:?}").as_bytes()),
            },
        }
    }
}

/// [`Entry::content_digest`] of an entry whose canonical encoding is `encoded` (the one place
/// that defines it; a snapshot's stored entries are hashed from their bytes directly).
pub(crate) fn digest_of_encoding(encoded: &[u8]) -> [u8; 32] {
    // The engine digests every matched entry of a screening (a common name has a dozen): the
    // derive-key context is hashed once.
    static CONTEXT: std::sync::LazyLock<blake3::Hasher> =
        std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(ENTRY_DIGEST_CONTEXT));
    let mut hasher = CONTEXT.clone();
    hasher.update(encoded);
    *hasher.finalize().as_bytes()
}

/// Every way this crate refuses its input. One enum for the crate; each variant carries what an
/// operator needs to fix the problem (file, line, column, field, entry id, which check failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchlistError {
    /// A strict CSV import met bad rows; the whole import is refused. Every bad row is listed
    /// (file, line, column, field, why), so one run shows ops everything to fix.
    #[error("{} bad row(s); first: {}", rows.len(), rows.first().map(ToString::to_string).unwrap_or_default())]
    RejectedRows {
        /// Every rejected row, in file and line order.
        rows: Vec<RowError>,
    },
    /// A CSV file whose header row is missing, unreadable or names an unknown/duplicate column.
    #[error("{file}: bad header: {reason}")]
    CsvHeader {
        /// The file name as given to the import.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing CSV failed.
    #[error("writing CSV: {0}")]
    Write(#[source] std::io::Error),
    /// A snapshot must hold at least one entry: an empty list at a post would clear everyone.
    #[error("refusing to build an empty snapshot")]
    EmptySnapshot,
    /// Two entries of one snapshot share an id.
    #[error("duplicate entry id '{entry_id}'")]
    DuplicateEntryId {
        /// The id.
        entry_id: EntryId,
    },
    /// A snapshot or delta could not be built (an encoder failure, or a delta HQ may not sign:
    /// empty, too large, without an id).
    #[error("building the {kind}: {reason}")]
    Encode {
        /// Which kind of file was being built.
        kind: FileKind,
        /// What went wrong.
        reason: String,
    },
    /// A key file could not be read.
    #[error("bad key: {reason}")]
    Key {
        /// What is wrong with it.
        reason: String,
    },
    /// The file ends before the part named by `part` does.
    #[error("{kind} is truncated: {part} needs {needed} bytes, the file has {available}")]
    Truncated {
        /// Which kind of file.
        kind: FileKind,
        /// Which part of the file was cut off ("preamble", "header", "signature", "body").
        part: &'static str,
        /// Bytes that part needs.
        needed: u64,
        /// Bytes actually left.
        available: u64,
    },
    /// The file does not start with the snapshot magic: it is not a checkpost snapshot.
    #[error("not a checkpost snapshot (bad magic)")]
    NotASnapshot,
    /// The file does not start with the delta magic: it is not a checkpost delta.
    #[error("not a checkpost delta (bad magic)")]
    NotADelta,
    /// Written by a newer checkpost whose format this build does not know.
    #[error(
        "{kind} format version {found} is newer than this build supports ({supported}); upgrade checkpost"
    )]
    FutureFormat {
        /// Which kind of file.
        kind: FileKind,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The header is present but does not decode.
    #[error("{kind} header is malformed: {reason}")]
    MalformedHeader {
        /// Which kind of file.
        kind: FileKind,
        /// The decoder's message.
        reason: String,
    },
    /// The file carries no signature.
    #[error("{kind} is unsigned")]
    Unsigned {
        /// Which kind of file.
        kind: FileKind,
    },
    /// The loader was given no trusted HQ key, so nothing can verify.
    #[error("no trusted HQ public key configured")]
    NoTrustedKeys,
    /// Signed by a key that is not among the trusted HQ keys.
    #[error("{kind} is signed by an untrusted key {signer}")]
    UntrustedSigner {
        /// Which kind of file.
        kind: FileKind,
        /// The signer's public key, hex.
        signer: String,
    },
    /// The signature does not verify: the header was altered or the signature forged.
    #[error("{kind} signature does not verify (header altered or forged)")]
    BadSignature {
        /// Which kind of file.
        kind: FileKind,
    },
    /// The body's blake3 digest differs from the signed one: the body is corrupted or altered.
    #[error("{kind} body is corrupted: digest {actual} does not match the signed {expected}")]
    Corrupted {
        /// Which kind of file.
        kind: FileKind,
        /// Digest in the signed header, hex.
        expected: String,
        /// Digest of the body found, hex.
        actual: String,
    },
    /// The body verified but does not decode or disagrees with its header (a bug at HQ, since
    /// the bytes are exactly what was signed).
    #[error("{kind} body is malformed: {reason}")]
    MalformedBody {
        /// Which kind of file.
        kind: FileKind,
        /// What is wrong with it.
        reason: String,
    },
}

/// The kind of signed file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A nightly snapshot ([`snapshot`]).
    Snapshot,
    /// An intraday delta ([`delta`]).
    Delta,
}

impl FileKind {
    /// The kind in words, as error messages name it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Snapshot => "snapshot",
            FileKind::Delta => "delta",
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
