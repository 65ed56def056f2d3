//! The screening decision, behaviour by behaviour. Passengers are real machine-readable zones
//! (emitted with the `mrz` crate, parsed with `checkpost_document::parse`); watchlists are small
//! hand-written snapshots built with `Snapshot::from_entries`.

// Tests and benches may panic on their own fixtures (COMMON.md: unwrap is for input-dependent
// library paths only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use checkpost_document::{Cnic, ParseOptions, PartialDate, Sex, TravelDocument};
use std::sync::Arc;

use checkpost_engine::{
    ClearedMatches, Context, Decision, DeltaSource, Direction, DocumentKey, EntryId, Incomplete,
    ListKind, MatchKind, NoneCleared, Outcome, Reason, ReasonCode, Rules, ScreenInput, StalePolicy,
    TravelDetails, screen,
};
use checkpost_watchlist::delta::{self, Delta, DeltaSet};
use checkpost_watchlist::snapshot::SigningKey;
use checkpost_watchlist::{Entry, Snapshot, SnapshotHeader};
use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};

// ---------------------------------------------------------------------------------------------
// Passengers

#[derive(Clone)]
struct Passenger {
    surname: &'static str,
    given: &'static str,
    number: &'static str,
    state: &'static str,
    dob: (i32, u32, u32),
    sex: mrz::Sex,
    expiry: (i32, u32, u32),
    personal: Option<&'static str>,
}

/// A Pakistani man, born 1985, passport valid until 2030, no CNIC in the zone.
fn asif() -> Passenger {
    Passenger {
        surname: "KHAN",
        given: "MUHAMMAD ASIF",
        number: "AB1234567",
        state: "PAK",
        dob: (1985, 3, 14),
        sex: mrz::Sex::Male,
        expiry: (2030, 5, 1),
        personal: None,
    }
}

fn zone(p: &Passenger) -> String {
    let date = |(y, m, d): (i32, u32, u32)| mrz::MrzDate::Calendar(mrz::Date::new(y, m, d));
    mrz::format_td3(&mrz::Td3Fields {
        document_code: "P".into(),
        issuing_country: p.state.into(),
        document_number: p.number.into(),
        surname: p.surname.into(),
        given_names: p.given.into(),
        nationality: p.state.into(),
        date_of_birth: date(p.dob),
        sex: p.sex,
        date_of_expiry: date(p.expiry),
        personal_number: p.personal.map(Into::into),
    })
}

fn parse(text: &str) -> TravelDocument {
    checkpost_document::parse(text, ParseOptions::default()).unwrap()
}

fn doc(p: &Passenger) -> TravelDocument {
    parse(&zone(p))
}

// ---------------------------------------------------------------------------------------------
// Watchlists

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn entry(list: ListKind, id: &str, name: &str) -> Entry {
    Entry {
        list,
        entry_id: EntryId(id.to_string()),
        full_name: name.to_string(),
        aliases: Vec::new(),
        father_name: None,
        dob: None,
        sex: Sex::Unspecified,
        nationality: Some("PAK".to_string()),
        document_numbers: Vec::new(),
        national_id: None,
        action: Decision::Offload,
        directions: list.default_directions().to_vec(),
        reason: "Court order".to_string(),
        reference: "REF-1".to_string(),
        valid_from: None,
        valid_until: None,
    }
}

fn snapshot_at(entries: Vec<Entry>, created_at: DateTime<Utc>) -> Snapshot {
    let header = SnapshotHeader::for_entries(&entries, "test", created_at).unwrap();
    Snapshot::from_entries(header, entries)
}

/// A snapshot built two hours before [`now`].
fn snapshot(entries: Vec<Entry>) -> Snapshot {
    snapshot_at(entries, now() - Duration::hours(2))
}

/// An unrelated entry so that a snapshot is never empty.
fn bystander() -> Entry {
    let mut e = entry(ListKind::Blacklist, "BL-999", "ZARGHUNA BIBI QAZILBASH");
    e.dob = PartialDate::parse("1950-01-01").ok();
    e
}

// ---------------------------------------------------------------------------------------------
// Screening

struct Post {
    snapshot: Option<Snapshot>,
    rules: Rules,
    stale_policy: StalePolicy,
    now: DateTime<Utc>,
    local_offset: FixedOffset,
    overlay: Option<Arc<DeltaSet>>,
}

