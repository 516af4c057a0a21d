//! Posts: `POST/GET /v1/workspaces/{ws}/posts`, `GET/PATCH/DELETE .../posts/{post_id}`,
//! `POST .../posts/{post_id}/publish` and `.../cancel`. Every change goes through the engine,
//! which validates content against each target platform's rules, resolves the time (IANA zones,
//! DST gaps refused) and owns the deliveries; this file parses, checks that referenced ids exist
//! in the caller's workspace, and maps the answers.
//!
//! Unknown account or media ids, including another workspace's, are a 422 naming the field
//! (`account_ids[1]`), with the same message as for a malformed id: nothing tells them apart.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::{NewPost, PostPatch, PostView};
use jiff::Timestamp;
use schema::{PageRequest, PostFilter, WorkspaceScope};
use tenants::{AccountId, MediaId, PostId, PostStatus};

use crate::auth::{Permission, WorkspaceAccess};
use crate::error::{ApiError, FieldIssue};
use crate::extract::{ApiJson, ListParams, created, parse_id};
use crate::routes::media_files::public_url;
use crate::routes::post_dto::{
    CreatePost, PatchPost, PostList, PostOut, RequestedStatus, parse_ids, unprocessable,
    wire_fields,
};
use crate::state::AppState;

const NO_ACCOUNT: &str = "no connected account with this id";
const NO_MEDIA: &str = "no media with this id";

/// The post routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces/{ws}/posts",
            get(list_posts).post(create_post),
        )
        .route(
            "/v1/workspaces/{ws}/posts/{post_id}",
            get(get_post).patch(patch_post).delete(delete_post),
        )
        .route(
            "/v1/workspaces/{ws}/posts/{post_id}/publish",
            post(publish_post),
        )
        .route(
            "/v1/workspaces/{ws}/posts/{post_id}/cancel",
            post(cancel_post),
        )
}

/// Checks that every media id names media of this workspace; answers the ids and the signed
/// public URL of each, which is how the media reach the publishing partner.
async fn media_ids(
    state: &AppState,
    scope: WorkspaceScope,
    raw: &[String],
) -> Result<(Vec<MediaId>, Vec<String>), ApiError> {
    let ids: Vec<MediaId> = parse_ids("media_ids", raw, NO_MEDIA)?;
    let mut errors = Vec::new();
    let mut urls = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        match state.store.get_media(scope, *id).await? {
            Some(m) => urls.push(public_url(
                &state.config,
                m.workspace_id,
                m.id,
                &m.content_type,
            )),
            None => errors.push(FieldIssue::new(format!("media_ids[{i}]"), NO_MEDIA)),
        }
    }
    if errors.is_empty() {
        Ok((ids, urls))
    } else {
        Err(unprocessable(errors))
    }
}

/// Creates a post: a draft, scheduled for a time, or published now.
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/posts", tag = "posts",
    params(("ws" = String, Path, description = "Workspace id")),
    request_body = CreatePost,
    responses(
        (status = 201, body = PostOut),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    )
)]
pub async fn create_post(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    ApiJson(body): ApiJson<CreatePost>,
) -> Result<Response, ApiError> {
    access.require(Permission::WritePosts)?;
    let engine = state.engine()?;
    let account_ids: Vec<AccountId> = parse_ids("account_ids", &body.account_ids, NO_ACCOUNT)?;
    let (media_ids, media_urls) = media_ids(&state, access.scope, &body.media_ids).await?;
    let new = NewPost {
        caption: body.caption,
        account_ids,
        schedule: body.scheduled_at,
        status: body.status.unwrap_or(RequestedStatus::Scheduled).into(),
        media_ids,
        media_urls,
        variants: body.variants,
        first_comment: body.first_comment,
        external_id: None,
        created_by: access.principal.user_id(),
    };
    let view = engine
        .create_post(access.scope, new)
        .await
        .map_err(|e| wire_fields(e.into()))?;
    Ok(created(PostOut::from(&view)))
}

fn bad_query(field: &str, message: String) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_query",
        detail: format!("`{field}`: {message}"),
        errors: vec![FieldIssue::new(field, message)],
    }
}

/// `?status=&from=&to=&account_id=` of the post list (and of its CSV export).
pub(crate) fn post_filter(query: Option<&str>) -> Result<PostFilter, ApiError> {
    let mut filter = PostFilter::default();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let shown: String = value.chars().take(64).collect();
        let instant = |field: &str| {
            value.parse::<Timestamp>().map_err(|_| {
                bad_query(
                    field,
                    format!("`{shown}` is not an RFC 3339 timestamp such as 2026-12-01T09:00:00Z"),
                )
            })
        };
        match name.as_ref() {
            "status" => {
                let status = serde_json::from_value::<PostStatus>(serde_json::Value::String(
                    value.to_string(),
                ))
                .map_err(|_| bad_query("status", format!("`{shown}` is not a post status")))?;
                filter.status = Some(status);
            }
            "from" => filter.from = Some(instant("from")?),
            "to" => filter.to = Some(instant("to")?),
            "account_id" => {
                let id = value.parse::<AccountId>().map_err(|_| {
                    bad_query("account_id", format!("`{shown}` is not an account id"))
                })?;
                filter.account_id = Some(id);
            }
            _ => {}
        }
    }
    Ok(filter)
}

