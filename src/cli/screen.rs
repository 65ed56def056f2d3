//! `checkpost screen`: a counter terminal in a shell. Sends one passenger to a running server and
//! prints the decision (human or `--json`).
//!
//! Exit codes: 0 CLEAR; 1 any other decision (SECOND_CHECK, OFFLOAD, DETAIN) or a protection
//! referral — the passenger needs a human; 2 the call failed (bad MRZ, server down, …).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use checkpost_proto::v1 as pb;
use serde_json::{Value, json};

/// Flags of `checkpost screen`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Server, token and TLS flags.
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// File holding the MRZ lines; stdin when absent.
    #[arg(long)]
    mrz_file: Option<PathBuf>,
    /// A scan (PNG/JPEG) of the data page or a visa page; repeatable.
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// departure or arrival.
    #[arg(long, value_enum)]
    direction: DirectionArg,
    /// Destination (departure) or origin (arrival), ICAO 3-letter.
    #[arg(long)]
    destination: Option<String>,
    /// Visa type, e.g. WORK, VISIT, UMRAH.
    #[arg(long)]
    visa_type: Option<String>,
    /// Declared purpose, e.g. EMPLOYMENT.
    #[arg(long)]
    purpose: Option<String>,
    /// The passenger travels alone.
    #[arg(long)]
    travelling_alone: bool,
    /// A parent or guardian is present (for minors).
    #[arg(long)]
    guardian_present: bool,
    /// Relation of the accompanying adult, e.g. FATHER.
    #[arg(long)]
    guardian_relation: Option<String>,
    /// The passport carries the emigration protector stamp.
    #[arg(long)]
    protector_stamp: bool,
    /// Carrier and flight.
    #[arg(long)]
    flight: Option<String>,
    /// Visa number as printed.
    #[arg(long)]
    visa_number: Option<String>,
    /// Ask the server to fix OCR misreads that a check digit proves.
    #[arg(long)]
    repair: bool,
    /// The check-post.
    #[arg(long, env = "CHECKPOST_POST", default_value = "DEMO-POST")]
    post: String,
    /// The counter.
    #[arg(long, env = "CHECKPOST_COUNTER", default_value = "CLI")]
    counter: String,
    /// The officer's service number.
    #[arg(long, env = "CHECKPOST_OFFICER", default_value = "0000")]
    officer: String,
    /// Retry key; a fresh UUID when absent. Reuse it to retry the same request.
    #[arg(long)]
    request_id: Option<String>,
    /// Deadline for the call, e.g. 2s or 500ms.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Print the response as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `--direction` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum DirectionArg {
    Departure,
    Arrival,
}

