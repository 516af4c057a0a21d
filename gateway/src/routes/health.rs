//! Operational endpoints: `/healthz` (the process answers), `/readyz` (the store answers and the
//! engine finished its start-up recovery) and `/metrics` (Prometheus text).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::fmt::Write as _;

use engine::observe::EngineObservable;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `ok` or `unavailable`.
    pub store: &'static str,
    /// `ready`, `starting` or `absent` (gateway running without an engine).
    pub engine: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The node can serve traffic: the store answers a ping and the engine is ready.
#[utoipa::path(
    get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness))
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store_ok = match state.store.ping().await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "readiness: store ping failed");
            false
        }
    };
    let engine = match &state.engine {
        None => "absent",
        Some(engine) if engine.is_ready() => "ready",
        Some(_) => "starting",
    };
    let ready = store_ok && engine != "starting";
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        store: if store_ok { "ok" } else { "unavailable" },
        engine,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

fn gauge(text: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        text,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// The engine's observable state as gauges and counters.
fn engine_figures(text: &mut String, observed: &EngineObservable) {
    let degraded = observed.accounts.iter().filter(|a| a.degraded).count();
    let mailbox: u64 = observed.accounts.iter().map(|a| a.mailbox_depth).sum();
    let held: u64 = observed.accounts.iter().map(|a| a.limiter.num_held).sum();
    let pending: usize = observed.accounts.iter().map(|a| a.num_pending).sum();
    gauge(
        text,
        "socialcrm_engine_workspaces_resident",
        "Workspace actors running.",
        "gauge",
        observed.num_workspaces_resident,
    );
    gauge(
        text,
        "socialcrm_engine_accounts_resident",
        "Account actors running.",
        "gauge",
        observed.num_accounts_resident,
    );
    gauge(
        text,
        "socialcrm_engine_accounts_degraded",
        "Accounts marked degraded after repeated restarts.",
        "gauge",
        degraded,
    );
    gauge(
        text,
        "socialcrm_engine_restarts_total",
        "Account actor restarts.",
        "counter",
        observed.num_restarts,
    );
    gauge(
        text,
        "socialcrm_engine_scans_total",
        "Due-window scans.",
        "counter",
        observed.num_scans,
    );
    gauge(
        text,
        "socialcrm_engine_events_total",
        "Domain events emitted.",
        "counter",
        observed.num_events,
    );
    gauge(
        text,
        "socialcrm_engine_mailbox_depth",
        "Messages waiting in account mailboxes.",
        "gauge",
        mailbox,
    );
    gauge(
        text,
        "socialcrm_engine_deliveries_pending",
        "Deliveries waiting in account actors.",
        "gauge",
        pending,
    );
    gauge(
        text,
        "socialcrm_engine_rate_limited_held_total",
        "Deliveries held back by platform rate limits.",
        "counter",
        held,
    );
    let mut by_state = std::collections::BTreeMap::<&str, u64>::new();
    for account in &observed.accounts {
        for (state, n) in &account.transitions_by_state {
            *by_state.entry(state.as_str()).or_default() += n;
        }
    }
    text.push_str("# HELP socialcrm_engine_delivery_transitions_total Delivery transitions by target state.\n");
    text.push_str("# TYPE socialcrm_engine_delivery_transitions_total counter\n");
    for (state, n) in by_state {
        let _ = writeln!(
            text,
            "socialcrm_engine_delivery_transitions_total{{state=\"{state}\"}} {n}"
        );
    }
}

/// Prometheus metrics: requests by route and status, latency by route, engine readiness.
#[utoipa::path(
    get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    text.push_str("# HELP socialcrm_engine_attached Whether this gateway has an engine.\n");
    text.push_str("# TYPE socialcrm_engine_attached gauge\n");
    text.push_str(&format!(
        "socialcrm_engine_attached {}\n",
        u8::from(state.engine.is_some())
    ));
    text.push_str("# HELP socialcrm_engine_ready Whether the engine finished start-up recovery.\n");
    text.push_str("# TYPE socialcrm_engine_ready gauge\n");
    let ready = state.engine.as_ref().is_some_and(|e| e.is_ready());
    text.push_str(&format!("socialcrm_engine_ready {}\n", u8::from(ready)));
    if let Some(engine) = &state.engine {
        engine_figures(&mut text, &engine.observe());
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
