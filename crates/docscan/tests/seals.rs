//! Seal verification and the MRZ / register cross-checks: every forged or borrowed visa is
//! caught with its own reason. Most tests work on QR payloads directly (`check_code`); one goes
//! through a rendered image end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use checkpost_docscan::generate::{
    PageSize, Perturbation, TestIssuer, VisaSpec, rogue_issuer, scan_image, test_issuer,
};
use checkpost_docscan::report::check_code;
use checkpost_docscan::{
    Checks, Content, Limits, Point, QrCode, ReasonCode, SealVerdict, TrustList, VisaRegister, scan,
};
use chrono::NaiveDate;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn today() -> NaiveDate {
    day(2026, 11, 23)
}

fn trust() -> TrustList {
    let mut t = TrustList::empty();
    t.insert(test_issuer().trusted(day(2026, 1, 1), day(2027, 12, 31)));
    t
}

fn spec() -> VisaSpec {
    VisaSpec::sample(&mut ChaCha20Rng::seed_from_u64(7))
}

fn code(payload: String) -> QrCode {
    QrCode {
        payload,
        corners: [Point { x: 0, y: 0 }; 4],
    }
}

fn codes_of(report: &checkpost_docscan::CodeReport) -> Vec<ReasonCode> {
    report.reasons.iter().map(|r| r.code).collect()
}

#[test]
fn a_genuine_seal_for_the_passport_in_hand_is_valid() {
    let (s, trust) = (spec(), trust());
    let mrz = s.identity();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: Some(&mrz),
        today: today(),
    };
    let r = check_code(code(s.seal(&test_issuer())), &checks);
    assert_eq!(r.content, Content::Seal);
    assert_eq!(r.verdict, SealVerdict::Valid, "{:?}", r.reasons);
    assert!(r.is_valid() && r.cross_checked);
    assert_eq!(r.visa.unwrap().visa_number, s.visa_number);
}

#[test]
fn a_tampered_payload_is_a_bad_signature() {
    let (s, trust) = (spec(), trust());
    let forged = s
        .seal(&test_issuer())
        .replace(&s.passport_number, "ZZ9999999");
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    let r = check_code(code(forged), &checks);
    assert_eq!(r.verdict, SealVerdict::BadSignature);
    assert_eq!(codes_of(&r), [ReasonCode::SealBadSignature]);
}

#[test]
fn a_seal_signed_by_an_untrusted_key_is_an_unknown_signer() {
    let (s, trust) = (spec(), trust());
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    let r = check_code(code(s.seal(&rogue_issuer())), &checks);
    assert_eq!(r.verdict, SealVerdict::UnknownSigner);
    assert_eq!(codes_of(&r), [ReasonCode::SealUnknownSigner]);
}

#[test]
fn a_rogue_key_claiming_a_trusted_key_id_is_caught() {
    let (s, trust) = (spec(), trust());
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    // Claims the trusted kid but carries (and signs with) its own key.
    let mut impostor = rogue_issuer();
    impostor.id = test_issuer().id;
    let r = check_code(code(s.seal(&impostor)), &checks);
    assert_eq!(r.verdict, SealVerdict::UnknownSigner);
    // Same, with the trusted public key copied in: the signature gives it away.
    let genuine_pk = {
        let v: serde_json::Value = serde_json::from_str(&s.seal(&test_issuer())).unwrap();
        v["sig"]["cer"]["pk"].as_str().unwrap().to_string()
    };
    let mut v: serde_json::Value = serde_json::from_str(&s.seal(&impostor)).unwrap();
    v["sig"]["cer"]["pk"] = genuine_pk.into();
    let r = check_code(code(v.to_string()), &checks);
    assert_eq!(r.verdict, SealVerdict::BadSignature);
}

#[test]
fn a_key_trusted_for_another_state_is_an_unknown_signer() {
    let s = spec();
    let other = TestIssuer::new("TEST-PAK-EVISA-1", "PAK", 0x7e57_0001);
    let mut trust = TrustList::empty();
    let mut entry = other.trusted(day(2026, 1, 1), day(2027, 12, 31));
    entry.issuing_state = "AFG".into();
    trust.insert(entry);
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    let r = check_code(code(s.seal(&other)), &checks);
    assert_eq!(r.verdict, SealVerdict::UnknownSigner);
}

#[test]
fn a_seal_for_another_passport_names_each_mismatch() {
    let (s, trust) = (spec(), trust());
    let mut mrz = s.identity();
    mrz.document_number = "XY7654321".into();
    mrz.surname = "SOMEONE".into();
    mrz.given_names = "ELSE".into();
    mrz.date_of_birth = checkpost_document::PartialDate::parse("1971-01-01").ok();
    mrz.nationality = "AFG".into();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: Some(&mrz),
        today: today(),
    };
    let r = check_code(code(s.seal(&test_issuer())), &checks);
    assert_eq!(r.verdict, SealVerdict::Mismatch);
    assert_eq!(
        codes_of(&r),
        [
            ReasonCode::VisaPassportMismatch,
            ReasonCode::VisaNameMismatch,
            ReasonCode::VisaDobMismatch,
            ReasonCode::VisaNationalityMismatch
        ]
    );
}

