//! Workspaces: `POST /v1/workspaces` (the caller becomes owner; the engine then creates the
//! workspace's data key and actor), `GET /v1/workspaces` (those the caller may act in),
//! `GET /v1/workspaces/{ws}` and `PATCH /v1/workspaces/{ws}`.
//!
//! A workspace created with an API key is added to that key's workspace list (when it has one),
//! so the key can act in what it creates. An instance-admin key has no person behind it: the
//! key itself (by its id) stands as the owner member until a person is added.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use schema::PageRequest;
use serde::{Deserialize, Serialize};
use tenants::{Membership, Role, Scope, UserId, Workspace, WorkspaceId};
use utoipa::ToSchema;

use crate::auth::{Permission, Principal, WorkspaceAccess, authorizer};
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, created};
use crate::routes::me::valid_name;
use crate::state::AppState;

/// The workspace routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces",
            get(list_workspaces).post(create_workspace),
        )
        .route(
            "/v1/workspaces/{ws}",
            get(get_workspace).patch(patch_workspace),
        )
}

/// Body of `POST /v1/workspaces`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// IANA time zone (`Europe/Paris`), the default for local times.
    pub timezone: String,
}

/// Body of `PATCH /v1/workspaces/{ws}`; absent fields are unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    /// Display name.
    pub name: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
}

/// A workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Workspace id.
    #[schema(value_type = String, format = Uuid)]
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Creation time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&Workspace> for WorkspaceView {
    fn from(w: &Workspace) -> Self {
        Self {
            id: w.id,
            name: w.name.clone(),
            timezone: w.timezone.clone(),
            created_at: w.created_at,
        }
    }
}

/// A page of workspaces.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    /// The workspaces.
    pub items: Vec<WorkspaceView>,
    /// Cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}

/// Checks an IANA zone name.
///
/// # Errors
/// 422 on `timezone` naming the problem.
pub fn valid_timezone(name: &str) -> Result<String, ApiError> {
    let trimmed = name.trim();
    let shaped = !trimmed.is_empty()
        && trimmed.len() <= 64
        && trimmed.starts_with(|c: char| c.is_ascii_alphabetic())
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if shaped && jiff::tz::TimeZone::get(trimmed).is_ok() {
        Ok(trimmed.to_owned())
    } else {
        Err(ApiError::invalid_field(
            "timezone",
            format!(
                "`{}` is not an IANA time zone; use a name such as Europe/Paris, America/New_York or UTC",
                name.chars().take(64).collect::<String>()
            ),
        ))
    }
}

/// Creates a workspace; the caller becomes its owner.
#[utoipa::path(
    post, path = "/v1/workspaces", tag = "workspaces",
    request_body = NewWorkspace,
    responses((status = 201, body = WorkspaceView), (status = 422, body = crate::error::Problem))
)]
pub async fn create_workspace(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Admin)?;
    let name = valid_name("name", &body.name)?;
    let timezone = valid_timezone(&body.timezone)?;
    let now = state.clock.now();
    let workspace = Workspace {
        id: WorkspaceId::new(),
        name,
        timezone,
        created_at: now,
        deletion_requested_at: None,
        processing_restricted: false,
    };
    let owner_id = match (principal.user_id(), &principal.key) {
        (Some(user_id), _) => user_id,
        (None, Some(key)) => UserId(key.id.as_uuid()),
        (None, None) => {
            return Err(ApiError::Unauthenticated(
                "authentication required".to_owned(),
            ));
        }
    };
    let owner = Membership {
        workspace_id: workspace.id,
        user_id: owner_id,
        role: Role::Owner,
        created_at: now,
    };
    state.store.create_workspace(&workspace, &owner).await?;
    if let Some(mut key) = principal.key.clone() {
        if let Some(list) = key.workspace_ids.as_mut() {
            list.push(workspace.id);
            state.store.put_api_key(&key).await?;
        }
    }
    if let Some(engine) = &state.engine {
        engine
            .workspace_created(authorizer::creator_scope(&workspace, &owner))
            .await?;
    }
    tracing::info!(workspace_id = %workspace.id, "workspace created");
    Ok(created(WorkspaceView::from(&workspace)))
}

/// Lists the workspaces I may act in.
#[utoipa::path(
    get, path = "/v1/workspaces", tag = "workspaces",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = WorkspaceList), (status = 400, body = crate::error::Problem))
)]
pub async fn list_workspaces(
    State(state): State<AppState>,
    principal: Principal,
    params: ListParams,
) -> Result<Json<WorkspaceList>, ApiError> {
    principal.require_scope(Scope::Read)?;
    let key_list = principal.key.as_ref().and_then(|k| k.workspace_ids.clone());
    let ids: Vec<WorkspaceId> = match (principal.is_instance_admin(), key_list, principal.user_id())
    {
        (_, Some(list), _) => list,
        (true, None, _) => return list_all(&state, &params).await,
        (false, None, Some(user_id)) => state
            .store
            .list_memberships_of_user(user_id)
            .await?
            .into_iter()
            .map(|m| m.workspace_id)
            .collect(),
        (false, None, None) => Vec::new(),
    };
    let mut workspaces = Vec::with_capacity(ids.len());
    for id in ids {
        // Re-checked through the authorizer's rule: membership still holds, not being erased.
        if let Ok(access) = authorizer::authorize(&state, &principal, &id.to_string()).await {
            workspaces.push(access.workspace);
        }
    }
    let (items, next_cursor) = params.paginate(workspaces, |w| w.id.to_string());
    Ok(Json(WorkspaceList {
        items: items.iter().map(WorkspaceView::from).collect(),
        next_cursor,
    }))
}

async fn list_all(state: &AppState, params: &ListParams) -> Result<Json<WorkspaceList>, ApiError> {
    let page = state
        .store
        .list_all_workspaces(PageRequest {
            cursor: params.cursor.clone(),
            limit: params.limit,
        })
        .await?;
    Ok(Json(WorkspaceList {
        items: page
            .items
            .iter()
            .filter(|w| w.deletion_requested_at.is_none())
            .map(WorkspaceView::from)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Reads a workspace.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}", tag = "workspaces",
    params(("ws" = String, Path, description = "Workspace id")),
    responses((status = 200, body = WorkspaceView), (status = 404, body = crate::error::Problem))
)]
pub async fn get_workspace(access: WorkspaceAccess) -> Json<WorkspaceView> {
    Json(WorkspaceView::from(&access.workspace))
}

/// Renames a workspace or changes its time zone.
#[utoipa::path(
    patch, path = "/v1/workspaces/{ws}", tag = "workspaces",
    params(("ws" = String, Path, description = "Workspace id")),
    request_body = WorkspacePatch,
    responses(
        (status = 200, body = WorkspaceView),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    )
)]
pub async fn patch_workspace(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    ApiJson(patch): ApiJson<WorkspacePatch>,
) -> Result<Json<WorkspaceView>, ApiError> {
    access.require(Permission::Manage)?;
    let mut workspace = access.workspace.clone();
    if let Some(name) = &patch.name {
        workspace.name = valid_name("name", name)?;
    }
    if let Some(timezone) = &patch.timezone {
        workspace.timezone = valid_timezone(timezone)?;
    }
    state
        .store
        .update_workspace(access.scope, &workspace)
        .await?;
    Ok(Json(WorkspaceView::from(&workspace)))
}
