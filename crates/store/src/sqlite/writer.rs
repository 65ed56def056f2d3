//! The writer thread: the only connection that writes. It takes whatever jobs are queued (up to
//! [`MAX_BATCH`]), runs each in its own savepoint inside ONE transaction, commits once (one
//! fsync for the whole batch: group commit), and only then completes the jobs' tickets. While
//! it waits for the disk, new jobs queue up and form the next batch, so batches grow with load
//! without any timer. Doing every write here also serializes the audit chain and case claims:
//! the chain head lives in this thread's memory, and a claim is atomic by construction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows;
use crate::audit::{AuditKind, AuditReceipt, AuditRecord, ChainHash, chain_hash};
use crate::case::{Case, CaseEventKind, CaseOutcome, CaseStatus, Resolution, Resolve};
use crate::error::{Result, SqlContext, StoreError};
use crate::notify::EventNotifier;
use crate::screening::{ScreeningReceipt, ScreeningRecord};

/// Most jobs in one transaction (bounds a batch's latency and memory).
pub(crate) const MAX_BATCH: usize = 1024;

/// The chain head and the newest event cursor, as of the last applied job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chain {
    pub(crate) next_seq: u64,
    pub(crate) head: ChainHash,
    pub(crate) last_event: u64,
}

/// A queued write: runs on the writer thread and returns what completes its ticket after the
/// batch commits, or is refused unrun when no transaction could be begun.
pub(crate) trait Job: Send {
    /// Runs the operation in its own savepoint, or, when it is `alone` in its transaction,
    /// without one (see [`Ran::failed`]).
    fn run(self: Box<Self>, conn: &Connection, chain: &mut Chain, alone: bool) -> Ran;
    /// Completes the ticket with an error without running.
    fn refuse(self: Box<Self>, message: &str);
}

/// What running a job left.
pub(crate) struct Ran {
    /// Completes the job's ticket once the batch is decided.
    pub(crate) complete: Box<dyn Complete>,
    /// A job run alone (no savepoint) failed: what it wrote must be undone by rolling the
    /// transaction back. The chain is already restored; the ticket carries the job's error.
    pub(crate) failed: bool,
}

/// A job's result waiting for its batch to commit.
pub(crate) trait Complete {
    /// `commit_error` is `Some` when the batch did not commit.
    fn complete(self: Box<Self>, commit_error: Option<&str>);
}

fn commit_failed(message: &str) -> StoreError {
    StoreError::Commit {
        message: message.to_owned(),
    }
}

struct Pending<T> {
    reply: oneshot::Sender<Result<T>>,
    result: Result<T>,
}

impl<T> Complete for Pending<T> {
    fn complete(self: Box<Self>, commit_error: Option<&str>) {
        let result = match commit_error {
            None => self.result,
            Some(message) => Err(commit_failed(message)),
        };
        // The caller may have dropped its ticket; the write stands either way.
        let _ = self.reply.send(result);
    }
}

struct OpJob<T, F> {
    reply: oneshot::Sender<Result<T>>,
    op: F,
}

impl<T, F> Job for OpJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &mut Chain) -> Result<T> + Send + 'static,
{
    // Each operation runs in its own savepoint: a failed operation (a refused claim) leaves no
    // trace and does not disturb the rest of its batch. A job alone in its transaction needs
    // none: the transaction is rolled back instead, with the same effect and two statements
    // fewer (at moderate load most batches hold one screening).
    fn run(self: Box<Self>, conn: &Connection, chain: &mut Chain, alone: bool) -> Ran {
        let Self { reply, op } = *self;
        let saved = *chain;
        if alone {
            let result = op(conn, chain);
            let failed = result.is_err();
            if failed {
                *chain = saved;
            }
            return Ran {
                complete: Box::new(Pending { reply, result }),
                failed,
            };
        }
        let result = exec(conn, "SAVEPOINT job")
            .op("begin savepoint")
            .and_then(|()| op(conn, chain));
        let end = if result.is_ok() {
            exec(conn, "RELEASE job")
        } else {
            *chain = saved;
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        };
        let result = match end.op("end savepoint") {
            Ok(()) => result,
            Err(e) => {
                *chain = saved;
                Err(e)
            }
        };
        Ran {
            complete: Box::new(Pending { reply, result }),
            failed: false,
        }
    }

    fn refuse(self: Box<Self>, message: &str) {
        let _ = self.reply.send(Err(commit_failed(message)));
    }
}

