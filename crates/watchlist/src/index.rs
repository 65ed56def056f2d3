//! Exact and name indexes over a snapshot's entries, and candidate generation.
//!
//! - Document numbers and CNICs: sorted `(hash, entry)` arrays, binary-searched, then verified
//!   against the entry (a hash collision never makes a match).
//! - Names: every canonical token is interned once (a dictionary of distinct tokens); postings
//!   are `u32` entry numbers keyed by (token, year of birth) in one compressed array, so a query
//!   with a date of birth only visits entries born that year (or of unknown birth year).
//! - Spelling slack lives at the dictionary level, not in the postings: phonetic keys and
//!   one-deletion neighbours (SymSpell) map a query token to the listed tokens it may stand for;
//!   a truncated last token maps to the listed tokens it is a prefix of.
//!
//! Candidates must share at least two tokens with the query (one for a one-token name): they are
//! the union of pairwise intersections of the query tokens' sorted entry lists (linear merges over
//! contiguous memory), and only they are scored. A query without a date of birth walks a token's
//! lists for every year, which is slower for very common names.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use checkpost_document::PartialDate;
use chrono::{Datelike, NaiveDate};

use crate::matcher::{
    self, DobAgreement, Evidence, FATHER_AGREES_BONUS, Match, Query, Thresholds, level_for,
    normalize_document_number,
};
use crate::normalize::{MIN_ONE_EDIT_LEN, Normalizer, TokenMatch, phonetic_key, within_one_edit};
use crate::{Direction, Entry, MatchKind};

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

fn hash(s: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(s)
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
    token_ids: HashMap<Box<str>, u32>,
    /// Token id → weight (inverse document frequency).
    weights: Vec<f32>,
    /// (hash of phonetic key, token id), sorted.
    phonetic: Vec<(u64, u32)>,
    /// Every listed token and every table spelling of one (MOHD for MUHAMMAD), with the token id,
    /// sorted by spelling: for prefix (truncation) and one-edit (typo) lookups.
    spellings: Vec<(Box<str>, u32)>,
    /// (hash of a spelling or one of its one-letter deletions, index into `spellings`), sorted.
    deletes: Vec<(u64, u32)>,
    /// Posting keys `token << 22 | single << 21 | year << 9 | month << 5 | day`, sorted; `offsets[k]..offsets[k + 1]` in `postings`.
    keys: Vec<u64>,
    offsets: Vec<u32>,
    postings: Vec<u32>,
    /// Token id → its run of `keys`: `token_keys[id]..token_keys[id + 1]` (a lookup searches that
    /// short run, not all keys).
    token_keys: Vec<u32>,
    /// Entry i's names are `name_offsets[entry_names[i]..=entry_names[i + 1]]`.
    entry_names: Vec<u32>,
    /// Name j's tokens are `name_tokens[name_offsets[j]..name_offsets[j + 1]]`.
    name_offsets: Vec<u32>,
    name_tokens: Vec<u32>,
    /// Entry i's father's-name tokens are `father_tokens[father_offsets[i]..father_offsets[i + 1]]`.
    father_offsets: Vec<u32>,
    father_tokens: Vec<u32>,
    /// Entry i's date of birth, packed by [`pack_dob`]: read before the entry itself, so that a
    /// candidate whose date of birth rules it out costs no visit to the (large) entry.
    dobs: Vec<u32>,
    /// Whole-name keys (hash of the name's sorted distinct token ids) → entries, for entries with
    /// a date of birth ([`Self::names_dated`]) and without one ([`Self::names_undated`]).
    names_dated: Postings,
    names_undated: Postings,
    /// Token pairs `(lo << 32) | hi` of a name → entries, split the same way.
    pairs_dated: Postings,
    pairs_undated: Postings,
}

