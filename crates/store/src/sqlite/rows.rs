//! Rows ↔ records: the one place that knows the column layout of each table.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEntry, AuditKind, AuditRecord, ChainHash, DocumentIdentity, VerifyRow};
use crate::case::{Case, CaseEvent, CaseEventKind, CaseStatus, Resolution};
use crate::error::{Result, SqlContext, StoreError};

/// Audit columns after `seq`, in insert / select order.
pub(crate) const AUDIT_COLUMNS: &str = "seq, kind, at_micros, screening_id, client_request_id, \
    post_id, counter_id, officer_id, direction, doc_issuing_state, doc_number, doc_surname, \
    doc_given_names, document_key, decision, reason_codes, reasons_json, lists_hit, \
    snapshot_version, evidence_digests, sex, age_band, nationality, destination, \
    protection_referral, case_id, detail_json, hash";

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_micros(m: i64) -> DateTime<Utc> {
    // Every stored value came from `micros`, so it is in range; the epoch is a safe floor.
    DateTime::from_timestamp_micros(m).unwrap_or_default()
}

/// Drops sub-microsecond digits, so the record hashed is the record read back.
pub(crate) fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    from_micros(micros(at))
}

/// A column's bytes whether it holds a BLOB or TEXT (a column whose values changed from JSON
/// text to bytes in a migration reads back either way).
pub(crate) fn bytes(row: &Row<'_>, i: usize) -> rusqlite::Result<Vec<u8>> {
    use rusqlite::types::ValueRef;
    match row.get_ref(i)? {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
        ValueRef::Null => Ok(Vec::new()),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            "response".to_owned(),
            other.data_type(),
        )),
    }
}

fn json_list(v: &[String]) -> String {
    // A Vec<String> always serializes.
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

/// Inserts one audit row. `response` is the screening's response to replay (screenings only):
/// it is kept in the row but outside the chain hash, since it is a cache of the answer, not
/// part of the record.
pub(crate) fn insert_audit(
    conn: &Connection,
    seq: u64,
    r: &AuditRecord,
    hash: &ChainHash,
    response: Option<&[u8]>,
) -> Result<()> {
    // Built once: the writer appends for every screening.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO audit ({AUDIT_COLUMNS}, response) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
              ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)"
        )
    });
    let mut stmt = conn.prepare_cached(&SQL).op("append audit record")?;
    stmt.execute(params![
        seq as i64,
        r.kind.as_str(),
        micros(r.at),
        r.screening_id,
        r.client_request_id,
        r.post_id,
        r.counter_id,
        r.officer_id,
        r.direction,
        r.document.issuing_state,
        r.document.number,
        r.document.surname,
        r.document.given_names,
        r.document_key,
        r.decision,
        json_list(&r.reason_codes),
        r.reasons_json,
        json_list(&r.lists_hit),
        r.snapshot_version,
        json_list(&r.evidence_digests),
        r.sex,
        r.age_band,
        r.nationality,
        r.destination,
        r.protection_referral,
        r.case_id,
        r.detail_json,
        &hash[..],
        response,
    ])
    .op("append audit record")?;
    Ok(())
}

/// Decodes the record columns of a row; `Err` names the column that does not decode.
fn decode_record(row: &Row<'_>) -> std::result::Result<AuditRecord, String> {
    fn text(row: &Row<'_>, i: usize, name: &str) -> std::result::Result<String, String> {
        row.get::<_, String>(i).map_err(|e| format!("{name}: {e}"))
    }
    fn list(row: &Row<'_>, i: usize, name: &str) -> std::result::Result<Vec<String>, String> {
        let s = text(row, i, name)?;
        serde_json::from_str(&s).map_err(|e| format!("{name}: {e}"))
    }
    let kind = text(row, 1, "kind")?;
    let kind = AuditKind::parse(&kind).ok_or_else(|| format!("kind: unknown '{kind}'"))?;
    let at: i64 = row.get(2).map_err(|e| format!("at_micros: {e}"))?;
    let protection_referral: bool = row
        .get(24)
        .map_err(|e| format!("protection_referral: {e}"))?;
    Ok(AuditRecord {
        kind,
        at: from_micros(at),
        screening_id: text(row, 3, "screening_id")?,
        client_request_id: text(row, 4, "client_request_id")?,
        post_id: text(row, 5, "post_id")?,
        counter_id: text(row, 6, "counter_id")?,
        officer_id: text(row, 7, "officer_id")?,
        direction: text(row, 8, "direction")?,
        document: DocumentIdentity {
            issuing_state: text(row, 9, "doc_issuing_state")?,
            number: text(row, 10, "doc_number")?,
            surname: text(row, 11, "doc_surname")?,
            given_names: text(row, 12, "doc_given_names")?,
        },
        document_key: text(row, 13, "document_key")?,
        decision: text(row, 14, "decision")?,
        reason_codes: list(row, 15, "reason_codes")?,
        reasons_json: text(row, 16, "reasons_json")?,
        lists_hit: list(row, 17, "lists_hit")?,
        snapshot_version: text(row, 18, "snapshot_version")?,
        evidence_digests: list(row, 19, "evidence_digests")?,
        sex: text(row, 20, "sex")?,
        age_band: text(row, 21, "age_band")?,
        nationality: text(row, 22, "nationality")?,
        destination: text(row, 23, "destination")?,
        protection_referral,
        case_id: text(row, 25, "case_id")?,
        detail_json: text(row, 26, "detail_json")?,
    })
}

fn hash_of(row: &Row<'_>) -> ChainHash {
    // A hash column of the wrong size or type cannot match any computed hash, which the
    // verifier reports as an edit; all zeros serves.
    row.get::<_, Vec<u8>>(27)
        .ok()
        .and_then(|v| <ChainHash>::try_from(v.as_slice()).ok())
        .unwrap_or([0; 32])
}

