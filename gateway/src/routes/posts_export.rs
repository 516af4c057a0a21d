//! `GET /v1/workspaces/{ws}/posts/export.csv`: the workspace's posts as canonical CSV, with
//! the post list's filters (`status`, `from`, `to`, `account_id`). Streamed a store page at a
//! time through [`ExportWriter`] (formula cells neutralised), so an export of any size holds
//! one page in memory. Importing the file into a workspace with the same handles schedules the
//! same posts (see [`crate::csv_import::export`]).

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use schema::{PageRequest, PostFilter, WorkspaceScope};

use crate::auth::{Permission, WorkspaceAccess};
use crate::csv_import::{AccountDirectory, ExportWriter};
use crate::error::ApiError;
use crate::export::all_pages;
use crate::state::AppState;

/// Posts read from the store per chunk of the response.
const PAGE_POSTS: usize = 500;

/// The export route.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/workspaces/{ws}/posts/export.csv",
        get(export_posts_csv),
    )
}

/// Where the CSV writer's bytes collect between chunks of the response.
#[derive(Clone, Default)]
struct Chunk(Arc<Mutex<Vec<u8>>>);

impl Chunk {
    fn take(&self) -> Bytes {
        // A poisoned buffer only means a writer panicked mid-chunk; its bytes are still bytes.
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Bytes::from(std::mem::take(&mut *buf))
    }
}

impl Write for Chunk {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the response stream carries from one chunk to the next.
struct Cursor {
    state: AppState,
    scope: WorkspaceScope,
    filter: PostFilter,
    accounts: AccountDirectory,
    writer: Option<ExportWriter<Chunk>>,
    out: Chunk,
    next: Option<String>,
}

/// The next chunk: one page of posts, or the writer's last bytes; `None` at the end.
async fn next_chunk(mut c: Cursor) -> Option<(Result<Bytes, ApiError>, Cursor)> {
    let mut writer = c.writer.take()?;
    let page = PageRequest {
        cursor: c.next.take(),
        limit: PAGE_POSTS,
    };
    let page = match c.state.store.list_posts(c.scope, &c.filter, page).await {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error = %e, "posts export stopped");
            return Some((Err(e.into()), c));
        }
    };
    for post in &page.items {
        if let Err(e) = writer.write_post(post, &c.accounts) {
            return Some((Err(ApiError::Internal(e.to_string())), c));
        }
    }
    match page.next_cursor {
        Some(next) => {
            c.next = Some(next);
            c.writer = Some(writer);
        }
        None => {
            if let Err(e) = writer.into_inner() {
                return Some((Err(ApiError::Internal(e.to_string())), c));
            }
        }
    }
    Some((Ok(c.out.take()), c))
}

/// Exports the workspace's posts as CSV (UTF-8 with BOM, CRLF), newest first.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/posts/export.csv", tag = "posts",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("status" = Option<String>, Query, description = "Only posts with this status"),
        ("from" = Option<String>, Query, description = "Only posts scheduled at or after this instant (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Only posts scheduled before this instant (RFC 3339)"),
        ("account_id" = Option<String>, Query, description = "Only posts to this account"),
    ),
    responses(
        (status = 200, description = "The posts as CSV", content_type = "text/csv"),
        (status = 400, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn export_posts_csv(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    access.require(Permission::Read)?;
    let filter = super::posts::post_filter(query.as_deref())?;
    let accounts = all_pages!(page => state.store.list_accounts(access.scope, page));
    let mut directory = AccountDirectory::from_accounts(&accounts);
    // Disconnected accounts keep their handle in the export, even if it no longer resolves.
    for a in &accounts {
        directory.insert(a.id, a.platform, &a.username);
    }
    let out = Chunk::default();
    let writer = ExportWriter::new(out.clone()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let start = Cursor {
        state,
        scope: access.scope,
        filter,
        accounts: directory,
        writer: Some(writer),
        out,
        next: None,
    };
    let body = Body::from_stream(futures::stream::unfold(start, next_chunk));
    let name = format!("posts-{}.csv", access.scope.workspace_id());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
