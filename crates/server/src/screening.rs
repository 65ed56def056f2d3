//! `checkpost.v1.Screening/Screen`: validate → retry memory → parse the MRZ → scans → engine →
//! audit → answer. Every call runs in a tracing span carrying the request id, post and counter,
//! and the document only as a keyed hash.

use std::sync::Arc;

use checkpost_document::{ParseOptions, TravelDocument, parse};
use checkpost_engine::{Context, Incomplete, ScreenInput, screen};
use checkpost_proto::v1 as pb;
use checkpost_proto::v1::screening_server::Screening;
use prost::Message;
use tokio::time::Instant;
use tonic::{Request, Response, Status};
use tracing::{Instrument, field};

use crate::ServerError;
use crate::audit::ScreeningRecord;
use crate::auth::AuthIdentity;
use crate::convert;
use crate::deadline::Deadline;
use crate::retry::{Stored, retry_key};
use crate::scanstage::{Judged, ScanOutcome};
use crate::state::AppState;

/// The Screening service.
#[derive(Debug, Clone)]
pub struct ScreeningService {
    state: Arc<AppState>,
}

impl ScreeningService {
    /// A service over shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Checks the limits that make a request RESOURCE_EXHAUSTED (the message-size limit itself
    /// is enforced by tonic while decoding).
    fn check_limits(&self, req: &pb::ScreenRequest) -> Result<(), ServerError> {
        let limits = &self.state.config.limits;
        if req.mrz.len() > limits.max_mrz_bytes {
            return Err(ServerError::TooLarge {
                field: "mrz".into(),
                size: req.mrz.len(),
                limit: limits.max_mrz_bytes,
            });
        }
        if req.scans.len() > limits.max_scans {
            return Err(ServerError::TooLarge {
                field: "scans".into(),
                size: req.scans.len(),
                limit: limits.max_scans,
            });
        }
        Ok(())
    }

    /// The scan stage: each scan within the image-size limit goes through docscan (see
    /// [`crate::scanstage`]), cross-checked against the MRZ's identity on the server's date;
    /// what it finds becomes engine reasons, what it could not finish fails closed.
    async fn scans(
        &self,
        scans: &[pb::Scan],
        document: &TravelDocument,
        today: chrono::NaiveDate,
        deadline: &Deadline,
    ) -> (Vec<pb::ScanResult>, Judged) {
        let mut judged = Judged::default();
        if scans.is_empty() {
            return (Vec::new(), judged);
        }
        let max = self.state.config.limits.max_image_bytes;
        // Oversized images are refused before they take a permit or a copy.
        let (fits, too_large): (Vec<_>, Vec<_>) = scans
            .iter()
            .enumerate()
            .partition(|(_, s)| s.image.len() <= max);
        let images: Vec<&[u8]> = fits.iter().map(|(_, s)| s.image.as_slice()).collect();
        let outcomes = self
            .state
            .scan
            .run(&images, &document.identity(), today, deadline)
            .await;
        let mut results = Vec::with_capacity(scans.len());
        for ((i, scan), outcome) in fits.into_iter().zip(&outcomes) {
            judged.add(i, scan.kind() == pb::ScanKind::VisaPage, outcome);
            let report = match outcome {
                ScanOutcome::Done(r) => Some(r),
                _ => None,
            };
            let digest = report.map_or_else(
                || blake3::hash(&scan.image).to_hex().to_string(),
                |r| r.digest.clone(),
            );
            results.push(convert::scan_result(i, scan.kind, digest, report));
        }
        for (i, scan) in too_large {
            judged.incomplete.push(Incomplete {
                check: "scan".into(),
                why: format!(
                    "scan {i} is {} bytes, over the {max}-byte limit",
                    scan.image.len()
                ),
            });
            let digest = blake3::hash(&scan.image).to_hex().to_string();
            results.push(convert::scan_result(i, scan.kind, digest, None));
        }
        results.sort_by_key(|r| r.index);
        (results, judged)
    }

