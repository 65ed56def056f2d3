//! Name normalization: turns a name as printed (an MRZ, a CSV row, a seal) into canonical tokens,
//! folding the transliteration variants, particles, compound prefixes and honorifics that officers
//! see every day. The variant tables are data (`data/name_variants.toml`), so ops can extend them.
//!
//! Limits, stated plainly:
//! - Folding is by table: a spelling not in the tables is only caught downstream by the phonetic
//!   key ([`phonetic_key`]) or the one-edit rule ([`within_one_edit`]) of the matcher.
//! - Particles glue to their neighbours ("ZIA UL HAQ" → `ZIAULHAQ`), but a particle already glued to
//!   one side only ("ZIAUL HAQ") stays two tokens; the matcher's one-edit rule and the other tokens
//!   of the name carry such a match.
//! - Honorifics are dropped only while something else remains: "MALIK" alone stays `MALIK`.

use std::collections::BTreeMap;

/// Maps and sets of the tables, looked up for every token of every name: foldhash with a fixed
/// seed (faster than std's SipHash on short keys; the keys are ops' own tables).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;
use std::sync::LazyLock;

/// The built-in variant tables, compiled in; [`Normalizer::standard`] is built from them.
pub const STANDARD_TABLES: &str = include_str!("../data/name_variants.toml");

/// Minimum letters that must precede a suffix for a suffix rule to apply ("SAMIULA" → SAMI + ULA).
const MIN_SUFFIX_STEM: usize = 3;
/// Minimum letters that must follow a compound prefix for it to be split off ("ABDURRAHMAN").
const MIN_PREFIX_REST: usize = 3;

