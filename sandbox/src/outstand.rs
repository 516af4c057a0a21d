//! The Outstand publishing API stand-in under `/outstand/v1`: bearer-key auth, `POST /posts`
//! with `Idempotency-Key` replay and platform-token checks, reads for reconciliation, cancel,
//! metrics, and the fault gate (500s, 429s with `Retry-After`, dropped connections).

mod gate;
mod publish;
mod reads;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::{Shared, faults};

pub(crate) fn router(state: Shared) -> Router<Shared> {
    Router::new()
        .route(
            "/outstand/v1/posts",
            post(publish::create_post).get(reads::list_posts),
        )
        .route("/outstand/v1/posts/", post(publish::create_post))
        .route(
            "/outstand/v1/posts/{id}",
            get(reads::get_post).delete(reads::cancel_post),
        )
        .route(
            "/outstand/v1/posts/{id}/analytics",
            get(reads::post_analytics),
        )
        .route(
            "/outstand/v1/social-accounts/{id}/metrics",
            get(reads::account_metrics),
        )
        .route_layer(from_fn_with_state(state.clone(), require_api_key))
        .route_layer(from_fn_with_state(state.clone(), gate::rate_limit_headers))
        .route_layer(from_fn_with_state(state, faults::latency))
}

/// An Outstand error envelope.
pub(super) fn failure(
    status: StatusCode,
    error: &str,
    message: Option<String>,
    details: Option<Value>,
) -> Response {
    let mut body = json!({"success": false, "error": error});
    if let Some(message) = message {
        body["message"] = Value::String(message);
    }
    if let Some(details) = details {
        body["details"] = details;
    }
    (status, Json(body)).into_response()
}

/// A zod-style 400 for one field.
pub(super) fn invalid(field: &str, problem: &str) -> Response {
    let details = json!({ field: { "_errors": [problem] } });
    failure(
        StatusCode::BAD_REQUEST,
        "Invalid payload",
        None,
        Some(details),
    )
}

async fn require_api_key(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.map(str::trim) != Some(state.outstand_api_key.as_str()) {
        return failure(StatusCode::UNAUTHORIZED, "Unauthorized", None, None);
    }
    next.run(request).await
}

pub(super) fn not_found() -> Response {
    failure(StatusCode::NOT_FOUND, "Post not found", None, None)
}
