//! Proto <-> domain, in one place. Requests come in as prost structs and leave this module as
//! domain values (`Direction`, `TravelDetails`, a parsed `TravelDocument`); decisions go out as
//! prost structs. Nothing else in checkpost touches the wire types.

use checkpost_docscan::{ScanReport, SealVerdict};
use checkpost_document::{CheckVerdict, MrzFormat, Sex, TravelDocument};
use checkpost_engine::{Reason, TravelDetails};
use checkpost_proto::v1 as pb;
use checkpost_store::{Case, CaseEvent, CaseEventKind, CaseOutcome, CaseStatus};
use checkpost_watchlist::snapshot::Snapshot;
use checkpost_watchlist::{Decision, Direction, Entry, ListKind, MatchKind};
use chrono::{DateTime, Utc};

use crate::ServerError;

/// Longest `client_request_id` accepted (the contract says 64 bytes).
pub const MAX_REQUEST_ID_BYTES: usize = 64;
/// Longest post / counter / officer id and travel-detail string accepted.
pub const MAX_TEXT_BYTES: usize = 128;

fn invalid(field: &str, message: impl Into<String>) -> ServerError {
    ServerError::InvalidArgument {
        field: field.to_string(),
        message: message.into(),
        line: 0,
        column: 0,
    }
}

fn required_text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ServerError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, "required"));
    }
    if v.len() > max {
        return Err(invalid(field, format!("at most {max} bytes")));
    }
    Ok(v)
}

fn optional_text(field: &str, value: &str) -> Result<Option<String>, ServerError> {
    let v = value.trim();
    if v.len() > MAX_TEXT_BYTES {
        return Err(invalid(field, format!("at most {MAX_TEXT_BYTES} bytes")));
    }
    Ok((!v.is_empty()).then(|| v.to_ascii_uppercase()))
}

/// The request's identifying fields, validated.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Client-chosen id for retries.
    pub client_request_id: &'a str,
    /// The check-post.
    pub post_id: &'a str,
    /// The counter.
    pub counter_id: &'a str,
    /// The officer.
    pub officer_id: &'a str,
}

/// Checks the required identifying fields.
pub fn caller(req: &pb::ScreenRequest) -> Result<Caller<'_>, ServerError> {
    Ok(Caller {
        client_request_id: required_text(
            "client_request_id",
            &req.client_request_id,
            MAX_REQUEST_ID_BYTES,
        )?,
        post_id: required_text("post_id", &req.post_id, MAX_TEXT_BYTES)?,
        counter_id: required_text("counter_id", &req.counter_id, MAX_TEXT_BYTES)?,
        officer_id: required_text("officer_id", &req.officer_id, MAX_TEXT_BYTES)?,
    })
}

/// The direction; UNSPECIFIED (or an unknown number) is refused.
pub fn direction(value: i32) -> Result<Direction, ServerError> {
    match pb::Direction::try_from(value) {
        Ok(pb::Direction::Departure) => Ok(Direction::Departure),
        Ok(pb::Direction::Arrival) => Ok(Direction::Arrival),
        _ => Err(invalid("direction", "must be DEPARTURE or ARRIVAL")),
    }
}

/// Travel details for the SOP rules; strings are trimmed and upper-cased, empty means unknown.
pub fn travel(t: Option<&pb::TravelDetails>) -> Result<TravelDetails, ServerError> {
    let Some(t) = t else {
        return Ok(TravelDetails::default());
    };
    Ok(TravelDetails {
        destination: optional_text("travel.destination", &t.destination)?,
        visa_type: optional_text("travel.visa_type", &t.visa_type)?,
        purpose: optional_text("travel.purpose", &t.purpose)?,
        travelling_alone: t.travelling_alone,
        guardian_present: t.guardian_present,
        guardian_relation: optional_text("travel.guardian_relation", &t.guardian_relation)?,
        protector_stamp: t.protector_stamp,
        visa_number: optional_text("travel.visa_number", &t.visa_number)?,
    })
}

/// A structural MRZ error: INVALID_ARGUMENT naming `mrz`, its line and column.
pub fn mrz_error(err: &checkpost_document::MrzError) -> ServerError {
    let narrow = |n: Option<usize>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    ServerError::InvalidArgument {
        field: "mrz".to_string(),
        message: err.to_string(),
        line: narrow(err.line()),
        column: narrow(err.column()),
    }
}

/// A UTC instant on the wire.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A decision level on the wire.
pub fn decision(d: Decision) -> pb::Decision {
    match d {
        Decision::Clear => pb::Decision::Clear,
        Decision::SecondCheck => pb::Decision::SecondCheck,
        Decision::Offload => pb::Decision::Offload,
        Decision::Detain => pb::Decision::Detain,
    }
}

