//! The server's configuration: a TOML file whose every key the `serve` flags can override.
//! Paths are resolved relative to the config file's directory, so a config can point at the
//! files beside it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use checkpost_engine::StalePolicy;
use serde::Deserialize;

use crate::ServerError;

/// Everything `serve` needs. Build it with [`Config::from_toml`] or [`Config::default`] and
/// then override fields directly (the CLI does this with its flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:50051`: loopback unless ops say otherwise.
    pub listen: SocketAddr,
    /// The signed watchlist snapshot to load at start; `None` runs with no snapshot, and every
    /// screening then fails closed (SECOND_CHECK, reason NO_SNAPSHOT).
    pub snapshot: Option<PathBuf>,
    /// HQ public keys (files) whose signatures the post trusts.
    pub hq_pubkeys: Vec<PathBuf>,
    /// The SOP rules file; `None` runs with no rules.
    pub rules: Option<PathBuf>,
    /// Where durable state (audit trail, cases, evidence) lives.
    pub data_dir: PathBuf,
    /// What an acknowledged screening survives: `power-loss` (the default; one fsync per
    /// group-committed batch) or `process-crash` (no fsync per commit, for disks whose fsync
    /// latency breaks the budget — an explicit, audited choice of the operator).
    pub durability: DurabilityConfig,
    /// A snapshot older than this is stale.
    #[serde(with = "humantime_serde_compat")]
    pub stale_after: Duration,
    /// What a stale snapshot does to a decision.
    pub stale_policy: StalePolicy,
    /// Request size limits.
    pub limits: Limits,
    /// Retry memory for `client_request_id`.
    pub idempotency: IdempotencyConfig,
    /// Key (64 hex chars) for the keyed blake3 hashes that stand in for document numbers and
    /// CNICs in logs. Unset: a random key per process (hashes then correlate within one run only).
    pub log_hash_key: Option<String>,
    /// A directory the nightly job copies signed snapshots into: the newest valid one is
    /// activated by itself. `None`: only the config's `snapshot` and the Watchlists RPCs.
    pub snapshot_dir: Option<PathBuf>,
    /// How often `snapshot_dir` is scanned, e.g. `"10s"`. A file is read only once its size and
    /// modification time are unchanged across two scans, so a copy in progress is never half-read.
    #[serde(with = "humantime_serde_compat")]
    pub snapshot_dir_poll: Duration,
    /// Authentication and roles (`[auth]`).
    pub auth: crate::auth::AuthConfig,
    /// The Prometheus endpoint (`[metrics]`).
    pub metrics: crate::metrics::MetricsConfig,
    /// The scan stage (`[scan]`): trust list, visa register, time budget.
    pub scan: crate::scanstage::ScanConfig,
    /// The post's offset from UTC, e.g. `"+05:00"` for Pakistan. "Today" — for document
    /// expiry, ages, list validity windows and visa validity — is the date at the post.
    /// Default `"+00:00"`.
    pub utc_offset: String,
}

/// What an acknowledged write survives (`checkpost_store::Durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DurabilityConfig {
    /// Survives power loss: every commit fsyncs (the default).
    #[default]
    PowerLoss,
    /// Survives the process being killed, not the machine losing power.
    ProcessCrash,
}

/// Hard limits on what a request may carry. A request past `max_message_bytes`, `max_mrz_bytes`
/// or `max_scans` is refused with RESOURCE_EXHAUSTED; an image past `max_image_bytes` is a
/// per-scan reason (the contract says so), which fails the screening closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest encoded request accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest MRZ text accepted, in bytes.
    pub max_mrz_bytes: usize,
    /// Most scans in one request.
    pub max_scans: usize,
    /// Largest single scan image, in bytes.
    pub max_image_bytes: usize,
    /// Largest snapshot file `Watchlists/UploadSnapshot` accepts, in bytes (a 1M-entry snapshot
    /// is about 110 MB); past it the upload is refused with RESOURCE_EXHAUSTED.
    pub max_snapshot_bytes: usize,
    /// Most `Screen` calls worked on at once; the next is refused at once with UNAVAILABLE
    /// (retryable) rather than queued until every call misses its deadline.
    pub max_in_flight_screens: usize,
    /// After SIGTERM, how long calls in flight may take to finish and clients to hang up before
    /// the server stops anyway. A counter that vanished from the network without closing its
    /// connection would otherwise hold the shutdown open forever (HTTP/2's graceful close waits
    /// for the peer). Every answered screening is already durable, so stopping loses nothing
    /// that was acknowledged.
    #[serde(with = "humantime_serde_compat")]
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024 * 1024,
            max_mrz_bytes: 512,
            max_scans: 4,
            max_image_bytes: 4 * 1024 * 1024,
            max_snapshot_bytes: 1024 * 1024 * 1024,
            max_in_flight_screens: 512,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The in-memory retry memory (the durable store answers for ids it has forgotten).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// Most remembered requests; the least recently used is forgotten first.
    pub capacity: usize,
    /// How long a decision is replayed for.
    #[serde(with = "humantime_serde_compat")]
    pub ttl: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            snapshot: None,
            hq_pubkeys: Vec::new(),
            rules: None,
            data_dir: PathBuf::from("data"),
            durability: DurabilityConfig::PowerLoss,
            stale_after: Duration::from_secs(36 * 3600),
            stale_policy: StalePolicy::Escalate,
            limits: Limits::default(),
            idempotency: IdempotencyConfig::default(),
            log_hash_key: None,
            snapshot_dir: None,
            snapshot_dir_poll: Duration::from_secs(10),
            auth: crate::auth::AuthConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            scan: crate::scanstage::ScanConfig::default(),
            utc_offset: "+00:00".into(),
        }
    }
}

