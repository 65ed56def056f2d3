//! The scan stage of Screen: every scanned page goes through `checkpost_docscan::scan` (image
//! decode, QR codes, seal signatures against the trust list, the issued-visa register, the
//! cross-check with the MRZ) on the blocking pool, bounded twice: a semaphore caps how many
//! CPU-bound scans run at once, so that Screen calls without scans are never starved, and each
//! scan must finish within `min(client deadline, budget)` or it is reported as not completed
//! (which fails the screening closed).
//!
//! The trust list and the register are held in `ArcSwap`s: a reload swaps them atomically and a
//! scan in flight keeps the version it started with. A file that fails to load leaves the active
//! one in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use checkpost_docscan::{
    Checks, Limits, ReasonCode as ScanReasonCode, ScanReport, TrustList, VisaRegister,
};
use checkpost_document::Identity;
use checkpost_engine::{Decision, Incomplete, Reason, ReasonCode};
use chrono::NaiveDate;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::ServerError;
use crate::deadline::Deadline;
use crate::state::AppState;

/// Default [`ScanConfig::budget`]: a 400 dpi visa page decodes and verifies in about 20 ms on
/// one core (BENCHMARKS.md, "Scans"); the rest is headroom for a request's scans, and other
/// calls' scans, queued behind the semaphore.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(300);

/// The `[scan]` section of the server config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Trust list of seal issuer keys (TOML, `checkpost_docscan::TrustList` format). Unset: no
    /// issuer is trusted, so every seal's signer is unknown (each sealed visa goes to
    /// SECOND_CHECK).
    pub trust_list: Option<PathBuf>,
    /// Issued-visa register (CSV, `checkpost_docscan::VisaRegister` format), for QR codes that
    /// carry only a visa number. Unset: such a code is a VISA_REGISTER_UNAVAILABLE reason.
    pub visa_register: Option<PathBuf>,
    /// The most one scan may take, inside the client's deadline (e.g. `"300ms"`). A scan not
    /// finished by then (waiting for a permit included) is not completed: SECOND_CHECK.
    #[serde(with = "crate::config::humantime_serde_compat")]
    pub budget: Duration,
    /// Most scans decoding at once, server-wide. 0: half the cores, at least one.
    pub max_concurrent: usize,
    /// Largest width × height of a scan, checked on the image header before decoding.
    pub max_pixels: u64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            trust_list: None,
            visa_register: None,
            budget: DEFAULT_BUDGET,
            max_concurrent: 0,
            max_pixels: Limits::default().max_pixels,
        }
    }
}

