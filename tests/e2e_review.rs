//! End-to-end: the `Review` service over real gRPC — claim races, resolution, cleared-match
//! memory, and a `WatchCases` stream that a reconnecting client resumes from its cursor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use checkpost_proto::v1 as pb;
use common::{
    Passport, Snap, TestServer, codes, decision, khan, passport, request, run_cli, strings,
};
use pb::Direction::Departure;
use tokio_stream::StreamExt;
use tonic::Code;

/// A namesake of ECL-0002 (AYESHA BIBI): same name, another person's passport.
fn ayesha(number: &str) -> String {
    passport(&Passport {
        surname: "BIBI",
        given: "AYESHA",
        number,
        dob: None,
        sex: mrz::Sex::Female,
        ..Default::default()
    })
}

async fn flagged_case(server: &TestServer, mrz: String) -> String {
    let r = server.screen(request(mrz, Departure)).await.unwrap();
    assert!(!r.case_id.is_empty(), "{} {:?}", decision(&r), codes(&r));
    r.case_id
}

fn claim(case_id: &str, reviewer: &str) -> pb::ClaimCaseRequest {
    pb::ClaimCaseRequest {
        case_id: case_id.into(),
        reviewer_id: reviewer.into(),
    }
}

fn resolve(case_id: &str, reviewer: &str, outcome: pb::CaseOutcome) -> pb::ResolveCaseRequest {
    pb::ResolveCaseRequest {
        case_id: case_id.into(),
        reviewer_id: reviewer.into(),
        outcome: outcome.into(),
        notes: "checked the passport and the family record".into(),
        cleared_entry_ids: Vec::new(),
    }
}

#[tokio::test]
async fn of_many_concurrent_claims_exactly_one_wins_and_the_rest_name_the_holder() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let case_id = flagged_case(&server, khan()).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut client = server.review();
        let req = claim(&case_id, &format!("reviewer-{i}"));
        tasks.push(tokio::spawn(async move { client.claim_case(req).await }));
    }
    let mut winners = Vec::new();
    let mut refusals = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => winners.push(c.into_inner()),
            Err(s) => refusals.push(s),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    let holder = winners[0].claimed_by.clone();
    assert_eq!(winners[0].status, pb::CaseStatus::Claimed as i32);
    assert_eq!(refusals.len(), 23);
    for s in &refusals {
        assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
        assert!(s.message().contains(&holder), "{}", s.message());
    }
    server.stop().await;
}

