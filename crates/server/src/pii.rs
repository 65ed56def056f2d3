//! The one place raw identifiers become loggable: document numbers and CNICs appear in logs
//! only as keyed blake3 hashes (DESIGN.md, Security). The key comes from the config, so hashes
//! correlate across a post's logs without being reversible by whoever reads them.

/// Hashes identifiers for logs with a secret key.
#[derive(Clone)]
pub struct PiiHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for PiiHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("PiiHasher(..)")
    }
}

impl PiiHasher {
    /// A hasher with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The first 16 hex chars of the keyed blake3 hash of `value` (64 bits: plenty to correlate
    /// log lines, too short to be a useful dictionary target even if the key leaked).
    pub fn hash(&self, value: &str) -> String {
        let h = blake3::keyed_hash(&self.key, value.as_bytes());
        hex::encode(&h.as_bytes()[..8])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_the_key_and_never_contain_the_value() {
        let a = PiiHasher::new([1; 32]);
        let b = PiiHasher::new([2; 32]);
        let h = a.hash("AB1234567");
        assert_eq!(h.len(), 16);
        assert_eq!(h, a.hash("AB1234567"));
        assert_ne!(h, b.hash("AB1234567"));
        assert!(!h.contains("1234567"));
        assert_eq!(format!("{a:?}"), "PiiHasher(..)");
    }
}
