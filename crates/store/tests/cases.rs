//! Case life: claim races, release, resolve, listing and paging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Barrier};

use checkpost_store::{
    CaseFilter, CaseOutcome, CaseStatus, Resolve, SqliteStore, Store, StoreError,
};
use common::{at, flagged};

fn store_with_case() -> (tempfile::TempDir, SqliteStore, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let receipt = store
        .record_screening(flagged(1, "ISB", "doc-a", "digest-1"))
        .wait()
        .expect("stored");
    let case_id = receipt.case_id.expect("a flagged screening opens a case");
    (dir, store, case_id)
}

#[test]
fn of_many_concurrent_claims_exactly_one_wins_and_the_rest_name_the_holder() {
    let (_dir, store, case_id) = store_with_case();
    let store = Arc::new(store);
    let n = 16;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (store, barrier, case_id) = (store.clone(), barrier.clone(), case_id.clone());
            std::thread::spawn(move || {
                let reviewer = format!("reviewer-{i}");
                barrier.wait();
                (
                    reviewer.clone(),
                    store.claim_case(&case_id, &reviewer, at(60)).wait(),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    let winner = &winners[0].0;
    for (reviewer, result) in &results {
        match result {
            Ok(case) => assert_eq!(case.claimed_by.as_deref(), Some(reviewer.as_str())),
            Err(StoreError::HeldBy { holder, .. }) => assert_eq!(holder, winner),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    let case = store.get_case(&case_id).expect("case");
    assert_eq!(case.status, CaseStatus::Claimed);
    assert_eq!(case.claimed_by.as_deref(), Some(winner.as_str()));
    // One claim, one transition record: the screening's plus the winner's.
    assert_eq!(store.audit_after(0, 100).expect("audit").len(), 2);
    assert!(store.verify_chain().expect("verify").is_intact());
}

#[test]
fn claiming_a_case_you_hold_again_succeeds_without_a_change() {
    let (_dir, store, case_id) = store_with_case();
    let first = store
        .claim_case(&case_id, "r1", at(10))
        .wait()
        .expect("claim");
    let again = store
        .claim_case(&case_id, "r1", at(20))
        .wait()
        .expect("re-claim");
    assert_eq!(first, again);
}

#[test]
fn release_needs_the_holder_and_returns_the_case_to_the_queue() {
    let (_dir, store, case_id) = store_with_case();
    store
        .claim_case(&case_id, "r1", at(10))
        .wait()
        .expect("claim");
    let err = store
        .release_case(&case_id, "r2", at(11))
        .wait()
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotHolder { ref holder, .. } if holder.as_deref() == Some("r1")),
        "{err}"
    );
    let case = store
        .release_case(&case_id, "r1", at(12))
        .wait()
        .expect("release");
    assert_eq!(case.status, CaseStatus::Open);
    assert_eq!(case.claimed_by, None);
    store
        .claim_case(&case_id, "r2", at(13))
        .wait()
        .expect("now r2 may claim");
}

#[test]
fn resolve_needs_the_claim_and_notes_and_never_happens_twice() {
    let (_dir, store, case_id) = store_with_case();
    let resolve = |reviewer: &str, notes: &str| Resolve {
        case_id: case_id.clone(),
        reviewer: reviewer.to_owned(),
        outcome: CaseOutcome::Offloaded,
        notes: notes.to_owned(),
        cleared_entry_ids: Vec::new(),
    };
    let err = store
        .resolve_case(resolve("r1", "x"), at(5))
        .wait()
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotHolder { holder: None, .. }),
        "{err}"
    );
    store
        .claim_case(&case_id, "r1", at(10))
        .wait()
        .expect("claim");
    let err = store
        .resolve_case(resolve("r1", "  "), at(11))
        .wait()
        .unwrap_err();
    assert!(matches!(err, StoreError::NotesRequired { .. }), "{err}");
    let case = store
        .resolve_case(resolve("r1", "ECL order confirmed"), at(12))
        .wait()
        .expect("resolve");
    assert_eq!(case.status, CaseStatus::Resolved);
    let res = case.resolution.expect("resolution");
    assert_eq!(res.outcome, CaseOutcome::Offloaded);
    assert_eq!(res.resolved_by, "r1");
    for err in [
        store
            .resolve_case(resolve("r1", "again"), at(13))
            .wait()
            .unwrap_err(),
        store.claim_case(&case_id, "r2", at(14)).wait().unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::AlreadyResolved { ref outcome, .. } if outcome == "OFFLOADED"),
            "{err}"
        );
    }
    // Screening, claim, resolve: three records, chain intact.
    assert_eq!(store.audit_after(0, 100).expect("audit").len(), 3);
    assert!(store.verify_chain().expect("verify").is_intact());
}

