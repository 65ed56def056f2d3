//! Exact and name indexes over a snapshot's entries, and candidate generation.
//!
//! - Document numbers and CNICs: sorted `(hash, entry)` arrays, binary-searched, then verified
//!   against the entry (a hash collision never makes a match).
//! - Names: every canonical token is interned once (a dictionary of distinct tokens); postings
//!   are `u32` entry numbers keyed by (token, birth slot: year, month, day as far as listed) in
//!   one compressed array, so a query with a full date of birth only visits entries born that
//!   day, or listed with that year / year-month only (a (token, year) directory finds the year's
//!   keys with one lookup).
//! - Whole names and token pairs: hashed keys → entries, with a directory on the hash's top
//!   bits (one or two cache misses per lookup), split by whether the entry has a date of birth.
//! - Spelling slack lives at the dictionary level, not in the postings: phonetic keys and
//!   one-deletion neighbours (SymSpell) map a query token to the listed tokens it may stand for;
//!   a truncated last token maps to the listed tokens it is a prefix of; a token the list does
//!   not know is glued to the one before when that makes a listed token (a mistyped particle).
//! - Each entry has one compact record (packed date of birth, names as token ids, father's
//!   name), so a candidate is pre-scored without reading its (large) `Entry`.
//!
//! Candidates must share at least two tokens with the query (one for a one-token name): they are
//! the union of pairwise intersections of the query tokens' sorted entry lists (linear merges over
//! contiguous memory), and only they are scored. Candidates that can only be weak matches (listed
//! without a date of birth, a query without one, or a one-token query's namesakes listed with a
//! year or year-month) are bounded by [`WEAK_CANDIDATE_BUDGET`].

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use checkpost_document::PartialDate;
use chrono::NaiveDate;

use crate::entries::Entries;
use crate::matcher::{
    self, DobAgreement, Evidence, FATHER_AGREES_BONUS, Match, Query, Thresholds, level_for,
    normalize_document_number,
};
use crate::normalize::{MIN_ONE_EDIT_LEN, Normalizer, TokenMatch, phonetic_key, within_one_edit};
use crate::{Direction, Entry, EntryId, MatchKind};

pub(crate) mod build;
mod facts;

use facts::Facts;

/// Birth slot `year << 9 | month << 5 | day` (0: unknown) of entries without a date of birth.
const NO_YEAR: u64 = 0;
/// Key bit of the postings of one-token names ("ASLAM" once "SYED" and "SHEIKH" are dropped),
/// which cannot share two tokens with a query and are looked up on their own.
const SINGLE: u64 = 1 << 21;
/// Bits of a posting key below the token id: the SINGLE flag and the 21-bit birth slot.
const TOKEN_SHIFT: u32 = 22;
/// Every birth slot.
const ALL_SLOTS: u64 = SINGLE - 1;
/// Most listed tokens a truncated query token may expand to; beyond it the token is optional.
const MAX_PREFIX_EXPANSION: usize = 64;
/// Letters a truncated token needs before it is used to find candidates.
const MIN_PREFIX_FOR_CANDIDATES: usize = 3;
/// Tokens per name considered when scoring (longer names are cut; no real name comes close).
const MAX_NAME_TOKENS: usize = 32;
/// Tokens per name that form token pairs for the pair postings (the first ones, after sorting by
/// id; longer names still match through their other pairs and the per-token postings).
const MAX_PAIR_TOKENS: usize = 8;
/// Most candidates examined per query on the weak path (listed entries without a date of birth,
/// or any entry when the query has no date of birth). Such candidates can never be strong, and
/// for very common names there are thousands of them; the whole-name key is looked up first, so
/// those sharing the query's whole name are examined before those sharing two tokens.
pub const WEAK_CANDIDATE_BUDGET: usize = 32;
/// Most weak (`NAME_ONLY`) matches reported per query, best score first. Strong matches and
/// document / national-ID matches are never capped.
pub const MAX_WEAK_MATCHES: usize = 16;

/// The hasher of every hashed key in the index (token map, document numbers, phonetic keys,
/// one-deletion probes, whole names): foldhash with its fixed seed, so an index is the same on
/// every run. Several times faster than std's SipHash on short tokens, which matters for the
/// dozen probes per query token; flooding resistance is not needed, since a collision only
/// costs a comparison (every hashed lookup is verified against the real key).
type Fixed = foldhash::fast::FixedState;

fn hash(s: &str) -> u64 {
    Fixed::default().hash_one(s)
}

fn hash_u64(x: u64) -> u64 {
    Fixed::default().hash_one(x)
}

/// Indexes over a snapshot's entries. Immutable once built; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Index {
    /// `None`: [`Normalizer::standard`].
    normalizer: Option<Arc<Normalizer>>,
    /// Number of entries indexed.
    entries: u32,
    /// (hash of normalized document number, entry), sorted.
    documents: Vec<(u64, u32)>,
    /// (CNIC as a number, entry), sorted.
    national_ids: Vec<(u64, u32)>,
    /// Token id → canonical token.
    tokens: Vec<Box<str>>,
    /// Canonical token → id.
    token_ids: HashMap<Box<str>, u32, Fixed>,
    /// Token id → weight (inverse document frequency).
    weights: Vec<f32>,
    /// Hash of a phonetic key → token ids.
    phonetic: Postings,
    /// Every listed token and every table spelling of one (MOHD for MUHAMMAD), with the token id,
    /// sorted by spelling: for prefix (truncation) and one-edit (typo) lookups.
    spellings: Vec<(Box<str>, u32)>,
    /// Hash of a spelling or one of its one-letter deletions → indexes into `spellings`.
    deletes: Postings,
    /// Listed token id → its run of `expansions`: `expansion_at[id]..expansion_at[id + 1]`.
    expansion_at: Vec<u32>,
    /// What each listed token expands to as a query token ([`Index::spelling_expansions`]:
    /// itself, its phonetic and one-edit neighbours), worked out once at build: most query
    /// tokens are listed ones, and each would otherwise cost a phonetic probe and a SymSpell
    /// probe per letter, every one a cache miss or two into tables of the whole dictionary.
    expansions: Vec<(u32, f32)>,
    /// Posting keys `token << 22 | single << 21 | year << 9 | month << 5 | day`, sorted; `offsets[k]..offsets[k + 1]` in `postings`.
    keys: Vec<u64>,
    offsets: Vec<u32>,
    postings: Vec<u32>,
    /// Token id → its run of `keys`: `token_keys[id]..token_keys[id + 1]` (a lookup searches that
    /// short run, not all keys).
    token_keys: Vec<u32>,
    /// Hash of `key >> 9` (token, single flag, year) → `[lo, hi]`, that year's run of `keys`:
    /// a query's slots share a year, found with one lookup instead of a binary search over
    /// a common token's thousands of keys.
    year_runs: YearRuns,
    /// Entry i's compact record is `records[record_at[i]..record_at[i + 1]]`: its date of
    /// birth packed by [`pack_dob`], then per listed name a length word and the name's token ids,
    /// then (a length word marked [`FATHER_FLAG`]) the father's-name tokens. Entries without a
    /// name have an empty record. A candidate is pre-scored from this one contiguous run (two
    /// cache misses) before its (large) `Entry` is read, and only when it may be reported.
    record_at: Vec<u32>,
    records: Vec<u32>,
    /// Entry i's list, action, directions, validity window, sex and nationality: all that
    /// `find` checks of a candidate, so that an entry is decoded only when it is reported.
    facts: Vec<Facts>,
    /// Whole-name keys (hash of the name's sorted distinct token ids) → entries, for entries with
    /// a date of birth ([`Self::names_dated`]) and without one ([`Self::names_undated`]).
    names_dated: Postings,
    names_undated: Postings,
    /// Token pairs ([`pair_key`]) of a name → entries, split the same way.
    pairs_dated: Postings,
    pairs_undated: Postings,
}

