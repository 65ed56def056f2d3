//! [`Ticket`]: the completion of a write, handed back at once and completed by the writer thread
//! only after the batch holding the write has committed (fsynced). A blocking caller calls
//! [`Ticket::wait`]; async code `.await`s it — the `oneshot` crate gives one channel that does
//! both without tying the store to an async runtime.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Result, StoreError};

/// A pending write. Dropping it does not cancel the write.
#[derive(Debug)]
#[must_use = "a write is acknowledged only when its ticket completes"]
pub struct Ticket<T> {
    rx: oneshot::Receiver<Result<T>>,
}

impl<T> Ticket<T> {
    /// A ticket and the sender that completes it.
    pub(crate) fn new() -> (oneshot::Sender<Result<T>>, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self { rx })
    }

    /// A ticket that is already complete (e.g. an error before anything was queued).
    pub(crate) fn ready(result: Result<T>) -> Self {
        let (tx, ticket) = Self::new();
        // The receiver is alive in `ticket`, so this cannot fail.
        let _ = tx.send(result);
        ticket
    }

    /// Blocks until the write is durable (or failed).
    pub fn wait(self) -> Result<T> {
        self.rx.recv().unwrap_or(Err(StoreError::WriterGone))
    }
}

impl<T> Future for Ticket<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(StoreError::WriterGone)))
    }
}
