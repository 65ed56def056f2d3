//! The scan stage of Screen: QR seals, e-visa register and MRZ cross-check within the call's deadline.

use std::path::Path;

use serde::Deserialize;

/// The `[scanstage]` section of the server config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {}

impl ScanConfig {
    /// Makes every relative path in this section absolute against `base` (the config file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        let _ = base;
    }
}
