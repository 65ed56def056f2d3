//! Access control end to end: every RPC of Screening, Review and Watchlists against every role,
//! bearer tokens (none, wrong, per role), a `[auth.permissions]` override, and mutual TLS with
//! certificates made here by `rcgen` (a client certificate from another CA never gets in).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use checkpost_proto::v1 as pb;
use checkpost_server::Config;
use checkpost_server::auth::{
    AuthConfig, ClientConfig, Role, TlsConfig, TokenConfig, token_hash_hex,
};
use common::{Snap, TestServer, run_cli};
use pb::review_client::ReviewClient;
use pb::screening_client::ScreeningClient;
use pb::watchlists_client::WatchlistsClient;
use tonic::Code;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const ROLES: [Role; 4] = [Role::Counter, Role::Reviewer, Role::Ops, Role::Auditor];

/// Every RPC of the contract and the roles the brief says may call it — written out here, not
/// read from the server's table, so a wrong table fails this test.
const MATRIX: &[(&str, &[Role])] = &[
    ("Screening/Screen", &[Role::Counter]),
    ("Review/ListCases", &[Role::Reviewer, Role::Auditor]),
    ("Review/GetCase", &[Role::Reviewer, Role::Auditor]),
    ("Review/WatchCases", &[Role::Reviewer, Role::Auditor]),
    ("Review/ClaimCase", &[Role::Reviewer]),
    ("Review/ReleaseCase", &[Role::Reviewer]),
    ("Review/ResolveCase", &[Role::Reviewer]),
    ("Watchlists/GetStatus", &[Role::Ops, Role::Auditor]),
    ("Watchlists/UploadSnapshot", &[Role::Ops]),
    ("Watchlists/ActivateSnapshot", &[Role::Ops]),
    ("Watchlists/RollbackSnapshot", &[Role::Ops]),
    ("Watchlists/ApplyDelta", &[Role::Ops]),
    ("Watchlists/Reload", &[Role::Ops]),
];

fn token_of(role: Role) -> String {
    format!("test-token-{role}")
}

/// One token per role, named after the role.
fn token_per_role(auth: &mut AuthConfig) {
    auth.enabled = true;
    for role in ROLES {
        auth.tokens.push(TokenConfig {
            name: role.to_string(),
            blake3: token_hash_hex(&token_of(role)),
            roles: vec![role],
        });
    }
}

/// Adds `authorization: Bearer …` when there is a token.
#[derive(Clone)]
struct Bearer(Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        Ok(req)
    }
}

