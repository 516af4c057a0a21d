//! The socialcrm HTTP gateway (axum): authentication (API keys, Google/X sign-in sessions),
//! the authorizer that scopes every workspace request, problem+json errors, idempotency keys,
//! rate limits, OpenAPI docs, health and metrics. It turns requests into store reads and engine
//! calls: request -> gateway -> engine actor / store.
//!
//! The binary wires it like this:
//!
//! ```no_run
//! # async fn wire(store: std::sync::Arc<dyn schema::Store>, engine: engine::EngineHandle)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use secrecy::SecretString;
//! let config = gateway::GatewayConfig::new("http://127.0.0.1:8080", SecretString::from("cookie-key"));
//! let clock: tenants::SharedClock = std::sync::Arc::new(tenants::SystemClock);
//! let state = gateway::AppState::new(config, store, Some(engine), clock)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! gateway::serve(listener, state, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod auth;
pub mod config;
pub mod csv_import;
pub mod error;
pub mod export;
pub mod extract;
pub mod idempotency;
pub mod import_jobs;
pub mod import_resume;
mod import_sink;
pub mod import_spool;
pub mod metrics;
pub mod openapi;
pub mod purge;
pub mod rate_limit;
pub mod routes;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use config::{
    GatewayConfig, IdTokenCheck, OidcProviderConfig, RateLimitConfig, XProviderConfig,
};
pub use error::ApiError;
pub use state::{AppState, StateError};

/// The whole HTTP API as one router, ready to serve.
///
/// Layers, outermost first: tracing, problem+json for any bare error, request metrics (by route
/// template), the per-credential rate limit and its headers, the body size limit. `/v1` routes
/// add authentication (then CSRF and the age gate), the audit log and idempotency; sign-in,
/// logout and account connect callbacks are audited too.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    // JSON bodies are capped at `max_body_bytes` by `DefaultBodyLimit` (honoured by `ApiJson`);
    // the outer cap lets media uploads through to their handler, which enforces
    // `max_media_bytes` itself while streaming.
    let outer_limit = limit.max(state.config.max_media_bytes);
    let v1 = routes::v1()
        .route_layer(from_fn_with_state(state.clone(), idempotency::idempotency))
        .route_layer(from_fn_with_state(state.clone(), audit::record))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .merge(
            routes::public().route_layer(from_fn_with_state(state.clone(), audit::record_public)),
        )
        .merge(openapi::router())
        .merge(v1)
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(outer_limit))
        .layer(from_fn_with_state(state.clone(), rate_limit::enforce))
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(from_fn(error::problem_fallback))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The tracing span of a request: method and path only. The query string is left out because
/// OAuth callbacks carry authorization codes and `state` values there, which must never reach
/// a log line.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then drains in-flight requests.
/// Client addresses are made available to the rate limiter and the session log.
///
/// # Errors
/// I/O errors from the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::spawn(import_resume::resume_interrupted(state.clone()));
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