/// Why a variant-table file was refused. Positions are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("name tables, line {line}, column {column}: {message}")]
pub struct TablesError {
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column of the offending text.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A name normalizer built from variant tables. Cheap to share; build once.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// Spelling → canonical spelling (whole tokens).
    variants: HashMap<Box<str>, Box<str>>,
    /// Canonical honorifics and titles, dropped while something else remains.
    honorifics: HashSet<Box<str>>,
    /// Particles glued to the token before and the token after.
    glue_both: HashSet<Box<str>>,
    /// Particles glued to the token before.
    glue_previous: HashSet<Box<str>>,
    /// (suffix spelling, canonical suffix), longest spelling first.
    suffixes: Vec<(Box<str>, Box<str>)>,
    /// (prefix spelling, canonical prefix), longest spelling first.
    prefixes: Vec<(Box<str>, Box<str>)>,
    /// Whole tokens that start with a prefix but are one name.
    keep: HashSet<Box<str>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Tables {
    #[serde(default)]
    variants: BTreeMap<toml::Spanned<String>, Vec<toml::Spanned<String>>>,
    #[serde(default)]
    honorifics: Honorifics,
    #[serde(default)]
    particles: Particles,
    #[serde(default)]
    suffixes: BTreeMap<toml::Spanned<String>, Vec<toml::Spanned<String>>>,
    #[serde(default)]
    prefixes: Prefixes,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Honorifics {
    #[serde(default)]
    drop: Vec<toml::Spanned<String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Particles {
    #[serde(default)]
    both: Vec<toml::Spanned<String>>,
    #[serde(default)]
    previous: Vec<toml::Spanned<String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Prefixes {
    #[serde(default)]
    keep: Vec<toml::Spanned<String>>,
    #[serde(default)]
    split: BTreeMap<toml::Spanned<String>, Vec<toml::Spanned<String>>>,
}

static STANDARD: LazyLock<Normalizer> = LazyLock::new(|| {
    // The built-in tables are a compile-time constant checked by the test
    // `standard_tables_parse`; an empty normalizer (upper-casing and splitting only) is the
    // safe fallback should that ever be broken, rather than a panic at a counter.
    Normalizer::from_tables(STANDARD_TABLES).unwrap_or_else(|_| Normalizer::empty())
});

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Normalizer {
    /// The built-in tables (`data/name_variants.toml`), built once.
    pub fn standard() -> &'static Normalizer {
        &STANDARD
    }

    /// A normalizer with no tables: upper-cases and splits only.
    pub fn empty() -> Normalizer {
        Normalizer {
            variants: HashMap::default(),
            honorifics: HashSet::default(),
            glue_both: HashSet::default(),
            glue_previous: HashSet::default(),
            suffixes: Vec::new(),
            prefixes: Vec::new(),
            keep: HashSet::default(),
        }
    }

    /// Builds a normalizer from variant tables in the format of `data/name_variants.toml`.
    /// Unknown keys, spellings that are not upper-case letters A–Z, and a spelling given two
    /// different canonical forms are refused with their line and column.
    pub fn from_tables(text: &str) -> Result<Normalizer, TablesError> {
        let tables: Tables = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| position(text, s.start));
            TablesError {
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let err = |s: &toml::Spanned<String>, message: String| {
            let (line, column) = position(text, s.span().start);
            TablesError {
                line,
                column,
                message,
            }
        };
        let check = |s: &toml::Spanned<String>| -> Result<Box<str>, TablesError> {
            let v = s.get_ref();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_uppercase()) {
                Err(err(s, format!("'{v}' must be upper-case letters A-Z only")))
            } else {
                Ok(v.as_str().into())
            }
        };
        // Builds spelling -> canonical, refusing a spelling claimed by two canonical forms.
        let mapping = |table: &BTreeMap<toml::Spanned<String>, Vec<toml::Spanned<String>>>,
                       what: &str|
         -> Result<HashMap<Box<str>, Box<str>>, TablesError> {
            let mut map: HashMap<Box<str>, Box<str>> = HashMap::default();
            // In file order, so that the second claim of a spelling is the one reported.
            let mut rows: Vec<_> = table.iter().collect();
            rows.sort_by_key(|(k, _)| k.span().start);
            for (canonical, spellings) in rows {
                let canonical = check(canonical)?;
                for s in spellings {
                    let spelling = check(s)?;
                    if let Some(prev) = map.get(&spelling) {
                        if *prev != canonical {
                            return Err(err(
                                s,
                                format!(
                                    "{what} '{spelling}' is already a spelling of '{prev}', not '{canonical}'"
                                ),
                            ));
                        }
                    }
                    map.insert(spelling, canonical.clone());
                }
            }
            Ok(map)
        };
        let variants = mapping(&tables.variants, "variant")?;
        let by_length = |m: HashMap<Box<str>, Box<str>>| {
            let mut v: Vec<(Box<str>, Box<str>)> = m.into_iter().collect();
            v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
            v
        };
        let suffixes = by_length(mapping(&tables.suffixes, "suffix")?);
        let prefixes = by_length(mapping(&tables.prefixes.split, "prefix")?);
        let set = |v: &[toml::Spanned<String>]| -> Result<HashSet<Box<str>>, TablesError> {
            v.iter().map(check).collect()
        };
        Ok(Normalizer {
            variants,
            honorifics: set(&tables.honorifics.drop)?,
            glue_both: set(&tables.particles.both)?,
            glue_previous: set(&tables.particles.previous)?,
            suffixes,
            prefixes,
            keep: set(&tables.prefixes.keep)?,
        })
    }

    /// Canonical tokens of `name`: upper case, split on anything but letters (apostrophes
    /// dropped), compound prefixes split ("ABDURRAHMAN" → `ABDUL RAHMAN`), suffix and
    /// whole-token variants folded (MOHD → `MUHAMMAD`, SAMIULA → `SAMIULLAH`), particles glued
    /// ("MOIN UD DIN" → `MOINUDDIN`), honorifics dropped (SYED, CH, HAJI, MR …). Order is kept.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        let mut folded: Vec<String> = Vec::new();
        for mut raw in raw_tokens(name) {
            match self.split_prefix(&raw) {
                Some((prefix, rest)) => {
                    let (prefix, rest) = (prefix.to_string(), rest.len());
                    raw.drain(..raw.len() - rest);
                    folded.push(prefix);
                    self.fold(&mut raw);
                    folded.push(raw);
                }
                None => {
                    self.fold(&mut raw);
                    folded.push(raw);
                }
            }
        }
        // Glue particles to their neighbours.
        let mut glued: Vec<String> = Vec::with_capacity(folded.len());
        let mut glue_next = false;
        let mut changed: Vec<bool> = Vec::with_capacity(folded.len());
        for t in folded {
            let both = self.glue_both.contains(t.as_str());
            let previous = self.glue_previous.contains(t.as_str());
            match glued.last_mut() {
                Some(last) if both || previous || glue_next => {
                    last.push_str(&t);
                    if let Some(c) = changed.last_mut() {
                        *c = true;
                    }
                    glue_next = both;
                }
                _ => {
                    glued.push(t);
                    changed.push(false);
                    glue_next = both;
                }
            }
        }
        for (t, c) in glued.iter_mut().zip(&changed) {
            if *c {
                self.fold(t);
            }
        }
        if glued.iter().any(|t| !self.honorifics.contains(t.as_str())) {
            glued.retain(|t| !self.honorifics.contains(t.as_str()));
        }
        glued
    }

    /// True when `a` and `b` name the same person as far as the names alone can tell: the same
    /// canonical tokens in any order, allowing variants, one typo per token, and a truncated last
    /// token (MRZ). Used to compare a seal's name with the MRZ. See [`Normalizer::similarity`].
    pub fn same_name(&self, a: &str, b: &str) -> bool {
        self.similarity(a, b) >= SAME_NAME_THRESHOLD
    }

    /// Order-free name similarity in [0, 1] with every token weighted alike: 1 for the same
    /// canonical tokens, less for phonetic / one-edit / truncated matches and for tokens one side
    /// lacks. Names with no letters have similarity 0.
    pub fn similarity(&self, a: &str, b: &str) -> f32 {
        let ta = self.tokens(a);
        let tb = self.tokens(b);
        let wa = vec![1.0; ta.len()];
        let wb = vec![1.0; tb.len()];
        let ta: Vec<&str> = ta.iter().map(String::as_str).collect();
        let tb: Vec<&str> = tb.iter().map(String::as_str).collect();
        // Either side may be the truncated one (an MRZ against a seal, or the other way round).
        token_set_similarity(&ta, &wa, &tb, &wb, true)
            .score
            .max(token_set_similarity(&tb, &wb, &ta, &wa, true).score)
    }

    /// Every whole-token variant spelling with its canonical form (MOHD → MUHAMMAD, …), so that
    /// the index can recognise a typo or a truncation of a spelling it never stores.
    pub fn variant_spellings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.variants.iter().map(|(s, c)| (&**s, &**c))
    }

