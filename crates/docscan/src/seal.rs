//! Seals: the signed JSON an e-visa's QR code carries, in the shape of an ICAO VDS-NC.
//!
//! ```json
//! {"data": {"hdr": {"type": "icao.visa", "version": 1, "is": "PAK"},
//!           "msg": {"vn": "PV26A0001234", "pn": "AB1234567", "n": "KHAN MUHAMMAD ALI",
//!                   "dob": "1990-04-12", "nat": "PAK", "vf": "2026-11-01",
//!                   "vu": "2027-01-31", "vt": "VISIT", "ne": 1}},
//!  "sig":  {"alg": "ES256", "cer": {"kid": "PAK-EVISA-2026", "pk": "<base64url SEC1 point>"},
//!           "sigvl": "<base64url r||s, 64 bytes>"}}
//! ```
//! `msg` fields: visa number, passport number, holder name (surname then given names), date of
//! birth, nationality (ICAO 3-letter), valid from / until (inclusive), visa type, number of
//! entries (0 = multiple).
//!
//! # What is checked, in this order (the first failure is the verdict)
//! 1. [`SealVerdict::Malformed`]: not JSON, or `data`/`hdr`/`sig` missing or mistyped, `alg` not
//!    ES256, `sigvl` not 64 base64url bytes, a fraction anywhere in `data`.
//! 2. [`SealVerdict::UnknownSigner`]: `kid` not on the trust list, `pk` present but not the
//!    trusted key, or the key trusted for another issuing state than `hdr.is`.
//! 3. [`SealVerdict::BadSignature`]: ES256 over the JCS canonical bytes of `data`
//!    ([`crate::canonical`]) does not verify with the trusted key — altered or forged.
//! 4. [`SealVerdict::ExpiredSigner`]: the trusted key is outside its validity window today.
//! 5. [`SealVerdict::WrongType`]: a genuine seal, but not an e-visa (`hdr.type`), or a version
//!    checkpost does not read.
//! 6. `msg` must hold every e-visa field with the right shape, else `Malformed`.
//!
//! The signer's certificate is represented by its key id and raw public key, not an X.509
//! chain: the trust list pins keys directly, which is what a post can manage offline.

use base64ct::{Base64UrlUnpadded, Encoding};
use checkpost_document::PartialDate;
use chrono::NaiveDate;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;

use crate::TrustList;
use crate::crosscheck::Holder;
use crate::report::{Reason, ReasonCode};

/// The seal type checkpost reads.
pub const EVISA_TYPE: &str = "icao.visa";
/// The seal format version checkpost reads.
pub const EVISA_VERSION: u64 = 1;

/// The verdict on one seal. Ordered roughly by how much it says about forgery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SealVerdict {
    /// The QR carried no seal (a bare visa number, or text checkpost does not read).
    #[serde(rename = "NO_SEAL")]
    NoSeal,
    /// Signed by a trusted, current issuer, and (when checked) consistent with the MRZ and
    /// valid today.
    #[serde(rename = "SEAL_VALID")]
    Valid,
    /// Genuine, but something in it disagrees with the passport or today's date.
    #[serde(rename = "SEAL_MISMATCH")]
    Mismatch,
    /// The signature does not verify: altered or forged.
    #[serde(rename = "SEAL_BAD_SIGNATURE")]
    BadSignature,
    /// The signer is not on the trust list (or not for this issuing state).
    #[serde(rename = "SEAL_UNKNOWN_SIGNER")]
    UnknownSigner,
    /// The signer's key is outside its validity window.
    #[serde(rename = "SEAL_EXPIRED_SIGNER")]
    ExpiredSigner,
    /// A genuine seal of a type checkpost does not read.
    #[serde(rename = "SEAL_WRONG_TYPE")]
    WrongType,
    /// Not a well-formed seal.
    #[serde(rename = "SEAL_MALFORMED")]
    Malformed,
}