fn list(l: ListKind) -> pb::ListKind {
    match l {
        ListKind::Blacklist => pb::ListKind::Blacklist,
        ListKind::Ecl => pb::ListKind::Ecl,
        ListKind::Pcl => pb::ListKind::Pcl,
        ListKind::Po => pb::ListKind::Po,
        ListKind::Sltd => pb::ListKind::Sltd,
        ListKind::CnicBlock => pb::ListKind::CnicBlock,
    }
}

fn match_kind(k: MatchKind) -> pb::MatchKind {
    match k {
        MatchKind::Document => pb::MatchKind::Document,
        MatchKind::NationalId => pb::MatchKind::NationalId,
        MatchKind::NameDob => pb::MatchKind::NameDob,
        MatchKind::NameOnly => pb::MatchKind::NameOnly,
    }
}

fn sex(s: Sex) -> pb::Sex {
    match s {
        Sex::Male => pb::Sex::Male,
        Sex::Female => pb::Sex::Female,
        Sex::Unspecified => pb::Sex::X,
    }
}

fn format(f: MrzFormat) -> pb::MrzFormat {
    match f {
        MrzFormat::Td1 => pb::MrzFormat::Td1,
        MrzFormat::Td2 => pb::MrzFormat::Td2,
        MrzFormat::Td3 => pb::MrzFormat::Td3,
        MrzFormat::MrvA => pb::MrzFormat::MrvA,
        MrzFormat::MrvB => pb::MrzFormat::MrvB,
    }
}

fn verdict(v: CheckVerdict) -> pb::CheckVerdict {
    match v {
        CheckVerdict::Verified => pb::CheckVerdict::Verified,
        CheckVerdict::Refuted => pb::CheckVerdict::Refuted,
        CheckVerdict::NotPrinted => pb::CheckVerdict::NotPrinted,
    }
}

/// One reason on the wire.
pub fn reason(r: &Reason) -> pb::Reason {
    pb::Reason {
        code: r.code.as_str().to_string(),
        message: r.message.clone(),
        level: decision(r.level).into(),
        list: r.list.map_or(pb::ListKind::Unspecified, list).into(),
        entry_id: r.entry_or_rule_id().unwrap_or_default().to_string(),
        match_kind: r
            .match_kind
            .map_or(pb::MatchKind::Unspecified, match_kind)
            .into(),
        score: r.score,
        matched_tokens: r.matched_tokens.clone(),
        field: r.field.map(str::to_string).unwrap_or_default(),
        line: r.line.into(),
        column: r.column.into(),
        previously_cleared: r.previously_cleared,
        cleared_by_case_id: r.cleared_by_case.clone().unwrap_or_default(),
        protection_referral: r.protection_referral,
    }
}

