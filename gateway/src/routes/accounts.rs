//! Connected social accounts: `POST /v1/workspaces/{ws}/accounts/connect` starts the platform's
//! OAuth hand-off (PKCE S256, random `state`), `GET /v1/accounts/callback` finishes it (the
//! browser arrives there from the platform with no credentials: the single-use `state` is the
//! proof), and `GET`/`DELETE /v1/workspaces/{ws}/accounts[/{account_id}]` list, read and
//! disconnect. Tokens go straight from the platform's answer to the engine, which seals them;
//! responses show at most their last 4 characters.
//!
//! A disconnected account is gone from the API (listing skips it, reads answer 404); connecting
//! the same platform user again brings it back under the same id.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::partner::OAuthError;
use engine::{NewAccount, TokenGrant};
use jiff::Timestamp;
use schema::PageRequest;
use serde::{Deserialize, Serialize};
use tenants::{AccountId, AccountStatus, ConnectedAccount, Platform};
use utoipa::ToSchema;

use crate::auth::{Permission, WorkspaceAccess, authorizer};
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, created, parse_id};
use crate::routes::account_connect::{CALLBACK_PATH, CONNECT_TTL, PendingConnect, scopes};
use crate::state::AppState;

/// The workspace-scoped account routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/accounts", get(list_accounts))
        .route(
            "/v1/workspaces/{ws}/accounts/connect",
            post(connect_account),
        )
        .route(
            "/v1/workspaces/{ws}/accounts/{account_id}",
            get(get_account).delete(disconnect_account),
        )
}

/// The OAuth callback, reached without credentials.
pub fn callback_router() -> Router<AppState> {
    Router::new().route(CALLBACK_PATH, get(connect_callback))
}

/// Body of `POST .../accounts/connect`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// `x`, `linkedin`, `instagram`, `threads`, `bluesky`, `facebook`, `tiktok`, `youtube`,
    /// `pinterest`, `google_business`, `vimeo` or `reddit`.
    #[schema(value_type = String)]
    pub platform: Platform,
}

/// Where to send the person to approve access.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectStarted {
    /// The platform's authorization page; it sends the browser back to the callback.
    pub authorization_url: String,
    /// Until when the hand-off can be completed (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// A connected account. Tokens are never shown; `token_hint` is at most their last 4 characters.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// Account id.
    #[schema(value_type = String, format = Uuid)]
    pub id: AccountId,
    /// The network.
    #[schema(value_type = String)]
    pub platform: Platform,
    /// The handle.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// `active` or `needs_reconnect`.
    #[schema(value_type = String)]
    pub status: AccountStatus,
    /// Why the account cannot publish, when it cannot.
    pub status_reason: Option<String>,
    /// The last 4 characters of the access token.
    pub token_hint: Option<String>,
    /// When it was connected (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub connected_at: Timestamp,
}

impl From<&ConnectedAccount> for AccountView {
    fn from(a: &ConnectedAccount) -> Self {
        let hint = a.token_hint.as_deref().map(|h| {
            let n = h.chars().count();
            h.chars().skip(n.saturating_sub(4)).collect()
        });
        Self {
            id: a.id,
            platform: a.platform,
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            avatar_url: a.avatar_url.clone(),
            status: a.status,
            status_reason: a.status_reason.clone(),
            token_hint: hint,
            connected_at: a.connected_at,
        }
    }
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    /// The accounts.
    pub items: Vec<AccountView>,
    /// Cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}{CALLBACK_PATH}", state.config.public_base_url)
}

/// Starts connecting an account: answers the platform's authorization URL.
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/accounts/connect", tag = "accounts",
    params(("ws" = String, Path, description = "Workspace id")),
    request_body = ConnectRequest,
    responses(
        (status = 200, body = ConnectStarted),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
        (status = 503, body = crate::error::Problem),
    )
)]
pub async fn connect_account(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    ApiJson(body): ApiJson<ConnectRequest>,
) -> Result<Json<ConnectStarted>, ApiError> {
    access.require(Permission::WriteAccounts)?;
    state.engine()?;
    let oauth = state.connects.oauth()?;
    let pkce = engine::partner::Pkce::generate();
    let now = state.clock.now();
    let expires_at = now + CONNECT_TTL;
    let pending = PendingConnect {
        workspace_id: access.scope.workspace_id(),
        principal: access.principal.clone(),
        platform: body.platform,
        verifier: pkce.verifier().clone(),
        expires_at,
    };
    let connect_state = state.connects.start(pending, now)?;
    let authorization_url = oauth
        .authorization_url(
            body.platform,
            &redirect_uri(&state),
            &connect_state,
            pkce.challenge(),
            scopes(body.platform),
        )
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(ConnectStarted {
        authorization_url,
        expires_at,
    }))
}

