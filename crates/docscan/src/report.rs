//! [`scan`]: one image in, one [`ScanReport`] out — every QR code with its position, the seal
//! verdict and every reason, or why the image could not be read. Nothing here fails: an image
//! that cannot be read is a report with `completed == false` and a reason, so the caller can
//! decide SECOND_CHECK rather than lose the scan.

use std::fmt;

use checkpost_document::Identity;
use chrono::NaiveDate;

use crate::crosscheck::{holder_reasons, validity_reason};
use crate::register::{VisaRecord, VisaStatus};
use crate::seal::{self, EVisa, SealVerdict};
use crate::{Error, Limits, Point, QrCode, TrustList, VisaRegister, intake, qr};

/// What a reason is about; stable spellings for JSON and the server's reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    /// The encoded image is over the byte limit.
    ImageTooLarge,
    /// The image declares more pixels than allowed (decompression-bomb guard).
    ImageTooManyPixels,
    /// The decoder needed more memory than allowed.
    ImageDecoderMemory,
    /// The file ends before the image does.
    ImageTruncated,
    /// Not a PNG or JPEG.
    ImageUnsupportedFormat,
    /// The decoder refused the data.
    ImageCorrupt,
    /// The image was read but holds no readable QR code.
    NoQrCode,
    /// A QR code holds neither a seal nor a visa number.
    QrUnrecognized,
    /// A seal that is not well-formed.
    SealMalformed,
    /// A genuine seal of another type.
    SealWrongType,
    /// The seal's signer is not trusted.
    SealUnknownSigner,
    /// The seal's signer key is outside its validity window.
    SealExpiredSigner,
    /// The seal's signature does not verify.
    SealBadSignature,
    /// The visa was issued against another passport number.
    VisaPassportMismatch,
    /// The visa names someone else.
    VisaNameMismatch,
    /// The visa gives another date of birth.
    VisaDobMismatch,
    /// The visa gives another nationality.
    VisaNationalityMismatch,
    /// The visa's validity has not started.
    VisaNotYetValid,
    /// The visa's validity has ended.
    VisaExpired,
    /// The visa number is not on the issued-visa register.
    VisaNotInRegister,
    /// The register says the visa is revoked or cancelled.
    VisaRevoked,
    /// A bare visa number was found but no register is loaded to check it.
    VisaRegisterUnavailable,
}

impl ReasonCode {
    /// The stable spelling, e.g. `SEAL_BAD_SIGNATURE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageTooLarge => "IMAGE_TOO_LARGE",
            Self::ImageTooManyPixels => "IMAGE_TOO_MANY_PIXELS",
            Self::ImageDecoderMemory => "IMAGE_DECODER_MEMORY",
            Self::ImageTruncated => "IMAGE_TRUNCATED",
            Self::ImageUnsupportedFormat => "IMAGE_UNSUPPORTED_FORMAT",
            Self::ImageCorrupt => "IMAGE_CORRUPT",
            Self::NoQrCode => "NO_QR_CODE",
            Self::QrUnrecognized => "QR_UNRECOGNIZED",
            Self::SealMalformed => "SEAL_MALFORMED",
            Self::SealWrongType => "SEAL_WRONG_TYPE",
            Self::SealUnknownSigner => "SEAL_UNKNOWN_SIGNER",
            Self::SealExpiredSigner => "SEAL_EXPIRED_SIGNER",
            Self::SealBadSignature => "SEAL_BAD_SIGNATURE",
            Self::VisaPassportMismatch => "VISA_PASSPORT_MISMATCH",
            Self::VisaNameMismatch => "VISA_NAME_MISMATCH",
            Self::VisaDobMismatch => "VISA_DOB_MISMATCH",
            Self::VisaNationalityMismatch => "VISA_NATIONALITY_MISMATCH",
            Self::VisaNotYetValid => "VISA_NOT_YET_VALID",
            Self::VisaExpired => "VISA_EXPIRED",
            Self::VisaNotInRegister => "VISA_NOT_IN_REGISTER",
            Self::VisaRevoked => "VISA_REVOKED",
            Self::VisaRegisterUnavailable => "VISA_REGISTER_UNAVAILABLE",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding, with a message an officer can read. Messages never carry the image bytes;
/// they may name the visa holder (the officer sees the document anyway) but callers must not
/// log them verbatim (DESIGN: no raw PII in logs) — log the code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reason {
    /// What it is about.
    pub code: ReasonCode,
    /// Human-readable detail.
    pub message: String,
}

