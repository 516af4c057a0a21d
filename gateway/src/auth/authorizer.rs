//! The authorizer: the only code that builds a `WorkspaceScope` from a request. It checks that
//! the principal may act in the `{ws}` of the path (membership for people, the workspace list
//! for API keys) and answers 404 otherwise, exactly as for an id that does not exist: the same
//! body, and the same store reads in the same order, so neither the answer nor its timing tells
//! another tenant's workspace from a missing one.
//!
//! Rules:
//! - a person acts in the workspaces they are a member of, with their role;
//! - a user-owned API key acts as its owner, narrowed to its `workspace_ids` and `scopes`;
//! - an instance-admin key (or person) acts as owner in every workspace, narrowed to its
//!   `workspace_ids` when it has a list; a key that creates a workspace has it added to its list.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use schema::WorkspaceScope;
use tenants::{Membership, Role, Scope, Workspace, WorkspaceId};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::rate_limit::WorkspaceBudgetSlot;
use crate::state::AppState;

/// What a handler wants to do inside a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read anything.
    Read,
    /// Create, edit and cancel posts, upload media, import CSV.
    WritePosts,
    /// Connect and disconnect accounts.
    WriteAccounts,
    /// Manage webhooks.
    WriteWebhooks,
    /// Manage the workspace and its members.
    Manage,
}

impl Permission {
    fn scope(self) -> Scope {
        match self {
            Self::Read => Scope::Read,
            Self::WritePosts => Scope::PostsWrite,
            Self::WriteAccounts => Scope::AccountsWrite,
            Self::WriteWebhooks => Scope::WebhooksWrite,
            Self::Manage => Scope::Admin,
        }
    }

    fn role_allows(self, role: Role) -> bool {
        match self {
            Self::Read => true,
            Self::WritePosts => role.can_write_posts(),
            Self::WriteAccounts | Self::WriteWebhooks | Self::Manage => role.can_manage(),
        }
    }
}

/// Proven access to one workspace. Extract it in any handler under `/v1/workspaces/{ws}`.
#[derive(Debug, Clone)]
pub struct WorkspaceAccess {
    /// The scope to pass to the store and the engine.
    pub scope: WorkspaceScope,
    /// The workspace record.
    pub workspace: Workspace,
    /// The caller's effective role.
    pub role: Role,
    /// The caller.
    pub principal: Principal,
}

impl WorkspaceAccess {
    /// 403 unless the caller's role and key scopes allow `permission`.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] with `insufficient_role` or `insufficient_scope`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        self.principal.require_scope(permission.scope())?;
        if permission.role_allows(self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_role",
                format!("your role in this workspace does not allow this ({permission:?})"),
            ))
        }
    }
}

/// The scope of a workspace its creator just made, for the engine's `workspace_created`. The
/// creator holds the owner membership written in the same batch, so the right to act is
/// established by construction.
pub fn creator_scope(workspace: &Workspace, owner: &Membership) -> WorkspaceScope {
    debug_assert_eq!(owner.workspace_id, workspace.id);
    WorkspaceScope::authorized(workspace.id)
}

/// The scope granted by a capability this gateway issued itself (an HMAC-signed media URL). The
/// caller must have verified the signature over `workspace_id` first; the signature, not a
/// principal, is the authorization.
pub fn signed_grant_scope(workspace_id: WorkspaceId) -> WorkspaceScope {
    WorkspaceScope::authorized(workspace_id)
}

fn not_found() -> ApiError {
    ApiError::NotFound("workspace not found".to_owned())
}

/// Authorizes `principal` in the workspace named by `raw_id`.
///
/// # Errors
/// 404 when the workspace does not exist, is being erased, or is not the caller's.
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    raw_id: &str,
) -> Result<WorkspaceAccess, ApiError> {
    let parsed: Option<WorkspaceId> = raw_id.parse().ok();
    // An unparsable id still costs the same reads as a real one.
    let id = parsed.unwrap_or_default();
    let scope = WorkspaceScope::authorized(id);
    let admin = principal.is_instance_admin();
    let role = match (admin, principal.user_id()) {
        (true, _) => Some(Role::Owner),
        (false, Some(user_id)) => state
            .store
            .get_membership(scope, user_id)
            .await?
            .map(|m| m.role),
        (false, None) => None,
    };
    let workspace = state.store.get_workspace(scope).await?;
    match (parsed, role, workspace) {
        (Some(_), Some(role), Some(workspace))
            if workspace.deletion_requested_at.is_none() && principal.key_allows(id) =>
        {
            Ok(WorkspaceAccess {
                scope,
                workspace,
                role,
                principal: principal.clone(),
            })
        }
        _ => Err(not_found()),
    }
}

impl FromRequestParts<AppState> for WorkspaceAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "ws")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(not_found)?;
        let access = authorize(state, &principal, &raw).await?;
        let outcome = state
            .rate_limits
            .check_workspace(access.scope.workspace_id())
            .map_err(|e| match e {
                ApiError::RateLimited { retry_after_secs } => retry_after_secs,
                _ => 1,
            });
        if let Some(slot) = parts.extensions.get::<WorkspaceBudgetSlot>() {
            slot.set(outcome);
        }
        if let Err(retry_after_secs) = outcome {
            return Err(ApiError::RateLimited { retry_after_secs });
        }
        access.require(Permission::Read)?;
        Ok(access)
    }
}
