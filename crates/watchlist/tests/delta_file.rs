//! Intraday delta files and the overlay they make: build, sign, verify, load; every way a bad
//! file is refused, each with its own error; last-delta-wins, masking and supersession.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use checkpost_watchlist::delta::{self, Delta, DeltaSet};
use checkpost_watchlist::matcher::Query;
use checkpost_watchlist::snapshot::{Snapshot, SnapshotHeader};
use checkpost_watchlist::{Direction, Entry, EntryId, FileKind, WatchlistError, synth};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::{signing, verifying};

fn signed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 5, 0).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn base_entries() -> Vec<Entry> {
    synth::generate(40, 3)
}

fn base() -> Snapshot {
    let entries = base_entries();
    let header = SnapshotHeader::for_entries(&entries, "base", signed_at()).unwrap();
    Snapshot::from_entries(header, entries)
}

/// A new entry, not in the base: the first synthetic entry under a fresh id.
fn new_entry(id: &str) -> Entry {
    let mut e = synth::generate(1, 99).remove(0);
    e.entry_id = EntryId(id.into());
    e
}

fn ids(v: &[&str]) -> Vec<EntryId> {
    v.iter().map(|s| EntryId((*s).into())).collect()
}

fn file(adds: &[Entry], removes: &[&str], id: &str) -> Vec<u8> {
    delta::build(
        adds,
        &ids(removes),
        id,
        signed_at(),
        Some("base"),
        &signing("hq-test"),
    )
    .unwrap()
}

/// A one-add delta signed by a key HQ does not trust.
fn signed_by_other_key() -> Vec<u8> {
    delta::build(
        &[new_entry("N")],
        &[],
        "d",
        signed_at(),
        None,
        &signing("other-test"),
    )
    .unwrap()
}

fn load(bytes: &[u8]) -> Result<Delta, WatchlistError> {
    Delta::load(bytes, &[verifying("hq-test")])
}

fn query_for(e: &Entry) -> Query {
    Query {
        document_number: e.document_numbers.first().cloned(),
        issuing_state: e.nationality.clone(),
        nationality: e.nationality.clone(),
        national_id: e.national_id.clone(),
        ..Query::default()
    }
}

fn signature_len_at(bytes: &[u8]) -> usize {
    16 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize
}

#[test]
fn a_signed_delta_round_trips_with_its_header() {
    let adds = vec![new_entry("ECL-NEW-1")];
    let bytes = file(&adds, &["X-1", "X-2"], "2026-11-23-ecl-017");
    assert!(delta::is_delta(&bytes));
    let d = load(&bytes).unwrap();
    assert_eq!(d.adds, adds);
    assert_eq!(d.removes, ids(&["X-1", "X-2"]));
    assert_eq!(d.header.id, "2026-11-23-ecl-017");
    assert_eq!(d.header.created_at, signed_at());
    assert_eq!(d.header.base_version.as_deref(), Some("base"));
    assert_eq!((d.header.adds, d.header.removes), (1, 2));
    assert_eq!(d.header.signer, verifying("hq-test").to_bytes());
    assert_eq!(delta::read_header(&bytes).unwrap(), d.header);
}

