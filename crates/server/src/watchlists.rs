//! `checkpost.v1.Watchlists`: upload, activate, roll back and inspect snapshots, apply signed
//! deltas and reload the SOP rules, trust list and visa register, without a restart.
//! It also owns the `checkpost.snapshot` health entry (SERVING only while a fresh snapshot is
//! active) and starts the [`crate::snapdir`] watcher. Verification, indexing and file I/O run
//! on the blocking pool, so counters' `Screen` calls keep the async workers.

use std::sync::Arc;
use std::time::Duration;

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::watchlists_server::{Watchlists, WatchlistsServer};
use checkpost_watchlist::snapshot::Snapshot;
use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status, Streaming};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::ServerError;
use crate::convert;
use crate::state::{AppState, is_stale};

/// The health entry that tells whether the post screens against a fresh snapshot. The
/// Screening service itself stays SERVING when this one is not: it fails closed instead.
pub const SNAPSHOT_HEALTH: &str = "checkpost.snapshot";

/// Longest sleep of the health timer, so a clock step is noticed within a minute.
const HEALTH_RECHECK: Duration = Duration::from_secs(60);

/// The Watchlists service.
#[derive(Debug, Clone)]
pub struct WatchlistsService {
    state: Arc<AppState>,
    /// One upload at a time: each one of 1M entries holds ~110 MB of file and ~600 MB of
    /// snapshot while it verifies; a second upload waits rather than doubling that.
    uploads: Arc<tokio::sync::Semaphore>,
}

impl WatchlistsService {
    /// A service over shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            state,
            uploads: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }
}

/// The service, ready for `Server::add_service`.
pub fn service(state: Arc<AppState>) -> WatchlistsServer<WatchlistsService> {
    WatchlistsServer::new(WatchlistsService::new(state))
}

/// Runs `f` on the blocking pool (verification, indexing, file I/O).
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerError::Snapshot {
            path: what.into(),
            message: format!("did not complete: {e}"),
        })?
}

fn answer<T>(call: &'static str, r: Result<T, ServerError>) -> Result<Response<T>, Status> {
    r.map(Response::new).map_err(|e| {
        tracing::warn!(call, error = %e, "watchlists call refused");
        Status::from(e)
    })
}

/// The post's watchlist state at `now`.
pub fn status(state: &AppState, now: DateTime<Utc>) -> pb::WatchlistStatus {
    let snapshots = &state.snapshots;
    pb::WatchlistStatus {
        active: snapshots.active().map(|s| convert::snapshot_info(&s, now)),
        previous: snapshots
            .previous()
            .map(|s| convert::snapshot_info(&s, now)),
        staged: snapshots
            .staged()
            .iter()
            .map(|s| convert::snapshot_info(s, now))
            .collect(),
        delta_count: crate::deltas::delta_count(state),
        stale: state.snapshot_is_stale(now),
        stale_after_seconds: i64::try_from(state.config.stale_after.as_secs()).unwrap_or(i64::MAX),
    }
}

/// Reads an upload stream into memory, refusing it past `limit` bytes. A stream that breaks
/// (the client went away mid-upload) is an error: nothing of it is kept.
async fn receive(
    stream: &mut Streaming<pb::UploadSnapshotChunk>,
    limit: usize,
) -> Result<(Vec<u8>, bool), ServerError> {
    let mut bytes = Vec::new();
    let mut activate = false;
    loop {
        match stream.message().await {
            Ok(Some(chunk)) => {
                activate |= chunk.activate;
                let size = bytes.len().saturating_add(chunk.data.len());
                if size > limit {
                    return Err(ServerError::TooLarge {
                        field: "snapshot".into(),
                        size,
                        limit,
                    });
                }
                bytes.extend_from_slice(&chunk.data);
            }
            Ok(None) => return Ok((bytes, activate)),
            Err(status) => {
                return Err(ServerError::InvalidArgument {
                    field: "data".into(),
                    message: format!(
                        "the upload stream broke after {} bytes ({}: {}); nothing was kept",
                        bytes.len(),
                        status.code(),
                        status.message()
                    ),
                    line: 0,
                    column: 0,
                });
            }
        }
    }
}

