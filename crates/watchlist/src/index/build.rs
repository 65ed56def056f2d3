//! Building an [`Index`] on several cores, with a result that does not depend on how many.
//!
//! 1. *Shape* (parallel): the entries are cut into contiguous shares, one per thread; each
//!    thread normalizes its entries' names (the bulk of the work), interns their tokens in a
//!    dictionary of its own, and lays out their compact records, facts, birth slots and exact
//!    keys. A loaded snapshot decodes its entries in the same pass ([`Shaper`] takes them one at a
//!    time), so no list of decoded entries is ever held.
//! 2. *Merge* (sequential, one hash lookup per distinct token of a share): the shares' dictionaries
//!    are merged in share order. A token's global id is its order of first appearance over all
//!    entries, exactly as a one-thread build assigns it, because the shares are contiguous and
//!    merged in order.
//! 3. *Keys* (parallel): each share renumbers its records to the global ids and derives the
//!    posting keys (token, birth slot), whole-name and token-pair keys and token counts.
//! 4. *Sort* (two threads, as before): every posting list is sorted and de-duplicated, so the
//!    order the shares deliver their pairs in does not matter.
//!
//! `index_built_with_any_thread_count_is_identical` builds with 1, 2, 3 and 7 threads and
//! compares every array.

use std::collections::HashMap;
use std::sync::Arc;

use super::facts::Facts;
use super::{
    FATHER_FLAG, Index, Interner, MAX_PAIR_TOKENS, NameCache, Postings, SINGLE, TOKEN_SHIFT,
    cnic_number, hash, name_key, pack_dob, pair_key, year_slot,
};
use crate::Entry;
use crate::matcher::normalize_document_number;
use crate::normalize::Normalizer;

/// Most threads a build uses (shares smaller than this many entries are not split further).
const MAX_THREADS: usize = 8;
const MIN_SHARE: usize = 4096;

/// Threads for a build of `n` entries: the cores available, at most [`MAX_THREADS`], fewer for
/// a small list. The result does not depend on it.
pub(crate) fn threads_for(n: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    cores.min(MAX_THREADS).min(n / MIN_SHARE).max(1)
}

/// One thread's share of the entries, with token ids local to the share.
pub(crate) struct Share {
    /// Number of the share's first entry.
    first: u32,
    /// The share's own token dictionary.
    interner: Interner,
    /// Entry `first + k`'s record starts at `record_at[k]` in `records`.
    record_at: Vec<u32>,
    records: Vec<u32>,
    /// Birth slot ([`year_slot`]) per entry.
    slots: Vec<u32>,
    facts: Vec<Facts>,
    documents: Vec<(u64, u32)>,
    national_ids: Vec<(u64, u32)>,
}

/// Lays out a share's entries, one at a time (see the module docs).
pub(crate) struct Shaper<'n> {
    norm: &'n Normalizer,
    cache: NameCache,
    share: Share,
}