impl Post {
    fn with(entries: Vec<Entry>) -> Self {
        Self {
            snapshot: Some(snapshot(entries)),
            rules: Rules::empty(),
            stale_policy: StalePolicy::default(),
            now: now(),
            local_offset: FixedOffset::east_opt(0).unwrap(),
            overlay: None,
        }
    }

    /// The post with these intraday deltas applied, in order (signed, then verified and loaded
    /// as a post would).
    fn with_deltas(mut self, deltas: &[(&[Entry], &[&str])]) -> Self {
        let key = SigningKey::from_bytes(&[7; 32]);
        let loaded = deltas
            .iter()
            .enumerate()
            .map(|(i, (adds, removes))| {
                let removes: Vec<EntryId> =
                    removes.iter().map(|r| EntryId(r.to_string())).collect();
                let bytes =
                    delta::build(adds, &removes, &format!("d{i}"), now(), None, &key).unwrap();
                Delta::load(&bytes, &[key.verifying_key()]).unwrap()
            })
            .collect();
        self.overlay = Some(Arc::new(DeltaSet::new(loaded)));
        self
    }

    fn with_sop_rules(mut self) -> Self {
        self.rules = sop_rules();
        self
    }

    fn screen_with(
        &self,
        direction: Direction,
        document: &TravelDocument,
        travel: &TravelDetails,
        cleared: &dyn ClearedMatches,
    ) -> Outcome {
        let input = ScreenInput {
            direction,
            document,
            travel,
            external: Vec::new(),
            incomplete: Vec::new(),
        };
        screen(&input, &self.context(cleared))
    }

    fn context<'a>(&'a self, cleared: &'a dyn ClearedMatches) -> Context<'a> {
        Context {
            snapshot: self.snapshot.as_ref(),
            rules: &self.rules,
            now: self.now,
            local_offset: self.local_offset,
            stale_after: Duration::hours(36),
            stale_policy: self.stale_policy,
            cleared,
            overlay: self.overlay.as_ref().map(|o| o as &dyn DeltaSource),
        }
    }

    fn screen(&self, direction: Direction, p: &Passenger) -> Outcome {
        self.screen_with(direction, &doc(p), &TravelDetails::default(), &NoneCleared)
    }

    fn screen_travel(&self, direction: Direction, p: &Passenger, t: &TravelDetails) -> Outcome {
        self.screen_with(direction, &doc(p), t, &NoneCleared)
    }
}

fn sop_rules() -> Rules {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/rules/sop.toml");
    let text = std::fs::read_to_string(path).unwrap();
    Rules::from_toml(&text, "fixtures/rules/sop.toml").unwrap()
}

fn codes(o: &Outcome) -> Vec<&'static str> {
    o.reasons.iter().map(|r| r.code.as_str()).collect()
}

fn only(o: &Outcome, code: ReasonCode) -> &Reason {
    let found: Vec<_> = o.reasons.iter().filter(|r| r.code == code).collect();
    assert_eq!(found.len(), 1, "expected one {code}: {:#?}", o.reasons);
    found[0]
}

// ---------------------------------------------------------------------------------------------
// Tests: the clear case and the watchlists

#[test]
fn unlisted_passenger_with_a_valid_document_is_clear_with_no_reasons() {
    let post = Post::with(vec![bystander()]);
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Clear, "{:#?}", o.reasons);
    assert!(o.reasons.is_empty());
    assert!(!o.protection_referral);
    assert!(o.matches.is_empty());
}

#[test]
fn document_match_takes_the_entry_action() {
    let mut e = entry(ListKind::Blacklist, "BL-1", "SOMEONE ELSE ENTIRELY");
    e.document_numbers = vec!["AB1234567".into()];
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Offload);
    let r = only(&o, ReasonCode::WatchlistMatch);
    assert_eq!(r.list, Some(ListKind::Blacklist));
    assert_eq!(r.entry_id, Some(EntryId("BL-1".into())));
    assert_eq!(r.match_kind, Some(MatchKind::Document));
    assert_eq!(r.level, Decision::Offload);
    assert_eq!(o.matches.len(), 1);
    assert_eq!(
        o.matches[0].entry_digest,
        post.snapshot
            .as_ref()
            .unwrap()
            .entry(0)
            .unwrap()
            .content_digest()
    );
}