impl ScanConfig {
    /// Makes every relative path in this section absolute against `base` (the config file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.trust_list, &mut self.visa_register]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// How many scans may decode at once: `max_concurrent`, or half the cores (at least one).
    pub fn permits(&self) -> usize {
        if self.max_concurrent > 0 {
            return self.max_concurrent;
        }
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a trust list file.
pub fn load_trust_list(path: &Path) -> Result<TrustList, ServerError> {
    let bad = |message: String| ServerError::ScanData {
        what: "trust list",
        path: path.to_path_buf(),
        message,
    };
    let text = String::from_utf8(read(path)?).map_err(|e| bad(e.to_string()))?;
    TrustList::from_toml(&text).map_err(|e| bad(e.to_string()))
}

/// Reads an issued-visa register file.
pub fn load_visa_register(path: &Path) -> Result<VisaRegister, ServerError> {
    let bytes = read(path)?;
    VisaRegister::from_csv(bytes.as_slice()).map_err(|e| ServerError::ScanData {
        what: "visa register",
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// What one scan came to.
#[derive(Debug, Clone)]
pub enum ScanOutcome {
    /// docscan ran to the end (the report says whether the image could be read).
    Done(ScanReport),
    /// No permit or no result within the time allowed.
    TimedOut {
        /// The time the scan was allowed.
        allowed: Duration,
    },
    /// The blocking task failed (a panic in a decoder): not completed.
    Failed,
}

/// The stage: trust list, register, limits and the permits, shared by every call.
#[derive(Debug)]
pub struct ScanStage {
    trust: ArcSwap<TrustList>,
    register: ArcSwapOption<VisaRegister>,
    permits: Arc<Semaphore>,
    budget: Duration,
    limits: Limits,
}

impl ScanStage {
    /// Loads the configured trust list and register (blocking file I/O). A configured file that
    /// fails to load is an error naming it: the operator asked for it.
    pub fn load(config: &crate::Config) -> Result<Self, ServerError> {
        let scan = &config.scan;
        let trust = match &scan.trust_list {
            Some(p) => load_trust_list(p)?,
            None => TrustList::empty(),
        };
        let register = scan
            .visa_register
            .as_deref()
            .map(load_visa_register)
            .transpose()?;
        Ok(Self {
            trust: ArcSwap::from_pointee(trust),
            register: ArcSwapOption::new(register.map(Arc::new)),
            permits: Arc::new(Semaphore::new(scan.permits())),
            budget: scan.budget,
            limits: Limits {
                max_bytes: config.limits.max_image_bytes,
                max_pixels: scan.max_pixels,
                ..Limits::default()
            },
        })
    }

    /// The active trust list.
    pub fn trust_list(&self) -> Arc<TrustList> {
        self.trust.load_full()
    }

    /// The active register, if one is loaded.
    pub fn visa_register(&self) -> Option<Arc<VisaRegister>> {
        self.register.load_full()
    }

    /// Replaces the trust list (for reloads and tests).
    pub fn set_trust_list(&self, trust: TrustList) {
        self.trust.store(Arc::new(trust));
    }

    /// Replaces the register (for reloads and tests).
    pub fn set_visa_register(&self, register: Option<VisaRegister>) {
        self.register.store(register.map(Arc::new));
    }

    /// The time a scan starting now may take: the budget, cut to what the client's deadline
    /// leaves.
    pub fn allowed(&self, deadline: &Deadline, now: Instant) -> Duration {
        deadline
            .budget(now)
            .map_or(self.budget, |left| left.min(self.budget))
    }

    /// Scans every image, at most `permits` at once server-wide, each cross-checked against
    /// `subject` (the passport's MRZ) on `today`. Results are in `images` order. The images are
    /// copied once into the blocking tasks (which must own what they read); that copy is
    /// microseconds beside a decode.
    pub async fn run(
        &self,
        images: &[&[u8]],
        subject: &Identity,
        today: NaiveDate,
        deadline: &Deadline,
    ) -> Vec<ScanOutcome> {
        let start = Instant::now();
        let allowed = self.allowed(deadline, start);
        let mut outcomes = vec![ScanOutcome::TimedOut { allowed }; images.len()];
        if images.is_empty() || allowed.is_zero() {
            return outcomes;
        }
        let trust = self.trust_list();
        let register = self.visa_register();
        let subject = Arc::new(subject.clone());
        let mut tasks = JoinSet::new();
        for (i, image) in images.iter().enumerate() {
            let permits = Arc::clone(&self.permits);
            let (trust, register, subject) =
                (Arc::clone(&trust), register.clone(), Arc::clone(&subject));
            let limits = self.limits;
            let image = image.to_vec();
            tasks.spawn(async move {
                let Ok(permit) = permits.acquire_owned().await else {
                    return (i, ScanOutcome::Failed);
                };
                // The permit moves into the blocking task: a scan that outlives its budget keeps
                // its core until it ends, so the bound on CPU holds even for abandoned scans.
                let job = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let checks = Checks {
                        trust: &trust,
                        register: register.as_deref(),
                        mrz: Some(&subject),
                        today,
                    };
                    checkpost_docscan::scan(&image, &limits, &checks)
                });
                match job.await {
                    Ok(report) => (i, ScanOutcome::Done(report)),
                    Err(_) => (i, ScanOutcome::Failed),
                }
            });
        }
        let collect = async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok((i, outcome)) = joined {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = outcome;
                    }
                }
            }
        };
        // On timeout the JoinSet is dropped, which aborts scans still waiting for a permit;
        // those already decoding finish on the blocking pool and are discarded.
        let _ = tokio::time::timeout_at(start + allowed, collect).await;
        outcomes
    }
}

impl AppState {
    /// Re-reads the configured trust list; on error the active one stays active. Returns the
    /// number of issuers now trusted (0 when no trust list is configured).
    pub fn reload_trust_list(&self) -> Result<usize, ServerError> {
        let Some(path) = &self.config.scan.trust_list else {
            return Ok(0);
        };
        let trust = load_trust_list(path)?;
        let n = trust.len();
        self.scan.set_trust_list(trust);
        Ok(n)
    }

