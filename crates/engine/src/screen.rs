//! The decision itself: runs every check, collects every reason, and lets
//! [`Outcome::from_reasons`] order them and take the highest level.

use std::fmt::Write as _;
use std::sync::Arc;

use checkpost_document::{Field, ProblemKind, TravelDocument};
use checkpost_watchlist::delta::DeltaSet;
use checkpost_watchlist::matcher::{Query, level_for};
use checkpost_watchlist::{Decision, ListKind, Snapshot};
use chrono::NaiveDate;

use crate::input::{Context, DocumentKey, ScreenInput, StalePolicy};
use crate::reason::{MatchedEntry, Outcome, Reason, ReasonCode};
use crate::rules::{AgeRange, Facts};

/// Screens one passenger: the fail-closed system checks (no snapshot, stale snapshot, checks
/// that did not run), the document checks (each check digit, dates, expiry, CNIC/sex), the
/// watchlists (through the snapshot's matcher, for this direction and today), the SOP rules, and
/// the reasons of stages outside the engine. The decision is the highest level of all reasons.
///
/// Never CLEAR when a check could not run: with no snapshot, a stale one (under
/// [`StalePolicy::Escalate`]) or any [`Incomplete`](crate::Incomplete), the decision is at least
/// SECOND_CHECK.
pub fn screen(input: &ScreenInput<'_>, ctx: &Context<'_>) -> Outcome {
    let today = ctx.now.with_timezone(&ctx.local_offset).date_naive();
    let doc = input.document;
    let mut reasons = Vec::new();

    system_checks(input, ctx, &mut reasons);
    document_checks(doc, today, &mut reasons);
    let matches = watchlist_checks(input, ctx, today, &mut reasons);
    let facts = Facts {
        direction: input.direction,
        nationality: &doc.nationality,
        age: AgeRange::of(doc.date_of_birth, today),
        sex: doc.sex,
        travel: input.travel,
        validity_left: doc.days_of_validity_left(today),
    };
    reasons.extend(ctx.rules.fired(&facts).map(|rule| rule.reason()));
    reasons.extend(input.external.iter().cloned());

    Outcome::from_reasons(reasons, matches)
}

/// No snapshot, a stale snapshot, checks that did not run.
fn system_checks(input: &ScreenInput<'_>, ctx: &Context<'_>, reasons: &mut Vec<Reason>) {
    match ctx.snapshot {
        None => reasons.push(Reason::new(
            ReasonCode::NoSnapshot,
            Decision::SecondCheck,
            "No watchlist snapshot is active: the watchlists were not checked.",
        )),
        Some(snapshot) => {
            let age = snapshot.age(ctx.now);
            if age > ctx.stale_after {
                let level = match ctx.stale_policy {
                    StalePolicy::Escalate => Decision::SecondCheck,
                    StalePolicy::Annotate => Decision::Clear,
                };
                reasons.push(Reason::new(
                    ReasonCode::SnapshotStale,
                    level,
                    format!(
                        "The watchlist snapshot is {} hours old, over the {}-hour limit: recent listings may be missing.",
                        age.num_hours(),
                        ctx.stale_after.num_hours()
                    ),
                ));
            }
        }
    }
    for incomplete in &input.incomplete {
        reasons.push(Reason::new(
            ReasonCode::CheckIncomplete,
            Decision::SecondCheck,
            format!(
                "The {} check did not run: {}",
                incomplete.check, incomplete.why
            ),
        ));
    }
}

/// Every problem the parser found, every repair, and expiry.
fn document_checks(doc: &TravelDocument, today: NaiveDate, reasons: &mut Vec<Reason>) {
    for p in &doc.problems {
        let field = p.field.as_str();
        // Messages are written here rather than copied from the parser so that they never carry
        // the field's value (a document number or CNIC is PII).
        let (code, level, message) = match p.kind {
            ProblemKind::CheckDigitFailed => (
                ReasonCode::CheckDigitFailed,
                Decision::SecondCheck,
                format!(
                    "The check digit of {field} does not match: possible misread or altered document."
                ),
            ),
            ProblemKind::InvalidDate => (
                ReasonCode::InvalidDate,
                Decision::SecondCheck,
                format!(
                    "The {field} is not a calendar date: possible misread or altered document."
                ),
            ),
            ProblemKind::CnicSexMismatch => (
                ReasonCode::CnicSexMismatch,
                Decision::SecondCheck,
                "The CNIC's last digit disagrees with the sex printed in the MRZ.".to_string(),
            ),
            ProblemKind::UnknownCountryCode => (
                ReasonCode::UnknownCountryCode,
                Decision::SecondCheck,
                format!("The {field} is not an ICAO country code."),
            ),
            ProblemKind::UnknownDate => (
                ReasonCode::DocumentNote,
                Decision::Clear,
                format!("The issuer printed fillers for all or part of the {field}."),
            ),
            ProblemKind::NonConformantSex => (
                ReasonCode::DocumentNote,
                Decision::Clear,
                "The sex cell is not M, F or <.".to_string(),
            ),
        };
        reasons.push(Reason::new(code, level, message).at(field, p.line, p.column));
    }
    for r in &doc.repairs {
        let field = r.field.as_str();
        reasons.push(
            Reason::new(
                ReasonCode::MrzRepaired,
                Decision::Clear,
                format!("One character of {field} was repaired as a check digit proved a misread."),
            )
            .at(field, r.line, r.column),
        );
    }
    if let Some(days) = doc.days_of_validity_left(today) {
        if days < 0 {
            let (line, column) = doc
                .check(Field::DateOfExpiry)
                .map_or((0, 0), |c| (c.line, c.column));
            reasons.push(
                Reason::new(
                    ReasonCode::DocumentExpired,
                    Decision::SecondCheck,
                    format!("The document expired {} day(s) ago.", -days),
                )
                .at(Field::DateOfExpiry.as_str(), line, column),
            );
        }
    }
}

