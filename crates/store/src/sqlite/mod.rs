//! The embedded backend: one SQLite file in WAL mode, one writer thread (group commit, the
//! chain head, atomic claims), and a small pool of read-only connections that WAL lets run
//! beside the writer without blocking it.

mod checkpoint;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};

use crate::Store;
use crate::audit::{AuditEntry, AuditReceipt, AuditRecord, VerifyReport, verify_rows};
use crate::case::{Case, CaseEvent, CaseFilter, CasePage, CaseStatus, Resolve};
use crate::error::{Result, SqlContext, StoreError};
use crate::notify::EventNotifier;
use crate::screening::{EvidenceBlob, ScreeningReceipt, ScreeningRecord, StoredScreening};
use crate::stats::Stats;
use crate::ticket::Ticket;
use writer::{Counters, Job};

/// The database's file name inside a data directory.
pub const DEFAULT_FILE_NAME: &str = "checkpost.db";

/// How long a connection waits for a lock before failing (a checkpoint, another process).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL pages after which the writer checkpoints in its own commit (SQLite's default).
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;

/// What the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (one fsync of the WAL each, with `synchronous=FULL`).
    pub batches: u64,
    /// Write operations applied (appends, screenings, claims, …).
    pub jobs: u64,
    /// Audit records appended.
    pub records: u64,
    /// Background WAL checkpoint passes run (see `sqlite/checkpoint.rs`).
    pub checkpoints: u64,
    /// WAL frames not yet copied into the database file, as of the last checkpoint.
    pub wal_backlog_frames: u64,
    /// How long the committed batches took (BEGIN to COMMIT, the fsync included).
    pub commit_times: crate::CommitTimes,
}

impl WriterStats {
    /// Audit records per committed batch (per fsync).
    pub fn records_per_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.records as f64 / self.batches as f64
        }
    }
}

struct Writer {
    jobs: Sender<Box<dyn Job>>,
    thread: JoinHandle<()>,
    stop_checkpointer: Sender<()>,
    checkpointer: JoinHandle<()>,
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Option<Writer>,
    // A hand-rolled pool of a few lines rather than r2d2: the connections are plain, need no
    // health checks, and the r2d2_sqlite adapter pins its own rusqlite version.
    readers: Mutex<Vec<Connection>>,
    notifier: Arc<EventNotifier>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_only", &self.writer.is_none())
            .finish_non_exhaustive()
    }
}