    /// Re-reads the trust list and the register (on SIGHUP), logging each outcome; a bad file
    /// is logged and the active one stays.
    pub fn reload_scan_files_logged(&self) {
        match self.reload_trust_list() {
            Ok(n) => tracing::info!(issuers = n, "trust list reloaded"),
            Err(e) => tracing::error!(error = %e, "trust list NOT reloaded; the active one stays"),
        }
        match self.reload_visa_register() {
            Ok(n) => tracing::info!(visas = n, "visa register reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "visa register NOT reloaded; the active one stays")
            }
        }
    }

    /// Re-reads the configured issued-visa register; on error the active one stays active.
    /// Returns the number of visas now on it (0 when no register is configured).
    pub fn reload_visa_register(&self) -> Result<usize, ServerError> {
        let Some(path) = &self.config.scan.visa_register else {
            return Ok(0);
        };
        let register = load_visa_register(path)?;
        let n = register.len();
        self.scan.set_visa_register(Some(register));
        Ok(n)
    }
}

/// Where one scan's findings go: reasons for the engine, checks that did not run, and the wire.
#[derive(Debug, Default)]
pub struct Judged {
    /// Reasons for [`checkpost_engine::ScreenInput::external`].
    pub reasons: Vec<Reason>,
    /// Checks that did not run, for [`checkpost_engine::ScreenInput::incomplete`].
    pub incomplete: Vec<Incomplete>,
}

/// The level a docscan finding asks for. Every finding about a seal, a visa or the register is
/// SECOND_CHECK: a human looks at a visa the machine could not prove (the machine never
/// offloads on a scan alone). A page that carries no QR code, or one checkpost does not read, is
/// only a note unless it was sent as the visa page, which is expected to carry the seal.
pub fn level(code: ScanReasonCode, visa_page: bool) -> Decision {
    match code {
        ScanReasonCode::NoQrCode | ScanReasonCode::QrUnrecognized if !visa_page => Decision::Clear,
        _ => Decision::SecondCheck,
    }
}