    /// Runs one screening (not a retry the memory knows) and records it; answers the first
    /// call's answer instead when the store already held this retry key.
    async fn decide(
        &self,
        req: &pb::ScreenRequest,
        caller: convert::Caller<'_>,
        key: &str,
        deadline: Deadline,
        fingerprint: &[u8; 32],
    ) -> Result<Stored, ServerError> {
        let direction = convert::direction(req.direction)?;
        let travel = convert::travel(req.travel.as_ref())?;
        if req.mrz.trim().is_empty() {
            return Err(ServerError::InvalidArgument {
                field: "mrz".into(),
                message: "required".into(),
                line: 0,
                column: 0,
            });
        }
        let document = parse(
            &req.mrz,
            ParseOptions {
                repair: req.repair_mrz,
            },
        )
        .map_err(|e| convert::mrz_error(&e))?;
        let span = tracing::Span::current();
        span.record(
            "doc",
            field::display(self.state.pii.hash(&document.document_number)),
        );

        // Seals are checked against the server's date; the decision's own instant is read after
        // the scans, so `decided_at` and the snapshot's age are those of the decision.
        let today = chrono::Utc::now()
            .with_timezone(&self.state.local_offset)
            .date_naive();
        let (scan_results, judged) = self.scans(&req.scans, &document, today, &deadline).await;
        let mut incomplete = judged.incomplete;
        if deadline.exhausted(Instant::now()) {
            incomplete.push(Incomplete {
                check: "deadline".into(),
                why: "the client's deadline ran out before every check could run".into(),
            });
        }

        let snapshot = self.state.snapshots.active();
        // One overlay for the whole call: the engine's match positions and the case's matched
        // entries must be read from the same set.
        let overlay = self.state.deltas.current();
        let rules = self.state.rules.load_full();
        let now = chrono::Utc::now();
        let input = ScreenInput {
            direction,
            document: &document,
            travel: &travel,
            external: judged.reasons,
            incomplete,
        };
        let ctx = Context {
            snapshot: snapshot.as_deref(),
            rules: &rules,
            now,
            local_offset: self.state.local_offset,
            stale_after: chrono::Duration::from_std(self.state.config.stale_after)
                .unwrap_or(chrono::Duration::MAX),
            stale_policy: self.state.stale_policy(),
            cleared: self.state.cleared.as_ref(),
            overlay: Some(&overlay),
        };
        let outcome = screen(&input, &ctx);
        span.record("decision", outcome.decision.as_str());

        let mut response = pb::ScreenResponse {
            screening_id: screening_id(now),
            decision: convert::decision(outcome.decision).into(),
            reasons: outcome.reasons.iter().map(convert::reason).collect(),
            protection_referral: outcome.protection_referral,
            document: Some(convert::document(&document)),
            snapshot: snapshot.as_deref().map(|s| convert::snapshot_ref(s, now)),
            case_id: String::new(),
            scans: scan_results,
            decided_at: Some(convert::timestamp(now)),
            replayed: false,
        };
        let appended = self
            .state
            .audit
            .append(ScreeningRecord {
                screening_id: &response.screening_id,
                client_request_id: key,
                post_id: caller.post_id,
                counter_id: caller.counter_id,
                officer_id: caller.officer_id,
                direction,
                document: &document,
                outcome: &outcome,
                response: &response,
                destination: travel.destination.as_deref(),
                snapshot: snapshot.as_deref(),
                overlay: &overlay,
                scans: &req.scans,
                fingerprint,
            })
            .await?;
        if let Some(first) = appended.replay {
            // The store already held this retry key (from before a restart): nothing new was
            // written; the first answer stands.
            return Ok(first);
        }
        self.state.metrics.record_screening(&outcome);
        response.case_id = appended.case_id.unwrap_or_default();
        tracing::info!(
            decision = outcome.decision.as_str(),
            reasons = response.reasons.len(),
            protection_referral = response.protection_referral,
            "screened"
        );
        Ok(Stored {
            fingerprint: *fingerprint,
            response,
        })
    }

    /// The call, with the retry memory around it. `identity` is who the caller authenticated as
    /// (`None` with access control off).
    async fn screen_once(
        &self,
        req: pb::ScreenRequest,
        deadline: Deadline,
        identity: Option<&AuthIdentity>,
    ) -> Result<pb::ScreenResponse, ServerError> {
        self.check_limits(&req)?;
        let caller = convert::caller(&req)?;
        // A terminal screens only as itself, so the audit trail's counter is one the server
        // checked (the officer at the counter stays the terminal's word: the server
        // authenticates terminals, not people).
        crate::auth::acting_as("counter_id", caller.counter_id, identity)?;
        let key = retry_key(caller.post_id, caller.client_request_id);
        let fingerprint: [u8; 32] = blake3::hash(&req.encode_to_vec()).into();
        let slot = self.state.retry.slot(&key, Instant::now());
        let mut ran = false;
        let stored = slot
            .cell()
            .get_or_try_init(|| {
                ran = true;
                async {
                    self.decide(&req, caller, &key, deadline, &fingerprint)
                        .await
                }
            })
            .await?;
        // The memory missed but the durable store held the key (a retry after a restart): its
        // first answer is a replay too.
        let ran = ran && !stored.response.replayed;
        if ran {
            return Ok(stored.response.clone());
        }
        if stored.fingerprint != fingerprint {
            return Err(ServerError::RequestIdReused);
        }
        tracing::info!("replayed the stored decision for a retry");
        let mut response = stored.response.clone();
        response.replayed = true;
        Ok(response)
    }
}

#[tonic::async_trait]
impl Screening for ScreeningService {
    async fn screen(
        &self,
        request: Request<pb::ScreenRequest>,
    ) -> Result<Response<pb::ScreenResponse>, Status> {
        let deadline = Deadline::from_metadata(Instant::now(), request.metadata());
        let identity = request.extensions().get::<AuthIdentity>().cloned();
        let req = request.into_inner();
        let span = tracing::info_span!(
            "screen",
            request_id = %req.client_request_id,
            post = %req.post_id,
            counter = %req.counter_id,
            doc = field::Empty,
            decision = field::Empty,
        );
        async move {
            match self.screen_once(req, deadline, identity.as_ref()).await {
                Ok(r) => Ok(Response::new(r)),
                Err(e) => {
                    tracing::warn!(error = %e, "refused");
                    Err(e.into())
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// The id of one screening: a time-ordered UUID (version 7) whose time is the decision's own
/// (`decided_at`) and whose 74 other bits are random. `uuid::Uuid::now_v7` draws them with two
/// `getrandom` system calls per id (uuid's `fast-rng` feature, which avoids that, would bring a
/// second version of `rand` into the build); here they come from the thread's CSPRNG, seeded
/// from the OS once. Ids within one millisecond are unique but not ordered: nothing orders
/// screenings by id (the audit chain's sequence number does).
fn screening_id(now: chrono::DateTime<chrono::Utc>) -> String {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random::<[u8; 10]>())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screening_ids_are_v7_uuids_carrying_the_decision_time_and_never_repeat() {
        let now = chrono::Utc::now();
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| screening_id(now)).collect();
        assert_eq!(ids.len(), 10_000, "ids within one millisecond collided");
        for id in ids.iter().take(10) {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 7, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
            let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
            let millis = i64::try_from(secs).unwrap() * 1000 + i64::from(nanos / 1_000_000);
            assert_eq!(millis, now.timestamp_millis(), "{id}");
        }
    }
}