/// The parsed document on the wire.
pub fn document(d: &TravelDocument) -> pb::Document {
    pb::Document {
        format: format(d.format).into(),
        document_code: d.document_code.clone(),
        issuing_state: d.issuing_state.clone(),
        document_number: d.document_number.clone(),
        surname: d.surname.clone(),
        given_names: d.given_names.clone(),
        nationality: d.nationality.clone(),
        date_of_birth: d.date_of_birth.map(|x| x.to_string()).unwrap_or_default(),
        sex: sex(d.sex).into(),
        date_of_expiry: d
            .date_of_expiry
            .map(|x| x.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        personal_number: d.personal_number.clone(),
        national_id: d
            .national_id
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        check_digits_valid: d.check_digits_valid(),
        checks: d
            .checks
            .iter()
            .map(|c| pb::CheckDigit {
                field: c.field.as_str().to_string(),
                verdict: verdict(c.verdict).into(),
            })
            .collect(),
        repaired_fields: d
            .repairs
            .iter()
            .map(|r| r.field.as_str().to_string())
            .collect(),
    }
}

/// Which snapshot answered, and how old it was at `now`.
pub fn snapshot_ref(s: &Snapshot, now: DateTime<Utc>) -> pb::SnapshotRef {
    pb::SnapshotRef {
        version: s.header.version.clone(),
        digest: s.digest_hex(),
        created_at: Some(timestamp(s.header.created_at)),
        age_seconds: s.age(now).num_seconds(),
        delta_count: 0,
    }
}

/// A watchlist entry as a reviewer sees it.
pub fn watchlist_entry(e: &Entry) -> pb::WatchlistEntry {
    pb::WatchlistEntry {
        entry_id: e.entry_id.to_string(),
        list: list(e.list).into(),
        full_name: e.full_name.clone(),
        aliases: e.aliases.clone(),
        father_name: e.father_name.clone().unwrap_or_default(),
        date_of_birth: e.dob.map(|d| d.to_string()).unwrap_or_default(),
        sex: sex(e.sex).into(),
        nationality: e.nationality.clone().unwrap_or_default(),
        document_numbers: e.document_numbers.clone(),
        national_id: e
            .national_id
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        action: decision(e.action).into(),
        reason: e.reason.clone(),
        reference: e.reference.clone(),
        content_digest: hex::encode(e.content_digest()),
    }
}

fn case_status(s: CaseStatus) -> pb::CaseStatus {
    match s {
        CaseStatus::Open => pb::CaseStatus::Open,
        CaseStatus::Claimed => pb::CaseStatus::Claimed,
        CaseStatus::Resolved => pb::CaseStatus::Resolved,
    }
}

/// A case status from the wire.
pub fn case_status_in(value: i32) -> Result<CaseStatus, ServerError> {
    match pb::CaseStatus::try_from(value) {
        Ok(pb::CaseStatus::Open) => Ok(CaseStatus::Open),
        Ok(pb::CaseStatus::Claimed) => Ok(CaseStatus::Claimed),
        Ok(pb::CaseStatus::Resolved) => Ok(CaseStatus::Resolved),
        _ => Err(invalid("statuses", format!("{value} is not a case status"))),
    }
}

fn case_outcome(o: CaseOutcome) -> pb::CaseOutcome {
    match o {
        CaseOutcome::Cleared => pb::CaseOutcome::Cleared,
        CaseOutcome::Offloaded => pb::CaseOutcome::Offloaded,
        CaseOutcome::Detained => pb::CaseOutcome::Detained,
        CaseOutcome::ReferredToProtection => pb::CaseOutcome::ReferredToProtection,
    }
}

/// A case outcome from the wire (UNSPECIFIED is refused).
pub fn case_outcome_in(value: i32) -> Result<CaseOutcome, ServerError> {
    match pb::CaseOutcome::try_from(value) {
        Ok(pb::CaseOutcome::Cleared) => Ok(CaseOutcome::Cleared),
        Ok(pb::CaseOutcome::Offloaded) => Ok(CaseOutcome::Offloaded),
        Ok(pb::CaseOutcome::Detained) => Ok(CaseOutcome::Detained),
        Ok(pb::CaseOutcome::ReferredToProtection) => Ok(CaseOutcome::ReferredToProtection),
        _ => Err(invalid(
            "outcome",
            "required: CLEARED, OFFLOADED, DETAINED or REFERRED_TO_PROTECTION",
        )),
    }
}

/// A required id in a review request, trimmed.
pub fn review_id<'a>(field: &str, value: &'a str) -> Result<&'a str, ServerError> {
    required_text(field, value, MAX_TEXT_BYTES)
}

/// Longest resolution notes accepted.
pub const MAX_NOTES_BYTES: usize = 8192;

/// Resolution notes: required.
pub fn notes(value: &str) -> Result<&str, ServerError> {
    required_text("notes", value, MAX_NOTES_BYTES)
}

/// A stored case on the wire, with `evidence` (the caller fetched it; images only when asked).
pub fn case(c: &Case, evidence: Vec<pb::Evidence>) -> Result<pb::Case, ServerError> {
    let (document, _) = if c.details.document_json.is_empty() {
        (None, None)
    } else {
        let (d, f) =
            crate::durable::decode_pb::<pb::Document>("document", &c.details.document_json)?;
        (Some(d), f)
    };
    let entries = crate::durable::entries_from_json(&c.details.matched_entries_json)?;
    Ok(pb::Case {
        case_id: c.case_id.clone(),
        screening_id: c.screening_id.clone(),
        post_id: c.post_id.clone(),
        counter_id: c.counter_id.clone(),
        officer_id: c.officer_id.clone(),
        direction: pb::Direction::from_str_name(&c.direction).map_or(0, i32::from),
        status: case_status(c.status).into(),
        decision: pb::Decision::from_str_name(&c.decision).map_or(0, i32::from),
        reasons: crate::durable::reasons_from_json(&c.reasons_json)?,
        protection_referral: c.protection_referral,
        document,
        matched_entries: entries.iter().map(watchlist_entry).collect(),
        evidence,
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
        claimed_by: c.claimed_by.clone().unwrap_or_default(),
        resolution: c.resolution.as_ref().map(|r| pb::Resolution {
            outcome: case_outcome(r.outcome).into(),
            notes: r.notes.clone(),
            resolved_by: r.resolved_by.clone(),
            resolved_at: Some(timestamp(r.resolved_at)),
            cleared_entry_ids: r.cleared_entry_ids.clone(),
        }),
        version: c.version,
    })
}