fn request(args: &Args) -> anyhow::Result<pb::ScreenRequest> {
    let mrz = match &args.mrz_file {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the MRZ from stdin")?;
            s
        }
    };
    let scans = args
        .images
        .iter()
        .map(|p| {
            Ok(pb::Scan {
                kind: pb::ScanKind::Unspecified.into(),
                image: std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(pb::ScreenRequest {
        client_request_id: args
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        post_id: args.post.clone(),
        counter_id: args.counter.clone(),
        officer_id: args.officer.clone(),
        direction: match args.direction {
            DirectionArg::Departure => pb::Direction::Departure,
            DirectionArg::Arrival => pb::Direction::Arrival,
        }
        .into(),
        mrz,
        scans,
        travel: Some(pb::TravelDetails {
            destination: text(&args.destination),
            visa_type: text(&args.visa_type),
            purpose: text(&args.purpose),
            travelling_alone: args.travelling_alone,
            guardian_present: args.guardian_present,
            guardian_relation: text(&args.guardian_relation),
            protector_stamp: args.protector_stamp,
            flight: text(&args.flight),
            visa_number: text(&args.visa_number),
        }),
        repair_mrz: args.repair,
    })
}

fn enum_name<E: TryFrom<i32>>(v: i32, name: impl Fn(E) -> &'static str) -> String {
    E::try_from(v).map_or_else(|_| v.to_string(), |e| name(e).to_string())
}

fn decision_name(v: i32) -> String {
    enum_name(v, |d: pb::Decision| d.as_str_name())
}

/// The response as JSON, enums by name (the proto's spelling).
fn response_json(r: &pb::ScreenResponse) -> Value {
    let reasons: Vec<Value> = r
        .reasons
        .iter()
        .map(|x| {
            json!({
                "code": x.code, "message": x.message, "level": decision_name(x.level),
                "list": enum_name(x.list, |l: pb::ListKind| l.as_str_name()),
                "entry_id": x.entry_id,
                "match_kind": enum_name(x.match_kind, |k: pb::MatchKind| k.as_str_name()),
                "score": x.score, "matched_tokens": x.matched_tokens, "field": x.field,
                "line": x.line, "column": x.column, "previously_cleared": x.previously_cleared,
                "cleared_by_case_id": x.cleared_by_case_id,
                "protection_referral": x.protection_referral,
            })
        })
        .collect();
    let document = r.document.as_ref().map(|d| {
        json!({
            "format": enum_name(d.format, |f: pb::MrzFormat| f.as_str_name()),
            "document_code": d.document_code, "issuing_state": d.issuing_state,
            "document_number": d.document_number, "surname": d.surname,
            "given_names": d.given_names, "nationality": d.nationality,
            "date_of_birth": d.date_of_birth, "sex": enum_name(d.sex, |s: pb::Sex| s.as_str_name()),
            "date_of_expiry": d.date_of_expiry, "personal_number": d.personal_number,
            "national_id": d.national_id, "check_digits_valid": d.check_digits_valid,
            "checks": d.checks.iter().map(|c| json!({
                "field": c.field,
                "verdict": enum_name(c.verdict, |v: pb::CheckVerdict| v.as_str_name()),
            })).collect::<Vec<_>>(),
            "repaired_fields": d.repaired_fields,
        })
    });
    let snapshot = r.snapshot.as_ref().map(|s| {
        json!({
            "version": s.version, "digest": s.digest,
            "created_at": s.created_at.as_ref().map(ToString::to_string),
            "age_seconds": s.age_seconds, "delta_count": s.delta_count,
        })
    });
    json!({
        "screening_id": r.screening_id,
        "decision": decision_name(r.decision),
        "protection_referral": r.protection_referral,
        "reasons": reasons,
        "document": document,
        "snapshot": snapshot,
        "case_id": r.case_id,
        "scans": r.scans.iter().map(|s| json!({
            "index": s.index, "evidence_digest": s.evidence_digest, "completed": s.completed,
            "codes": s.codes.iter().map(|c| json!({
                "payload": c.payload,
                "seal": enum_name(c.seal, |v: pb::SealVerdict| v.as_str_name()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "decided_at": r.decided_at.as_ref().map(ToString::to_string),
        "replayed": r.replayed,
    })
}

fn print_human(r: &pb::ScreenResponse) {
    println!("DECISION: {}", decision_name(r.decision));
    if r.protection_referral {
        println!("PROTECTION REFERRAL: route to the anti-trafficking desk");
    }
    if let Some(d) = &r.document {
        println!(
            "document: {} {} {} {} — {}, {} (born {}, {}, {}), expires {}",
            enum_name(d.format, |f: pb::MrzFormat| f.as_str_name()),
            d.document_code,
            d.issuing_state,
            d.document_number,
            d.surname,
            d.given_names,
            if d.date_of_birth.is_empty() {
                "?"
            } else {
                &d.date_of_birth
            },
            enum_name(d.sex, |s: pb::Sex| s.as_str_name()),
            d.nationality,
            d.date_of_expiry,
        );
    }
    match &r.snapshot {
        Some(s) => println!(
            "snapshot: {} ({}…, {}h old)",
            s.version,
            s.digest.get(..12).unwrap_or(&s.digest),
            s.age_seconds / 3600
        ),
        None => println!("snapshot: none active"),
    }
    if r.reasons.is_empty() {
        println!("reasons: none");
    } else {
        println!("reasons:");
    }
    for x in &r.reasons {
        let mut extra = Vec::new();
        if x.list != 0 {
            extra.push(enum_name(x.list, |l: pb::ListKind| l.as_str_name()));
        }
        if !x.entry_id.is_empty() {
            extra.push(format!("entry {}", x.entry_id));
        }
        if x.match_kind != 0 {
            extra.push(format!(
                "{} {:.2}",
                enum_name(x.match_kind, |k: pb::MatchKind| k.as_str_name()),
                x.score
            ));
        }
        if !x.field.is_empty() {
            extra.push(format!("{} @{}:{}", x.field, x.line, x.column));
        }
        if x.previously_cleared {
            extra.push(format!("previously cleared in {}", x.cleared_by_case_id));
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(" [{}]", extra.join(", "))
        };
        println!(
            "  {:<12} {:<22} {}{extra}",
            decision_name(x.level),
            x.code,
            x.message
        );
    }
    if !r.case_id.is_empty() {
        println!("case: {}", r.case_id);
    }
    println!(
        "screening: {}{}",
        r.screening_id,
        if r.replayed { " (replayed)" } else { "" }
    );
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let req = request(&args)?;
    let rt = super::runtime()?;
    let response = rt.block_on(async {
        let mut client = pb::screening_client::ScreeningClient::new(args.client.connect().await?);
        let mut request = tonic::Request::new(req);
        request.set_timeout(args.timeout);
        let response = client
            .screen(request)
            .await
            .map_err(|s| anyhow::anyhow!("{:?}: {}", s.code(), s.message()))?;
        anyhow::Ok(response.into_inner())
    })?;
    if args.json {
        println!("{}", response_json(&response));
    } else {
        print_human(&response);
    }
    let clear = response.decision == pb::Decision::Clear as i32 && !response.protection_referral;
    Ok(if clear {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
