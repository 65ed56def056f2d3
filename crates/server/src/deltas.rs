//! Intraday deltas: signed additions and removals of entries over the active snapshot, visible to
//! the next `Screen`, persisted in the data dir and superseded by the next snapshot.
//!
//! The overlay itself ([`DeltaSet`]) is pure and lives in `checkpost_watchlist::delta`; this
//! module holds the live one (swapped atomically with `arc-swap`, so a screening in flight keeps
//! the set it started with) and its files: each accepted delta is written, exactly as signed, to
//! `data_dir/deltas/<seq>-<digest>.cpdelta` (temp file, fsync, rename, fsync of the directory)
//! *before* it is swapped in and acknowledged, so an acknowledged delta survives a crash.
//! Files are read back in sequence order at start.
//!
//! # Supersession and rollback
//! A delta leaves the overlay as soon as the active snapshot supersedes it (says the same). Its
//! file is deleted only once the rollback target (the previous snapshot) supersedes it too:
//! until then it is *parked*, so that rolling back to a snapshot without tonight's ECL orders
//! puts them back in force instead of silently lifting them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use checkpost_engine::DeltaSource;
use checkpost_proto::v1 as pb;
use checkpost_watchlist::WatchlistError;
use checkpost_watchlist::delta::{Delta, DeltaSet, superseded_each};
use ed25519_dalek::VerifyingKey;

use crate::{AppState, ServerError, convert};

/// The directory under `data_dir` that holds the accepted delta files.
pub const DELTA_DIR: &str = "deltas";

/// File extension of a persisted delta.
pub const DELTA_EXT: &str = "cpdelta";

/// The live overlay of intraday deltas and the files that back it.
#[derive(Default)]
pub struct Deltas {
    set: ArcSwap<DeltaSet>,
    /// Serializes writers (apply, rebase, load) so that no update is lost between reading the
    /// set and swapping the new one in. Readers never take it.
    files: Mutex<Files>,
}

/// Every delta kept (in force or parked), in the order applied, with its file; and the next
/// sequence number.
#[derive(Debug, Default)]
struct Files {
    kept: Vec<(Delta, PathBuf)>,
    next_seq: u64,
}

impl Files {
    fn get(&self, id: &str) -> Option<&Delta> {
        self.kept.iter().map(|(d, _)| d).find(|d| d.header.id == id)
    }
}

impl std::fmt::Debug for Deltas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deltas")
            .field("set", &self.set.load())
            .finish_non_exhaustive()
    }
}

impl DeltaSource for Deltas {
    fn current(&self) -> Arc<DeltaSet> {
        self.set.load_full()
    }
}