/// Verifies and indexes an uploaded file, then stages or activates it (blocking).
fn accept_upload(
    state: &AppState,
    bytes: Vec<u8>,
    activate: bool,
) -> Result<Arc<Snapshot>, ServerError> {
    let snapshot =
        Snapshot::load(&bytes, &state.trusted).map_err(|reason| ServerError::SnapshotRefused {
            name: format!("upload ({} bytes)", bytes.len()),
            reason,
        })?;
    drop(bytes);
    let snapshot = Arc::new(snapshot);
    if activate {
        state.activate_snapshot(Arc::clone(&snapshot))?;
    } else {
        state.snapshots.stage(Arc::clone(&snapshot))?;
    }
    Ok(snapshot)
}

fn reload_one(state: &AppState, target: pb::ReloadTarget) -> Result<String, ServerError> {
    let (name, result, path, noun) = match target {
        pb::ReloadTarget::Rules => (
            "RULES",
            state.reload_rules(),
            state.config.rules.as_deref(),
            "rules",
        ),
        pb::ReloadTarget::TrustList => (
            "TRUST_LIST",
            state.reload_trust_list(),
            state.config.scan.trust_list.as_deref(),
            "issuers",
        ),
        pb::ReloadTarget::VisaRegister => (
            "VISA_REGISTER",
            state.reload_visa_register(),
            state.config.scan.visa_register.as_deref(),
            "visas",
        ),
        pb::ReloadTarget::Unspecified => {
            return Err(ServerError::InvalidArgument {
                field: "targets".into(),
                message: "RELOAD_TARGET_UNSPECIFIED is not a file; send no targets to reload all"
                    .into(),
                line: 0,
                column: 0,
            });
        }
    };
    let n = result.map_err(|e| ServerError::ReloadRefused {
        target: name,
        source: Box::new(e),
    })?;
    Ok(match path {
        Some(p) => format!("{name}: {n} {noun} from {}", p.display()),
        None => format!("{name}: not configured"),
    })
}

fn reload(state: &AppState, targets: &[i32]) -> Result<pb::ReloadResponse, ServerError> {
    let targets: Vec<pb::ReloadTarget> = if targets.is_empty() {
        vec![
            pb::ReloadTarget::Rules,
            pb::ReloadTarget::TrustList,
            pb::ReloadTarget::VisaRegister,
        ]
    } else {
        targets
            .iter()
            .map(|t| {
                pb::ReloadTarget::try_from(*t).map_err(|_| ServerError::InvalidArgument {
                    field: "targets".into(),
                    message: format!("{t} is not a reload target"),
                    line: 0,
                    column: 0,
                })
            })
            .collect::<Result<_, _>>()?
    };
    let loaded = targets
        .into_iter()
        .map(|t| reload_one(state, t))
        .collect::<Result<Vec<_>, _>>()?;
    for line in &loaded {
        tracing::info!(reloaded = %line, "reloaded");
    }
    Ok(pb::ReloadResponse { loaded })
}

#[tonic::async_trait]
impl Watchlists for WatchlistsService {
    async fn upload_snapshot(
        &self,
        request: Request<Streaming<pb::UploadSnapshotChunk>>,
    ) -> Result<Response<pb::UploadSnapshotResponse>, Status> {
        let mut stream = request.into_inner();
        let limit = self.state.config.limits.max_snapshot_bytes;
        let state = Arc::clone(&self.state);
        let result = async {
            // The semaphore is never closed, so acquiring cannot fail; keep the permit anyway.
            let _permit = self.uploads.acquire().await.ok();
            let (bytes, activate) = receive(&mut stream, limit).await?;
            let snapshot = blocking("snapshot upload", {
                let state = Arc::clone(&state);
                move || accept_upload(&state, bytes, activate)
            })
            .await?;
            tracing::info!(
                version = %snapshot.header.version,
                digest = %snapshot.digest_hex(),
                entries = snapshot.header.total(),
                activated = activate,
                "snapshot uploaded"
            );
            Ok(pb::UploadSnapshotResponse {
                snapshot: Some(convert::snapshot_info(&snapshot, Utc::now())),
                activated: activate,
            })
        }
        .await;
        answer("UploadSnapshot", result)
    }

    async fn activate_snapshot(
        &self,
        request: Request<pb::ActivateSnapshotRequest>,
    ) -> Result<Response<pb::WatchlistStatus>, Status> {
        let digest = request.into_inner().digest;
        let state = Arc::clone(&self.state);
        let result = blocking("snapshot activation", move || {
            let snapshot = state.activate_staged_snapshot(&digest)?;
            tracing::info!(
                version = %snapshot.header.version,
                digest = %snapshot.digest_hex(),
                "snapshot activated"
            );
            Ok(status(&state, Utc::now()))
        })
        .await;
        answer("ActivateSnapshot", result)
    }