/// What an acknowledged write survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL` (the default): every commit fsyncs the WAL, so an acknowledged write
    /// survives power loss and a kernel crash. Costs one fsync per batch.
    #[default]
    PowerLoss,
    /// `synchronous=NORMAL`: commits reach the OS but are fsynced only at checkpoints. An
    /// acknowledged write survives the process being killed, not the machine losing power.
    /// For hardware whose fsync latency breaks the latency budget, as an explicit choice.
    ProcessCrash,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with [`Durability::PowerLoss`],
    /// migrates it, and starts the writer.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Durability::PowerLoss)
    }

    /// [`SqliteStore::open`] with a chosen durability.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL: readers never block the writer nor the writer them. synchronous=FULL by
        // default: every commit fsyncs the WAL, so an acknowledged record survives power loss,
        // not just a process crash (NORMAL only syncs at checkpoints). Group commit is what
        // keeps this affordable: one fsync per batch, not per record.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        let synchronous = match durability {
            Durability::PowerLoss => "FULL",
            Durability::ProcessCrash => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(open_err)?;
        // The bulk of each checkpoint runs on a background thread (see `checkpoint.rs`); the
        // writer's own automatic checkpoint (SQLite's default of 1000 pages, set explicitly
        // here) then finds little left to do, and still restarts the WAL so it stays small.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
            .map_err(open_err)?;
        // The writer cycles through ~15 distinct statements per batch; rusqlite's default cache
        // of 16 would evict and re-parse them as soon as one more is added.
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn)?;
        let checkpoint_conn = checkpoint::open(&path, BUSY_TIMEOUT).map_err(open_err)?;
        let chain = writer::load_chain(&conn)?;
        let notifier = Arc::new(EventNotifier::new(chain.last_event));
        let counters = Arc::new(Counters::default());
        let (jobs, rx) = mpsc::channel();
        let thread = {
            let notifier = Arc::clone(&notifier);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("cp-store-writer".to_owned())
                .spawn(move || writer::run(conn, chain, rx, notifier, counters))
                .map_err(|e| StoreError::InvalidRecord {
                    field: "writer thread",
                    reason: e.to_string(),
                })?
        };
        let (stop_checkpointer, stop_rx) = mpsc::channel();
        let checkpointer = {
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("cp-store-ckpt".to_owned())
                .spawn(move || checkpoint::run(checkpoint_conn, stop_rx, counters))
                .map_err(|e| StoreError::InvalidRecord {
                    field: "checkpoint thread",
                    reason: e.to_string(),
                })?
        };
        Ok(Self {
            path,
            writer: Some(Writer {
                jobs,
                thread,
                stop_checkpointer,
                checkpointer,
            }),
            readers: Mutex::new(Vec::new()),
            notifier,
            counters,
        })
    }

    /// Opens `<dir>/checkpost.db`.
    pub fn open_in_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open(dir.as_ref().join(DEFAULT_FILE_NAME))
    }

    /// Opens an existing database for reading only (verify, stats, inspection); writes are
    /// refused with [`StoreError::ReadOnly`]. Safe beside a running server.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let store = Self {
            path,
            writer: None,
            readers: Mutex::new(Vec::new()),
            notifier: Arc::new(EventNotifier::new(0)),
            counters: Arc::new(Counters::default()),
        };
        let latest = store.with_reader(|c| {
            schema::check_not_newer(c)?;
            c.query_row(
                "SELECT COALESCE(MAX(cursor), 0) FROM case_events",
                [],
                |r| r.get::<_, i64>(0),
            )
            .op("read newest case event")
        })?;
        store.notifier.publish(latest as u64);
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer has done since open.
    pub fn writer_stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            jobs: self.counters.jobs.load(Ordering::Relaxed),
            records: self.counters.records.load(Ordering::Relaxed),
            checkpoints: self.counters.checkpoints.load(Ordering::Acquire),
            wal_backlog_frames: self.counters.wal_frames.load(Ordering::Relaxed),
            commit_times: self.counters.commit_times.snapshot(),
        }
    }

    fn submit<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection, &mut writer::Chain) -> Result<T> + Send + 'static,
    ) -> Ticket<T> {
        let Some(w) = &self.writer else {
            return Ticket::ready(Err(StoreError::ReadOnly));
        };
        let (reply, ticket) = Ticket::new();
        // If the writer is gone the job (and its reply) is dropped: the ticket reports it.
        let _ = w.jobs.send(writer::job(reply, op));
        ticket
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let open_err = |source| StoreError::Open {
                    path: self.path.clone(),
                    source,
                };
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(open_err)?;
                c.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
                c
            }
        };
        let result = f(&conn);
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(Writer {
            jobs,
            thread,
            stop_checkpointer,
            checkpointer,
        }) = self.writer.take()
        {
            // Closing the queue lets the writer finish what is queued, then stop.
            drop(jobs);
            let _ = thread.join();
            // Then one last checkpoint of everything it wrote.
            let _ = stop_checkpointer.send(());
            let _ = checkpointer.join();
        }
    }
}

