//! Workspace members: `GET/POST /v1/workspaces/{ws}/members` and `PATCH/DELETE
//! /v1/workspaces/{ws}/members/{user_id}`. Roles are `owner`, `admin`, `editor`, `viewer`.
//! Owners and admins manage members; only an owner grants, changes or removes the owner role;
//! the last owner cannot be demoted or removed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use jiff::Timestamp;
use schema::PageRequest;
use serde::{Deserialize, Serialize};
use tenants::{Membership, Role, User, UserId};
use utoipa::ToSchema;

use crate::auth::{Permission, WorkspaceAccess};
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, created, parse_id};
use crate::state::AppState;

/// The member routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces/{ws}/members",
            get(list_members).post(add_member),
        )
        .route(
            "/v1/workspaces/{ws}/members/{user_id}",
            patch(change_role).delete(remove_member),
        )
}

/// Body of `POST .../members`: exactly one of `user_id` and `email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// The person's user id.
    pub user_id: Option<String>,
    /// Or their email address (they must have signed in once).
    pub email: Option<String>,
    /// `owner`, `admin`, `editor` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
}

/// Body of `PATCH .../members/{user_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// The new role.
    #[schema(value_type = String)]
    pub role: Role,
}

/// A member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// User id.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
    /// Name, when the member is a person.
    pub name: Option<String>,
    /// Email, when known.
    pub email: Option<String>,
    /// When they joined (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A page of members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// The members.
    pub items: Vec<MemberView>,
    /// Cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}

fn view(membership: &Membership, user: Option<&User>) -> MemberView {
    MemberView {
        user_id: membership.user_id,
        role: membership.role,
        name: user.map(|u| u.name.clone()),
        email: user.and_then(|u| u.email.clone()),
        created_at: membership.created_at,
    }
}

fn require_owner_for(access: &WorkspaceAccess, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&Role::Owner) && access.role != Role::Owner {
        return Err(ApiError::forbidden(
            "insufficient_role",
            "only an owner can grant, change or remove the owner role",
        ));
    }
    Ok(())
}

async fn num_owners(state: &AppState, access: &WorkspaceAccess) -> Result<usize, ApiError> {
    let mut page = PageRequest::first(1000);
    let mut owners = 0;
    loop {
        let batch = state.store.list_members(access.scope, page.clone()).await?;
        owners += batch.items.iter().filter(|m| m.role == Role::Owner).count();
        match batch.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(owners),
        }
    }
}

async fn find_by_email(state: &AppState, email: &str) -> Result<Option<User>, ApiError> {
    let mut page = PageRequest::first(1000);
    loop {
        let batch = state.store.list_users(page.clone()).await?;
        if let Some(user) = batch.items.into_iter().find(|u| {
            u.deletion_requested_at.is_none()
                && u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
        }) {
            return Ok(Some(user));
        }
        match batch.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(None),
        }
    }
}

/// Lists a workspace's members.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/members", tag = "members",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = MemberList), (status = 404, body = crate::error::Problem))
)]
pub async fn list_members(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    params: ListParams,
) -> Result<Json<MemberList>, ApiError> {
    let page = state
        .store
        .list_members(access.scope, params.page())
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for membership in &page.items {
        let user = state.store.get_user(membership.user_id).await?;
        items.push(view(membership, user.as_ref()));
    }
    Ok(Json(MemberList {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Adds a person to a workspace.
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/members", tag = "members",
    params(("ws" = String, Path, description = "Workspace id")),
    request_body = NewMember,
    responses(
        (status = 201, body = MemberView),
        (status = 403, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    ApiJson(body): ApiJson<NewMember>,
) -> Result<Response, ApiError> {
    access.require(Permission::Manage)?;
    require_owner_for(&access, &[body.role])?;
    let user = match (&body.user_id, &body.email) {
        (Some(raw), None) => match raw.parse::<UserId>() {
            Ok(id) => state
                .store
                .get_user(id)
                .await?
                .filter(|u| u.deletion_requested_at.is_none()),
            Err(_) => None,
        }
        .ok_or_else(|| ApiError::invalid_field("user_id", "no such user"))?,
        (None, Some(email)) => find_by_email(&state, email.trim()).await?.ok_or_else(|| {
            ApiError::invalid_field("email", "no user has signed in with this email")
        })?,
        _ => {
            return Err(ApiError::invalid_field(
                "user_id",
                "give exactly one of `user_id` and `email`",
            ));
        }
    };
    if state
        .store
        .get_membership(access.scope, user.id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "member_exists",
            detail: "this person is already a member; change their role with PATCH".to_owned(),
            retry_after_secs: None,
        });
    }
    let membership = Membership {
        workspace_id: access.scope.workspace_id(),
        user_id: user.id,
        role: body.role,
        created_at: state.clock.now(),
    };
    state
        .store
        .put_membership(access.scope, &membership)
        .await?;
    Ok(created(view(&membership, Some(&user))))
}

async fn existing(
    state: &AppState,
    access: &WorkspaceAccess,
    raw: &str,
) -> Result<Membership, ApiError> {
    let id: UserId = parse_id(raw, "member")?;
    state
        .store
        .get_membership(access.scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("member not found".to_owned()))
}

/// Changes a member's role.
#[utoipa::path(
    patch, path = "/v1/workspaces/{ws}/members/{user_id}", tag = "members",
    params(("ws" = String, Path, description = "Workspace id"), ("user_id" = String, Path, description = "Member's user id")),
    request_body = RoleChange,
    responses(
        (status = 200, body = MemberView),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
    )
)]
pub async fn change_role(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<MemberView>, ApiError> {
    access.require(Permission::Manage)?;
    let mut membership = existing(&state, &access, &ids.1).await?;
    require_owner_for(&access, &[membership.role, body.role])?;
    if membership.role == Role::Owner
        && body.role != Role::Owner
        && num_owners(&state, &access).await? <= 1
    {
        return Err(last_owner());
    }
    membership.role = body.role;
    state
        .store
        .put_membership(access.scope, &membership)
        .await?;
    let user = state.store.get_user(membership.user_id).await?;
    Ok(Json(view(&membership, user.as_ref())))
}

fn last_owner() -> ApiError {
    ApiError::Conflict {
        code: "last_owner",
        detail: "a workspace must keep at least one owner".to_owned(),
        retry_after_secs: None,
    }
}

/// Removes a member.
#[utoipa::path(
    delete, path = "/v1/workspaces/{ws}/members/{user_id}", tag = "members",
    params(("ws" = String, Path, description = "Workspace id"), ("user_id" = String, Path, description = "Member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    access.require(Permission::Manage)?;
    let membership = existing(&state, &access, &ids.1).await?;
    require_owner_for(&access, &[membership.role])?;
    if membership.role == Role::Owner && num_owners(&state, &access).await? <= 1 {
        return Err(last_owner());
    }
    state
        .store
        .delete_membership(access.scope, membership.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
