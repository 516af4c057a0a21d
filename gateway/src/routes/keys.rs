//! API keys: `POST /v1/api-keys` (the key is shown once: `sk_` + 32 random bytes, base64url;
//! only its SHA-256 is stored), `GET /v1/api-keys` (metadata with the last 4 characters only)
//! and `DELETE /v1/api-keys/{id}` (the key stops authenticating at once).
//!
//! A new key never exceeds its creator: it acts for the same person (or the instance), within
//! workspaces the creator may act in, with scopes the creator has.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{ApiKeyId, ApiKeyMeta, Scope, WorkspaceId};
use utoipa::ToSchema;

use crate::auth::{Principal, authorizer, random_token, sha256_hex};
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, created, parse_id};
use crate::routes::me::valid_name;
use crate::state::AppState;

/// The key routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", get(list_keys).post(create_key))
        .route("/v1/api-keys/{id}", delete(delete_key))
}

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A name to recognise the key by.
    pub name: String,
    /// Restrict the key to these workspaces (default: the creator's reach).
    #[schema(value_type = Option<Vec<String>>)]
    pub workspace_ids: Option<Vec<String>>,
    /// Restrict the key to these scopes: `read`, `posts_write`, `accounts_write`,
    /// `webhooks_write`, `admin` (default: the creator's).
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Vec<Scope>>,
}

/// A key's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Key id.
    #[schema(value_type = String, format = Uuid)]
    pub id: ApiKeyId,
    /// Its name.
    pub name: String,
    /// The last 4 characters of the key.
    pub last4: String,
    /// Creation time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last use (RFC 3339), to the minute.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// Workspaces it is limited to; `null` for all of its owner's.
    #[schema(value_type = Option<Vec<String>>)]
    pub workspace_ids: Option<Vec<WorkspaceId>>,
    /// Scopes it is limited to; empty for all.
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<Scope>,
}

impl From<ApiKeyMeta> for KeyView {
    fn from(key: ApiKeyMeta) -> Self {
        Self {
            id: key.id,
            name: key.name,
            last4: key.last4,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            workspace_ids: key.workspace_ids,
            scopes: key.scopes,
        }
    }
}

/// A freshly created key: the only time `key` is ever shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret key. Store it now; it cannot be shown again.
    pub key: String,
    /// The key's metadata.
    #[serde(flatten)]
    pub meta: KeyView,
}

/// A page of keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The keys.
    pub items: Vec<KeyView>,
    /// Cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}

/// Creates an API key.
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "api-keys",
    request_body = NewKey,
    responses(
        (status = 201, body = CreatedKey),
        (status = 403, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Admin)?;
    let name = valid_name("name", &body.name)?;
    let creator = principal.key.as_ref();
    let workspace_ids = match body.workspace_ids {
        Some(raw) => {
            let mut ids = Vec::with_capacity(raw.len());
            for (i, raw_id) in raw.iter().enumerate() {
                let access = authorizer::authorize(&state, &principal, raw_id)
                    .await
                    .map_err(|_| {
                        ApiError::invalid_field(format!("workspace_ids[{i}]"), "no such workspace")
                    })?;
                ids.push(access.scope.workspace_id());
            }
            Some(ids)
        }
        None => creator.and_then(|k| k.workspace_ids.clone()),
    };
    let scopes = match body.scopes {
        Some(scopes) => {
            if let Some(missing) = scopes.iter().find(|s| !principal.has_scope(**s)) {
                return Err(ApiError::invalid_field(
                    "scopes",
                    format!(
                        "`{}` exceeds the scopes of the key making this request",
                        crate::auth::scope_name(*missing)
                    ),
                ));
            }
            scopes
        }
        None => creator.map(|k| k.scopes.clone()).unwrap_or_default(),
    };
    let secret = format!("sk_{}", random_token(32));
    let last4: String = secret.chars().skip(secret.chars().count() - 4).collect();
    let meta = ApiKeyMeta {
        id: ApiKeyId::new(),
        name,
        owner: principal.user_id(),
        key_hash: sha256_hex(secret.as_bytes()),
        last4,
        workspace_ids,
        scopes,
        instance_admin: principal.is_instance_admin(),
        created_at: state.clock.now(),
        last_used_at: None,
    };
    state.store.put_api_key(&meta).await?;
    tracing::info!(key_id = %meta.id, "api key created");
    Ok(created(CreatedKey {
        key: secret,
        meta: KeyView::from(meta),
    }))
}

/// Lists my API keys (never the keys themselves).
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "api-keys",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = KeyList), (status = 400, body = crate::error::Problem))
)]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    params: ListParams,
) -> Result<Json<KeyList>, ApiError> {
    principal.require_scope(Scope::Admin)?;
    let keys = state.store.list_api_keys(principal.user_id()).await?;
    let (items, next_cursor) = params.paginate(keys, |k| k.id.to_string());
    Ok(Json(KeyList {
        items: items.into_iter().map(KeyView::from).collect(),
        next_cursor,
    }))
}

/// Revokes an API key.
#[utoipa::path(
    delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = crate::error::Problem))
)]
pub async fn delete_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Admin)?;
    let id: ApiKeyId = parse_id(&raw, "api key")?;
    let key = state
        .store
        .get_api_key(id)
        .await?
        .filter(|k| k.owner == principal.user_id())
        .ok_or_else(|| ApiError::NotFound("api key not found".to_owned()))?;
    state.store.delete_api_key(key.id).await?;
    tracing::info!(key_id = %key.id, "api key revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}