impl Deltas {
    /// The deltas in force now.
    pub fn current(&self) -> Arc<DeltaSet> {
        self.set.load_full()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Files> {
        // A panic while holding the lock leaves `Files` consistent enough (paths only); keep
        // serving rather than poisoning every later apply.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads every persisted delta in `data_dir/deltas`, in the order they were applied, and
    /// makes them the overlay (blocking file I/O: call before serving). A file that does not
    /// verify against `trusted` is an error naming the file: the post must not silently forget
    /// an acknowledged Exit Control List order. Leftover temp files of an interrupted apply
    /// (never acknowledged) are removed.
    pub fn load_persisted(
        &self,
        data_dir: &Path,
        trusted: &[VerifyingKey],
    ) -> Result<(), ServerError> {
        let dir = data_dir.join(DELTA_DIR);
        let io = |path: &Path, source| ServerError::Io {
            path: path.to_path_buf(),
            source,
        };
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut files: Vec<(u64, PathBuf)> = Vec::new();
        for item in listing {
            let path = item.map_err(|e| io(&dir, e))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some(DELTA_EXT) {
                continue;
            }
            let seq = name
                .split('-')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| ServerError::Snapshot {
                    path: path.clone(),
                    message: "a persisted delta's name must start with its sequence number".into(),
                })?;
            files.push((seq, path));
        }
        files.sort();
        let mut guard = self.lock();
        let mut deltas = Vec::with_capacity(files.len());
        for (seq, path) in files {
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            let delta = Delta::load(&bytes, trusted).map_err(|e| ServerError::Snapshot {
                path: path.clone(),
                message: format!("persisted delta refused: {e}"),
            })?;
            guard.next_seq = guard.next_seq.max(seq + 1);
            deltas.push(delta.clone());
            guard.kept.push((delta, path));
        }
        self.set.store(Arc::new(DeltaSet::new(deltas)));
        Ok(())
    }
}

/// A delta refused on input: which check failed, as the client sent it.
fn refused(e: &WatchlistError) -> ServerError {
    ServerError::InvalidArgument {
        field: "delta".into(),
        message: format!("refused, nothing changed: {e}"),
        line: 0,
        column: 0,
    }
}

fn response(delta: &Delta, set: &DeltaSet) -> pb::ApplyDeltaResponse {
    pb::ApplyDeltaResponse {
        delta_id: delta.header.id.clone(),
        added: u32::try_from(delta.adds.len()).unwrap_or(u32::MAX),
        removed: u32::try_from(delta.removes.len()).unwrap_or(u32::MAX),
        delta_count: set.entry_count(),
        created_at: Some(convert::timestamp(delta.header.created_at)),
    }
}

/// Verifies a signed delta file against `state.trusted`, persists it durably in
/// `data_dir/deltas/`, then swaps it into the overlay, so the very next `Screen` sees it.
/// Re-applying a delta id already in force changes nothing and answers as the first time; the
/// same id with different content is refused. Blocking file I/O (fsync): call it from
/// `spawn_blocking`. On any error nothing changed.
pub fn apply_delta(state: &AppState, bytes: &[u8]) -> Result<pb::ApplyDeltaResponse, ServerError> {
    let delta = Delta::load(bytes, &state.trusted).map_err(|e| refused(&e))?;
    let deltas = &state.deltas;
    let mut files = deltas.lock();
    let current = deltas.set.load_full();
    // Parked deltas count too: re-sending one the snapshot already carries changes nothing.
    if let Some(existing) = files.get(&delta.header.id) {
        if existing == &delta {
            return Ok(response(&delta, &current));
        }
        return Err(ServerError::InvalidArgument {
            field: "delta".into(),
            message: format!(
                "refused, nothing changed: delta id '{}' is already in force with different content",
                delta.header.id
            ),
            line: 0,
            column: 0,
        });
    }
    let dir = state.config.data_dir.join(DELTA_DIR);
    let name = format!(
        "{:08}-{}.{DELTA_EXT}",
        files.next_seq,
        &blake3::hash(bytes).to_hex()[..16]
    );
    let path = persist(&dir, &name, bytes)?;
    files.next_seq += 1;
    files.kept.push((delta.clone(), path));
    let response_delta = delta.clone();
    let next = match current.with(delta) {
        Some(next) => Arc::new(next),
        None => current,
    };
    deltas.set.store(Arc::clone(&next));
    tracing::info!(
        delta_id = %response_delta.header.id,
        added = response_delta.adds.len(),
        removed = response_delta.removes.len(),
        in_force = next.entry_count(),
        "delta applied"
    );
    Ok(response(&response_delta, &next))
}

/// Writes `bytes` to `dir/name` durably: temp file, fsync, rename, fsync of the directory.
fn persist(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ServerError> {
    let io = |path: &Path, source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp, e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    sync_dir(dir).map_err(|e| io(dir, e))?;
    Ok(path)
}

/// Makes a rename or removal in `dir` durable (a directory fsync; not available on Windows,
/// where the rename itself is durable enough for NTFS's journal).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    if cfg!(unix) {
        std::fs::File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

/// Delta entries in force over the active snapshot (distinct entry ids added, replaced or
/// removed), as `Watchlists.Status` and `ApplyDelta` report it.
pub fn delta_count(state: &AppState) -> u64 {
    state.deltas.current().entry_count()
}

/// Takes out of force the deltas the active snapshot supersedes (every add in it with the same
/// content, every removed id absent), puts back in force parked ones it does not (after a
/// rollback), and deletes the files of those the previous snapshot (the rollback target)
/// supersedes as well. Call after every snapshot activation or rollback (blocking: one pass
/// over each snapshot's entries, file deletions). A file that cannot be deleted is logged; it
/// is read back and sorted out again at the next start.
pub fn rebase(state: &AppState) {
    let Some(active) = state.snapshots.active() else {
        return;
    };
    let previous = state.snapshots.previous();
    let deltas = &state.deltas;
    let mut files = deltas.lock();
    if files.kept.is_empty() {
        return;
    }
    let all: Vec<Delta> = files.kept.iter().map(|(d, _)| d.clone()).collect();
    let by_active = superseded_each(&all, &active);
    let by_previous = previous.as_ref().map(|p| superseded_each(&all, p));
    let mut kept = Vec::with_capacity(files.kept.len());
    let mut in_force = Vec::new();
    let mut delete = Vec::new();
    for (i, (delta, path)) in std::mem::take(&mut files.kept).into_iter().enumerate() {
        let rollback_has_it = by_previous.as_ref().is_none_or(|v| v[i]);
        if by_active[i] && rollback_has_it {
            delete.push((delta.header.id, path));
        } else {
            if !by_active[i] {
                in_force.push(delta.clone());
            }
            kept.push((delta, path));
        }
    }
    files.kept = kept;
    let before = deltas.set.load().deltas().len();
    let parked = files.kept.len() - in_force.len();
    deltas.set.store(Arc::new(DeltaSet::new(in_force)));
    let mut dirs = Vec::new();
    for (_, path) in &delete {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "could not delete a superseded delta file");
        } else if let Some(dir) = path.parent() {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs.dedup();
    for dir in dirs {
        if let Err(e) = sync_dir(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "could not sync the delta directory");
        }
    }
    tracing::info!(
        snapshot = %active.header.version,
        in_force_before = before,
        in_force = deltas.set.load().deltas().len(),
        parked,
        deleted = delete.len(),
        "delta overlay rebased onto the active snapshot"
    );
}

/// Loads the persisted deltas of `state`'s data dir (see [`Deltas::load_persisted`]) and drops
/// those the active snapshot already supersedes. Called once when the store opens.
pub fn load(state: &AppState) -> Result<(), ServerError> {
    state
        .deltas
        .load_persisted(&state.config.data_dir, &state.trusted)?;
    rebase(state);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::Config;
    use checkpost_watchlist::EntryId;
    use checkpost_watchlist::snapshot::read_signing_key;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
    }