/// Sorted distinct `u64` keys, each with a sorted run of entry numbers, in contiguous memory.
#[derive(Debug, Default)]
struct Postings {
    keys: Vec<u64>,
    offsets: Vec<u32>,
    entries: Vec<u32>,
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
        p
    }

    fn get(&self, key: u64) -> &[u32] {
        match self.keys.binary_search(&key) {
            Ok(k) => &self.entries[self.offsets[k] as usize..self.offsets[k + 1] as usize],
            Err(_) => &[],
        }
    }

    fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.offsets.capacity() * 4 + self.entries.capacity() * 4
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

/// Key of a whole name: a hash of its sorted, distinct token ids.
fn name_key(sorted_ids: &[u32]) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(sorted_ids)
}

/// Key of a token pair, order-free.
fn pair_key(a: u32, b: u32) -> u64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (u64::from(lo) << 32) | u64::from(hi)
}

/// Interns tokens while building.
struct Interner {
    ids: HashMap<Box<str>, u32>,
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
        let norm: &Normalizer = normalizer.as_deref().unwrap_or(Normalizer::standard());
        let mut interner = Interner {
            ids: HashMap::new(),
            tokens: Vec::new(),
        };
        let n = entries.len();
        let mut entry_names = Vec::with_capacity(n + 1);
        let mut name_offsets = Vec::with_capacity(n * 2 + 1);
        let mut name_tokens = Vec::with_capacity(n * 4);
        let mut father_offsets = Vec::with_capacity(n + 1);
        let mut father_tokens = Vec::with_capacity(n * 2);
        let mut dobs = Vec::with_capacity(n);
        let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(n * 4);
        let mut df: Vec<u32> = Vec::new();
        let mut documents = Vec::with_capacity(n);
        let mut national_ids = Vec::with_capacity(n);
        let mut distinct: Vec<u32> = Vec::new();
        let mut name_ids: Vec<u32> = Vec::new();
        let (mut names_dated, mut names_undated) = (Vec::new(), Vec::new());
        let (mut pairs_dated, mut pairs_undated) = (Vec::new(), Vec::new());
        name_offsets.push(0);
        father_offsets.push(0);
        for (i, e) in entries.iter().enumerate() {
            let i = i as u32;
            entry_names.push((name_offsets.len() - 1) as u32);
            distinct.clear();
            let names = std::iter::once(e.full_name.as_str())
                .chain(e.aliases.iter().map(String::as_str))
                .filter(|s| !s.trim().is_empty());
            let year = year_slot(e.dob);
            dobs.push(pack_dob(e.dob));
            let (names_out, pairs_out) = if e.dob.is_some() {
                (&mut names_dated, &mut pairs_dated)
            } else {
                (&mut names_undated, &mut pairs_undated)
            };
            for name in names {
                let toks = norm.tokens(name);
                name_ids.clear();
                for t in toks.iter().take(MAX_NAME_TOKENS) {
                    let id = interner.id(t);
                    name_tokens.push(id);
                    distinct.push(id);
                    name_ids.push(id);
                }
                name_ids.sort_unstable();
                name_ids.dedup();
                if !name_ids.is_empty() {
                    names_out.push((name_key(&name_ids), i));
                }
                let head = &name_ids[..name_ids.len().min(MAX_PAIR_TOKENS)];
                for (k, &a) in head.iter().enumerate() {
                    for &b in &head[k + 1..] {
                        pairs_out.push((pair_key(a, b), i));
                    }
                }
                if let [only] = toks.as_slice() {
                    pairs.push((
                        (u64::from(interner.id(only)) << TOKEN_SHIFT) | SINGLE | year,
                        i,
                    ));
                }
                name_offsets.push(name_tokens.len() as u32);
            }
            if let Some(f) = &e.father_name {
                for t in norm.tokens(f).iter().take(MAX_NAME_TOKENS) {
                    father_tokens.push(interner.id(t));
                }
            }
            father_offsets.push(father_tokens.len() as u32);
            distinct.sort_unstable();
            distinct.dedup();
            for &id in &distinct {
                if df.len() <= id as usize {
                    df.resize(id as usize + 1, 0);
                }
                df[id as usize] += 1;
                pairs.push(((u64::from(id) << TOKEN_SHIFT) | year, i));
            }
            for d in &e.document_numbers {
                let d = normalize_document_number(d);
                if !d.is_empty() {
                    documents.push((hash(&d), i));
                }
            }
            if let Some(c) = e.national_id.as_ref().and_then(cnic_number) {
                national_ids.push((c, i));
            }
        }
        entry_names.push((name_offsets.len() - 1) as u32);
        documents.sort_unstable();
        national_ids.sort_unstable();
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
        drop(distinct);

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
        phonetic.sort_unstable();
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
        deletes.sort_unstable();
        deletes.dedup();
        Index {
            normalizer,
            entries: n as u32,
            documents,
            national_ids,
            token_ids: interner.ids,
            tokens,
            weights,
            phonetic,
            spellings,
            deletes,
            keys,
            offsets,
            postings,
            token_keys,
            entry_names,
            name_offsets,
            name_tokens,
            father_offsets,
            father_tokens,
            dobs,
            names_dated: Postings::from_pairs(names_dated),
            names_undated: Postings::from_pairs(names_undated),
            pairs_dated: Postings::from_pairs(pairs_dated),
            pairs_undated: Postings::from_pairs(pairs_undated),
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
            + v(self.phonetic.capacity(), size_of::<(u64, u32)>())
            + v(self.deletes.capacity(), size_of::<(u64, u32)>())
            + v(self.spellings.capacity(), size_of::<(Box<str>, u32)>())
            + self.spellings.iter().map(|s| s.0.len()).sum::<usize>()
            + v(self.keys.capacity(), 8)
            + v(self.token_keys.capacity(), 4)
            + v(self.offsets.capacity(), 4)
            + v(self.postings.capacity(), 4)
            + v(self.entry_names.capacity(), 4)
            + v(self.name_offsets.capacity(), 4)
            + v(self.name_tokens.capacity(), 4)
            + v(self.father_offsets.capacity(), 4)
            + v(self.father_tokens.capacity(), 4)
            + v(self.dobs.capacity(), 4)
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
        entries: &[Entry],
        q: &Query,
        direction: Option<Direction>,
        today: NaiveDate,
    ) -> Vec<Match> {
        self.find_with(entries, q, direction, today, &Thresholds::STANDARD)
    }

