//! The seam where the durable store plugs in: every screening, CLEAR included, is handed to an
//! [`AuditSink`] and the response is sent only after the sink says the record is durable
//! (DESIGN.md: "a response is sent only after its audit record is durable"). The sink also
//! opens the second-check case and returns its id. Until the store is wired, [`NoAudit`] keeps
//! nothing and opens no case.

use std::future::Future;
use std::pin::Pin;

use checkpost_document::TravelDocument;
use checkpost_engine::Outcome;
use checkpost_proto::v1::{Scan, ScreenResponse};
use checkpost_watchlist::Direction;
use checkpost_watchlist::snapshot::Snapshot;

use crate::ServerError;
use crate::retry::Stored;

/// What the sink gets for one screening.
#[derive(Debug)]
pub struct ScreeningRecord<'a> {
    /// The server-assigned id (also the response's `screening_id`).
    pub screening_id: &'a str,
    /// The retry key: the post and the client's request id ([`crate::retry::retry_key`]), so
    /// that two posts' terminals can never collide on an id.
    pub client_request_id: &'a str,
    /// Check-post.
    pub post_id: &'a str,
    /// Counter.
    pub counter_id: &'a str,
    /// Officer.
    pub officer_id: &'a str,
    /// Direction of travel.
    pub direction: Direction,
    /// The parsed document (PII: the store is the protected record; logs never get it).
    pub document: &'a TravelDocument,
    /// The engine's decision with every reason and match.
    pub outcome: &'a Outcome,
    /// The response about to be sent (without `case_id`).
    pub response: &'a ScreenResponse,
    /// Destination (departures) or origin (arrivals), when the request gave one.
    pub destination: Option<&'a str>,
    /// The snapshot that answered (for the matched entries' details).
    pub snapshot: Option<&'a Snapshot>,
    /// The intraday deltas the decision was made with (delta entries' positions follow the
    /// snapshot's, see `DeltaSet::entry_at`).
    pub overlay: &'a checkpost_watchlist::delta::DeltaSet,
    /// The scans sent, kept as evidence.
    pub scans: &'a [Scan],
    /// blake3 of the encoded request, stored so that a retry after a restart is checked too.
    pub fingerprint: &'a [u8; 32],
}

/// What the sink did with a record.
#[derive(Debug, Clone, Default)]
pub struct Appended {
    /// The case opened for a flagged screening, if any.
    pub case_id: Option<String>,
    /// The sink already held a screening under this retry key (e.g. from before a restart):
    /// nothing new was written, and this is the first answer, to be replayed instead.
    pub replay: Option<Stored>,
}

/// A boxed future, so the trait stays object-safe.
pub type AppendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Appended, ServerError>> + Send + 'a>>;

/// Records a screening durably before it is answered.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends the record; resolves once it is durable.
    fn append<'a>(&'a self, record: ScreeningRecord<'a>) -> AppendFuture<'a>;
}

/// Keeps nothing (until the store is wired in).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn append<'a>(&'a self, _record: ScreeningRecord<'a>) -> AppendFuture<'a> {
        Box::pin(async { Ok(Appended::default()) })
    }
}
