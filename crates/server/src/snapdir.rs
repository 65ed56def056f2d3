//! The snapshot drop directory (`snapshot_dir`): the nightly job copies signed snapshots into it,
//! and the newest valid one that is newer than the active snapshot is activated by itself.
//!
//! Only `*.cpsnap` files are considered, and a file is read only after its size and modification
//! time held still across two scans, so a copy in progress is never half-read (a job that copies
//! to `name.tmp` and renames is safe at once). A file that fails (unreadable header, bad
//! signature, corrupt body…) is logged once, by name and reason, and not read again until it
//! changes. Headers are read first (a few bytes each) to pick the newest candidate, so an old or
//! bad file never costs a full verification of a large one.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use checkpost_watchlist::snapshot::{MAX_HEADER_BYTES, Snapshot, SnapshotHeader, read_header};

use crate::ServerError;
use crate::state::AppState;

/// The extension of the files the watcher reads.
pub const EXTENSION: &str = "cpsnap";

/// Bytes that always hold a snapshot's preamble, header and signature.
const HEAD_BYTES: u64 = 16 + MAX_HEADER_BYTES as u64 + 4 + 64;

/// What a scan did with one file (or the directory), for the log and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirEvent {
    /// The file verified and is now the active snapshot.
    Activated {
        /// File name.
        file: String,
        /// The snapshot's version label.
        version: String,
        /// Its digest, hex.
        digest: String,
    },
    /// The file was refused; it is not read again until it changes.
    Refused {
        /// File name.
        file: String,
        /// Why, from the loader.
        reason: String,
    },
    /// The file is not newer than the active snapshot; it is not read again until it changes.
    NotNewer {
        /// File name.
        file: String,
        /// The version label its (unverified) header gives.
        version: String,
    },
    /// The directory itself could not be listed (logged once until it can be again).
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// Size and modification time: a file whose stamp changed is being written, or was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// The watcher's memory between scans. [`SnapshotDir::scan`] is blocking file I/O: run it on
/// the blocking pool ([`watch`] does).
#[derive(Debug)]
pub struct SnapshotDir {
    dir: PathBuf,
    /// Stamps seen by the previous scan.
    seen: HashMap<PathBuf, Stamp>,
    /// Files already dealt with (activated, refused, not newer), at the stamp they had then.
    settled: HashMap<PathBuf, Stamp>,
    /// The directory could not be listed at the last scan (already logged).
    unreadable: bool,
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn read_head(path: &Path) -> Result<SnapshotHeader, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    file.take(HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    read_header(&head).map_err(|e| e.to_string())
}

/// Why a full read did not produce a snapshot.
enum LoadFailure {
    /// The file changed while it was read: try again at the next scan.
    Changed,
    /// The file is bad.
    Refused(String),
}

fn load(path: &Path, stamp: Stamp, state: &AppState) -> Result<Snapshot, LoadFailure> {
    let bytes = std::fs::read(path).map_err(|e| LoadFailure::Refused(e.to_string()))?;
    let now = std::fs::metadata(path).map_err(|e| LoadFailure::Refused(e.to_string()))?;
    if Stamp::of(&now) != stamp || bytes.len() as u64 != stamp.len {
        return Err(LoadFailure::Changed);
    }
    Snapshot::load(&bytes, &state.trusted).map_err(|e| LoadFailure::Refused(e.to_string()))
}

impl SnapshotDir {
    /// A watcher of `dir` that has seen nothing yet.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seen: HashMap::new(),
            settled: HashMap::new(),
            unreadable: false,
        }
    }

    fn list(&self) -> std::io::Result<HashMap<PathBuf, Stamp>> {
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != EXTENSION) {
                continue;
            }
            // A file that vanished between listing and stat is simply not there.
            if let Ok(meta) = entry.metadata()
                && meta.is_file()
            {
                files.insert(path, Stamp::of(&meta));
            }
        }
        Ok(files)
    }

    /// One scan: activates the newest settled, valid file newer than the active snapshot.
    pub fn scan(&mut self, state: &AppState) -> Vec<DirEvent> {
        let listing = match self.list() {
            Ok(l) => {
                self.unreadable = false;
                l
            }
            Err(e) if !self.unreadable => {
                self.unreadable = true;
                return vec![DirEvent::Unreadable {
                    reason: format!("{}: {e}", self.dir.display()),
                }];
            }
            Err(_) => return Vec::new(),
        };
        let previous = std::mem::replace(&mut self.seen, listing);
        self.settled
            .retain(|path, stamp| self.seen.get(path) == Some(stamp));
        let ready: Vec<(PathBuf, Stamp)> = self
            .seen
            .iter()
            .filter(|(path, stamp)| {
                previous.get(*path) == Some(*stamp) && self.settled.get(*path) != Some(*stamp)
            })
            .map(|(p, s)| (p.clone(), *s))
            .collect();

        let mut events = Vec::new();
        let mut candidates = Vec::new();
        for (path, stamp) in ready {
            match read_head(&path) {
                Ok(header) => candidates.push((header, path, stamp)),
                Err(reason) => {
                    events.push(DirEvent::Refused {
                        file: name(&path),
                        reason,
                    });
                    self.settled.insert(path, stamp);
                }
            }
        }
        // Newest first (by the unverified header; the activation re-checks the verified one).
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0.created_at));
        let mut activated = false;
        for (header, path, stamp) in candidates {
            let newer = state
                .snapshots
                .active()
                .is_none_or(|a| header.created_at > a.header.created_at);
            if activated || !newer {
                events.push(DirEvent::NotNewer {
                    file: name(&path),
                    version: header.version,
                });
                self.settled.insert(path, stamp);
                continue;
            }
            match load(&path, stamp, state) {
                Err(LoadFailure::Changed) => {}
                Err(LoadFailure::Refused(reason)) => {
                    events.push(DirEvent::Refused {
                        file: name(&path),
                        reason,
                    });
                    self.settled.insert(path, stamp);
                }
                Ok(snapshot) => {
                    let (version, digest) =
                        (snapshot.header.version.clone(), snapshot.digest_hex());
                    match state.activate_snapshot(Arc::new(snapshot)) {
                        Ok(()) => {
                            activated = true;
                            events.push(DirEvent::Activated {
                                file: name(&path),
                                version,
                                digest,
                            });
                        }
                        Err(ServerError::SnapshotNotNewer { .. }) => {
                            events.push(DirEvent::NotNewer {
                                file: name(&path),
                                version,
                            });
                        }
                        Err(e) => events.push(DirEvent::Refused {
                            file: name(&path),
                            reason: e.to_string(),
                        }),
                    }
                    self.settled.insert(path, stamp);
                }
            }
        }
        events
    }
}