    /// [`Index::find`] with explicit thresholds (ops tuning with `checkpost match`).
    pub fn find_with(
        &self,
        entries: &[Entry],
        q: &Query,
        direction: Option<Direction>,
        today: NaiveDate,
        t: &Thresholds,
    ) -> Vec<Match> {
        let mut out: Vec<Match> = Vec::new();
        let applies = |i: u32| {
            entries
                .get(i as usize)
                .is_some_and(|e| applies(e, direction, today))
        };
        // Exact: document number, with a compatible state.
        if let Some(doc) = q.document_number.as_deref().map(normalize_document_number) {
            if !doc.is_empty() {
                for i in equal_range(&self.documents, hash(&doc)) {
                    let Some(e) = entries.get(i as usize) else {
                        continue;
                    };
                    let listed = e
                        .document_numbers
                        .iter()
                        .any(|d| normalize_document_number(d) == doc);
                    let state_ok = e.nationality.as_deref().is_none_or(|n| {
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
                        push_exact(&mut out, i, e, MatchKind::Document);
                    }
                }
            }
        }
        // Exact: national ID.
        if let Some(c) = q.national_id.as_ref().and_then(cnic_number) {
            for i in equal_range(&self.national_ids, c) {
                let Some(e) = entries.get(i as usize) else {
                    continue;
                };
                if e.national_id.as_ref().and_then(cnic_number) == Some(c) && applies(i) {
                    push_exact(&mut out, i, e, MatchKind::NationalId);
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
            let surname = norm.tokens(&q.surname);
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
            let all = norm.tokens(&format!("{} {}", q.given_names, q.surname));
            (all, None)
        };
        let mut out = Vec::with_capacity(all.len());
        for (pos, text) in all.into_iter().enumerate().take(MAX_NAME_TOKENS) {
            let mut expansions: Vec<(u32, f32)> = Vec::new();
            let exact = self.token_ids.get(text.as_str()).copied();
            if let Some(id) = exact {
                expansions.push((id, TokenMatch::Exact.credit()));
            }
            if text.len() >= 3 {
                for id in equal_range(&self.phonetic, hash(&phonetic_key(&text))) {
                    if Some(id) != exact && self.tokens[id as usize].len() >= 3 {
                        expansions.push((id, TokenMatch::Phonetic.credit()));
                    }
                }
            }
            if text.len() >= MIN_ONE_EDIT_LEN {
                let mut probe = |s: &str| {
                    for k in equal_range(&self.deletes, hash(s)) {
                        let (spelling, id) = &self.spellings[k as usize];
                        if Some(*id) != exact && within_one_edit(&text, spelling) {
                            expansions.push((*id, TokenMatch::OneEdit.credit()));
                        }
                    }
                };
                probe(&text);
                let mut buf = String::with_capacity(text.len());
                for (p, c) in text.char_indices() {
                    buf.clear();
                    buf.push_str(&text[..p]);
                    buf.push_str(&text[p + c.len_utf8()..]);
                    probe(&buf);
                }
            }
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
            }
            // Keep the best credit per listed token.
            expansions.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
            expansions.dedup_by_key(|e| e.0);
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
        let run = &self.keys[s..e];
        for &(a, b) in slots.unwrap_or(&all) {
            let lo = s + run.partition_point(|&k| k < base | a);
            let hi = s + run.partition_point(|&k| k <= base | b);
            out.extend((lo..hi).map(range));
        }
    }

    fn find_by_name(
        &self,
        entries: &[Entry],
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
        let mut pre: Vec<(f32, u32, f32, DobAgreement)> = Vec::with_capacity(candidates.len());
        for c in candidates {
            let dob = DobAgreement::of(
                q.dob,
                self.dobs.get(c as usize).copied().and_then(unpack_dob),
            );
            let bonus = dob.adjustment() + father_bonus;
            if 1.0 + bonus < t.report {
                continue;
            }
            let name = self
                .names_of(c)
                .map(|toks| self.name_similarity(&qt, toks).0)
                .fold(0.0f32, f32::max);
            if name < t.name_min || name + bonus < t.report {
                continue;
            }
            pre.push(((name + bonus).min(1.0), c, name, dob));
        }
        // Best bound first. A candidate that may be strong is always judged; the others only
        // while they can still make the MAX_WEAK_MATCHES best weak matches.
        pre.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut weak_scores: Vec<f32> = Vec::new();
        for (ub, c, name, dob) in pre {
            let may_be_strong = name >= t.strong_name && dob.corroborates();
            if !may_be_strong && weak_scores.len() >= MAX_WEAK_MATCHES {
                weak_scores.sort_unstable_by(|a, b| b.total_cmp(a));
                weak_scores.truncate(MAX_WEAK_MATCHES);
                if ub < weak_scores[MAX_WEAK_MATCHES - 1] {
                    continue;
                }
            }
            let before = out.len();
            self.score_candidate(entries, q, &qt, father_q.as_deref(), t, applies, c, out);
            if let Some(m) = out.get(before).filter(|m| !m.strong) {
                weak_scores.push(m.score);
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
    fn dated_candidates(
        &self,
        qt: &[QueryToken],
        d: PartialDate,
        t: &Thresholds,
        any_day: bool,
    ) -> Vec<u32> {
        let y = u64::from(d.year.min(4095));
        let tol = u64::from(t.dob_year_tolerance);
        let mut years: Vec<(u64, u64)> = Vec::new();
        let month_slots = |ys: u64, m: u64, day: Option<u64>, v: &mut Vec<(u64, u64)>| {
            let base = (ys << 9) | (m << 5);
            match day {
                Some(day) if !any_day => {
                    v.push((base, base));
                    v.push((base | day, base | day));
                }
                _ => v.push((base, base | 31)),
            }
        };
        for ys in y.saturating_sub(tol).max(1)..=(y + tol).min(4095) {
            match (d.month, d.day) {
                (Some(m), day) => {
                    let m = u64::from(m);
                    let day = day.map(u64::from);
                    years.push((ys << 9, ys << 9));
                    month_slots(ys, m, day, &mut years);
                    if let Some(dd) = day.filter(|&x| x <= 12 && x != m) {
                        // Day and month swapped on one side.
                        month_slots(ys, dd, Some(m), &mut years);
                    }
                }
                (None, _) => years.push((ys << 9, (ys << 9) | 0x1FF)),
            }
        }
        // Sorted entry lists per required (non-optional) query token, restricted by birth slot.
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut ranges = Vec::new();
        let mut single_ranges = Vec::new();
        for tok in qt.iter().filter(|t| !t.optional) {
            ranges.clear();
            for &(id, _) in &tok.expansions {
                self.ranges(id, Some(&years), false, &mut ranges);
                self.ranges(id, Some(&years), true, &mut single_ranges);
            }
            let mut list: Vec<u32> = Vec::new();
            for &(a, b) in &ranges {
                list = merge_sorted(&list, &self.postings[a..b]);
            }
            lists.push(list);
        }
        // A candidate shares at least two required tokens with the query (one for a one-token
        // name): the union of pairwise intersections, each a linear merge of sorted lists.
        match lists.len() {
            0 => Vec::new(),
            1 => lists.pop().unwrap_or_default(),
            n => {
                let mut c = Vec::new();
                for i in 0..n {
                    for j in i + 1..n {
                        intersect_sorted(&lists[i], &lists[j], &mut c);
                    }
                }
                // One-token listed names share at most one token with any query.
                for &(a, b) in &single_ranges {
                    c.extend_from_slice(&self.postings[a..b]);
                }
                c
            }
        }
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
            // A one-token query: entries carrying the token, in birth-slot order.
            let mut ranges = Vec::new();
            let undated = [(NO_YEAR, NO_YEAR)];
            for &(id, _) in &only.expansions {
                self.ranges(id, (!all).then_some(&undated[..]), false, &mut ranges);
            }
            lists.extend(ranges.iter().map(|&(a, b)| &self.postings[a..b]));
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

    /// Scores one candidate and records it in `out` when it is reported. The name is scored from
    /// the index's compact arrays first, so that most candidates are dropped before their entry
    /// is read.
    #[allow(clippy::too_many_arguments)]
    fn score_candidate(
        &self,
        entries: &[Entry],
        q: &Query,
        qt: &[QueryToken],
        father_q: Option<&[String]>,
        t: &Thresholds,
        applies: &dyn Fn(u32) -> bool,
        c: u32,
        out: &mut Vec<Match>,
    ) {
        // The most anything but the name can add: the date of birth, then a father's name.
        let dob = DobAgreement::of(
            q.dob,
            self.dobs.get(c as usize).copied().and_then(unpack_dob),
        );
        let bonus = dob.adjustment()
            + if father_q.is_some() {
                FATHER_AGREES_BONUS
            } else {
                0.0
            };
        if 1.0 + bonus < t.report {
            return;
        }
        let (name_score, matched) = self
            .names_of(c)
            .map(|toks| self.name_similarity(qt, toks))
            .fold((0.0f32, Vec::new()), |best, cur| {
                if cur.0 > best.0 { cur } else { best }
            });
        if name_score < t.name_min || name_score + bonus < t.report {
            return;
        }
        let Some(e) = entries.get(c as usize) else {
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
            nationality_conflict: match (&q.nationality, &e.nationality) {
                (Some(a), Some(b)) => !a.trim().eq_ignore_ascii_case(b.trim()),
                _ => false,
            },
            father,
        };
        let Some((score, strong)) = matcher::judge(&ev, t) else {
            return;
        };
        let matched_tokens: Vec<String> = matched
            .iter()
            .map(|&id| self.tokens[id as usize].to_string())
            .collect();
        if let Some(m) = out.iter_mut().find(|m| m.entry == c) {
            // Already matched by document / national ID: keep that, show the name tokens.
            m.matched_tokens = matched_tokens;
            return;
        }
        out.push(Match {
            entry: c,
            entry_id: e.entry_id.clone(),
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

    fn names_of(&self, entry: u32) -> impl Iterator<Item = &[u32]> + Clone + '_ {
        let e = entry as usize;
        let (a, b) = (
            self.entry_names.get(e).copied().unwrap_or(0) as usize,
            self.entry_names.get(e + 1).copied().unwrap_or(0) as usize,
        );
        (a..b).map(move |j| {
            let (s, t) = (
                self.name_offsets[j] as usize,
                self.name_offsets[j + 1] as usize,
            );
            &self.name_tokens[s..t]
        })
    }

    fn father_of(&self, entry: u32) -> &[u32] {
        let e = entry as usize;
        match (self.father_offsets.get(e), self.father_offsets.get(e + 1)) {
            (Some(&a), Some(&b)) => &self.father_tokens[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Weighted, order-free similarity of the query tokens to one listed name, and the listed
    /// token ids that matched. Same blend as [`crate::normalize::token_set_similarity`].
    fn name_similarity(&self, qt: &[QueryToken], listed: &[u32]) -> (f32, Vec<u32>) {
        let mut used: u64 = 0;
        let mut got = 0.0f32;
        let mut matched = Vec::new();
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
                matched.push(id);
                got += c * tok.weight.min(self.weights[id as usize]);
            }
        }
        let total_q: f32 = qt.iter().map(|t| t.weight).sum();
        let total_l: f32 = listed.iter().map(|&id| self.weights[id as usize]).sum();
        (crate::normalize::blend(got, total_q, total_l), matched)
    }
}

fn push_exact(out: &mut Vec<Match>, i: u32, e: &Entry, kind: MatchKind) {
    if out.iter().any(|m| m.entry == i) {
        return;
    }
    out.push(Match {
        entry: i,
        entry_id: e.entry_id.clone(),
        list: e.list,
        kind,
        score: 1.0,
        matched_tokens: Vec::new(),
        strong: true,
        level: e.action,
    });
}

/// The sorted union of two sorted lists.
fn merge_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    if a.is_empty() {
        return b.to_vec();
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Appends the intersection of two sorted lists to `out`.
fn intersect_sorted(a: &[u32], b: &[u32], out: &mut Vec<u32>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
}

/// Entries of a sorted `(key, entry)` array whose key is `key`.
fn equal_range(v: &[(u64, u32)], key: u64) -> impl Iterator<Item = u32> + '_ {
    let lo = v.partition_point(|p| p.0 < key);
    v[lo..].iter().take_while(move |p| p.0 == key).map(|p| p.1)
}

/// True when `e` applies in `direction` (`None`: any) and is in force on `today`. An entry
/// without directions applies in its list's default directions.
pub fn applies(e: &Entry, direction: Option<Direction>, today: NaiveDate) -> bool {
    if let Some(d) = direction {
        let dirs: &[Direction] = if e.directions.is_empty() {
            e.list.default_directions()
        } else {
            &e.directions
        };
        if !dirs.contains(&d) {
            return false;
        }
    }
    let now = (today.year(), today.month(), today.day());
    if let Some(f) = e.valid_from {
        let start = (
            i32::from(f.year),
            u32::from(f.month.unwrap_or(1)),
            u32::from(f.day.unwrap_or(1)),
        );
        if now < start {
            return false;
        }
    }
    if let Some(u) = e.valid_until {
        let end = (
            i32::from(u.year),
            u32::from(u.month.unwrap_or(12)),
            u32::from(u.day.unwrap_or(31)),
        );
        if now > end {
            return false;
        }
    }
    true
}
