//! Every way the store can refuse or fail. Variants carry what the caller needs to act or to
//! answer a user (case id, holder, seq, column) — never a document number or a name.

use std::path::PathBuf;

/// An error from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or prepared.
    #[error("cannot open the store at {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("store {op} failed: {source}")]
    Sql {
        /// The operation that ran it (e.g. "claim case").
        op: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer checkpost than this one.
    #[error("the database schema is version {found}; this checkpost understands up to {supported}")]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build migrates to.
        supported: i64,
    },
    /// A batch could not be committed; none of its records or changes are stored.
    #[error("the store could not commit a batch (nothing in it was stored): {message}")]
    Commit {
        /// What SQLite said.
        message: String,
    },
    /// The writer thread stopped (the store was dropped or the thread panicked).
    #[error("the store's writer has stopped; the write was not acknowledged")]
    WriterGone,
    /// The store was opened read-only.
    #[error("the store was opened read-only")]
    ReadOnly,
    /// A record the caller built is not valid.
    #[error("invalid {field}: {reason}")]
    InvalidRecord {
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A stored row could not be decoded (a damaged or hand-edited database).
    #[error("stored {table} row {key}: column {column} is unreadable: {reason}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// The row's key (seq, case id, cursor).
        key: String,
        /// Column name.
        column: &'static str,
        /// Why it could not be read.
        reason: String,
    },
    /// No case has this id.
    #[error("no case with id {case_id}")]
    CaseNotFound {
        /// The id asked for.
        case_id: String,
    },
    /// Another reviewer holds the case.
    #[error("case {case_id} is held by {holder}")]
    HeldBy {
        /// The case.
        case_id: String,
        /// The reviewer holding it.
        holder: String,
    },
    /// The reviewer does not hold the case (release / resolve need the claim).
    #[error("case {case_id} is not held by {reviewer}{}", holder_suffix(.holder))]
    NotHolder {
        /// The case.
        case_id: String,
        /// Who asked.
        reviewer: String,
        /// Who does hold it, if anyone.
        holder: Option<String>,
    },
    /// The case is resolved; it is never resolved (or claimed) again.
    #[error("case {case_id} is already resolved as {outcome}")]
    AlreadyResolved {
        /// The case.
        case_id: String,
        /// Its outcome.
        outcome: String,
    },
    /// Resolution notes are required.
    #[error("resolving case {case_id} needs notes")]
    NotesRequired {
        /// The case.
        case_id: String,
    },
    /// Cleared entries were given with an outcome other than CLEARED.
    #[error("case {case_id}: cleared entries are only allowed with outcome CLEARED, not {outcome}")]
    ClearedNeedsClearedOutcome {
        /// The case.
        case_id: String,
        /// The outcome given.
        outcome: String,
    },
    /// A cleared entry id is not among the case's matched entries.
    #[error("case {case_id} has no matched entry {entry_id}")]
    UnknownEntry {
        /// The case.
        case_id: String,
        /// The entry id given.
        entry_id: String,
    },
    /// An id that must be unique was used twice.
    #[error("{what} {id} already exists")]
    Duplicate {
        /// What kind of id ("case", "screening").
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A value is not one of an enum's spellings.
    #[error("'{value}' is not a valid {what}")]
    BadValue {
        /// Which enum.
        what: &'static str,
        /// The spelling given.
        value: String,
    },
}

fn holder_suffix(holder: &Option<String>) -> String {
    match holder {
        Some(h) => format!(" (held by {h})"),
        None => " (nobody holds it)".to_owned(),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Attaches the operation name to a SQLite error.
pub(crate) trait SqlContext<T> {
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> SqlContext<T> for std::result::Result<T, rusqlite::Error> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Sql { op, source })
    }
}