/// Sorted distinct `u64` keys (hashes, so evenly spread), each with a sorted run of entry
/// numbers, in contiguous memory. A directory on the keys' top bits narrows a lookup to a few
/// keys: one or two cache misses instead of a binary search's twenty over millions of keys.
#[derive(Debug, Default, PartialEq, Clone)]
struct Postings {
    keys: Vec<u64>,
    offsets: Vec<u32>,
    entries: Vec<u32>,
    /// `dir[b]..dir[b + 1]`: the keys whose top `64 - shift` bits are `b`.
    dir: Vec<u32>,
    shift: u32,
}

impl Postings {
    fn from_pairs(mut pairs: Vec<(u64, u32)>) -> Postings {
        pairs.sort_unstable();
        pairs.dedup();
        let mut p = Postings {
            entries: Vec::with_capacity(pairs.len()),
            ..Postings::default()
        };
        for (k, e) in pairs {
            if p.keys.last() != Some(&k) {
                p.keys.push(k);
                p.offsets.push(p.entries.len() as u32);
            }
            p.entries.push(e);
        }
        p.offsets.push(p.entries.len() as u32);
        p.keys.shrink_to_fit();
        p.offsets.shrink_to_fit();
        // About one key per directory slot.
        let bits = (usize::BITS - p.keys.len().leading_zeros()).clamp(1, 32);
        p.shift = 64 - bits;
        p.dir = (0..=1u64 << bits)
            .map(|b| p.keys.partition_point(|&k| k >> p.shift < b) as u32)
            .collect();
        p
    }

    fn get(&self, key: u64) -> &[u32] {
        let b = (key >> self.shift) as usize;
        let (Some(&lo), Some(&hi)) = (self.dir.get(b), self.dir.get(b + 1)) else {
            return &[];
        };
        let (lo, hi) = (lo as usize, hi as usize);
        match self.keys[lo..hi].binary_search(&key) {
            Ok(k) => {
                let k = lo + k;
                &self.entries[self.offsets[k] as usize..self.offsets[k + 1] as usize]
            }
            Err(_) => &[],
        }
    }

    fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8
            + self.offsets.capacity() * 4
            + self.entries.capacity() * 4
            + self.dir.capacity() * 4
    }
}

/// The `lo..hi` runs of [`Index::keys`] of each (token, single flag, year) group, by the
/// group's hash: sorted `(hash, lo, hi)` with a directory on the hash's top bits, as in
/// [`Postings`] but with each run inline, so that a lookup costs two dependent cache misses
/// (directory, run) rather than four (directory, key, offset, entries). Every query token
/// looks one up per year it searches.
#[derive(Debug, Default, PartialEq, Clone)]
struct YearRuns {
    runs: Vec<(u64, u32, u32)>,
    /// `dir[b]..dir[b + 1]`: the runs whose hash's top `64 - shift` bits are `b`.
    dir: Vec<u32>,
    shift: u32,
}

impl YearRuns {
    fn from_runs(mut runs: Vec<(u64, u32, u32)>) -> YearRuns {
        runs.sort_unstable();
        runs.shrink_to_fit();
        // About one run per directory slot.
        let bits = (usize::BITS - runs.len().leading_zeros()).clamp(1, 32);
        let shift = 64 - bits;
        let dir = (0..=1u64 << bits)
            .map(|b| runs.partition_point(|r| r.0 >> shift < b) as u32)
            .collect();
        YearRuns { runs, dir, shift }
    }

    /// The runs whose group hashes to `h`: one, none, or (two groups sharing a hash, never
    /// seen) several.
    fn get(&self, h: u64) -> &[(u64, u32, u32)] {
        let b = (h >> self.shift) as usize;
        let (Some(&lo), Some(&hi)) = (self.dir.get(b), self.dir.get(b + 1)) else {
            return &[];
        };
        let slot = self.runs.get(lo as usize..hi as usize).unwrap_or(&[]);
        let a = slot.partition_point(|r| r.0 < h);
        let n = slot[a..].iter().take_while(|r| r.0 == h).count();
        &slot[a..a + n]
    }
}

/// A date of birth in a `u32`: `year << 10 | month << 5 | day`, unknown parts 0; 0 when none.
fn pack_dob(d: Option<PartialDate>) -> u32 {
    d.map_or(0, |d| {
        (u32::from(d.year.max(1)) << 10)
            | (u32::from(d.month.unwrap_or(0) & 31) << 5)
            | u32::from(d.day.unwrap_or(0) & 31)
    })
}

fn unpack_dob(p: u32) -> Option<PartialDate> {
    let nonzero = |x: u32| (x != 0).then_some(x as u8);
    (p != 0).then(|| PartialDate {
        year: (p >> 10) as u16,
        month: nonzero((p >> 5) & 31),
        day: nonzero(p & 31),
    })
}

/// High bit of a length word in a record: the father's-name tokens follow.
const FATHER_FLAG: u32 = 1 << 31;

/// The listed names in a record (after its date-of-birth word), each a run of token ids.
#[derive(Clone)]
struct Names<'a> {
    rest: &'a [u32],
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a [u32];

    fn next(&mut self) -> Option<&'a [u32]> {
        let (&len, tail) = self.rest.split_first()?;
        if len & FATHER_FLAG != 0 {
            return None;
        }
        let (name, rest) = tail.split_at_checked(len as usize)?;
        self.rest = rest;
        Some(name)
    }
}

/// Key of a whole name: a hash of its sorted, distinct token ids.
fn name_key(sorted_ids: &[u32]) -> u64 {
    Fixed::default().hash_one(sorted_ids)
}

/// Key of a token pair, order-free: a hash, so that keys spread evenly over the directory (two
/// pairs sharing a hash share a postings run: extra candidates, never a wrong match).
fn pair_key(a: u32, b: u32) -> u64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Fixed::default().hash_one((u64::from(lo) << 32) | u64::from(hi))
}

/// Token ids of each distinct name spelling met while building: names repeat across a list
/// (namesakes, fathers), and each spelling is normalized once.
struct NameCache {
    /// Spelling → its run of `ids`.
    spans: HashMap<Box<str>, (u32, u32), Fixed>,
    ids: Vec<u32>,
}

impl NameCache {
    fn ids(&mut self, name: &str, norm: &Normalizer, interner: &mut Interner) -> &[u32] {
        let (a, b) = match self.spans.get(name) {
            Some(&span) => span,
            None => {
                let a = self.ids.len() as u32;
                for t in norm.tokens(name).iter().take(MAX_NAME_TOKENS) {
                    self.ids.push(interner.id(t));
                }
                let span = (a, self.ids.len() as u32);
                self.spans.insert(name.into(), span);
                span
            }
        };
        self.ids.get(a as usize..b as usize).unwrap_or(&[])
    }
}

/// Interns tokens while building.
struct Interner {
    ids: HashMap<Box<str>, u32, Fixed>,
    tokens: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, t: &str) -> u32 {
        if let Some(&id) = self.ids.get(t) {
            return id;
        }
        let id = self.tokens.len() as u32;
        self.tokens.push(t.into());
        self.ids.insert(t.into(), id);
        id
    }
}

/// The birth slot of a listed date of birth: year, month and day as far as known, so that a
/// query with a full date only visits people born that day (or listed with less precision).
fn year_slot(dob: Option<PartialDate>) -> u64 {
    dob.map_or(NO_YEAR, |d| {
        let month = d.month.unwrap_or(0).min(12);
        let day = if month == 0 {
            0
        } else {
            d.day.unwrap_or(0).min(31)
        };
        (u64::from(d.year.min(4095)) << 9) | (u64::from(month) << 5) | u64::from(day)
    })
}

