//! Data-subject rights that change state: restriction (`POST /v1/workspaces/{ws}/restrict` and
//! `/unrestrict`), erasure (`DELETE /v1/workspaces/{ws}`, `DELETE /v1/me`) and marketing consent
//! (`PUT /v1/me/marketing-consent`). Correction is `PATCH /v1/me` and
//! `PATCH /v1/workspaces/{ws}`, recorded by the audit log like every state change.
//!
//! Erasure takes effect at once: the workspace or person is marked erased, which the authorizer
//! and authentication treat as gone (404 / 401 from then on); sessions end and API keys tied to
//! the erased subject are deleted. The engine's purge then removes the data (see
//! `docs/privacy.md`), the gateway's audit entries and exports included (`crate::purge`).
//! Once erasure took effect, an "erasure confirmed" email goes to the person (their address is
//! read before their row goes) or to every owner of the erased workspace.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post, put};
use axum::{Json, Router};
use engine::notify::{Notification, Recipient};
use jiff::{SignedDuration, Timestamp};
use schema::{PageRequest, WorkspaceScope};
use serde::{Deserialize, Serialize};
use tenants::{Role, Scope, UserId, WorkspaceId};
use utoipa::ToSchema;

use crate::auth::{Permission, Principal, WorkspaceAccess, authorizer};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::exports::require_owner;
use crate::state::AppState;

/// How long after erasure every trace is purged, at the latest (the privacy policy's promise).
pub const PURGE_WITHIN: SignedDuration = SignedDuration::from_hours(30 * 24);

/// The privacy routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/restrict", post(restrict))
        .route("/v1/workspaces/{ws}/unrestrict", post(unrestrict))
        .route("/v1/workspaces/{ws}", delete(erase_workspace))
        .route("/v1/me", delete(erase_me))
        .route("/v1/me/marketing-consent", put(set_marketing_consent))
}

/// The processing state of a workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestrictionView {
    /// Workspace id.
    #[schema(value_type = String, format = Uuid)]
    pub workspace_id: String,
    /// While true nothing is published; held deliveries wait with `processing_restricted`.
    pub processing_restricted: bool,
}

async fn set_restricted(
    state: &AppState,
    access: WorkspaceAccess,
    restricted: bool,
) -> Result<Json<RestrictionView>, ApiError> {
    access.require(Permission::Manage)?;
    let workspace = access.workspace;
    match (&state.engine, restricted) {
        (Some(engine), true) => engine.restrict_workspace(access.scope).await?,
        // The engine releases the deliveries held for the restriction.
        (Some(engine), false) => engine.unrestrict_workspace(access.scope).await?,
        // Without an engine nothing publishes; the flag is still kept for when one runs.
        (None, _) => {
            let mut updated = workspace.clone();
            updated.processing_restricted = restricted;
            state.store.update_workspace(access.scope, &updated).await?;
        }
    }
    tracing::info!(workspace_id = %workspace.id, restricted, "processing restriction changed");
    Ok(Json(RestrictionView {
        workspace_id: workspace.id.to_string(),
        processing_restricted: restricted,
    }))
}

/// Restricts processing: nothing is published until lifted.
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/restrict", tag = "privacy",
    params(("ws" = String, Path, description = "Workspace id")),
    responses((status = 200, body = RestrictionView), (status = 403, body = crate::error::Problem))
)]
pub async fn restrict(
    State(state): State<AppState>,
    access: WorkspaceAccess,
) -> Result<Json<RestrictionView>, ApiError> {
    set_restricted(&state, access, true).await
}

/// Lifts the restriction; held deliveries are released.
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/unrestrict", tag = "privacy",
    params(("ws" = String, Path, description = "Workspace id")),
    responses((status = 200, body = RestrictionView), (status = 403, body = crate::error::Problem))
)]
pub async fn unrestrict(
    State(state): State<AppState>,
    access: WorkspaceAccess,
) -> Result<Json<RestrictionView>, ApiError> {
    set_restricted(&state, access, false).await
}

/// The receipt of an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureReceipt {
    /// What was erased: `workspace` or `user`.
    pub kind: String,
    /// Its id.
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// When erasure took effect (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub erased_at: Timestamp,
    /// Every trace is purged by then.
    #[schema(value_type = String, format = DateTime)]
    pub purge_by: Timestamp,
}

fn purge_by(now: Timestamp) -> Timestamp {
    now.saturating_add(PURGE_WITHIN).unwrap_or(now)
}

