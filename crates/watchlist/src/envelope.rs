//! The signed-container framing shared by snapshot and delta files: one place for the layout,
//! the signing and the order of checks at load time. Each file kind brings its own magic, format
//! version and postcard header type; the framing is identical (integers little-endian):
//!
//! ```text
//! 0        8 bytes   magic
//! 8        u32       format version
//! 12       u32       header length H (at most MAX_HEADER_BYTES)
//! 16       H bytes   header (postcard), carrying created-at, body length, body digest, signer
//! 16+H     u32       signature length S: 64, or 0 for an unsigned file
//! 20+H     S bytes   ed25519 signature over bytes 0 .. 16+H
//! 20+H+S   body      whatever the kind encodes, covered by the header's blake3 digest
//! ```
//!
//! [`open`] splits a file without trusting anything (length and magic, format version, header);
//! [`verify`] then checks the signature is present, its signer trusted, the signature valid, the
//! body length and the body digest, in that order, each failure its own [`WatchlistError`]
//! variant naming the [`FileKind`].

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{FileKind, WatchlistError};

/// Largest header accepted (headers are small; a larger length is a broken file).
pub(crate) const MAX_HEADER_BYTES: u32 = 64 * 1024;

/// Magic, format version and header length.
const PREAMBLE: usize = 16;
const SIGNATURE_LEN: usize = 64;

/// What distinguishes one kind of signed file from another.
pub(crate) struct Format {
    /// The first eight bytes of every file of this kind.
    pub(crate) magic: [u8; 8],
    /// The newest (and only) format version this build reads and writes.
    pub(crate) version: u32,
    /// Named in every error.
    pub(crate) kind: FileKind,
}

/// The fields of a kind's header the framing needs.
pub(crate) trait SignedHeader: Serialize + DeserializeOwned {
    /// Created-at as seconds and nanoseconds since the Unix epoch.
    fn created_at(&self) -> (i64, u32);
    /// Length of the body in bytes.
    fn body_len(&self) -> u64;
    /// blake3 digest of the body.
    fn body_digest(&self) -> &[u8; 32];
    /// The ed25519 public key that signed the file.
    fn signer(&self) -> &[u8; 32];
}

/// Implements [`SignedHeader`] for a wire header struct with the fields `created_at_secs`,
/// `created_at_nanos`, `body_len`, `body_digest` and `signer` (each kind keeps its own struct,
/// so that its postcard field order, the on-disk layout, stays as it is).
macro_rules! signed_header {
    ($wire:ty) => {
        impl $crate::envelope::SignedHeader for $wire {
            fn created_at(&self) -> (i64, u32) {
                (self.created_at_secs, self.created_at_nanos)
            }
            fn body_len(&self) -> u64 {
                self.body_len
            }
            fn body_digest(&self) -> &[u8; 32] {
                &self.body_digest
            }
            fn signer(&self) -> &[u8; 32] {
                &self.signer
            }
        }
    };
}
pub(crate) use signed_header;

/// A file split into its parts, nothing verified.
pub(crate) struct Opened<'a, H> {
    /// The format version found (equal to [`Format::version`]).
    pub(crate) format_version: u32,
    /// The decoded header.
    pub(crate) header: H,
    /// The header's created-at, checked to be in range.
    pub(crate) created_at: DateTime<Utc>,
    /// Bytes the signature covers.
    signed: &'a [u8],
    signature: Option<[u8; SIGNATURE_LEN]>,
    /// Everything after the signature: the body, if the file is whole.
    rest: &'a [u8],
}

