//! The schema and its migrations, versioned by `PRAGMA user_version`. Each migration runs once,
//! in order, inside one transaction with the version bump; a file newer than this build is
//! refused rather than guessed at.

use rusqlite::Connection;

use crate::error::{Result, SqlContext, StoreError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: audit chain, screenings (replay), cases, case events, cleared matches, evidence.
    r"
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        screening_id TEXT NOT NULL,
        client_request_id TEXT NOT NULL,
        post_id TEXT NOT NULL,
        counter_id TEXT NOT NULL,
        officer_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        doc_issuing_state TEXT NOT NULL,
        doc_number TEXT NOT NULL,
        doc_surname TEXT NOT NULL,
        doc_given_names TEXT NOT NULL,
        document_key TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason_codes TEXT NOT NULL,
        reasons_json TEXT NOT NULL,
        lists_hit TEXT NOT NULL,
        snapshot_version TEXT NOT NULL,
        evidence_digests TEXT NOT NULL,
        sex TEXT NOT NULL,
        age_band TEXT NOT NULL,
        nationality TEXT NOT NULL,
        destination TEXT NOT NULL,
        protection_referral INTEGER NOT NULL,
        case_id TEXT NOT NULL,
        detail_json TEXT NOT NULL,
        hash BLOB NOT NULL
    );
    CREATE INDEX audit_kind_at ON audit(kind, at_micros);
    CREATE TABLE screenings (
        client_request_id TEXT PRIMARY KEY,
        screening_id TEXT NOT NULL UNIQUE,
        seq INTEGER NOT NULL,
        case_id TEXT,
        response_json TEXT NOT NULL
    );
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        case_id TEXT NOT NULL UNIQUE,
        post_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_micros INTEGER NOT NULL,
        case_json TEXT NOT NULL
    );
    CREATE INDEX cases_post_status ON cases(post_id, status);
    CREATE TABLE case_events (
        cursor INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id TEXT NOT NULL,
        post_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        case_json TEXT NOT NULL
    );
    CREATE INDEX case_events_post ON case_events(post_id, cursor);
    CREATE TABLE cleared_matches (
        document_key TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        entry_digest TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        case_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        at_micros INTEGER NOT NULL,
        PRIMARY KEY (document_key, entry_id, entry_digest)
    );
    CREATE TABLE evidence (
        digest TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        bytes BLOB NOT NULL
    );
    ",
];

/// The version this build migrates to.
pub(crate) const CURRENT: i64 = MIGRATIONS.len() as i64;

/// The file's schema version.
pub(crate) fn version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .op("read schema version")
}

/// Refuses a file written by a newer build.
pub(crate) fn check_not_newer(conn: &Connection) -> Result<i64> {
    let found = version(conn)?;
    if found > CURRENT {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: CURRENT,
        });
    }
    Ok(found)
}

/// Runs every migration the file has not had.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let found = check_not_newer(conn)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction().op("begin migration")?;
        tx.execute_batch(sql).op("migrate schema")?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .op("bump schema version")?;
        tx.commit().op("commit migration")?;
    }
    Ok(())
}