    async fn rollback_snapshot(
        &self,
        _request: Request<pb::RollbackSnapshotRequest>,
    ) -> Result<Response<pb::WatchlistStatus>, Status> {
        let state = Arc::clone(&self.state);
        let result = blocking("snapshot rollback", move || {
            let snapshot = state.rollback_snapshot()?;
            tracing::info!(
                version = %snapshot.header.version,
                digest = %snapshot.digest_hex(),
                "snapshot rolled back"
            );
            Ok(status(&state, Utc::now()))
        })
        .await;
        answer("RollbackSnapshot", result)
    }

    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::WatchlistStatus>, Status> {
        Ok(Response::new(status(&self.state, Utc::now())))
    }

    async fn apply_delta(
        &self,
        request: Request<pb::ApplyDeltaRequest>,
    ) -> Result<Response<pb::ApplyDeltaResponse>, Status> {
        let delta = request.into_inner().delta;
        let state = Arc::clone(&self.state);
        let result = blocking("delta", move || crate::deltas::apply_delta(&state, &delta)).await;
        answer("ApplyDelta", result)
    }

    async fn reload(
        &self,
        request: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        let targets = request.into_inner().targets;
        let state = Arc::clone(&self.state);
        let result = blocking("reload", move || reload(&state, &targets)).await;
        answer("Reload", result)
    }
}

/// Sets the `checkpost.snapshot` health entry from the state at `now`; returns whether the
/// active snapshot is fresh.
pub async fn report_snapshot_health(
    state: &AppState,
    reporter: &HealthReporter,
    now: DateTime<Utc>,
) -> bool {
    let fresh = !state.snapshot_is_stale(now);
    let status = if fresh {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status(SNAPSHOT_HEALTH, status).await;
    fresh
}

/// How long until the health entry may change by itself (the active snapshot turning stale).
fn until_next_check(state: &AppState, now: DateTime<Utc>) -> Duration {
    let Some(active) = state.snapshots.active() else {
        return HEALTH_RECHECK;
    };
    if is_stale(&active, now, state.config.stale_after) {
        return HEALTH_RECHECK;
    }
    let turns_stale = chrono::Duration::from_std(state.config.stale_after)
        .ok()
        .and_then(|limit| active.header.created_at.checked_add_signed(limit));
    turns_stale
        .and_then(|at| (at - now).to_std().ok())
        // `age > stale_after` is stale: wake just past the boundary.
        .map_or(HEALTH_RECHECK, |d| {
            (d + Duration::from_millis(5)).min(HEALTH_RECHECK)
        })
}

/// Sets the `checkpost.snapshot` health entry now, then keeps it current (on every activation
/// or rollback, and when the active snapshot turns stale) and, when `snapshot_dir` is
/// configured, starts its watcher. Both stop when `stopping` turns true.
pub async fn start_background(
    state: Arc<AppState>,
    reporter: HealthReporter,
    stopping: tokio::sync::watch::Receiver<bool>,
) {
    report_snapshot_health(&state, &reporter, Utc::now()).await;
    if let Some(dir) = state.config.snapshot_dir.clone() {
        tokio::spawn(crate::snapdir::watch(
            Arc::clone(&state),
            dir,
            state.config.snapshot_dir_poll,
            stopping.clone(),
        ));
    }
    tokio::spawn(health_loop(state, reporter, stopping));
}

async fn health_loop(
    state: Arc<AppState>,
    reporter: HealthReporter,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut changes = state.snapshots.subscribe();
    loop {
        let wait = until_next_check(&state, Utc::now());
        let stop = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            changed = changes.changed() => changed.is_err(),
            stopped = stopping.wait_for(|s| *s) => {
                let _ = stopped.map(drop);
                true
            }
        };
        if stop {
            reporter
                .set_service_status(SNAPSHOT_HEALTH, ServingStatus::NotServing)
                .await;
            return;
        }
        let fresh = report_snapshot_health(&state, &reporter, Utc::now()).await;
        tracing::debug!(fresh, "snapshot health updated");
    }
}