fn oauth_failure(err: OAuthError) -> ApiError {
    match err {
        OAuthError::InvalidGrant { .. } => ApiError::bad_request(
            "authorization_failed",
            "the platform refused the authorization code; connect again",
        ),
        other => ApiError::Unavailable(format!("platform token exchange: {other}")),
    }
}

/// Finishes connecting an account: the platform sends the browser here with `code` and `state`.
#[utoipa::path(
    get, path = "/v1/accounts/callback", tag = "accounts",
    params(
        ("code" = Option<String>, Query, description = "The platform's authorization code"),
        ("state" = String, Query, description = "The state of the connect that started this"),
        ("error" = Option<String>, Query, description = "Set by the platform when access was refused"),
    ),
    security(()),
    responses(
        (status = 201, body = AccountView),
        (status = 400, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 503, body = crate::error::Problem),
    )
)]
pub async fn connect_callback(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let pending = params
        .get("state")
        .and_then(|s| state.connects.take(s, state.clock.now()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_state",
                "unknown, used or expired connect `state`; start the connect again",
            )
        })?;
    if let Some(error) = params.get("error") {
        let shown: String = error.chars().take(64).collect();
        return Err(ApiError::bad_request(
            "connect_denied",
            format!("the platform did not grant access ({shown})"),
        ));
    }
    let code = params
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_code", "the callback carries no `code`"))?;
    if let Some(key) = &pending.principal.key {
        if state.store.get_api_key(key.id).await?.is_none() {
            return Err(ApiError::Unauthenticated(
                "the API key that started this connect was revoked".to_owned(),
            ));
        }
    }
    let access = authorizer::authorize(
        &state,
        &pending.principal,
        &pending.workspace_id.to_string(),
    )
    .await?;
    access.require(Permission::WriteAccounts)?;
    let engine = state.engine()?;
    let tokens = state
        .connects
        .oauth()?
        .exchange_code(
            pending.platform,
            code,
            &redirect_uri(&state),
            &pending.verifier,
        )
        .await
        .map_err(oauth_failure)?;
    let user = tokens.user.clone().ok_or_else(|| {
        ApiError::Unavailable("the platform did not say who granted access".to_owned())
    })?;
    let username = user.username.clone().unwrap_or_else(|| user.id.clone());
    let new = NewAccount {
        platform: pending.platform,
        platform_user_id: user.id.clone(),
        partner_account_id: Some(user.id),
        display_name: user.name.unwrap_or_else(|| username.clone()),
        username,
        avatar_url: user.avatar_url,
        grant: TokenGrant {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_in_secs: tokens
                .expires_in
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            refresh_expires_in_secs: tokens
                .refresh_expires_in
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            scope: tokens.scope,
        },
    };
    let account = engine.connect_account(access.scope, new).await?;
    tracing::info!(workspace_id = %account.workspace_id, account_id = %account.id, platform = %account.platform, "account connected");
    Ok(created(AccountView::from(&account)))
}

/// Lists the workspace's connected accounts.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/accounts", tag = "accounts",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = AccountList), (status = 404, body = crate::error::Problem))
)]
pub async fn list_accounts(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    params: ListParams,
) -> Result<Json<AccountList>, ApiError> {
    let page = state
        .store
        .list_accounts(
            access.scope,
            PageRequest {
                cursor: params.cursor.clone(),
                limit: params.limit,
            },
        )
        .await?;
    Ok(Json(AccountList {
        items: page
            .items
            .iter()
            .filter(|a| a.status != AccountStatus::Disconnected)
            .map(AccountView::from)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn existing(
    state: &AppState,
    access: &WorkspaceAccess,
    raw: &str,
) -> Result<ConnectedAccount, ApiError> {
    let id: AccountId = parse_id(raw, "account")?;
    state
        .store
        .get_account(access.scope.account(id))
        .await?
        .filter(|a| a.status != AccountStatus::Disconnected)
        .ok_or_else(|| ApiError::NotFound("account not found".to_owned()))
}

/// Reads a connected account.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/accounts/{account_id}", tag = "accounts",
    params(("ws" = String, Path, description = "Workspace id"), ("account_id" = String, Path, description = "Account id")),
    responses((status = 200, body = AccountView), (status = 404, body = crate::error::Problem))
)]
pub async fn get_account(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(AccountView::from(
        &existing(&state, &access, &ids.1).await?,
    )))
}

/// Disconnects an account: its tokens are revoked at the platform and deleted, its pending
/// deliveries canceled.
#[utoipa::path(
    delete, path = "/v1/workspaces/{ws}/accounts/{account_id}", tag = "accounts",
    params(("ws" = String, Path, description = "Workspace id"), ("account_id" = String, Path, description = "Account id")),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn disconnect_account(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    access.require(Permission::WriteAccounts)?;
    let account = existing(&state, &access, &ids.1).await?;
    state
        .engine()?
        .disconnect_account(access.scope, account.id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