/// Calls `rpc` with an empty request and returns the status code (`Ok` when it succeeded).
async fn call(channel: &Channel, token: Option<&str>, rpc: &str) -> Code {
    let svc = InterceptedService::new(channel.clone(), Bearer(token.map(str::to_string)));
    let code = |r: Result<(), tonic::Status>| r.err().map_or(Code::Ok, |s| s.code());
    let fut = async {
        match rpc {
            "Screening/Screen" => code(
                ScreeningClient::new(svc)
                    .screen(pb::ScreenRequest::default())
                    .await
                    .map(drop),
            ),
            "Review/ListCases" => code(
                ReviewClient::new(svc)
                    .list_cases(pb::ListCasesRequest::default())
                    .await
                    .map(drop),
            ),
            "Review/GetCase" => code(
                ReviewClient::new(svc)
                    .get_case(pb::GetCaseRequest::default())
                    .await
                    .map(drop),
            ),
            "Review/WatchCases" => code(
                ReviewClient::new(svc)
                    .watch_cases(pb::WatchCasesRequest::default())
                    .await
                    .map(drop),
            ),
            "Review/ClaimCase" => code(
                ReviewClient::new(svc)
                    .claim_case(pb::ClaimCaseRequest::default())
                    .await
                    .map(drop),
            ),
            "Review/ReleaseCase" => code(
                ReviewClient::new(svc)
                    .release_case(pb::ReleaseCaseRequest::default())
                    .await
                    .map(drop),
            ),
            "Review/ResolveCase" => code(
                ReviewClient::new(svc)
                    .resolve_case(pb::ResolveCaseRequest::default())
                    .await
                    .map(drop),
            ),
            "Watchlists/GetStatus" => code(
                WatchlistsClient::new(svc)
                    .get_status(pb::GetStatusRequest::default())
                    .await
                    .map(drop),
            ),
            "Watchlists/UploadSnapshot" => code(
                WatchlistsClient::new(svc)
                    .upload_snapshot(tokio_stream::iter(vec![pb::UploadSnapshotChunk::default()]))
                    .await
                    .map(drop),
            ),
            "Watchlists/ActivateSnapshot" => code(
                WatchlistsClient::new(svc)
                    .activate_snapshot(pb::ActivateSnapshotRequest::default())
                    .await
                    .map(drop),
            ),
            "Watchlists/RollbackSnapshot" => code(
                WatchlistsClient::new(svc)
                    .rollback_snapshot(pb::RollbackSnapshotRequest::default())
                    .await
                    .map(drop),
            ),
            "Watchlists/ApplyDelta" => code(
                WatchlistsClient::new(svc)
                    .apply_delta(pb::ApplyDeltaRequest::default())
                    .await
                    .map(drop),
            ),
            "Watchlists/Reload" => code(
                WatchlistsClient::new(svc)
                    .reload(pb::ReloadRequest::default())
                    .await
                    .map(drop),
            ),
            other => panic!("no such RPC in the test: {other}"),
        }
    };
    // A guard against a hung call, not a speed assertion.
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("{rpc} did not answer"))
}

fn is_auth_code(code: Code) -> bool {
    matches!(code, Code::Unauthenticated | Code::PermissionDenied)
}