    /// Folds one token, in place, to its canonical form: suffix rule, then whole-token variant.
    /// (In place: a query's tokens are normalized on every screening, and most fold to
    /// themselves.)
    fn fold(&self, t: &mut String) {
        if !self.keep.contains(t.as_str()) {
            for (spelling, canonical) in &self.suffixes {
                if t.len() >= spelling.len() + MIN_SUFFIX_STEM && t.ends_with(&**spelling) {
                    t.truncate(t.len() - spelling.len());
                    t.push_str(canonical);
                    break;
                }
            }
        }
        if let Some(c) = self.variants.get(t.as_str()) {
            t.clear();
            t.push_str(c);
        }
    }

    /// Splits a compound prefix off a token ("ABDURRAHMAN" → ("ABDUL", "RAHMAN")).
    fn split_prefix<'a>(&'a self, token: &'a str) -> Option<(&'a str, &'a str)> {
        if self.keep.contains(token)
            || self
                .variants
                .get(token)
                .is_some_and(|c| self.keep.contains(c))
        {
            return None;
        }
        self.prefixes.iter().find_map(|(spelling, canonical)| {
            let rest = token.strip_prefix(&**spelling)?;
            (rest.len() >= MIN_PREFIX_REST).then_some((&**canonical, rest))
        })
    }
}

/// [`Normalizer::same_name`] holds at or above this [`Normalizer::similarity`]: one token in two
/// may be a phonetic variant, carry one typo or be truncated, but no token may be missing.
pub const SAME_NAME_THRESHOLD: f32 = 0.92;

