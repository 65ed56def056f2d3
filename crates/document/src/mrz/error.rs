//! Structural failures: text that cannot be read as a machine-readable zone at all. A failed
//! check digit is not one of these (it is a [`Problem`](crate::Problem) on a parsed document).

/// The most bytes [`parse`](crate::parse) accepts for one zone. A TD3 is 89 bytes; the rest is
/// room for CRLF and surrounding spaces.
pub const MAX_MRZ_BYTES: usize = 512;

/// Why a text is not a readable machine-readable zone. Lines and columns are 1-based within the
/// zone (the CLI adds the block's start line in its input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MrzError {
    /// Nothing but whitespace.
    #[error("empty MRZ: no lines")]
    Empty,
    /// Longer than [`MAX_MRZ_BYTES`].
    #[error("MRZ too long: {len} bytes, at most {max} accepted")]
    TooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The wrong number of lines: 2 for TD2, TD3, MRV-A and MRV-B, 3 for TD1 (the format is
    /// read from line 1's width when it has one).
    #[error("MRZ has {found} lines; expected {expected}")]
    LineCount {
        /// Lines given.
        found: usize,
        /// What was expected, e.g. `"3 for lines of 30 (TD1)"`.
        expected: &'static str,
    },
    /// A lowercase letter: the MRZ alphabet is upper case (`A`-`Z`, `0`-`9`, `<`).
    #[error(
        "line {line}, column {column}: lowercase letter {character:?}; MRZ letters are upper case"
    )]
    Lowercase {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The letter.
        character: char,
    },
    /// A character outside the MRZ alphabet (`A`-`Z`, `0`-`9`, `<`).
    #[error(
        "line {line}, column {column}: illegal character {character:?}; the MRZ alphabet is A-Z, 0-9 and <"
    )]
    IllegalCharacter {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The character.
        character: char,
    },
    /// Line 1's width matches no format.
    #[error(
        "line {line} has {found} characters; an MRZ line has 30 (TD1), 36 (TD2, MRV-B) or 44 (TD3, MRV-A)"
    )]
    UnknownWidth {
        /// 1-based line.
        line: usize,
        /// Characters found.
        found: usize,
    },
    /// A line's width differs from what the format (read from line 1 and the line count)
    /// requires.
    #[error("line {line} has {found} characters; {format} lines have {expected}")]
    LineLength {
        /// 1-based line.
        line: usize,
        /// Characters found.
        found: usize,
        /// Characters required.
        expected: usize,
        /// The format the other lines imply.
        format: &'static str,
    },
    /// The document code (line 1, columns 1-2) is not one this layout admits.
    #[error(
        "line 1, column 1 (document_code): {code:?} is not a document code for {layout}; expected {expected}"
    )]
    DocumentCode {
        /// The two cells as printed.
        code: String,
        /// The layout, e.g. `"2 lines of 44"`.
        layout: &'static str,
        /// What is admitted, e.g. `"P (passport) or V (visa)"`.
        expected: &'static str,
    },
    /// The document number starts with the filler `<`: nothing was printed there (Doc 9303
    /// enters data from the left of each field), so the zone is misaligned or altered.
    #[error("line {line}, column {column} ({field}): the field starts with the filler '<'")]
    LeadingFiller {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field (`document_number`).
        field: &'static str,
    },
    /// Any other refusal from the `mrz` crate (kept so a future variant still reads clearly).
    #[error("unreadable MRZ: {0}")]
    Unreadable(String),
}

impl MrzError {
    /// A stable snake-case code for JSON output and reason codes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong { .. } => "too_long",
            Self::LineCount { .. } => "line_count",
            Self::Lowercase { .. } => "lowercase",
            Self::IllegalCharacter { .. } => "illegal_character",
            Self::UnknownWidth { .. } => "unknown_width",
            Self::LineLength { .. } => "line_length",
            Self::DocumentCode { .. } => "document_code",
            Self::LeadingFiller { .. } => "leading_filler",
            Self::Unreadable(_) => "unreadable",
        }
    }

    /// The 1-based line in the zone the error is about, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Lowercase { line, .. }
            | Self::IllegalCharacter { line, .. }
            | Self::UnknownWidth { line, .. }
            | Self::LineLength { line, .. }
            | Self::LeadingFiller { line, .. } => Some(*line),
            Self::DocumentCode { .. } => Some(1),
            Self::Empty | Self::TooLong { .. } | Self::LineCount { .. } | Self::Unreadable(_) => {
                None
            }
        }
    }

    /// The 1-based column the error is about, when there is one.
    pub fn column(&self) -> Option<usize> {
        match self {
            Self::Lowercase { column, .. }
            | Self::IllegalCharacter { column, .. }
            | Self::LeadingFiller { column, .. } => Some(*column),
            Self::DocumentCode { .. } => Some(1),
            _ => None,
        }
    }
}
