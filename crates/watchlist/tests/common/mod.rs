//! Helpers shared by the watchlist crate's integration tests: the HQ test keys in
//! `fixtures/keys` (`hq-test`, `other-test`).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use checkpost_watchlist::snapshot::{
    SigningKey, VerifyingKey, read_signing_key, read_verifying_key,
};

/// The repository's test key directory.
pub(crate) fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/keys")
}

/// The signing key `fixtures/keys/{name}.key`.
pub(crate) fn signing(name: &str) -> SigningKey {
    read_signing_key(&std::fs::read_to_string(keys_dir().join(format!("{name}.key"))).unwrap())
        .unwrap()
}

/// The public key `fixtures/keys/{name}.pub`.
pub(crate) fn verifying(name: &str) -> VerifyingKey {
    read_verifying_key(&std::fs::read_to_string(keys_dir().join(format!("{name}.pub"))).unwrap())
        .unwrap()
}