pub(crate) fn lookup_screening(
    conn: &Connection,
    client_request_id: &str,
) -> Result<Option<StoredScreening>> {
    // The `kind` term lets SQLite use the partial index `audit_retry_key`.
    conn.prepare_cached(
        "SELECT seq, screening_id, case_id, response FROM audit \
         WHERE client_request_id = ?1 AND kind = 'SCREENING'",
    )
    .and_then(|mut s| {
        s.query_row([client_request_id], |r| {
            let case_id: String = r.get(2)?;
            Ok(StoredScreening {
                seq: r.get::<_, i64>(0)? as u64,
                screening_id: r.get(1)?,
                case_id: (!case_id.is_empty()).then_some(case_id),
                response: rows::bytes(r, 3)?,
            })
        })
        .optional()
    })
    .op("look up screening")
}

impl Store for SqliteStore {
    fn writer_stats(&self) -> WriterStats {
        SqliteStore::writer_stats(self)
    }

    fn append(&self, record: AuditRecord) -> Ticket<AuditReceipt> {
        self.submit(move |c, chain| writer::append(c, chain, record))
    }

    fn record_screening(&self, screening: ScreeningRecord) -> Ticket<ScreeningReceipt> {
        self.submit(move |c, chain| writer::screening(c, chain, screening))
    }

    fn get_screening_by_request_id(
        &self,
        client_request_id: &str,
    ) -> Result<Option<StoredScreening>> {
        self.with_reader(|c| lookup_screening(c, client_request_id))
    }

    fn get_case(&self, case_id: &str) -> Result<Case> {
        self.with_reader(|c| rows::load_case(c, case_id))
    }

