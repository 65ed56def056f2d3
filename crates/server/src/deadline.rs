//! The client's deadline. gRPC carries it in the `grpc-timeout` header; tonic's own parser is
//! private (it only uses it to cancel the call), so the server reads the header here to plan
//! its stages: a stage that would run past the deadline is cut short and reported as a check
//! that did not run, so the answer is never a silent CLEAR.

use std::time::Duration;

use tokio::time::Instant;

/// Time kept back from the client's deadline for the engine, the audit append and the reply.
pub const RESERVE: Duration = Duration::from_millis(5);

/// Parses a `grpc-timeout` value: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
/// Returns `None` for anything else (the call then has no deadline of its own).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// When the call must be answered by, if the client said.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<Instant>,
}

impl Deadline {
    /// A deadline `timeout` after `start`, or none.
    pub fn new(start: Instant, timeout: Option<Duration>) -> Self {
        Self {
            at: timeout.map(|t| start + t),
        }
    }

    /// From the request's metadata.
    pub fn from_metadata(start: Instant, md: &tonic::metadata::MetadataMap) -> Self {
        let timeout = md
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        Self::new(start, timeout)
    }

    /// Time left for a stage, after keeping [`RESERVE`] back; `None` when there is no deadline.
    pub fn budget(&self, now: Instant) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(now).saturating_sub(RESERVE))
    }

    /// True when the time left (after the reserve) is gone.
    pub fn exhausted(&self, now: Instant) -> bool {
        self.budget(now).is_some_and(|b| b.is_zero())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values_parse_in_every_unit_and_junk_is_ignored() {
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("150m"), Some(Duration::from_millis(150)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout(""), None);
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("12x"), None);
        assert_eq!(parse_grpc_timeout("-1S"), None);
    }

    #[test]
    fn a_deadline_closer_than_the_reserve_is_exhausted() {
        let start = Instant::now();
        assert!(Deadline::new(start, Some(Duration::from_millis(1))).exhausted(start));
        assert!(!Deadline::new(start, Some(Duration::from_secs(1))).exhausted(start));
        assert!(!Deadline::new(start, None).exhausted(start));
    }
}