/// Watchlist matches for this direction and today, as reasons and as matched entries: the
/// snapshot's, overlaid with the intraday deltas (a delta entry's position is past the
/// snapshot's entries, see [`DeltaSet::find_over`]). With neither, nothing is checked (the
/// missing snapshot is already a reason).
fn watchlist_checks(
    input: &ScreenInput<'_>,
    ctx: &Context<'_>,
    today: NaiveDate,
    reasons: &mut Vec<Reason>,
) -> Vec<MatchedEntry> {
    let snapshot: Option<&Snapshot> = ctx.snapshot;
    // Loaded once: positions from `find_over` are resolved against this same set.
    let overlay: Option<Arc<DeltaSet>> = ctx.overlay.map(|o| o.current()).filter(|d| !d.is_empty());
    if snapshot.is_none() && overlay.is_none() {
        return Vec::new();
    }
    let identity = input.document.identity();
    let query = Query::from(&identity);
    let direction = Some(input.direction);
    let found = match (&overlay, snapshot) {
        (Some(o), _) => o.find_over(snapshot, &query, direction, today),
        (None, Some(s)) => s.find(&query, direction, today),
        (None, None) => Vec::new(),
    };
    if found.is_empty() {
        return Vec::new();
    }
    let key = DocumentKey::of(input.document);
    let mut matched = Vec::with_capacity(found.len());
    for m in found {
        // Read without decoding the entry (a common name brings a dozen matches).
        let entry = match &overlay {
            Some(o) => o.view_at(snapshot, m.entry),
            None => snapshot.and_then(|s| s.view(m.entry as usize)),
        };
        // An index that points past the entries would be a bug in the snapshot; the match is
        // still reported, with a digest no clearance can carry.
        let entry_digest = entry.as_ref().map_or([0; 32], |e| e.content_digest);
        let action = entry.as_ref().map_or(m.level, |e| e.action);
        // The matcher caps weak matches; this re-asserts it through the matcher's own rule,
        // because an OFFLOAD on a weak match is the one mistake this engine must never make.
        let capped = !(m.strong && m.kind.is_strong());
        let level = level_for(m.level, !capped);
        let cleared_by_case = ctx.cleared.cleared_by(&key, &m.entry_id, &entry_digest);
        let code = if m.list == ListKind::Sltd {
            ReasonCode::DocumentListed
        } else {
            ReasonCode::WatchlistMatch
        };
        let mut message = if m.list == ListKind::Sltd {
            format!(
                "The document is on the lost/stolen documents list (entry {}); the list asks for {}.",
                m.entry_id,
                action.as_str()
            )
        } else {
            format!(
                "{} entry {} matched by {} (score {:.2}); the list asks for {}.",
                m.list.as_str(),
                m.entry_id,
                m.kind.as_str(),
                m.score,
                action.as_str()
            )
        };
        // Appended in place (a screening of a common name carries a dozen of these); writing
        // to a String cannot fail.
        if let Some(why) = entry
            .as_ref()
            .map(|e| e.reason.trim())
            .filter(|w| !w.is_empty())
        {
            let _ = write!(message, " Listed for: {why}.");
        }
        if capped && level < action {
            message.push_str(
                " Not a strong identity match: capped at SECOND_CHECK, an officer decides.",
            );
        }
        if let Some(case) = &cleared_by_case {
            let _ = write!(
                message,
                " Previously cleared for this document in case {case}: does not raise the decision."
            );
        }
        let mut reason = Reason::new(
            code,
            if cleared_by_case.is_some() {
                Decision::Clear
            } else {
                level
            },
            message,
        );
        reason.list = Some(m.list);
        reason.entry_id = Some(m.entry_id.clone());
        reason.match_kind = Some(m.kind);
        reason.score = m.score;
        reason.previously_cleared = cleared_by_case.is_some();
        reason.cleared_by_case = cleared_by_case.clone();
        reason.matched_tokens = m.matched_tokens;
        reasons.push(reason);
        matched.push(MatchedEntry {
            entry: m.entry,
            entry_id: m.entry_id,
            list: m.list,
            kind: m.kind,
            score: m.score,
            level,
            entry_digest,
            cleared_by_case,
        });
    }
    matched
}