impl SealVerdict {
    /// The spelling used in JSON output and reasons (matches `checkpost.v1.SealVerdict`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSeal => "NO_SEAL",
            Self::Valid => "SEAL_VALID",
            Self::Mismatch => "SEAL_MISMATCH",
            Self::BadSignature => "SEAL_BAD_SIGNATURE",
            Self::UnknownSigner => "SEAL_UNKNOWN_SIGNER",
            Self::ExpiredSigner => "SEAL_EXPIRED_SIGNER",
            Self::WrongType => "SEAL_WRONG_TYPE",
            Self::Malformed => "SEAL_MALFORMED",
        }
    }
}

/// The contents of a verified e-visa seal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EVisa {
    /// Visa number.
    pub visa_number: String,
    /// Whom the visa was issued to.
    pub holder: Holder,
    /// First day of validity.
    pub valid_from: NaiveDate,
    /// Last day of validity.
    pub valid_until: NaiveDate,
    /// Visa type as issued (e.g. VISIT, WORK).
    pub visa_type: String,
    /// Entries allowed; 0 means multiple.
    pub entries: u32,
    /// Issuing state from the header.
    pub issuing_state: String,
    /// Key id of the signer.
    pub signer: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealCheck {
    /// The verdict before any MRZ cross-check (never `Mismatch` or `NoSeal`).
    pub verdict: SealVerdict,
    /// The e-visa, when the seal verified and reads as one.
    pub visa: Option<EVisa>,
    /// Why, when the verdict is not `Valid`.
    pub reason: Option<Reason>,
}

impl SealCheck {
    fn fail(verdict: SealVerdict, code: ReasonCode, message: String) -> Self {
        Self {
            verdict,
            visa: None,
            reason: Some(Reason::new(code, message)),
        }
    }
}