/// Runs one statement from the connection's statement cache: the writer runs the same few
/// transaction-control statements for every job, and `execute_batch` would parse each anew.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Wraps an operation as a job.
pub(crate) fn job<T: Send + 'static>(
    reply: oneshot::Sender<Result<T>>,
    op: impl FnOnce(&Connection, &mut Chain) -> Result<T> + Send + 'static,
) -> Box<dyn Job> {
    Box::new(OpJob { reply, op })
}

/// Counters of the writer (for benches and metrics).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) batches: AtomicU64,
    pub(crate) jobs: AtomicU64,
    pub(crate) records: AtomicU64,
    /// Background checkpoint passes run.
    pub(crate) checkpoints: AtomicU64,
    /// WAL frames not yet copied into the database, as of the last checkpoint.
    pub(crate) wal_frames: AtomicU64,
    /// Durations of the committed batches.
    pub(crate) commit_times: crate::commit_times::Recorder,
}

/// Runs until every sender is dropped.
pub(crate) fn run(
    conn: Connection,
    mut chain: Chain,
    jobs: Receiver<Box<dyn Job>>,
    notifier: Arc<EventNotifier>,
    counters: Arc<Counters>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut done: Vec<Box<dyn Complete>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let before = chain;
        let started = std::time::Instant::now();
        let begun = exec(&conn, "BEGIN IMMEDIATE");
        let commit_error = match begun {
            Err(e) => {
                // Nothing ran: every job in the batch is refused with the reason.
                let message = e.to_string();
                for j in batch.drain(..) {
                    j.refuse(&message);
                }
                continue;
            }
            Ok(()) => {
                let n = batch.len() as u64;
                let alone = batch.len() == 1;
                let mut failed_alone = false;
                for j in batch.drain(..) {
                    let ran = j.run(&conn, &mut chain, alone);
                    failed_alone |= ran.failed;
                    done.push(ran.complete);
                }
                if failed_alone {
                    // The lone job failed part-way: undo its writes; its ticket carries its
                    // own error, not a commit error.
                    let _ = exec(&conn, "ROLLBACK");
                    chain = before;
                    for d in done.drain(..) {
                        d.complete(None);
                    }
                    continue;
                }
                match exec(&conn, "COMMIT") {
                    Ok(()) => {
                        counters.commit_times.record(started.elapsed());
                        counters.batches.fetch_add(1, Ordering::Relaxed);
                        counters.jobs.fetch_add(n, Ordering::Relaxed);
                        counters
                            .records
                            .fetch_add(chain.next_seq - before.next_seq, Ordering::Relaxed);
                        None
                    }
                    Err(e) => {
                        let _ = exec(&conn, "ROLLBACK");
                        chain = before;
                        Some(e.to_string())
                    }
                }
            }
        };
        // Publish before completing: whoever holds a completed ticket can rely on the
        // notifier already knowing about its events.
        if commit_error.is_none() && chain.last_event > before.last_event {
            notifier.publish(chain.last_event);
        }
        for d in done.drain(..) {
            d.complete(commit_error.as_deref());
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidRecord {
        field,
        reason: reason.into(),
    }
}

/// Appends one record at the chain head.
pub(crate) fn append(
    conn: &Connection,
    chain: &mut Chain,
    mut record: AuditRecord,
) -> Result<AuditReceipt> {
    record.at = rows::truncate(record.at);
    append_truncated(conn, chain, &record, None)
}

/// [`append`] of a record whose `at` is already truncated to microseconds (no copy needed),
/// with a screening's response to replay.
fn append_truncated(
    conn: &Connection,
    chain: &mut Chain,
    record: &AuditRecord,
    response: Option<&[u8]>,
) -> Result<AuditReceipt> {
    let seq = chain.next_seq;
    let hash = chain_hash(&chain.head, seq, record);
    rows::insert_audit(conn, seq, record, &hash, response)?;
    chain.next_seq += 1;
    chain.head = hash;
    Ok(AuditReceipt { seq, hash })
}

/// Stores one screening (see [`crate::Store::record_screening`]).
pub(crate) fn screening(
    conn: &Connection,
    chain: &mut Chain,
    s: ScreeningRecord,
) -> Result<ScreeningReceipt> {
    let ScreeningRecord {
        mut audit,
        response,
        open_case,
        evidence,
        suppressions,
    } = s;
    if audit.kind != AuditKind::Screening {
        return Err(invalid(
            "audit.kind",
            "a screening's record must be SCREENING",
        ));
    }
    if audit.client_request_id.is_empty() {
        return Err(invalid("client_request_id", "required"));
    }
    if audit.screening_id.is_empty() {
        return Err(invalid("screening_id", "required"));
    }
    if let Some(stored) = super::lookup_screening(conn, &audit.client_request_id)? {
        return Ok(ScreeningReceipt {
            seq: stored.seq,
            screening_id: stored.screening_id,
            case_id: stored.case_id,
            replayed: true,
            response: stored.response,
        });
    }
    match (&open_case, audit.case_id.is_empty()) {
        (Some(_), true) => audit.case_id = format!("case-{}", audit.screening_id),
        (None, false) => return Err(invalid("case_id", "set, but no case is opened")),
        _ => {}
    }
    for e in &evidence {
        if blake3::hash(&e.bytes).to_hex().as_str() != e.digest {
            return Err(invalid("evidence.digest", "not the blake3 of the bytes"));
        }
    }
    audit.at = rows::truncate(audit.at);
    // The retry key is unique among screenings (index `audit_retry_key`); the lookup above
    // already answered a known key, so a conflict here cannot happen short of a bug.
    let receipt = append_truncated(conn, chain, &audit, Some(response.as_slice()))?;
    let case_id = (!audit.case_id.is_empty()).then(|| audit.case_id.clone());
    for e in &evidence {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO evidence (digest, kind, bytes) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut st| st.execute(params![e.digest, e.kind, e.bytes]))
        .op("store evidence")?;
    }
    if let Some(details) = open_case {
        let case = Case {
            case_id: audit.case_id.clone(),
            screening_id: audit.screening_id.clone(),
            post_id: audit.post_id.clone(),
            counter_id: audit.counter_id.clone(),
            officer_id: audit.officer_id.clone(),
            direction: audit.direction.clone(),
            decision: audit.decision.clone(),
            reasons_json: audit.reasons_json.clone(),
            protection_referral: audit.protection_referral,
            details,
            evidence_digests: audit.evidence_digests.clone(),
            document_key: audit.document_key.clone(),
            created_at: audit.at,
            updated_at: audit.at,
            status: CaseStatus::Open,
            claimed_by: None,
            resolution: None,
            version: 1,
        };
        rows::insert_case(conn, &case)?;
        chain.last_event = rows::insert_event(conn, CaseEventKind::Created, &case, audit.at)?;
    }
    for s in suppressions {
        let mut r = AuditRecord::new(AuditKind::MatchSuppressed, audit.at);
        r.screening_id = audit.screening_id.clone();
        r.post_id = audit.post_id.clone();
        r.counter_id = audit.counter_id.clone();
        r.officer_id = audit.officer_id.clone();
        r.direction = audit.direction.clone();
        r.document_key = audit.document_key.clone();
        r.case_id = s.cleared_by_case.clone();
        r.detail_json =
            serde_json::to_string(&s).map_err(|e| invalid("suppression", e.to_string()))?;
        append(conn, chain, r)?;
    }
    Ok(ScreeningReceipt {
        seq: receipt.seq,
        screening_id: audit.screening_id,
        case_id,
        replayed: false,
        response,
    })
}

