//! Wiring: the Screening service, gRPC health and reflection, the message-size limit, SIGHUP
//! reloads and graceful shutdown, on a listener the caller binds (tests bind 127.0.0.1:0).

use std::future::Future;
use std::sync::Arc;

use checkpost_proto::v1::review_server::ReviewServer;
use checkpost_proto::v1::screening_server::ScreeningServer;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codegen::http;

use crate::ServerError;
use crate::review::ReviewService;
use crate::screening::ScreeningService;
use crate::shed::Shed;
use crate::state::AppState;

/// tonic refuses a message over `max_decoding_message_size` with OUT_OF_RANGE; the contract
/// (and gRPC's own guidance) says RESOURCE_EXHAUSTED. tonic offers no hook for that status, so
/// this rewrites it on the way out. The Screening service itself never returns OUT_OF_RANGE, so
/// the rewrite cannot hide one of ours.
fn out_of_range_to_resource_exhausted(
    mut res: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let headers = res.headers_mut();
    let is_size_limit = headers.get("grpc-status").is_some_and(|v| v == "11")
        && headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if is_size_limit {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    res
}

/// Serves until `shutdown` resolves, then stops accepting, reports NOT_SERVING on health and
/// drains the calls in flight before returning — for at most `limits.drain_timeout`, after which
/// it returns even if clients still hold connections open.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let max_message = state.config.limits.max_message_bytes;
    let screening = Shed::new(
        ScreeningServer::new(ScreeningService::new(Arc::clone(&state)))
            .max_decoding_message_size(max_message),
        state.config.limits.max_in_flight_screens,
        Arc::clone(&state.shed),
    );
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let review = ReviewServer::new(ReviewService::new(Arc::clone(&state), stopping));

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<ScreeningServer<ScreeningService>>()
        .await;
    reporter.set_serving::<ReviewServer<ReviewService>>().await;
    crate::watchlists::start_background(
        Arc::clone(&state),
        reporter.clone(),
        stopping_tx.subscribe(),
    )
    .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(checkpost_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Config {
            source_name: "reflection".into(),
            message: e.to_string(),
        })?;

    let (draining_tx, draining) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: draining calls in flight");
        let _ = draining_tx.send(());
        // Live case streams never finish on their own: end them so the drain can.
        stopping_tx.send_replace(true);
        reporter
            .set_not_serving::<ScreeningServer<ScreeningService>>()
            .await;
        reporter
            .set_not_serving::<ReviewServer<ReviewService>>()
            .await;
    };
    let local = listener.local_addr().ok();
    tracing::info!(
        listen = ?local,
        snapshot = ?state.snapshots.active().map(|s| s.header.version.clone()),
        rules = state.rules.load().len(),
        "serving"
    );
    // A decision is a few hundred bytes: without TCP_NODELAY, Nagle's algorithm can hold the
    // reply back until the client's delayed ACK (tens of ms).
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY");
            }
        })
    });
    // Access control sits in front of every service, so none can forget it (crate::auth).
    let auth =
        crate::auth::AuthLayer::new(&state.config.auth, local.unwrap_or(state.config.listen))?;
    let serving = crate::auth::server_builder(&state.config.auth)?
        .layer(state.metrics.rpc_layer())
        .layer(tower::util::MapResponseLayer::new(
            out_of_range_to_resource_exhausted,
        ))
        .layer(auth)
        .add_service(health)
        .add_service(reflection)
        .add_service(screening)
        .add_service(review)
        .add_service(crate::watchlists::service(Arc::clone(&state)))
        .serve_with_incoming_shutdown(incoming, shutdown);
    let drain_timeout = state.config.limits.drain_timeout;
    // Resolves `drain_timeout` after the shutdown began (never, if it has not).
    let drain_deadline = async move {
        match draining.await {
            Ok(()) => tokio::time::sleep(drain_timeout).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = serving => served?,
        () = drain_deadline => tracing::warn!(
            ?drain_timeout,
            "drain deadline passed with connections still open; stopping anyway"
        ),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Reloads the SOP rules on every SIGHUP, for as long as the server runs. A bad file is logged
/// and the active rules stay active.
#[cfg(unix)]
pub fn reload_rules_on_sighup(state: Arc<AppState>) -> Result<(), ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).map_err(|source| ServerError::Io {
        path: "SIGHUP".into(),
        source,
    })?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            state.reload_scan_files_logged();
            match state.reload_rules() {
                Ok(n) => tracing::info!(rules = n, "SOP rules reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SOP rules NOT reloaded; the active rules stay")
                }
            }
        }
    });
    Ok(())
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
