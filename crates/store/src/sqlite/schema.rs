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
    // 2: a case event refers to its case instead of copying it. A case's body (document,
    // reasons, matched entries) never changes after it is opened; only its state does (status,
    // holder, resolution, version, updated_at). Each event keeps that state as it was right after
    // the change (`change_json`, ~150 bytes instead of ~6 KB), and a reader rebuilds "the case
    // after the change" from the case's body plus the event's state.
    // Also: the replayable response becomes opaque bytes (new rows are BLOBs in the server's
    // binary format; rows written before keep their JSON text, which the server still reads).
    r"
    ALTER TABLE case_events ADD COLUMN change_json TEXT NOT NULL DEFAULT '';
    UPDATE case_events SET change_json = json_object(
        'status', json_extract(case_json, '$.status'),
        'claimed_by', json_extract(case_json, '$.claimed_by'),
        'resolution', json(json_extract(case_json, '$.resolution')),
        'version', json_extract(case_json, '$.version'),
        'updated_at', json_extract(case_json, '$.updated_at')
    );
    ALTER TABLE case_events DROP COLUMN case_json;
    ALTER TABLE screenings RENAME COLUMN response_json TO response;
    ",
    // 3: the response to replay lives in the screening's own audit row, and the retry key is a
    // partial unique index on that row; the `screenings` table (which repeated the request id,
    // screening id, seq and case id the audit row already holds) is gone. Every commit appends
    // its pages to the WAL whole, so each b-tree a screening touches costs a 4 KB frame per
    // commit: five b-trees (audit, its time index, screenings and its two unique indexes) became
    // three (measured with SQLite alone: 6.3 → 4.0 WAL frames per screening at one screening per
    // commit). The response stays outside the chain hash, as it was in `screenings`.
    // Before anything is dropped, every screenings row must have its audit row (they were always
    // written in one transaction): otherwise the migration fails and nothing changes.
    r"
    CREATE TEMP TABLE migration_3_check (
        orphans INTEGER CONSTRAINT every_screening_has_its_audit_record CHECK (orphans = 0)
    );
    INSERT INTO migration_3_check
        SELECT COUNT(*) FROM screenings AS s WHERE NOT EXISTS (
            SELECT 1 FROM audit AS a
            WHERE a.seq = s.seq AND a.kind = 'SCREENING'
              AND a.client_request_id = s.client_request_id
        );
    DROP TABLE migration_3_check;
    ALTER TABLE audit ADD COLUMN response BLOB;
    UPDATE audit SET response = s.response FROM screenings AS s WHERE s.seq = audit.seq;
    DROP TABLE screenings;
    CREATE UNIQUE INDEX audit_retry_key ON audit(client_request_id) WHERE kind = 'SCREENING';
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::{TimeZone, Utc};
    use rusqlite::params;

    use super::*;
    use crate::case::{Case, CaseDetails, CaseEventKind, CaseStatus};
    use crate::{SqliteStore, Store};

    fn v1_case(status: CaseStatus, claimed_by: Option<&str>, version: u64) -> Case {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
            .single()
            .unwrap();
        Case {
            case_id: "case-s-1".into(),
            screening_id: "s-1".into(),
            post_id: "ISB".into(),
            counter_id: "D-07".into(),
            officer_id: "officer-1".into(),
            direction: "DEPARTURE".into(),
            decision: "SECOND_CHECK".into(),
            reasons_json: "[]".into(),
            protection_referral: false,
            details: CaseDetails::default(),
            evidence_digests: Vec::new(),
            document_key: "dockey-1".into(),
            created_at: at,
            updated_at: at + chrono::Duration::seconds(version as i64),
            status,
            claimed_by: claimed_by.map(str::to_owned),
            resolution: None,
            version,
        }
    }

    /// A screening's audit row as builds before migration 3 wrote it (no response column).
    fn insert_v1_screening(
        conn: &Connection,
        seq: i64,
        request_id: &str,
        screening_id: &str,
        case_id: &str,
    ) {
        conn.execute(
            "INSERT INTO audit (seq, kind, at_micros, screening_id, client_request_id, post_id, \
             counter_id, officer_id, direction, doc_issuing_state, doc_number, doc_surname, \
             doc_given_names, document_key, decision, reason_codes, reasons_json, lists_hit, \
             snapshot_version, evidence_digests, sex, age_band, nationality, destination, \
             protection_referral, case_id, detail_json, hash) \
             VALUES (?1, 'SCREENING', 0, ?2, ?3, 'ISB', 'D-07', 'officer-1', 'DEPARTURE', 'PAK', \
             'AB1234567', 'KHAN', 'ALI', 'dockey-1', 'SECOND_CHECK', '[]', '[]', '[]', 'v1', \
             '[]', 'M', '30-44', 'PAK', '', 0, ?4, '', zeroblob(32))",
            params![seq, screening_id, request_id, case_id],
        )
        .unwrap();
    }

    /// Writes a database the way a build with only migration 1 did: the case, and every event
    /// carrying a whole copy of the case as it was.
    fn write_v1(path: &std::path::Path) {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let opened = v1_case(CaseStatus::Open, None, 1);
        let claimed = v1_case(CaseStatus::Claimed, Some("r1"), 2);
        conn.execute(
            "INSERT INTO cases (case_id, post_id, status, created_micros, case_json) \
             VALUES ('case-s-1', 'ISB', 'CLAIMED', 0, ?1)",
            [serde_json::to_string(&claimed).unwrap()],
        )
        .unwrap();
        insert_v1_screening(&conn, 1, "ISB/req-1", "s-1", "case-s-1");
        conn.execute(
            "INSERT INTO screenings (client_request_id, screening_id, seq, case_id, response_json) \
             VALUES ('ISB/req-1', 's-1', 1, 'case-s-1', '{\"pb\":\"0a03732d31\"}')",
            [],
        )
        .unwrap();
        for (kind, case) in [("CASE_CREATED", &opened), ("CASE_CLAIMED", &claimed)] {
            conn.execute(
                "INSERT INTO case_events (case_id, post_id, kind, at_micros, case_json) \
                 VALUES ('case-s-1', 'ISB', ?1, 0, ?2)",
                params![kind, serde_json::to_string(case).unwrap()],
            )
            .unwrap();
        }
    }

    #[test]
    fn a_version_1_database_migrates_and_its_events_still_stream_with_their_states() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpost.db");
        write_v1(&path);

        let store = SqliteStore::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT);
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('case_events')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(!columns.iter().any(|c| c == "case_json"), "{columns:?}");

        // The old events come back as the case was right after each change.
        let old = store.events_after(Some("ISB"), 0, 10).unwrap();
        assert_eq!(old.len(), 2);
        assert_eq!(old[0].kind, CaseEventKind::Created);
        assert_eq!(old[0].case, v1_case(CaseStatus::Open, None, 1));
        assert_eq!(old[1].kind, CaseEventKind::Claimed);
        assert_eq!(old[1].case, v1_case(CaseStatus::Claimed, Some("r1"), 2));

        // The migrated database keeps working: a new change continues the log after them.
        let at = Utc
            .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .unwrap();
        store.release_case("case-s-1", "r1", at).wait().unwrap();
        let new = store.events_after(Some("ISB"), old[1].cursor, 10).unwrap();
        assert_eq!(new.len(), 1);
        assert!(new[0].cursor > old[1].cursor);
        assert_eq!(new[0].kind, CaseEventKind::Released);
        assert_eq!(new[0].case.status, CaseStatus::Open);
        assert_eq!(new[0].case.version, 3);
        assert_eq!(store.get_case("case-s-1").unwrap(), new[0].case);

        // A response stored as JSON text before the migration reads back as those bytes.
        let stored = store
            .get_screening_by_request_id("ISB/req-1")
            .unwrap()
            .unwrap();
        assert_eq!(stored.response, br#"{"pb":"0a03732d31"}"#.to_vec());
        assert_eq!(stored.case_id.as_deref(), Some("case-s-1"));
        assert_eq!(stored.screening_id, "s-1");
        assert_eq!(stored.seq, 1);
    }

    /// Writes a database at schema version 2 with two screenings, one of which opened a case.
    fn write_v2(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        insert_v1_screening(&conn, 1, "ISB/req-1", "s-1", "");
        insert_v1_screening(&conn, 2, "ISB/req-2", "s-2", "case-s-2");
        for (request, screening, seq, case, response) in [
            ("ISB/req-1", "s-1", 1, None, vec![2u8, 1, 2, 3]),
            ("ISB/req-2", "s-2", 2, Some("case-s-2"), vec![2u8, 4, 5]),
        ] {
            conn.execute(
                "INSERT INTO screenings (client_request_id, screening_id, seq, case_id, response) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![request, screening, seq, case, response],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn a_version_2_database_keeps_every_response_to_replay_in_its_audit_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpost.db");
        drop(write_v2(&path));

        let store = SqliteStore::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT);
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'screenings'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "the screenings table is gone");
        let first = store.get_screening_by_request_id("ISB/req-1").unwrap();
        let first = first.expect("the first screening is still found by its retry key");
        assert_eq!(
            (
                first.seq,
                first.screening_id.as_str(),
                first.case_id,
                first.response
            ),
            (1, "s-1", None, vec![2, 1, 2, 3])
        );
        let second = store.get_screening_by_request_id("ISB/req-2").unwrap();
        let second = second.expect("the second screening is still found by its retry key");
        assert_eq!(second.case_id.as_deref(), Some("case-s-2"));
        assert_eq!(second.response, vec![2, 4, 5]);
        assert!(
            store
                .get_screening_by_request_id("ISB/req-3")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_screening_without_its_audit_row_stops_migration_3_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpost.db");
        let conn = write_v2(&path);
        conn.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
        drop(conn);

        let err = SqliteStore::open(&path).expect_err("the migration must refuse");
        assert!(
            err.to_string()
                .contains("every_screening_has_its_audit_record"),
            "{err}"
        );
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn).unwrap(), 2);
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM screenings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 2, "the screenings table is untouched");
    }
}
