//! A snapshot's entries as held in memory: one contiguous byte arena of their postcard encodings
//! (the snapshot body's own encoding, so a load copies the verified body instead of decoding it
//! into millions of small allocations) and a `u32` start per entry.
//!
//! Why this shape: a screening reads about two entries (its reported matches); everything the
//! matcher checks on every candidate (list, action, directions, validity window, sex,
//! nationality, names, date of birth) lives in the index's compact per-entry data
//! ([`crate::index::Index`]). A decoded [`Entry`] costs ~550 bytes over a dozen heap
//! allocations; its encoding costs ~110 bytes plus 4 for its start. An entry is decoded only
//! when one is needed ([`Entries::get`]); the matcher and the engine read what they need (an
//! id, document numbers, action, reason, the content digest) through borrowed views of the
//! encoding, without allocating.
//!
//! Limits: the arena is addressed with `u32` offsets, so one snapshot's entries may take at most
//! 4 GiB encoded (~35M entries); a larger body is refused at load.

use crate::{Entry, ListKind};
use checkpost_document::{PartialDate, Sex};

/// The start of an entry that could not be stored.
const UNSTORED: u32 = u32::MAX;

/// Entries in build order, stored encoded; entry `i` is the `i`-th of the snapshot (matches name
/// entries by this position). Immutable once built.
#[derive(Clone, Default)]
pub struct Entries {
    /// The entries' postcard encodings. Entry `i` starts at `starts[i]`; it may be followed by
    /// bytes that are not its own (the next chunk's header in a loaded body), which decoding
    /// ignores.
    bytes: Box<[u8]>,
    starts: Vec<u32>,
}

impl Entries {
    /// Encodes `entries` (tests, tools, delta overlays; a loaded snapshot copies its body).
    pub fn encode(entries: &[Entry]) -> Entries {
        let mut bytes = Vec::new();
        let mut starts = Vec::with_capacity(entries.len());
        for e in entries {
            let start = u32::try_from(bytes.len()).unwrap_or(UNSTORED);
            // Encoding into a Vec fails only on serde features `Entry` does not use (sequences
            // of unknown length); were it to fail, or the arena pass 4 GiB, the entry reads as
            // missing (`get` → None) rather than as another entry.
            match postcard::to_stdvec(e) {
                Ok(encoded) if start != UNSTORED => {
                    bytes.extend_from_slice(&encoded);
                    starts.push(start);
                }
                _ => starts.push(UNSTORED),
            }
        }
        Entries {
            bytes: bytes.into_boxed_slice(),
            starts,
        }
    }

    /// Entries over an already verified body: `starts[i]` is where entry `i` begins in `bytes`.
    /// The caller has decoded each entry once from these positions.
    pub(crate) fn from_parts(bytes: Box<[u8]>, starts: Vec<u32>) -> Entries {
        Entries { bytes, starts }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Entry `i`, decoded (`None` past the end).
    pub fn get(&self, i: usize) -> Option<Entry> {
        postcard::from_bytes(self.tail(i)?).ok()
    }

    /// Every entry in order, each decoded as it is reached.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        // Every entry was decoded once when it was loaded (or encoded from a decoded one), so
        // none is skipped here.
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// All entries decoded into a `Vec` (tools and tests; a post never needs this).
    pub fn to_vec(&self) -> Vec<Entry> {
        self.iter().collect()
    }

    /// Heap bytes held (arena and starts).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len() + self.starts.capacity() * 4
    }