#[test]
fn building_refuses_an_empty_delta_and_an_id_named_twice() {
    let key = signing("hq-test");
    let err = delta::build(&[], &[], "d", signed_at(), None, &key).unwrap_err();
    assert!(
        matches!(
            err,
            WatchlistError::Encode {
                kind: FileKind::Delta,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("building the delta: "), "{err}");
    let e = new_entry("ECL-NEW-1");
    let err = delta::build(
        std::slice::from_ref(&e),
        &ids(&["ECL-NEW-1"]),
        "d",
        signed_at(),
        None,
        &key,
    )
    .unwrap_err();
    assert!(
        matches!(&err, WatchlistError::DuplicateEntryId { entry_id } if entry_id.0 == "ECL-NEW-1"),
        "{err}"
    );
    let err = delta::build(&[e.clone(), e], &[], "d", signed_at(), None, &key).unwrap_err();
    assert!(
        matches!(err, WatchlistError::DuplicateEntryId { .. }),
        "{err}"
    );
    let err = delta::build(&[], &ids(&["A"]), " ", signed_at(), None, &key).unwrap_err();
    assert!(
        matches!(
            err,
            WatchlistError::Encode {
                kind: FileKind::Delta,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_delta_signed_by_another_key_is_an_untrusted_signer() {
    let bytes = signed_by_other_key();
    let err = load(&bytes).unwrap_err();
    assert!(
        matches!(&err, WatchlistError::UntrustedSigner { signer, .. } if *signer == hex::encode(verifying("other-test").to_bytes())),
        "{err}"
    );
    assert!(matches!(
        Delta::load(&bytes, &[]),
        Err(WatchlistError::NoTrustedKeys)
    ));
}

#[test]
fn each_kind_of_damage_has_its_own_error() {
    let good = file(&[new_entry("N")], &["X-1"], "d");

    let err = load(&good[..good.len() - 3]).unwrap_err();
    assert!(
        matches!(err, WatchlistError::Truncated { part: "body", .. }),
        "{err}"
    );
    let err = load(&good[..20]).unwrap_err();
    assert!(
        matches!(err, WatchlistError::Truncated { part: "header", .. }),
        "{err}"
    );

    let mut snap_magic = good.clone();
    snap_magic[..8].copy_from_slice(b"CPWLSNAP");
    assert!(matches!(load(&snap_magic), Err(WatchlistError::NotADelta)));

    let mut future = good.clone();
    future[8..12].copy_from_slice(&(delta::FORMAT_VERSION + 1).to_le_bytes());
    assert!(matches!(
        load(&future),
        Err(WatchlistError::FutureFormat { found, .. }) if found == delta::FORMAT_VERSION + 1
    ));

    let mut body = good.clone();
    let last = body.len() - 1;
    body[last] ^= 0x01;
    assert!(matches!(load(&body), Err(WatchlistError::Corrupted { .. })));

    let mut sig = good.clone();
    let at = signature_len_at(&sig) + 4 + 10;
    sig[at] ^= 0x01;
    assert!(matches!(
        load(&sig),
        Err(WatchlistError::BadSignature { .. })
    ));

    let mut unsigned = good.clone();
    let at = signature_len_at(&unsigned);
    unsigned[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        load(&unsigned),
        Err(WatchlistError::Unsigned { .. })
    ));

    let mut trailing = good;
    trailing.push(0);
    assert!(matches!(
        load(&trailing),
        Err(WatchlistError::Corrupted { .. })
    ));
}

#[test]
fn errors_about_a_delta_file_say_delta_not_snapshot() {
    let good = file(&[new_entry("N")], &["X-1"], "d");
    let mut unsigned = good.clone();
    let at = signature_len_at(&unsigned);
    unsigned[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x01;
    let untrusted = signed_by_other_key();
    let cases: [(&[u8], &str); 5] = [
        (&good[..good.len() - 3], "delta is truncated"),
        (b"CPWLSNAP and more", "not a checkpost delta (bad magic)"),
        (&unsigned, "delta is unsigned"),
        (&corrupt, "delta body is corrupted"),
        (&untrusted, "delta is signed by an untrusted key"),
    ];
    for (bytes, want) in cases {
        let err = load(bytes).unwrap_err();
        assert!(err.to_string().contains(want), "{err} (want {want})");
        assert!(!err.to_string().contains("snapshot"), "{err}");
    }
    assert!(matches!(
        load(&corrupt),
        Err(WatchlistError::Corrupted {
            kind: FileKind::Delta,
            ..
        })
    ));
}

#[test]
fn every_single_byte_change_and_every_truncation_is_refused() {
    let good = file(&[new_entry("N")], &["X-1"], "d");
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x20;
        assert!(load(&bad).is_err(), "flipping byte {i} went unnoticed");
        assert!(
            load(&good[..i]).is_err(),
            "truncation at {i} went unnoticed"
        );
    }
}

#[test]
fn a_delta_addition_is_found_and_a_removal_or_replacement_hides_the_base_entry() {
    let base = base();
    let listed = base.entry(5).unwrap();
    let q = query_for(&listed);
    assert!(
        base.find(&q, None, today())
            .iter()
            .any(|m| m.entry_id == listed.entry_id),
        "fixture: the base must match its own entry"
    );

    // Removed: gone.
    let set = DeltaSet::new(vec![
        load(&file(&[], &[listed.entry_id.0.as_str()], "rm")).unwrap(),
    ]);
    assert!(set.masks(&listed.entry_id));
    assert!(
        !set.find_over(Some(&base), &q, None, today())
            .iter()
            .any(|m| m.entry_id == listed.entry_id)
    );

    // Replaced: found, with the new content, at a position past the base's entries.
    let mut changed = listed.clone();
    changed.reason = "Amended court order".into();
    let set = DeltaSet::new(vec![
        load(&file(std::slice::from_ref(&changed), &[], "chg")).unwrap(),
    ]);
    let found = set.find_over(Some(&base), &q, None, today());
    let hits: Vec<_> = found
        .iter()
        .filter(|m| m.entry_id == listed.entry_id)
        .collect();
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert!(hits[0].entry as usize >= base.len());
    assert_eq!(set.entry_at(Some(&base), hits[0].entry), Some(changed));
    assert_eq!(set.entry_count(), 1);

    // Added: found, and the base's own matches are untouched.
    let added = new_entry("ECL-NEW-1");
    let set = DeltaSet::new(vec![
        load(&file(std::slice::from_ref(&added), &[], "add")).unwrap(),
    ]);
    let found = set.find_over(
        Some(&base),
        &query_for(&added),
        Some(Direction::Departure),
        today(),
    );
    assert!(
        found.iter().any(|m| m.entry_id == added.entry_id),
        "{found:#?}"
    );
    assert!(
        set.find_over(Some(&base), &q, None, today())
            .iter()
            .any(|m| m.entry_id == listed.entry_id)
    );
}

#[test]
fn the_last_delta_naming_an_id_wins_and_an_id_applies_once() {
    let added = new_entry("ECL-NEW-1");
    let add = load(&file(std::slice::from_ref(&added), &[], "add")).unwrap();
    let rm = load(&file(&[], &["ECL-NEW-1"], "rm")).unwrap();
    let q = query_for(&added);

    let set = DeltaSet::new(vec![add.clone(), rm.clone()]);
    assert!(set.entries().is_empty());
    assert!(set.find_over(None, &q, None, today()).is_empty());
    assert_eq!(set.entry_count(), 1);

    let set = DeltaSet::new(vec![rm, add.clone()]);
    assert_eq!(set.entries().to_vec(), vec![added]);

    assert!(set.with(add).is_none(), "the same id applied twice");
}

#[test]
fn a_snapshot_that_says_the_same_supersedes_the_delta() {
    let base = base();
    let added = new_entry("ECL-NEW-1");
    let removed = base.entry(3).unwrap().entry_id;
    let d_add = load(&file(std::slice::from_ref(&added), &[], "add")).unwrap();
    let d_rm = load(&file(&[], &[removed.0.as_str()], "rm")).unwrap();
    let set = DeltaSet::new(vec![d_add.clone(), d_rm.clone()]);

    // Tonight's snapshot before HQ merged anything: nothing is superseded.
    assert!(!d_add.superseded_by(&base) && !d_rm.superseded_by(&base));
    let (kept, dropped) = set.rebase(&base);
    assert!(dropped.is_empty());
    assert_eq!(kept.deltas().len(), 2);

    // A snapshot with the entry added under different content does not supersede it.
    let mut entries = base_entries();
    let mut other = added.clone();
    other.reason = "something else".into();
    entries.push(other);
    let header = SnapshotHeader::for_entries(&entries, "next", signed_at()).unwrap();
    let next = Snapshot::from_entries(header, entries);
    assert!(!d_add.superseded_by(&next));

    // HQ's next snapshot contains the addition and lacks the removed entry: both superseded.
    let mut entries: Vec<Entry> = base_entries()
        .into_iter()
        .filter(|e| e.entry_id != removed)
        .collect();
    entries.push(added);
    let header = SnapshotHeader::for_entries(&entries, "next", signed_at()).unwrap();
    let next = Snapshot::from_entries(header, entries);
    assert!(d_add.superseded_by(&next) && d_rm.superseded_by(&next));
    let (kept, dropped) = set.rebase(&next);
    assert_eq!(dropped, vec!["add".to_string(), "rm".to_string()]);
    assert!(kept.is_empty());
    assert_eq!(kept.entry_count(), 0);
}
