//! Who may call what: bearer tokens and mTLS client identities, their roles, and the check every RPC passes.

use std::path::Path;

use serde::Deserialize;

/// The `[auth]` section of the server config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {}

impl AuthConfig {
    /// Makes every relative path in this section absolute against `base` (the config file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        let _ = base;
    }
}
