//! End-to-end: `Screening/Screen` over real gRPC on 127.0.0.1 (port 0), against the fixture
//! watchlist (fixtures/watchlists/sample.csv, signed with the test-only HQ key) and the sample
//! SOP rules (fixtures/rules/sop.toml).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use checkpost_proto::v1 as pb;
use common::{Passport, Snap, TestServer, codes, decision, khan, passport, request};
use pb::Direction::{Arrival, Departure};
use tonic::Code;

fn listed_reason<'a>(r: &'a pb::ScreenResponse, entry_id: &str) -> Option<&'a pb::Reason> {
    r.reasons.iter().find(|x| x.entry_id == entry_id)
}

#[tokio::test]
async fn an_unlisted_passenger_with_a_valid_passport_is_clear() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let r = server
        .screen(request(passport(&Passport::default()), Departure))
        .await
        .unwrap();
    assert_eq!(decision(&r), "CLEAR", "reasons: {:?}", codes(&r));
    assert!(!r.protection_referral);
    assert!(!r.replayed);
    assert!(!r.screening_id.is_empty());
    assert!(r.decided_at.is_some());
    let snap = r.snapshot.as_ref().expect("the snapshot that answered");
    assert_eq!(snap.version, "e2e-fixture");
    assert_eq!(snap.digest.len(), 64);
    let doc = r.document.as_ref().unwrap();
    assert_eq!(doc.surname, "QURESHI");
    assert!(doc.check_digits_valid);
    server.stop().await;
}

#[tokio::test]
async fn each_list_hit_carries_its_entry_and_action() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    // (what, passport, direction, expected decision, entry id, list)
    let cases = [
        (
            "ECL by passport number, departing",
            Passport {
                surname: "KHAN",
                given: "MUHAMMAD ASIF",
                number: "AB1234567",
                dob: Some((1979, 3, 14)),
                ..Default::default()
            },
            Departure,
            pb::Decision::Offload,
            "ECL-0001",
            pb::ListKind::Ecl,
        ),
        (
            "BLACKLIST by passport number, arriving",
            Passport {
                surname: "QURESHI",
                given: "ABDUL RAHMAN",
                number: "EF1122334",
                dob: Some((1990, 11, 2)),
                ..Default::default()
            },
            Arrival,
            pb::Decision::Detain,
            "BL-0001",
            pb::ListKind::Blacklist,
        ),
        (
            "PCL by passport number",
            Passport {
                surname: "MALIK",
                given: "FATIMA ZAHRA",
                number: "JK9988776",
                dob: Some((1995, 9, 30)),
                sex: mrz::Sex::Female,
                ..Default::default()
            },
            Departure,
            pb::Decision::SecondCheck,
            "PCL-0001",
            pb::ListKind::Pcl,
        ),
        (
            "PO by passport number",
            Passport {
                surname: "KHATTAK",
                given: "SAIF ULLAH",
                number: "NP2233445",
                dob: Some((1964, 2, 28)),
                ..Default::default()
            },
            Departure,
            pb::Decision::Detain,
            "PO-0001",
            pb::ListKind::Po,
        ),
        (
            "SLTD: a stolen passport, whoever carries it",
            Passport {
                surname: "BUTT",
                given: "OMER",
                number: "AB9876543",
                ..Default::default()
            },
            Departure,
            pb::Decision::Offload,
            "SLTD-0001",
            pb::ListKind::Sltd,
        ),
        (
            "CNIC_BLOCK by the CNIC in the personal number",
            Passport {
                surname: "MIRZA",
                given: "USMAN",
                number: "ZZ5550001",
                personal_number: Some("3520298765431"),
                ..Default::default()
            },
            Departure,
            pb::Decision::SecondCheck,
            "CNIC-0001",
            pb::ListKind::CnicBlock,
        ),
    ];
    for (what, p, direction, want, entry, list) in cases {
        let r = server
            .screen(request(passport(&p), direction))
            .await
            .unwrap();
        assert_eq!(
            r.decision,
            want as i32,
            "{what}: got {} {:?}",
            decision(&r),
            codes(&r)
        );
        let hit = listed_reason(&r, entry).unwrap_or_else(|| panic!("{what}: no {entry} reason"));
        assert_eq!(hit.list, list as i32, "{what}");
        assert_eq!(hit.level, want as i32, "{what}");
    }
    server.stop().await;
}

