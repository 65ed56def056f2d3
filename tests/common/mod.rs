//! The end-to-end harness: a real server on 127.0.0.1:0 in this process, a snapshot built from
//! the fixture watchlist and signed with the test-only HQ key, MRZs emitted by the `mrz` crate.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::review_client::ReviewClient;
use checkpost_proto::v1::screening_client::ScreeningClient;
use checkpost_server::{AppState, Config};
use chrono::{DateTime, Datelike, Utc};
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// Builds a snapshot of the fixture watchlist, created at `created_at`, into `dir`.
pub fn fixture_snapshot(dir: &Path, created_at: DateTime<Utc>) -> PathBuf {
    let csv = std::fs::read(fixture("watchlists/sample.csv")).unwrap();
    let import = checkpost_watchlist::csv::import(
        &[("sample.csv", &csv)],
        checkpost_watchlist::csv::ImportOptions { lenient: false },
    )
    .unwrap();
    let key_text = std::fs::read_to_string(fixture("keys/hq-test.key")).unwrap();
    let key = checkpost_watchlist::snapshot::read_signing_key(&key_text).unwrap();
    let bytes =
        checkpost_watchlist::snapshot::build(&import.entries, "e2e-fixture", created_at, &key)
            .unwrap();
    let path = dir.join("sample.cpsnap");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What a test server starts with.
pub enum Snap {
    /// No snapshot at all.
    None,
    /// The fixture snapshot, built now.
    Fresh,
    /// The fixture snapshot, built this many hours ago.
    HoursOld(i64),
}

/// A running in-process server and a client connected to it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: ScreeningClient<Channel>,
    pub channel: Channel,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), checkpost_server::ServerError>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with the fixture rules, `snap`, and `tweak` applied to the config.
    pub async fn start(snap: Snap, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = match snap {
            Snap::None => None,
            Snap::Fresh => Some(fixture_snapshot(dir.path(), Utc::now())),
            Snap::HoursOld(h) => Some(fixture_snapshot(
                dir.path(),
                Utc::now() - chrono::Duration::hours(h),
            )),
        };
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            hq_pubkeys: vec![fixture("keys/hq-test.pub")],
            rules: Some(fixture("rules/sop.toml")),
            data_dir: dir.path().join("data"),
            snapshot,
            ..Config::default()
        };
        tweak(&mut config);
        let state = Arc::new(AppState::load(config).unwrap().open_store().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(checkpost_server::serve(
            Arc::clone(&state),
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            addr,
            client: ScreeningClient::new(channel.clone()),
            channel,
            state,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Screens `req`.
    pub async fn screen(
        &self,
        req: pb::ScreenRequest,
    ) -> Result<pb::ScreenResponse, tonic::Status> {
        self.client
            .clone()
            .screen(req)
            .await
            .map(tonic::Response::into_inner)
    }

    /// A Review client on the same connection.
    pub fn review(&self) -> ReviewClient<Channel> {
        ReviewClient::new(self.channel.clone())
    }

    /// Signals shutdown and waits for the server to drain and stop.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// A passport's fields, for [`passport`].
pub struct Passport<'a> {
    pub surname: &'a str,
    pub given: &'a str,
    pub number: &'a str,
    pub nationality: &'a str,
    /// (year, month, day); `None` prints fillers (unknown date of birth).
    pub dob: Option<(i32, u32, u32)>,
    pub sex: mrz::Sex,
    /// Years from today until expiry (negative: expired).
    pub expires_in_years: i32,
    pub personal_number: Option<&'a str>,
}

impl Default for Passport<'_> {
    fn default() -> Self {
        Self {
            surname: "QURESHI",
            given: "HAMZA",
            number: "ZZ7000001",
            nationality: "PAK",
            dob: Some((1990, 1, 15)),
            sex: mrz::Sex::Male,
            expires_in_years: 5,
            personal_number: None,
        }
    }
}

/// A valid TD3 MRZ, check digits and all, from the `mrz` crate's emitter.
pub fn passport(p: &Passport<'_>) -> String {
    let today = Utc::now().date_naive();
    mrz::format_td3(&mrz::Td3Fields {
        document_code: "P".into(),
        issuing_country: p.nationality.into(),
        document_number: p.number.into(),
        surname: mrz::encode_name_component(p.surname),
        given_names: mrz::encode_name_component(p.given),
        nationality: p.nationality.into(),
        date_of_birth: p.dob.map_or(mrz::MrzDate::Unknown, |(y, m, d)| {
            mrz::MrzDate::Calendar(mrz::Date::new(y, m, d))
        }),
        sex: p.sex,
        date_of_expiry: mrz::MrzDate::Calendar(mrz::Date::new(
            today.year() + p.expires_in_years,
            today.month(),
            today.day().min(28),
        )),
        personal_number: p.personal_number.map(str::to_string),
    })
}

/// A request for `mrz` with a fresh request id and no travel details.
pub fn request(mrz: String, direction: pb::Direction) -> pb::ScreenRequest {
    pb::ScreenRequest {
        client_request_id: uuid::Uuid::now_v7().to_string(),
        post_id: "ISB-AIRPORT".into(),
        counter_id: "D-07".into(),
        officer_id: "4711".into(),
        direction: direction.into(),
        mrz,
        scans: Vec::new(),
        travel: None,
        repair_mrz: false,
    }
}

/// The reason codes of a response, in order.
pub fn codes(r: &pb::ScreenResponse) -> Vec<&str> {
    r.reasons.iter().map(|x| x.code.as_str()).collect()
}

/// The decision's name, for assertion messages.
pub fn decision(r: &pb::ScreenResponse) -> &'static str {
    pb::Decision::try_from(r.decision).map_or("?", |d| d.as_str_name())
}

