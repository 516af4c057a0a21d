//! Outbound webhook endpoints: `POST/GET /v1/workspaces/{ws}/webhooks`, `GET/PATCH/DELETE
//! .../webhooks/{id}`, `POST .../rotate-secret` (both secrets sign for 24 h), `POST .../test`,
//! the attempt log `GET .../deliveries` and `POST .../deliveries/{delivery_id}/resend`.
//!
//! Delivery is at least once and unordered: receivers dedupe on `webhook-id` and must not rely
//! on the order events arrive in.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::webhooks::{EndpointPatch, EndpointView, NewEndpoint};
use schema::WebhookAttempt;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tenants::WebhookId;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Permission, WorkspaceAccess};
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, created, parse_id};
use crate::state::AppState;

/// The webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces/{ws}/webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route(
            "/v1/workspaces/{ws}/webhooks/{id}",
            get(get_webhook).patch(patch_webhook).delete(delete_webhook),
        )
        .route(
            "/v1/workspaces/{ws}/webhooks/{id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/v1/workspaces/{ws}/webhooks/{id}/test", post(test_webhook))
        .route(
            "/v1/workspaces/{ws}/webhooks/{id}/deliveries",
            get(list_deliveries),
        )
        .route(
            "/v1/workspaces/{ws}/webhooks/{id}/deliveries/{delivery_id}/resend",
            post(resend_delivery),
        )
}

/// Body of `POST .../webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// The receiver's URL (http or https; private addresses only when the server allows them).
    pub url: String,
    /// Event types: `post.published`, `post.failed`, ..., `test`.
    pub events: Vec<String>,
    /// A note.
    pub description: Option<String>,
}

