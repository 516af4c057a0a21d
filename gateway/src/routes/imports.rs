//! CSV imports: `POST /v1/workspaces/{ws}/imports` uploads a file (`text/csv` body, or
//! `multipart/form-data` with one file) and imports it; `GET .../imports` lists the
//! workspace's imports, newest first; `GET .../imports/{import_id}` reads one, with its
//! progress while it runs.
//!
//! The upload is spooled to a file under the data dir, never held whole in memory, and refused
//! with 413 past `imports.max_bytes` (up front from `Content-Length`, or mid-stream). An upload
//! up to `imports.sync_max_bytes` is imported before the answer (201, `completed` or `failed`);
//! a larger one runs as a job (202, `pending`), polled by id. See [`crate::import_jobs`].

use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use schema::WorkspaceScope;
use serde::Serialize;
use tenants::ImportId;
use utoipa::ToSchema;

use crate::auth::{Permission, WorkspaceAccess};
use crate::csv_import::{ImportMode, ImportQuery, ImportReport};
use crate::error::{ApiError, FieldIssue};
use crate::extract::{ListParams, parse_id};
use crate::import_jobs::{ImportDoc, ImportJob, account_directory, save};
use crate::import_spool::{SpooledUpload, spool_path, spool_upload};
use crate::state::AppState;

/// The import routes. The upload streams its body itself, under `imports.max_bytes`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces/{ws}/imports",
            get(list_imports)
                .post(create_import)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/v1/workspaces/{ws}/imports/{import_id}", get(get_import))
}

/// A page of imports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportList {
    /// The imports, newest first.
    pub items: Vec<ImportDoc>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

fn bad_query(field: &str, message: String) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_query",
        detail: format!("`{field}`: {message}"),
        errors: vec![FieldIssue::new(field, message)],
    }
}

/// `?dry_run=&mode=&date_order=&delimiter=&accounts=`.
fn import_query(raw: Option<&str>) -> Result<ImportQuery, ApiError> {
    let mut query = ImportQuery::default();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let shown: String = value.chars().take(64).collect();
        let word = || serde_json::Value::String(value.to_string());
        match name.as_ref() {
            "dry_run" => {
                query.dry_run = match value.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => {
                        return Err(bad_query(
                            "dry_run",
                            format!("`{shown}` is not true or false"),
                        ));
                    }
                }
            }
            "mode" => {
                query.mode = serde_json::from_value::<ImportMode>(word()).map_err(|_| {
                    bad_query(
                        "mode",
                        format!("`{shown}` is not all_or_nothing or valid_rows"),
                    )
                })?;
            }
            "date_order" if !value.is_empty() => {
                query.date_order = Some(serde_json::from_value(word()).map_err(|_| {
                    bad_query("date_order", format!("`{shown}` is not dmy or mdy"))
                })?);
            }
            "delimiter" => query.delimiter = Some(value.into_owned()),
            "accounts" => query.accounts = Some(value.into_owned()),
            "date_order" => {}
            other => {
                let other: String = other.chars().take(64).collect();
                return Err(bad_query(&other, "is not an import option".to_owned()));
            }
        }
    }
    Ok(query)
}

/// Spools the body, or the first file of a multipart form.
async fn receive(
    state: &AppState,
    request: Request,
    path: std::path::PathBuf,
) -> Result<SpooledUpload, ApiError> {
    let max = state.config.imports.max_bytes;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return spool_upload(path, max, request.into_body().into_data_stream()).await;
    }
    let invalid = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit_bytes: usize::try_from(max).unwrap_or(usize::MAX),
            }
        } else {
            ApiError::bad_request("invalid_multipart", e.body_text())
        }
    };
    let mut form = Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(invalid)?
            .ok_or_else(|| ApiError::invalid_field("file", "the form carries no file"))?;
        if field.file_name().is_some() || field.name() == Some("file") {
            return spool_upload(path, max, field).await;
        }
    }
}

fn located(status: StatusCode, scope: WorkspaceScope, doc: &ImportDoc) -> Response {
    let location = format!(
        "/v1/workspaces/{}/imports/{}",
        scope.workspace_id(),
        doc.report.id
    );
    (status, [(header::LOCATION, location)], Json(doc)).into_response()
}

