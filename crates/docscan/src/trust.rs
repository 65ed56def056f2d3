//! The trust list: which issuer keys checkpost accepts seals from, for which issuing state and
//! for how long. Ops keep it as a TOML file (path in the config; the CLI's `--trust`), and the
//! server reloads it by parsing the new text and swapping the whole list.
//!
//! ```toml
//! [[issuer]]
//! id = "PAK-EVISA-2026"          # the `sig.cer.kid` a seal names
//! issuing_state = "PAK"          # the seal's `data.hdr.is` must be this
//! not_before = "2026-01-01"      # the key is accepted from this day …
//! not_after = "2027-12-31"       # … to this day, inclusive
//! public_key = """
//! -----BEGIN PUBLIC KEY-----
//! (P-256 SubjectPublicKeyInfo, PEM)
//! -----END PUBLIC KEY-----
//! """
//! ```

use std::collections::HashMap;

use chrono::NaiveDate;
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;

use crate::Error;

/// One issuer key checkpost trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The key id seals name in `sig.cer.kid`.
    pub id: String,
    /// ICAO 3-letter state whose seals this key may sign.
    pub issuing_state: String,
    /// First day the key is accepted.
    pub not_before: NaiveDate,
    /// Last day the key is accepted.
    pub not_after: NaiveDate,
    /// The P-256 public key.
    pub key: VerifyingKey,
}

impl TrustedIssuer {
    /// True when `today` lies within the key's validity window.
    pub fn is_valid_on(&self, today: NaiveDate) -> bool {
        self.not_before <= today && today <= self.not_after
    }
}

/// The issuer keys checkpost accepts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustList {
    issuers: HashMap<String, TrustedIssuer>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    issuer: Vec<RawIssuer>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    id: String,
    issuing_state: String,
    not_before: String,
    not_after: String,
    public_key: String,
}

impl TrustList {
    /// An empty list: every seal's signer is unknown.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses the TOML trust-list format above.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let file: File = toml::from_str(text).map_err(|e| Error::TrustListSyntax {
            message: e.to_string(),
        })?;
        let mut issuers = HashMap::new();
        for raw in file.issuer {
            let bad = |field: &'static str, message: String| Error::TrustListIssuer {
                issuer: raw.id.clone(),
                field,
                message,
            };
            let date = |field: &'static str, v: &str| {
                NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                    .map_err(|e| bad(field, format!("'{v}' is not a YYYY-MM-DD date: {e}")))
            };
            let not_before = date("not_before", &raw.not_before)?;
            let not_after = date("not_after", &raw.not_after)?;
            if not_after < not_before {
                return Err(bad("not_after", "is before not_before".into()));
            }
            let key = VerifyingKey::from_public_key_pem(raw.public_key.trim())
                .map_err(|e| bad("public_key", format!("not a P-256 public key PEM: {e}")))?;
            let state = raw.issuing_state.trim().to_ascii_uppercase();
            if state.len() != 3 || !state.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(bad(
                    "issuing_state",
                    format!("'{state}' is not an ICAO 3-letter code"),
                ));
            }
            if raw.id.trim().is_empty() {
                return Err(bad("id", "is empty".into()));
            }
            let issuer = TrustedIssuer {
                id: raw.id.trim().to_string(),
                issuing_state: state,
                not_before,
                not_after,
                key,
            };
            if issuers.contains_key(&issuer.id) {
                return Err(bad("id", "appears twice in the trust list".into()));
            }
            issuers.insert(issuer.id.clone(), issuer);
        }
        Ok(Self { issuers })
    }

    /// Adds (or replaces) one issuer; for tests and generated fixtures.
    pub fn insert(&mut self, issuer: TrustedIssuer) {
        self.issuers.insert(issuer.id.clone(), issuer);
    }

    /// The issuer with key id `id`.
    pub fn get(&self, id: &str) -> Option<&TrustedIssuer> {
        self.issuers.get(id)
    }

    /// Number of issuers.
    pub fn len(&self) -> usize {
        self.issuers.len()
    }

    /// True when no issuer is trusted.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The issuers, in no particular order.
    pub fn issuers(&self) -> impl Iterator<Item = &TrustedIssuer> {
        self.issuers.values()
    }
}
