//! `checkpost.v1.Review`: the second-check officer's queue — list, get, claim, release, resolve
//! and a live stream of case events that a reconnecting client resumes from its cursor. Store
//! reads and writes run off the async workers (reads on the blocking pool; writes are awaited
//! tickets); every transition is audited by the store in the same commit.

use std::pin::Pin;
use std::sync::Arc;

use checkpost_proto::v1 as pb;
use checkpost_proto::v1::review_server::Review;
use checkpost_store::{CaseFilter, Resolve, Store};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::ServerError;
use crate::auth::AuthIdentity;
use crate::convert;
use crate::state::AppState;

/// Events read from the store per query while a stream catches up.
const EVENTS_PER_READ: usize = 256;

/// The Review service.
#[derive(Debug, Clone)]
pub struct ReviewService {
    state: Arc<AppState>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl ReviewService {
    /// A service over shared state; its live streams end when `stopping` turns true (so that
    /// a graceful shutdown does not wait forever on a reviewer's open stream).
    pub fn new(state: Arc<AppState>, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { state, stopping }
    }

    fn store(&self) -> Result<Arc<dyn Store>, ServerError> {
        self.state.store.clone().ok_or(ServerError::NoStore)
    }
}

/// Runs a short store read on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerError::Audit(format!("store read did not complete: {e}")))?
}

fn answer<T>(r: Result<T, ServerError>) -> Result<Response<T>, Status> {
    r.map(Response::new).map_err(|e| {
        tracing::warn!(error = %e, "review call refused");
        Status::from(e)
    })
}

fn post_filter(post_id: &str) -> Option<String> {
    let p = post_id.trim();
    (!p.is_empty()).then(|| p.to_string())
}

impl ReviewService {
    async fn list(&self, req: pb::ListCasesRequest) -> Result<pb::ListCasesResponse, ServerError> {
        let store = self.store()?;
        let statuses = req
            .statuses
            .iter()
            .map(|s| convert::case_status_in(*s))
            .collect::<Result<Vec<_>, _>>()?;
        let opened_before = (req.min_age_seconds > 0)
            .then(|| chrono::Utc::now() - chrono::Duration::seconds(req.min_age_seconds));
        let filter = CaseFilter {
            post_id: post_filter(&req.post_id),
            statuses,
            opened_before,
            page_size: req.page_size,
            page_token: (!req.page_token.is_empty()).then_some(req.page_token),
        };
        let page = blocking(move || Ok(store.list_cases(&filter)?)).await?;
        Ok(pb::ListCasesResponse {
            cases: page
                .cases
                .iter()
                .map(|c| convert::case(c, digests_only(&c.evidence_digests)))
                .collect::<Result<_, _>>()?,
            next_page_token: page.next_page_token.unwrap_or_default(),
        })
    }

    async fn get(&self, req: pb::GetCaseRequest) -> Result<pb::Case, ServerError> {
        let store = self.store()?;
        let id = convert::review_id("case_id", &req.case_id)?.to_string();
        let with_images = req.include_images;
        blocking(move || {
            let case = store.get_case(&id)?;
            let mut evidence = Vec::with_capacity(case.evidence_digests.len());
            for digest in &case.evidence_digests {
                let blob = store.get_evidence(digest)?;
                evidence.push(match blob {
                    Some(b) => pb::Evidence {
                        digest: b.digest,
                        kind: b.kind,
                        size: b.bytes.len() as u64,
                        image: if with_images { b.bytes } else { Vec::new() },
                    },
                    None => pb::Evidence {
                        digest: digest.clone(),
                        ..Default::default()
                    },
                });
            }
            convert::case(&case, evidence)
        })
        .await
    }

    async fn claim(
        &self,
        req: pb::ClaimCaseRequest,
        caller: Option<AuthIdentity>,
    ) -> Result<pb::Case, ServerError> {
        let store = self.store()?;
        let id = convert::review_id("case_id", &req.case_id)?;
        let reviewer = acting_reviewer(&req.reviewer_id, caller.as_ref())?;
        let case = store.claim_case(id, reviewer, chrono::Utc::now()).await?;
        convert::case(&case, digests_only(&case.evidence_digests))
    }

    async fn release(
        &self,
        req: pb::ReleaseCaseRequest,
        caller: Option<AuthIdentity>,
    ) -> Result<pb::Case, ServerError> {
        let store = self.store()?;
        let id = convert::review_id("case_id", &req.case_id)?;
        let reviewer = acting_reviewer(&req.reviewer_id, caller.as_ref())?;
        let case = store.release_case(id, reviewer, chrono::Utc::now()).await?;
        convert::case(&case, digests_only(&case.evidence_digests))
    }