/// Frames `header` and `body` as a file of `format`, signed by `key`.
pub(crate) fn seal<H: SignedHeader>(
    format: &Format,
    header: &H,
    body: &[u8],
    key: &SigningKey,
) -> Result<Vec<u8>, WatchlistError> {
    let header = postcard::to_stdvec(header).map_err(|e| WatchlistError::Encode {
        kind: format.kind,
        reason: e.to_string(),
    })?;
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|n| *n <= MAX_HEADER_BYTES)
        .ok_or_else(|| WatchlistError::Encode {
            kind: format.kind,
            reason: format!("header of {} bytes is too large", header.len()),
        })?;
    let mut out = Vec::with_capacity(PREAMBLE + header.len() + 4 + SIGNATURE_LEN + body.len());
    out.extend_from_slice(&format.magic);
    out.extend_from_slice(&format.version.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&header);
    let signature = key.sign(&out);
    out.extend_from_slice(&(SIGNATURE_LEN as u32).to_le_bytes());
    out.extend_from_slice(&signature.to_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Splits `bytes` into header, signature and the rest, checking length and magic, format
/// version, and header, in that order. Nothing in the result is trustworthy yet.
pub(crate) fn open<'a, H: SignedHeader>(
    format: &Format,
    bytes: &'a [u8],
) -> Result<Opened<'a, H>, WatchlistError> {
    let kind = format.kind;
    let truncated = |part, needed: usize, available: usize| WatchlistError::Truncated {
        kind,
        part,
        needed: needed as u64,
        available: available as u64,
    };
    let malformed = |reason: String| WatchlistError::MalformedHeader { kind, reason };
    let magic_len = bytes.len().min(format.magic.len());
    if bytes[..magic_len] != format.magic[..magic_len] {
        return Err(match kind {
            FileKind::Snapshot => WatchlistError::NotASnapshot,
            FileKind::Delta => WatchlistError::NotADelta,
        });
    }
    if bytes.len() < PREAMBLE {
        return Err(truncated("preamble", PREAMBLE, bytes.len()));
    }
    let u32_at = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(b)
    };
    let format_version = u32_at(8);
    if format_version > format.version {
        return Err(WatchlistError::FutureFormat {
            kind,
            found: format_version,
            supported: format.version,
        });
    }
    if format_version != format.version {
        return Err(malformed(format!(
            "unknown {kind} format version {format_version}"
        )));
    }
    let header_len = u32_at(12);
    if header_len > MAX_HEADER_BYTES {
        return Err(malformed(format!(
            "header length {header_len} exceeds {MAX_HEADER_BYTES}"
        )));
    }
    let header_end = PREAMBLE + header_len as usize;
    if bytes.len() < header_end {
        return Err(truncated(
            "header",
            header_len as usize,
            bytes.len() - PREAMBLE,
        ));
    }
    let (header, extra): (H, &[u8]) = postcard::take_from_bytes(&bytes[PREAMBLE..header_end])
        .map_err(|e| malformed(e.to_string()))?;
    if !extra.is_empty() {
        return Err(malformed(format!(
            "{} stray bytes after the header",
            extra.len()
        )));
    }
    let (secs, nanos) = header.created_at();
    let created_at = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| malformed("created-at is out of range".to_string()))?;
    if bytes.len() < header_end + 4 {
        return Err(truncated("signature", 4, bytes.len() - header_end));
    }
    let sig_len = u32_at(header_end) as usize;
    let sig_start = header_end + 4;
    let signature = match sig_len {
        0 => None,
        SIGNATURE_LEN => {
            let sig = bytes
                .get(sig_start..sig_start + SIGNATURE_LEN)
                .ok_or_else(|| truncated("signature", SIGNATURE_LEN, bytes.len() - sig_start))?;
            let mut s = [0u8; SIGNATURE_LEN];
            s.copy_from_slice(sig);
            Some(s)
        }
        other => {
            return Err(malformed(format!(
                "signature length {other}, expected {SIGNATURE_LEN} or 0"
            )));
        }
    };
    Ok(Opened {
        format_version,
        header,
        created_at,
        signed: &bytes[..header_end],
        signature,
        rest: &bytes[sig_start + sig_len..],
    })
}

/// Opens `bytes` ([`open`]) and verifies them against the `trusted` keys: trusted keys given,
/// signature present, signer trusted, signature valid, body length (short: `Truncated`; bytes
/// past the signed length: `Corrupted`), body digest. Returns the opened file and its verified
/// body, which the caller may then decode.
pub(crate) fn verify<'a, H: SignedHeader>(
    format: &Format,
    bytes: &'a [u8],
    trusted: &[VerifyingKey],
) -> Result<(Opened<'a, H>, &'a [u8]), WatchlistError> {
    let kind = format.kind;
    if trusted.is_empty() {
        return Err(WatchlistError::NoTrustedKeys);
    }
    let opened: Opened<'a, H> = open(format, bytes)?;
    let signature = opened.signature.ok_or(WatchlistError::Unsigned { kind })?;
    let header = &opened.header;
    let signer = trusted
        .iter()
        .find(|k| k.as_bytes() == header.signer())
        .ok_or_else(|| WatchlistError::UntrustedSigner {
            kind,
            signer: hex::encode(header.signer()),
        })?;
    signer
        .verify_strict(opened.signed, &Signature::from_bytes(&signature))
        .map_err(|_| WatchlistError::BadSignature { kind })?;
    let body = opened.rest;
    let body_len = header.body_len();
    let expected = || hex::encode(header.body_digest());
    if (body.len() as u64) < body_len {
        return Err(WatchlistError::Truncated {
            kind,
            part: "body",
            needed: body_len,
            available: body.len() as u64,
        });
    }
    if body.len() as u64 > body_len {
        return Err(WatchlistError::Corrupted {
            kind,
            expected: expected(),
            actual: format!("{} unsigned trailing bytes", body.len() as u64 - body_len),
        });
    }
    let digest = blake3::hash(body);
    if digest.as_bytes() != header.body_digest() {
        return Err(WatchlistError::Corrupted {
            kind,
            expected: expected(),
            actual: digest.to_hex().to_string(),
        });
    }
    Ok((opened, body))
}
