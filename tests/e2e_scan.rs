//! The scan stage inside Screen, over real gRPC: visa pages generated with docscan's test-only
//! issuers (`checkpost_docscan::generate`), a trust list and a visa register written per test.
//! Each forged or borrowed visa is caught with its own reason and sends the passenger to at
//! least SECOND_CHECK; a genuine one changes nothing; a scan that cannot finish fails closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use checkpost_docscan::generate::{
    PageSize, Perturbation, TestIssuer, VisaSpec, rogue_issuer, scan_image, test_issuer,
};
use checkpost_proto::v1 as pb;
use checkpost_proto::v1::Direction::Departure;
use chrono::{NaiveDate, Utc};
use common::{Passport, Snap, TestServer, codes, decision, passport, request};

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The visa the default test passport (`common::Passport::default()`) holds, valid today.
fn visa() -> VisaSpec {
    let p = Passport::default();
    let (y, m, d) = p.dob.unwrap();
    VisaSpec {
        visa_number: "PV26Q0000001".into(),
        passport_number: p.number.into(),
        surname: p.surname.into(),
        given_names: p.given.into(),
        dob: format!("{y}-{m:02}-{d:02}"),
        nationality: p.nationality.into(),
        valid_from: today() - chrono::Days::new(10),
        valid_until: today() + chrono::Days::new(80),
        visa_type: "VISIT".into(),
        entries: 1,
    }
}

/// A visa page (clean PNG at 200 dpi) whose QR code carries `payload`.
fn page(payload: &str) -> Vec<u8> {
    scan_image(payload, PageSize::Small, Perturbation::Clean, 11)
}

fn visa_page(image: Vec<u8>) -> pb::Scan {
    pb::Scan {
        kind: pb::ScanKind::VisaPage.into(),
        image,
    }
}

/// Writes a trust list trusting `issuers` for a year either side of today.
fn write_trust(path: &Path, issuers: &[TestIssuer]) {
    let (from, to) = (
        today() - chrono::Days::new(365),
        today() + chrono::Days::new(365),
    );
    let text: String = issuers.iter().map(|i| i.trust_toml(from, to)).collect();
    std::fs::write(path, text).unwrap();
}

/// Files the scan stage reads, in a directory that lives as long as the test.
struct ScanFiles {
    dir: tempfile::TempDir,
}

impl ScanFiles {
    fn new() -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        write_trust(&files.trust(), &[test_issuer()]);
        let v = visa();
        std::fs::write(
            files.register(),
            format!(
                "visa_number,passport_number,name,dob,nationality,valid_from,valid_until,status\n\
                 {},{},{} {},{},{},{},{},ISSUED\n",
                v.visa_number,
                v.passport_number,
                v.surname,
                v.given_names,
                v.dob,
                v.nationality,
                v.valid_from,
                v.valid_until
            ),
        )
        .unwrap();
        files
    }

    fn trust(&self) -> PathBuf {
        self.dir.path().join("trust.toml")
    }

    fn register(&self) -> PathBuf {
        self.dir.path().join("register.csv")
    }

    /// A server reading these files.
    async fn server(&self) -> TestServer {
        let (trust, register) = (self.trust(), self.register());
        TestServer::start(Snap::Fresh, move |c| {
            c.scan.trust_list = Some(trust);
            c.scan.visa_register = Some(register);
            // Generous: the suite runs on a loaded 2-core machine; the budget's own behaviour
            // is tested with a zero budget.
            c.scan.budget = Duration::from_secs(20);
        })
        .await
    }
}

/// Screens the default passport on departure with `scans`.
async fn screen(server: &TestServer, scans: Vec<pb::Scan>) -> pb::ScreenResponse {
    let mut req = request(passport(&Passport::default()), Departure);
    req.scans = scans;
    server.screen(req).await.unwrap()
}

/// The codes a scan stage may add (docscan's spellings).
fn scan_codes(r: &pb::ScreenResponse) -> Vec<&str> {
    codes(r)
        .into_iter()
        .filter(|c| {
            c.starts_with("SEAL_")
                || c.starts_with("VISA_")
                || c.starts_with("QR_")
                || c.starts_with("IMAGE_")
                || *c == "NO_QR_CODE"
                || *c == "CHECK_INCOMPLETE"
        })
        .collect()
}

fn at_least_second_check(r: &pb::ScreenResponse) {
    assert!(
        r.decision >= pb::Decision::SecondCheck as i32,
        "{} {:?}",
        decision(r),
        codes(r)
    );
}

fn seal_of(r: &pb::ScreenResponse) -> pb::SealVerdict {
    assert_eq!(r.scans.len(), 1);
    assert!(r.scans[0].completed);
    assert_eq!(r.scans[0].codes.len(), 1, "{:?}", r.scans[0]);
    r.scans[0].codes[0].seal()
}

