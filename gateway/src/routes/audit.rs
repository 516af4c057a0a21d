//! `GET /v1/workspaces/{ws}/audit`: the workspace's audit and security log, for its owners and
//! admins. Entries are recorded by `crate::audit`.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use schema::{AuditEntry, AuditQuery, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Permission, WorkspaceAccess};
use crate::error::{ApiError, FieldIssue};
use crate::extract::{ListParams, MAX_LIMIT};
use crate::state::AppState;

/// The audit routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/workspaces/{ws}/audit", get(list_audit))
}

/// One recorded request.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Entry id.
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// When (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `user:<id>`, `key:<id>` or `anonymous`.
    pub actor: String,
    /// Method and route template.
    pub action: String,
    /// Ids from the path (`post_id=...`).
    pub target: Vec<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// HTTP status answered.
    pub status: u16,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            ip: e.ip,
            user_agent: e.user_agent,
            status: e.status,
        }
    }
}

/// A page of entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Oldest first.
    pub items: Vec<AuditView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/workspaces/{ws}/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditFilters {
    /// Inclusive start (RFC 3339); default: the retention limit ago.
    pub from: Option<String>,
    /// Exclusive end (RFC 3339); default: now.
    pub to: Option<String>,
    /// Only this actor (`user:<id>`, `key:<id>`).
    pub actor: Option<String>,
    /// Only actions starting with this (`DELETE`, `POST /v1/workspaces/{ws}/posts`).
    pub action: Option<String>,
    /// Ignored here (read by `ListParams`).
    pub cursor: Option<String>,
    /// Ignored here (read by `ListParams`).
    pub limit: Option<String>,
}

fn instant(field: &str, raw: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    raw.filter(|r| !r.is_empty())
        .map(|r| {
            r.parse::<Timestamp>().map_err(|_| ApiError::BadRequest {
                code: "invalid_query",
                detail: format!("`{field}` must be an RFC 3339 instant"),
                errors: vec![FieldIssue::new(field, "not an RFC 3339 instant")],
            })
        })
        .transpose()
}

/// Lists the workspace's audit entries, oldest first.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/audit", tag = "privacy",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("from" = Option<String>, Query, description = "Inclusive start (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Exclusive end (RFC 3339)"),
        ("actor" = Option<String>, Query, description = "`user:<id>` or `key:<id>`"),
        ("action" = Option<String>, Query, description = "Action prefix (`DELETE`)"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, body = AuditList),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn list_audit(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    params: ListParams,
    Query(filters): Query<AuditFilters>,
) -> Result<Json<AuditList>, ApiError> {
    access.require(Permission::Manage)?;
    let now = state.clock.now();
    let retention =
        SignedDuration::try_from(state.config.audit_retention).unwrap_or(SignedDuration::MAX);
    let to = instant("to", filters.to.as_deref())?.unwrap_or_else(|| {
        now.saturating_add(SignedDuration::from_secs(1))
            .unwrap_or(now)
    });
    let from = instant("from", filters.from.as_deref())?
        .unwrap_or_else(|| now.saturating_sub(retention).unwrap_or(Timestamp::MIN));
    if from >= to {
        return Err(ApiError::invalid_field("from", "must be before `to`"));
    }
    let query = AuditQuery {
        // Nothing older than the retention limit exists, so the window is clamped to it.
        from: from.max(now.saturating_sub(retention).unwrap_or(Timestamp::MIN)),
        to,
        actor: filters.actor.filter(|a| !a.is_empty()),
        action: filters.action.filter(|a| !a.is_empty()),
        now,
    };
    let page = state
        .store
        .list_audit(
            access.scope,
            &query,
            PageRequest {
                cursor: params.cursor,
                limit: params.limit.min(MAX_LIMIT),
            },
        )
        .await?;
    Ok(Json(AuditList {
        items: page.items.into_iter().map(AuditView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