#[test]
fn national_id_match_on_a_blocked_cnic_takes_the_entry_action() {
    let mut p = asif();
    p.personal = Some("3520212345671");
    let mut e = entry(ListKind::CnicBlock, "CB-1", "");
    e.national_id = Cnic::parse("35202-1234567-1").ok();
    e.action = Decision::Detain;
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen(Direction::Arrival, &p);
    assert_eq!(o.decision, Decision::Detain, "{:#?}", o.reasons);
    let r = only(&o, ReasonCode::WatchlistMatch);
    assert_eq!(r.match_kind, Some(MatchKind::NationalId));
    assert_eq!(r.list, Some(ListKind::CnicBlock));
}

#[test]
fn ecl_hit_applies_on_departure() {
    let mut e = entry(ListKind::Ecl, "ECL-1", "MUHAMMAD ASIF KHAN");
    e.document_numbers = vec!["AB1234567".into()];
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Offload);
    assert_eq!(
        only(&o, ReasonCode::WatchlistMatch).list,
        Some(ListKind::Ecl)
    );
}

#[test]
fn ecl_hit_is_ignored_on_arrival() {
    let mut e = entry(ListKind::Ecl, "ECL-1", "MUHAMMAD ASIF KHAN");
    e.document_numbers = vec!["AB1234567".into()];
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen(Direction::Arrival, &asif());
    assert_eq!(o.decision, Decision::Clear, "{:#?}", o.reasons);
    assert!(o.matches.is_empty());
}

#[test]
fn name_only_match_is_capped_at_second_check() {
    // Same name, no date of birth on the entry, no document: a human decides.
    let mut e = entry(ListKind::Blacklist, "BL-7", "MUHAMMAD ASIF KHAN");
    e.action = Decision::Detain;
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::SecondCheck, "{:#?}", o.reasons);
    let r = only(&o, ReasonCode::WatchlistMatch);
    assert_eq!(r.match_kind, Some(MatchKind::NameOnly));
    assert_eq!(r.level, Decision::SecondCheck);
    assert!(
        r.message.contains("capped at SECOND_CHECK"),
        "{}",
        r.message
    );
    assert!(!r.matched_tokens.is_empty());
}

#[test]
fn name_corroborated_by_date_of_birth_takes_the_entry_action() {
    let mut e = entry(ListKind::Po, "PO-3", "MUHAMMAD ASIF KHAN");
    e.dob = PartialDate::parse("1985-03-14").ok();
    e.sex = Sex::Male;
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Offload, "{:#?}", o.reasons);
    assert_eq!(
        only(&o, ReasonCode::WatchlistMatch).match_kind,
        Some(MatchKind::NameDob)
    );
}

#[test]
fn lost_or_stolen_document_is_document_listed() {
    let mut e = entry(ListKind::Sltd, "SLTD-1", "");
    e.document_numbers = vec!["AB1234567".into()];
    e.action = Decision::SecondCheck;
    e.reason = "Reported stolen".into();
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen(Direction::Arrival, &asif());
    assert_eq!(o.decision, Decision::SecondCheck);
    let r = only(&o, ReasonCode::DocumentListed);
    assert_eq!(r.list, Some(ListKind::Sltd));
    assert!(r.message.contains("Reported stolen"), "{}", r.message);
}

/// Remembers one clearance.
struct ClearedOnce {
    key: DocumentKey,
    entry: EntryId,
    digest: [u8; 32],
}

impl ClearedMatches for ClearedOnce {
    fn cleared_by(&self, d: &DocumentKey, e: &EntryId, digest: &[u8; 32]) -> Option<String> {
        (d == &self.key && e == &self.entry && digest == &self.digest).then(|| "CASE-42".into())
    }
}

fn listed_by_name() -> Entry {
    let mut e = entry(ListKind::Blacklist, "BL-7", "MUHAMMAD ASIF KHAN");
    e.action = Decision::Detain;
    e
}