#[tokio::test]
async fn a_valid_evisa_seal_for_the_passport_adds_no_reason_and_keeps_the_decision() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let without = screen(&server, Vec::new()).await;
    // The passport alone is CLEAR, so every SECOND_CHECK in this file comes from its scan.
    assert_eq!(decision(&without), "CLEAR", "{:?}", codes(&without));
    let image = page(&visa().seal(&test_issuer()));
    let with = screen(&server, vec![visa_page(image)]).await;

    assert_eq!(seal_of(&with), pb::SealVerdict::SealValid);
    assert_eq!(with.decision, without.decision, "{:?}", codes(&with));
    assert_eq!(codes(&with), codes(&without));
    assert_eq!(with.scans[0].evidence_digest.len(), 64);
    // A CLEAR passenger's page is not retained; the audit record names its digest only.
    let store = server.state.store.clone().unwrap();
    assert!(
        store
            .get_evidence(&with.scans[0].evidence_digest)
            .unwrap()
            .is_none()
    );
    let audited = store.audit_after(0, 100).unwrap();
    assert!(
        audited
            .iter()
            .any(|e| e.record.evidence_digests == [with.scans[0].evidence_digest.clone()]),
        "the audit record names the digest"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_tampered_seal_payload_is_a_bad_signature_and_second_check() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let v = visa();
    let later = v.valid_until + chrono::Days::new(3650);
    let forged = v
        .seal(&test_issuer())
        .replace(&v.valid_until.to_string(), &later.to_string());
    let r = screen(&server, vec![visa_page(page(&forged))]).await;

    assert_eq!(seal_of(&r), pb::SealVerdict::SealBadSignature);
    assert_eq!(scan_codes(&r), ["SEAL_BAD_SIGNATURE"]);
    at_least_second_check(&r);
    server.stop().await;
}

#[tokio::test]
async fn a_seal_from_a_signer_not_on_the_trust_list_is_an_unknown_signer() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let r = screen(
        &server,
        vec![visa_page(page(&visa().seal(&rogue_issuer())))],
    )
    .await;

    assert_eq!(seal_of(&r), pb::SealVerdict::SealUnknownSigner);
    assert_eq!(scan_codes(&r), ["SEAL_UNKNOWN_SIGNER"]);
    at_least_second_check(&r);
    server.stop().await;
}

#[tokio::test]
async fn a_genuine_seal_for_another_passport_is_a_passport_mismatch() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let other = VisaSpec {
        passport_number: "ZZ7000002".into(),
        ..visa()
    };
    let r = screen(&server, vec![visa_page(page(&other.seal(&test_issuer())))]).await;

    assert_eq!(seal_of(&r), pb::SealVerdict::SealMismatch);
    assert_eq!(scan_codes(&r), ["VISA_PASSPORT_MISMATCH"]);
    at_least_second_check(&r);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_visa_is_visa_expired_and_second_check() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let expired = VisaSpec {
        valid_from: today() - chrono::Days::new(120),
        valid_until: today() - chrono::Days::new(30),
        ..visa()
    };
    let r = screen(
        &server,
        vec![visa_page(page(&expired.seal(&test_issuer())))],
    )
    .await;

    assert_eq!(seal_of(&r), pb::SealVerdict::SealMismatch);
    assert_eq!(scan_codes(&r), ["VISA_EXPIRED"]);
    at_least_second_check(&r);
    server.stop().await;
}

#[tokio::test]
async fn a_visa_page_without_a_qr_code_is_no_qr_code_and_second_check() {
    let files = ScanFiles::new();
    let server = files.server().await;
    // Over a QR code's capacity: the generator draws the page without one.
    let r = screen(&server, vec![visa_page(page(&"X".repeat(8000)))]).await;

    assert!(r.scans[0].completed);
    assert!(r.scans[0].codes.is_empty());
    assert_eq!(scan_codes(&r), ["NO_QR_CODE"]);
    at_least_second_check(&r);
    server.stop().await;
}

#[tokio::test]
async fn a_visa_number_only_qr_is_checked_against_the_register() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let without = screen(&server, Vec::new()).await;

    let listed = screen(&server, vec![visa_page(page("VISA:PV26Q0000001"))]).await;
    assert_eq!(seal_of(&listed), pb::SealVerdict::Unspecified);
    assert_eq!(scan_codes(&listed), Vec::<&str>::new());
    assert_eq!(listed.decision, without.decision);

    let unlisted = screen(&server, vec![visa_page(page("VISA:PV26Q0000002"))]).await;
    assert_eq!(scan_codes(&unlisted), ["VISA_NOT_IN_REGISTER"]);
    at_least_second_check(&unlisted);
    server.stop().await;
}