/// A row for the verifier: never fails, so a damaged row is reported at its seq.
pub(crate) fn verify_row(row: &Row<'_>) -> rusqlite::Result<VerifyRow> {
    let seq: i64 = row.get(0)?;
    Ok((seq as u64, decode_record(row), hash_of(row)))
}

pub(crate) fn audit_entry(row: &Row<'_>) -> rusqlite::Result<Result<AuditEntry>> {
    let seq: i64 = row.get(0)?;
    Ok(match decode_record(row) {
        Ok(record) => Ok(AuditEntry {
            seq: seq as u64,
            record,
            hash: hash_of(row),
        }),
        Err(reason) => Err(StoreError::Corrupt {
            table: "audit",
            key: seq.to_string(),
            column: "record",
            reason,
        }),
    })
}

pub(crate) fn case_from_json(key: &str, json: &str) -> Result<Case> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        table: "cases",
        key: key.to_owned(),
        column: "case_json",
        reason: e.to_string(),
    })
}

fn case_json(case: &Case) -> Result<String> {
    serde_json::to_string(case).map_err(|e| StoreError::InvalidRecord {
        field: "case",
        reason: e.to_string(),
    })
}

pub(crate) fn load_case(conn: &Connection, case_id: &str) -> Result<Case> {
    let json: Option<String> = conn
        .prepare_cached("SELECT case_json FROM cases WHERE case_id = ?1")
        .and_then(|mut s| s.query_row([case_id], |r| r.get(0)).optional())
        .op("read case")?;
    match json {
        Some(json) => case_from_json(case_id, &json),
        None => Err(StoreError::CaseNotFound {
            case_id: case_id.to_owned(),
        }),
    }
}

pub(crate) fn insert_case(conn: &Connection, case: &Case) -> Result<()> {
    let json = case_json(case)?;
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO cases (case_id, post_id, status, created_micros, case_json) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                case.case_id,
                case.post_id,
                case.status.as_str(),
                micros(case.created_at),
                json
            ])
        })
        .op("open case")?;
    if n == 0 {
        return Err(StoreError::Duplicate {
            what: "case",
            id: case.case_id.clone(),
        });
    }
    Ok(())
}

pub(crate) fn update_case(conn: &Connection, case: &Case) -> Result<()> {
    let json = case_json(case)?;
    conn.prepare_cached("UPDATE cases SET status = ?2, case_json = ?3 WHERE case_id = ?1")
        .and_then(|mut s| s.execute(params![case.case_id, case.status.as_str(), json]))
        .op("update case")?;
    Ok(())
}

/// What a case event stores of its case: the state that changes after the case is opened, as
/// it was right after the change. The rest of the case (document, reasons, matched entries,
/// evidence) is fixed when the case is opened and is read from `cases` (migration 2).
#[derive(Serialize, Deserialize)]
struct CaseChange {
    status: CaseStatus,
    claimed_by: Option<String>,
    resolution: Option<Resolution>,
    version: u64,
    updated_at: DateTime<Utc>,
}

impl CaseChange {
    fn of(case: &Case) -> Self {
        Self {
            status: case.status,
            claimed_by: case.claimed_by.clone(),
            resolution: case.resolution.clone(),
            version: case.version,
            updated_at: case.updated_at,
        }
    }

    fn apply(self, case: &mut Case) {
        case.status = self.status;
        case.claimed_by = self.claimed_by;
        case.resolution = self.resolution;
        case.version = self.version;
        case.updated_at = self.updated_at;
    }
}

/// Appends a case event; returns its cursor.
pub(crate) fn insert_event(
    conn: &Connection,
    kind: CaseEventKind,
    case: &Case,
    at: DateTime<Utc>,
) -> Result<u64> {
    let change =
        serde_json::to_string(&CaseChange::of(case)).map_err(|e| StoreError::InvalidRecord {
            field: "case event",
            reason: e.to_string(),
        })?;
    conn.prepare_cached(
        "INSERT INTO case_events (case_id, post_id, kind, at_micros, change_json) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            case.case_id,
            case.post_id,
            kind.as_str(),
            micros(at),
            change
        ])
    })
    .op("append case event")?;
    Ok(conn.last_insert_rowid() as u64)
}

/// The columns [`event_from_row`] reads, from `case_events e JOIN cases c`.
pub(crate) const EVENT_COLUMNS: &str = "e.cursor, e.kind, e.change_json, c.case_json";

/// A case event: the case's body with the state the event recorded.
pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Result<CaseEvent>> {
    let cursor: i64 = row.get(0)?;
    let kind: String = row.get(1)?;
    let change: String = row.get(2)?;
    let json: String = row.get(3)?;
    let corrupt = |column: &'static str, reason: String| StoreError::Corrupt {
        table: "case_events",
        key: cursor.to_string(),
        column,
        reason,
    };
    let kind = match kind.as_str() {
        "CASE_CREATED" => CaseEventKind::Created,
        "CASE_CLAIMED" => CaseEventKind::Claimed,
        "CASE_RELEASED" => CaseEventKind::Released,
        "CASE_RESOLVED" => CaseEventKind::Resolved,
        other => return Ok(Err(corrupt("kind", format!("unknown kind '{other}'")))),
    };
    let change: CaseChange = match serde_json::from_str(&change) {
        Ok(c) => c,
        Err(e) => return Ok(Err(corrupt("change_json", e.to_string()))),
    };
    Ok(case_from_json(&cursor.to_string(), &json).map(|mut case| {
        change.apply(&mut case);
        CaseEvent {
            cursor: cursor as u64,
            kind,
            case,
        }
    }))
}