    /// Every field of entry `i`, borrowed from the arena: no string is copied, nothing is
    /// allocated (the exact-lookup path reads one per candidate).
    pub(crate) fn fields(&self, i: usize) -> Option<Fields<'_>> {
        postcard::from_bytes(self.tail(i)?).ok()
    }

    /// What a screening reports of entry `i` — its id, action and reason borrowed from the
    /// arena, and its [`Entry::content_digest`] hashed from the stored bytes themselves — without
    /// decoding the entry (no allocation). `None` past the end.
    pub fn view(&self, i: usize) -> Option<EntryView<'_>> {
        let tail = self.tail(i)?;
        let (full, rest) = postcard::take_from_bytes::<Fields<'_>>(tail).ok()?;
        let encoded = tail.get(..tail.len() - rest.len())?;
        Some(EntryView {
            entry_id: full.entry_id,
            action: full.action,
            reason: full.reason,
            content_digest: crate::digest_of_encoding(encoded),
        })
    }

    /// Entry `i`'s id, borrowed from the arena: what a reported match needs, decoded from the
    /// first two fields alone (no allocation, nothing past the id is read).
    pub(crate) fn id(&self, i: usize) -> Option<&str> {
        postcard::from_bytes::<IdHead<'_>>(self.tail(i)?)
            .ok()
            .map(|h| h.entry_id)
    }

    fn tail(&self, i: usize) -> Option<&[u8]> {
        let start = *self.starts.get(i)?;
        if start == UNSTORED {
            return None;
        }
        self.bytes.get(start as usize..)
    }
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries")
            .field("len", &self.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Strings kept by [`Strs`] without allocating; real entries list one or two.
const INLINE_STRS: usize = 4;

/// A list of strings borrowed from an encoding without allocating (the exact-lookup path
/// decodes one per candidate): the first [`INLINE_STRS`] are kept, the rest only counted, so
/// [`Strs::complete`] says whether [`Strs::iter`] saw them all.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Strs<'a> {
    first: [&'a str; INLINE_STRS],
    len: usize,
}

impl<'a> Strs<'a> {
    /// The kept strings, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.first.iter().take(self.len).copied()
    }

    /// True when every string of the list was kept.
    pub(crate) fn complete(&self) -> bool {
        self.len <= INLINE_STRS
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Strs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Strs<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence of strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Strs<'a>, A::Error> {
                let mut out = Strs::default();
                while let Some(s) = seq.next_element::<&'de str>()? {
                    if let Some(slot) = out.first.get_mut(out.len) {
                        *slot = s;
                    }
                    out.len += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// What a screening reports of one entry, read without decoding it ([`Entries::view`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// HQ's id of the entry.
    pub entry_id: &'a str,
    /// What the list asks for on a strong match.
    pub action: crate::Decision,
    /// Why the person is listed.
    pub reason: &'a str,
    /// [`Entry::content_digest`] of the entry.
    pub content_digest: [u8; 32],
}

impl EntryView<'_> {
    /// The view of a decoded entry (a delta overlay's, or one built in memory): the same values
    /// [`Entries::view`] gives for it once stored.
    pub fn of(entry: &Entry) -> EntryView<'_> {
        EntryView {
            entry_id: &entry.entry_id.0,
            action: entry.action,
            reason: &entry.reason,
            content_digest: entry.content_digest(),
        }
    }
}

/// Every field of an [`Entry`], in its order, borrowed and without allocating (postcard encodes
/// a struct as its fields in order; `fields_match_the_entry` checks the two stay in step).
/// Decoding it walks the whole encoding, so its length is known too ([`Entries::view`]).
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)] // every field is decoded to reach the next; not all are read
pub(crate) struct Fields<'a> {
    pub(crate) list: ListKind,
    #[serde(borrow)]
    pub(crate) entry_id: &'a str,
    pub(crate) full_name: &'a str,
    pub(crate) aliases: Strs<'a>,
    pub(crate) father_name: Option<&'a str>,
    pub(crate) dob: Option<PartialDate>,
    pub(crate) sex: Sex,
    pub(crate) nationality: Option<&'a str>,
    pub(crate) document_numbers: Strs<'a>,
    pub(crate) national_id: Option<&'a str>,
    pub(crate) action: crate::Decision,
    directions: Skip<crate::Direction>,
    pub(crate) reason: &'a str,
    pub(crate) reference: &'a str,
    pub(crate) valid_from: Option<PartialDate>,
    pub(crate) valid_until: Option<PartialDate>,
}