impl<'n> Shaper<'n> {
    /// A share whose first entry is number `first`; `capacity` entries are expected.
    pub(crate) fn new(norm: &'n Normalizer, first: u32, capacity: usize) -> Shaper<'n> {
        Shaper {
            norm,
            cache: NameCache {
                spans: HashMap::default(),
                ids: Vec::new(),
            },
            share: Share {
                first,
                interner: Interner {
                    ids: HashMap::default(),
                    tokens: Vec::new(),
                },
                record_at: Vec::with_capacity(capacity),
                records: Vec::with_capacity(capacity * 6),
                slots: Vec::with_capacity(capacity),
                facts: Vec::with_capacity(capacity),
                documents: Vec::with_capacity(capacity),
                national_ids: Vec::with_capacity(capacity / 2),
            },
        }
    }

    /// Adds the share's next entry.
    pub(crate) fn push(&mut self, e: &Entry) {
        let s = &mut self.share;
        let i = s.first + s.record_at.len() as u32;
        let start = s.records.len();
        s.record_at.push(start as u32);
        s.slots.push(year_slot(e.dob) as u32);
        s.facts.push(Facts::of(e));
        s.records.push(pack_dob(e.dob));
        let names = std::iter::once(e.full_name.as_str())
            .chain(e.aliases.iter().map(String::as_str))
            .filter(|n| !n.trim().is_empty());
        for name in names {
            let toks = self.cache.ids(name, self.norm, &mut s.interner);
            s.records.push(toks.len() as u32);
            s.records.extend_from_slice(toks);
        }
        if s.records.len() == start + 1 {
            // No name: never a name candidate.
            s.records.truncate(start);
        } else if let Some(f) = &e.father_name {
            let toks = self.cache.ids(f, self.norm, &mut s.interner);
            s.records.push(FATHER_FLAG | toks.len() as u32);
            s.records.extend_from_slice(toks);
        }
        for d in &e.document_numbers {
            let d = normalize_document_number(d);
            if !d.is_empty() {
                s.documents.push((hash(&d), i));
            }
        }
        if let Some(c) = e.national_id.as_ref().and_then(cnic_number) {
            s.national_ids.push((c, i));
        }
    }

    /// The share, laid out.
    pub(crate) fn finish(self) -> Share {
        self.share
    }
}

/// Per share, what step 3 derives.
#[derive(Default)]
struct Keys {
    /// (token << 22 | single << 21 | slot, entry).
    postings: Vec<(u64, u32)>,
    names_dated: Vec<(u64, u32)>,
    names_undated: Vec<(u64, u32)>,
    pairs_dated: Vec<(u64, u32)>,
    pairs_undated: Vec<(u64, u32)>,
    /// Entries carrying each (global) token in a listed name.
    df: Vec<u32>,
}

/// Renumbers `share`'s records to global token ids (`global[local]`) and derives its keys.
fn keys_of(share: &mut Share, global: &[u32], tokens: usize) -> Keys {
    let mut k = Keys {
        postings: Vec::with_capacity(share.facts.len() * 5),
        df: vec![0; tokens],
        ..Keys::default()
    };
    let mut distinct: Vec<u32> = Vec::new();
    let mut name_ids: Vec<u32> = Vec::new();
    let n = share.record_at.len();
    for j in 0..n {
        let i = share.first + j as u32;
        let a = share.record_at[j] as usize;
        let b = share
            .record_at
            .get(j + 1)
            .map_or(share.records.len(), |&b| b as usize);
        let Some(record) = share.records.get_mut(a..b) else {
            continue;
        };
        let Some((&mut dob, mut rest)) = record.split_first_mut() else {
            continue;
        };
        let year = u64::from(share.slots[j]);
        let (names_out, pairs_out) = if dob != 0 {
            (&mut k.names_dated, &mut k.pairs_dated)
        } else {
            (&mut k.names_undated, &mut k.pairs_undated)
        };
        distinct.clear();
        while let Some((len, tail)) = rest.split_first_mut() {
            let father = *len & FATHER_FLAG != 0;
            let (toks, after) = tail.split_at_mut(((*len & !FATHER_FLAG) as usize).min(tail.len()));
            rest = after;
            for id in toks.iter_mut() {
                *id = global.get(*id as usize).copied().unwrap_or(*id);
            }
            if father {
                continue;
            }
            name_ids.clear();
            name_ids.extend_from_slice(toks);
            distinct.extend_from_slice(toks);
            name_ids.sort_unstable();
            name_ids.dedup();
            if !name_ids.is_empty() {
                names_out.push((name_key(&name_ids), i));
            }
            let head = &name_ids[..name_ids.len().min(MAX_PAIR_TOKENS)];
            for (x, &a) in head.iter().enumerate() {
                for &b in &head[x + 1..] {
                    pairs_out.push((pair_key(a, b), i));
                }
            }
            if let [only] = toks {
                k.postings
                    .push(((u64::from(*only) << TOKEN_SHIFT) | SINGLE | year, i));
            }
        }
        distinct.sort_unstable();
        distinct.dedup();
        for &id in &distinct {
            if let Some(d) = k.df.get_mut(id as usize) {
                *d += 1;
            }
            k.postings.push(((u64::from(id) << TOKEN_SHIFT) | year, i));
        }
    }
    k
}

/// Runs `f` on every item of `items`, on up to `items.len()` threads (the calling one among
/// them), and returns the results in order.
pub(crate) fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let f = &f;
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.map(|item| scope.spawn(move || f(item))).collect();
        let mut out = vec![f(first)];
        for h in handles {
            match h.join() {
                Ok(r) => out.push(r),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Shapes `entries` on `threads` threads (contiguous shares).
pub(crate) fn shape_all(entries: &[Entry], norm: &Normalizer, threads: usize) -> Vec<Share> {
    let per = entries.len().div_ceil(threads.max(1)).max(1);
    let slices: Vec<(usize, &[Entry])> = entries
        .chunks(per)
        .enumerate()
        .map(|(k, c)| (k * per, c))
        .collect();
    if slices.is_empty() {
        return vec![Shaper::new(norm, 0, 0).finish()];
    }
    parallel_map(slices, |(first, slice)| {
        let mut s = Shaper::new(norm, first as u32, slice.len());
        for e in slice {
            s.push(e);
        }
        s.finish()
    })
}

/// Steps 2–4 over shaped shares, in entry order.
pub(crate) fn assemble(
    mut shares: Vec<Share>,
    norm: &Normalizer,
    normalizer: Option<Arc<Normalizer>>,
) -> Index {
    // 2. Merge the dictionaries in share order: global ids in order of first appearance.
    let mut interner = Interner {
        ids: HashMap::default(),
        tokens: Vec::new(),
    };
    let globals: Vec<Vec<u32>> = shares
        .iter_mut()
        .map(|s| {
            let local = std::mem::take(&mut s.interner.tokens);
            s.interner.ids = HashMap::default();
            local.iter().map(|t| interner.id(t)).collect()
        })
        .collect();
    let tokens = interner.tokens.len();
    // 3. Renumber and derive keys, per share.
    let work: Vec<(&mut Share, &Vec<u32>)> = shares.iter_mut().zip(&globals).collect();
    let keys = parallel_map(work, |(s, g)| keys_of(s, g, tokens));
    drop(globals);
    let n: usize = shares.iter().map(|s| s.record_at.len()).sum();
    let mut record_at: Vec<u32> = Vec::with_capacity(n + 1);
    let mut records: Vec<u32> = Vec::with_capacity(shares.iter().map(|s| s.records.len()).sum());
    let mut facts = Vec::with_capacity(n);
    let mut documents = Vec::with_capacity(shares.iter().map(|s| s.documents.len()).sum());
    let mut national_ids = Vec::with_capacity(shares.iter().map(|s| s.national_ids.len()).sum());
    for s in shares {
        let base = records.len() as u32;
        record_at.extend(s.record_at.iter().map(|&a| a + base));
        records.extend_from_slice(&s.records);
        facts.extend_from_slice(&s.facts);
        documents.extend_from_slice(&s.documents);
        national_ids.extend_from_slice(&s.national_ids);
    }
    record_at.push(records.len() as u32);
    let concat = |pick: fn(&mut Keys) -> &mut Vec<(u64, u32)>, keys: &mut [Keys]| {
        let mut all = Vec::with_capacity(keys.iter_mut().map(|k| pick(k).len()).sum());
        for k in keys.iter_mut() {
            all.append(pick(k));
            *pick(k) = Vec::new();
        }
        all
    };
    let mut keys = keys;
    let mut df = vec![0u32; tokens];
    for k in &keys {
        for (d, x) in df.iter_mut().zip(&k.df) {
            *d += x;
        }
    }
    let postings = concat(|k| &mut k.postings, &mut keys);
    let names_dated = concat(|k| &mut k.names_dated, &mut keys);
    let names_undated = concat(|k| &mut k.names_undated, &mut keys);
    let pairs_dated = concat(|k| &mut k.pairs_dated, &mut keys);
    let pairs_undated = concat(|k| &mut k.pairs_undated, &mut keys);
    drop(keys);
    // 4. The big sorts run on two threads: the whole-name and pair postings and the exact
    // indexes on a helper, the token postings here.
    let helper = move || {
        documents.sort_unstable();
        national_ids.sort_unstable();
        (
            documents,
            national_ids,
            [
                Postings::from_pairs(names_dated),
                Postings::from_pairs(names_undated),
                Postings::from_pairs(pairs_dated),
                Postings::from_pairs(pairs_undated),
            ],
        )
    };
    let (main, parts) = std::thread::scope(|scope| {
        let helper = scope.spawn(helper);
        let main = Index::finish_build(norm, interner, postings, df, n);
        match helper.join() {
            Ok(parts) => (main, parts),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let (documents, national_ids, [names_dated, names_undated, pairs_dated, pairs_undated]) = parts;
    // Copied by the calling thread: see `Index::rehomed`.
    Index {
        normalizer,
        documents,
        national_ids,
        record_at,
        records,
        facts,
        names_dated,
        names_undated,
        pairs_dated,
        pairs_undated,
        ..main
    }
    .rehomed()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// Every array of two indexes, field by field (the normalizer aside).
    pub(crate) fn assert_same(a: &Index, b: &Index, what: &str) {
        assert_eq!(a.entries, b.entries, "{what}: entries");
        assert_eq!(a.documents, b.documents, "{what}: documents");
        assert_eq!(a.national_ids, b.national_ids, "{what}: national_ids");
        assert_eq!(a.tokens, b.tokens, "{what}: tokens");
        assert_eq!(a.token_ids, b.token_ids, "{what}: token_ids");
        assert_eq!(a.weights, b.weights, "{what}: weights");
        assert_eq!(a.phonetic, b.phonetic, "{what}: phonetic");
        assert_eq!(a.spellings, b.spellings, "{what}: spellings");
        assert_eq!(a.deletes, b.deletes, "{what}: deletes");
        assert_eq!(a.expansion_at, b.expansion_at, "{what}: expansion_at");
        assert_eq!(a.expansions, b.expansions, "{what}: expansions");
        assert_eq!(a.keys, b.keys, "{what}: keys");
        assert_eq!(a.offsets, b.offsets, "{what}: offsets");
        assert_eq!(a.postings, b.postings, "{what}: postings");
        assert_eq!(a.token_keys, b.token_keys, "{what}: token_keys");
        assert_eq!(a.year_runs, b.year_runs, "{what}: year_runs");
        assert_eq!(a.record_at, b.record_at, "{what}: record_at");
        assert_eq!(a.records, b.records, "{what}: records");
        assert_eq!(a.facts, b.facts, "{what}: facts");
        assert_eq!(a.names_dated, b.names_dated, "{what}: names_dated");
        assert_eq!(a.names_undated, b.names_undated, "{what}: names_undated");
        assert_eq!(a.pairs_dated, b.pairs_dated, "{what}: pairs_dated");
        assert_eq!(a.pairs_undated, b.pairs_undated, "{what}: pairs_undated");
    }

    #[test]
    fn index_built_with_any_thread_count_is_identical() {
        let entries = crate::synth::generate(12_000, 5);
        let one = Index::build_threads(&entries, None, 1);
        assert_eq!(one.len(), entries.len());
        for threads in [2, 3, 7] {
            let many = Index::build_threads(&entries, None, threads);
            assert_same(&one, &many, &format!("{threads} threads"));
        }
    }

    #[test]
    fn index_built_over_fewer_entries_than_threads_is_identical() {
        let entries = crate::synth::generate(5, 9);
        let one = Index::build_threads(&entries, None, 1);
        assert_same(&one, &Index::build_threads(&entries, None, 8), "8 threads");
        let none = Index::build_threads(&[], None, 4);
        assert!(none.is_empty());
    }
}
