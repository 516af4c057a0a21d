//! Control routes under `/_sandbox` for tests and demos: read the publish ledger, the issued
//! secrets and the counters, tune fault injection, and invalidate platform grants.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tenants::Platform;

use crate::faults::FaultSettings;
use crate::{Shared, lock};

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/_sandbox/ledger", get(ledger))
        .route("/_sandbox/issued-secrets", get(issued_secrets))
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/faults", get(get_faults).post(set_faults))
        .route("/_sandbox/oauth/invalidate", post(invalidate))
}

async fn ledger(State(state): State<Shared>) -> Response {
    let ledger = state.ledger();
    Json(json!({"entries": ledger.entries(), "duplicates": ledger.duplicates()})).into_response()
}

async fn issued_secrets(State(state): State<Shared>) -> Response {
    Json(json!({"secrets": state.ledger().secrets()})).into_response()
}

async fn stats(State(state): State<Shared>) -> Response {
    Json(lock(&state.stats).clone()).into_response()
}

async fn get_faults(State(state): State<Shared>) -> Json<FaultSettings> {
    Json(state.faults().settings())
}

async fn set_faults(
    State(state): State<Shared>,
    Json(settings): Json<FaultSettings>,
) -> Json<FaultSettings> {
    let mut faults = state.faults();
    faults.apply(settings);
    Json(faults.settings())
}

#[derive(Deserialize)]
struct InvalidateRequest {
    platform: String,
    refresh_token: Option<String>,
    user_id: Option<String>,
}

async fn invalidate(
    State(state): State<Shared>,
    Json(request): Json<InvalidateRequest>,
) -> Response {
    let Ok(platform) = request.platform.parse::<Platform>() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unknown platform"})),
        )
            .into_response();
    };
    if request.refresh_token.is_none() && request.user_id.is_none() {
        let body = json!({"error": "refresh_token or user_id is required"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let num_invalidated = state.tokens().invalidate(
        platform,
        request.refresh_token.as_deref(),
        request.user_id.as_deref(),
    );
    if num_invalidated == 0 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no matching grant"})),
        )
            .into_response();
    }
    Json(json!({"invalidated": num_invalidated})).into_response()
}