/// Verifies the seal in `payload` (JSON text) against `trust` on `today`.
pub fn verify(payload: &str, trust: &TrustList, today: NaiveDate) -> SealCheck {
    let malformed =
        |m: String| SealCheck::fail(SealVerdict::Malformed, ReasonCode::SealMalformed, m);
    let root: Value = match serde_json::from_str(payload) {
        Ok(v) => v,
        Err(e) => return malformed(format!("seal is not valid JSON: {e}")),
    };
    let Some(data) = root.get("data").filter(|d| d.is_object()) else {
        return malformed("seal has no 'data' object".into());
    };
    let Some(hdr) = data.get("hdr").filter(|d| d.is_object()) else {
        return malformed("seal has no 'data.hdr' object".into());
    };
    let Some(sig) = root.get("sig").filter(|d| d.is_object()) else {
        return malformed("seal has no 'sig' object".into());
    };
    let text = |v: &Value, path: &str| -> Result<String, String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("'{path}' is missing or not a string"))
    };
    let field =
        |obj: &Value, name: &str, path: &str| text(obj.get(name).unwrap_or(&Value::Null), path);
    let parts = (|| -> Result<_, String> {
        let alg = field(sig, "alg", "sig.alg")?;
        if alg != "ES256" {
            return Err(format!("'sig.alg' is '{alg}'; only ES256 is accepted"));
        }
        let cer = sig.get("cer").unwrap_or(&Value::Null);
        let kid = field(cer, "kid", "sig.cer.kid")?;
        let pk = cer.get("pk").map(|v| text(v, "sig.cer.pk")).transpose()?;
        let sigvl = field(sig, "sigvl", "sig.sigvl")?;
        let is = field(hdr, "is", "data.hdr.is")?;
        let kind = field(hdr, "type", "data.hdr.type")?;
        let version = hdr
            .get("version")
            .and_then(Value::as_u64)
            .ok_or("'data.hdr.version' is missing or not an integer")?;
        let sig_bytes = Base64UrlUnpadded::decode_vec(&sigvl)
            .map_err(|_| "'sig.sigvl' is not base64url".to_string())?;
        let signature = Signature::from_slice(&sig_bytes).map_err(|_| {
            format!(
                "'sig.sigvl' is {} bytes; an ES256 signature is 64 (r||s)",
                sig_bytes.len()
            )
        })?;
        let signed = crate::canonical::to_vec(data).map_err(|e| e.to_string())?;
        Ok((kid, pk, is, kind, version, signature, signed))
    })();
    let (kid, pk, is, kind, version, signature, signed) = match parts {
        Ok(p) => p,
        Err(m) => return malformed(m),
    };

    let unknown =
        |m: String| SealCheck::fail(SealVerdict::UnknownSigner, ReasonCode::SealUnknownSigner, m);
    let Some(issuer) = trust.get(&kid) else {
        return unknown(format!("signer '{kid}' is not on the trust list"));
    };
    if let Some(pk) = pk {
        let same = Base64UrlUnpadded::decode_vec(&pk)
            .ok()
            .and_then(|b| VerifyingKey::from_sec1_bytes(&b).ok())
            .is_some_and(|k| k == issuer.key);
        if !same {
            return unknown(format!(
                "seal names signer '{kid}' but carries a public key that is not the trusted one"
            ));
        }
    }
    if !issuer.issuing_state.eq_ignore_ascii_case(&is) {
        return unknown(format!(
            "signer '{kid}' is trusted for {} seals, this seal says issuing state '{is}'",
            issuer.issuing_state
        ));
    }
    if issuer.key.verify(&signed, &signature).is_err() {
        return SealCheck::fail(
            SealVerdict::BadSignature,
            ReasonCode::SealBadSignature,
            format!("signature by '{kid}' does not verify: the seal was altered or forged"),
        );
    }
    if !issuer.is_valid_on(today) {
        return SealCheck::fail(
            SealVerdict::ExpiredSigner,
            ReasonCode::SealExpiredSigner,
            format!(
                "signer '{kid}' is trusted from {} to {}, not on {today}",
                issuer.not_before, issuer.not_after
            ),
        );
    }
    if kind != EVISA_TYPE || version != EVISA_VERSION {
        return SealCheck::fail(
            SealVerdict::WrongType,
            ReasonCode::SealWrongType,
            format!(
                "seal is of type '{kind}' version {version}; expected '{EVISA_TYPE}' version {EVISA_VERSION}"
            ),
        );
    }
    let msg = data.get("msg").unwrap_or(&Value::Null);
    match read_evisa(msg, &is, &kid) {
        Ok(visa) => SealCheck {
            verdict: SealVerdict::Valid,
            visa: Some(visa),
            reason: None,
        },
        Err(m) => malformed(m),
    }
}

fn read_evisa(msg: &Value, is: &str, kid: &str) -> Result<EVisa, String> {
    if !msg.is_object() {
        return Err("'data.msg' is missing or not an object".into());
    }
    let s = |name: &str| -> Result<String, String> {
        msg.get(name)
            .and_then(Value::as_str)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("'data.msg.{name}' is missing, empty or not a string"))
    };
    let day = |name: &str| -> Result<NaiveDate, String> {
        let v = s(name)?;
        NaiveDate::parse_from_str(&v, "%Y-%m-%d")
            .map_err(|_| format!("'data.msg.{name}' is '{v}', not a YYYY-MM-DD date"))
    };
    let dob = s("dob")?;
    let date_of_birth = PartialDate::parse(&dob).map_err(|e| format!("'data.msg.dob': {e}"))?;
    let entries = msg
        .get("ne")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("'data.msg.ne' is missing or not a small non-negative integer")?;
    Ok(EVisa {
        visa_number: s("vn")?,
        holder: Holder {
            passport_number: s("pn")?.to_ascii_uppercase(),
            name: s("n")?.to_uppercase(),
            date_of_birth: Some(date_of_birth),
            nationality: s("nat")?.to_ascii_uppercase(),
        },
        valid_from: day("vf")?,
        valid_until: day("vu")?,
        visa_type: s("vt")?,
        entries,
        issuing_state: is.to_ascii_uppercase(),
        signer: kid.to_string(),
    })
}