#[tokio::test]
async fn ecl_hit_is_ignored_on_arrival() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let mrz = passport(&Passport {
        surname: "KHAN",
        given: "MUHAMMAD ASIF",
        number: "AB1234567",
        dob: Some((1979, 3, 14)),
        ..Default::default()
    });
    let departing = server
        .screen(request(mrz.clone(), Departure))
        .await
        .unwrap();
    assert!(listed_reason(&departing, "ECL-0001").is_some());
    let arriving = server.screen(request(mrz, Arrival)).await.unwrap();
    assert!(
        arriving
            .reasons
            .iter()
            .all(|x| x.list != pb::ListKind::Ecl as i32),
        "{:?}",
        arriving.reasons
    );
    assert_eq!(decision(&arriving), "CLEAR", "{:?}", codes(&arriving));
    server.stop().await;
}

#[tokio::test]
async fn an_expired_document_is_never_clear() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let r = server
        .screen(request(
            passport(&Passport {
                expires_in_years: -1,
                ..Default::default()
            }),
            Arrival,
        ))
        .await
        .unwrap();
    assert!(codes(&r).contains(&"DOCUMENT_EXPIRED"), "{:?}", codes(&r));
    assert!(r.decision >= pb::Decision::SecondCheck as i32);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_check_digit_is_a_reason_naming_field_line_and_column() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let good = passport(&Passport::default());
    // Line 2, column 10 is the document number's check digit: change it.
    let (l1, l2) = good.split_once('\n').unwrap();
    let mut l2: Vec<char> = l2.chars().collect();
    l2[9] = if l2[9] == '0' { '1' } else { '0' };
    let bad = format!("{l1}\n{}", l2.into_iter().collect::<String>());
    let r = server.screen(request(bad, Departure)).await.unwrap();
    let reason = r
        .reasons
        .iter()
        .find(|x| x.code == "CHECK_DIGIT_FAILED" && x.field == "document_number")
        .unwrap_or_else(|| panic!("{:?}", r.reasons));
    assert_eq!((reason.line, reason.column), (2, 10));
    assert!(r.decision >= pb::Decision::SecondCheck as i32);
    assert!(!r.document.unwrap().check_digits_valid);
    server.stop().await;
}

#[tokio::test]
async fn a_name_only_match_is_capped_at_second_check() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    // PO-0004 NASREEN AKHTAR is DETAIN; this passport shares only the name (no date of birth,
    // another number, no CNIC), so a human must decide.
    let r = server
        .screen(request(
            passport(&Passport {
                surname: "AKHTAR",
                given: "NASREEN",
                number: "ZZ4440004",
                dob: None,
                sex: mrz::Sex::Female,
                ..Default::default()
            }),
            Departure,
        ))
        .await
        .unwrap();
    let hit = listed_reason(&r, "PO-0004").unwrap_or_else(|| panic!("{:?}", r.reasons));
    assert_eq!(hit.match_kind, pb::MatchKind::NameOnly as i32);
    assert_eq!(hit.level, pb::Decision::SecondCheck as i32);
    assert_eq!(decision(&r), "SECOND_CHECK", "{:?}", codes(&r));
    server.stop().await;
}