/// Splits a printed name into upper-case letter runs; MRZ fillers, hyphens, dots, slashes and
/// digits separate tokens, apostrophes are dropped ("D'SOUZA" → `DSOUZA`).
fn raw_tokens(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    if name.is_ascii() {
        // What the loop below does, byte by byte (MRZ names are ASCII): the same tokens.
        for b in name.bytes() {
            if b.is_ascii_alphabetic() {
                cur.push(char::from(b.to_ascii_uppercase()));
            } else if matches!(b, b'\'' | b'`') {
                continue;
            } else if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        return out;
    }
    raw_tokens_of_chars(name)
}

/// [`raw_tokens`] for any text, char by char.
fn raw_tokens_of_chars(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in name.chars() {
        if c.is_alphabetic() {
            cur.extend(c.to_uppercase());
        } else if matches!(c, '\'' | '\u{2019}' | '`') {
            continue;
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A sound key tuned for romanized Urdu/Arabic names: consonants with doubled letters collapsed
/// and common digraphs folded (PH→F, KH→X, GH→G, SH→$, CH→C, TH→T, DH→D, ZH→Z, CK/C/Q→K, V/W→W,
/// a final H after a vowel dropped), and each run of vowels reduced to its class: A (A, AA),
/// I (I, E, EE, IE, Y), U (U, O, OO, OU), E (AI, AE, AY, EI, EY: the diphthong), O (AU, AW, OW).
/// ZEESHAN and ZISHAN share `ZI$AN`; HUSSAIN/HUSSEIN share `HUSEN`, but HASSAN (`HASAN`) stays
/// apart. Hand-written because English-tuned codes (Soundex, Metaphone) drop the vowels that
/// tell these names apart.
pub fn phonetic_key(token: &str) -> String {
    let b = token.as_bytes();
    if !b.is_ascii() {
        return token.to_string();
    }
    let is_vowel = |c: u8| matches!(c, b'A' | b'E' | b'I' | b'O' | b'U' | b'Y');
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_vowel(c) && !(c == b'Y' && b.get(i + 1).is_some_and(|&n| is_vowel(n))) {
            let start = i;
            while i < b.len() && is_vowel(b[i]) {
                i += 1;
            }
            let run = &b[start..i];
            let class = match run {
                _ if run.iter().all(|&v| v == b'A') => 'A',
                [b'A', b'E' | b'I' | b'Y', ..] | [b'E', b'I' | b'Y', ..] => 'E',
                [b'A' | b'O', b'U' | b'W', ..] => 'O',
                _ if run.iter().all(|&v| matches!(v, b'O' | b'U')) => 'U',
                [b'E' | b'I' | b'Y', ..] => 'I',
                [b'O' | b'U', ..] => 'U',
                _ => 'A',
            };
            out.push(class);
            continue;
        }
        let next = b.get(i + 1).copied().unwrap_or(0);
        let (code, step) = match (c, next) {
            (b'P', b'H') => (b'F', 2),
            (b'K', b'H') => (b'X', 2),
            (b'G', b'H') => (b'G', 2),
            (b'S', b'H') => (b'$', 2),
            (b'C', b'H') => (b'C', 2),
            (b'T', b'H') => (b'T', 2),
            (b'D', b'H') => (b'D', 2),
            (b'Z', b'H') => (b'Z', 2),
            (b'C', b'K') => (b'K', 2),
            (b'Q', _) | (b'K', _) | (b'C', _) => (b'K', 1),
            (b'V', _) | (b'W', _) => (b'W', 1),
            (b'H', 0) if i > 0 => {
                i += 1;
                continue;
            }
            _ => (c, 1),
        };
        if out.as_bytes().last() != Some(&code) {
            out.push(char::from(code));
        }
        i += step;
    }
    out
}

/// True when `a` and `b` differ by at most one insertion, deletion, substitution or transposition
/// of adjacent letters. Hand-written because a bounded check is a single pass without the
/// allocation of a full edit-distance matrix (the `strsim` functions allocate per call).
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if prefix == la && prefix == lb {
        return true;
    }
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match la.cmp(&lb) {
        std::cmp::Ordering::Equal => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        std::cmp::Ordering::Less => ra == &rb[1..],
        std::cmp::Ordering::Greater => &ra[1..] == rb,
    }
}

/// How one query token relates to one listed token.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) enum TokenMatch {
    /// Same canonical token.
    Exact,
    /// Same phonetic key.
    Phonetic,
    /// One edit apart (tokens of 4 letters or more).
    OneEdit,
    /// The query token is a prefix of the listed one (MRZ truncation of the last name token).
    Prefix,
}

impl TokenMatch {
    /// Credit for the match, as a fraction of the token's weight.
    pub(crate) fn credit(self) -> f32 {
        match self {
            Self::Exact => 1.0,
            Self::Phonetic => 0.9,
            Self::OneEdit => 0.85,
            Self::Prefix => 0.9,
        }
    }
}

/// Minimum length of a token for the one-edit rule: shorter tokens (ALI/ALY) rely on the tables.
pub(crate) const MIN_ONE_EDIT_LEN: usize = 4;
/// Minimum letters of a truncated token for the prefix rule.
pub(crate) const MIN_PREFIX_LEN: usize = 1;

/// Compares two canonical tokens; `may_be_prefix` allows `q` to be a truncation of `e`.
pub(crate) fn token_match(q: &str, e: &str, may_be_prefix: bool) -> Option<TokenMatch> {
    if q == e {
        return Some(TokenMatch::Exact);
    }
    if may_be_prefix && q.len() >= MIN_PREFIX_LEN && e.starts_with(q) {
        return Some(TokenMatch::Prefix);
    }
    if q.len() >= MIN_ONE_EDIT_LEN.min(e.len())
        && within_one_edit(q, e)
        && e.len() >= MIN_ONE_EDIT_LEN
    {
        return Some(TokenMatch::OneEdit);
    }
    if q.len() >= 3 && e.len() >= 3 && phonetic_key(q) == phonetic_key(e) {
        return Some(TokenMatch::Phonetic);
    }
    None
}

/// Result of comparing two token sets.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetMatch {
    /// Similarity in [0, 1].
    pub(crate) score: f32,
}

