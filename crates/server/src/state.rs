//! What a running server holds: the active snapshot (and the previous one, for rollback), the
//! SOP rules, the retry memory, the PII hasher, the audit sink and (once opened) the durable
//! store. Snapshots and rules are swapped atomically (`arc-swap`): a call in flight keeps the version it started with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// Most verified snapshots kept waiting for `ActivateSnapshot` (each one of 1M entries holds about
/// 600 MB, so the staging area is small on purpose; the oldest upload is dropped first).
pub const MAX_STAGED: usize = 2;

/// The active snapshot, the one before it (for rollback) and the verified uploads waiting to be
/// activated. Readers ([`SnapshotHolder::active`]) never block: the slots are `arc-swap`s. Writers
/// (activate, rollback, stage) take one short lock so that a check ("is it newer?") and the swap
/// it guards are one step; the lock is never held across an await or while a file is verified.
/// A snapshot's memory is released when the last call holding its `Arc` finishes.
#[derive(Debug)]
pub struct SnapshotHolder {
    active: ArcSwapOption<Snapshot>,
    previous: ArcSwapOption<Snapshot>,
    staged: Mutex<Vec<Arc<Snapshot>>>,
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for SnapshotHolder {
    fn default() -> Self {
        Self {
            active: ArcSwapOption::empty(),
            previous: ArcSwapOption::empty(),
            staged: Mutex::new(Vec::new()),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl SnapshotHolder {
    /// The snapshot that answers now, if any.
    pub fn active(&self) -> Option<Arc<Snapshot>> {
        self.active.load_full()
    }

    /// The snapshot replaced by the last activation, kept for rollback.
    pub fn previous(&self) -> Option<Arc<Snapshot>> {
        self.previous.load_full()
    }

    /// Verified uploads waiting for activation, oldest upload first.
    pub fn staged(&self) -> Vec<Arc<Snapshot>> {
        self.writer().clone()
    }

    /// A receiver that sees a new value after every change of the active snapshot.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Makes `snapshot` active unconditionally (start-up); the old one becomes `previous`.
    pub fn activate(&self, snapshot: Snapshot) {
        let mut staged = self.writer();
        self.swap_in(&mut staged, Arc::new(snapshot));
    }

    /// Makes `snapshot` active if it is newer than the active one (by its signed `created_at`).
    pub fn activate_if_newer(&self, snapshot: Arc<Snapshot>) -> Result<(), ServerError> {
        let mut staged = self.writer();
        self.check_newer(&snapshot)?;
        self.swap_in(&mut staged, snapshot);
        Ok(())
    }

    /// Activates the staged snapshot with `digest` (hex, any case), if it is newer than the
    /// active one; it leaves the staging area.
    pub fn activate_staged(&self, digest: &str) -> Result<Arc<Snapshot>, ServerError> {
        let mut staged = self.writer();
        let wanted = digest.trim().to_ascii_lowercase();
        let Some(pos) = staged.iter().position(|s| s.digest_hex() == wanted) else {
            return Err(ServerError::SnapshotNotStaged {
                digest: digest.to_string(),
                staged: staged_list(&staged),
            });
        };
        let snapshot = Arc::clone(&staged[pos]);
        self.check_newer(&snapshot)?;
        self.swap_in(&mut staged, Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// Swaps the active and the previous snapshot (so a second rollback undoes the first).
    pub fn rollback(&self) -> Result<Arc<Snapshot>, ServerError> {
        let _guard = self.writer();
        let previous = self
            .previous
            .load_full()
            .ok_or(ServerError::NoPreviousSnapshot)?;
        let old = self.active.swap(Some(Arc::clone(&previous)));
        self.previous.store(old);
        self.changes.send_modify(|n| *n += 1);
        Ok(previous)
    }

    /// Keeps a verified snapshot for a later [`SnapshotHolder::activate_staged`]; refuses one
    /// that is not newer than the active snapshot. A snapshot with the digest of one already
    /// staged replaces it; past [`MAX_STAGED`] the oldest upload is dropped.
    pub fn stage(&self, snapshot: Arc<Snapshot>) -> Result<(), ServerError> {
        let mut staged = self.writer();
        self.check_newer(&snapshot)?;
        staged.retain(|s| s.header.body_digest != snapshot.header.body_digest);
        staged.push(snapshot);
        while staged.len() > MAX_STAGED {
            staged.remove(0);
        }
        Ok(())
    }

    /// The writer lock. A panic while it was held cannot leave the slots half-swapped (each
    /// swap is atomic), so a poisoned lock is simply taken over.
    fn writer(&self) -> MutexGuard<'_, Vec<Arc<Snapshot>>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_newer(&self, candidate: &Snapshot) -> Result<(), ServerError> {
        match self.active.load().as_deref() {
            Some(active) if candidate.header.created_at <= active.header.created_at => {
                Err(ServerError::SnapshotNotNewer {
                    version: candidate.header.version.clone(),
                    digest: candidate.digest_hex(),
                    created_at: candidate.header.created_at.to_rfc3339(),
                    active_version: active.header.version.clone(),
                    active_created_at: active.header.created_at.to_rfc3339(),
                })
            }
            _ => Ok(()),
        }
    }

    fn swap_in(&self, staged: &mut Vec<Arc<Snapshot>>, snapshot: Arc<Snapshot>) {
        staged.retain(|s| !Arc::ptr_eq(s, &snapshot));
        let old = self.active.swap(Some(snapshot));
        self.previous.store(old);
        self.changes.send_modify(|n| *n += 1);
    }
}

fn staged_list(staged: &[Arc<Snapshot>]) -> String {
    if staged.is_empty() {
        return "none".to_string();
    }
    staged
        .iter()
        .map(|s| s.digest_hex())
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `snapshot` is older than `stale_after` at `now` (the engine's rule).
pub fn is_stale(
    snapshot: &Snapshot,
    now: chrono::DateTime<chrono::Utc>,
    stale_after: std::time::Duration,
) -> bool {
    chrono::Duration::from_std(stale_after).is_ok_and(|limit| snapshot.age(now) > limit)
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
    /// Intraday signed deltas over the active snapshot (`crate::deltas`).
    pub deltas: crate::deltas::Deltas,
    /// Prometheus counters and histograms moved on the hot path (`crate::metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The scan stage: trust list, visa register, scan permits (see [`crate::scanstage`]).
    pub scan: crate::scanstage::ScanStage,
    /// The post's offset from UTC (`utc_offset`): "today" is the date at the post.
    pub local_offset: chrono::FixedOffset,
    /// What load shedding refused (see [`crate::shed`]).
    pub shed: Arc<crate::shed::ShedStats>,
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
            deltas: crate::deltas::Deltas::default(),
            metrics: crate::metrics::Metrics::new(),
            scan: crate::scanstage::ScanStage::load(&config)?,
            shed: Arc::default(),
            local_offset: config.local_offset()?,
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
        crate::deltas::load(&self)?;
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

    /// Loads a snapshot file and activates it (newer or not: ops named this file); on error the
    /// active snapshot stays active.
    pub fn load_and_activate(&self, path: &Path) -> Result<(), ServerError> {
        let snap = load_snapshot(path, &self.trusted)?;
        self.snapshots.activate(snap);
        self.after_swap();
        Ok(())
    }

    /// Makes a verified snapshot active if it is newer than the active one.
    pub fn activate_snapshot(&self, snapshot: Arc<Snapshot>) -> Result<(), ServerError> {
        self.snapshots.activate_if_newer(snapshot)?;
        self.after_swap();
        Ok(())
    }

    /// Activates the staged snapshot with `digest` if it is newer than the active one.
    pub fn activate_staged_snapshot(&self, digest: &str) -> Result<Arc<Snapshot>, ServerError> {
        let snapshot = self.snapshots.activate_staged(digest)?;
        self.after_swap();
        Ok(snapshot)
    }

    /// Swaps the active and the previous snapshot.
    pub fn rollback_snapshot(&self) -> Result<Arc<Snapshot>, ServerError> {
        let snapshot = self.snapshots.rollback()?;
        self.after_swap();
        Ok(snapshot)
    }

    /// True when no snapshot is active or the active one is older than `stale_after` at `now`
    /// (the engine's rule: every decision then carries SNAPSHOT_STALE).
    pub fn snapshot_is_stale(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.snapshots
            .active()
            .is_none_or(|s| is_stale(&s, now, self.config.stale_after))
    }

    /// Every change of the active snapshot ends here: the delta overlay is rebased onto it
    /// (blocking file I/O: the deltas the new snapshot supersedes are deleted).
    fn after_swap(&self) {
        crate::deltas::rebase(self);
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

    fn snap(version: &str, hours_ago: i64) -> Arc<Snapshot> {
        use checkpost_watchlist::snapshot::SnapshotHeader;
        let mut digest = [0u8; 32];
        digest[..version.len()].copy_from_slice(version.as_bytes());
        Arc::new(Snapshot::from_entries(
            SnapshotHeader {
                format_version: checkpost_watchlist::snapshot::FORMAT_VERSION,
                version: version.into(),
                created_at: chrono::Utc::now() - chrono::Duration::hours(hours_ago),
                counts: Vec::new(),
                body_digest: digest,
                signer: [0; 32],
            },
            Vec::new(),
        ))
    }

    #[test]
    fn rollback_swaps_active_and_previous_and_needs_a_previous() {
        let holder = SnapshotHolder::default();
        assert!(matches!(
            holder.rollback(),
            Err(ServerError::NoPreviousSnapshot)
        ));
        holder.activate_if_newer(snap("a", 2)).unwrap();
        assert!(matches!(
            holder.rollback(),
            Err(ServerError::NoPreviousSnapshot)
        ));
        holder.activate_if_newer(snap("b", 1)).unwrap();
        holder.rollback().unwrap();
        assert_eq!(holder.active().unwrap().header.version, "a");
        assert_eq!(holder.previous().unwrap().header.version, "b");
        holder.rollback().unwrap();
        assert_eq!(holder.active().unwrap().header.version, "b");
    }

    #[test]
    fn an_older_or_same_snapshot_is_neither_staged_nor_activated() {
        let holder = SnapshotHolder::default();
        let b = snap("b", 1);
        holder.activate_if_newer(Arc::clone(&b)).unwrap();
        for refused in [snap("a", 2), Arc::clone(&b)] {
            assert!(matches!(
                holder.stage(Arc::clone(&refused)),
                Err(ServerError::SnapshotNotNewer { .. })
            ));
            assert!(matches!(
                holder.activate_if_newer(refused),
                Err(ServerError::SnapshotNotNewer { .. })
            ));
        }
        assert!(holder.staged().is_empty());
        assert_eq!(holder.active().unwrap().header.version, "b");
    }

    #[test]
    fn at_most_two_snapshots_are_staged_and_activation_takes_one_out() {
        let holder = SnapshotHolder::default();
        let mut changes = holder.subscribe();
        for v in ["c", "d", "e"] {
            holder.stage(snap(v, 0)).unwrap();
        }
        let staged: Vec<_> = holder
            .staged()
            .iter()
            .map(|s| s.header.version.clone())
            .collect();
        assert_eq!(staged, ["d", "e"]);
        let e = holder.staged()[1].digest_hex();
        assert!(!changes.has_changed().unwrap());
        holder.activate_staged(&e.to_uppercase()).unwrap();
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert_eq!(holder.active().unwrap().header.version, "e");
        assert_eq!(holder.staged().len(), 1);
        let err = holder.activate_staged("00ff").unwrap_err();
        assert!(
            matches!(err, ServerError::SnapshotNotStaged { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains(&holder.staged()[0].digest_hex()),
            "{err}"
        );
    }

    #[test]
    fn a_replaced_snapshot_is_freed_once_no_call_holds_it() {
        let holder = SnapshotHolder::default();
        let a = snap("a", 3);
        let weak = Arc::downgrade(&a);
        holder.activate_if_newer(a).unwrap();
        let in_flight = holder.active().unwrap();
        holder.activate_if_newer(snap("b", 2)).unwrap();
        holder.activate_if_newer(snap("c", 1)).unwrap();
        assert!(weak.upgrade().is_some(), "a call in flight still holds it");
        drop(in_flight);
        assert!(weak.upgrade().is_none(), "nothing holds it any more");
    }
}
