//! What a running server holds: the active snapshot (and the previous one, for rollback), the
//! SOP rules, the retry memory, the PII hasher, the audit sink and (once opened) the durable
//! store. Snapshots and rules are swapped atomically (`arc-swap`): a call in flight keeps the version it started with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use checkpost_engine::{ClearedMatches, NoneCleared, Rules, StalePolicy};
use checkpost_store::{DEFAULT_FILE_NAME, Durability, SqliteStore, Store};
use checkpost_watchlist::snapshot::{Snapshot, read_verifying_key};
use ed25519_dalek::VerifyingKey;

use crate::ServerError;
use crate::audit::{AuditSink, NoAudit};
use crate::config::{Config, DurabilityConfig};
use crate::durable::{DocumentHasher, StoreAudit, StoreCleared};
use crate::pii::PiiHasher;
use crate::retry::RetryMemory;

fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads HQ public key files.
pub fn read_pubkeys(paths: &[PathBuf]) -> Result<Vec<VerifyingKey>, ServerError> {
    paths
        .iter()
        .map(|p| {
            let text = String::from_utf8(read(p)?).map_err(|e| ServerError::PublicKey {
                path: p.clone(),
                message: e.to_string(),
            })?;
            read_verifying_key(&text).map_err(|e| ServerError::PublicKey {
                path: p.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Reads and verifies a snapshot file against the trusted keys.
pub fn load_snapshot(path: &Path, trusted: &[VerifyingKey]) -> Result<Snapshot, ServerError> {
    let bytes = read(path)?;
    Snapshot::load(&bytes, trusted).map_err(|e| ServerError::Snapshot {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads and validates a rules file.
pub fn load_rules(path: &Path) -> Result<Rules, ServerError> {
    let text = String::from_utf8(read(path)?).map_err(|e| ServerError::Rules {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Rules::from_toml(&text, &path.display().to_string()).map_err(|e| ServerError::Rules {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The active snapshot and the one before it.
#[derive(Debug, Default)]
pub struct SnapshotHolder {
    active: ArcSwapOption<Snapshot>,
    previous: ArcSwapOption<Snapshot>,
}

impl SnapshotHolder {
    /// The snapshot that answers now, if any.
    pub fn active(&self) -> Option<Arc<Snapshot>> {
        self.active.load_full()
    }

    /// The snapshot replaced by the last activation (kept for rollback, a later step).
    pub fn previous(&self) -> Option<Arc<Snapshot>> {
        self.previous.load_full()
    }

    /// Makes `snapshot` active; the old one becomes `previous`.
    pub fn activate(&self, snapshot: Snapshot) {
        let old = self.active.swap(Some(Arc::new(snapshot)));
        self.previous.store(old);
    }
}

/// Everything a call needs, shared by all calls.
pub struct AppState {
    /// The config the server started with.
    pub config: Config,
    /// HQ keys snapshots must be signed by.
    pub trusted: Vec<VerifyingKey>,
    /// Active and previous snapshot.
    pub snapshots: SnapshotHolder,
    /// Active SOP rules.
    pub rules: ArcSwap<Rules>,
    /// Idempotent retries.
    pub retry: RetryMemory,
    /// Hashes identifiers for logs.
    pub pii: PiiHasher,
    /// Where each screening is recorded before it is answered.
    pub audit: Arc<dyn AuditSink>,
    /// The cleared-match memory the engine consults.
    pub cleared: Arc<dyn ClearedMatches>,
    /// The durable store, when one is open (cases, retries after a restart, review).
    pub store: Option<Arc<dyn Store>>,
    /// The newest case event cursor, fed by the store's notifier (for `WatchCases`).
    pub case_cursor: Option<tokio::sync::watch::Receiver<u64>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("snapshot", &self.snapshots.active().map(|s| s.digest_hex()))
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Loads the configured keys, snapshot and rules (blocking file I/O: call it before serving
    /// or from `spawn_blocking`). A configured file that fails to load is an error: the operator
    /// asked for it.
    pub fn load(config: Config) -> Result<Self, ServerError> {
        let trusted = read_pubkeys(&config.hq_pubkeys)?;
        let snapshots = SnapshotHolder::default();
        if let Some(path) = &config.snapshot {
            if trusted.is_empty() {
                return Err(ServerError::Config {
                    source_name: "hq_pubkeys".into(),
                    message: "a snapshot is configured but no HQ public key to verify it".into(),
                });
            }
            snapshots.activate(load_snapshot(path, &trusted)?);
        }
        let rules = match &config.rules {
            Some(path) => load_rules(path)?,
            None => Rules::empty(),
        };
        Ok(Self {
            trusted,
            snapshots,
            rules: ArcSwap::from_pointee(rules),
            retry: RetryMemory::new(config.idempotency.capacity, config.idempotency.ttl),
            pii: PiiHasher::new(config.log_hash_key()?),
            audit: Arc::new(NoAudit),
            cleared: Arc::new(NoneCleared),
            store: None,
            case_cursor: None,
            config,
        })
    }

    /// Replaces the audit sink (the store plugs in here).
    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }

    /// Opens the durable store in the config's data dir and wires it in (blocking file I/O).
    pub fn open_store(self) -> Result<Self, ServerError> {
        let dir = self.config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io {
            path: dir.clone(),
            source,
        })?;
        let durability = match self.config.durability {
            DurabilityConfig::PowerLoss => Durability::PowerLoss,
            DurabilityConfig::ProcessCrash => Durability::ProcessCrash,
        };
        let store = SqliteStore::open_with(dir.join(DEFAULT_FILE_NAME), durability)?;
        let hasher = DocumentHasher::load_or_create(&dir)?;
        Ok(self.with_store(Arc::new(store), hasher))
    }

    /// Wires `store` in: the audit sink, the cleared-match memory, retries and review.
    pub fn with_store(mut self, store: Arc<dyn Store>, hasher: DocumentHasher) -> Self {
        self.audit = Arc::new(StoreAudit::new(Arc::clone(&store), hasher.clone()));
        self.cleared = Arc::new(StoreCleared::new(Arc::clone(&store), hasher));
        // One subscription for the whole server: the writer thread only stores the newest
        // cursor in the watch channel; each WatchCases stream waits on its own receiver.
        let (tx, rx) = tokio::sync::watch::channel(store.notifier().latest());
        store.notifier().subscribe(Box::new(move |cursor| {
            tx.send_replace(cursor);
        }));
        self.case_cursor = Some(rx);
        self.store = Some(store);
        self
    }

    /// Re-reads the rules file; on error the active rules stay active.
    pub fn reload_rules(&self) -> Result<usize, ServerError> {
        let Some(path) = &self.config.rules else {
            return Ok(0);
        };
        let rules = load_rules(path)?;
        let n = rules.len();
        self.rules.store(Arc::new(rules));
        Ok(n)
    }

    /// Loads a snapshot file and activates it; on error the active snapshot stays active.
    pub fn load_and_activate(&self, path: &Path) -> Result<(), ServerError> {
        let snap = load_snapshot(path, &self.trusted)?;
        self.snapshots.activate(snap);
        Ok(())
    }

    /// The engine's stale policy from the config.
    pub fn stale_policy(&self) -> StalePolicy {
        self.config.stale_policy
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const RULE: &str = r#"
[[rule]]
id = "MINOR-WITHOUT-GUARDIAN"
description = "test"
direction = "DEPARTURE"
max_age = 17
guardian_present = false
decision = "SECOND_CHECK"
protection_referral = true
"#;

    #[test]
    fn a_bad_rules_file_on_reload_keeps_the_active_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sop.toml");
        std::fs::write(&path, RULE).unwrap();
        let config = Config {
            rules: Some(path.clone()),
            ..Config::default()
        };
        let state = AppState::load(config).unwrap();
        assert_eq!(state.rules.load().len(), 1);

        std::fs::write(
            &path,
            format!("{RULE}{}", RULE.replace("MINOR-WITHOUT-GUARDIAN", "SECOND")),
        )
        .unwrap();
        assert_eq!(state.reload_rules().unwrap(), 2);

        std::fs::write(&path, "[[rule]]\nid = \"X\"\nbogus_key = 1\n").unwrap();
        let err = state.reload_rules().unwrap_err();
        assert!(err.to_string().contains("sop.toml"), "{err}");
        assert_eq!(state.rules.load().len(), 2);
    }

    #[test]
    fn a_snapshot_without_a_trusted_key_is_refused_at_start() {
        let config = Config {
            snapshot: Some("/nonexistent.cpsnap".into()),
            ..Config::default()
        };
        let err = AppState::load(config).unwrap_err();
        assert!(err.to_string().contains("hq_pubkeys"), "{err}");
    }

    #[test]
    fn activating_a_snapshot_keeps_the_previous_one_for_rollback() {
        use checkpost_watchlist::snapshot::SnapshotHeader;
        let holder = SnapshotHolder::default();
        assert!(holder.active().is_none());
        let header = |v: &str| SnapshotHeader {
            format_version: checkpost_watchlist::snapshot::FORMAT_VERSION,
            version: v.into(),
            created_at: chrono::Utc::now(),
            counts: Vec::new(),
            body_digest: [0; 32],
            signer: [0; 32],
        };
        holder.activate(Snapshot::from_entries(header("a"), Vec::new()));
        holder.activate(Snapshot::from_entries(header("b"), Vec::new()));
        assert_eq!(holder.active().unwrap().header.version, "b");
        assert_eq!(holder.previous().unwrap().header.version, "a");
    }
}
