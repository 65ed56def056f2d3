//! The machine-readable zone (ICAO 9303): parsing via the `mrz` crate, and what checkpost adds on
//! top — per-field positions for every check, repair and problem, the CNIC, validity at a date.

mod blocks;
mod error;
mod layout;
mod parse;
mod types;

pub use blocks::{Block, split_blocks};
pub use error::{MAX_MRZ_BYTES, MrzError};
pub use parse::parse;
pub use types::{
    Check, CheckVerdict, Field, MrzFormat, ParseOptions, Problem, ProblemKind, Repair,
    TravelDocument,
};
