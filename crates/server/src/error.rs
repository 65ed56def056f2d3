//! The server's one error type, and the one function that turns it into a gRPC status
//! (`impl From<ServerError> for Status`). Nothing else in the crate builds a `Status`.

use std::path::PathBuf;

use tonic::{Code, Status};

/// Everything that can go wrong in the server, at start-up or in a call.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The config file (or a config value) is wrong.
    #[error("config {source_name}: {message}")]
    Config {
        /// The file or key.
        source_name: String,
        /// What is wrong, from the TOML parser or our checks.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An HQ public key file is not a key.
    #[error("HQ public key {}: {message}", path.display())]
    PublicKey {
        /// The key file.
        path: PathBuf,
        /// Why it was refused.
        message: String,
    },
    /// A snapshot file was refused; the active snapshot (if any) stays active.
    #[error("snapshot {}: {message}", path.display())]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// Which check failed (digest, signature, format…).
        message: String,
    },
    /// The SOP rules file was refused; the active rules stay active.
    #[error("rules {}: {message}", path.display())]
    Rules {
        /// The rules file.
        path: PathBuf,
        /// The rule id and key at fault, from the engine's validation.
        message: String,
    },
    /// A scan-stage file (trust list, visa register) was refused; the active one stays active.
    #[error("{what} {}: {message}", path.display())]
    ScanData {
        /// `trust list` or `visa register`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it was refused, from the parser (line, key or issuer at fault).
        message: String,
    },
    /// A request field is missing or malformed.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The request field, e.g. `mrz` or `direction`.
        field: String,
        /// What is wrong.
        message: String,
        /// For the MRZ: the 1-based line, 0 when not applicable.
        line: u32,
        /// For the MRZ: the 1-based column, 0 when not applicable.
        column: u32,
    },
    /// A request (or one of its fields) is over a configured limit.
    #[error("{field} is {size} bytes (or items); the limit is {limit}")]
    TooLarge {
        /// The request field, or `request` for the whole message.
        field: String,
        /// What was sent.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A `client_request_id` was reused for a different request.
    #[error(
        "client_request_id was already used for a different request; a retry must resend the same request"
    )]
    RequestIdReused,
    /// The audit trail did not accept the record, so no answer may be sent.
    #[error("audit trail unavailable: {0}")]
    Audit(String),
    /// The case store refused or failed a review call.
    #[error("{0}")]
    Store(#[from] checkpost_store::StoreError),
    /// The server has no durable store, so it cannot serve review calls.
    #[error("this server has no case store")]
    NoStore,
    /// An uploaded (or dropped-in) snapshot failed verification: corrupt, unsigned, signed by an
    /// untrusted key, truncated. Nothing of it was kept; the active snapshot stays active.
    #[error("snapshot {name} refused: {reason}; the active snapshot stays active")]
    SnapshotRefused {
        /// The upload (`upload`) or the file name.
        name: String,
        /// Which check failed, from the snapshot loader.
        #[source]
        reason: checkpost_watchlist::WatchlistError,
    },
    /// A snapshot is not newer than the active one (by its signed `created_at`).
    #[error(
        "snapshot {version} ({digest}, created {created_at}) is not newer than the active snapshot {active_version} (created {active_created_at}); the active snapshot stays active"
    )]
    SnapshotNotNewer {
        /// The refused snapshot's version label.
        version: String,
        /// Its digest, hex.
        digest: String,
        /// When it was built (RFC 3339).
        created_at: String,
        /// The active snapshot's version label.
        active_version: String,
        /// When the active one was built (RFC 3339).
        active_created_at: String,
    },
    /// `ActivateSnapshot` named a digest that is not staged.
    #[error("no staged snapshot has digest {digest}; upload it first (staged: {staged})")]
    SnapshotNotStaged {
        /// The digest asked for.
        digest: String,
        /// The staged digests, comma-separated (or `none`).
        staged: String,
    },
    /// `Watchlists/Reload` refused a file ops edited; the one in force stays in force.
    #[error("{target} not reloaded: {source}; the file in force stays in force")]
    ReloadRefused {
        /// `RULES`, `TRUST_LIST` or `VISA_REGISTER`.
        target: &'static str,
        /// Why, naming the file (and rule, key or line).
        #[source]
        source: Box<ServerError>,
    },
    /// `RollbackSnapshot` with no previous snapshot kept.
    #[error("there is no previous snapshot to roll back to")]
    NoPreviousSnapshot,
    /// The listener or the HTTP/2 server failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The caller sent no credential, or one the server does not know (never echoes a token).
    #[error("unauthenticated: {reason}")]
    Unauthenticated {
        /// What was missing or wrong.
        reason: String,
    },
    /// With access control on, a request names a caller other than the identity it
    /// authenticated as: a reviewer's `reviewer_id`, a counter terminal's `counter_id`.
    #[error(
        "{field} {claimed:?} is not the caller's identity {identity:?}: a caller acts only as itself"
    )]
    ActingAsAnother {
        /// The request field that names the caller.
        field: &'static str,
        /// The authenticated identity's name.
        identity: String,
        /// What the request named.
        claimed: String,
    },
    /// The caller is known but holds none of the roles the RPC needs.
    #[error("{identity} may not call {method}: it needs one of the roles {needed}")]
    PermissionDenied {
        /// The identity's configured name.
        identity: String,
        /// The gRPC path, e.g. `/checkpost.v1.Review/ClaimCase`.
        method: String,
        /// The roles that may call it (`none` for an unknown or closed method).
        needed: String,
    },
}