/// Blends matched weight `got` into a similarity: coverage of the lighter side (70%) with
/// coverage of the heavier side (30%), so a dropped middle name costs some similarity but not
/// the match, while a name sharing one token of three stays far below.
pub(crate) fn blend(got: f32, total_q: f32, total_e: f32) -> f32 {
    if total_q <= 0.0 || total_e <= 0.0 {
        return 0.0;
    }
    (0.7 * (got / total_q.min(total_e)) + 0.3 * (got / total_q.max(total_e))).clamp(0.0, 1.0)
}

/// Order-free token-set similarity of query tokens `q` (weights `wq`) to listed tokens `e`
/// (weights `we`). Each query token takes its best unused listed token (greedy, in query order);
/// see [`blend`]. When `last_may_be_prefix`, the last query token may be a truncation.
pub(crate) fn token_set_similarity(
    q: &[&str],
    wq: &[f32],
    e: &[&str],
    we: &[f32],
    last_may_be_prefix: bool,
) -> SetMatch {
    let mut used: u64 = 0;
    let mut got = 0.0f32;
    for (i, qt) in q.iter().enumerate() {
        let may_prefix = last_may_be_prefix && i + 1 == q.len();
        let mut best: Option<(usize, TokenMatch)> = None;
        for (j, et) in e.iter().enumerate().take(64) {
            if used & (1 << j) != 0 {
                continue;
            }
            if let Some(m) = token_match(qt, et, may_prefix) {
                if best.is_none_or(|(_, b)| m.credit() > b.credit()) {
                    best = Some((j, m));
                }
            }
        }
        if let Some((j, m)) = best {
            used |= 1 << j;
            let w = wq
                .get(i)
                .copied()
                .unwrap_or(1.0)
                .min(we.get(j).copied().unwrap_or(1.0));
            got += w * m.credit();
        }
    }
    SetMatch {
        score: blend(got, wq.iter().sum(), we.iter().sum()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn standard_tables_parse() {
        assert!(Normalizer::from_tables(STANDARD_TABLES).is_ok());
    }

    #[test]
    fn one_edit_covers_substitution_insertion_deletion_transposition() {
        assert!(within_one_edit("ASIF", "ASIF"));
        assert!(within_one_edit("ASIF", "ASIM"));
        assert!(within_one_edit("ASIF", "ASSIF"));
        assert!(within_one_edit("ASIF", "ASF"));
        assert!(within_one_edit("ASIF", "AISF"));
        assert!(!within_one_edit("ASIF", "AMIR"));
        assert!(!within_one_edit("ASIF", "ASIFAB"));
    }

    #[test]
    fn ascii_names_split_as_by_chars() {
        for name in [
            "MUHAMMAD<<ALI<KHAN",
            "d'souza-khan jr. 3rd",
            "  O`NEIL//ABDUR  RAHMAN ",
            "",
            "<<<",
            "A1B2c3",
        ] {
            assert_eq!(raw_tokens(name), raw_tokens_of_chars(name), "{name:?}");
        }
    }

    #[test]
    fn phonetic_key_folds_vowels_and_doubles() {
        assert_eq!(phonetic_key("MUHAMMAD"), phonetic_key("MOHAMMAD"));
        assert_eq!(phonetic_key("NADEEM"), phonetic_key("NADIM"));
        assert_eq!(phonetic_key("NAEEM"), phonetic_key("NAIM"));
        assert_eq!(phonetic_key("ZEESHAN"), phonetic_key("ZISHAN"));
        assert_eq!(phonetic_key("HUSSAIN"), phonetic_key("HUSSEIN"));
        assert_eq!(phonetic_key("FATIMA"), phonetic_key("FATIMAH"));
        assert_ne!(phonetic_key("HUSSAIN"), phonetic_key("HASSAN"));
        assert_ne!(phonetic_key("ASIF"), phonetic_key("ATIF"));
    }
}