    fn state(data_dir: &Path) -> AppState {
        let config = Config {
            hq_pubkeys: vec![fixtures().join("keys/hq-test.pub")],
            data_dir: data_dir.to_path_buf(),
            ..Config::default()
        };
        AppState::load(config).unwrap()
    }

    fn removal(id: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(fixtures().join("keys/hq-test.key")).unwrap();
        let key = read_signing_key(&text).unwrap();
        checkpost_watchlist::delta::build(
            &[],
            &[EntryId(format!("X-{id}"))],
            id,
            chrono::Utc::now(),
            None,
            &key,
        )
        .unwrap()
    }

    #[test]
    fn concurrent_applies_lose_no_delta_and_persist_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(state(dir.path()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let state = Arc::clone(&state);
                std::thread::spawn(move || {
                    for i in 0..5 {
                        apply_delta(&state, &removal(&format!("d{t}-{i}"))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(delta_count(&state), 40);
        let files = std::fs::read_dir(dir.path().join(DELTA_DIR))
            .unwrap()
            .count();
        assert_eq!(files, 40);

        // Read back in order after a restart.
        let again = state_with_persisted(dir.path());
        assert_eq!(delta_count(&again), 40);
    }

    fn state_with_persisted(dir: &Path) -> AppState {
        let s = state(dir);
        load(&s).unwrap();
        s
    }

    #[test]
    fn an_interrupted_apply_leaves_nothing_in_force_and_its_temp_file_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let deltas = dir.path().join(DELTA_DIR);
        std::fs::create_dir_all(&deltas).unwrap();
        let tmp = deltas.join(".00000000-abc.cpdelta.tmp");
        std::fs::write(&tmp, &removal("half")[..40]).unwrap();
        let s = state_with_persisted(dir.path());
        assert_eq!(delta_count(&s), 0);
        assert!(!tmp.exists());
    }
}