fn receipt(kind: &str, id: String, now: Timestamp) -> Response {
    let body = ErasureReceipt {
        kind: kind.to_owned(),
        id,
        erased_at: now,
        purge_by: purge_by(now),
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// The addresses of the workspace's owners, read before the erasure hides them.
async fn owner_addresses(state: &AppState, scope: WorkspaceScope) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = state
            .store
            .list_members(scope, PageRequest { cursor, limit: 500 })
            .await?;
        for m in page.items.iter().filter(|m| m.role == Role::Owner) {
            if let Some(user) = state.store.get_user(m.user_id).await?
                && user.deletion_requested_at.is_none()
            {
                out.extend(user.email);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Mails "erasure confirmed" to each address; a failure to queue is logged, never returned.
fn confirm_erasure(state: &AppState, addresses: Vec<String>, now: Timestamp) {
    let Some(engine) = &state.engine else {
        return;
    };
    for address in addresses {
        let mail = Notification::ErasureConfirmed {
            to: Recipient::Address(address),
            purge_by: purge_by(now),
        };
        if let Err(err) = engine.notify(mail) {
            tracing::warn!(error = %err, "erasure confirmation email not queued");
        }
    }
}

/// Deletes the API keys that only reach `ws` and takes `ws` out of the others' lists.
async fn revoke_workspace_keys(
    state: &AppState,
    ws: WorkspaceId,
    owners: &[Option<UserId>],
) -> Result<(), ApiError> {
    for owner in owners {
        for mut key in state.store.list_api_keys(*owner).await? {
            let Some(list) = key.workspace_ids.as_mut() else {
                continue;
            };
            if !list.contains(&ws) {
                continue;
            }
            list.retain(|id| *id != ws);
            if list.is_empty() {
                state.store.delete_api_key(key.id).await?;
            } else {
                state.store.put_api_key(&key).await?;
            }
        }
    }
    Ok(())
}

/// Erases the workspace through the engine (gone at once, deliveries canceled, tokens revoked
/// and shredded, purge scheduled) and revokes the API keys that reach it.
async fn erase_scope(state: &AppState, scope: WorkspaceScope) -> Result<(), ApiError> {
    let Some(workspace) = state.store.get_workspace(scope).await? else {
        return Ok(());
    };
    state.engine()?.erase_workspace(scope).await?;
    let mut owners = vec![None];
    let mut cursor = None;
    loop {
        let page = state
            .store
            .list_members(scope, PageRequest { cursor, limit: 500 })
            .await?;
        owners.extend(page.items.iter().map(|m| Some(m.user_id)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    revoke_workspace_keys(state, workspace.id, &owners).await?;
    tracing::info!(workspace_id = %workspace.id, "workspace erased");
    Ok(())
}

/// Erases the workspace (owners only): gone from the API at once, its keys revoked.
#[utoipa::path(
    delete, path = "/v1/workspaces/{ws}", tag = "privacy",
    params(("ws" = String, Path, description = "Workspace id")),
    responses(
        (status = 202, body = ErasureReceipt),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn erase_workspace(
    State(state): State<AppState>,
    access: WorkspaceAccess,
) -> Result<Response, ApiError> {
    require_owner(&access)?;
    let now = state.clock.now();
    let owners = owner_addresses(&state, access.scope).await?;
    erase_scope(&state, access.scope).await?;
    confirm_erasure(&state, owners, now);
    Ok(receipt("workspace", access.workspace.id.to_string(), now))
}

/// Erases me: refused (409 `sole_owner`) while I am the only owner of a workspace that has other
/// members; workspaces where I am the only member are erased with me.
#[utoipa::path(
    delete, path = "/v1/me", tag = "privacy",
    responses(
        (status = 202, body = ErasureReceipt),
        (status = 403, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
    )
)]
pub async fn erase_me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Admin)?;
    let user = principal.user.clone().ok_or_else(|| {
        ApiError::forbidden("not_a_person", "this API key belongs to the instance")
    })?;
    let now = state.clock.now();
    // The engine applies the same rule; checking here first gives the precise problem code
    // and revokes the keys of the workspaces erased along.
    let mut alone_in = Vec::new();
    for m in state.store.list_memberships_of_user(user.id).await? {
        let Ok(access) =
            authorizer::authorize(&state, &principal, &m.workspace_id.to_string()).await
        else {
            continue;
        };
        let members = state
            .store
            .list_members(access.scope, PageRequest::first(1000))
            .await?
            .items;
        let other_owner = members
            .iter()
            .any(|o| o.user_id != user.id && o.role == Role::Owner);
        if members.len() <= 1 {
            alone_in.push(access.scope);
        } else if m.role == Role::Owner && !other_owner {
            return Err(ApiError::Conflict {
                code: "sole_owner",
                detail: format!(
                    "you are the only owner of workspace {}, which has other members; make \
                     another member an owner or erase the workspace first",
                    m.workspace_id
                ),
                retry_after_secs: None,
            });
        }
    }
    for scope in alone_in {
        erase_scope(&state, scope).await?;
    }
    // Memberships, sessions, keys, the person's own audit entries and exports, and the user
    // row go at once; the address is kept (in memory only) for the confirmation.
    state.engine()?.erase_user(user.id).await?;
    tracing::info!(user_id = %user.id, "user erased");
    confirm_erasure(&state, user.email.into_iter().collect(), now);
    Ok(receipt("user", user.id.to_string(), now))
}

/// Body of `PUT /v1/me/marketing-consent`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// Whether marketing email may be sent (default false).
    pub marketing_consent: bool,
}

/// The recorded consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// The flag.
    pub marketing_consent: bool,
    /// When it was last set (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub marketing_consent_at: Option<Timestamp>,
}

/// Gives or withdraws consent to marketing email; the time is recorded.
#[utoipa::path(
    put, path = "/v1/me/marketing-consent", tag = "privacy",
    request_body = ConsentBody,
    responses((status = 200, body = ConsentView), (status = 422, body = crate::error::Problem))
)]
pub async fn set_marketing_consent(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ConsentBody>,
) -> Result<Json<ConsentView>, ApiError> {
    principal.require_scope(Scope::Admin)?;
    let mut user = principal.user.ok_or_else(|| {
        ApiError::forbidden("not_a_person", "this API key belongs to the instance")
    })?;
    user.marketing_consent = body.marketing_consent;
    user.marketing_consent_at = Some(state.clock.now());
    state.store.put_user(&user).await?;
    Ok(Json(ConsentView {
        marketing_consent: user.marketing_consent,
        marketing_consent_at: user.marketing_consent_at,
    }))
}