#[test]
fn previously_cleared_match_is_listed_but_does_not_raise_the_decision() {
    let e = listed_by_name();
    let cleared = ClearedOnce {
        key: DocumentKey::new("PAK", "AB1234567"),
        entry: e.entry_id.clone(),
        digest: e.content_digest(),
    };
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen_with(
        Direction::Departure,
        &doc(&asif()),
        &TravelDetails::default(),
        &cleared,
    );
    assert_eq!(o.decision, Decision::Clear, "{:#?}", o.reasons);
    let r = only(&o, ReasonCode::WatchlistMatch);
    assert!(r.previously_cleared);
    assert_eq!(r.cleared_by_case.as_deref(), Some("CASE-42"));
    assert_eq!(r.level, Decision::Clear);
    assert_eq!(o.matches[0].cleared_by_case.as_deref(), Some("CASE-42"));
    assert_eq!(o.matches[0].level, Decision::SecondCheck);
}

#[test]
fn clearance_of_an_older_version_of_the_entry_does_not_apply() {
    let before = listed_by_name();
    let mut after = before.clone();
    after.reason = "Court order (renewed)".into();
    let cleared = ClearedOnce {
        key: DocumentKey::new("PAK", "AB1234567"),
        entry: before.entry_id.clone(),
        digest: before.content_digest(),
    };
    let post = Post::with(vec![after, bystander()]);
    let o = post.screen_with(
        Direction::Departure,
        &doc(&asif()),
        &TravelDetails::default(),
        &cleared,
    );
    assert_eq!(o.decision, Decision::SecondCheck);
    assert!(!only(&o, ReasonCode::WatchlistMatch).previously_cleared);
}

#[test]
fn clearance_for_another_document_does_not_apply() {
    let e = listed_by_name();
    let cleared = ClearedOnce {
        key: DocumentKey::new("PAK", "ZZ7654321"),
        entry: e.entry_id.clone(),
        digest: e.content_digest(),
    };
    let post = Post::with(vec![e, bystander()]);
    let o = post.screen_with(
        Direction::Departure,
        &doc(&asif()),
        &TravelDetails::default(),
        &cleared,
    );
    assert_eq!(o.decision, Decision::SecondCheck);
}

// ---------------------------------------------------------------------------------------------
// Tests: fail closed

#[test]
fn no_snapshot_is_never_clear() {
    let mut post = Post::with(vec![]);
    post.snapshot = None;
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::SecondCheck);
    assert_eq!(codes(&o), ["NO_SNAPSHOT"]);
}

#[test]
fn stale_snapshot_escalates_by_default() {
    let mut post = Post::with(vec![]);
    post.snapshot = Some(snapshot_at(vec![bystander()], now() - Duration::hours(37)));
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::SecondCheck);
    let r = only(&o, ReasonCode::SnapshotStale);
    assert!(r.message.contains("37 hours"), "{}", r.message);
}

#[test]
fn stale_snapshot_is_only_annotated_under_the_annotate_policy() {
    let mut post = Post::with(vec![]);
    post.snapshot = Some(snapshot_at(vec![bystander()], now() - Duration::hours(37)));
    post.stale_policy = StalePolicy::Annotate;
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Clear);
    assert_eq!(only(&o, ReasonCode::SnapshotStale).level, Decision::Clear);
}

#[test]
fn snapshot_within_the_limit_is_not_stale() {
    let mut post = Post::with(vec![]);
    post.snapshot = Some(snapshot_at(vec![bystander()], now() - Duration::hours(35)));
    assert_eq!(
        post.screen(Direction::Departure, &asif()).decision,
        Decision::Clear
    );
}

#[test]
fn a_check_that_did_not_run_is_never_clear() {
    let post = Post::with(vec![bystander()]);
    let d = doc(&asif());
    let travel = TravelDetails::default();
    let input = ScreenInput {
        direction: Direction::Departure,
        document: &d,
        travel: &travel,
        external: Vec::new(),
        incomplete: vec![Incomplete {
            check: "scan".into(),
            why: "the deadline ran out while decoding the visa page.".into(),
        }],
    };
    let o = screen(&input, &post.context(&NoneCleared));
    assert_eq!(o.decision, Decision::SecondCheck);
    let r = only(&o, ReasonCode::CheckIncomplete);
    assert!(r.message.contains("scan"), "{}", r.message);
}