/// `GET /metrics` from a Prometheus endpoint (plain HTTP/1.0, so the body ends with the
/// connection); asserts a 200 with the OpenMetrics content type and returns the body.
pub async fn scrape_metrics(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: checkpost\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    body.to_string()
}

/// The samples of an OpenMetrics text exposition, keyed by `name{labels}` exactly as written
/// (`checkpost_decisions_total{decision="CLEAR"}`). Asserts the format's framing: `# EOF` is the
/// last line and nothing follows it, every other line is a comment or `series value`.
pub fn metric_samples(body: &str) -> std::collections::HashMap<String, f64> {
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "exposition must end with # EOF"
    );
    assert!(body.ends_with("# EOF\n"), "nothing may follow # EOF");
    let mut out = std::collections::HashMap::new();
    for line in &lines[..lines.len() - 1] {
        if line.starts_with('#') {
            continue;
        }
        // Label values here never contain spaces, so the value is after the last space.
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        assert!(
            out.insert(series.to_string(), value).is_none(),
            "duplicate {series}"
        );
    }
    out
}

/// The passenger of ECL-0001 (KHAN, MUHAMMAD ASIF, AB1234567): a DOCUMENT match, OFFLOAD on
/// departure, so a case is opened.
pub fn khan() -> String {
    passport(&Passport {
        surname: "KHAN",
        given: "MUHAMMAD ASIF",
        number: "AB1234567",
        dob: Some((1979, 3, 14)),
        ..Default::default()
    })
}

/// `checkpost serve` with the fixture config, `snapshot`, `data_dir` and an OS-chosen loopback
/// port, stdin and stdout closed and stderr piped (read it to learn the address: see
/// [`announced_addr`]). Add flags and environment before spawning.
pub fn serve_command(snapshot: &Path, data_dir: &Path) -> std::process::Command {
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_checkpost"));
    cmd.arg("serve")
        .arg("--config")
        .arg(fixture("server/checkpost.toml"))
        .arg("--snapshot")
        .arg(snapshot)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The gRPC address in the server's "checkpost serving on ADDR" line, plain or JSON.
pub fn announced_addr(line: &str) -> Option<SocketAddr> {
    const PREFIX: &str = "checkpost serving on ";
    let rest = &line[line.find(PREFIX)? + PREFIX.len()..];
    let end = rest
        .find(|c: char| c == '"' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Runs the `checkpost` binary (on the blocking pool) with `args`, `stdin` as its input and
/// `env` added to an environment without `CHECKPOST_SERVER` / `CHECKPOST_TOKEN`; returns the
/// exit code (-1: killed by a signal), stdout and stderr.
pub async fn run_cli(
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    stdin: Option<String>,
) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_checkpost"))
            .args(&args)
            .env_remove("CHECKPOST_TOKEN")
            .env_remove("CHECKPOST_SERVER")
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `args` as owned strings, for [`run_cli`].
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(ToString::to_string).collect()
}

/// Forwards every line `child` writes to stderr to the returned channel, from a thread that
/// drains the pipe for the child's whole life (so it never blocks on a full pipe); the channel
/// closes when the child is gone. Join the handle after the child exits.
pub fn stderr_lines(
    child: &mut std::process::Child,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (rx, reader)
}