#[test]
fn only_the_passport_number_differs_when_a_visa_is_borrowed_by_a_namesake() {
    let (s, trust) = (spec(), trust());
    let mut mrz = s.identity();
    mrz.document_number = "XY7654321".into();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: Some(&mrz),
        today: today(),
    };
    let r = check_code(code(s.seal(&test_issuer())), &checks);
    assert_eq!(codes_of(&r), [ReasonCode::VisaPassportMismatch]);
}

#[test]
fn an_expired_visa_and_a_not_yet_valid_visa_are_reasons() {
    let (s, trust) = (spec(), trust());
    let mrz = s.identity();
    let seal = s.seal(&test_issuer());
    let at = |today| {
        let checks = Checks {
            trust: &trust,
            register: None,
            mrz: Some(&mrz),
            today,
        };
        check_code(code(seal.clone()), &checks)
    };
    let late = at(s.valid_until + chrono::Days::new(1));
    assert_eq!(late.verdict, SealVerdict::Mismatch);
    assert_eq!(codes_of(&late), [ReasonCode::VisaExpired]);
    let early = at(s.valid_from - chrono::Days::new(1));
    assert_eq!(codes_of(&early), [ReasonCode::VisaNotYetValid]);
}

#[test]
fn a_signer_outside_its_validity_window_is_an_expired_signer() {
    let s = spec();
    let mut trust = TrustList::empty();
    trust.insert(test_issuer().trusted(day(2024, 1, 1), day(2025, 12, 31)));
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    let r = check_code(code(s.seal(&test_issuer())), &checks);
    assert_eq!(r.verdict, SealVerdict::ExpiredSigner);
    assert_eq!(codes_of(&r), [ReasonCode::SealExpiredSigner]);
}

#[test]
fn a_genuine_seal_of_another_type_is_a_wrong_type() {
    let (s, trust) = (spec(), trust());
    let mut data = s.data("PAK");
    data["hdr"]["type"] = "icao.vacc".into();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    let r = check_code(code(test_issuer().seal(&data)), &checks);
    assert_eq!(r.verdict, SealVerdict::WrongType);
    assert_eq!(codes_of(&r), [ReasonCode::SealWrongType]);
}

#[test]
fn malformed_seals_say_what_is_missing() {
    let (s, trust) = (spec(), trust());
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    let mut no_field = s.data("PAK");
    no_field["msg"].as_object_mut().unwrap().remove("pn");
    let cases = [
        ("{not json".to_string(), "not valid JSON"),
        (r#"{"data": {"hdr": {}}}"#.to_string(), "'sig'"),
        (test_issuer().seal(&no_field), "data.msg.pn"),
        (s.seal(&test_issuer()).replace("ES256", "RS256"), "ES256"),
    ];
    for (payload, needle) in cases {
        let r = check_code(code(payload), &checks);
        assert_eq!(r.verdict, SealVerdict::Malformed);
        assert_eq!(codes_of(&r), [ReasonCode::SealMalformed]);
        assert!(
            r.reasons[0].message.contains(needle),
            "{}",
            r.reasons[0].message
        );
    }
}

#[test]
fn an_empty_trust_list_trusts_nobody() {
    let s = spec();
    let trust = TrustList::empty();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: today(),
    };
    assert_eq!(
        check_code(code(s.seal(&test_issuer())), &checks).verdict,
        SealVerdict::UnknownSigner
    );
}

const REGISTER: &str =
    "visa_number,passport_number,name,dob,nationality,valid_from,valid_until,status
PV26A0000001,AB1234567,KHAN MUHAMMAD ALI,1990-04-12,PAK,2026-11-01,2027-01-31,ISSUED
PV26A0000002,AB1234567,KHAN MUHAMMAD ALI,1990-04-12,PAK,2026-11-01,2027-01-31,REVOKED
";

fn register_holder() -> checkpost_document::Identity {
    checkpost_document::Identity {
        surname: "KHAN".into(),
        given_names: "MUHAMMAD ALI".into(),
        date_of_birth: checkpost_document::PartialDate::parse("1990-04-12").ok(),
        nationality: "PAK".into(),
        document_number: "AB1234567".into(),
        ..Default::default()
    }
}

