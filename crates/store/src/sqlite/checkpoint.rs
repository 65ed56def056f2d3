//! The background checkpointer. SQLite's automatic checkpoint runs inside the COMMIT of the
//! connection that crosses `wal_autocheckpoint` pages, i.e. on the writer thread: every thousand
//! pages one batch waited while the WAL was copied into the database file and that file was
//! fsynced, and every screening in or behind that batch waited with it (most of the ~20 ms p99
//! at 500 req/s). This thread, on its own connection, runs `PRAGMA wal_checkpoint(PASSIVE)`
//! every [`INTERVAL`]: the bulk of the copying and of the database file's dirty pages are
//! flushed here, beside the writer, which keeps appending to the WAL meanwhile.
//!
//! The writer keeps its automatic checkpoint as well. Under continuous writes a passive
//! checkpoint from another connection never quite *completes* (new frames arrive while it
//! runs), and SQLite starts the WAL over only after a complete one; without the writer's own
//! checkpoint the WAL grew without bound (measured: 490 MB in 10 s at 2,000 screenings/s). The
//! writer's checkpoint now finds only the last few frames left to copy and little to sync, so
//! its pause is short, and the WAL is still restarted every thousand pages.
//!
//! Durability is unchanged: a commit is durable once it is in the WAL (fsynced there with
//! `synchronous=FULL`); a checkpoint only moves already-committed pages, and SQLite syncs the
//! WAL before and the database after copying.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

use super::writer::Counters;

/// How often the WAL is checkpointed in the background. Short, so that each pass has little to
/// copy and to sync and the writer's own checkpoint finds almost nothing left.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);

/// Opens the checkpointer's connection.
pub(crate) fn open(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// One passive checkpoint; returns the WAL frames and those copied so far.
pub(crate) fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
}

/// Checkpoints every [`INTERVAL`] until `stop` is signalled or dropped, then once more.
pub(crate) fn run(conn: Connection, stop: Receiver<()>, counters: Arc<Counters>) {
    loop {
        let last = match stop.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        // A failed checkpoint (busy, I/O) loses nothing: the frames stay in the WAL, readable
        // and durable, and the next pass (or the writer's own checkpoint) tries again.
        if let Ok((frames, copied)) = passive(&conn) {
            counters.wal_frames.store(
                frames.saturating_sub(copied).max(0) as u64,
                Ordering::Relaxed,
            );
        }
        // Counted after the backlog is stored: a reader that sees the count sees that pass's
        // backlog.
        counters.checkpoints.fetch_add(1, Ordering::Release);
        if last {
            return;
        }
    }
}