/// Checks every RPC × role against `expected` and returns every mismatch.
async fn mismatches(channel: &Channel, expected: &[(&str, Vec<Role>)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (rpc, allowed) in expected {
        for role in ROLES {
            let got = call(channel, Some(&token_of(role)), rpc).await;
            let ok = if allowed.contains(&role) {
                !is_auth_code(got)
            } else {
                got == Code::PermissionDenied
            };
            if !ok {
                let want = if allowed.contains(&role) {
                    "allowed"
                } else {
                    "PERMISSION_DENIED"
                };
                bad.push(format!("{rpc} as {role}: got {got:?}, want {want}"));
            }
        }
    }
    bad
}

fn matrix() -> Vec<(&'static str, Vec<Role>)> {
    MATRIX.iter().map(|(r, a)| (*r, a.to_vec())).collect()
}

#[tokio::test]
async fn every_rpc_lets_in_exactly_the_roles_the_table_names() {
    let server = TestServer::start(Snap::Fresh, |c| token_per_role(&mut c.auth)).await;
    let bad = mismatches(&server.channel, &matrix()).await;
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    server.stop().await;
}

#[tokio::test]
async fn a_call_without_a_credential_is_unauthenticated() {
    let server = TestServer::start(Snap::Fresh, |c| token_per_role(&mut c.auth)).await;
    for (rpc, _) in MATRIX {
        assert_eq!(
            call(&server.channel, None, rpc).await,
            Code::Unauthenticated,
            "{rpc}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_unauthenticated_and_not_echoed() {
    let server = TestServer::start(Snap::Fresh, |c| token_per_role(&mut c.auth)).await;
    for (rpc, _) in MATRIX {
        assert_eq!(
            call(&server.channel, Some("not-a-real-token"), rpc).await,
            Code::Unauthenticated,
            "{rpc}"
        );
    }
    let svc = InterceptedService::new(
        server.channel.clone(),
        Bearer(Some("not-a-real-token".into())),
    );
    let status = ScreeningClient::new(svc)
        .screen(pb::ScreenRequest::default())
        .await
        .unwrap_err();
    assert!(
        !status.message().contains("not-a-real-token"),
        "{}",
        status.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_reviewer_acts_only_as_the_identity_they_authenticated_as() {
    let server = TestServer::start(Snap::Fresh, |c| {
        token_per_role(&mut c.auth);
        c.auth.tokens.push(TokenConfig {
            name: "rev-a".into(),
            blake3: token_hash_hex("token-of-rev-a"),
            roles: vec![Role::Reviewer],
        });
    })
    .await;
    let counter = InterceptedService::new(
        server.channel.clone(),
        Bearer(Some(token_of(Role::Counter))),
    );
    let mut as_counter = common::request(common::khan(), pb::Direction::Departure);
    as_counter.counter_id = Role::Counter.to_string();
    let flagged = ScreeningClient::new(counter)
        .screen(as_counter)
        .await
        .unwrap()
        .into_inner();
    assert!(!flagged.case_id.is_empty());
    let mut review = ReviewClient::new(InterceptedService::new(
        server.channel.clone(),
        Bearer(Some("token-of-rev-a".into())),
    ));
    let claim = |reviewer: &str| pb::ClaimCaseRequest {
        case_id: flagged.case_id.clone(),
        reviewer_id: reviewer.into(),
    };

    let err = review.claim_case(claim("rev-b")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("rev-b"), "{}", err.message());

    let case = review
        .claim_case(claim("rev-a"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.claimed_by, "rev-a");
    server.stop().await;
}

#[tokio::test]
async fn a_counter_screens_only_as_the_identity_it_authenticated_as() {
    let server = TestServer::start(Snap::Fresh, |c| token_per_role(&mut c.auth)).await;
    let mut screening = ScreeningClient::new(InterceptedService::new(
        server.channel.clone(),
        Bearer(Some(token_of(Role::Counter))),
    ));
    // The shared request names counter D-07; this token is the identity "counter".
    let other = common::request(common::khan(), pb::Direction::Departure);
    let err = screening.screen(other.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(
        err.message().contains("counter_id") && err.message().contains("D-07"),
        "{}",
        err.message()
    );

    let mut itself = other;
    itself.counter_id = Role::Counter.to_string();
    itself.client_request_id.push_str("-as-itself");
    let answered = screening.screen(itself).await.unwrap().into_inner();
    assert!(!answered.screening_id.is_empty());
    // Only the screening it made as itself reached the audit trail.
    let records = server.state.store.as_ref().unwrap().writer_stats().records;
    assert_eq!(records, 1);
    server.stop().await;
}

#[tokio::test]
async fn health_is_open_without_a_credential() {
    let server = TestServer::start(Snap::Fresh, |c| token_per_role(&mut c.auth)).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel.clone());
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    server.stop().await;
}

#[tokio::test]
async fn auth_off_on_loopback_lets_every_call_through() {
    let server = TestServer::start(Snap::Fresh, |_| {}).await;
    for (rpc, _) in MATRIX {
        let got = call(&server.channel, None, rpc).await;
        assert!(!is_auth_code(got), "{rpc}: {got:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_permissions_override_changes_the_matrix() {
    let server = TestServer::start(Snap::Fresh, |c| {
        token_per_role(&mut c.auth);
        c.auth.permissions.insert(
            "checkpost.v1.Watchlists/GetStatus".into(),
            vec![Role::Counter],
        );
        c.auth.permissions.insert(
            "/checkpost.v1.Review/ClaimCase".into(),
            vec![Role::Reviewer, Role::Auditor],
        );
    })
    .await;
    let mut expected = matrix();
    for (rpc, allowed) in &mut expected {
        match *rpc {
            "Watchlists/GetStatus" => *allowed = vec![Role::Counter],
            "Review/ClaimCase" => *allowed = vec![Role::Reviewer, Role::Auditor],
            _ => {}
        }
    }
    let bad = mismatches(&server.channel, &expected).await;
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    server.stop().await;
}

/// A CA, and certificates it issues.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        Self {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// (certificate PEM, key PEM) for `cn`, with `sans`, for server or client use.
    fn issue(&self, cn: &str, sans: &[&str], server: bool) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A TLS server whose client certificates must chain to `client_ca`; `reviewer-1` (by subject)
/// is a reviewer; the `counter` token works too.
struct TlsSetup {
    server: TestServerTls,
    server_ca: String,
    dir: tempfile::TempDir,
}

/// The pieces of a running TLS server the tests need.
struct TestServerTls {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), checkpost_server::ServerError>>,
    _state: Arc<checkpost_server::AppState>,
}

async fn start_tls(server_ca: &Ca, client_ca: &Ca) -> TlsSetup {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = server_ca.issue("checkpost test server", &["127.0.0.1", "localhost"], true);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        hq_pubkeys: vec![common::fixture("keys/hq-test.pub")],
        rules: Some(common::fixture("rules/sop.toml")),
        data_dir: dir.path().join("data"),
        snapshot: Some(common::fixture_snapshot(dir.path(), chrono::Utc::now())),
        ..Config::default()
    };
    config.auth.enabled = true;
    config.auth.tokens.push(TokenConfig {
        name: "counter".into(),
        blake3: token_hash_hex(&token_of(Role::Counter)),
        roles: vec![Role::Counter],
    });
    config.auth.tls = Some(TlsConfig {
        cert: write("server.pem", &cert),
        key: write("server.key", &key),
        client_ca: Some(write("clients-ca.pem", &client_ca.pem())),
        require_client_cert: false,
    });
    config.auth.clients.push(ClientConfig {
        name: None,
        subject: Some("reviewer-1".into()),
        fingerprint: None,
        roles: vec![Role::Reviewer],
    });
    let state = Arc::new(
        checkpost_server::AppState::load(config)
            .unwrap()
            .open_store()
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(checkpost_server::serve(
        Arc::clone(&state),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    TlsSetup {
        server: TestServerTls {
            addr,
            stop: Some(stop),
            task,
            _state: state,
        },
        server_ca: server_ca.pem(),
        dir,
    }
}

impl TlsSetup {
    /// Connects over TLS, with a client certificate when given.
    async fn connect(&self, identity: Option<(String, String)>) -> Result<Channel, String> {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.server_ca));
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Endpoint::from_shared(format!("https://{}", self.server.addr))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .map_err(|e| format!("{e:?}"))
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.stop.take() {
            let _ = s.send(());
        }
        self.server.task.await.unwrap().unwrap();
        drop(self.dir);
    }
}

#[tokio::test]
async fn a_client_certificate_whose_subject_is_configured_gets_its_roles() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("client CA"));
    let setup = start_tls(&server_ca, &client_ca).await;
    let channel = setup
        .connect(Some(client_ca.issue("reviewer-1", &[], false)))
        .await
        .unwrap();
    assert!(!is_auth_code(
        call(&channel, None, "Review/ListCases").await
    ));
    assert!(!is_auth_code(
        call(&channel, None, "Review/ClaimCase").await
    ));
    assert_eq!(
        call(&channel, None, "Screening/Screen").await,
        Code::PermissionDenied
    );
    setup.stop().await;
}

#[tokio::test]
async fn a_certificate_from_the_right_ca_but_not_configured_is_unauthenticated() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("client CA"));
    let setup = start_tls(&server_ca, &client_ca).await;
    let channel = setup
        .connect(Some(client_ca.issue("stranger", &[], false)))
        .await
        .unwrap();
    assert_eq!(
        call(&channel, None, "Review/ListCases").await,
        Code::Unauthenticated
    );
    setup.stop().await;
}

#[tokio::test]
async fn a_bearer_token_works_over_tls_without_a_client_certificate() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("client CA"));
    let setup = start_tls(&server_ca, &client_ca).await;
    let channel = setup.connect(None).await.unwrap();
    let got = call(&channel, Some(&token_of(Role::Counter)), "Screening/Screen").await;
    assert!(!is_auth_code(got), "{got:?}");
    assert_eq!(
        call(&channel, None, "Screening/Screen").await,
        Code::Unauthenticated
    );
    setup.stop().await;
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_at_the_handshake() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("client CA"));
    let setup = start_tls(&server_ca, &client_ca).await;
    // Same subject as the configured reviewer, but issued by a CA the server does not trust.
    let rogue = Ca::new("rogue CA").issue("reviewer-1", &[], false);
    match setup.connect(Some(rogue)).await {
        Err(_) => {}
        Ok(channel) => {
            // With TLS 1.3 the client may finish its side before the server has checked the
            // certificate; the refusal then arrives as the first call fails at the transport.
            let got = call(&channel, Some(&token_of(Role::Counter)), "Screening/Screen").await;
            assert!(
                matches!(got, Code::Unavailable | Code::Unknown | Code::Internal),
                "a rogue certificate got as far as {got:?}"
            );
        }
    }
    setup.stop().await;
}

