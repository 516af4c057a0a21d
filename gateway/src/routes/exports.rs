//! Data export jobs: `POST /v1/me/export` and `POST /v1/workspaces/{ws}/export` (owners) answer
//! 202 with a job; the archive is written by a background task to
//! `<data_dir>/exports/<id>.zip`; `GET .../exports/{id}` reports `pending|ready|failed` and, once
//! ready, a `download_url` that serves the ZIP to the principal that asked, and to no one else.
//! When the archive is ready, the person who asked is mailed the link ("export ready"). The
//! jobs and archives of an erased workspace or person are deleted by `crate::purge`.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::notify::{Notification, Recipient};
use jiff::SignedDuration;
use schema::{ExportJob, ExportOwner, ExportStatus};
use serde::Serialize;
use tenants::Role;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Principal, WorkspaceAccess, authorizer};
use crate::error::ApiError;
use crate::export::{ExportScope, write_workspace_export};
use crate::extract::parse_id;
use crate::state::AppState;

/// The export routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/export", post(export_me))
        .route("/v1/me/exports/{id}", get(get_my_export))
        .route("/v1/me/exports/{id}/download", get(download_my_export))
        .route("/v1/workspaces/{ws}/export", post(export_workspace))
        .route(
            "/v1/workspaces/{ws}/exports/{id}",
            get(get_workspace_export),
        )
        .route(
            "/v1/workspaces/{ws}/exports/{id}/download",
            get(download_workspace_export),
        )
}

/// An export job as its requester sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportView {
    /// Job id.
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// `pending`, `ready` or `failed`.
    pub status: String,
    /// Where to download the ZIP once ready.
    pub download_url: Option<String>,
}

fn view(job: &ExportJob, base: &str) -> ExportView {
    let status = match job.status {
        ExportStatus::Pending => "pending",
        ExportStatus::Ready => "ready",
        ExportStatus::Failed => "failed",
    };
    ExportView {
        id: job.id.to_string(),
        status: status.to_owned(),
        download_url: (job.status == ExportStatus::Ready).then(|| format!("{base}/download")),
    }
}

fn archive_path(state: &AppState, id: Uuid) -> PathBuf {
    crate::purge::exports_dir(&state.config.data_dir).join(format!("{id}.zip"))
}

/// Who is mailed the link once the archive is ready: the person who asked, and the page.
struct ReadyMail {
    to: tenants::UserId,
    job_path: String,
}

/// Stores a pending job, starts writing its archive in the background and answers 202.
async fn start(
    state: &AppState,
    principal: &Principal,
    owner: ExportOwner,
    scope: ExportScope,
    base: impl Fn(Uuid) -> String,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let ttl = SignedDuration::try_from(state.config.export_retention)
        .map_err(|e| ApiError::Internal(format!("export retention: {e}")))?;
    let job = ExportJob {
        id: Uuid::now_v7(),
        owner,
        requested_by: principal.id(),
        status: ExportStatus::Pending,
        created_at: now,
        finished_at: None,
        num_bytes: None,
        error: None,
        expires_at: now.saturating_add(ttl).unwrap_or(jiff::Timestamp::MAX),
    };
    state.store.put_export(&job).await?;
    let body = view(&job, &base(job.id));
    let mail = principal.user_id().map(|to| ReadyMail {
        to,
        job_path: base(job.id),
    });
    engine::runtime::spawn(run(state.clone(), job, scope, mail));
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Writes the archive to a temporary file, renames it into place, records the outcome and, once
/// ready, mails the requester the download link (a failure to queue the mail is only logged).
async fn run(state: AppState, mut job: ExportJob, scope: ExportScope, mail: Option<ReadyMail>) {
    let path = archive_path(&state, job.id);
    let tmp = path.with_extension("zip.part");
    let outcome = async {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        write_workspace_export(state.store.as_ref(), &scope, file, |_, _| {}).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok::<u64, crate::export::ExportError>(tokio::fs::metadata(&path).await?.len())
    }
    .await;
    job.finished_at = Some(state.clock.now());
    match outcome {
        Ok(n) => {
            job.status = ExportStatus::Ready;
            job.num_bytes = Some(n);
        }
        Err(err) => {
            tracing::error!(export_id = %job.id, error = %err, "export failed");
            let _ = tokio::fs::remove_file(&tmp).await;
            job.status = ExportStatus::Failed;
            job.error = Some("the archive could not be written".to_owned());
        }
    }
    if let Err(err) = state.store.put_export(&job).await {
        tracing::error!(export_id = %job.id, error = %err, "could not record export outcome");
        return;
    }
    // An erasure during the export may have been purged already: leave nothing behind.
    if crate::purge::discard_if_erased(&state, &scope, &job).await {
        return;
    }
    if let (ExportStatus::Ready, Some(mail), Some(engine)) = (job.status, mail, &state.engine) {
        let download_url = format!("{}{}/download", state.config.public_base_url, mail.job_path);
        let ready = Notification::ExportReady {
            to: Recipient::User(mail.to),
            download_url,
        };
        if let Err(err) = engine.notify(ready) {
            tracing::warn!(export_id = %job.id, error = %err, "export ready email not queued");
        }
    }
}

fn person(principal: &Principal) -> Result<tenants::UserId, ApiError> {
    principal.user_id().ok_or_else(|| {
        ApiError::forbidden(
            "not_a_person",
            "this API key belongs to the instance, not to a person",
        )
    })
}

/// Exports everything about me.
#[utoipa::path(
    post, path = "/v1/me/export", tag = "privacy",
    responses((status = 202, body = ExportView), (status = 403, body = crate::error::Problem))
)]
pub async fn export_me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require_scope(tenants::Scope::Admin)?;
    let user_id = person(&principal)?;
    let mut workspaces = Vec::new();
    for m in state.store.list_memberships_of_user(user_id).await? {
        if let Ok(access) =
            authorizer::authorize(&state, &principal, &m.workspace_id.to_string()).await
        {
            workspaces.push(access.scope);
        }
    }
    let scope = ExportScope::User {
        user_id,
        workspaces,
    };
    start(
        &state,
        &principal,
        ExportOwner::user(user_id),
        scope,
        |id| format!("/v1/me/exports/{id}"),
    )
    .await
}