/// Body of `PATCH .../webhooks/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// New URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// An endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// Target URL.
    pub url: String,
    /// Subscribed event types.
    pub events: Vec<String>,
    /// Note.
    pub description: Option<String>,
    /// Whether deliveries are attempted.
    pub enabled: bool,
    /// Why the system disabled it (retries exhausted, 410 Gone).
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_...`): only in the answer to create and rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

fn view(e: EndpointView, secret: Option<String>) -> WebhookView {
    WebhookView {
        id: e.id.to_string(),
        url: e.url,
        events: e.events,
        description: e.description,
        enabled: e.enabled,
        disabled_reason: e.disabled_reason,
        secret,
        created_at: e.created_at.to_string(),
    }
}

/// A list of endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// The endpoints.
    pub items: Vec<WebhookView>,
    /// Always `null` (a workspace has few endpoints).
    pub next_cursor: Option<String>,
}

/// One attempt of the delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptView {
    /// The delivery (resend it with this id).
    pub delivery_id: String,
    /// The event id (`webhook-id`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// When it was sent (RFC 3339).
    pub at: String,
    /// The HTTP status, when the receiver answered.
    pub status_code: Option<u16>,
    /// Time to the answer in milliseconds.
    pub latency_ms: u64,
    /// The start of the response body.
    pub response: Option<String>,
    /// A transport failure (timeout, refused, blocked target).
    pub error: Option<String>,
    /// When the next attempt is scheduled, if any (RFC 3339).
    pub next_retry_at: Option<String>,
}

impl From<WebhookAttempt> for DeliveryAttemptView {
    fn from(a: WebhookAttempt) -> Self {
        Self {
            delivery_id: a.message_id.to_string(),
            event_id: a.event_id,
            event_type: a.event_type,
            attempt: a.attempt,
            at: a.at.to_string(),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response: a.response,
            error: a.error,
            next_retry_at: a.next_retry_at.map(|t| t.to_string()),
        }
    }
}

/// A page of the delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Attempts, newest first.
    pub items: Vec<DeliveryAttemptView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// The answer to `POST .../test` and `.../resend`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// The delivery queued.
    pub delivery_id: String,
}

fn hooks(state: &AppState) -> Result<&engine::webhooks::WebhookHandle, ApiError> {
    Ok(state.engine()?.webhooks()?)
}

/// Creates an endpoint; the answer carries its secret, shown only this once.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/webhooks", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id")), request_body = NewWebhook,
    responses((status = 201, body = WebhookView), (status = 422, body = crate::error::Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<Response, ApiError> {
    access.require(Permission::WriteWebhooks)?;
    let new = NewEndpoint {
        url: body.url,
        events: body.events,
        description: body.description,
    };
    let (e, secret) = hooks(&state)?.create(access.scope, new).await?;
    Ok(created(view(e, Some(secret.expose_secret().to_owned()))))
}

/// Lists the workspace's endpoints.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/webhooks", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id")),
    responses((status = 200, body = WebhookList)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    access: WorkspaceAccess,
) -> Result<Json<WebhookList>, ApiError> {
    let all = hooks(&state)?.list(access.scope).await?;
    Ok(Json(WebhookList {
        items: all.into_iter().map(|e| view(e, None)).collect(),
        next_cursor: None,
    }))
}

/// Reads an endpoint.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/webhooks/{id}", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 404, body = crate::error::Problem)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<WebhookView>, ApiError> {
    let id: WebhookId = parse_id(&ids.1, "webhook")?;
    Ok(Json(view(
        hooks(&state)?.get(access.scope, id).await?,
        None,
    )))
}

/// Changes an endpoint's URL, events or enabled flag.
#[utoipa::path(patch, path = "/v1/workspaces/{ws}/webhooks/{id}", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Webhook id")),
    request_body = WebhookPatch, responses((status = 200, body = WebhookView)))]
pub async fn patch_webhook(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
    ApiJson(body): ApiJson<WebhookPatch>,
) -> Result<Json<WebhookView>, ApiError> {
    access.require(Permission::WriteWebhooks)?;
    let id: WebhookId = parse_id(&ids.1, "webhook")?;
    let patch = EndpointPatch {
        url: body.url,
        events: body.events,
        enabled: body.enabled,
    };
    let e = hooks(&state)?.update(access.scope, id, patch).await?;
    Ok(Json(view(e, None)))
}

/// Deletes an endpoint.
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/webhooks/{id}", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Webhook id")),
    responses((status = 204)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    access.require(Permission::WriteWebhooks)?;
    let id: WebhookId = parse_id(&ids.1, "webhook")?;
    hooks(&state)?.delete(access.scope, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Replaces the secret; the old one keeps signing for 24 h. The answer carries the new one.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<WebhookView>, ApiError> {
    access.require(Permission::WriteWebhooks)?;
    let id: WebhookId = parse_id(&ids.1, "webhook")?;
    let h = hooks(&state)?;
    let secret = h.rotate_secret(access.scope, id).await?;
    let e = h.get(access.scope, id).await?;
    Ok(Json(view(e, Some(secret.expose_secret().to_owned()))))
}

/// Sends a `test` event to this endpoint.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/webhooks/{id}/test", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Webhook id")),
    responses((status = 202, body = Queued)))]
pub async fn test_webhook(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    access.require(Permission::WriteWebhooks)?;
    let id: WebhookId = parse_id(&ids.1, "webhook")?;
    let delivery = hooks(&state)?.send_test(access.scope, id).await?;
    let body = Queued {
        delivery_id: delivery.to_string(),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Every attempt made for this endpoint, newest first.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/webhooks/{id}/deliveries", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = DeliveryList)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
    params: ListParams,
) -> Result<Json<DeliveryList>, ApiError> {
    let id: WebhookId = parse_id(&ids.1, "webhook")?;
    let page = hooks(&state)?
        .deliveries(access.scope, id, params.page())
        .await?;
    Ok(Json(DeliveryList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Sends a delivery again now (same event id, fresh retry schedule).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/webhooks/{id}/deliveries/{delivery_id}/resend", tag = "webhooks",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Webhook id"),
        ("delivery_id" = String, Path, description = "Delivery id")),
    responses((status = 202, body = Queued)))]
pub async fn resend_delivery(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    access.require(Permission::WriteWebhooks)?;
    let id: WebhookId = parse_id(&ids.1, "webhook")?;
    let delivery: Uuid = parse_id(&ids.2, "delivery")?;
    hooks(&state)?.resend(access.scope, id, delivery).await?;
    let body = Queued {
        delivery_id: delivery.to_string(),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
