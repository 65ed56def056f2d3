//! The travel document as checkpost sees it.
//!
//! - [`vocab`]: sex, partial dates and CNICs — the values every other crate shares.
//! - [`Identity`]: the person and document we screen.
//! - [`mod@mrz`]: the machine-readable zone — [`parse`] one zone into a [`TravelDocument`]
//!   (check digits, repairs and problems with line/column), [`split_blocks`] for a text holding
//!   several; parsing and check digits come from the `mrz` crate.
//!
//! No I/O, no clock: anything that depends on the date takes `today` as an argument.

pub mod mrz;
pub mod vocab;

pub use self::mrz::{
    Block, Check, CheckVerdict, Field, MAX_MRZ_BYTES, MrzError, MrzFormat, ParseOptions, Problem,
    ProblemKind, Repair, TravelDocument, parse, split_blocks,
};
pub use vocab::{Cnic, CnicError, DateError, PartialDate, Sex};

/// The person and document that checkpost screens: what the watchlist matcher and the SOP rules
/// look at. Built from a parsed MRZ (see the `mrz` module) or, in tests and the `match` CLI,
/// directly.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// Primary identifier as printed, fillers turned into single spaces, upper case.
    pub surname: String,
    /// Secondary identifier as printed, fillers turned into single spaces, upper case.
    pub given_names: String,
    /// Date of birth; `None` when unknown (the issuer printed fillers).
    pub date_of_birth: Option<PartialDate>,
    /// Sex as printed.
    pub sex: Sex,
    /// ICAO 3-letter nationality, upper case.
    pub nationality: String,
    /// ICAO 3-letter issuing state of the document.
    pub issuing_state: String,
    /// Document number without fillers.
    pub document_number: String,
    /// National identity number, when the document carries one we can read as such.
    pub national_id: Option<Cnic>,
}