#[test]
fn external_reasons_count_towards_the_decision() {
    let post = Post::with(vec![bystander()]);
    let d = doc(&asif());
    let travel = TravelDetails::default();
    let input = ScreenInput {
        direction: Direction::Departure,
        document: &d,
        travel: &travel,
        external: vec![Reason::new(
            ReasonCode::External("SEAL_BAD_SIGNATURE"),
            Decision::SecondCheck,
            "The visa seal's signature does not verify.",
        )],
        incomplete: Vec::new(),
    };
    let o = screen(&input, &post.context(&NoneCleared));
    assert_eq!(o.decision, Decision::SecondCheck);
    assert_eq!(codes(&o), ["SEAL_BAD_SIGNATURE"]);
}

// ---------------------------------------------------------------------------------------------
// Tests: the document

#[test]
fn each_failed_check_digit_is_a_reason_with_its_field_and_position() {
    let text = zone(&asif());
    // Line 2, column 10 is the document number's check digit.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut line2: Vec<char> = lines[1].chars().collect();
    line2[9] = if line2[9] == '0' { '1' } else { '0' };
    lines[1] = line2.into_iter().collect();
    let d = parse(&lines.join("\n"));
    let post = Post::with(vec![bystander()]);
    let o = post.screen_with(
        Direction::Departure,
        &d,
        &TravelDetails::default(),
        &NoneCleared,
    );
    assert_eq!(o.decision, Decision::SecondCheck);
    let failed: Vec<_> = o
        .reasons
        .iter()
        .filter(|r| r.code == ReasonCode::CheckDigitFailed)
        .collect();
    let number = failed
        .iter()
        .find(|r| r.field == Some("document_number"))
        .expect("a reason for the document number");
    assert_eq!((number.line, number.column), (2, 10));
    assert_eq!(number.level, Decision::SecondCheck);
    // The composite covers the document number too: it fails as well, as its own reason.
    assert!(
        failed.iter().any(|r| r.field == Some("composite")),
        "{failed:#?}"
    );
    assert!(!number.message.contains("AB1234567"), "no PII in messages");
}

#[test]
fn expired_document_is_second_check() {
    let mut p = asif();
    p.expiry = (2026, 11, 22);
    let post = Post::with(vec![bystander()]);
    let o = post.screen(Direction::Arrival, &p);
    assert_eq!(o.decision, Decision::SecondCheck);
    let r = only(&o, ReasonCode::DocumentExpired);
    assert_eq!(r.field, Some("date_of_expiry"));
    assert_eq!(r.line, 2);
    assert!(r.message.contains("1 day"), "{}", r.message);
}

#[test]
fn a_document_is_valid_through_its_expiry_day() {
    let mut p = asif();
    p.expiry = (2026, 11, 23);
    let post = Post::with(vec![bystander()]);
    assert_eq!(
        post.screen(Direction::Arrival, &p).decision,
        Decision::Clear
    );
}

#[test]
fn today_is_the_date_at_the_post_not_in_utc() {
    // 21:00 UTC on the 23rd is 02:00 on the 24th in Pakistan (UTC+5): a passport that expires on
    // the 23rd has expired there, though it is still the 23rd in UTC.
    let mut p = asif();
    p.expiry = (2026, 11, 23);
    let mut post = Post::with(vec![bystander()]);
    post.now = Utc.with_ymd_and_hms(2026, 11, 23, 21, 0, 0).unwrap();
    assert_eq!(
        post.screen(Direction::Arrival, &p).decision,
        Decision::Clear,
        "a post on UTC still sees the 23rd"
    );
    post.local_offset = FixedOffset::east_opt(5 * 3600).unwrap();
    let o = post.screen(Direction::Arrival, &p);
    assert_eq!(o.decision, Decision::SecondCheck);
    only(&o, ReasonCode::DocumentExpired);
}

#[test]
fn cnic_sex_mismatch_is_second_check() {
    let mut p = asif();
    p.personal = Some("3520212345678"); // even last digit: a woman's CNIC, on a man's passport
    let post = Post::with(vec![bystander()]);
    let o = post.screen(Direction::Departure, &p);
    assert_eq!(o.decision, Decision::SecondCheck, "{:#?}", o.reasons);
    only(&o, ReasonCode::CnicSexMismatch);
}

// ---------------------------------------------------------------------------------------------
// Tests: SOP rules (fixtures/rules/sop.toml)

fn minor() -> Passenger {
    Passenger {
        surname: "BIBI",
        given: "AYESHA",
        number: "CD7654321",
        state: "PAK",
        dob: (2012, 6, 1),
        sex: mrz::Sex::Female,
        expiry: (2030, 1, 1),
        personal: None,
    }
}

