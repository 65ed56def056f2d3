//! Telling readers that the case event log grew, without tokio in the store. The writer
//! publishes the newest cursor after each commit; a thread can block on
//! [`EventNotifier::wait_after`], and an async server registers a callback with
//! [`EventNotifier::subscribe`] that forwards the cursor into its own channel (e.g.
//! `tokio::sync::watch::Sender::send`, which is synchronous and cheap). Readers then fetch the
//! events themselves with `events_after(cursor)`, so a missed wake-up never loses an event.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// A callback run after each commit that wrote case events, with the newest cursor. It runs on
/// the writer thread: it must be quick and must not block.
pub type EventCallback = Box<dyn Fn(u64) + Send + Sync>;

/// Publishes the newest case event cursor.
#[derive(Default)]
pub struct EventNotifier {
    latest: Mutex<u64>,
    changed: Condvar,
    subscribers: Mutex<Vec<EventCallback>>,
}

impl std::fmt::Debug for EventNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventNotifier")
            .field("latest", &self.latest())
            .finish_non_exhaustive()
    }
}

impl EventNotifier {
    /// A notifier starting at `cursor` (the newest event already stored).
    pub fn new(cursor: u64) -> Self {
        Self {
            latest: Mutex::new(cursor),
            ..Self::default()
        }
    }

    /// The newest cursor published.
    pub fn latest(&self) -> u64 {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until the newest cursor is past `cursor` or `timeout` passes; returns the newest.
    pub fn wait_after(&self, cursor: u64, timeout: Duration) -> u64 {
        let guard = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |latest| *latest <= cursor)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    /// Runs `callback` with the newest cursor after every commit that wrote case events.
    pub fn subscribe(&self, callback: EventCallback) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(callback);
    }

    /// Called by the writer after a commit.
    pub(crate) fn publish(&self, cursor: u64) {
        {
            let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
            if cursor <= *latest {
                return;
            }
            *latest = cursor;
        }
        self.changed.notify_all();
        for callback in self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            callback(cursor);
        }
    }
}
