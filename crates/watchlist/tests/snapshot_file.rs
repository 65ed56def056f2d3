//! The snapshot file: build, sign, verify, load, and every way a bad file is refused — each with
//! its own error, never a panic (a proptest mutates and truncates real files).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::path::Path;

use checkpost_watchlist::snapshot::{
    self, FORMAT_VERSION, MAGIC, Snapshot, read_header, read_signing_key, read_verifying_key,
};
use checkpost_watchlist::{Entry, FileKind, ListKind, WatchlistError, synth};
use chrono::{DateTime, TimeZone, Utc};
use common::{signing, verifying};
use proptest::prelude::*;

fn built_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap()
}

fn sample_entries() -> Vec<Entry> {
    synth::generate(300, 9)
}

fn sample_file() -> Vec<u8> {
    snapshot::build(
        &sample_entries(),
        "2026-11-22.1",
        built_at(),
        &signing("hq-test"),
    )
    .unwrap()
}

fn load(bytes: &[u8]) -> Result<Snapshot, WatchlistError> {
    Snapshot::load(bytes, &[verifying("hq-test")])
}

/// Offset of the signature-length field: after the 16-byte preamble and the header.
fn signature_len_at(bytes: &[u8]) -> usize {
    16 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize
}

#[test]
fn fixture_keys_are_a_pair_and_pem_round_trips() {
    let key = signing("hq-test");
    assert_eq!(key.verifying_key(), verifying("hq-test"));
    assert_ne!(key.verifying_key(), verifying("other-test"));
    let pem = snapshot::signing_key_pem(&key).unwrap();
    assert_eq!(read_signing_key(&pem).unwrap().to_bytes(), key.to_bytes());
    let public = snapshot::verifying_key_pem(&key.verifying_key()).unwrap();
    assert_eq!(read_verifying_key(&public).unwrap(), key.verifying_key());
    assert!(matches!(
        read_verifying_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
        Err(WatchlistError::Key { .. })
    ));
    assert!(matches!(
        read_signing_key(&public),
        Err(WatchlistError::Key { .. })
    ));
}

#[test]
fn a_built_snapshot_loads_back_with_the_same_entries_header_and_signer() {
    let entries = sample_entries();
    let bytes = sample_file();
    let snap = load(&bytes).unwrap();
    assert_eq!(snap.entries().to_vec(), entries);
    assert_eq!(snap.header.format_version, FORMAT_VERSION);
    assert_eq!(snap.header.version, "2026-11-22.1");
    assert_eq!(snap.header.created_at, built_at());
    assert_eq!(snap.header.signer, verifying("hq-test").to_bytes());
    assert_eq!(snap.header.total(), 300);
    assert_eq!(
        snap.header
            .counts
            .iter()
            .map(|(l, _)| *l)
            .collect::<Vec<_>>(),
        ListKind::ALL
    );
    for (list, n) in &snap.header.counts {
        assert_eq!(
            *n as usize,
            entries.iter().filter(|e| e.list == *list).count()
        );
    }
    assert_eq!(snap.digest_hex().len(), 64);
    assert_eq!(
        snap.age(built_at() + chrono::Duration::hours(3)),
        chrono::Duration::hours(3)
    );
    // The header as read without trust says the same.
    assert_eq!(read_header(&bytes).unwrap(), snap.header);
}

#[test]
fn a_body_of_several_chunks_loads_back_in_order() {
    let entries = synth::generate(snapshot::CHUNK_ENTRIES + 1_000, 21);
    let bytes = snapshot::build(&entries, "big", built_at(), &signing("hq-test")).unwrap();
    let snap = load(&bytes).unwrap();
    assert_eq!(snap.entries().to_vec(), entries);
}

#[test]
fn any_second_trusted_key_may_sign() {
    let bytes =
        snapshot::build(&sample_entries(), "v", built_at(), &signing("other-test")).unwrap();
    let snap = Snapshot::load(&bytes, &[verifying("hq-test"), verifying("other-test")]).unwrap();
    assert_eq!(snap.header.signer, verifying("other-test").to_bytes());
}