#[test]
fn protection_referral_is_a_flag_not_an_offload() {
    let post = Post::with(vec![bystander()]).with_sop_rules();
    let o = post.screen(Direction::Departure, &minor());
    assert!(o.protection_referral);
    assert_eq!(o.decision, Decision::SecondCheck, "{:#?}", o.reasons);
    let r = only(&o, ReasonCode::Rule);
    assert_eq!(r.rule_id.as_deref(), Some("MINOR-WITHOUT-GUARDIAN"));
    assert_eq!(r.entry_or_rule_id(), Some("MINOR-WITHOUT-GUARDIAN"));
    assert!(r.protection_referral);
    assert!(o.reasons.iter().all(|r| r.level < Decision::Offload));
}

#[test]
fn minor_with_a_guardian_is_not_referred() {
    let post = Post::with(vec![bystander()]).with_sop_rules();
    let travel = TravelDetails {
        guardian_present: true,
        guardian_relation: Some("MOTHER".into()),
        ..TravelDetails::default()
    };
    let o = post.screen_travel(Direction::Departure, &minor(), &travel);
    assert_eq!(o.decision, Decision::Clear, "{:#?}", o.reasons);
    assert!(!o.protection_referral);
}

#[test]
fn minor_arriving_alone_is_referred_without_raising_the_decision() {
    let post = Post::with(vec![bystander()]).with_sop_rules();
    let o = post.screen(Direction::Arrival, &minor());
    assert!(o.protection_referral);
    assert_eq!(o.decision, Decision::Clear);
    let r = only(&o, ReasonCode::ProtectionReferral);
    assert_eq!(r.rule_id.as_deref(), Some("MINOR-ARRIVING-ALONE"));
}

#[test]
fn work_visa_without_protector_stamp_is_second_check() {
    let post = Post::with(vec![bystander()]).with_sop_rules();
    let mut travel = TravelDetails {
        destination: Some("QAT".into()),
        visa_type: Some("work".into()),
        purpose: Some("EMPLOYMENT".into()),
        ..TravelDetails::default()
    };
    let o = post.screen_travel(Direction::Departure, &asif(), &travel);
    assert_eq!(o.decision, Decision::SecondCheck);
    assert_eq!(
        only(&o, ReasonCode::Rule).rule_id.as_deref(),
        Some("WORK-VISA-WITHOUT-PROTECTOR")
    );
    travel.protector_stamp = true;
    let o = post.screen_travel(Direction::Departure, &asif(), &travel);
    assert_eq!(o.decision, Decision::Clear, "{:#?}", o.reasons);
}

#[test]
fn validity_under_six_months_is_second_check_for_a_destination_that_requires_it() {
    let mut p = asif();
    p.expiry = (2027, 3, 1); // 98 days left
    let post = Post::with(vec![bystander()]).with_sop_rules();
    let to = |dest: &str| TravelDetails {
        destination: Some(dest.into()),
        ..TravelDetails::default()
    };
    let o = post.screen_travel(Direction::Departure, &p, &to("SAU"));
    assert_eq!(o.decision, Decision::SecondCheck);
    assert_eq!(
        only(&o, ReasonCode::ValidityTooShort).rule_id.as_deref(),
        Some("VALIDITY-UNDER-SIX-MONTHS")
    );
    // A destination without the requirement, and any arrival, are not affected.
    assert_eq!(
        post.screen_travel(Direction::Departure, &p, &to("GBR"))
            .decision,
        Decision::Clear
    );
    assert_eq!(
        post.screen_travel(Direction::Arrival, &p, &to("SAU"))
            .decision,
        Decision::Clear
    );
}