fn log(dir: &Path, event: &DirEvent) {
    let dir = dir.display();
    match event {
        DirEvent::Activated {
            file,
            version,
            digest,
        } => tracing::info!(%dir, file, version, digest, "snapshot from snapshot_dir activated"),
        DirEvent::Refused { file, reason } => {
            tracing::warn!(%dir, file, reason, "snapshot_dir file refused; it is skipped until it changes")
        }
        DirEvent::NotNewer { file, version } => {
            tracing::info!(%dir, file, version, "snapshot_dir file is not newer than the active snapshot; skipped")
        }
        DirEvent::Unreadable { reason } => {
            tracing::warn!(%dir, reason, "snapshot_dir cannot be listed")
        }
    }
}

/// Scans `dir` every `every` until `stopping` turns true (each scan on the blocking pool).
pub async fn watch(
    state: Arc<AppState>,
    dir: PathBuf,
    every: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut watcher = SnapshotDir::new(dir.clone());
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(dir = %dir.display(), every = ?every, "watching snapshot_dir");
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            stopped = stopping.wait_for(|s| *s) => {
                let _ = stopped.map(drop);
                return;
            }
        }
        let state = Arc::clone(&state);
        let scanned = tokio::task::spawn_blocking(move || {
            let events = watcher.scan(&state);
            (watcher, events)
        })
        .await;
        match scanned {
            Ok((w, events)) => {
                watcher = w;
                events.iter().for_each(|e| log(&dir, e));
            }
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "snapshot_dir scan failed; watcher stopped");
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::Config;
    use chrono::{DateTime, Utc};

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn state() -> AppState {
        let config = Config {
            hq_pubkeys: vec![root().join("fixtures/keys/hq-test.pub")],
            ..Config::default()
        };
        AppState::load(config).unwrap()
    }

    fn snapshot_bytes(seed: u64, version: &str, created_at: DateTime<Utc>) -> Vec<u8> {
        let key_text = std::fs::read_to_string(root().join("fixtures/keys/hq-test.key")).unwrap();
        let key = checkpost_watchlist::snapshot::read_signing_key(&key_text).unwrap();
        let entries = checkpost_watchlist::synth::generate(20, seed);
        checkpost_watchlist::snapshot::build(&entries, version, created_at, &key).unwrap()
    }

    fn active_version(state: &AppState) -> Option<String> {
        state.snapshots.active().map(|s| s.header.version.clone())
    }

    #[test]
    fn a_file_is_activated_only_after_it_held_still_for_two_scans() {
        let dir = tempfile::tempdir().unwrap();
        let state = state();
        let mut watcher = SnapshotDir::new(dir.path().to_path_buf());
        let bytes = snapshot_bytes(1, "night-1", Utc::now());
        // A copy in progress: half the file, then the rest.
        std::fs::write(dir.path().join("n1.cpsnap"), &bytes[..bytes.len() / 2]).unwrap();
        assert_eq!(watcher.scan(&state), vec![]);
        std::fs::write(dir.path().join("n1.cpsnap"), &bytes).unwrap();
        assert_eq!(watcher.scan(&state), vec![]);
        assert_eq!(active_version(&state), None);
        let events = watcher.scan(&state);
        assert!(
            matches!(&events[..], [DirEvent::Activated { file, version, .. }] if file == "n1.cpsnap" && version == "night-1"),
            "{events:?}"
        );
        assert_eq!(active_version(&state).as_deref(), Some("night-1"));
        assert_eq!(
            watcher.scan(&state),
            vec![],
            "an activated file is not read again"
        );
    }

    #[test]
    fn a_bad_file_is_reported_once_and_skipped_while_a_good_one_is_activated() {
        let dir = tempfile::tempdir().unwrap();
        let state = state();
        let mut watcher = SnapshotDir::new(dir.path().to_path_buf());
        let mut corrupt = snapshot_bytes(2, "night-corrupt", Utc::now());
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        std::fs::write(dir.path().join("corrupt.cpsnap"), corrupt).unwrap();
        std::fs::write(dir.path().join("garbage.cpsnap"), b"not a snapshot").unwrap();
        std::fs::write(
            dir.path().join("good.cpsnap"),
            snapshot_bytes(1, "night-good", Utc::now() - chrono::Duration::hours(1)),
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.tmp"), b"partial").unwrap();
        assert_eq!(watcher.scan(&state), vec![]);
        let mut events = watcher.scan(&state);
        events.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            events.iter().any(
                |e| matches!(e, DirEvent::Refused { file, reason } if file == "corrupt.cpsnap" && reason.contains("digest"))
            ),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, DirEvent::Refused { file, .. } if file == "garbage.cpsnap")),
            "{events:?}"
        );
        assert_eq!(active_version(&state).as_deref(), Some("night-good"));
        assert_eq!(
            watcher.scan(&state),
            vec![],
            "refused files are not retried"
        );
        assert_eq!(watcher.scan(&state), vec![]);
    }

    #[test]
    fn only_the_newest_file_is_loaded_and_older_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let state = state();
        let mut watcher = SnapshotDir::new(dir.path().to_path_buf());
        let now = Utc::now();
        for (i, hours) in [(1, 3), (2, 1), (3, 2)] {
            std::fs::write(
                dir.path().join(format!("n{i}.cpsnap")),
                snapshot_bytes(i, &format!("v{i}"), now - chrono::Duration::hours(hours)),
            )
            .unwrap();
        }
        watcher.scan(&state);
        let events = watcher.scan(&state);
        assert_eq!(active_version(&state).as_deref(), Some("v2"));
        let skipped = events
            .iter()
            .filter(|e| matches!(e, DirEvent::NotNewer { .. }))
            .count();
        assert_eq!(skipped, 2, "{events:?}");
        // An older file dropped in later is skipped too.
        std::fs::write(
            dir.path().join("old.cpsnap"),
            snapshot_bytes(4, "v-old", now - chrono::Duration::hours(5)),
        )
        .unwrap();
        watcher.scan(&state);
        let events = watcher.scan(&state);
        assert!(
            matches!(&events[..], [DirEvent::NotNewer { file, .. }] if file == "old.cpsnap"),
            "{events:?}"
        );
        assert_eq!(active_version(&state).as_deref(), Some("v2"));
    }

    #[test]
    fn a_missing_directory_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = state();
        let mut watcher = SnapshotDir::new(dir.path().join("absent"));
        assert!(matches!(
            &watcher.scan(&state)[..],
            [DirEvent::Unreadable { .. }]
        ));
        assert_eq!(watcher.scan(&state), vec![]);
    }
}