impl Reason {
    /// A reason with `code` and `message`.
    pub fn new(code: ReasonCode, message: String) -> Self {
        Self { code, message }
    }
}

impl From<&Error> for Reason {
    fn from(e: &Error) -> Self {
        let code = match e {
            Error::ImageTooLarge { .. } => ReasonCode::ImageTooLarge,
            Error::UnsupportedFormat { .. } => ReasonCode::ImageUnsupportedFormat,
            Error::Truncated { .. } => ReasonCode::ImageTruncated,
            Error::TooManyPixels { .. } => ReasonCode::ImageTooManyPixels,
            Error::DecoderMemory { .. } => ReasonCode::ImageDecoderMemory,
            _ => ReasonCode::ImageCorrupt,
        };
        Self::new(code, e.to_string())
    }
}

/// What a QR code carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Content {
    /// JSON: a seal (well-formed or not).
    Seal,
    /// A bare visa number (optionally prefixed `VISA:`).
    VisaNumber,
    /// Anything else.
    Unrecognized,
}

/// Everything checkpost made of one QR code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeReport {
    /// The decoded text.
    pub payload: String,
    /// Corners in image pixels.
    pub corners: [Point; 4],
    /// What the code carried.
    pub content: Content,
    /// The seal verdict (`NoSeal` for a visa number or unrecognized text).
    pub verdict: SealVerdict,
    /// The e-visa, when a seal verified.
    pub visa: Option<EVisa>,
    /// The register record, when the visa number is on the register.
    pub record: Option<VisaRecord>,
    /// True when the visa's holder was compared with an MRZ.
    pub cross_checked: bool,
    /// Every problem found; empty when the code is acceptable.
    pub reasons: Vec<Reason>,
}

impl CodeReport {
    /// True when the code proves a visa: a valid seal, or a register visa, with no reason
    /// against it.
    pub fn is_valid(&self) -> bool {
        self.reasons.is_empty() && (self.verdict == SealVerdict::Valid || self.record.is_some())
    }
}

/// What checkpost made of one image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanReport {
    /// blake3 of the image bytes, hex: the evidence name.
    pub digest: String,
    /// `PNG` or `JPEG`, when recognised.
    pub format: Option<String>,
    /// Width and height, when decoded.
    pub size: Option<(u32, u32)>,
    /// True when the image was decoded and searched for QR codes.
    pub completed: bool,
    /// Every QR code found, in decoder order.
    pub codes: Vec<CodeReport>,
    /// Image-level reasons: unreadable image, no QR code.
    pub reasons: Vec<Reason>,
}

impl ScanReport {
    /// Image-level reasons, then each code's.
    pub fn all_reasons(&self) -> impl Iterator<Item = &Reason> {
        self.reasons
            .iter()
            .chain(self.codes.iter().flat_map(|c| c.reasons.iter()))
    }

    /// True when the image was read, holds at least one code, and every code is valid.
    pub fn is_valid(&self) -> bool {
        self.completed
            && self.reasons.is_empty()
            && !self.codes.is_empty()
            && self.codes.iter().all(CodeReport::is_valid)
    }
}

/// What the checks of a code need besides the code: trust list, register, the MRZ of the
/// passport in hand (if any) and today's date.
#[derive(Debug, Clone, Copy)]
pub struct Checks<'a> {
    /// Issuer keys.
    pub trust: &'a TrustList,
    /// Issued-visa register, when loaded.
    pub register: Option<&'a VisaRegister>,
    /// Identity from the passport's MRZ; without it the holder is not cross-checked.
    pub mrz: Option<&'a Identity>,
    /// The decision date.
    pub today: NaiveDate,
}