#[test]
fn young_woman_alone_on_a_visit_visa_to_an_advisory_destination_is_referred() {
    let p = Passenger {
        surname: "NAZ",
        given: "SAIMA",
        number: "EF1112223",
        state: "PAK",
        dob: (2004, 2, 2),
        sex: mrz::Sex::Female,
        expiry: (2031, 1, 1),
        personal: None,
    };
    let travel = TravelDetails {
        destination: Some("ARE".into()),
        visa_type: Some("VISIT".into()),
        purpose: Some("TOURISM".into()),
        travelling_alone: true,
        ..TravelDetails::default()
    };
    let post = Post::with(vec![bystander()]).with_sop_rules();
    let o = post.screen_travel(Direction::Departure, &p, &travel);
    assert!(o.protection_referral);
    assert_eq!(o.decision, Decision::SecondCheck);
    assert_eq!(
        only(&o, ReasonCode::Rule).rule_id.as_deref(),
        Some("YOUNG-WOMAN-ALONE-VISIT-VISA")
    );
    // The same trip by a man does not fire it.
    let mut man = p.clone();
    man.sex = mrz::Sex::Male;
    assert!(
        !post
            .screen_travel(Direction::Departure, &man, &travel)
            .protection_referral
    );
}

#[test]
fn a_rule_about_destinations_does_not_fire_when_the_destination_is_unknown() {
    let mut p = asif();
    p.expiry = (2027, 3, 1);
    let post = Post::with(vec![bystander()]).with_sop_rules();
    assert_eq!(
        post.screen(Direction::Departure, &p).decision,
        Decision::Clear
    );
}

// ---------------------------------------------------------------------------------------------
// Tests: the answer's shape

#[test]
fn reasons_are_listed_most_severe_first_and_the_decision_is_the_highest() {
    let mut e = entry(ListKind::Blacklist, "BL-1", "SOMEONE ELSE ENTIRELY");
    e.document_numbers = vec!["AB1234567".into()];
    let mut post = Post::with(vec![]).with_sop_rules();
    post.snapshot = Some(snapshot_at(
        vec![e, bystander()],
        now() - Duration::hours(48),
    ));
    let mut p = asif();
    p.expiry = (2027, 3, 1);
    let travel = TravelDetails {
        destination: Some("ARE".into()),
        ..TravelDetails::default()
    };
    let o = post.screen_travel(Direction::Departure, &p, &travel);
    assert_eq!(o.decision, Decision::Offload);
    assert_eq!(
        codes(&o),
        ["WATCHLIST_MATCH", "SNAPSHOT_STALE", "VALIDITY_TOO_SHORT"]
    );
    assert!(o.reasons.windows(2).all(|w| w[0].level >= w[1].level));
}

#[test]
fn a_weak_match_never_offloads_even_with_other_second_check_reasons() {
    let post = Post::with(vec![listed_by_name(), bystander()]).with_sop_rules();
    let mut p = asif();
    p.expiry = (2026, 1, 1);
    let o = post.screen(Direction::Departure, &p);
    assert_eq!(o.decision, Decision::SecondCheck);
    assert_eq!(codes(&o), ["DOCUMENT_EXPIRED", "WATCHLIST_MATCH"]);
}