#[tokio::test]
async fn a_plain_text_client_cannot_talk_to_a_tls_server() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("client CA"));
    let setup = start_tls(&server_ca, &client_ca).await;
    if let Ok(channel) = Endpoint::from_shared(format!("http://{}", setup.server.addr))
        .unwrap()
        .connect()
        .await
    {
        let got = call(&channel, Some(&token_of(Role::Counter)), "Screening/Screen").await;
        assert!(
            matches!(got, Code::Unavailable | Code::Unknown | Code::Internal),
            "{got:?}"
        );
    }
    setup.stop().await;
}

#[tokio::test]
async fn a_token_from_checkpost_auth_token_lets_checkpost_screen_in() {
    let (code, token, block) = run_cli(
        ["auth", "token", "--name", "desk-7", "--roles", "counter"]
            .map(String::from)
            .to_vec(),
        Vec::new(),
        None,
    )
    .await;
    assert_eq!(code, 0, "{block}");
    let token = token.trim().to_string();
    let block = &block[block.find("[[auth.token]]").expect("the TOML block")..];
    assert!(
        !block.contains(&token),
        "the config block must hold only the hash"
    );
    let text = format!("[auth]\nenabled = true\n{block}");
    let parsed = Config::from_toml(&text, "pasted", std::path::Path::new("/")).unwrap();

    let server = TestServer::start(Snap::Fresh, |c| c.auth = parsed.auth).await;
    let url = format!("http://{}", server.addr);
    let screen = |url: &str| {
        ["screen", "--server", url, "--direction", "arrival"]
            .map(String::from)
            .to_vec()
    };
    let mrz = common::passport(&common::Passport::default());
    // `checkpost screen --counter COUNTER` with the token.
    let screen_as = |counter: &str| {
        let mut args = screen(&url);
        args.extend(["--counter".to_string(), counter.to_string()]);
        run_cli(
            args,
            vec![("CHECKPOST_TOKEN", token.clone())],
            Some(mrz.clone()),
        )
    };

    let (code, out, err) = screen_as("desk-7").await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("CLEAR"), "{out}");

    // The token is desk-7's: it cannot screen as another counter (the audit trail's counter is
    // the one the server authenticated).
    let (code, out, err) = screen_as("desk-8").await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("PermissionDenied"), "{err}");
    assert!(
        err.contains("counter_id \"desk-8\" is not the caller's identity \"desk-7\""),
        "{err}"
    );

    let (code, out, err) = run_cli(screen(&url), Vec::new(), Some(mrz)).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("Unauthenticated"), "{err}");

    let cases = ["cases", "--server", &url, "list"]
        .map(String::from)
        .to_vec();
    let (code, out, err) = run_cli(cases, vec![("CHECKPOST_TOKEN", token)], None).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("PermissionDenied"), "{err}");
    server.stop().await;
}
