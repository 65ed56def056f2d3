//! The answer to a screening: the decision, every reason that contributed, the protection
//! referral flag and the watchlist entries matched (for the case a second-check officer opens).

use std::fmt;

use checkpost_watchlist::{Decision, EntryId, ListKind, MatchKind};

/// Stable machine code of a [`Reason`]; clients switch on [`ReasonCode::as_str`], never on the
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// A person list (BLACKLIST, ECL, PCL, PO, CNIC_BLOCK) matched the traveller.
    WatchlistMatch,
    /// The document itself is on the lost/stolen documents list (SLTD).
    DocumentListed,
    /// A printed check digit disagrees with its field: misread or altered document.
    CheckDigitFailed,
    /// A date in the zone is not a calendar date.
    InvalidDate,
    /// The document expired before today.
    DocumentExpired,
    /// Remaining validity is below what an SOP rule requires for the destination.
    ValidityTooShort,
    /// The CNIC's parity disagrees with the sex printed in the zone.
    CnicSexMismatch,
    /// The issuing state or nationality is not an ICAO code.
    UnknownCountryCode,
    /// The zone was repaired (an OCR misread proven by a check digit); for the record.
    MrzRepaired,
    /// Something about the document worth recording that does not raise the decision
    /// (date of birth printed partly as fillers, a non-conformant sex cell).
    DocumentNote,
    /// No watchlist snapshot is active: the lists were not checked.
    NoSnapshot,
    /// The active snapshot is older than the configured limit.
    SnapshotStale,
    /// A check could not run (deadline, unreadable image).
    CheckIncomplete,
    /// An SOP rule fired.
    Rule,
    /// An SOP rule raised a protection referral (and no decision level of its own).
    ProtectionReferral,
    /// A code from a stage outside the engine (e.g. the scan and seal stage), spelled by that
    /// stage.
    External(&'static str),
}

impl ReasonCode {
    /// The wire spelling: `"WATCHLIST_MATCH"`, `"CHECK_DIGIT_FAILED"`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WatchlistMatch => "WATCHLIST_MATCH",
            Self::DocumentListed => "DOCUMENT_LISTED",
            Self::CheckDigitFailed => "CHECK_DIGIT_FAILED",
            Self::InvalidDate => "INVALID_DATE",
            Self::DocumentExpired => "DOCUMENT_EXPIRED",
            Self::ValidityTooShort => "VALIDITY_TOO_SHORT",
            Self::CnicSexMismatch => "CNIC_SEX_MISMATCH",
            Self::UnknownCountryCode => "UNKNOWN_COUNTRY_CODE",
            Self::MrzRepaired => "MRZ_REPAIRED",
            Self::DocumentNote => "DOCUMENT_NOTE",
            Self::NoSnapshot => "NO_SNAPSHOT",
            Self::SnapshotStale => "SNAPSHOT_STALE",
            Self::CheckIncomplete => "CHECK_INCOMPLETE",
            Self::Rule => "RULE",
            Self::ProtectionReferral => "PROTECTION_REFERRAL",
            Self::External(code) => code,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that contributed to a decision. Fields that do not apply are `None`, empty or 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// Machine code.
    pub code: ReasonCode,
    /// One sentence for the officer, in plain English; never a raw document number or CNIC.
    pub message: String,
    /// The level this reason asks for on its own (CLEAR for a previously cleared match or a
    /// note).
    pub level: Decision,
    /// The list that matched, for watchlist reasons.
    pub list: Option<ListKind>,
    /// The watchlist entry, for watchlist reasons.
    pub entry_id: Option<EntryId>,
    /// The SOP rule, for rule reasons.
    pub rule_id: Option<String>,
    /// How the entry matched.
    pub match_kind: Option<MatchKind>,
    /// Match score in [0, 1]; 0 when not a match.
    pub score: f32,
    /// Name tokens that matched, so a reviewer sees why.
    pub matched_tokens: Vec<String>,
    /// The document field this reason is about (`Field::as_str` spelling).
    pub field: Option<&'static str>,
    /// 1-based MRZ line of that field; 0 when not applicable.
    pub line: u8,
    /// 1-based MRZ column; 0 when not applicable.
    pub column: u8,
    /// A reviewer already cleared this document against this exact entry: listed, but it does
    /// not raise the decision.
    pub previously_cleared: bool,
    /// The case that cleared it.
    pub cleared_by_case: Option<String>,
    /// This reason raised a protection referral.
    pub protection_referral: bool,
}