#[test]
fn no_name_only_match_raises_beyond_second_check_on_a_synthetic_list() {
    // Passengers carry a listed person's name, an unlisted document number and no date of
    // birth: every match can only be on the name, so nothing may go beyond SECOND_CHECK.
    let entries = checkpost_watchlist::synth::generate(3_000, 7);
    let people: Vec<Entry> = entries
        .iter()
        .filter(|e| e.full_name.split(' ').count() >= 2)
        .take(200)
        .cloned()
        .collect();
    let post = Post::with(entries);
    let mut matched = 0;
    for (i, e) in people.iter().enumerate() {
        let (given, surname) = e.full_name.rsplit_once(' ').unwrap();
        let text = mrz::format_td3(&mrz::Td3Fields {
            document_code: "P".into(),
            issuing_country: "PAK".into(),
            document_number: format!("QQ{i:07}"),
            surname: surname.into(),
            given_names: given.into(),
            nationality: "PAK".into(),
            date_of_birth: mrz::MrzDate::Unknown,
            sex: mrz::Sex::Unspecified,
            date_of_expiry: mrz::MrzDate::Calendar(mrz::Date::new(2030, 1, 1)),
            personal_number: None,
        });
        let d = parse(&text);
        assert_eq!(d.date_of_birth, None);
        let o = post.screen_with(
            Direction::Departure,
            &d,
            &TravelDetails::default(),
            &NoneCleared,
        );
        matched += usize::from(!o.matches.is_empty());
        for r in o.reasons.iter().filter(|r| r.match_kind.is_some()) {
            assert_eq!(r.match_kind, Some(MatchKind::NameOnly), "{r:#?}");
        }
        assert!(o.decision <= Decision::SecondCheck, "{:#?}", o.reasons);
    }
    assert!(
        matched >= 150,
        "only {matched} of {} listed names matched",
        people.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Tests: intraday deltas over the snapshot

fn ecl_asif() -> Entry {
    let mut e = entry(ListKind::Ecl, "ECL-77", "MUHAMMAD ASIF KHAN");
    e.document_numbers = vec!["AB1234567".into()];
    e.reference = "IHC/WP/2026/901".into();
    e
}

#[test]
fn an_ecl_entry_added_by_a_delta_flags_the_next_departure() {
    let post = Post::with(vec![bystander()]);
    assert_eq!(
        post.screen(Direction::Departure, &asif()).decision,
        Decision::Clear
    );

    let post = post.with_deltas(&[(&[ecl_asif()], &[])]);
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Offload, "{:#?}", o.reasons);
    let r = only(&o, ReasonCode::WatchlistMatch);
    assert_eq!(r.entry_id, Some(EntryId("ECL-77".into())));
    assert_eq!(r.list, Some(ListKind::Ecl));
    assert_eq!(o.matches.len(), 1);
    assert_eq!(o.matches[0].entry_digest, ecl_asif().content_digest());
    // A delta entry's position lies past the snapshot's entries: a caller holding only the
    // snapshot finds nothing there rather than the wrong person.
    assert_eq!(o.matches[0].entry, 1);
    // The ECL still applies to departures only.
    assert_eq!(
        post.screen(Direction::Arrival, &asif()).decision,
        Decision::Clear
    );
}

#[test]
fn a_delta_entry_is_matched_even_without_a_snapshot_and_the_decision_stays_fail_closed() {
    let mut post = Post::with(vec![bystander()]).with_deltas(&[(&[ecl_asif()], &[])]);
    post.snapshot = None;
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Offload);
    assert!(codes(&o).contains(&"NO_SNAPSHOT"), "{:?}", codes(&o));
    assert_eq!(o.matches.len(), 1);
}

#[test]
fn a_removal_by_delta_unflags_the_snapshot_entry() {
    let post = Post::with(vec![ecl_asif(), bystander()]);
    assert_eq!(
        post.screen(Direction::Departure, &asif()).decision,
        Decision::Offload
    );

    let post = post.with_deltas(&[(&[], &["ECL-77"])]);
    let o = post.screen(Direction::Departure, &asif());
    assert_eq!(o.decision, Decision::Clear, "{:#?}", o.reasons);
    assert!(o.matches.is_empty());
}

#[test]
fn a_replaced_entry_is_matched_with_its_new_content_only() {
    // The snapshot lists the document; the court's new order lists a different one and asks
    // only for a second check.
    let post = Post::with(vec![ecl_asif(), bystander()]);
    let mut changed = ecl_asif();
    changed.document_numbers = vec!["ZZ9999999".into()];
    changed.action = Decision::SecondCheck;
    let post = post.with_deltas(&[(&[changed.clone()], &[])]);

    let o = post.screen(Direction::Departure, &asif());
    assert!(
        o.matches
            .iter()
            .all(|m| m.entry_digest == changed.content_digest()),
        "the old content still matched: {:#?}",
        o.matches
    );
    assert!(o.decision < Decision::Offload, "{:#?}", o.reasons);

    let mut holder = asif();
    holder.number = "ZZ9999999";
    let o = post.screen(Direction::Departure, &holder);
    assert_eq!(o.decision, Decision::SecondCheck, "{:#?}", o.reasons);
    assert_eq!(o.matches[0].entry_digest, changed.content_digest());
}

#[test]
fn a_later_delta_wins_over_an_earlier_one_for_the_same_entry() {
    let post =
        Post::with(vec![bystander()]).with_deltas(&[(&[ecl_asif()], &[]), (&[], &["ECL-77"])]);
    assert_eq!(
        post.screen(Direction::Departure, &asif()).decision,
        Decision::Clear
    );

    let post =
        Post::with(vec![bystander()]).with_deltas(&[(&[], &["ECL-77"]), (&[ecl_asif()], &[])]);
    assert_eq!(
        post.screen(Direction::Departure, &asif()).decision,
        Decision::Offload
    );
}
