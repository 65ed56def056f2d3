//! Scanned documents: from the bytes a counter scanner sends to a verdict on every QR code in
//! them.
//!
//! - [`intake`]: PNG/JPEG decoding under hard [`Limits`] (bytes, pixels, decoder memory).
//! - [`qr`]: finding every QR code in a page, with its corners (rxing first, rqrr on a miss).
//! - [`canonical`]: the byte string a seal's signature covers (JCS, RFC 8785).
//! - [`trust`]: the trust list of issuer keys that ops load.
//! - [`seal`]: ICAO VDS-NC style seals: parse, verify ES256, e-visa contents.
//! - [`register`]: the issued-visa register (offline visa verification for number-only QRs).
//! - [`crosscheck`]: does a visa belong to the passport in hand, and is it valid today.
//! - [`report`]: [`scan`], the one call that runs all of the above for one image.
//! - [`generate`]: test-only issuers, signed seals and synthetic visa pages with perturbations,
//!   for tests, benches and fixtures.
//!
//! No file or network I/O and no clock: callers pass bytes, the trust list and register text,
//! and `today`.

pub mod canonical;
pub mod crosscheck;
mod error;
pub mod generate;
pub mod intake;
pub mod qr;
pub mod register;
pub mod report;
pub mod seal;
pub mod trust;

pub use error::Error;
pub use intake::Limits;
pub use qr::{Point, QrCode};
pub use register::{VisaRecord, VisaRegister, VisaStatus};
pub use report::{Checks, CodeReport, Content, Reason, ReasonCode, ScanReport, scan};
pub use seal::{EVisa, SealVerdict};
pub use trust::{TrustList, TrustedIssuer};