impl Reason {
    /// A reason with only a code, level and message; set the other fields as needed.
    pub fn new(code: ReasonCode, level: Decision, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            level,
            list: None,
            entry_id: None,
            rule_id: None,
            match_kind: None,
            score: 0.0,
            matched_tokens: Vec::new(),
            field: None,
            line: 0,
            column: 0,
            previously_cleared: false,
            cleared_by_case: None,
            protection_referral: false,
        }
    }

    /// The same reason about a document field at a 1-based line and column of the zone.
    pub fn at(mut self, field: &'static str, line: u8, column: u8) -> Self {
        self.field = Some(field);
        self.line = line;
        self.column = column;
        self
    }

    /// The id the wire's `entry_id` carries: the watchlist entry, or the rule for RULE reasons.
    pub fn entry_or_rule_id(&self) -> Option<&str> {
        self.entry_id
            .as_ref()
            .map(|e| e.0.as_str())
            .or(self.rule_id.as_deref())
    }
}

/// A watchlist entry the traveller matched, with what the case store needs to remember a
/// reviewer's verdict on it (the entry's content digest).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedEntry {
    /// Position of the entry that answered, so that a caller holding the same snapshot and
    /// delta set can fetch its details without a search: below the snapshot's length it indexes
    /// the snapshot's `entries`; past it, the intraday overlay (`DeltaSet::entry_at` resolves
    /// both). Check the entry id as well: a caller holding another set finds nothing or another id.
    pub entry: u32,
    /// HQ's id of the entry.
    pub entry_id: EntryId,
    /// The list it is on.
    pub list: ListKind,
    /// How it matched.
    pub kind: MatchKind,
    /// Match score in [0, 1].
    pub score: f32,
    /// The level the match asks for (the entry's action, capped at SECOND_CHECK unless strong),
    /// before any previous clearance.
    pub level: Decision,
    /// [`checkpost_watchlist::Entry::content_digest`] of the entry as matched.
    pub entry_digest: [u8; 32],
    /// The case in which a reviewer cleared this document against this exact entry, if any.
    pub cleared_by_case: Option<String>,
}

/// The decision for one passenger and everything that led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The highest level of any reason (CLEAR when there are none).
    pub decision: Decision,
    /// Every reason, most severe first (ties: protection referrals first, then the order the
    /// checks ran in: system, document, watchlist, rules, external stages).
    pub reasons: Vec<Reason>,
    /// Route the passenger to the anti-trafficking desk for protection (not an offload reason).
    pub protection_referral: bool,
    /// Every watchlist entry matched, strongest first, for the second-check case.
    pub matches: Vec<MatchedEntry>,
}

impl Outcome {
    /// Builds an outcome from its reasons: orders them and takes the decision and the referral
    /// flag from them. The one place the decision order lives.
    pub fn from_reasons(mut reasons: Vec<Reason>, matches: Vec<MatchedEntry>) -> Self {
        // Stable sort: within a level the order the checks ran in is kept.
        reasons.sort_by(|a, b| {
            (b.level, b.protection_referral).cmp(&(a.level, a.protection_referral))
        });
        let decision = reasons
            .iter()
            .map(|r| r.level)
            .max()
            .unwrap_or(Decision::Clear);
        let protection_referral = reasons.iter().any(|r| r.protection_referral);
        Self {
            decision,
            reasons,
            protection_referral,
            matches,
        }
    }
}