/// Uploads a CSV file of posts and imports it (or only validates it, with `dry_run=true`).
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/imports", tag = "imports",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("dry_run" = Option<bool>, Query, description = "Validate only; create nothing (default false)"),
        ("mode" = Option<String>, Query, description = "`all_or_nothing` (default) or `valid_rows`"),
        ("date_order" = Option<String>, Query, description = "`dmy` or `mdy`, for dates such as 03/04/2026"),
        ("delimiter" = Option<String>, Query, description = "`,` `;` tab `|` (or comma, semicolon, tab, pipe); sniffed when absent"),
        ("accounts" = Option<String>, Query, description = "Accounts for rows that name none"),
    ),
    request_body(content = String, description = "The CSV file, or multipart/form-data with one file", content_type = "text/csv"),
    responses(
        (status = 201, body = ImportDoc, description = "Imported (or validated) at once"),
        (status = 202, body = ImportDoc, description = "Accepted as a job; poll its Location"),
        (status = 400, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem),
        (status = 413, body = crate::error::Problem),
    )
)]
pub async fn create_import(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    access.require(Permission::WritePosts)?;
    let limits = state.config.imports;
    let now = state.clock.now();
    let mut opts = import_query(raw.as_deref())?
        .into_options(access.workspace.timezone.clone(), now)
        .map_err(|e| bad_query("delimiter", e.to_string()))?;
    if !opts.dry_run {
        state.engine()?;
    }
    opts.max_bytes = limits.max_bytes;
    opts.max_rows = limits.max_rows;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(ApiError::PayloadTooLarge {
            limit_bytes: usize::try_from(limits.max_bytes).unwrap_or(usize::MAX),
        });
    }
    let scope = access.scope;
    let id = ImportId::new();
    let upload = receive(
        &state,
        request,
        spool_path(&state.config.data_dir, scope.workspace_id(), id),
    )
    .await?;
    let mut report = ImportReport::new(id, opts.dry_run);
    report.status = crate::csv_import::ImportStatus::Queued;
    let doc = ImportDoc {
        report,
        rows_processed: 0,
        created_at: now,
        updated_at: now,
    };
    let at_once = upload.num_bytes <= limits.sync_max_bytes;
    let mut job = ImportJob {
        scope,
        opts,
        accounts: account_directory(&state, scope).await?,
        upload,
        created_by: access.principal.user_id(),
        doc: doc.clone(),
    };
    job.persist().await?;
    if at_once {
        // A task of its own, so a client hanging up does not stop the import half-way.
        let done = tokio::spawn(job.run(state))
            .await
            .map_err(|e| ApiError::Internal(format!("import task: {e}")))?;
        return Ok(located(StatusCode::CREATED, scope, &done));
    }
    save(&state, scope, &doc).await?;
    tokio::spawn(job.run(state));
    Ok(located(StatusCode::ACCEPTED, scope, &doc))
}

/// Lists the workspace's imports, newest first (kept 30 days by default).
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/imports", tag = "imports",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = ImportList), (status = 404, body = crate::error::Problem))
)]
pub async fn list_imports(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    params: ListParams,
) -> Result<Json<ImportList>, ApiError> {
    let page = state
        .store
        .list_imports(access.scope, state.clock.now(), params.page())
        .await?;
    let items = page
        .items
        .iter()
        .map(ImportDoc::from_record)
        .collect::<Result<_, _>>()?;
    Ok(Json(ImportList {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Reads one import: its status, progress (`rows_processed`, `posts_created`) and report.
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/imports/{import_id}", tag = "imports",
    params(("ws" = String, Path, description = "Workspace id"), ("import_id" = String, Path, description = "Import id")),
    responses((status = 200, body = ImportDoc), (status = 404, body = crate::error::Problem))
)]
pub async fn get_import(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<ImportDoc>, ApiError> {
    let id: ImportId = parse_id(&ids.1, "import")?;
    let record = state
        .store
        .get_import(access.scope, id, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound("import not found".to_owned()))?;
    Ok(Json(ImportDoc::from_record(&record)?))
}