fn cnic_number(c: &checkpost_document::Cnic) -> Option<u64> {
    c.as_str().parse().ok()
}

/// One query token and the listed tokens it may stand for.
#[derive(Debug)]
struct QueryToken {
    weight: f32,
    /// (token id, credit), sorted by id.
    expansions: Vec<(u32, f32)>,
    /// Whether this token may be a truncation (prefix credit) and is optional for candidates.
    optional: bool,
}

impl QueryToken {
    fn credit(&self, id: u32) -> f32 {
        match self.expansions.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => self.expansions[i].1,
            Err(_) => 0.0,
        }
    }
}

impl Index {
    /// Builds every index over `entries` with the standard name tables.
    pub fn build(entries: &[Entry]) -> Index {
        Self::build_inner(entries, None)
    }

    /// Builds every index over `entries` with ops' own name tables.
    pub fn build_with(entries: &[Entry], normalizer: Arc<Normalizer>) -> Index {
        Self::build_inner(entries, Some(normalizer))
    }

    fn build_inner(entries: &[Entry], normalizer: Option<Arc<Normalizer>>) -> Index {
        Self::build_threads(entries, normalizer, build::threads_for(entries.len()))
    }

    /// [`Index::build_with`] on `threads` threads (the result is the same for any number).
    pub(crate) fn build_threads(
        entries: &[Entry],
        normalizer: Option<Arc<Normalizer>>,
        threads: usize,
    ) -> Index {
        let norm: &Normalizer = normalizer.as_deref().unwrap_or(Normalizer::standard());
        let shares = build::shape_all(entries, norm, threads);
        build::assemble(shares, norm, normalizer.clone())
    }

    /// The same index with every array copied by the calling thread (the last step of every
    /// build). Arrays a build thread allocated stay in that thread's malloc arena, and queries
    /// over them measured ~1.5x slower (matcher bench at 1M: p50 30 vs 20 µs) than over the
    /// same arrays allocated by one thread; the copy costs a few tens of milliseconds per load.
    fn rehomed(self) -> Index {
        Index {
            normalizer: self.normalizer,
            entries: self.entries,
            documents: self.documents.clone(),
            national_ids: self.national_ids.clone(),
            tokens: self.tokens.clone(),
            token_ids: self.token_ids.clone(),
            weights: self.weights.clone(),
            phonetic: self.phonetic.clone(),
            spellings: self.spellings.clone(),
            deletes: self.deletes.clone(),
            expansion_at: self.expansion_at.clone(),
            expansions: self.expansions.clone(),
            keys: self.keys.clone(),
            offsets: self.offsets.clone(),
            postings: self.postings.clone(),
            token_keys: self.token_keys.clone(),
            year_runs: self.year_runs.clone(),
            record_at: self.record_at.clone(),
            records: self.records.clone(),
            facts: self.facts.clone(),
            names_dated: self.names_dated.clone(),
            names_undated: self.names_undated.clone(),
            pairs_dated: self.pairs_dated.clone(),
            pairs_undated: self.pairs_undated.clone(),
        }
    }

