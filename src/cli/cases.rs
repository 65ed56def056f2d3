//! `checkpost cases list|show|claim|release|resolve`: the second-check officer's queue in a shell,
//! over the server's `Review` service. Exit code 0 on success, 2 when the call failed (a second
//! claim of a held case names the holder).

use std::process::ExitCode;

use super::client::AuthChannel;
use checkpost_proto::v1 as pb;
use pb::review_client::ReviewClient;

/// Flags of `checkpost cases`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Server, token and TLS flags.
    #[command(flatten)]
    client: super::client::ClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Cases, newest first.
    List {
        /// Only this post's cases.
        #[arg(long)]
        post: Option<String>,
        /// Only cases in this state (repeatable).
        #[arg(long = "status", value_enum)]
        statuses: Vec<StatusArg>,
        /// Only cases open at least this long, e.g. 30m.
        #[arg(long, value_parser = humantime::parse_duration)]
        min_age: Option<std::time::Duration>,
        /// Cases per page.
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// A previous page's token.
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Everything about one case: document, reasons, matched entries, evidence, resolution.
    Show {
        /// The case id.
        case_id: String,
    },
    /// Take a case.
    Claim {
        /// The case id.
        case_id: String,
        /// Reviewer id.
        #[arg(long)]
        reviewer: String,
    },
    /// Give a claimed case back to the queue.
    Release {
        /// The case id.
        case_id: String,
        /// Reviewer id.
        #[arg(long)]
        reviewer: String,
    },
    /// Close a case you hold.
    Resolve {
        /// The case id.
        case_id: String,
        /// Reviewer id.
        #[arg(long)]
        reviewer: String,
        /// The outcome.
        #[arg(long, value_enum)]
        outcome: OutcomeArg,
        /// Why (required).
        #[arg(long)]
        notes: String,
        /// With `--outcome cleared`: a matched entry that is not this traveller (repeatable).
        #[arg(long = "clear-entry")]
        cleared_entry_ids: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StatusArg {
    Open,
    Claimed,
    Resolved,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutcomeArg {
    Cleared,
    Offloaded,
    Detained,
    ReferredToProtection,
}

fn status(s: StatusArg) -> pb::CaseStatus {
    match s {
        StatusArg::Open => pb::CaseStatus::Open,
        StatusArg::Claimed => pb::CaseStatus::Claimed,
        StatusArg::Resolved => pb::CaseStatus::Resolved,
    }
}

fn outcome(o: OutcomeArg) -> pb::CaseOutcome {
    match o {
        OutcomeArg::Cleared => pb::CaseOutcome::Cleared,
        OutcomeArg::Offloaded => pb::CaseOutcome::Offloaded,
        OutcomeArg::Detained => pb::CaseOutcome::Detained,
        OutcomeArg::ReferredToProtection => pb::CaseOutcome::ReferredToProtection,
    }
}

fn status_error(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

fn name<E: TryFrom<i32>>(v: i32, f: impl Fn(&E) -> &'static str) -> &'static str {
    E::try_from(v).map_or("?", |e| f(&e))
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// One line per case, without document details (safe to paste into a ticket).
fn print_line(c: &pb::Case) {
    println!(
        "{}  {:<8}  {:<12}  {}  {}  {}{}",
        c.case_id,
        name(c.status, pb::CaseStatus::as_str_name),
        name(c.decision, pb::Decision::as_str_name),
        c.post_id,
        time(c.created_at.as_ref()),
        if c.protection_referral {
            "PROTECTION "
        } else {
            ""
        },
        if c.claimed_by.is_empty() {
            String::new()
        } else {
            format!("held by {}", c.claimed_by)
        }
    );
}

fn print_case(c: &pb::Case) {
    print_line(c);
    println!(
        "screening {}  counter {}  officer {}  direction {}  version {}",
        c.screening_id,
        c.counter_id,
        c.officer_id,
        name(c.direction, pb::Direction::as_str_name),
        c.version
    );
    if let Some(d) = &c.document {
        println!(
            "document: {} {} {}, {} {}, born {}, sex {}, expires {}",
            d.document_code,
            d.issuing_state,
            d.document_number,
            d.surname,
            d.given_names,
            d.date_of_birth,
            name(d.sex, pb::Sex::as_str_name),
            d.date_of_expiry
        );
    }
    println!("reasons:");
    for r in &c.reasons {
        let cleared = if r.previously_cleared {
            format!(" (previously cleared in {})", r.cleared_by_case_id)
        } else {
            String::new()
        };
        println!(
            "  {:<12} {:<20} {} {}{}",
            name(r.level, pb::Decision::as_str_name),
            r.code,
            r.entry_id,
            r.message,
            cleared
        );
    }
    if !c.matched_entries.is_empty() {
        println!("matched entries:");
        for e in &c.matched_entries {
            println!(
                "  {} [{}] {} (father {}, born {}, nationality {}) action {}: {} ({})",
                e.entry_id,
                name(e.list, pb::ListKind::as_str_name),
                e.full_name,
                e.father_name,
                e.date_of_birth,
                e.nationality,
                name(e.action, pb::Decision::as_str_name),
                e.reason,
                e.reference
            );
        }
    }
    for e in &c.evidence {
        println!("evidence: {} {} ({} bytes)", e.kind, e.digest, e.size);
    }
    if let Some(r) = &c.resolution {
        println!(
            "resolved {} by {} at {}: {}",
            name(r.outcome, pb::CaseOutcome::as_str_name),
            r.resolved_by,
            time(r.resolved_at.as_ref()),
            r.notes
        );
        if !r.cleared_entry_ids.is_empty() {
            println!("cleared entries: {}", r.cleared_entry_ids.join(", "));
        }
    }
}

async fn call(mut client: ReviewClient<AuthChannel>, command: Command) -> anyhow::Result<()> {
    match command {
        Command::List {
            post,
            statuses,
            min_age,
            page_size,
            page_token,
        } => {
            let page = client
                .list_cases(pb::ListCasesRequest {
                    post_id: post.unwrap_or_default(),
                    statuses: statuses.into_iter().map(|s| status(s).into()).collect(),
                    min_age_seconds: min_age
                        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
                    page_size,
                    page_token: page_token.unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            for c in &page.cases {
                print_line(c);
            }
            if !page.next_page_token.is_empty() {
                println!("next page: --page-token {}", page.next_page_token);
            }
        }
        Command::Show { case_id } => {
            let c = client
                .get_case(pb::GetCaseRequest {
                    case_id,
                    include_images: false,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_case(&c);
        }
        Command::Claim { case_id, reviewer } => {
            let c = client
                .claim_case(pb::ClaimCaseRequest {
                    case_id,
                    reviewer_id: reviewer,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_line(&c);
        }
        Command::Release { case_id, reviewer } => {
            let c = client
                .release_case(pb::ReleaseCaseRequest {
                    case_id,
                    reviewer_id: reviewer,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_line(&c);
        }
        Command::Resolve {
            case_id,
            reviewer,
            outcome: o,
            notes,
            cleared_entry_ids,
        } => {
            let c = client
                .resolve_case(pb::ResolveCaseRequest {
                    case_id,
                    reviewer_id: reviewer,
                    outcome: outcome(o).into(),
                    notes,
                    cleared_entry_ids,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_case(&c);
        }
    }
    Ok(())
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = ReviewClient::new(args.client.connect().await?);
        call(client, args.command).await
    })?;
    Ok(ExitCode::SUCCESS)
}
