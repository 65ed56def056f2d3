//! checkpost-store: the state that must survive — second-check cases and the tamper-evident
//! audit trail — behind the [`Store`] trait, with SQLite ([`SqliteStore`]) as the embedded
//! backend. A PostgreSQL backend implements the same trait; callers do not change.
//!
//! - [`audit`]: the audit record, its canonical bytes, the blake3 chain and its verifier.
//! - [`case`]: cases, their life (claim / release / resolve) and the case event log.
//! - [`screening`]: what one screening writes atomically (record, case, evidence, replay).
//! - [`stats`]: PII-free counts for auditors.
//! - [`CommitTimes`]: how long the writer's commits (and their fsyncs) take.
//! - [`Ticket`]: a write's completion, signalled only once the write is durable.
//! - [`EventNotifier`]: how readers learn that the case event log grew (no tokio here).
//! - [`StoreError`]: every way the store refuses or fails.
//!
//! Wiring from tokio: `store.record_screening(r).await` (a [`Ticket`] is a future; the
//! response goes out only when it resolves). Run reads with `spawn_blocking` (they are short
//! indexed queries). For a live case stream, subscribe once at start-up with
//! `store.notifier().subscribe(Box::new(move |c| { let _ = watch_tx.send(c); }))`, then each
//! stream loops: `events_after(post, cursor, n)`, send them, and when none are left await
//! `watch_rx.changed()`. Events are read from the table, never from the notification, so a
//! slow or reconnecting client misses nothing.
//!
//! The store is independent of the engine and of gRPC: its records are plain data (ids,
//! strings, enums as their wire spellings, JSON blobs the server writes).

pub mod audit;
pub mod case;
mod commit_times;
mod error;
mod notify;
pub mod screening;
mod sqlite;
pub mod stats;
mod ticket;

use chrono::{DateTime, Utc};

pub use audit::{AuditEntry, AuditKind, AuditReceipt, AuditRecord, DocumentIdentity, VerifyReport};
pub use case::{
    Case, CaseDetails, CaseEvent, CaseEventKind, CaseFilter, CaseOutcome, CasePage, CaseStatus,
    MatchedEntry, Resolution, Resolve,
};
pub use commit_times::{COMMIT_BOUNDS_MICROS, CommitTimes};
pub use error::{Result, StoreError};
pub use notify::{EventCallback, EventNotifier};
pub use screening::{
    ClearedMatch, EvidenceBlob, ScreeningReceipt, ScreeningRecord, StoredScreening, Suppression,
};
pub use sqlite::{DEFAULT_FILE_NAME, Durability, SqliteStore, WriterStats};
pub use stats::Stats;
pub use ticket::Ticket;

/// Durable cases and audit trail.
///
/// Writes return a [`Ticket`] at once and complete it only after the write is durable; they are
/// applied in one order, which is also the audit chain's order, so a case transition and its
/// audit record are never apart. Reads are synchronous and short (an indexed query); async
/// callers may run them on a blocking pool.
pub trait Store: Send + Sync {
    /// Appends one audit record to the chain.
    fn append(&self, record: AuditRecord) -> Ticket<AuditReceipt>;

    /// Stores one screening atomically: its audit record, the response to replay, the case it
    /// opens, its evidence and its suppressions. A second call with the same client request id
    /// writes nothing and answers the first call's receipt with `replayed: true`.
    fn record_screening(&self, screening: ScreeningRecord) -> Ticket<ScreeningReceipt>;

    /// The screening stored for a client request id, if any (idempotent retries).
    fn get_screening_by_request_id(
        &self,
        client_request_id: &str,
    ) -> Result<Option<StoredScreening>>;

    /// One case. [`StoreError::CaseNotFound`] for an unknown id.
    fn get_case(&self, case_id: &str) -> Result<Case>;

    /// Cases, newest first, filtered and paged.
    fn list_cases(&self, filter: &CaseFilter) -> Result<CasePage>;

    /// How many cases are in `status`, all posts (queue depth for metrics; reads no case body).
    fn count_cases(&self, status: CaseStatus) -> Result<u64>;

    /// Takes a case. Fails with [`StoreError::HeldBy`] naming the holder when another reviewer
    /// holds it, [`StoreError::AlreadyResolved`] when resolved; claiming a case one already
    /// holds succeeds without a change. Atomic: of many concurrent claims exactly one wins.
    fn claim_case(&self, case_id: &str, reviewer: &str, at: DateTime<Utc>) -> Ticket<Case>;

    /// Gives a claimed case back to the queue. [`StoreError::NotHolder`] unless `reviewer`
    /// holds it.
    fn release_case(&self, case_id: &str, reviewer: &str, at: DateTime<Utc>) -> Ticket<Case>;

    /// Closes a case the reviewer holds, with notes (required); never twice. With
    /// [`CaseOutcome::Cleared`], remembers each cleared entry for this document.
    fn resolve_case(&self, resolve: Resolve, at: DateTime<Utc>) -> Ticket<Case>;

    /// Case events after `cursor` (exclusive), oldest first, at most `limit`, for one post or
    /// all. Resuming from the last cursor seen misses and repeats nothing.
    fn events_after(
        &self,
        post_id: Option<&str>,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<CaseEvent>>;

    /// Where to wait for new case events (see [`EventNotifier`]).
    fn notifier(&self) -> &EventNotifier;

    /// The case that cleared this document against this entry *as it now stands* (same
    /// content digest), if any.
    fn find_cleared(
        &self,
        document_key: &str,
        entry_id: &str,
        entry_digest: &str,
    ) -> Result<Option<String>>;

    /// A stored scan by digest.
    fn get_evidence(&self, digest: &str) -> Result<Option<EvidenceBlob>>;

    /// Audit records after `seq` (exclusive), in order, at most `limit`.
    fn audit_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>>;

    /// Walks the whole chain and names the first broken record.
    fn verify_chain(&self) -> Result<VerifyReport>;

    /// Screening counts in `[from, to)` (unbounded where `None`).
    fn stats(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Stats>;

    /// What the writer has done since the store was opened: committed batches (one fsync each
    /// under power-loss durability), jobs and audit records — so operators and benchmarks can
    /// see how many records each fsync carries.
    fn writer_stats(&self) -> WriterStats;
}