impl Config {
    /// Parses a config file's text. `source` names the file in errors; relative paths are
    /// resolved against `base` (the file's directory).
    pub fn from_toml(text: &str, source: &str, base: &Path) -> Result<Self, ServerError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ServerError::Config {
            source_name: source.to_string(),
            message: e.to_string(),
        })?;
        config.resolve_paths(base);
        Ok(config)
    }

    /// Makes every relative path absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.snapshot.as_mut() {
            fix(p);
        }
        if let Some(p) = self.rules.as_mut() {
            fix(p);
        }
        self.hq_pubkeys.iter_mut().for_each(fix);
        fix(&mut self.data_dir);
        if let Some(p) = self.snapshot_dir.as_mut() {
            fix(p);
        }
        self.auth.resolve_paths(base);
        self.metrics.resolve_paths(base);
        self.scan.resolve_paths(base);
    }

    /// The post's offset from UTC, from `utc_offset`.
    pub fn local_offset(&self) -> Result<chrono::FixedOffset, ServerError> {
        self.utc_offset
            .trim()
            .parse()
            .map_err(|e| ServerError::Config {
                source_name: "utc_offset".to_string(),
                message: format!(
                    "{:?} is not an offset like \"+05:00\": {e}",
                    self.utc_offset
                ),
            })
    }

    /// The key for PII hashes in logs, from `log_hash_key` or random.
    pub fn log_hash_key(&self) -> Result<[u8; 32], ServerError> {
        match &self.log_hash_key {
            None => Ok(rand::random()),
            Some(h) => {
                let mut key = [0u8; 32];
                hex::decode_to_slice(h.trim(), &mut key).map_err(|e| ServerError::Config {
                    source_name: "log_hash_key".to_string(),
                    message: format!("must be 64 hex characters: {e}"),
                })?;
                Ok(key)
            }
        }
    }
}

/// Durations in the config are human strings (`"36h"`, `"90s"`), read by `humantime`; every
/// config section uses this one reader (`#[serde(with = "crate::config::humantime_serde_compat")]`).
pub(crate) mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_loopback_defaults() {
        let c = Config::from_toml("", "t.toml", Path::new("/etc/cp")).unwrap();
        assert_eq!(c.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(c.limits.max_mrz_bytes, 512);
        assert_eq!(c.stale_policy, StalePolicy::Escalate);
        assert_eq!(c.durability, DurabilityConfig::PowerLoss);
        assert_eq!(c.data_dir, Path::new("/etc/cp/data"));
    }

    #[test]
    fn every_key_parses_and_paths_resolve_against_the_config_dir() {
        let text = r#"
            listen = "127.0.0.1:7000"
            snapshot = "snap.cpsnap"
            hq_pubkeys = ["hq.pub", "/abs/hq2.pub"]
            rules = "sop.toml"
            data_dir = "/var/lib/cp"
            durability = "process-crash"
            stale_after = "2h"
            stale_policy = "annotate"
            log_hash_key = "0000000000000000000000000000000000000000000000000000000000000001"
            [limits]
            max_message_bytes = 1000
            max_mrz_bytes = 100
            max_scans = 1
            max_image_bytes = 10
            [idempotency]
            capacity = 5
            ttl = "10m"
        "#;
        let c = Config::from_toml(text, "t.toml", Path::new("/cfg")).unwrap();
        assert_eq!(c.snapshot.as_deref(), Some(Path::new("/cfg/snap.cpsnap")));
        assert_eq!(c.hq_pubkeys[1], Path::new("/abs/hq2.pub"));
        assert_eq!(c.stale_after, Duration::from_secs(7200));
        assert_eq!(c.stale_policy, StalePolicy::Annotate);
        assert_eq!(c.durability, DurabilityConfig::ProcessCrash);
        assert_eq!(c.limits.max_scans, 1);
        assert_eq!(c.idempotency.ttl, Duration::from_secs(600));
        assert_eq!(c.log_hash_key().unwrap()[31], 1);
    }

    #[test]
    fn the_posts_utc_offset_parses_and_a_bad_one_is_refused_naming_the_key() {
        let c = Config::from_toml("utc_offset = \"+05:00\"", "t.toml", Path::new("/")).unwrap();
        assert_eq!(c.local_offset().unwrap().local_minus_utc(), 5 * 3600);
        assert_eq!(
            Config::default().local_offset().unwrap().local_minus_utc(),
            0
        );
        let bad = Config {
            utc_offset: "PKT".into(),
            ..Config::default()
        };
        let msg = bad.local_offset().unwrap_err().to_string();
        assert!(msg.contains("utc_offset") && msg.contains("PKT"), "{msg}");
    }

    #[test]
    fn an_unknown_key_is_refused_naming_the_file_and_key() {
        let err = Config::from_toml("listn = \"x\"", "cp.toml", Path::new("/")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cp.toml") && msg.contains("listn"), "{msg}");
    }
}