impl Judged {
    /// Adds what scan `index` came to. `visa_page`: the counter sent it as the visa page.
    pub fn add(&mut self, index: usize, visa_page: bool, outcome: &ScanOutcome) {
        let report = match outcome {
            ScanOutcome::Done(report) => report,
            ScanOutcome::TimedOut { allowed } => {
                self.incomplete.push(Incomplete {
                    check: "scan".into(),
                    why: format!(
                        "scan {index} not completed: no result within {} (the scan budget or \
                         the client's deadline)",
                        humantime::format_duration(*allowed)
                    ),
                });
                return;
            }
            ScanOutcome::Failed => {
                self.incomplete.push(Incomplete {
                    check: "scan".into(),
                    why: format!("scan {index} not completed: the image decoder failed"),
                });
                return;
            }
        };
        if !report.completed {
            self.incomplete.push(Incomplete {
                check: "scan".into(),
                why: format!("scan {index} not completed: the image could not be read"),
            });
        }
        // Messages may name the visa holder: they go to the officer and the protected record,
        // never to the logs (the code does).
        self.reasons.extend(report.all_reasons().map(|r| {
            Reason::new(
                ReasonCode::External(r.code.as_str()),
                level(r.code, visa_page),
                format!("Scan {index}: {}", r.message),
            )
        }));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn the_scan_section_parses_and_resolves_paths_against_the_config_dir() {
        let text = r#"
            [scan]
            trust_list = "trust.toml"
            visa_register = "/abs/register.csv"
            budget = "150ms"
            max_concurrent = 3
            max_pixels = 1000
        "#;
        let c = Config::from_toml(text, "t.toml", Path::new("/cfg")).unwrap();
        assert_eq!(
            c.scan.trust_list.as_deref(),
            Some(Path::new("/cfg/trust.toml"))
        );
        assert_eq!(
            c.scan.visa_register.as_deref(),
            Some(Path::new("/abs/register.csv"))
        );
        assert_eq!(c.scan.budget, Duration::from_millis(150));
        assert_eq!(c.scan.permits(), 3);
        assert_eq!(c.scan.max_pixels, 1000);
    }

    #[test]
    fn an_empty_scan_section_trusts_no_one_with_the_default_budget_and_a_permit() {
        let c = Config::from_toml("", "t.toml", Path::new("/")).unwrap();
        assert_eq!(c.scan, ScanConfig::default());
        assert_eq!(c.scan.budget, DEFAULT_BUDGET);
        assert!(c.scan.permits() >= 1);
        let stage = ScanStage::load(&c).unwrap();
        assert!(stage.trust_list().is_empty());
        assert!(stage.visa_register().is_none());
    }

    #[test]
    fn an_unknown_scan_key_is_refused_naming_it() {
        let err = Config::from_toml("[scan]\nbudgt = \"1s\"\n", "cp.toml", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("budgt"), "{err}");
    }

    #[test]
    fn a_page_without_a_readable_code_is_a_note_unless_it_is_the_visa_page() {
        use ScanReasonCode as C;
        assert_eq!(level(C::NoQrCode, false), Decision::Clear);
        assert_eq!(level(C::QrUnrecognized, false), Decision::Clear);
        assert_eq!(level(C::NoQrCode, true), Decision::SecondCheck);
        assert_eq!(level(C::SealBadSignature, false), Decision::SecondCheck);
        assert_eq!(level(C::VisaExpired, true), Decision::SecondCheck);
    }

    #[test]
    fn an_unfinished_or_unreadable_scan_is_an_incomplete_check_and_findings_are_reasons() {
        let mut j = Judged::default();
        j.add(
            0,
            true,
            &ScanOutcome::TimedOut {
                allowed: Duration::from_millis(5),
            },
        );
        j.add(1, true, &ScanOutcome::Failed);
        let unreadable = checkpost_docscan::scan(
            b"not an image",
            &Limits::default(),
            &Checks {
                trust: &TrustList::empty(),
                register: None,
                mrz: None,
                today: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            },
        );
        j.add(2, false, &ScanOutcome::Done(unreadable));
        assert_eq!(j.incomplete.len(), 3);
        assert!(j.incomplete.iter().all(|i| i.check == "scan"));
        assert!(j.incomplete[0].why.contains("scan 0 not completed"));
        assert!(j.incomplete[0].why.contains("5ms"));
        assert_eq!(j.reasons.len(), 1);
        assert_eq!(j.reasons[0].code.as_str(), "IMAGE_UNSUPPORTED_FORMAT");
        assert_eq!(j.reasons[0].level, Decision::SecondCheck);
        assert!(j.reasons[0].message.starts_with("Scan 2:"));
    }

    fn stage(max_concurrent: usize, budget: Duration) -> ScanStage {
        let mut c = Config::default();
        c.scan.max_concurrent = max_concurrent;
        c.scan.budget = budget;
        ScanStage::load(&c).unwrap()
    }

    #[tokio::test]
    async fn a_zero_budget_times_every_scan_out_without_running_it() {
        let s = stage(1, Duration::ZERO);
        let out = s
            .run(
                &[b"a".as_slice(), b"b".as_slice()],
                &Identity::default(),
                NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                &Deadline::new(Instant::now(), None),
            )
            .await;
        assert_eq!(out.len(), 2);
        assert!(
            out.iter()
                .all(|o| matches!(o, ScanOutcome::TimedOut { .. }))
        );
    }

    #[tokio::test]
    async fn a_scan_that_cannot_get_a_permit_within_its_budget_is_not_completed() {
        let s = stage(1, Duration::from_millis(50));
        // Every permit is taken (as by scans of other calls) for the whole test.
        let _held = Arc::clone(&s.permits).acquire_owned().await.unwrap();
        let out = s
            .run(
                &[b"x".as_slice()],
                &Identity::default(),
                NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                &Deadline::new(Instant::now(), None),
            )
            .await;
        assert!(matches!(out[0], ScanOutcome::TimedOut { .. }), "{out:?}");
        assert_eq!(s.permits.available_permits(), 0);
    }

    #[tokio::test]
    async fn the_clients_deadline_cuts_the_budget() {
        let s = stage(1, Duration::from_secs(10));
        let now = Instant::now();
        let d = Deadline::new(now, Some(Duration::from_millis(100)));
        assert!(s.allowed(&d, now) < Duration::from_millis(100));
        assert_eq!(
            s.allowed(&Deadline::new(now, None), now),
            Duration::from_secs(10)
        );
        let with_permit = s
            .run(
                &[b"x".as_slice()],
                &Identity::default(),
                NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                &Deadline::new(now, None),
            )
            .await;
        // With a free permit the scan runs: this is no image, which docscan reports.
        match &with_permit[0] {
            ScanOutcome::Done(r) => assert!(!r.completed),
            other => panic!("{other:?}"),
        }
    }
}
