//! Outstand reads: get and list posts (the reconciliation sources of truth), cancel a pending
//! post, and the analytics endpoints.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::gate::gate;
use super::{failure, not_found};
use crate::posts::{CancelError, ListFilter};
use crate::{Shared, metrics};

pub(super) async fn get_post(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let now = state.now();
    let scopes = state.posts().accounts_of(&id).unwrap_or_default();
    if let Err(response) = gate(&state, &scopes, now) {
        return response;
    }
    match state.posts().get(&id, now) {
        Some(post) => Json(json!({"success": true, "post": post})).into_response(),
        None => not_found(),
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    social_account_id: Option<String>,
    idempotency_key: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

pub(super) async fn list_posts(
    State(state): State<Shared>,
    Query(query): Query<ListQuery>,
) -> Response {
    let now = state.now();
    let scopes = vec![
        query
            .social_account_id
            .clone()
            .unwrap_or_else(|| "org".to_owned()),
    ];
    if let Err(response) = gate(&state, &scopes, now) {
        return response;
    }
    let filter = ListFilter {
        social_account_id: query.social_account_id,
        idempotency_key: query.idempotency_key,
        limit: query.limit.unwrap_or(50).clamp(1, 100),
        offset: query.offset.unwrap_or(0),
    };
    let (posts, total) = state.posts().list(&filter, now);
    Json(json!({
        "success": true,
        "posts": posts,
        "pagination": {"limit": filter.limit, "offset": filter.offset, "total": total},
    }))
    .into_response()
}

pub(super) async fn cancel_post(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let now = state.now();
    let scopes = state.posts().accounts_of(&id).unwrap_or_default();
    if let Err(response) = gate(&state, &scopes, now) {
        return response;
    }
    let result = state.posts().cancel(&id, now);
    match result {
        Ok(post) => Json(json!({"success": true, "post": post})).into_response(),
        Err(CancelError::NotFound) => not_found(),
        Err(CancelError::NotPending) => {
            failure(StatusCode::CONFLICT, "Post is not pending", None, None)
        }
    }
}

pub(super) async fn post_analytics(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Response {
    let now = state.now();
    let scopes = state.posts().accounts_of(&id).unwrap_or_default();
    if let Err(response) = gate(&state, &scopes, now) {
        return response;
    }
    match metrics::post_analytics(&state, &id, now) {
        Some(body) => Json(body).into_response(),
        None => not_found(),
    }
}

#[derive(Deserialize)]
pub(super) struct MetricsQuery {
    since: Option<i64>,
    until: Option<i64>,
}

pub(super) async fn account_metrics(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> Response {
    let now = state.now();
    if let Err(response) = gate(&state, std::slice::from_ref(&id), now) {
        return response;
    }
    match metrics::account_metrics(&state, &id, query.since, query.until, now) {
        Some(body) => Json(body).into_response(),
        None => failure(
            StatusCode::NOT_FOUND,
            "Social account not found",
            None,
            None,
        ),
    }
}