#[tokio::test]
async fn a_scan_with_no_time_left_is_not_completed_and_never_clear() {
    let files = ScanFiles::new();
    let (trust, register) = (files.trust(), files.register());
    let server = TestServer::start(Snap::Fresh, move |c| {
        c.scan.trust_list = Some(trust);
        c.scan.visa_register = Some(register);
        c.scan.budget = Duration::ZERO;
    })
    .await;
    let r = screen(&server, vec![visa_page(page(&visa().seal(&test_issuer())))]).await;

    assert!(!r.scans[0].completed);
    assert!(r.scans[0].codes.is_empty());
    assert_eq!(scan_codes(&r), ["CHECK_INCOMPLETE"]);
    let reason = r
        .reasons
        .iter()
        .find(|x| x.code == "CHECK_INCOMPLETE")
        .unwrap();
    assert!(
        reason.message.contains("scan 0 not completed"),
        "{}",
        reason.message
    );
    at_least_second_check(&r);
    server.stop().await;
}

#[tokio::test]
async fn the_scan_of_a_flagged_screening_is_kept_under_the_data_dir_named_by_its_digest() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let image = page(&visa().seal(&rogue_issuer()));
    let r = screen(&server, vec![visa_page(image.clone())]).await;
    at_least_second_check(&r);
    let digest = &r.scans[0].evidence_digest;

    // The store lives in the data dir; the case names the digest and the blob is the image.
    let store = server.state.store.clone().unwrap();
    assert!(
        server
            .state
            .config
            .data_dir
            .join(checkpost_store::DEFAULT_FILE_NAME)
            .exists()
    );
    let case = store.get_case(&r.case_id).unwrap();
    assert_eq!(case.evidence_digests, std::slice::from_ref(digest));
    // The store refuses a blob whose digest is not the blake3 of its bytes.
    let blob = store.get_evidence(digest).unwrap().unwrap();
    assert_eq!(&blob.digest, digest);
    assert_eq!(blob.bytes, image);
    assert_eq!(blob.kind, "VISA_PAGE");
    server.stop().await;
}

#[tokio::test]
async fn a_reloaded_trust_list_takes_effect_on_the_next_call_and_a_bad_one_changes_nothing() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let image = page(&visa().seal(&rogue_issuer()));
    let before = screen(&server, vec![visa_page(image.clone())]).await;
    assert_eq!(seal_of(&before), pb::SealVerdict::SealUnknownSigner);

    write_trust(&files.trust(), &[test_issuer(), rogue_issuer()]);
    assert_eq!(server.state.reload_trust_list().unwrap(), 2);
    let after = screen(&server, vec![visa_page(image.clone())]).await;
    assert_eq!(seal_of(&after), pb::SealVerdict::SealValid);

    std::fs::write(files.trust(), "[[issuer]]\nid = \"broken\"\n").unwrap();
    let err = server.state.reload_trust_list().unwrap_err();
    assert!(err.to_string().contains("trust.toml"), "{err}");
    let still = screen(&server, vec![visa_page(image)]).await;
    assert_eq!(seal_of(&still), pb::SealVerdict::SealValid);
    server.stop().await;
}

#[tokio::test]
async fn a_reloaded_visa_register_takes_effect_on_the_next_call() {
    let files = ScanFiles::new();
    let server = files.server().await;
    let image = page("VISA:PV26Q0000001");
    assert_eq!(
        scan_codes(&screen(&server, vec![visa_page(image.clone())]).await),
        Vec::<&str>::new()
    );
    let text = std::fs::read_to_string(files.register()).unwrap();
    std::fs::write(files.register(), text.replace("ISSUED", "REVOKED")).unwrap();
    assert_eq!(server.state.reload_visa_register().unwrap(), 1);
    let r = screen(&server, vec![visa_page(image)]).await;
    assert_eq!(scan_codes(&r), ["VISA_REVOKED"]);
    at_least_second_check(&r);
    server.stop().await;
}

#[test]
fn a_configured_trust_list_that_fails_to_load_is_a_start_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trust.toml");
    std::fs::write(&path, "not toml [").unwrap();
    let mut config = checkpost_server::Config::default();
    config.scan.trust_list = Some(path);
    let err = checkpost_server::AppState::load(config).unwrap_err();
    assert!(
        err.to_string().contains("trust list") && err.to_string().contains("trust.toml"),
        "{err}"
    );

    let mut config = checkpost_server::Config::default();
    config.scan.visa_register = Some(dir.path().join("missing.csv"));
    let err = checkpost_server::AppState::load(config).unwrap_err();
    assert!(err.to_string().contains("missing.csv"), "{err}");
}

/// The fixture trust list (`fixtures/trust`) trusts the generator's test issuer until its end
/// date; keep the sample config's `[scan]` block loadable.
#[test]
fn the_sample_config_scan_section_loads() {
    let path = common::fixture("server/checkpost.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config =
        checkpost_server::Config::from_toml(&text, "checkpost.toml", path.parent().unwrap())
            .unwrap();
    let stage = checkpost_server::scanstage::ScanStage::load(&config).unwrap();
    assert_eq!(stage.trust_list().len(), 1);
    assert_eq!(stage.visa_register().map(|r| r.len()), Some(1));
    assert!(config.scan.budget > Duration::ZERO);
}