/// Lists posts, newest time first as the store orders them, with their deliveries.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/posts", tag = "posts",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("status" = Option<String>, Query, description = "Only posts with this status"),
        ("from" = Option<String>, Query, description = "Only posts scheduled at or after this instant (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Only posts scheduled before this instant (RFC 3339)"),
        ("account_id" = Option<String>, Query, description = "Only posts to this account"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = PostList), (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem))
)]
pub async fn list_posts(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    params: ListParams,
    RawQuery(query): RawQuery,
) -> Result<Json<PostList>, ApiError> {
    let filter = post_filter(query.as_deref())?;
    let page = state
        .store
        .list_posts(
            access.scope,
            &filter,
            PageRequest {
                cursor: params.cursor.clone(),
                limit: params.limit,
            },
        )
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for post in page.items {
        let deliveries = state
            .store
            .list_deliveries_of_post(access.scope, post.id)
            .await?;
        items.push(PostOut::from(&PostView { post, deliveries }));
    }
    Ok(Json(PostList {
        items,
        next_cursor: page.next_cursor,
    }))
}

async fn read_post(
    state: &AppState,
    scope: WorkspaceScope,
    raw: &str,
) -> Result<PostView, ApiError> {
    let id: PostId = parse_id(raw, "post")?;
    let post = state
        .store
        .get_post(scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("post not found".to_owned()))?;
    let deliveries = state.store.list_deliveries_of_post(scope, id).await?;
    Ok(PostView { post, deliveries })
}

/// Reads a post with its deliveries.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/posts/{post_id}", tag = "posts",
    params(("ws" = String, Path, description = "Workspace id"), ("post_id" = String, Path, description = "Post id")),
    responses((status = 200, body = PostOut), (status = 404, body = crate::error::Problem))
)]
pub async fn get_post(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<PostOut>, ApiError> {
    Ok(Json(PostOut::from(
        &read_post(&state, access.scope, &ids.1).await?,
    )))
}

/// Edits or reschedules a post, or schedules a draft. Refused with 409 once any delivery has
/// left `scheduled`.
#[utoipa::path(
    patch, path = "/v1/workspaces/{ws}/posts/{post_id}", tag = "posts",
    params(("ws" = String, Path, description = "Workspace id"), ("post_id" = String, Path, description = "Post id")),
    request_body = PatchPost,
    responses(
        (status = 200, body = PostOut),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    )
)]
pub async fn patch_post(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
    ApiJson(body): ApiJson<PatchPost>,
) -> Result<Json<PostOut>, ApiError> {
    access.require(Permission::WritePosts)?;
    let engine = state.engine()?;
    let id: PostId = parse_id(&ids.1, "post")?;
    if body.status == Some(RequestedStatus::Draft) {
        return Err(ApiError::invalid_field(
            "status",
            "only `scheduled` is accepted here; cancel a scheduled post to stop it",
        ));
    }
    // New media replace the old ones: their ids and the signed URLs the partner fetches.
    let (media_ids, media_urls) = match &body.media_ids {
        Some(raw) => {
            let (ids, urls) = media_ids(&state, access.scope, raw).await?;
            (Some(ids), Some(urls))
        }
        None => (None, None),
    };
    let patch = PostPatch {
        caption: body.caption,
        schedule: body.scheduled_at,
        media_ids,
        media_urls,
        variants: body.variants,
        first_comment: body.first_comment,
        status: body.status.map(PostStatus::from),
    };
    let view = engine
        .update_post(access.scope, id, patch)
        .await
        .map_err(|e| wire_fields(e.into()))?;
    Ok(Json(PostOut::from(&view)))
}

/// Deletes a draft, or cancels a scheduled post's unsent deliveries.
#[utoipa::path(
    delete, path = "/v1/workspaces/{ws}/posts/{post_id}", tag = "posts",
    params(("ws" = String, Path, description = "Workspace id"), ("post_id" = String, Path, description = "Post id")),
    responses(
        (status = 204, description = "Deleted or canceled"),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn delete_post(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    access.require(Permission::WritePosts)?;
    let id: PostId = parse_id(&ids.1, "post")?;
    state.engine()?.delete_post(access.scope, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Publishes a post now (a draft is scheduled for now).
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/posts/{post_id}/publish", tag = "posts",
    params(("ws" = String, Path, description = "Workspace id"), ("post_id" = String, Path, description = "Post id")),
    responses(
        (status = 200, body = PostOut),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
    )
)]
pub async fn publish_post(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<PostOut>, ApiError> {
    access.require(Permission::WritePosts)?;
    let id: PostId = parse_id(&ids.1, "post")?;
    let view = state
        .engine()?
        .publish_now(access.scope, id)
        .await
        .map_err(|e| wire_fields(e.into()))?;
    Ok(Json(PostOut::from(&view)))
}

/// Cancels every delivery of the post that has not been sent.
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/posts/{post_id}/cancel", tag = "posts",
    params(("ws" = String, Path, description = "Workspace id"), ("post_id" = String, Path, description = "Post id")),
    responses(
        (status = 200, body = PostOut),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn cancel_post(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<PostOut>, ApiError> {
    access.require(Permission::WritePosts)?;
    let id: PostId = parse_id(&ids.1, "post")?;
    let view = state.engine()?.cancel_post(access.scope, id).await?;
    Ok(Json(PostOut::from(&view)))
}