#[tokio::test]
async fn a_case_is_resolved_by_its_holder_with_notes_and_never_twice() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let case_id = flagged_case(&server, khan()).await;
    let mut review = server.review();

    let got = review
        .get_case(pb::GetCaseRequest {
            case_id: case_id.clone(),
            include_images: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, pb::CaseStatus::Open as i32);
    assert_eq!(got.document.as_ref().unwrap().surname, "KHAN");
    assert!(got.matched_entries.iter().any(|e| e.entry_id == "ECL-0001"));
    assert!(got.reasons.iter().any(|r| r.entry_id == "ECL-0001"));

    let not_held = review
        .resolve_case(resolve(&case_id, "rev-a", pb::CaseOutcome::Offloaded))
        .await
        .unwrap_err();
    assert_eq!(not_held.code(), Code::FailedPrecondition, "{not_held:?}");

    review.claim_case(claim(&case_id, "rev-a")).await.unwrap();
    let mut no_notes = resolve(&case_id, "rev-a", pb::CaseOutcome::Offloaded);
    no_notes.notes = "  ".into();
    let err = review.resolve_case(no_notes).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("notes"), "{}", err.message());

    let done = review
        .resolve_case(resolve(&case_id, "rev-a", pb::CaseOutcome::Offloaded))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, pb::CaseStatus::Resolved as i32);
    let res = done.resolution.unwrap();
    assert_eq!(res.outcome, pb::CaseOutcome::Offloaded as i32);
    assert_eq!(res.resolved_by, "rev-a");

    let again = review
        .resolve_case(resolve(&case_id, "rev-a", pb::CaseOutcome::Detained))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    let listed = review
        .list_cases(pb::ListCasesRequest {
            post_id: "ISB-AIRPORT".into(),
            statuses: vec![pb::CaseStatus::Resolved.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 1);
    assert_eq!(listed.cases[0].case_id, case_id);

    let store = server.state.store.clone().unwrap();
    assert!(store.verify_chain().unwrap().is_intact());
    server.stop().await;
}

#[tokio::test]
async fn a_namesake_cleared_once_is_not_flagged_again_while_another_passport_with_that_name_is() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let mut review = server.review();
    let first = server
        .screen(request(ayesha("QX1000001"), Departure))
        .await
        .unwrap();
    assert!(
        first.reasons.iter().any(|r| r.entry_id == "ECL-0002"),
        "{:?}",
        codes(&first)
    );
    let case_id = first.case_id.clone();
    assert!(!case_id.is_empty(), "{}", decision(&first));

    review.claim_case(claim(&case_id, "rev-a")).await.unwrap();
    let mut clear = resolve(&case_id, "rev-a", pb::CaseOutcome::Cleared);
    clear.notes = "not the listed person: different father, different age".into();
    clear.cleared_entry_ids = vec!["ECL-0002".into()];
    review.resolve_case(clear).await.unwrap();

    let again = server
        .screen(request(ayesha("QX1000001"), Departure))
        .await
        .unwrap();
    let reason = again
        .reasons
        .iter()
        .find(|r| r.entry_id == "ECL-0002")
        .expect("the cleared match is still listed");
    assert!(reason.previously_cleared);
    assert_eq!(reason.cleared_by_case_id, case_id);
    // Not flagged for that match: it asks for nothing (other checks, e.g. SOP rules on an
    // unknown age, still stand on their own).
    assert_eq!(reason.level, pb::Decision::Clear as i32, "{reason:?}");

    let other = server
        .screen(request(ayesha("QX1000002"), Departure))
        .await
        .unwrap();
    let reason = other
        .reasons
        .iter()
        .find(|r| r.entry_id == "ECL-0002")
        .expect("another passport still matches");
    assert!(!reason.previously_cleared);
    assert!(
        reason.level >= pb::Decision::SecondCheck as i32,
        "{reason:?}"
    );
    assert!(!other.case_id.is_empty());
    let store = server.state.store.clone().unwrap();
    let other_case = store.get_case(&other.case_id).unwrap();
    assert!(
        other_case
            .details
            .matched
            .iter()
            .any(|m| m.entry_id == "ECL-0002")
    );
    if !again.case_id.is_empty() {
        let again_case = store.get_case(&again.case_id).unwrap();
        assert!(
            again_case
                .details
                .matched
                .iter()
                .all(|m| m.entry_id != "ECL-0002"),
            "a case opened for other reasons does not carry the cleared match"
        );
    }

    let suppressed = store
        .audit_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.record.kind == checkpost_store::AuditKind::MatchSuppressed)
        .count();
    assert_eq!(suppressed, 1, "the suppression is audited");
    assert!(store.verify_chain().unwrap().is_intact());
    server.stop().await;
}

