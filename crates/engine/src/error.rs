//! Every way a rules file is refused. Each error names the file, the 1-based line and column,
//! and — when it is about one rule — the rule (by id, or by position when it has no usable id)
//! and the key.

use std::fmt;

/// Which rule an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRef {
    /// The rule's `id`.
    Id(String),
    /// 1-based position among the `[[rule]]` tables, for a rule without a usable id.
    Index(usize),
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "'{id}'"),
            Self::Index(i) => write!(f, "#{i}"),
        }
    }
}

/// Why the engine refused its input (today: a rules file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The file is not valid TOML, or its top level has an unknown key.
    #[error("{file}:{line}:{column}: {message}")]
    Toml {
        /// The file name as given to [`Rules::from_toml`](crate::Rules::from_toml).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The TOML parser's message.
        message: String,
    },
    /// One rule has an unknown key, a bad value, or is incomplete.
    #[error("{file}:{line}:{column}: rule {rule}: key `{key}`: {message}")]
    Rule {
        /// The file name.
        file: String,
        /// 1-based line of the key (of the rule's table for a missing key).
        line: usize,
        /// 1-based column.
        column: usize,
        /// The rule.
        rule: RuleRef,
        /// The key at fault (or the missing one).
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// Two rules share an id: ops would not know which one fired.
    #[error(
        "{file}:{line}:{column}: rule '{id}': key `id`: duplicate id; first used at line {first_line}"
    )]
    DuplicateId {
        /// The file name.
        file: String,
        /// 1-based line of the second use.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The id.
        id: String,
        /// 1-based line of the first use.
        first_line: usize,
    },
}
