//! How long the writer's commits take: a fixed-bucket histogram of each batch's transaction
//! (BEGIN to COMMIT returned, the fsync included under power-loss durability). Every screening
//! waits for one commit, so these buckets are the floor of its latency that the disk sets; ops
//! read them as the metric `checkpost_store_commit_seconds`, benches as quantiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets in microseconds; the last bucket (past the final bound) is
/// unbounded. Dense around the sub-millisecond fsyncs of a healthy disk and the few-millisecond
/// ones of a busy one, where a screening's latency budget is decided.
pub const COMMIT_BOUNDS_MICROS: [u64; 19] = [
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 20_000, 50_000,
    100_000, 250_000, 500_000, 1_000_000,
];

/// Buckets: one per bound, and one past the last.
const BUCKETS: usize = COMMIT_BOUNDS_MICROS.len() + 1;

/// A snapshot of the commit-duration histogram (counts per bucket, not cumulative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitTimes {
    /// Commits per bucket: `counts[i]` took at most `COMMIT_BOUNDS_MICROS[i]` µs and more than
    /// the bound before it; the last counts those over the final bound.
    pub counts: [u64; BUCKETS],
    /// Total duration of all commits, in microseconds.
    pub sum_micros: u64,
}

impl CommitTimes {
    /// Commits counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The commits counted since `earlier` (a snapshot of the same store taken before).
    pub fn since(&self, earlier: &CommitTimes) -> CommitTimes {
        CommitTimes {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
            sum_micros: self.sum_micros.saturating_sub(earlier.sum_micros),
        }
    }

    /// The upper bound (µs) of the bucket holding quantile `q` (0..=1) of the commits: a
    /// quantile is known only to its bucket. `None` with no commits, `Some(u64::MAX)` when it
    /// falls past the last bound.
    pub fn quantile_bound_micros(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: q = 0.99 of 100 commits is the 99th.
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(COMMIT_BOUNDS_MICROS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        Some(u64::MAX)
    }
}

/// The live histogram the writer records into (lock-free; read with [`Recorder::snapshot`]).
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    counts: [AtomicU64; BUCKETS],
    sum_micros: AtomicU64,
}

impl Recorder {
    /// Counts one commit that took `d`.
    pub(crate) fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = COMMIT_BOUNDS_MICROS.partition_point(|&b| b < us);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(us, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> CommitTimes {
        CommitTimes {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_commit_lands_in_the_bucket_of_the_first_bound_it_does_not_exceed() {
        let r = Recorder::default();
        for us in [0, 50, 51, 999, 1_000, 1_001, 4_000, 2_000_000] {
            r.record(Duration::from_micros(us));
        }
        let t = r.snapshot();
        let at = |bound: u64| {
            let i = COMMIT_BOUNDS_MICROS
                .iter()
                .position(|&b| b == bound)
                .unwrap_or(usize::MAX);
            t.counts[i]
        };
        assert_eq!(at(50), 2, "0 and 50 µs");
        assert_eq!(at(100), 1, "51 µs");
        assert_eq!(at(1_000), 2, "999 and 1,000 µs");
        assert_eq!(at(1_500), 1, "1,001 µs");
        assert_eq!(at(5_000), 1, "4,000 µs");
        assert_eq!(t.counts[BUCKETS - 1], 1, "2 s is past the last bound");
        assert_eq!(t.count(), 8);
        assert_eq!(
            t.sum_micros,
            50 + 51 + 999 + 1_000 + 1_001 + 4_000 + 2_000_000
        );
    }

    #[test]
    fn a_quantile_is_the_bound_of_its_bucket_and_since_subtracts_an_earlier_snapshot() {
        let r = Recorder::default();
        assert_eq!(r.snapshot().quantile_bound_micros(0.5), None);
        for _ in 0..98 {
            r.record(Duration::from_micros(120));
        }
        let before = r.snapshot();
        r.record(Duration::from_micros(4_000));
        r.record(Duration::from_micros(30_000));
        let t = r.snapshot();
        assert_eq!(t.quantile_bound_micros(0.5), Some(200));
        assert_eq!(t.quantile_bound_micros(0.98), Some(200));
        assert_eq!(t.quantile_bound_micros(0.99), Some(5_000));
        assert_eq!(t.quantile_bound_micros(1.0), Some(50_000));
        let late = t.since(&before);
        assert_eq!(late.count(), 2);
        assert_eq!(late.quantile_bound_micros(0.5), Some(5_000));
        assert_eq!(late.sum_micros, 34_000);
    }
}