/// ECL-0002 as HQ re-issues it during the day: the same person, with a new court reference and
/// an added alias, so its content digest changes.
fn changed_ecl_0002() -> Vec<u8> {
    let csv = std::fs::read_to_string(common::fixture("watchlists/sample.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains(",ECL-0002,"))
        .unwrap()
        .replace("LHC/WP/2025/4410", "LHC/WP/2026/7781")
        .replace("AYESHA BIBI,,", "AYESHA BIBI,AISHA BIBI,");
    let import = checkpost_watchlist::csv::import(
        &[("ecl.csv", format!("{header}\n{row}\n").as_bytes())],
        checkpost_watchlist::csv::ImportOptions { lenient: false },
    )
    .unwrap();
    let key_text = std::fs::read_to_string(common::fixture("keys/hq-test.key")).unwrap();
    let key = checkpost_watchlist::snapshot::read_signing_key(&key_text).unwrap();
    checkpost_watchlist::delta::build(
        &import.entries,
        &[],
        "ECL-0002-reissued",
        chrono::Utc::now(),
        None,
        &key,
    )
    .unwrap()
}

#[tokio::test]
async fn a_cleared_match_is_flagged_again_once_hq_changes_the_entry() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let mut review = server.review();
    let case_id = flagged_case(&server, ayesha("QX1000001")).await;
    review.claim_case(claim(&case_id, "rev-a")).await.unwrap();
    let mut clear = resolve(&case_id, "rev-a", pb::CaseOutcome::Cleared);
    clear.cleared_entry_ids = vec!["ECL-0002".into()];
    review.resolve_case(clear).await.unwrap();
    let before = server
        .screen(request(ayesha("QX1000001"), Departure))
        .await
        .unwrap();
    let reason = before
        .reasons
        .iter()
        .find(|r| r.entry_id == "ECL-0002")
        .unwrap();
    assert!(reason.previously_cleared, "{reason:?}");

    // HQ changes the entry (a delta over gRPC): the clearance was for the entry as it stood.
    let applied =
        checkpost_proto::v1::watchlists_client::WatchlistsClient::new(server.channel.clone())
            .apply_delta(pb::ApplyDeltaRequest {
                delta: changed_ecl_0002(),
            })
            .await
            .unwrap()
            .into_inner();
    assert_eq!(applied.added, 1);

    let after = server
        .screen(request(ayesha("QX1000001"), Departure))
        .await
        .unwrap();
    let reason = after
        .reasons
        .iter()
        .find(|r| r.entry_id == "ECL-0002")
        .expect("the changed entry still matches");
    assert!(!reason.previously_cleared, "{reason:?}");
    assert!(
        reason.level >= pb::Decision::SecondCheck as i32,
        "{reason:?}"
    );
    assert!(!after.case_id.is_empty(), "a new case is opened");
    let case = server
        .state
        .store
        .clone()
        .unwrap()
        .get_case(&after.case_id)
        .unwrap();
    assert!(
        case.details
            .matched
            .iter()
            .any(|m| m.entry_id == "ECL-0002"),
        "the case names the delta's entry: {:?}",
        case.details.matched
    );
    server.stop().await;
}

async fn next_event(stream: &mut tonic::Streaming<pb::CaseEvent>) -> pb::CaseEvent {
    // A guard against a hung test, not a timing assertion.
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("an event arrives")
        .expect("the stream is open")
        .expect("no error")
}

#[tokio::test]
async fn a_watch_resumed_from_its_cursor_misses_nothing_and_repeats_nothing() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let mut review = server.review();
    let mut cases = Vec::new();
    for _ in 0..3 {
        cases.push(flagged_case(&server, khan()).await);
    }
    let watch = |after| pb::WatchCasesRequest {
        post_id: "ISB-AIRPORT".into(),
        after_cursor: after,
    };

    let mut seen = Vec::new();
    let mut stream = review.watch_cases(watch(0)).await.unwrap().into_inner();
    for _ in 0..2 {
        seen.push(next_event(&mut stream).await);
    }
    drop(stream);

    // Changes while the client is away.
    review.claim_case(claim(&cases[0], "rev-a")).await.unwrap();
    cases.push(flagged_case(&server, khan()).await);

    let cursor = seen.last().unwrap().cursor;
    let mut stream = review
        .watch_cases(watch(cursor))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        seen.push(next_event(&mut stream).await);
    }
    // And one that happens while it is connected and caught up (the notifier path).
    review
        .release_case(pb::ReleaseCaseRequest {
            case_id: cases[0].clone(),
            reviewer_id: "rev-a".into(),
        })
        .await
        .unwrap();
    seen.push(next_event(&mut stream).await);

    let cursors: Vec<u64> = seen.iter().map(|e| e.cursor).collect();
    let store = server.state.store.clone().unwrap();
    let all: Vec<u64> = store
        .events_after(Some("ISB-AIRPORT"), 0, 100)
        .unwrap()
        .iter()
        .map(|e| e.cursor)
        .collect();
    assert_eq!(cursors, all, "every event once, in order");
    let kinds: Vec<i32> = seen.iter().map(|e| e.kind).collect();
    use pb::CaseEventKind::*;
    assert_eq!(
        kinds,
        [
            CaseCreated,
            CaseCreated,
            CaseCreated,
            CaseClaimed,
            CaseCreated,
            CaseReleased
        ]
        .map(i32::from)
        .to_vec()
    );
    assert_eq!(seen[3].case.as_ref().unwrap().case_id, cases[0]);
    drop(stream);
    server.stop().await;
}

async fn run_cases(server: &TestServer, args: &[&str]) -> (i32, String) {
    let mut all = strings(&["cases"]);
    all.extend(strings(args));
    all.extend(strings(&["--server", &format!("http://{}", server.addr)]));
    let (code, out, err) = run_cli(all, Vec::new(), None).await;
    (code, out + &err)
}

#[tokio::test]
async fn the_cases_cli_lists_shows_claims_and_resolves() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let case_id = flagged_case(&server, khan()).await;

    let (code, out) = run_cases(&server, &["list", "--status", "open"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&case_id) && out.contains("OFFLOAD"), "{out}");
    assert!(
        !out.contains("AB1234567"),
        "the list carries no document number: {out}"
    );

    let (code, out) = run_cases(&server, &["claim", &case_id, "--reviewer", "rev-a"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_cases(&server, &["claim", &case_id, "--reviewer", "rev-b"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("FailedPrecondition") && out.contains("rev-a"),
        "{out}"
    );

    let (code, out) = run_cases(&server, &["show", &case_id]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ECL-0001") && out.contains("KHAN"), "{out}");

    let (code, out) = run_cases(
        &server,
        &[
            "resolve",
            &case_id,
            "--reviewer",
            "rev-a",
            "--outcome",
            "offloaded",
            "--notes",
            "court order confirmed",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("resolved OFFLOADED by rev-a"), "{out}");
    server.stop().await;
}
