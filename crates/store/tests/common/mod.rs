//! Builders shared by the store's tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::expect_used)]

use checkpost_store::{
    AuditKind, AuditRecord, CaseDetails, DocumentIdentity, MatchedEntry, ScreeningRecord,
};
use chrono::{DateTime, TimeZone, Utc};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
        .single()
        .expect("valid time")
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

/// A CLEAR screening record number `n` at `post`.
pub fn screening_record(n: u64, post: &str) -> AuditRecord {
    let mut r = AuditRecord::new(AuditKind::Screening, at(n as i64));
    r.screening_id = format!("s-{n}");
    r.client_request_id = format!("req-{n}");
    r.post_id = post.to_owned();
    r.counter_id = "D-07".to_owned();
    r.officer_id = "officer-1".to_owned();
    r.direction = "DEPARTURE".to_owned();
    r.document = DocumentIdentity {
        issuing_state: "PAK".to_owned(),
        number: format!("AB{n:07}"),
        surname: "KHAN".to_owned(),
        given_names: "AHMED".to_owned(),
    };
    r.document_key = format!("dockey-{n}");
    r.decision = "CLEAR".to_owned();
    r.reasons_json = "[]".to_owned();
    r.snapshot_version = "2026-11-23.1".to_owned();
    r.sex = if n % 2 == 0 { "M" } else { "F" }.to_owned();
    r.age_band = "18-29".to_owned();
    r.nationality = "PAK".to_owned();
    r.destination = "ARE".to_owned();
    r
}

/// A screening that stores only its record.
pub fn clear(n: u64, post: &str) -> ScreeningRecord {
    ScreeningRecord {
        audit: screening_record(n, post),
        response: format!("{{\"screening_id\":\"s-{n}\"}}").into_bytes(),
        open_case: None,
        evidence: Vec::new(),
        suppressions: Vec::new(),
    }
}

/// A SECOND_CHECK screening on a name-only ECL hit that opens a case.
pub fn flagged(n: u64, post: &str, document_key: &str, entry_digest: &str) -> ScreeningRecord {
    let mut s = clear(n, post);
    s.audit.decision = "SECOND_CHECK".to_owned();
    s.audit.reason_codes = vec!["WATCHLIST_NAME_ONLY".to_owned()];
    s.audit.lists_hit = vec!["ECL".to_owned()];
    s.audit.reasons_json =
        r#"[{"code":"WATCHLIST_NAME_ONLY","list":"ECL","entry_id":"ECL-1"}]"#.to_owned();
    s.audit.document_key = document_key.to_owned();
    s.open_case = Some(CaseDetails {
        document_json: "{}".to_owned(),
        matched_entries_json: r#"[{"entry_id":"ECL-1"}]"#.to_owned(),
        matched: vec![MatchedEntry {
            entry_id: "ECL-1".to_owned(),
            list: "ECL".to_owned(),
            content_digest: entry_digest.to_owned(),
        }],
    });
    s
}
