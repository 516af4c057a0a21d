//! Media: `POST /v1/workspaces/{ws}/media` uploads one image or video (the raw bytes with their
//! `Content-Type`, or `multipart/form-data` with one file), `GET .../media` lists,
//! `GET .../media/{media_id}` reads the metadata, `GET .../media/{media_id}/content` the bytes,
//! and `DELETE .../media/{media_id}` removes both. Bytes live on the local filesystem (see
//! [`super::media_files`]); metadata in the `MediaStore`, keyed by workspace.
//!
//! Limits: `max_media_bytes` (413 past it) and the type allow list (415 otherwise).
//!
//! Posts carry their media to the publishing partner as signed public URLs
//! (`GET /media/{ws}/{id}.{ext}?sig=`, see [`super::media_files::public_url`]); a wrong
//! signature reads exactly like missing media.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use schema::{PageRequest, WorkspaceScope};
use serde::Serialize;
use tenants::{MediaId, MediaMeta, WorkspaceId};
use utoipa::ToSchema;

use crate::auth::{Permission, WorkspaceAccess};
use crate::error::ApiError;
use crate::extract::{ListParams, created, parse_id};
use crate::routes::media_files::{
    ALLOWED_TYPES, allowed_type, media_path, read_media, remove_media, signature_matches,
    write_media,
};
use crate::state::AppState;

/// The media routes. The upload streams its body itself, under `max_media_bytes`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces/{ws}/media",
            get(list_media)
                .post(upload_media)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/workspaces/{ws}/media/{media_id}",
            get(get_media).delete(delete_media),
        )
        .route(
            "/v1/workspaces/{ws}/media/{media_id}/content",
            get(media_content),
        )
}

/// The signed public media URLs, reached without credentials.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/media/{ws}/{file}", get(public_media))
}

/// Uploaded media.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// Media id, for a post's `media_ids`.
    #[schema(value_type = String, format = Uuid)]
    pub id: MediaId,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// The file name given with a multipart upload.
    pub filename: Option<String>,
    /// Upload time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&MediaMeta> for MediaView {
    fn from(m: &MediaMeta) -> Self {
        Self {
            id: m.id,
            content_type: m.content_type.clone(),
            size: m.size,
            sha256: m.sha256.clone(),
            filename: m.filename.clone(),
            created_at: m.created_at,
        }
    }
}

/// A page of media.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaList {
    /// The media.
    pub items: Vec<MediaView>,
    /// Cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}

fn unsupported(given: &str) -> ApiError {
    let shown: String = given.chars().take(64).collect();
    ApiError::UnsupportedMediaType(format!(
        "`{shown}` is not an accepted media type; send one of {}",
        ALLOWED_TYPES.join(", ")
    ))
}

fn content_type_of(request: &Request) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A file name safe to echo: no path, no control characters, at most 255 characters.
fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    (!clean.trim().is_empty()).then_some(clean)
}

/// Uploads one image or video.
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/media", tag = "media",
    params(("ws" = String, Path, description = "Workspace id")),
    request_body(content = Vec<u8>, description = "The file's bytes with its Content-Type, or multipart/form-data with one file",
        content_type = "application/octet-stream"),
    responses(
        (status = 201, body = MediaView),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 413, body = crate::error::Problem),
        (status = 415, body = crate::error::Problem),
    )
)]
pub async fn upload_media(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    request: Request,
) -> Result<Response, ApiError> {
    access.require(Permission::WritePosts)?;
    let max = state.config.max_media_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX)) {
        return Err(ApiError::PayloadTooLarge { limit_bytes: max });
    }
    let id = MediaId::new();
    let path = media_path(&state.config.data_dir, access.scope.workspace_id(), id);
    let given = content_type_of(&request);
    let (mime, filename, written) = if given
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let mut multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?;
        let field = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?
            .ok_or_else(|| ApiError::invalid_field("file", "the form carries no file"))?;
        let field_type = field.content_type().unwrap_or_default().to_owned();
        let mime = allowed_type(&field_type).ok_or_else(|| unsupported(&field_type))?;
        let filename = field.file_name().and_then(clean_filename);
        (mime, filename, write_media(&path, mime, max, field).await?)
    } else {
        let mime = allowed_type(&given).ok_or_else(|| unsupported(&given))?;
        let body = request.into_body().into_data_stream();
        (mime, None, write_media(&path, mime, max, body).await?)
    };
    let meta = MediaMeta {
        id,
        workspace_id: access.scope.workspace_id(),
        content_type: mime.to_owned(),
        size: written.size,
        sha256: written.sha256,
        filename,
        created_at: state.clock.now(),
    };
    if let Err(err) = state.store.put_media(access.scope, &meta).await {
        remove_media(&path).await?;
        return Err(err.into());
    }
    Ok(created(MediaView::from(&meta)))
}