/// Exports the whole workspace (owners only).
#[utoipa::path(
    post, path = "/v1/workspaces/{ws}/export", tag = "privacy",
    params(("ws" = String, Path, description = "Workspace id")),
    responses(
        (status = 202, body = ExportView),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn export_workspace(
    State(state): State<AppState>,
    access: WorkspaceAccess,
) -> Result<Response, ApiError> {
    require_owner(&access)?;
    let ws = access.scope.workspace_id();
    let scope = ExportScope::Workspace {
        scope: access.scope,
        media_dir: Some(state.config.data_dir.join("media")),
    };
    let owner = ExportOwner::workspace(access.scope);
    start(&state, &access.principal, owner, scope, |id| {
        format!("/v1/workspaces/{ws}/exports/{id}")
    })
    .await
}

/// 403 unless the caller owns the workspace (and the key has the admin scope).
pub(crate) fn require_owner(access: &WorkspaceAccess) -> Result<(), ApiError> {
    access.require(crate::auth::Permission::Manage)?;
    if access.role == Role::Owner {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "insufficient_role",
            "only an owner of the workspace may do this",
        ))
    }
}

/// The job, if `principal` asked for it: anyone else gets 404.
async fn job_of(
    state: &AppState,
    principal: &Principal,
    owner: &ExportOwner,
    raw: &str,
) -> Result<ExportJob, ApiError> {
    let id: Uuid = parse_id(raw, "export")?;
    state
        .store
        .get_export(owner, id, state.clock.now())
        .await?
        .filter(|job| job.requested_by == principal.id())
        .ok_or_else(|| ApiError::NotFound("export not found".to_owned()))
}

/// One of my export jobs.
#[utoipa::path(
    get, path = "/v1/me/exports/{id}", tag = "privacy",
    params(("id" = String, Path, description = "Export id")),
    responses((status = 200, body = ExportView), (status = 404, body = crate::error::Problem))
)]
pub async fn get_my_export(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Json<ExportView>, ApiError> {
    let owner = ExportOwner::user(person(&principal)?);
    let job = job_of(&state, &principal, &owner, &raw).await?;
    Ok(Json(view(&job, &format!("/v1/me/exports/{}", job.id))))
}

/// One of the workspace's export jobs (only its requester sees it).
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/exports/{id}", tag = "privacy",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("id" = String, Path, description = "Export id"),
    ),
    responses((status = 200, body = ExportView), (status = 404, body = crate::error::Problem))
)]
pub async fn get_workspace_export(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<ExportView>, ApiError> {
    let owner = ExportOwner::workspace(access.scope);
    let job = job_of(&state, &access.principal, &owner, &ids.1).await?;
    let base = format!(
        "/v1/workspaces/{}/exports/{}",
        access.scope.workspace_id(),
        job.id
    );
    Ok(Json(view(&job, &base)))
}

async fn serve_archive(state: &AppState, job: &ExportJob) -> Result<Response, ApiError> {
    if job.status != ExportStatus::Ready {
        return Err(ApiError::Conflict {
            code: "export_not_ready",
            detail: "the archive is not ready yet".to_owned(),
            retry_after_secs: Some(2),
        });
    }
    let file = tokio::fs::File::open(archive_path(state, job.id))
        .await
        .map_err(|_| ApiError::NotFound("export not found".to_owned()))?;
    let stream = tokio_util_stream(file);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let disposition = format!("attachment; filename=\"socialcrm-export-{}.zip\"", job.id);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The file as a stream of chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

/// Downloads my archive.
#[utoipa::path(
    get, path = "/v1/me/exports/{id}/download", tag = "privacy",
    params(("id" = String, Path, description = "Export id")),
    responses(
        (status = 200, description = "The ZIP archive", content_type = "application/zip"),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
    )
)]
pub async fn download_my_export(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let owner = ExportOwner::user(person(&principal)?);
    let job = job_of(&state, &principal, &owner, &raw).await?;
    serve_archive(&state, &job).await
}

/// Downloads the workspace archive (only its requester may).
#[utoipa::path(
    get, path = "/v1/workspaces/{ws}/exports/{id}/download", tag = "privacy",
    params(
        ("ws" = String, Path, description = "Workspace id"),
        ("id" = String, Path, description = "Export id"),
    ),
    responses(
        (status = 200, description = "The ZIP archive", content_type = "application/zip"),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
    )
)]
pub async fn download_workspace_export(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let owner = ExportOwner::workspace(access.scope);
    let job = job_of(&state, &access.principal, &owner, &ids.1).await?;
    serve_archive(&state, &job).await
}