/// Decodes `bytes`, finds every QR code and checks each one.
pub fn scan(bytes: &[u8], limits: &Limits, checks: &Checks<'_>) -> ScanReport {
    let digest = blake3::hash(bytes).to_hex().to_string();
    let page = match intake::decode(bytes, limits) {
        Ok(p) => p,
        Err(e) => {
            let format = match &e {
                Error::Truncated { format, .. }
                | Error::TooManyPixels { format, .. }
                | Error::DecoderMemory { format, .. }
                | Error::Corrupt { format, .. } => Some((*format).to_string()),
                _ => None,
            };
            return ScanReport {
                digest,
                format,
                size: None,
                completed: false,
                codes: Vec::new(),
                reasons: vec![Reason::from(&e)],
            };
        }
    };
    let codes: Vec<CodeReport> = qr::find(&page.luma)
        .into_iter()
        .map(|c| check_code(c, checks))
        .collect();
    let mut reasons = Vec::new();
    if codes.is_empty() {
        reasons.push(Reason::new(
            ReasonCode::NoQrCode,
            "no readable QR code in the image".into(),
        ));
    }
    ScanReport {
        digest,
        format: Some(page.format.to_string()),
        size: Some(page.luma.dimensions()),
        completed: true,
        codes,
        reasons,
    }
}

/// Classifies one QR payload and runs the checks that apply to it.
pub fn check_code(code: QrCode, checks: &Checks<'_>) -> CodeReport {
    let mut report = CodeReport {
        content: classify(&code.payload),
        payload: code.payload,
        corners: code.corners,
        verdict: SealVerdict::NoSeal,
        visa: None,
        record: None,
        cross_checked: false,
        reasons: Vec::new(),
    };
    match report.content {
        Content::Unrecognized => report.reasons.push(Reason::new(
            ReasonCode::QrUnrecognized,
            "the QR code carries neither a seal nor a visa number".into(),
        )),
        Content::VisaNumber => check_visa_number(&mut report, checks),
        Content::Seal => check_seal(&mut report, checks),
    }
    report
}

fn check_seal(report: &mut CodeReport, checks: &Checks<'_>) {
    let check = seal::verify(&report.payload, checks.trust, checks.today);
    report.verdict = check.verdict;
    report.reasons.extend(check.reason);
    let Some(visa) = check.visa else {
        return;
    };
    if let Some(mrz) = checks.mrz {
        report.reasons.extend(holder_reasons(&visa.holder, mrz));
        report.cross_checked = true;
    }
    report.reasons.extend(validity_reason(
        visa.valid_from,
        visa.valid_until,
        checks.today,
    ));
    if let Some(record) = checks.register.and_then(|r| r.get(&visa.visa_number)) {
        if record.status != VisaStatus::Issued {
            report.reasons.push(revoked(record));
        }
    }
    if !report.reasons.is_empty() {
        report.verdict = SealVerdict::Mismatch;
    }
    report.visa = Some(visa);
}

fn check_visa_number(report: &mut CodeReport, checks: &Checks<'_>) {
    let number = visa_number(&report.payload).unwrap_or_default();
    let Some(register) = checks.register else {
        report.reasons.push(Reason::new(
            ReasonCode::VisaRegisterUnavailable,
            "the QR code carries only a visa number and no issued-visa register is loaded".into(),
        ));
        return;
    };
    let Some(record) = register.get(number) else {
        report.reasons.push(Reason::new(
            ReasonCode::VisaNotInRegister,
            "the visa number is not on the issued-visa register".into(),
        ));
        return;
    };
    if record.status != VisaStatus::Issued {
        report.reasons.push(revoked(record));
    }
    if let Some(mrz) = checks.mrz {
        report.reasons.extend(holder_reasons(&record.holder, mrz));
        report.cross_checked = true;
    }
    report.reasons.extend(validity_reason(
        record.valid_from,
        record.valid_until,
        checks.today,
    ));
    report.record = Some(record.clone());
}

fn revoked(record: &VisaRecord) -> Reason {
    Reason::new(
        ReasonCode::VisaRevoked,
        format!("the register marks the visa {}", record.status.as_str()),
    )
}

fn classify(payload: &str) -> Content {
    if payload.trim_start().starts_with('{') {
        Content::Seal
    } else if visa_number(payload).is_some() {
        Content::VisaNumber
    } else {
        Content::Unrecognized
    }
}

/// The visa number in a number-only payload: `VISA:` prefix optional, then 6–24 upper-case
/// letters, digits or dashes.
fn visa_number(payload: &str) -> Option<&str> {
    let t = payload.trim();
    let t = t.strip_prefix("VISA:").unwrap_or(t).trim();
    let ok = (6..=24).contains(&t.len())
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(t)
}
