//! The screening decision: `(passenger, snapshot, rules, now) -> decision` with every reason.
//!
//! - [`input`]: what a screening is about ([`ScreenInput`], [`TravelDetails`]) and what it is
//!   decided against ([`Context`]: snapshot, rules, clock reading, staleness policy, cleared
//!   matches).
//! - [`reason`]: the answer: [`Outcome`], [`Reason`], [`ReasonCode`], [`MatchedEntry`].
//! - [`rules`]: the post's SOP rules, loaded from TOML that ops edit ([`Rules`]).
//! - [`screen()`]: the decision itself, in one place.
//! - [`EngineError`]: every way a rules file is refused.
//!
//! Pure: no I/O, no clock, no async. The caller passes `now` and the snapshot it holds.
//!
//! Principles (DESIGN.md, "Decisions"): the decision is the highest level of any reason and
//! every reason is listed, most severe first; a check that could not run never yields CLEAR;
//! only a strong identity match escalates beyond SECOND_CHECK; the Exit Control List applies to
//! departures only; a protection referral is a separate flag, never an offload reason.

pub mod error;
pub mod input;
pub mod reason;
pub mod rules;
mod screen;

pub use error::{EngineError, RuleRef};
pub use input::{
    ClearedMatches, Context, DeltaSource, DocumentKey, Incomplete, NoneCleared, ScreenInput,
    StalePolicy, TravelDetails,
};
pub use reason::{MatchedEntry, Outcome, Reason, ReasonCode};
pub use rules::{Rule, Rules};
pub use screen::screen;

pub use checkpost_watchlist::{Decision, Direction, EntryId, ListKind, MatchKind};
