//! The background checkpointer. SQLite's automatic checkpoint runs inside the COMMIT of
//! whichever connection crosses `wal_autocheckpoint` pages, i.e. on the writer thread: every
//! thousand pages one batch waited for the WAL to be copied into the database file and for that
//! file's fsync, and every screening in or behind that batch waited with it (the ~20 ms p99 at
//! 500 req/s). The writer therefore runs with `wal_autocheckpoint=0`, and this thread, on its
//! own connection, runs `PRAGMA wal_checkpoint(PASSIVE)` every [`INTERVAL`]. A passive
//! checkpoint takes no lock the writer needs: the writer keeps appending to the WAL while the
//! committed frames are copied, and the next write transaction after a complete checkpoint
//! starts the WAL over from its beginning, so the file stays small.
//!
//! Durability is unchanged: a commit is durable once it is in the WAL (fsynced there with
//! `synchronous=FULL`); the checkpoint only moves already-committed pages, and SQLite fsyncs the
//! WAL before and the database after copying.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

use super::writer::Counters;

/// How often the WAL is checkpointed. At 5,000 screenings/s this is a few thousand WAL frames,
/// well under a second of copying, and far below the point where a large WAL slows readers.
pub(crate) const INTERVAL: Duration = Duration::from_millis(500);

/// The WAL file is truncated back to this size after it is restarted, so that one burst that
/// outran the checkpointer does not leave a large file behind.
pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Opens the checkpointer's connection.
pub(crate) fn open(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    // This connection never commits, so its own autocheckpoint would never fire; set it off
    // anyway so that no future write here can stall on one.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
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
        // and durable, and the next tick tries again.
        if let Ok((frames, copied)) = passive(&conn) {
            if frames > 0 {
                counters.checkpoints.fetch_add(1, Ordering::Relaxed);
            }
            counters.wal_frames.store(
                frames.saturating_sub(copied).max(0) as u64,
                Ordering::Relaxed,
            );
        }
        if last {
            return;
        }
    }
}