/// A case event on the wire (evidence digests only, never images).
pub fn case_event(e: &CaseEvent) -> Result<pb::CaseEvent, ServerError> {
    let kind = match e.kind {
        CaseEventKind::Created => pb::CaseEventKind::CaseCreated,
        CaseEventKind::Claimed => pb::CaseEventKind::CaseClaimed,
        CaseEventKind::Released => pb::CaseEventKind::CaseReleased,
        CaseEventKind::Resolved => pb::CaseEventKind::CaseResolved,
    };
    let evidence = e
        .case
        .evidence_digests
        .iter()
        .map(|d| pb::Evidence {
            digest: d.clone(),
            ..Default::default()
        })
        .collect();
    Ok(pb::CaseEvent {
        cursor: e.cursor,
        kind: kind.into(),
        case: Some(case(&e.case, evidence)?),
    })
}

/// A seal verdict on the wire (`NoSeal`, a bare visa number or other text, is UNSPECIFIED).
pub fn seal_verdict(v: SealVerdict) -> pb::SealVerdict {
    match v {
        SealVerdict::NoSeal => pb::SealVerdict::Unspecified,
        SealVerdict::Valid => pb::SealVerdict::SealValid,
        SealVerdict::Mismatch => pb::SealVerdict::SealMismatch,
        SealVerdict::BadSignature => pb::SealVerdict::SealBadSignature,
        SealVerdict::UnknownSigner => pb::SealVerdict::SealUnknownSigner,
        SealVerdict::ExpiredSigner => pb::SealVerdict::SealExpiredSigner,
        SealVerdict::WrongType => pb::SealVerdict::SealWrongType,
        SealVerdict::Malformed => pb::SealVerdict::SealMalformed,
    }
}

/// What the scan stage made of one scan, on the wire: every QR code with its corners and seal
/// verdict. `report` is `None` when the scan did not finish (out of time, or the decoder
/// failed); `digest` is the blake3 (hex) of the image, its evidence name.
pub fn scan_result(
    index: usize,
    kind: i32,
    digest: String,
    report: Option<&ScanReport>,
) -> pb::ScanResult {
    let codes = report.map_or_else(Vec::new, |r| {
        r.codes
            .iter()
            .map(|c| pb::QrCode {
                payload: c.payload.clone(),
                corners: c
                    .corners
                    .iter()
                    .map(|p| pb::Point { x: p.x, y: p.y })
                    .collect(),
                seal: seal_verdict(c.verdict).into(),
            })
            .collect()
    });
    pb::ScanResult {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        kind,
        evidence_digest: digest,
        codes,
        completed: report.is_some_and(|r| r.completed),
    }
}

/// Everything about a snapshot except its entries, as `Watchlists` reports it.
pub fn snapshot_info(s: &Snapshot, now: DateTime<Utc>) -> pb::SnapshotInfo {
    pb::SnapshotInfo {
        version: s.header.version.clone(),
        digest: s.digest_hex(),
        signer: s.header.signer_hex(),
        created_at: Some(timestamp(s.header.created_at)),
        age_seconds: s.age(now).num_seconds(),
        counts: s
            .header
            .counts
            .iter()
            .map(|(l, n)| pb::ListCount {
                list: list(*l).into(),
                entries: *n,
            })
            .collect(),
        total_entries: s.header.total(),
        format_version: s.header.format_version,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_direction_is_refused_naming_the_field() {
        let err = direction(0).unwrap_err();
        assert!(err.to_string().starts_with("direction:"), "{err}");
        assert_eq!(direction(1).unwrap(), Direction::Departure);
        assert_eq!(direction(2).unwrap(), Direction::Arrival);
        assert!(direction(99).is_err());
    }

    #[test]
    fn missing_and_overlong_ids_are_refused_naming_the_field() {
        let mut req = pb::ScreenRequest {
            client_request_id: "r1".into(),
            post_id: "ISB".into(),
            counter_id: "D-07".into(),
            officer_id: "1234".into(),
            ..Default::default()
        };
        assert!(caller(&req).is_ok());
        req.officer_id = " ".into();
        assert!(
            caller(&req)
                .unwrap_err()
                .to_string()
                .starts_with("officer_id:")
        );
        req.officer_id = "1".into();
        req.client_request_id = "x".repeat(65);
        assert!(
            caller(&req)
                .unwrap_err()
                .to_string()
                .starts_with("client_request_id:")
        );
    }

    #[test]
    fn decisions_keep_their_severity_order_on_the_wire() {
        let wire: Vec<i32> = [
            Decision::Clear,
            Decision::SecondCheck,
            Decision::Offload,
            Decision::Detain,
        ]
        .map(|d| decision(d) as i32)
        .to_vec();
        assert!(wire.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn empty_travel_details_are_unknown_and_text_is_upper_cased() {
        let t = travel(Some(&pb::TravelDetails {
            destination: " sau ".into(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(t.destination.as_deref(), Some("SAU"));
        assert_eq!(t.visa_type, None);
    }
}