/// The audit record of a case transition by `reviewer`.
fn transition(
    conn: &Connection,
    chain: &mut Chain,
    kind: AuditKind,
    case: &Case,
    reviewer: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let mut r = AuditRecord::new(kind, case.updated_at);
    r.screening_id = case.screening_id.clone();
    r.post_id = case.post_id.clone();
    r.counter_id = case.counter_id.clone();
    r.officer_id = reviewer.to_owned();
    r.direction = case.direction.clone();
    r.document_key = case.document_key.clone();
    r.decision = case.decision.clone();
    r.case_id = case.case_id.clone();
    r.detail_json = detail.to_string();
    append(conn, chain, r).map(|_| ())
}

fn refuse_resolved(case: &Case) -> Result<()> {
    match &case.resolution {
        Some(res) => Err(StoreError::AlreadyResolved {
            case_id: case.case_id.clone(),
            outcome: res.outcome.as_str().to_owned(),
        }),
        None => Ok(()),
    }
}

fn changed(
    conn: &Connection,
    chain: &mut Chain,
    case: &mut Case,
    at: DateTime<Utc>,
    event: CaseEventKind,
) -> Result<()> {
    case.updated_at = rows::truncate(at);
    case.version += 1;
    rows::update_case(conn, case)?;
    chain.last_event = rows::insert_event(conn, event, case, case.updated_at)?;
    Ok(())
}