#[test]
fn the_same_entries_give_the_same_digest_and_a_changed_entry_another() {
    let a = read_header(&sample_file()).unwrap();
    let b = read_header(&sample_file()).unwrap();
    assert_eq!(a.body_digest, b.body_digest);
    let mut entries = sample_entries();
    entries[7].reference.push('X');
    let c = read_header(
        &snapshot::build(&entries, "2026-11-22.1", built_at(), &signing("hq-test")).unwrap(),
    )
    .unwrap();
    assert_ne!(a.body_digest, c.body_digest);
}

#[test]
fn a_file_signed_by_an_untrusted_key_is_refused_naming_the_key() {
    let bytes =
        snapshot::build(&sample_entries(), "v", built_at(), &signing("other-test")).unwrap();
    match load(&bytes) {
        Err(WatchlistError::UntrustedSigner { signer, .. }) => {
            assert_eq!(signer, hex(verifying("other-test").as_bytes()));
        }
        other => panic!("{other:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn loading_with_no_trusted_keys_is_refused() {
    assert!(matches!(
        Snapshot::load(&sample_file(), &[]),
        Err(WatchlistError::NoTrustedKeys)
    ));
}

#[test]
fn a_file_whose_signature_is_removed_is_refused_as_unsigned() {
    let bytes = sample_file();
    let at = signature_len_at(&bytes);
    let mut unsigned = bytes[..at].to_vec();
    unsigned.extend_from_slice(&0u32.to_le_bytes());
    unsigned.extend_from_slice(&bytes[at + 4 + 64..]);
    assert!(matches!(
        load(&unsigned),
        Err(WatchlistError::Unsigned { .. })
    ));
    // inspect still reads it: the header needs no trust.
    assert!(read_header(&unsigned).is_ok());
}

#[test]
fn a_tampered_signature_or_header_is_refused_as_a_bad_signature() {
    let bytes = sample_file();
    let at = signature_len_at(&bytes);
    let mut sig = bytes.clone();
    sig[at + 4 + 10] ^= 0x01;
    assert!(matches!(
        load(&sig),
        Err(WatchlistError::BadSignature { .. })
    ));

    // Relabel the build: the version label's last byte sits inside the signed header.
    let mut header = bytes.clone();
    let label = b"2026-11-22.1";
    let pos = header
        .windows(label.len())
        .position(|w| w == label)
        .unwrap();
    header[pos + label.len() - 1] = b'2';
    assert!(matches!(
        load(&header),
        Err(WatchlistError::BadSignature { .. })
    ));
}

#[test]
fn a_corrupted_body_is_refused_with_both_digests() {
    let mut bytes = sample_file();
    let last = bytes.len() - 5;
    bytes[last] ^= 0x40;
    match load(&bytes) {
        Err(WatchlistError::Corrupted {
            expected, actual, ..
        }) => {
            assert_ne!(expected, actual);
            assert_eq!(expected.len(), 64);
        }
        other => panic!("{other:?}"),
    }
    let mut appended = sample_file();
    appended.extend_from_slice(b"extra");
    assert!(matches!(
        load(&appended),
        Err(WatchlistError::Corrupted { .. })
    ));
}

#[test]
fn a_truncated_file_is_refused_as_truncated_at_every_cut() {
    let bytes = sample_file();
    let sig_at = signature_len_at(&bytes);
    let cuts = [
        (10, "preamble"),
        (20, "header"),
        (sig_at + 2, "signature"),
        (sig_at + 30, "signature"),
        (sig_at + 4 + 64 + 1, "body"),
        (bytes.len() - 1, "body"),
    ];
    for (cut, want) in cuts {
        match load(&bytes[..cut]) {
            Err(WatchlistError::Truncated { part, .. }) => assert_eq!(part, want, "cut {cut}"),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_file_that_is_not_a_snapshot_is_refused_as_such() {
    assert!(matches!(
        load(b"list,entry_id,full_name\nECL,1,ALI\n"),
        Err(WatchlistError::NotASnapshot)
    ));
    assert!(matches!(load(b""), Err(WatchlistError::Truncated { .. })));
    assert!(matches!(
        load(b"CPW"),
        Err(WatchlistError::Truncated { .. })
    ));
    assert!(matches!(
        load(b"PK\x03\x04"),
        Err(WatchlistError::NotASnapshot)
    ));
}

#[test]
fn a_file_from_a_future_format_is_refused_naming_both_versions() {
    let mut bytes = sample_file();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    match load(&bytes) {
        Err(WatchlistError::FutureFormat {
            kind: FileKind::Snapshot,
            found,
            supported,
        }) => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_header(&bytes),
        Err(WatchlistError::FutureFormat { .. })
    ));
}

#[test]
fn an_empty_list_or_duplicate_ids_are_refused_at_build() {
    let key = signing("hq-test");
    assert!(matches!(
        snapshot::build(&[], "v", built_at(), &key),
        Err(WatchlistError::EmptySnapshot)
    ));
    let mut entries = sample_entries();
    entries[5].entry_id = entries[2].entry_id.clone();
    match snapshot::build(&entries, "v", built_at(), &key) {
        Err(WatchlistError::DuplicateEntryId { entry_id }) => {
            assert_eq!(entry_id, entries[2].entry_id)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn content_digest_changes_with_any_field() {
    let e = sample_entries()
        .into_iter()
        .find(|e| e.dob.is_some())
        .unwrap();
    let base = e.content_digest();
    assert_eq!(base, e.clone().content_digest());
    type Change = Box<dyn Fn(&mut Entry)>;
    let changes: Vec<Change> = vec![
        Box::new(|e| e.full_name.push('A')),
        Box::new(|e| e.aliases.push("X".into())),
        Box::new(|e| e.father_name = Some("Y".into())),
        Box::new(|e| e.dob = None),
        Box::new(|e| e.action = checkpost_watchlist::Decision::Detain),
        Box::new(|e| e.directions.reverse()),
        Box::new(|e| e.reason.push('.')),
        Box::new(|e| e.valid_until = e.dob),
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut changed = e.clone();
        change(&mut changed);
        if changed != e {
            assert_ne!(changed.content_digest(), base, "change {i}");
        }
    }
}

/// Stored clearances name an entry by this digest: it stays the blake3 derive-key hash of the
/// entry's canonical (postcard) encoding, for short entries and for ones too long for a stack
/// buffer alike.
#[test]
fn content_digest_is_the_derive_key_hash_of_the_canonical_encoding_at_any_length() {
    let short = sample_entries().into_iter().next().unwrap();
    let mut long = short.clone();
    long.reason = "R".repeat(5_000);
    for e in [short, long] {
        let bytes = postcard::to_stdvec(&e).unwrap();
        let mut expected = blake3::Hasher::new_derive_key("checkpost watchlist entry v1");
        expected.update(&bytes);
        assert_eq!(
            e.content_digest(),
            *expected.finalize().as_bytes(),
            "{} bytes",
            bytes.len()
        );
    }
}

#[test]
fn the_sample_fixture_builds_into_a_loadable_snapshot() {
    let csv = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/watchlists/sample.csv"),
    )
    .unwrap();
    let import = checkpost_watchlist::csv::import(
        &[("sample.csv", &csv)],
        checkpost_watchlist::csv::ImportOptions::default(),
    )
    .unwrap();
    let bytes =
        snapshot::build(&import.entries, "sample", built_at(), &signing("hq-test")).unwrap();
    let snap = load(&bytes).unwrap();
    assert_eq!(snap.entries().to_vec(), import.entries);
    assert_eq!(&bytes[..8], &MAGIC);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Every byte of a snapshot is covered by the signature or the digest: changing any one of
    /// them makes the load fail with an error (never a panic, never a silent success).
    #[test]
    fn any_changed_byte_is_refused_without_panicking(pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut bytes = small_file();
        let at = pos.index(bytes.len());
        bytes[at] ^= flip;
        prop_assert!(load(&bytes).is_err());
        let _ = read_header(&bytes);
    }

    /// Any prefix of a snapshot is refused.
    #[test]
    fn any_truncation_is_refused_without_panicking(len in 0usize..2_000) {
        let bytes = small_file();
        let cut = len.min(bytes.len() - 1);
        prop_assert!(load(&bytes[..cut]).is_err());
        let _ = read_header(&bytes[..cut]);
    }

    /// Arbitrary bytes behind a valid preamble never panic the reader.
    #[test]
    fn garbage_after_the_magic_never_panics(tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&tail);
        prop_assert!(load(&bytes).is_err());
        let _ = read_header(&bytes);
    }
}

fn small_file() -> Vec<u8> {
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        snapshot::build(
            &synth::generate(12, 4),
            "fuzz",
            built_at(),
            &signing("hq-test"),
        )
        .unwrap()
    })
    .clone()
}