#[test]
fn a_number_only_visa_is_checked_against_the_register() {
    let register = VisaRegister::from_csv(REGISTER.as_bytes()).unwrap();
    let (trust, mrz) = (trust(), register_holder());
    let checks = Checks {
        trust: &trust,
        register: Some(&register),
        mrz: Some(&mrz),
        today: today(),
    };
    let ok = check_code(code("VISA:PV26A0000001".into()), &checks);
    assert_eq!(ok.content, Content::VisaNumber);
    assert!(ok.is_valid(), "{:?}", ok.reasons);
    let revoked = check_code(code("PV26A0000002".into()), &checks);
    assert_eq!(codes_of(&revoked), [ReasonCode::VisaRevoked]);
    let unknown = check_code(code("PV26A0000009".into()), &checks);
    assert_eq!(codes_of(&unknown), [ReasonCode::VisaNotInRegister]);
    let mut other = register_holder();
    other.document_number = "CD7654321".into();
    let checks = Checks {
        mrz: Some(&other),
        ..checks
    };
    let borrowed = check_code(code("PV26A0000001".into()), &checks);
    assert_eq!(codes_of(&borrowed), [ReasonCode::VisaPassportMismatch]);
    let checks = Checks {
        register: None,
        ..checks
    };
    let no_register = check_code(code("PV26A0000001".into()), &checks);
    assert_eq!(
        codes_of(&no_register),
        [ReasonCode::VisaRegisterUnavailable]
    );
}

#[test]
fn register_errors_name_the_line_and_field() {
    let bad = "visa_number,passport_number,name,dob,nationality,valid_from,valid_until,status
PV1,AB1,KHAN,1990-04-12,PAK,2026-11-01,2027-01-31,ISSUED
PV2,AB2,KHAN,1990-04-12,PAK,2026-13-01,2027-01-31,ISSUED
";
    let err = VisaRegister::from_csv(bad.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3") && err.contains("valid_from"),
        "{err}"
    );
    let missing = "visa_number,name\nPV1,KHAN\n";
    let err = VisaRegister::from_csv(missing.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("passport_number"), "{err}");
    let status = REGISTER.replace("REVOKED", "LOST");
    let err = VisaRegister::from_csv(status.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3") && err.contains("status") && err.contains("LOST"),
        "{err}"
    );
}

#[test]
fn trust_list_errors_name_the_issuer_and_field() {
    let issuer = test_issuer();
    let good = issuer.trust_toml(day(2026, 1, 1), day(2027, 12, 31));
    assert_eq!(TrustList::from_toml(&good).unwrap().len(), 1);
    let bad_key = good.replace("MFkw", "MFkx");
    let err = TrustList::from_toml(&bad_key).unwrap_err().to_string();
    assert!(
        err.contains(&issuer.id) && err.contains("public_key"),
        "{err}"
    );
    let bad_date = good.replace("2027-12-31", "31/12/2027");
    let err = TrustList::from_toml(&bad_date).unwrap_err().to_string();
    assert!(err.contains("not_after"), "{err}");
    let twice = format!("{good}{good}");
    assert!(
        TrustList::from_toml(&twice)
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
}

#[test]
fn the_committed_trust_list_trusts_the_test_issuer() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/trust/trust.toml"
    ))
    .unwrap();
    let trust = TrustList::from_toml(&text).unwrap();
    let issuer = trust.get(&test_issuer().id).unwrap();
    assert_eq!(issuer.key, *test_issuer().signing_key.verifying_key());
}

#[test]
fn a_forged_seal_in_a_scanned_image_is_reported_with_its_position() {
    let (s, trust) = (spec(), trust());
    let forged = s
        .seal(&test_issuer())
        .replace(&s.visa_number, "PV26Z0000000");
    let bytes = scan_image(&forged, PageSize::Small, Perturbation::Clean, 3);
    let mrz = s.identity();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: Some(&mrz),
        today: today(),
    };
    let report = scan(&bytes, &Limits::default(), &checks);
    assert!(report.completed);
    assert_eq!(report.codes.len(), 1);
    let c = &report.codes[0];
    assert_eq!(c.verdict, SealVerdict::BadSignature);
    // The code is drawn at x 770..1110, y 120..460 on a 1250x880 page.
    assert!(
        c.corners
            .iter()
            .all(|p| (760..=1120).contains(&p.x) && (110..=470).contains(&p.y)),
        "{:?}",
        c.corners
    );
    assert!(!report.is_valid());
}

#[test]
fn transliteration_variants_and_token_order_are_the_same_name() {
    let (s, trust) = (spec(), trust());
    let mut data = s.data("PAK");
    data["msg"]["n"] = "MOHD ALI KHAN".into();
    data["msg"]["pn"] = "AB 1234567".into();
    let mut mrz = s.identity();
    mrz.surname = "KHAN".into();
    mrz.given_names = "MUHAMMAD ALI".into();
    mrz.document_number = "AB1234567".into();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: Some(&mrz),
        today: today(),
    };
    let r = check_code(code(test_issuer().seal(&data)), &checks);
    assert!(r.is_valid(), "{:?}", r.reasons);
}