#[test]
fn a_refused_write_does_not_disturb_the_others_in_its_batch() {
    let (_dir, store, case_id) = store_with_case();
    let tickets: Vec<_> = (0..50)
        .map(|i| store.claim_case(&case_id, &format!("r{i}"), at(10)))
        .chain((0..50).map(|i| store.claim_case("no-such-case", "r", at(10 + i))))
        .collect();
    let ok = tickets
        .into_iter()
        .map(|t| t.wait())
        .filter(Result::is_ok)
        .count();
    assert_eq!(ok, 1);
    assert!(matches!(
        store.claim_case("no-such-case", "r", at(99)).wait(),
        Err(StoreError::CaseNotFound { .. })
    ));
    assert!(store.verify_chain().expect("verify").is_intact());
}

#[test]
fn list_filters_by_post_status_and_age_and_pages_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    for n in 1..=7 {
        let post = if n % 2 == 0 { "LHE" } else { "ISB" };
        store
            .record_screening(flagged(n, post, "k", "d"))
            .wait()
            .expect("store");
    }
    store
        .claim_case("case-s-3", "r1", at(100))
        .wait()
        .expect("claim");

    let isb = |statuses: Vec<CaseStatus>| CaseFilter {
        post_id: Some("ISB".to_owned()),
        statuses,
        ..CaseFilter::default()
    };
    let ids = |f: &CaseFilter| -> Vec<String> {
        store
            .list_cases(f)
            .expect("list")
            .cases
            .into_iter()
            .map(|c| c.case_id)
            .collect()
    };
    assert_eq!(
        ids(&isb(vec![])),
        ["case-s-7", "case-s-5", "case-s-3", "case-s-1"]
    );
    assert_eq!(
        ids(&isb(vec![CaseStatus::Open])),
        ["case-s-7", "case-s-5", "case-s-1"]
    );
    assert_eq!(ids(&isb(vec![CaseStatus::Claimed])), ["case-s-3"]);
    let old = CaseFilter {
        opened_before: Some(at(3)),
        ..isb(vec![])
    };
    assert_eq!(ids(&old), ["case-s-3", "case-s-1"]);

    let mut seen = Vec::new();
    let mut filter = CaseFilter {
        page_size: 3,
        ..CaseFilter::default()
    };
    loop {
        let page = store.list_cases(&filter).expect("page");
        assert!(page.cases.len() <= 3);
        seen.extend(page.cases.into_iter().map(|c| c.case_id));
        match page.next_page_token {
            Some(t) => filter.page_token = Some(t),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=7).rev().map(|n| format!("case-s-{n}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn cases_are_counted_by_status_across_posts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let mut ids = Vec::new();
    for (i, post) in ["ISB", "LHE", "KHI"].iter().enumerate() {
        let receipt = store
            .record_screening(flagged(i as u64 + 1, post, &format!("doc-{i}"), "digest-1"))
            .wait()
            .expect("stored");
        ids.push(receipt.case_id.expect("a case"));
    }
    store
        .claim_case(&ids[0], "r1", at(10))
        .wait()
        .expect("claim");
    let count = |s| store.count_cases(s).expect("count");
    assert_eq!(count(CaseStatus::Open), 2);
    assert_eq!(count(CaseStatus::Claimed), 1);
    assert_eq!(count(CaseStatus::Resolved), 0);
}