    /// The token postings and the token dictionary of [`build::assemble`]; the fields it does
    /// not build are left empty for the caller to fill.
    fn finish_build(
        norm: &Normalizer,
        interner: Interner,
        mut pairs: Vec<(u64, u32)>,
        mut df: Vec<u32>,
        n: usize,
    ) -> Index {
        pairs.sort_unstable();
        pairs.dedup();
        let mut keys = Vec::new();
        let mut offsets = Vec::new();
        let mut postings = Vec::with_capacity(pairs.len());
        for (k, e) in pairs {
            if keys.last() != Some(&k) {
                keys.push(k);
                offsets.push(postings.len() as u32);
            }
            postings.push(e);
        }
        offsets.push(postings.len() as u32);

        let mut year_runs = Vec::new();
        let mut lo = 0;
        for k in 1..=keys.len() {
            if keys.get(k).map(|&x| x >> 9) != keys.get(k - 1).map(|&x| x >> 9) {
                year_runs.push((hash_u64(keys[k - 1] >> 9), lo as u32, k as u32));
                lo = k;
            }
        }
        let tokens = interner.tokens;
        let mut token_keys = Vec::with_capacity(tokens.len() + 1);
        for id in 0..=tokens.len() as u64 {
            token_keys.push(keys.partition_point(|&k| k >> TOKEN_SHIFT < id) as u32);
        }
        df.resize(tokens.len(), 0);
        let total = n as f32 + 1.0;
        let weights = df
            .iter()
            .map(|&d| 1.0 + (total / (d as f32 + 1.0)).ln())
            .collect();
        let mut phonetic = Vec::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            phonetic.push((hash(&phonetic_key(t)), id as u32));
        }
        let mut spellings: Vec<(Box<str>, u32)> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.clone(), id as u32))
            .collect();
        for (spelling, canonical) in norm.variant_spellings() {
            if let Some(&id) = interner.ids.get(canonical) {
                spellings.push((spelling.into(), id));
            }
        }
        spellings.sort_unstable();
        spellings.dedup();
        let mut deletes = Vec::with_capacity(spellings.len() * 7);
        let mut buf = String::new();
        for (k, (t, _)) in spellings.iter().enumerate() {
            let k = k as u32;
            if t.len() >= MIN_ONE_EDIT_LEN {
                deletes.push((hash(t), k));
                for (pos, c) in t.char_indices() {
                    buf.clear();
                    buf.push_str(&t[..pos]);
                    buf.push_str(&t[pos + c.len_utf8()..]);
                    deletes.push((hash(&buf), k));
                }
            }
        }
        let mut index = Index {
            entries: n as u32,
            token_ids: interner.ids,
            tokens,
            weights,
            phonetic: Postings::from_pairs(phonetic),
            spellings,
            deletes: Postings::from_pairs(deletes),
            keys,
            offsets,
            postings,
            token_keys,
            year_runs: YearRuns::from_runs(year_runs),
            ..Index::default()
        };
        let mut expansion_at = Vec::with_capacity(index.tokens.len() + 1);
        let mut expansions = Vec::new();
        for (id, t) in index.tokens.iter().enumerate() {
            expansion_at.push(expansions.len() as u32);
            index.spelling_expansions(t, Some(id as u32), &mut expansions);
        }
        expansion_at.push(expansions.len() as u32);
        expansions.shrink_to_fit();
        index.expansion_at = expansion_at;
        index.expansions = expansions;
        index
    }

    /// Appends to `out` the listed tokens a query token `text` may stand for, the best credit
    /// of each, sorted by id: itself (`exact`, its id when listed), the listed tokens sharing its
    /// phonetic key, and those within one edit. (A truncated token's prefix expansions are
    /// added by the caller.) The one place this is decided: the build stores it for every
    /// listed token ([`Index::listed_expansions`]), a query works it out for the others.
    fn spelling_expansions(&self, text: &str, exact: Option<u32>, out: &mut Vec<(u32, f32)>) {
        let start = out.len();
        if let Some(id) = exact {
            out.push((id, TokenMatch::Exact.credit()));
        }
        if text.len() >= 3 {
            for &id in self.phonetic.get(hash(&phonetic_key(text))) {
                if Some(id) != exact && self.tokens[id as usize].len() >= 3 {
                    out.push((id, TokenMatch::Phonetic.credit()));
                }
            }
        }
        if text.len() >= MIN_ONE_EDIT_LEN {
            self.one_edit_neighbours(text, |id| {
                if Some(id) != exact {
                    out.push((id, TokenMatch::OneEdit.credit()));
                }
            });
        }
        sort_expansions(out, start);
    }

    /// The stored [`Index::spelling_expansions`] of listed token `id`.
    fn listed_expansions(&self, id: u32) -> &[(u32, f32)] {
        let at = |i: usize| self.expansion_at.get(i).map(|&a| a as usize);
        match (at(id as usize), at(id as usize + 1)) {
            (Some(a), Some(b)) => self.expansions.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The normalizer the index was built with.
    pub fn normalizer(&self) -> &Normalizer {
        self.normalizer.as_deref().unwrap_or(Normalizer::standard())
    }

    /// Number of entries indexed.
    pub fn len(&self) -> usize {
        self.entries as usize
    }

    /// True when no entry is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The list of each entry, in entry order.
    pub(crate) fn lists(&self) -> impl Iterator<Item = crate::ListKind> + '_ {
        self.facts.iter().map(|f| f.list)
    }

    /// Number of distinct canonical name tokens.
    pub fn distinct_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Heap bytes held by the index (capacity-based estimate, excluding allocator overhead).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let v = |cap: usize, each: usize| cap * each;
        v(self.documents.capacity(), size_of::<(u64, u32)>())
            + v(self.national_ids.capacity(), size_of::<(u64, u32)>())
            + v(self.tokens.capacity(), size_of::<Box<str>>())
            + self.tokens.iter().map(|t| t.len() * 2).sum::<usize>()
            + v(self.token_ids.capacity(), size_of::<(Box<str>, u32)>() + 1)
            + v(self.weights.capacity(), 4)
            + self.phonetic.heap_bytes()
            + self.deletes.heap_bytes()
            + v(self.expansion_at.capacity(), 4)
            + v(self.expansions.capacity(), size_of::<(u32, f32)>())
            + v(self.spellings.capacity(), size_of::<(Box<str>, u32)>())
            + self.spellings.iter().map(|s| s.0.len()).sum::<usize>()
            + v(self.keys.capacity(), 8)
            + v(self.token_keys.capacity(), 4)
            + v(self.offsets.capacity(), 4)
            + v(self.postings.capacity(), 4)
            + v(self.record_at.capacity(), 4)
            + v(self.records.capacity(), 4)
            + v(self.facts.capacity(), size_of::<Facts>())
            + self.names_dated.heap_bytes()
            + self.names_undated.heap_bytes()
            + self.pairs_dated.heap_bytes()
            + self.pairs_undated.heap_bytes()
    }

    /// Every entry that matches `q`, strongest first, with the [standard
    /// thresholds](Thresholds::STANDARD). Entries that do not apply in `direction` (`None`: any)
    /// or are not in force on `today` are left out.
    pub fn find(
        &self,
        entries: &Entries,
        q: &Query,
        direction: Option<Direction>,
        today: NaiveDate,
    ) -> Vec<Match> {
        self.find_with(entries, q, direction, today, &Thresholds::STANDARD)
    }

    /// [`Index::find`] with explicit thresholds (ops tuning with `checkpost match`).
    pub fn find_with(
        &self,
        entries: &Entries,
        q: &Query,
        direction: Option<Direction>,
        today: NaiveDate,
        t: &Thresholds,
    ) -> Vec<Match> {
        let mut out: Vec<Match> = Vec::new();
        let applies = |i: u32| {
            self.facts
                .get(i as usize)
                .is_some_and(|f| f.applies(direction, today))
        };
        // Exact: document number, with a compatible state (verified against the entry: a hash
        // collision never makes a match).
        if let Some(doc) = q.document_number.as_deref().map(normalize_document_number) {
            if !doc.is_empty() {
                for i in equal_range(&self.documents, hash(&doc)) {
                    let Some(e) = entries.fields(i as usize) else {
                        continue;
                    };
                    // More document numbers than the view keeps (never seen in real data):
                    // the whole entry is decoded to verify.
                    let listed = if e.document_numbers.complete() {
                        e.document_numbers
                            .iter()
                            .any(|d| normalize_document_number(d) == doc)
                    } else {
                        entries.get(i as usize).is_some_and(|full| {
                            full.document_numbers
                                .iter()
                                .any(|d| normalize_document_number(d) == doc)
                        })
                    };
                    let state_ok = e.nationality.is_none_or(|n| {
                        let n = n.trim();
                        (q.issuing_state.is_none() && q.nationality.is_none())
                            || q.issuing_state
                                .as_deref()
                                .is_some_and(|s| s.eq_ignore_ascii_case(n))
                            || q.nationality
                                .as_deref()
                                .is_some_and(|s| s.eq_ignore_ascii_case(n))
                    });
                    if listed && state_ok && applies(i) {
                        self.push_exact(&mut out, i, e.entry_id, MatchKind::Document);
                    }
                }
            }
        }
        // Exact: national ID (the key is the CNIC itself, so no entry needs reading to verify).
        if let Some(c) = q.national_id.as_ref().and_then(cnic_number) {
            for i in equal_range(&self.national_ids, c) {
                if applies(i)
                    && let Some(entry_id) = entries.id(i as usize)
                {
                    self.push_exact(&mut out, i, entry_id, MatchKind::NationalId);
                }
            }
        }
        self.find_by_name(entries, q, t, &applies, &mut out);
        out.sort_by(|a, b| {
            b.strong
                .cmp(&a.strong)
                .then(b.level.cmp(&a.level))
                .then(b.score.total_cmp(&a.score))
                .then(a.entry.cmp(&b.entry))
        });
        out
    }

    /// Query tokens with their expansions into listed tokens.
    fn query_tokens(&self, q: &Query, t: &Thresholds) -> Vec<QueryToken> {
        let norm = self.normalizer();
        let mrz_len = q.surname.trim().chars().count()
            + if q.given_names.trim().is_empty() {
                0
            } else {
                2 + q.given_names.trim().chars().count()
            };
        let (all, truncated_at) = if mrz_len >= t.truncation_min_len {
            // Possibly truncated: the given names end mid-name, so they are normalized apart from
            // the surname (a cut "INAYAT UL" must not glue onto it). A cut token that continues
            // the one before it ("INAYAT" + "ULL") is joined to it when that is a listed prefix.
            let mut given = norm.tokens(&q.given_names);
            let mut surname = norm.tokens(&q.surname);
            // The last given token may be cut short: it is not glued.
            let last = given.pop();
            self.glue_mistyped_particles(&mut given);
            given.extend(last);
            self.glue_mistyped_particles(&mut surname);
            if given.len() >= 2 {
                let n = given.len();
                let joined = format!("{}{}", given[n - 2], given[n - 1]);
                let start = self.spellings.partition_point(|s| *s.0 < *joined.as_str());
                if self
                    .spellings
                    .get(start)
                    .is_some_and(|s| s.0.starts_with(joined.as_str()))
                {
                    given.truncate(n - 2);
                    given.push(joined);
                }
            }
            let at = if given.is_empty() {
                surname.len().checked_sub(1)
            } else {
                Some(given.len() - 1)
            };
            given.extend(surname);
            (given, at)
        } else {
            // One name, normalized as a whole: particles and honorifics may straddle the
            // boundary ("RAHIM" + "UDDIN", "ASLAM" + "SHEIKH").
            let mut all = norm.tokens(&format!("{} {}", q.given_names, q.surname));
            self.glue_mistyped_particles(&mut all);
            (all, None)
        };
        let mut out = Vec::with_capacity(all.len());
        for (pos, text) in all.into_iter().enumerate().take(MAX_NAME_TOKENS) {
            let exact = self.token_ids.get(text.as_str()).copied();
            let mut expansions: Vec<(u32, f32)> = match exact {
                Some(id) => self.listed_expansions(id).to_vec(),
                None => {
                    let mut v = Vec::new();
                    self.spelling_expansions(&text, None, &mut v);
                    v
                }
            };
            let optional = truncated_at == Some(pos);
            if optional {
                let start = self.spellings.partition_point(|s| *s.0 < *text.as_str());
                let matching = self.spellings[start..]
                    .iter()
                    .take_while(|s| s.0.starts_with(text.as_str()))
                    .take(MAX_PREFIX_EXPANSION + 1);
                for &(_, id) in matching {
                    if Some(id) != exact {
                        expansions.push((id, TokenMatch::Prefix.credit()));
                    }
                }
                sort_expansions(&mut expansions, 0);
            }
            // A token the list does not know weighs what the query's known tokens weigh on
            // average (fixed up below): unknown is not the same as rare.
            let weight = match exact {
                Some(id) => self.weights[id as usize],
                None => expansions
                    .iter()
                    .map(|e| self.weights[e.0 as usize])
                    .fold(None, |m: Option<f32>, w| Some(m.map_or(w, |m| m.max(w))))
                    .unwrap_or(f32::NAN),
            };
            // A short truncated token expanding to many listed tokens helps scoring, not search.
            let optional = optional
                && (exact.is_none()
                    && (text.len() < MIN_PREFIX_FOR_CANDIDATES
                        || expansions.len() > MAX_PREFIX_EXPANSION));
            out.push(QueryToken {
                weight,
                expansions,
                optional,
            });
        }
        let known: Vec<f32> = out
            .iter()
            .map(|t| t.weight)
            .filter(|w| !w.is_nan())
            .collect();
        let fallback = if known.is_empty() {
            1.0 + (self.entries as f32 + 1.0).ln()
        } else {
            known.iter().sum::<f32>() / known.len() as f32
        };
        for t in &mut out {
            if t.weight.is_nan() {
                t.weight = fallback;
            }
        }
        out
    }

    /// Glues a token the list does not know onto the token before it when the glued token is
    /// listed, exactly or within one edit: a particle with a typo ("SAIF ULLBAH", "KALEEM ULLH")
    /// is not recognised by the normalizer, so it would stay apart from the name it belongs to
    /// (`SAIFULLAH`).
    fn glue_mistyped_particles(&self, toks: &mut Vec<String>) {
        let mut i = 1;
        while i < toks.len() {
            if !self.token_ids.contains_key(toks[i].as_str()) {
                let joined = format!("{}{}", toks[i - 1], toks[i]);
                let mut listed = self.token_ids.contains_key(joined.as_str());
                if !listed && joined.len() >= MIN_ONE_EDIT_LEN {
                    self.one_edit_neighbours(&joined, |_| listed = true);
                }
                if listed {
                    toks[i - 1] = joined;
                    toks.remove(i);
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Calls `f` with the token id of every listed spelling within one edit of `text` (SymSpell:
    /// `text` and its one-letter deletions probe the deletion table, then each hit is verified).
    fn one_edit_neighbours(&self, text: &str, mut f: impl FnMut(u32)) {
        let mut probe = |s: &str| {
            for &k in self.deletes.get(hash(s)) {
                if let Some((spelling, id)) = self.spellings.get(k as usize)
                    && within_one_edit(text, spelling)
                {
                    f(*id);
                }
            }
        };
        probe(text);
        let mut buf = String::with_capacity(text.len());
        for (p, c) in text.char_indices() {
            buf.clear();
            buf.push_str(&text[..p]);
            buf.push_str(&text[p + c.len_utf8()..]);
            probe(&buf);
        }
    }

    /// Posting ranges (into `postings`) for a token id and the given inclusive birth-slot ranges
    /// (`None`: all), of every name carrying the token or (`single`) of one-token names only.
    /// Each range is sorted by entry.
    fn ranges(
        &self,
        id: u32,
        slots: Option<&[(u64, u64)]>,
        single: bool,
        out: &mut Vec<(usize, usize)>,
    ) {
        let base = (u64::from(id) << TOKEN_SHIFT) | if single { SINGLE } else { 0 };
        let range = |k: usize| (self.offsets[k] as usize, self.offsets[k + 1] as usize);
        let all = [(0, ALL_SLOTS)];
        let (Some(&s), Some(&e)) = (
            self.token_keys.get(id as usize),
            self.token_keys.get(id as usize + 1),
        ) else {
            return;
        };
        let (s, e) = (s as usize, e as usize);
        let Some(run) = self.keys.get(s..e) else {
            return;
        };
        // A common token has thousands of keys; the slots of one query share a year or two, so
        // that year's few keys are looked up once and the slots searched among them.
        let mut year: Option<(u64, usize, &[u64])> = None;
        for &(a, b) in slots.unwrap_or(&all) {
            let (start, keys) = if a >> 9 == b >> 9 {
                let y = a >> 9;
                match year {
                    Some((yy, start, keys)) if yy == y => (start, keys),
                    _ => {
                        let group = (base >> 9) | y;
                        let (lo, hi) = match *self.year_runs.get(hash_u64(group)) {
                            [(_, lo, hi)]
                                if self.keys.get(lo as usize).is_some_and(|&k| k >> 9 == group) =>
                            {
                                (lo as usize, hi as usize)
                            }
                            // No key of the token in that year (every year present has its
                            // run in `year_runs`): nothing to search. Most lookups of the
                            // one-token-name postings end here.
                            [] => (s, s),
                            // (Never seen) two years sharing a hash: search.
                            _ => {
                                let lo = run.partition_point(|&k| k >> 9 < group);
                                let len = run[lo..].partition_point(|&k| k >> 9 <= group);
                                (s + lo, s + lo + len)
                            }
                        };
                        let keys = self.keys.get(lo..hi).unwrap_or(&[]);
                        year = Some((y, lo, keys));
                        (lo, keys)
                    }
                }
            } else {
                (s, run)
            };
            let lo = start + keys.partition_point(|&k| k < base | a);
            let hi = start + keys.partition_point(|&k| k <= base | b);
            out.extend((lo..hi).map(range));
        }
    }

    fn find_by_name(
        &self,
        entries: &Entries,
        q: &Query,
        t: &Thresholds,
        applies: &dyn Fn(u32) -> bool,
        out: &mut Vec<Match>,
    ) {
        let qt = self.query_tokens(q, t);
        if qt.is_empty() {
            return;
        }
        let father_q: Option<Vec<String>> = q
            .father_name
            .as_deref()
            .map(|f| self.normalizer().tokens(f))
            .filter(|v| !v.is_empty());
        let first_name_match = out.len();
        let mut candidates = match q.dob {
            // Dated path: only entries whose listed date of birth can agree are visited, all of
            // them; entries listed without a date of birth go through the bounded weak path.
            Some(d) => {
                let mut c = self.dated_candidates(&qt, d, t, father_q.is_some());
                self.weak_candidates(&qt, false, &mut c);
                c
            }
            // Without a date of birth nothing can be strong: the bounded weak path over all.
            None => {
                let mut c = Vec::new();
                self.weak_candidates(&qt, true, &mut c);
                c
            }
        };
        candidates.sort_unstable();
        candidates.dedup();
        // Pre-score from the index's compact arrays (date of birth, name tokens) and keep each
        // candidate's upper bound: sex and nationality only take away, a father's name adds at
        // most FATHER_AGREES_BONUS.
        let father_bonus = if father_q.is_some() {
            FATHER_AGREES_BONUS
        } else {
            0.0
        };
        // The records are gathered first, all of them, so that their cache misses overlap
        // rather than queue behind each candidate's scoring.
        let records: Vec<(u32, &[u32])> = candidates.iter().map(|&c| (c, self.record(c))).collect();
        let dobs: Vec<u32> = records
            .iter()
            .map(|(_, r)| r.first().copied().unwrap_or(0))
            .collect();
        let mut pre: Vec<(f32, u32, f32, DobAgreement)> = Vec::with_capacity(candidates.len());
        for ((c, record), packed) in records.into_iter().zip(dobs) {
            let dob = DobAgreement::of(q.dob, unpack_dob(packed));
            let bonus = dob.adjustment() + father_bonus;
            if 1.0 + bonus < t.report {
                continue;
            }
            let names = Names {
                rest: record.get(1..).unwrap_or(&[]),
            };
            let name = names
                .map(|toks| self.name_similarity(&qt, toks, None))
                .fold(0.0f32, f32::max);
            if name < t.name_min || name + bonus < t.report {
                continue;
            }
            pre.push(((name + bonus).min(1.0), c, name, dob));
        }
        // Best bound first. A candidate that may be strong is always judged; the others only
        // while they can still make the MAX_WEAK_MATCHES best weak matches.
        pre.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        // The weak matches so far as (score, entry), in the cap's order: best score first,
        // ties by entry number (see the cap below).
        let mut weak: Vec<(f32, u32)> = Vec::new();
        let beats = |(s, e): (f32, u32), (ub, c): (f32, u32)| s > ub || (s == ub && e < c);
        for (ub, c, name, dob) in pre {
            let may_be_strong = name >= t.strong_name && dob.corroborates();
            if !may_be_strong && weak.len() >= MAX_WEAK_MATCHES {
                if ub < weak[MAX_WEAK_MATCHES - 1].0 {
                    continue;
                }
                // A tie at the cut: the cap keeps the lowest entry numbers, so a candidate that
                // MAX_WEAK_MATCHES weak matches already beat (a better score, or the same and a
                // lower entry) cannot be kept. Common names have dozens of namesakes scoring
                // alike; their entries are not read. Only when nothing can raise a score above
                // its bound (no father's name: the bound is then the score before penalties)
                // and the entry is not a document / national-ID match (whose matched tokens
                // judging fills in).
                if father_q.is_none()
                    && weak.partition_point(|&m| beats(m, (ub, c))) >= MAX_WEAK_MATCHES
                    && !out[..first_name_match].iter().any(|m| m.entry == c)
                {
                    continue;
                }
            }
            let before = out.len();
            self.score_candidate(
                entries,
                q,
                &qt,
                father_q.as_deref(),
                t,
                applies,
                (c, name, dob),
                out,
            );
            if let Some(m) = out.get(before).filter(|m| !m.strong) {
                let at = weak.partition_point(|&w| beats(w, (m.score, m.entry)));
                weak.insert(at, (m.score, m.entry));
            }
        }
        // Cap the weak name matches (documented at MAX_WEAK_MATCHES), best score first.
        let weak = out[first_name_match..].iter().filter(|m| !m.strong).count();
        if weak > MAX_WEAK_MATCHES {
            let mut scores: Vec<f32> = out[first_name_match..]
                .iter()
                .filter(|m| !m.strong)
                .map(|m| m.score)
                .collect();
            scores.sort_unstable_by(|a, b| b.total_cmp(a));
            let cut = scores[MAX_WEAK_MATCHES - 1];
            // Ties at the cut are broken by entry number, deterministically.
            let mut ties_left = scores[..MAX_WEAK_MATCHES]
                .iter()
                .filter(|&&s| s == cut)
                .count();
            let mut tail: Vec<Match> = out.split_off(first_name_match);
            tail.sort_by_key(|m| m.entry);
            tail.retain(|m| {
                if m.strong || m.score > cut {
                    true
                } else if m.score == cut && ties_left > 0 {
                    ties_left -= 1;
                    true
                } else {
                    false
                }
            });
            out.extend(tail);
        }
    }

    /// Candidates among entries with a date of birth that may agree with `d` (same year, or
    /// within the tolerance; month unknown, equal, or the day when day and month may be swapped):
    /// they share at least two required tokens with the query (one for a one-token name).
    /// Without a father's name (`any_day` false) a listed full date on another day is a
    /// conflict no name can outweigh, so only the query's day (and the swapped one) is visited.
    /// A query token repeated ("MUHAMMAD GHULAM MUHAMMAD") counts once. For a one-token query
    /// (and a full date of birth), entries listed with the query's year or year-month only,
    /// or with the day and month swapped, can only be weak matches and are bounded like the weak
    /// path ([`WEAK_CANDIDATE_BUDGET`], whole-name matches first): otherwise a lone common
    /// token would visit every namesake born that year.
    fn dated_candidates(
        &self,
        qt: &[QueryToken],
        d: PartialDate,
        t: &Thresholds,
        any_day: bool,
    ) -> Vec<u32> {
        let y = u64::from(d.year.min(4095));
        let tol = u64::from(t.dob_year_tolerance);
        // `years`: birth slots that may agree exactly; `coarse`: those that can only agree
        // weakly (a listed year or year-month, a swapped day), when the query has a full date
        // and no father's name.
        let mut years: Vec<(u64, u64)> = Vec::new();
        let mut coarse: Vec<(u64, u64)> = Vec::new();
        let full = d.month.is_some() && d.day.is_some() && !any_day;
        for ys in y.saturating_sub(tol).max(1)..=(y + tol).min(4095) {
            match (d.month, d.day) {
                (Some(m), day) => {
                    let m = u64::from(m);
                    let base = (ys << 9) | (m << 5);
                    let weak = if full { &mut coarse } else { &mut years };
                    weak.push((ys << 9, ys << 9));
                    match day.map(u64::from) {
                        Some(day) if !any_day => {
                            coarse.push((base, base));
                            years.push((base | day, base | day));
                            if day <= 12 && day != m {
                                // Day and month swapped on one side.
                                let swapped = (ys << 9) | (day << 5);
                                coarse.push((swapped, swapped));
                                coarse.push((swapped | m, swapped | m));
                            }
                        }
                        day => {
                            years.push((base, base | 31));
                            if let Some(dd) = day.filter(|&x| x <= 12 && x != m) {
                                let swapped = (ys << 9) | (dd << 5);
                                years.push((swapped, swapped | 31));
                            }
                        }
                    }
                }
                (None, _) => years.push((ys << 9, (ys << 9) | 0x1FF)),
            }
        }
        // The required (non-optional) query tokens, each once, and which of them each query
        // token is (`None`: optional).
        let mut required: Vec<&QueryToken> = Vec::new();
        let mut group_of: Vec<Option<usize>> = Vec::with_capacity(qt.len());
        for tok in qt {
            if tok.optional {
                group_of.push(None);
                continue;
            }
            let same = |o: &&QueryToken| {
                o.expansions.len() == tok.expansions.len()
                    && o.expansions
                        .iter()
                        .zip(&tok.expansions)
                        .all(|(a, b)| a.0 == b.0)
            };
            match required.iter().position(same) {
                Some(g) => group_of.push(Some(g)),
                None => {
                    group_of.push(Some(required.len()));
                    required.push(tok);
                }
            }
        }
        if let [only] = required.as_slice()
            && !coarse.is_empty()
        {
            return self.one_token_dated(only, &years, &coarse);
        }
        years.extend_from_slice(&coarse);
        // Sorted entry lists per required query token, restricted by birth slot.
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut ranges = Vec::new();
        // Runs of one-token listed names, each with the required token it carries.
        let mut single_ranges = Vec::new();
        let mut single_group: Vec<usize> = Vec::new();
        for (g, tok) in required.iter().enumerate() {
            ranges.clear();
            for &(id, _) in &tok.expansions {
                self.ranges(id, Some(&years), false, &mut ranges);
                self.ranges(id, Some(&years), true, &mut single_ranges);
            }
            single_group.resize(single_ranges.len(), g);
            // One sort of the concatenated runs rather than a merge (and an allocation) per run.
            let mut list: Vec<u32> = Vec::with_capacity(ranges.iter().map(|(a, b)| b - a).sum());
            for &(a, b) in &ranges {
                list.extend_from_slice(&self.postings[a..b]);
            }
            if ranges.len() > 1 {
                list.sort_unstable();
                list.dedup();
            }
            lists.push(list);
        }
        // A candidate shares at least two required tokens with the query (one for a one-token
        // name): the union of pairwise intersections, each a linear merge of sorted lists.
        match lists.len() {
            0 => Vec::new(),
            1 => lists.pop().unwrap_or_default(),
            n => {
                // Each candidate tagged with the required tokens it carries (bit g: token g):
                // `entry << 32 | tokens`. The lists are in cache; the candidates' records are
                // not, so a candidate whose tokens cannot reach the reporting similarity is
                // dropped here rather than read (see `name_bound`).
                let mut tagged: Vec<u64> = Vec::new();
                for i in 0..n {
                    for j in i + 1..n {
                        intersect_tagged(&lists[i], &lists[j], (1 << i) | (1 << j), &mut tagged);
                    }
                }
                // One-token listed names share at most one token with any query.
                for (&(a, b), &g) in single_ranges.iter().zip(&single_group) {
                    tagged.extend(
                        self.postings[a..b]
                            .iter()
                            .map(|&e| (u64::from(e) << 32) | (1 << g)),
                    );
                }
                tagged.sort_unstable();
                let total_q: f32 = qt.iter().map(|t| t.weight).sum();
                let mut c = Vec::with_capacity(tagged.len());
                let mut k = 0;
                while let Some(&first) = tagged.get(k) {
                    let entry = (first >> 32) as u32;
                    let mut carried = 0u32;
                    while let Some(&x) = tagged.get(k).filter(|&&x| (x >> 32) as u32 == entry) {
                        carried |= x as u32;
                        k += 1;
                    }
                    let got: f32 = qt
                        .iter()
                        .zip(&group_of)
                        .filter(|(_, g)| g.is_none_or(|g| carried & (1 << g) != 0))
                        .map(|(tok, _)| tok.weight)
                        .sum();
                    if name_bound(got, total_q) >= t.name_min {
                        c.push(entry);
                    }
                }
                c
            }
        }
    }

    /// [`Index::dated_candidates`] for a one-token query: every entry carrying the token in a
    /// birth slot of `exact`, and at most [`WEAK_CANDIDATE_BUDGET`] of those in the `coarse`
    /// slots (whose whole name is the token first, then the shortest slot lists first).
    fn one_token_dated(
        &self,
        tok: &QueryToken,
        exact: &[(u64, u64)],
        coarse: &[(u64, u64)],
    ) -> Vec<u32> {
        let mut ranges = Vec::new();
        for &(id, _) in &tok.expansions {
            self.ranges(id, Some(exact), false, &mut ranges);
        }
        let mut out: Vec<u32> = Vec::new();
        for &(a, b) in &ranges {
            out.extend_from_slice(&self.postings[a..b]);
        }
        let mut budget = WEAK_CANDIDATE_BUDGET;
        for &(id, _) in &tok.expansions {
            let whole = self.names_dated.get(name_key(&[id]));
            let n = whole.len().min(budget);
            out.extend_from_slice(&whole[..n]);
            budget -= n;
        }
        ranges.clear();
        for &(id, _) in &tok.expansions {
            self.ranges(id, Some(coarse), false, &mut ranges);
        }
        ranges.sort_by_key(|&(a, b)| b - a);
        for (a, b) in ranges {
            if budget == 0 {
                break;
            }
            let n = (b - a).min(budget);
            out.extend_from_slice(&self.postings[a..a + n]);
            budget -= n;
        }
        out
    }

    /// Candidates that can only give weak matches: entries listed without a date of birth, and
    /// (`all`, for a query without one) every entry. At most [`WEAK_CANDIDATE_BUDGET`] are added:
    /// first those whose whole name is the query's (each token at its best reading), then those
    /// sharing a pair of tokens with the query, rarest pair first.
    fn weak_candidates(&self, qt: &[QueryToken], all: bool, out: &mut Vec<u32>) {
        let names: &[&Postings] = if all {
            &[&self.names_undated, &self.names_dated]
        } else {
            &[&self.names_undated]
        };
        let pairs: &[&Postings] = if all {
            &[&self.pairs_undated, &self.pairs_dated]
        } else {
            &[&self.pairs_undated]
        };
        let mut budget = WEAK_CANDIDATE_BUDGET;
        let take = |list: &[u32], out: &mut Vec<u32>, budget: &mut usize| {
            let n = list.len().min(*budget);
            out.extend_from_slice(&list[..n]);
            *budget -= n;
        };
        let required: Vec<&QueryToken> = qt.iter().filter(|t| !t.optional).collect();
        // The whole name, each token at its best reading.
        let mut ids: Vec<u32> = required
            .iter()
            .filter_map(|t| {
                t.expansions
                    .iter()
                    .fold(None, |best: Option<(u32, f32)>, &(id, c)| match best {
                        Some((_, b)) if b >= c => best,
                        _ => Some((id, c)),
                    })
                    .map(|(id, _)| id)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            let key = name_key(&ids);
            for p in names {
                take(p.get(key), out, &mut budget);
            }
        }
        if budget == 0 {
            return;
        }
        let mut lists: Vec<&[u32]> = Vec::new();
        if required.len() >= 2 {
            for (i, a) in required.iter().enumerate() {
                for b in &required[i + 1..] {
                    for &(x, _) in &a.expansions {
                        for &(y, _) in &b.expansions {
                            if x != y {
                                for p in pairs {
                                    lists.push(p.get(pair_key(x, y)));
                                }
                            }
                        }
                    }
                }
            }
        } else if let Some(only) = required.first() {
            // A one-token query: entries carrying the token, in birth-slot order (a common
            // token has thousands of slots: they are walked only until the budget is spent).
            let undated = [(NO_YEAR, NO_YEAR)];
            for &(id, _) in &only.expansions {
                let mut ranges = Vec::new();
                if all {
                    // Every slot of the token: one contiguous run of the postings.
                    let key = |i: usize| self.token_keys.get(i).copied().map(|k| k as usize);
                    let offset = |k: usize| self.offsets.get(k).copied().map(|o| o as usize);
                    if let (Some(s), Some(e)) = (key(id as usize), key(id as usize + 1))
                        && let (Some(a), Some(b)) = (offset(s), offset(e))
                    {
                        ranges.push((a, b));
                    }
                } else {
                    self.ranges(id, Some(&undated[..]), false, &mut ranges);
                }
                for (a, b) in ranges {
                    if budget == 0 {
                        return;
                    }
                    take(&self.postings[a..b], out, &mut budget);
                }
            }
        }
        lists.retain(|l| !l.is_empty());
        lists.sort_by_key(|l| l.len());
        for l in lists {
            if budget == 0 {
                break;
            }
            take(l, out, &mut budget);
        }
    }

    /// Judges one pre-scored candidate (its best name similarity `name` and date-of-birth
    /// agreement `dob`, from the index's compact arrays) and records it in `out` when it is
    /// reported. The entry itself is read only here, for candidates that survived pre-scoring.
    #[allow(clippy::too_many_arguments)]
    fn score_candidate(
        &self,
        entries: &Entries,
        q: &Query,
        qt: &[QueryToken],
        father_q: Option<&[String]>,
        t: &Thresholds,
        applies: &dyn Fn(u32) -> bool,
        (c, name_score, dob): (u32, f32, DobAgreement),
        out: &mut Vec<Match>,
    ) {
        let Some(e) = self.facts.get(c as usize) else {
            return;
        };
        if !applies(c) {
            return;
        }
        let father = father_q.and_then(|fq| {
            let ft = self.father_of(c);
            if ft.is_empty() {
                return None;
            }
            let listed: Vec<&str> = ft.iter().map(|&id| &*self.tokens[id as usize]).collect();
            let ws = vec![1.0; fq.len()];
            let wl = vec![1.0; listed.len()];
            let fq: Vec<&str> = fq.iter().map(String::as_str).collect();
            let s = crate::normalize::token_set_similarity(&fq, &ws, &listed, &wl, false).score;
            Some(s >= 0.85)
        });
        let ev = Evidence {
            name: name_score,
            dob,
            sex_conflict: matcher::sex_conflict(q.sex, e.sex),
            nationality_conflict: e.nationality_conflict(q.nationality.as_deref(), || {
                entries.fields(c as usize).and_then(|h| h.nationality)
            }),
            father,
        };
        let Some((score, strong)) = matcher::judge(&ev, t) else {
            return;
        };
        // The listed name that scored best, and its tokens that matched, for the reviewer.
        let mut matched = Vec::new();
        let mut best = -1.0f32;
        let mut buf = Vec::new();
        for toks in self.names_of(c) {
            buf.clear();
            let s = self.name_similarity(qt, toks, Some(&mut buf));
            if s > best {
                best = s;
                std::mem::swap(&mut matched, &mut buf);
            }
        }
        let matched_tokens: Vec<String> = matched
            .iter()
            // `to_owned` of the `str`: `to_string` of a `Box<str>` goes through `Display`.
            .map(|&id| self.tokens[id as usize].as_ref().to_owned())
            .collect();
        if let Some(m) = out.iter_mut().find(|m| m.entry == c) {
            // Already matched by document / national ID: keep that, show the name tokens.
            m.matched_tokens = matched_tokens;
            return;
        }
        let Some(entry_id) = entries.id(c as usize) else {
            return;
        };
        out.push(Match {
            entry: c,
            entry_id: EntryId(entry_id.to_string()),
            list: e.list,
            kind: if strong {
                MatchKind::NameDob
            } else {
                MatchKind::NameOnly
            },
            score,
            matched_tokens,
            strong,
            level: level_for(e.action, strong),
        });
    }

    /// Records an exact (document or national-ID) match of entry `i`, unless already matched.
    fn push_exact(&self, out: &mut Vec<Match>, i: u32, entry_id: &str, kind: MatchKind) {
        let Some(f) = self.facts.get(i as usize) else {
            return;
        };
        if out.iter().any(|m| m.entry == i) {
            return;
        }
        out.push(Match {
            entry: i,
            entry_id: EntryId(entry_id.to_string()),
            list: f.list,
            kind,
            score: 1.0,
            matched_tokens: Vec::new(),
            strong: true,
            level: f.action,
        });
    }

    /// Entry `entry`'s compact record (empty for an entry without a name).
    fn record(&self, entry: u32) -> &[u32] {
        let e = entry as usize;
        match (self.record_at.get(e), self.record_at.get(e + 1)) {
            (Some(&a), Some(&b)) => self.records.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    fn names_of(&self, entry: u32) -> Names<'_> {
        Names {
            rest: self.record(entry).get(1..).unwrap_or(&[]),
        }
    }

    fn father_of(&self, entry: u32) -> &[u32] {
        let mut rest = self.record(entry).get(1..).unwrap_or(&[]);
        while let Some((&len, tail)) = rest.split_first() {
            let n = (len & !FATHER_FLAG) as usize;
            if len & FATHER_FLAG != 0 {
                return tail.get(..n).unwrap_or(&[]);
            }
            rest = tail.get(n..).unwrap_or(&[]);
        }
        &[]
    }

    /// Weighted, order-free similarity of the query tokens to one listed name.
    /// Same blend as [`crate::normalize::token_set_similarity`]; the listed
    /// token ids that matched are appended to `matched` when given.
    fn name_similarity(
        &self,
        qt: &[QueryToken],
        listed: &[u32],
        mut matched: Option<&mut Vec<u32>>,
    ) -> f32 {
        let mut used: u64 = 0;
        let mut got = 0.0f32;
        for tok in qt {
            let mut best: Option<(usize, f32)> = None;
            for (j, &id) in listed.iter().enumerate().take(64) {
                if used & (1 << j) != 0 {
                    continue;
                }
                let c = tok.credit(id);
                if c > 0.0 && best.is_none_or(|(_, b)| c > b) {
                    best = Some((j, c));
                }
            }
            if let Some((j, c)) = best {
                used |= 1 << j;
                let id = listed[j];
                if let Some(m) = matched.as_deref_mut() {
                    m.push(id);
                }
                got += c * tok.weight.min(self.weights[id as usize]);
            }
        }
        let total_q: f32 = qt.iter().map(|t| t.weight).sum();
        let total_l: f32 = listed.iter().map(|&id| self.weights[id as usize]).sum();
        crate::normalize::blend(got, total_q, total_l)
    }
}

/// Sorts `v[start..]` by token id and keeps the best credit of each (the best of several
/// readings is the token's: taking the maximum in any order gives the same list).
fn sort_expansions(v: &mut Vec<(u32, f32)>, start: usize) {
    let Some(tail) = v.get_mut(start..) else {
        return;
    };
    tail.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut kept = start;
    for i in start..v.len() {
        if i == start || v[i].0 != v[kept - 1].0 {
            v[kept] = v[i];
            kept += 1;
        }
    }
    v.truncate(kept);
}

/// Appends the intersection of two sorted lists to `out`, each entry `e` as `e << 32 | tag`.
fn intersect_tagged(a: &[u32], b: &[u32], tag: u32, out: &mut Vec<u64>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push((u64::from(a[i]) << 32) | u64::from(tag));
                i += 1;
                j += 1;
            }
        }
    }
}

/// The most [`Index::name_similarity`] can give a listed name when the query tokens it may
/// match weigh `got` of the query's `total_q`: [`crate::normalize::blend`] does not grow with
/// the listed side's weight, which is at least what it matched, so the best case is a listed
/// name made only of the matched tokens. A small margin keeps float rounding on the safe side:
/// a candidate below the bound cannot be reported, one above it is scored as before.
fn name_bound(got: f32, total_q: f32) -> f32 {
    if !(got.is_finite() && total_q.is_finite()) {
        return 1.0;
    }
    crate::normalize::blend(got, total_q, got) + 1e-4
}

/// Entries of a sorted `(key, entry)` array whose key is `key`.
fn equal_range(v: &[(u64, u32)], key: u64) -> impl Iterator<Item = u32> + '_ {
    let lo = v.partition_point(|p| p.0 < key);
    v[lo..].iter().take_while(move |p| p.0 == key).map(|p| p.1)
}

/// True when `e` applies in `direction` (`None`: any) and is in force on `today`. An entry
/// without directions applies in its list's default directions.
pub fn applies(e: &Entry, direction: Option<Direction>, today: NaiveDate) -> bool {
    Facts::of(e).applies(direction, today)
}

#[cfg(test)]
#[path = "index_tail.rs"]
mod tail_probe;
