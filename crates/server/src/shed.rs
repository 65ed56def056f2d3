//! Load shedding: a bound on the calls a service works on at once, past which a new call is
//! refused at once with UNAVAILABLE instead of queueing.
//!
//! Without it an overloaded post queues every call behind the others until all of them miss
//! their deadline (loadgen at 1M entries on 2 cores completed 743 of 5,000 calls a second, the
//! rest late). A counter terminal that hears UNAVAILABLE straight away can retry or fall back;
//! one that waits for its deadline has lost the passenger's time for nothing.
//!
//! `tower::limit::ConcurrencyLimit` waits for a permit rather than refusing, and
//! `tower::load_shed`'s error is not a gRPC status, so this small wrapper does both in one place
//! and answers with a proper status.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;

/// Counts of what the limiter did, for metrics and tests.
#[derive(Debug, Default)]
pub struct ShedStats {
    shed: AtomicU64,
}

impl ShedStats {
    /// Calls refused because the limit was reached.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }
}

/// Wraps a tonic service so at most `limit` of its calls run at once; the next is refused with
/// UNAVAILABLE (retryable) without being decoded.
#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
    limit: usize,
    stats: Arc<ShedStats>,
}

impl<S> Shed<S> {
    /// Bounds `inner` to `limit` concurrent calls (at least one).
    pub fn new(inner: S, limit: usize, stats: Arc<ShedStats>) -> Self {
        let limit = limit.max(1);
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            stats,
        }
    }
}

impl<S: NamedService> NamedService for Shed<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Shed<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let res = fut.await;
                    drop(permit);
                    res
                })
            }
            Err(_) => {
                self.stats.shed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    limit = self.limit,
                    service = S::NAME,
                    "over capacity: call refused"
                );
                let status = tonic::Status::unavailable(format!(
                    "over capacity: {} calls already in progress; retry shortly",
                    self.limit
                ));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tower::{Service, ServiceExt};

    /// A service whose calls finish only when told.
    #[derive(Clone)]
    struct Gate(Arc<tokio::sync::Notify>);

    impl NamedService for Gate {
        const NAME: &'static str = "test.Gate";
    }

    impl tower::Service<http::Request<Body>> for Gate {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            let gate = Arc::clone(&self.0);
            Box::pin(async move {
                gate.notified().await;
                Ok(http::Response::new(Body::empty()))
            })
        }
    }

    fn grpc_status(res: &http::Response<Body>) -> Option<&str> {
        res.headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_call_past_the_limit_is_refused_at_once_and_a_freed_slot_is_reused() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let stats = Arc::new(ShedStats::default());
        let mut svc = Shed::new(Gate(Arc::clone(&gate)), 2, Arc::clone(&stats));

        let first = svc
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(Body::empty()));
        let second = svc
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(Body::empty()));
        let third = svc
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(grpc_status(&third), Some("14"), "UNAVAILABLE");
        assert_eq!(stats.shed(), 1);

        let (a, b, ()) = tokio::join!(first, second, async {
            // Both gated calls are parked on the notify by now; wake them.
            tokio::task::yield_now().await;
            gate.notify_waiters();
        });
        assert_eq!(
            grpc_status(&a.unwrap()),
            None,
            "admitted calls reach the service"
        );
        assert_eq!(grpc_status(&b.unwrap()), None);

        gate.notify_one();
        let fourth = svc
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(
            grpc_status(&fourth),
            None,
            "a freed slot admits the next call"
        );
        assert_eq!(stats.shed(), 1);
    }
}
