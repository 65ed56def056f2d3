//! checkpost-server: the thin gRPC adapter between the counter terminals and the pure crates.
//!
//! - [`config`]: the TOML config every `serve` flag can override.
//! - [`state`]: what a running server holds — snapshot holder, rules, retry memory.
//! - [`screening`]: the `Screening/Screen` call.
//! - [`server`]: [`serve`] — health, reflection, limits, SIGHUP reload, graceful shutdown.
//! - [`convert`]: proto <-> domain, in one place.
//! - [`error`]: [`ServerError`] and the one place it becomes a gRPC status.
//! - [`audit`]: the seam where the durable store records each screening before it is answered.
//! - [`durable`]: the audit sink and cleared-match memory over the durable store.
//! - [`review`]: the `Review` service (second-check cases).
//! - [`retry`]: idempotent retries keyed by `client_request_id`.
//! - [`deadline`]: the client's `grpc-timeout`, so a stage that runs out fails closed.
//! - [`shed`]: load shedding — past the in-flight limit a call is refused at once.
//! - [`pii`]: keyed hashes that stand in for document numbers and CNICs in logs.
//! - [`watchlists`]: the `Watchlists` service (snapshots, deltas, reloads).
//! - [`deltas`]: intraday signed deltas over the active snapshot.
//! - [`auth`]: bearer tokens, mTLS identities and the role each RPC needs.
//! - [`metrics`]: the Prometheus endpoint.
//! - [`scanstage`]: the scan stage of `Screen` (QR seals, e-visa register, cross-checks).
//! - [`snapdir`]: the `snapshot_dir` watcher that activates the newest signed snapshot dropped in.

pub mod audit;
pub mod auth;
pub mod config;
pub mod convert;
pub mod deadline;
pub mod deltas;
pub mod durable;
pub mod error;
pub mod metrics;
pub mod pii;
pub mod retry;
pub mod review;
pub mod scanstage;
pub mod screening;
pub mod server;
pub mod shed;
pub mod snapdir;
pub mod state;
pub mod watchlists;

pub use config::{Config, DurabilityConfig, Limits};
pub use error::ServerError;
pub use server::{serve, shutdown_signal};
pub use state::AppState;