/// Lists the workspace's media, oldest first.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/media", tag = "media",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = MediaList), (status = 404, body = crate::error::Problem))
)]
pub async fn list_media(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    params: ListParams,
) -> Result<Json<MediaList>, ApiError> {
    let page = state
        .store
        .list_media(
            access.scope,
            PageRequest {
                cursor: params.cursor.clone(),
                limit: params.limit,
            },
        )
        .await?;
    Ok(Json(MediaList {
        items: page.items.iter().map(MediaView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The bytes behind a signed public media URL (what the publishing partner downloads).
#[utoipa::path(
    get, path = "/media/{ws}/{file}", tag = "media",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("file" = String, Path, description = "`<media id>.<ext>`"),
        ("sig" = String, Query, description = "The URL's signature"),
    ),
    security(()),
    responses((status = 200, description = "The bytes, with their Content-Type"), (status = 404, body = crate::error::Problem))
)]
pub async fn public_media(
    State(state): State<AppState>,
    Path((ws, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let missing = || ApiError::NotFound("media not found".to_owned());
    let workspace_id: WorkspaceId = parse_id(&ws, "media")?;
    let id: MediaId = parse_id(file.split('.').next().unwrap_or_default(), "media")?;
    let sig = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !signature_matches(&state.config, workspace_id, id, &sig) {
        return Err(missing());
    }
    // The signature, issued by this gateway for this workspace's media, is the authorization.
    let scope = WorkspaceScope::authorized(workspace_id);
    let live = state
        .store
        .get_workspace(scope)
        .await?
        .is_some_and(|w| w.deletion_requested_at.is_none());
    if !live {
        return Err(missing());
    }
    let meta = state
        .store
        .get_media(scope, id)
        .await?
        .ok_or_else(missing)?;
    content_response(&state, &meta).await
}

async fn existing(
    state: &AppState,
    scope: WorkspaceScope,
    raw: &str,
) -> Result<MediaMeta, ApiError> {
    let id: MediaId = parse_id(raw, "media")?;
    state
        .store
        .get_media(scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("media not found".to_owned()))
}

/// Reads media metadata.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/media/{media_id}", tag = "media",
    params(("ws" = String, Path, description = "Workspace id"), ("media_id" = String, Path, description = "Media id")),
    responses((status = 200, body = MediaView), (status = 404, body = crate::error::Problem))
)]
pub async fn get_media(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<MediaView>, ApiError> {
    Ok(Json(MediaView::from(
        &existing(&state, access.scope, &ids.1).await?,
    )))
}

/// Downloads the media's bytes.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/media/{media_id}/content", tag = "media",
    params(("ws" = String, Path, description = "Workspace id"), ("media_id" = String, Path, description = "Media id")),
    responses((status = 200, description = "The bytes, with their Content-Type"), (status = 404, body = crate::error::Problem))
)]
pub async fn media_content(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let meta = existing(&state, access.scope, &ids.1).await?;
    content_response(&state, &meta).await
}

async fn content_response(state: &AppState, meta: &MediaMeta) -> Result<Response, ApiError> {
    let stream = read_media(&media_path(
        &state.config.data_dir,
        meta.workspace_id,
        meta.id,
    ))
    .await?;
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&meta.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", meta.sha256)) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Deletes media: its record, then its file.
#[utoipa::path(
    delete, path = "/v1/workspaces/{ws}/media/{media_id}", tag = "media",
    params(("ws" = String, Path, description = "Workspace id"), ("media_id" = String, Path, description = "Media id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn delete_media(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    access.require(Permission::WritePosts)?;
    let meta = existing(&state, access.scope, &ids.1).await?;
    state.store.delete_media(access.scope, meta.id).await?;
    remove_media(&media_path(
        &state.config.data_dir,
        meta.workspace_id,
        meta.id,
    ))
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