#[tokio::test]
async fn an_unaccompanied_minor_is_referred_for_protection_not_offloaded() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let ten_years_ago = chrono::Utc::now().date_naive() - chrono::Duration::days(365 * 10);
    use chrono::Datelike;
    let mut req = request(
        passport(&Passport {
            surname: "BIBI",
            given: "ZAINAB",
            sex: mrz::Sex::Female,
            dob: Some((ten_years_ago.year(), ten_years_ago.month(), 1)),
            ..Default::default()
        }),
        Departure,
    );
    req.travel = Some(pb::TravelDetails {
        destination: "ARE".into(),
        travelling_alone: true,
        guardian_present: false,
        ..Default::default()
    });
    let r = server.screen(req).await.unwrap();
    assert!(r.protection_referral, "{:?}", r.reasons);
    assert!(r.reasons.iter().any(|x| x.protection_referral));
    assert!(
        r.decision < pb::Decision::Offload as i32,
        "a possible victim is not offloaded: {}",
        decision(&r)
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_snapshot_nobody_is_cleared() {
    let server = TestServer::start(Snap::None, |_| {}).await;
    let r = server
        .screen(request(passport(&Passport::default()), Departure))
        .await
        .unwrap();
    assert_eq!(decision(&r), "SECOND_CHECK");
    assert!(codes(&r).contains(&"NO_SNAPSHOT"), "{:?}", codes(&r));
    assert!(r.snapshot.is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_stale_snapshot_escalates_to_second_check_with_a_reason() {
    let server = TestServer::start(Snap::HoursOld(48), |c| {
        c.stale_after = Duration::from_secs(36 * 3600);
    })
    .await;
    let r = server
        .screen(request(passport(&Passport::default()), Departure))
        .await
        .unwrap();
    assert_eq!(decision(&r), "SECOND_CHECK");
    assert!(codes(&r).contains(&"SNAPSHOT_STALE"), "{:?}", codes(&r));
    assert!(r.snapshot.unwrap().age_seconds >= 48 * 3600);
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_mrz_is_invalid_argument_naming_line_and_column() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let text =
        std::fs::read_to_string(common::fixture("mrz/invalid-illegal-character.mrz")).unwrap();
    let err = server.screen(request(text, Departure)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("mrz"), "{}", err.message());
    assert!(
        err.message().contains("line 2, column 29"),
        "{}",
        err.message()
    );

    let err = server
        .screen(request("P<PAKKHAN<<MUHAMMAD".into(), Departure))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("mrz"), "{}", err.message());
    server.stop().await;
}

#[tokio::test]
async fn a_missing_field_is_invalid_argument_naming_it() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let mut req = request(passport(&Passport::default()), Departure);
    req.direction = pb::Direction::Unspecified as i32;
    let err = server.screen(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("direction"), "{}", err.message());

    let mut req = request(passport(&Passport::default()), Departure);
    req.post_id.clear();
    let err = server.screen(req).await.unwrap_err();
    assert!(err.message().starts_with("post_id"), "{}", err.message());
    server.stop().await;
}

#[tokio::test]
async fn oversized_requests_are_resource_exhausted() {
    let server = TestServer::start(Snap::Fresh, |c| {
        c.limits.max_message_bytes = 64 * 1024;
        c.limits.max_scans = 2;
    })
    .await;
    // The whole message over the limit: refused while decoding.
    let mut req = request(passport(&Passport::default()), Departure);
    req.scans.push(pb::Scan {
        kind: pb::ScanKind::DataPage as i32,
        image: vec![0u8; 100 * 1024],
    });
    let err = server.screen(req).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());

    // An MRZ over its own limit.
    let req = request(
        format!("{}\n{}", "P".repeat(300), "<".repeat(300)),
        Departure,
    );
    let err = server.screen(req).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().starts_with("mrz"), "{}", err.message());

    // Too many scans.
    let mut req = request(passport(&Passport::default()), Departure);
    req.scans = vec![pb::Scan::default(); 3];
    let err = server.screen(req).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().starts_with("scans"), "{}", err.message());
    server.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_replays_the_first_decision() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let req = request(khan(), Departure);
    let first = server.screen(req.clone()).await.unwrap();
    let (a, b) = tokio::join!(server.screen(req.clone()), server.screen(req.clone()));
    for again in [a.unwrap(), b.unwrap()] {
        assert!(again.replayed);
        assert_eq!(again.screening_id, first.screening_id);
        assert_eq!(again.decision, first.decision);
        assert_eq!(again.reasons, first.reasons);
        assert_eq!(again.decided_at, first.decided_at);
    }
    assert!(!first.replayed);

    // The same id for a different passenger is a client bug, not a retry.
    let mut other = request(passport(&Passport::default()), Departure);
    other.client_request_id = req.client_request_id.clone();
    let err = server.screen(other).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("client_request_id"),
        "{}",
        err.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_deadline_that_runs_out_is_never_a_silent_clear() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let mut req = tonic::Request::new(request(passport(&Passport::default()), Departure));
    // Shorter than the time the server keeps back for the engine and the reply.
    req.set_timeout(Duration::from_millis(2));
    match server.client.clone().screen(req).await {
        Ok(r) => {
            let r = r.into_inner();
            assert_ne!(decision(&r), "CLEAR");
            assert!(codes(&r).contains(&"CHECK_INCOMPLETE"), "{:?}", codes(&r));
        }
        Err(status) => assert!(
            matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{status:?}"
        ),
    }
    server.stop().await;
}

#[tokio::test]
async fn scans_that_cannot_be_examined_fail_closed() {
    let server = TestServer::start(Snap::Fresh, |c| c.limits.max_image_bytes = 10).await;
    let mut req = request(passport(&Passport::default()), Departure);
    req.scans.push(pb::Scan {
        kind: pb::ScanKind::VisaPage as i32,
        image: vec![0u8; 100],
    });
    let r = server.screen(req).await.unwrap();
    assert_eq!(r.scans.len(), 1);
    assert!(!r.scans[0].completed);
    assert_eq!(r.scans[0].evidence_digest.len(), 64);
    assert_ne!(decision(&r), "CLEAR");
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel.clone());
    let resp = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "checkpost.v1.Screening".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resp.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel.clone());
    let ask = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::once(ask))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "checkpost.v1.Screening"),
        "{list:?}"
    );
    server.stop().await;
}