    async fn resolve(
        &self,
        req: pb::ResolveCaseRequest,
        caller: Option<AuthIdentity>,
    ) -> Result<pb::Case, ServerError> {
        let store = self.store()?;
        let resolve = Resolve {
            case_id: convert::review_id("case_id", &req.case_id)?.to_string(),
            reviewer: acting_reviewer(&req.reviewer_id, caller.as_ref())?.to_string(),
            outcome: convert::case_outcome_in(req.outcome)?,
            notes: convert::notes(&req.notes)?.to_string(),
            cleared_entry_ids: req
                .cleared_entry_ids
                .iter()
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect(),
        };
        let case = store.resolve_case(resolve, chrono::Utc::now()).await?;
        convert::case(&case, digests_only(&case.evidence_digests))
    }
}

fn digests_only(digests: &[String]) -> Vec<pb::Evidence> {
    digests
        .iter()
        .map(|d| pb::Evidence {
            digest: d.clone(),
            ..Default::default()
        })
        .collect()
}

/// The stream of case events `WatchCases` answers with.
pub type CaseEventStream = Pin<Box<dyn Stream<Item = Result<pb::CaseEvent, Status>> + Send>>;

/// Feeds one `WatchCases` stream: events after `cursor` from the table, then waits for the
/// notifier's cursor to move. Events are always read from the table, never taken from the
/// notification, so a slow client or a missed wake-up loses nothing; the cursor only moves
/// past an event once it was handed to the stream, so nothing repeats.
async fn pump(
    store: Arc<dyn Store>,
    mut latest: tokio::sync::watch::Receiver<u64>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    post: Option<String>,
    mut cursor: u64,
    tx: tokio::sync::mpsc::Sender<Result<pb::CaseEvent, Status>>,
) {
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        // Mark the newest cursor seen *before* reading, so an event committed after the read
        // still wakes `changed()` below.
        latest.borrow_and_update();
        let (s, p) = (Arc::clone(&store), post.clone());
        let events =
            blocking(move || Ok(s.events_after(p.as_deref(), cursor, EVENTS_PER_READ)?)).await;
        let events = match events {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        };
        if events.is_empty() {
            tokio::select! {
                changed = latest.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
                _ = stopping.changed() => {}
            }
            continue;
        }
        for event in &events {
            let item = convert::case_event(event).map_err(Status::from);
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
            cursor = event.cursor;
        }
    }
}

#[tonic::async_trait]
impl Review for ReviewService {
    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        answer(self.list(request.into_inner()).await)
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        answer(self.get(request.into_inner()).await)
    }

    async fn claim_case(
        &self,
        request: Request<pb::ClaimCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = request.extensions().get::<AuthIdentity>().cloned();
        answer(self.claim(request.into_inner(), caller).await)
    }

    async fn release_case(
        &self,
        request: Request<pb::ReleaseCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = request.extensions().get::<AuthIdentity>().cloned();
        answer(self.release(request.into_inner(), caller).await)
    }

    async fn resolve_case(
        &self,
        request: Request<pb::ResolveCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = request.extensions().get::<AuthIdentity>().cloned();
        answer(self.resolve(request.into_inner(), caller).await)
    }

    type WatchCasesStream = CaseEventStream;

    async fn watch_cases(
        &self,
        request: Request<pb::WatchCasesRequest>,
    ) -> Result<Response<Self::WatchCasesStream>, Status> {
        let req = request.into_inner();
        let store = self.store().map_err(Status::from)?;
        let latest = self
            .state
            .case_cursor
            .clone()
            .ok_or_else(|| Status::from(ServerError::NoStore))?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(pump(
            store,
            latest,
            self.stopping.clone(),
            post_filter(&req.post_id),
            req.after_cursor,
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// The reviewer a case action is recorded under: the request's `reviewer_id`, which with
/// access control on must be the authenticated identity ([`crate::auth::acting_as`]), so the
/// audit trail names who really claimed, released or resolved the case.
fn acting_reviewer<'a>(
    reviewer_id: &'a str,
    caller: Option<&AuthIdentity>,
) -> Result<&'a str, ServerError> {
    let reviewer = convert::review_id("reviewer_id", reviewer_id)?;
    crate::auth::acting_as("reviewer_id", reviewer, caller)?;
    Ok(reviewer)
}