    fn count_cases(&self, status: CaseStatus) -> Result<u64> {
        self.with_reader(|c| {
            let n: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM cases WHERE status = ?1",
                    [status.as_str()],
                    |r| r.get(0),
                )
                .op("count cases")?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn list_cases(&self, filter: &CaseFilter) -> Result<CasePage> {
        use rusqlite::types::Value;
        let size = match filter.page_size {
            0 => 50,
            n => n.min(500),
        } as i64;
        let mut sql = String::from("SELECT id, case_id, case_json FROM cases WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(post) = &filter.post_id {
            args.push(Value::Text(post.clone()));
            sql.push_str(&format!(" AND post_id = ?{}", args.len()));
        }
        if !filter.statuses.is_empty() {
            let mut marks = Vec::new();
            for s in &filter.statuses {
                args.push(Value::Text(s.as_str().to_owned()));
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
        }
        if let Some(before) = filter.opened_before {
            args.push(Value::Integer(rows::micros(before)));
            sql.push_str(&format!(" AND created_micros <= ?{}", args.len()));
        }
        if let Some(token) = filter.page_token.as_deref().filter(|t| !t.is_empty()) {
            let id: i64 = token.parse().map_err(|_| StoreError::BadValue {
                what: "page token",
                value: token.to_owned(),
            })?;
            args.push(Value::Integer(id));
            sql.push_str(&format!(" AND id < ?{}", args.len()));
        }
        args.push(Value::Integer(size + 1));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
        self.with_reader(|c| {
            let mut stmt = c.prepare(&sql).op("list cases")?;
            let found: Vec<(i64, String, String)> = stmt
                .query_map(params_from_iter(args), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .and_then(|rows| rows.collect())
                .op("list cases")?;
            let mut page = CasePage::default();
            for (_, case_id, json) in found.iter().take(size as usize) {
                page.cases.push(rows::case_from_json(case_id, json)?);
            }
            if found.len() as i64 > size {
                page.next_page_token = found.get(size as usize - 1).map(|r| r.0.to_string());
            }
            Ok(page)
        })
    }

    fn claim_case(&self, case_id: &str, reviewer: &str, at: DateTime<Utc>) -> Ticket<Case> {
        let (case_id, reviewer) = (case_id.to_owned(), reviewer.to_owned());
        self.submit(move |c, chain| writer::claim(c, chain, &case_id, &reviewer, at))
    }

    fn release_case(&self, case_id: &str, reviewer: &str, at: DateTime<Utc>) -> Ticket<Case> {
        let (case_id, reviewer) = (case_id.to_owned(), reviewer.to_owned());
        self.submit(move |c, chain| writer::release(c, chain, &case_id, &reviewer, at))
    }

    fn resolve_case(&self, resolve: Resolve, at: DateTime<Utc>) -> Ticket<Case> {
        self.submit(move |c, chain| writer::resolve(c, chain, resolve, at))
    }

    fn events_after(
        &self,
        post_id: Option<&str>,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<CaseEvent>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.with_reader(|c| {
            let rows: Vec<Result<CaseEvent>> = match post_id {
                Some(post) => c
                    .prepare_cached(&format!(
                        "SELECT {} FROM case_events e JOIN cases c ON c.case_id = e.case_id \
                         WHERE e.post_id = ?1 AND e.cursor > ?2 ORDER BY e.cursor LIMIT ?3",
                        rows::EVENT_COLUMNS
                    ))
                    .and_then(|mut s| {
                        s.query_map(params![post, cursor as i64, limit], rows::event_from_row)?
                            .collect()
                    }),
                None => c
                    .prepare_cached(&format!(
                        "SELECT {} FROM case_events e JOIN cases c ON c.case_id = e.case_id \
                         WHERE e.cursor > ?1 ORDER BY e.cursor LIMIT ?2",
                        rows::EVENT_COLUMNS
                    ))
                    .and_then(|mut s| {
                        s.query_map(params![cursor as i64, limit], rows::event_from_row)?
                            .collect()
                    }),
            }
            .op("read case events")?;
            rows.into_iter().collect()
        })
    }

    fn notifier(&self) -> &EventNotifier {
        &self.notifier
    }

    fn find_cleared(
        &self,
        document_key: &str,
        entry_id: &str,
        entry_digest: &str,
    ) -> Result<Option<String>> {
        self.with_reader(|c| {
            c.prepare_cached(
                "SELECT case_id FROM cleared_matches \
                 WHERE document_key = ?1 AND entry_id = ?2 AND entry_digest = ?3",
            )
            .and_then(|mut s| {
                s.query_row([document_key, entry_id, entry_digest], |r| r.get(0))
                    .optional()
            })
            .op("look up cleared match")
        })
    }

    fn get_evidence(&self, digest: &str) -> Result<Option<EvidenceBlob>> {
        self.with_reader(|c| {
            c.prepare_cached("SELECT digest, kind, bytes FROM evidence WHERE digest = ?1")
                .and_then(|mut s| {
                    s.query_row([digest], |r| {
                        Ok(EvidenceBlob {
                            digest: r.get(0)?,
                            kind: r.get(1)?,
                            bytes: r.get(2)?,
                        })
                    })
                    .optional()
                })
                .op("read evidence")
        })
    }

    fn audit_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.with_reader(|c| {
            let sql = format!(
                "SELECT {} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                rows::AUDIT_COLUMNS
            );
            let found: Vec<Result<AuditEntry>> = c
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_map(params![seq as i64, limit], rows::audit_entry)?
                        .collect()
                })
                .op("read audit records")?;
            found.into_iter().collect()
        })
    }

    fn verify_chain(&self) -> Result<VerifyReport> {
        self.with_reader(|c| {
            // One read transaction: the walk sees one consistent chain even while the writer
            // appends.
            c.execute_batch("BEGIN").op("verify chain")?;
            let sql = format!("SELECT {} FROM audit ORDER BY seq", rows::AUDIT_COLUMNS);
            let report = (|| {
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map([], rows::verify_row)?;
                let mut failure = None;
                let report = verify_rows(rows.map_while(|r| match r {
                    Ok(row) => Some(row),
                    Err(e) => {
                        failure = Some(e);
                        None
                    }
                }));
                match failure {
                    Some(e) => Err(e),
                    None => Ok(report),
                }
            })()
            .op("verify chain");
            let _ = c.execute_batch("COMMIT");
            report
        })
    }

    fn stats(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Stats> {
        let lo = from.map_or(i64::MIN, rows::micros);
        let hi = to.map_or(i64::MAX, rows::micros);
        let range = "a.kind = 'SCREENING' AND a.at_micros >= ?1 AND a.at_micros < ?2";
        let mut stats = Stats {
            from,
            to,
            ..Stats::default()
        };
        self.with_reader(|c| {
            c.execute_batch("BEGIN").op("stats")?;
            let result = (|| -> rusqlite::Result<()> {
                let (n, referrals): (i64, i64) = c.query_row(
                    &format!(
                        "SELECT COUNT(*), COALESCE(SUM(a.protection_referral), 0) \
                         FROM audit a WHERE {range}"
                    ),
                    params![lo, hi],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                stats.screenings = n as u64;
                stats.protection_referrals = referrals as u64;
                let plain = [
                    ("decision", "a.decision"),
                    ("post", "a.post_id"),
                    ("direction", "a.direction"),
                    ("destination", "a.destination"),
                    ("sex", "a.sex"),
                    ("age_band", "a.age_band"),
                    (
                        "sex_age_band",
                        "COALESCE(NULLIF(a.sex, ''), 'UNKNOWN') || '/' || \
                         COALESCE(NULLIF(a.age_band, ''), 'UNKNOWN')",
                    ),
                ];
                let mut queries: Vec<(&str, String)> = plain
                    .iter()
                    .map(|(dim, expr)| {
                        (
                            *dim,
                            format!(
                                "SELECT {expr}, COUNT(*) FROM audit a WHERE {range} \
                                 GROUP BY 1"
                            ),
                        )
                    })
                    .collect();
                // A record counts once per distinct reason code / list it carries.
                for (dim, col) in [("reason", "a.reason_codes"), ("list", "a.lists_hit")] {
                    queries.push((
                        dim,
                        format!(
                            "SELECT j.value, COUNT(DISTINCT a.seq) FROM audit a, \
                             json_each({col}) j WHERE {range} GROUP BY 1"
                        ),
                    ));
                }
                for (dim, sql) in queries {
                    let mut stmt = c.prepare(&sql)?;
                    let mut rows = stmt.query(params![lo, hi])?;
                    while let Some(r) = rows.next()? {
                        let value: String = r.get(0)?;
                        let count: i64 = r.get(1)?;
                        stats.add(dim, &value, count as u64);
                    }
                }
                Ok(())
            })()
            .op("stats");
            let _ = c.execute_batch("COMMIT");
            result
        })?;
        Ok(stats)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::audit::AuditKind;

    /// A job that appends one audit record and then fails, the way a screening whose case
    /// cannot be written would: run alone in its transaction, it has no savepoint of its own.
    #[test]
    fn a_lone_job_that_fails_after_writing_leaves_no_trace_and_the_chain_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("checkpost.db")).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).single().unwrap();
        let record = |id: &str| {
            let mut r = AuditRecord::new(AuditKind::CaseClaimed, at);
            r.case_id = id.to_owned();
            r
        };
        let failing = record("written-then-failed");
        let err = store
            .submit(move |c, chain| {
                writer::append(c, chain, failing)?;
                Err::<(), _>(StoreError::InvalidRecord {
                    field: "test",
                    reason: "fails after its first write".into(),
                })
            })
            .wait()
            .expect_err("the job's own error reaches its ticket");
        assert!(
            matches!(err, StoreError::InvalidRecord { field: "test", .. }),
            "{err}"
        );

        let kept = store.append(record("kept")).wait().unwrap();
        let report = store.verify_chain().unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(
            report.records, 1,
            "the failed job's record is not in the table"
        );
        assert_eq!(
            report.head,
            Some((kept.seq, kept.hash)),
            "the chain continued from where it was before the failed job"
        );
        let rows: i64 = store
            .with_reader(|c| {
                c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
                    .op("count")
            })
            .unwrap();
        assert_eq!(rows, 1);
    }
}
