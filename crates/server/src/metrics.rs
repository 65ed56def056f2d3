//! Prometheus metrics on their own HTTP port: decisions, latencies, snapshot age, deltas, queue depth.

use std::path::Path;

use serde::Deserialize;

/// The `[metrics]` section of the server config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {}

impl MetricsConfig {
    /// Makes every relative path in this section absolute against `base` (the config file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        let _ = base;
    }
}