impl From<ServerError> for Status {
    fn from(err: ServerError) -> Self {
        let code = match &err {
            ServerError::InvalidArgument { .. } | ServerError::RequestIdReused => {
                Code::InvalidArgument
            }
            ServerError::TooLarge { .. } => Code::ResourceExhausted,
            ServerError::SnapshotRefused { .. } | ServerError::ReloadRefused { .. } => {
                Code::InvalidArgument
            }
            ServerError::SnapshotNotNewer { .. } | ServerError::NoPreviousSnapshot => {
                Code::FailedPrecondition
            }
            ServerError::SnapshotNotStaged { .. } => Code::NotFound,
            ServerError::Audit(_) | ServerError::NoStore => Code::Unavailable,
            ServerError::Store(e) => store_code(e),
            ServerError::Unauthenticated { .. } => Code::Unauthenticated,
            ServerError::PermissionDenied { .. } | ServerError::ActingAsAnother { .. } => {
                Code::PermissionDenied
            }
            ServerError::Config { .. }
            | ServerError::Io { .. }
            | ServerError::PublicKey { .. }
            | ServerError::Snapshot { .. }
            | ServerError::Rules { .. }
            | ServerError::ScanData { .. }
            | ServerError::Transport(_) => Code::Internal,
        };
        // The Display text names the field first (`mrz: line 2, column 29: …`), so a client can
        // show it as it is; line and column travel inside it.
        let message = err.to_string();
        Status::new(code, message)
    }
}

fn store_code(e: &checkpost_store::StoreError) -> Code {
    use checkpost_store::StoreError as E;
    match e {
        E::CaseNotFound { .. } => Code::NotFound,
        E::HeldBy { .. } | E::NotHolder { .. } | E::AlreadyResolved { .. } => {
            Code::FailedPrecondition
        }
        E::NotesRequired { .. }
        | E::ClearedNeedsClearedOutcome { .. }
        | E::UnknownEntry { .. }
        | E::BadValue { .. }
        | E::InvalidRecord { .. } => Code::InvalidArgument,
        E::Duplicate { .. } => Code::AlreadyExists,
        E::WriterGone | E::Commit { .. } | E::ReadOnly => Code::Unavailable,
        E::Open { .. } | E::Sql { .. } | E::SchemaTooNew { .. } | E::Corrupt { .. } => {
            Code::Internal
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_mrz_error_becomes_invalid_argument_naming_field_line_and_column() {
        let s: Status = ServerError::InvalidArgument {
            field: "mrz".into(),
            message: "line 2, column 14: illegal character 'a'".into(),
            line: 2,
            column: 14,
        }
        .into();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "mrz: line 2, column 14: illegal character 'a'");
    }

    #[test]
    fn a_second_claim_is_failed_precondition_naming_the_holder() {
        let s: Status = ServerError::Store(checkpost_store::StoreError::HeldBy {
            case_id: "case-1".into(),
            holder: "rev-a".into(),
        })
        .into();
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(s.message().contains("rev-a"), "{}", s.message());
    }

    #[test]
    fn an_oversized_field_is_resource_exhausted() {
        let s: Status = ServerError::TooLarge {
            field: "mrz".into(),
            size: 600,
            limit: 512,
        }
        .into();
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().contains("mrz"));
    }
}