pub(crate) fn claim(
    conn: &Connection,
    chain: &mut Chain,
    case_id: &str,
    reviewer: &str,
    at: DateTime<Utc>,
) -> Result<Case> {
    if reviewer.is_empty() {
        return Err(invalid("reviewer", "required"));
    }
    let mut case = rows::load_case(conn, case_id)?;
    refuse_resolved(&case)?;
    match case.claimed_by.as_deref() {
        Some(holder) if holder == reviewer => return Ok(case),
        Some(holder) => {
            return Err(StoreError::HeldBy {
                case_id: case_id.to_owned(),
                holder: holder.to_owned(),
            });
        }
        None => {}
    }
    case.status = CaseStatus::Claimed;
    case.claimed_by = Some(reviewer.to_owned());
    changed(conn, chain, &mut case, at, CaseEventKind::Claimed)?;
    transition(
        conn,
        chain,
        AuditKind::CaseClaimed,
        &case,
        reviewer,
        serde_json::json!({ "version": case.version }),
    )?;
    Ok(case)
}

fn require_holder(case: &Case, reviewer: &str) -> Result<()> {
    refuse_resolved(case)?;
    if case.claimed_by.as_deref() != Some(reviewer) {
        return Err(StoreError::NotHolder {
            case_id: case.case_id.clone(),
            reviewer: reviewer.to_owned(),
            holder: case.claimed_by.clone(),
        });
    }
    Ok(())
}

pub(crate) fn release(
    conn: &Connection,
    chain: &mut Chain,
    case_id: &str,
    reviewer: &str,
    at: DateTime<Utc>,
) -> Result<Case> {
    let mut case = rows::load_case(conn, case_id)?;
    require_holder(&case, reviewer)?;
    case.status = CaseStatus::Open;
    case.claimed_by = None;
    changed(conn, chain, &mut case, at, CaseEventKind::Released)?;
    transition(
        conn,
        chain,
        AuditKind::CaseReleased,
        &case,
        reviewer,
        serde_json::json!({ "version": case.version }),
    )?;
    Ok(case)
}

pub(crate) fn resolve(
    conn: &Connection,
    chain: &mut Chain,
    req: Resolve,
    at: DateTime<Utc>,
) -> Result<Case> {
    let mut case = rows::load_case(conn, &req.case_id)?;
    require_holder(&case, &req.reviewer)?;
    if req.notes.trim().is_empty() {
        return Err(StoreError::NotesRequired {
            case_id: req.case_id,
        });
    }
    if !req.cleared_entry_ids.is_empty() && req.outcome != CaseOutcome::Cleared {
        return Err(StoreError::ClearedNeedsClearedOutcome {
            case_id: req.case_id,
            outcome: req.outcome.as_str().to_owned(),
        });
    }
    let mut cleared = Vec::with_capacity(req.cleared_entry_ids.len());
    for id in &req.cleared_entry_ids {
        let entry = case
            .details
            .matched
            .iter()
            .find(|m| &m.entry_id == id)
            .ok_or_else(|| StoreError::UnknownEntry {
                case_id: req.case_id.clone(),
                entry_id: id.clone(),
            })?;
        cleared.push(entry.clone());
    }
    let at = rows::truncate(at);
    case.status = CaseStatus::Resolved;
    case.claimed_by = None;
    case.resolution = Some(Resolution {
        outcome: req.outcome,
        notes: req.notes.clone(),
        resolved_by: req.reviewer.clone(),
        resolved_at: at,
        cleared_entry_ids: req.cleared_entry_ids.clone(),
    });
    changed(conn, chain, &mut case, at, CaseEventKind::Resolved)?;
    for entry in &cleared {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO cleared_matches \
             (document_key, entry_id, entry_digest, reviewer, case_id, reason, at_micros) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut st| {
            st.execute(params![
                case.document_key,
                entry.entry_id,
                entry.content_digest,
                req.reviewer,
                case.case_id,
                req.notes,
                rows::micros(at)
            ])
        })
        .op("remember cleared match")?;
    }
    transition(
        conn,
        chain,
        AuditKind::CaseResolved,
        &case,
        &req.reviewer,
        serde_json::json!({
            "version": case.version,
            "outcome": req.outcome.as_str(),
            "notes": req.notes,
            "cleared": cleared,
        }),
    )?;
    Ok(case)
}

/// Reads the chain head and newest event cursor at start-up.
pub(crate) fn load_chain(conn: &Connection) -> Result<Chain> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .op("read chain head")?;
    let (next_seq, head) = match last {
        None => (1, crate::audit::genesis()),
        Some((seq, hash)) => {
            let head = ChainHash::try_from(hash.as_slice()).map_err(|_| StoreError::Corrupt {
                table: "audit",
                key: seq.to_string(),
                column: "hash",
                reason: "not 32 bytes".to_owned(),
            })?;
            (seq as u64 + 1, head)
        }
    };
    let last_event: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(cursor), 0) FROM case_events",
            [],
            |r| r.get(0),
        )
        .op("read newest case event")?;
    Ok(Chain {
        next_seq,
        head,
        last_event: last_event as u64,
    })
}