/// A sequence decoded element by element and dropped (no allocation).
#[derive(Debug)]
struct Skip<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Skip<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = Skip<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Skip<T>, A::Error> {
                while seq.next_element::<T>()?.is_some() {}
                Ok(Skip(std::marker::PhantomData))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// The first two fields of an [`Entry`] (see [`Fields`]).
#[derive(serde::Deserialize)]
struct IdHead<'a> {
    #[allow(dead_code)] // decoded to reach the id
    list: ListKind,
    #[serde(borrow)]
    entry_id: &'a str,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_view_gives_the_entry_s_id_action_reason_and_content_digest() {
        let mut list = crate::synth::generate(400, 5);
        // Every optional field filled somewhere, so the walk over all fields is exercised.
        list[0].valid_from = Some(PartialDate::full(2020, 1, 2).unwrap());
        list[0].valid_until = Some(PartialDate::parse("2031-05").unwrap());
        list[1].directions = vec![crate::Direction::Departure, crate::Direction::Arrival];
        let store = Entries::encode(&list);
        for (i, e) in list.iter().enumerate() {
            let v = store.view(i).unwrap();
            assert_eq!(v, EntryView::of(e), "entry {i}");
            assert_eq!(v.content_digest, e.content_digest(), "entry {i}");
        }
        assert_eq!(store.view(list.len()), None);
    }

    #[test]
    fn an_entry_id_reads_from_the_arena_alone() {
        let list = crate::synth::generate(300, 11);
        let store = Entries::encode(&list);
        for (i, e) in list.iter().enumerate() {
            assert_eq!(store.id(i), Some(e.entry_id.0.as_str()), "entry {i}");
        }
        assert_eq!(store.id(list.len()), None);
    }

    #[test]
    fn entries_decode_equal_to_the_encoded_ones() {
        let list = crate::synth::generate(500, 7);
        let store = Entries::encode(&list);
        assert_eq!(store.len(), list.len());
        assert_eq!(store.to_vec(), list);
        assert_eq!(store.get(499).as_ref(), list.last());
        assert_eq!(store.get(500), None);
    }

    #[test]
    fn fields_match_the_entry() {
        for (i, e) in crate::synth::generate(300, 11).iter().enumerate() {
            let store = Entries::encode(std::slice::from_ref(e));
            let h = store.fields(0).unwrap();
            assert_eq!(h.list, e.list, "{i}");
            assert_eq!(h.entry_id, e.entry_id.0);
            assert_eq!(h.full_name, e.full_name);
            assert_eq!(h.aliases.iter().collect::<Vec<_>>(), e.aliases);
            assert_eq!(h.father_name, e.father_name.as_deref());
            assert_eq!(h.dob, e.dob);
            assert_eq!(h.sex, e.sex);
            assert_eq!(h.nationality, e.nationality.as_deref());
            assert_eq!(
                h.document_numbers.iter().collect::<Vec<_>>(),
                e.document_numbers
            );
            assert!(h.document_numbers.complete());
            assert_eq!(h.national_id, e.national_id.as_ref().map(|c| c.as_str()));
            assert_eq!(h.action, e.action);
            assert_eq!(h.reason, e.reason);
            assert_eq!(h.reference, e.reference);
            assert_eq!((h.valid_from, h.valid_until), (e.valid_from, e.valid_until));
        }
    }

    #[test]
    fn a_long_string_list_keeps_its_first_strings_and_says_it_is_incomplete() {
        let mut e = crate::synth::generate(1, 3).remove(0);
        e.document_numbers = (0..INLINE_STRS + 2).map(|k| format!("AB{k:07}")).collect();
        let store = Entries::encode(std::slice::from_ref(&e));
        let h = store.fields(0).unwrap();
        assert!(!h.document_numbers.complete());
        let kept: Vec<_> = h.document_numbers.iter().collect();
        assert_eq!(kept, e.document_numbers[..INLINE_STRS]);
        assert_eq!(h.sex, e.sex, "fields after the list still decode");
    }
}
