//! Retry memory: a retried `Screen` with the same `client_request_id` gets the first answer
//! back (`replayed = true`) and never runs twice, so it never opens a second case. Bounded (LRU +
//! TTL) and in memory; when it misses (a restart, an evicted id) the Screening service asks the
//! durable store (`get_screening_by_request_id`), which keeps every answer, under the same key.
//!
//! Concurrent retries of one id wait on the first call's result (a `tokio::sync::OnceCell` per
//! id) instead of racing it. The map's lock is held only to fetch the cell, never across an
//! await.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkpost_proto::v1::ScreenResponse;
use lru::LruCache;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// The key of a request id, in memory and in the store: the post, `/`, the client's id.
pub fn retry_key(post_id: &str, client_request_id: &str) -> String {
    format!("{post_id}/{client_request_id}")
}

/// The first answer to a request id, and what the request looked like.
#[derive(Debug, Clone)]
pub struct Stored {
    /// blake3 of the encoded request, so an id reused for a different request is caught.
    pub fingerprint: [u8; 32],
    /// The response as first sent.
    pub response: ScreenResponse,
}

/// One request id's cell: empty until its first call succeeds.
#[derive(Debug)]
pub struct Slot {
    created: Instant,
    cell: OnceCell<Stored>,
}

impl Slot {
    /// The cell to initialise (first call) or read (retries).
    pub fn cell(&self) -> &OnceCell<Stored> {
        &self.cell
    }
}

/// The bounded map from request id to its [`Slot`].
#[derive(Debug)]
pub struct RetryMemory {
    map: Mutex<LruCache<String, Arc<Slot>>>,
    ttl: Duration,
}

impl RetryMemory {
    /// At most `capacity` ids (at least 1), each remembered for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let cap = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            map: Mutex::new(LruCache::new(cap)),
            ttl,
        }
    }

    /// The slot for `key`, created when absent or expired.
    pub fn slot(&self, key: &str, now: Instant) -> Arc<Slot> {
        // A panic while holding this lock cannot leave the LRU half-updated in a way that
        // matters (worst case an id is forgotten), so a poisoned lock is simply reused.
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = map.get(key) {
            if now.saturating_duration_since(slot.created) < self.ttl {
                return Arc::clone(slot);
            }
        }
        let slot = Arc::new(Slot {
            created: now,
            cell: OnceCell::new(),
        });
        map.put(key.to_string(), Arc::clone(&slot));
        slot
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn stored(id: &str) -> Stored {
        Stored {
            fingerprint: [0; 32],
            response: ScreenResponse {
                screening_id: id.to_string(),
                ..Default::default()
            },
        }
    }

    #[tokio::test]
    async fn the_same_key_returns_the_same_slot_until_it_expires() {
        let m = RetryMemory::new(10, Duration::from_secs(60));
        let t0 = Instant::now();
        let a = m.slot("k", t0);
        let _ = a.cell().set(stored("s1"));
        let b = m.slot("k", t0 + Duration::from_secs(59));
        assert_eq!(b.cell().get().unwrap().response.screening_id, "s1");
        let c = m.slot("k", t0 + Duration::from_secs(61));
        assert!(c.cell().get().is_none());
    }

    #[tokio::test]
    async fn the_least_recently_used_key_is_forgotten_past_capacity() {
        let m = RetryMemory::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let _ = m.slot("a", t0).cell().set(stored("a"));
        let _ = m.slot("b", t0).cell().set(stored("b"));
        let _ = m.slot("c", t0).cell().set(stored("c"));
        assert_eq!(m.len(), 2);
        assert!(m.slot("a", t0).cell().get().is_none());
    }
}
