//! CSV import jobs: the upload spooled to a file under the data dir, [`run_import`] over it on a
//! blocking thread, rows turned into posts and deliveries through the engine in batches
//! ([`engine::EngineHandle::create_posts`]), and the job's progress and report kept in the
//! store (`ImportStore`) so that they survive a restart.
//!
//! Flow: `POST .../imports` -> [`spool_upload`] -> [`ImportJob::run`] (now, or as a background
//! job for a large file) -> [`StoreSink`] (dedup by `external_id`, batch create) -> store.
//!
//! A job that was running when the process stopped stays `running` in the store; it is not
//! resumed (the spooled file is gone), and uploading the file again creates only what is
//! missing.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::{NewPost, ScheduleInput};
use futures::{Stream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use schema::{ImportRecord, WorkspaceScope};
use serde::{Deserialize, Serialize};
use tenants::{ImportId, PostId, UserId};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::csv_import::{
    AccountDirectory, ImportOptions, ImportReport, ImportSink, ImportStatus, SinkError, ValidRow,
    run_import,
};
use crate::error::ApiError;
use crate::state::AppState;

/// Limits and tuning of CSV imports (part of [`crate::GatewayConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// The largest upload, in bytes (413 past it). Default 50 MB.
    pub max_bytes: u64,
    /// The most data rows. Default 200,000.
    pub max_rows: u64,
    /// Uploads up to this size are imported before the response (201); larger ones run as a
    /// job (202). Default 1 MB.
    pub sync_max_bytes: u64,
    /// How many imports run at once; others wait as `pending`. Default 2.
    pub max_concurrent: usize,
    /// How long a job and its report are kept after its last change. Default 30 days.
    pub retention: Duration,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_bytes: crate::csv_import::DEFAULT_MAX_BYTES,
            max_rows: crate::csv_import::DEFAULT_MAX_ROWS,
            sync_max_bytes: 1024 * 1024,
            max_concurrent: 2,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Import jobs running in this process: bounds how many run at once.
#[derive(Debug)]
pub struct ImportJobs {
    permits: Arc<Semaphore>,
}

impl ImportJobs {
    /// Room for `max_concurrent` imports at once (at least one).
    pub fn new(limits: &ImportLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
        }
    }
}

/// An import as the API shows it: the report, with progress and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportDoc {
    /// Counts, status and problems.
    #[serde(flatten)]
    pub report: ImportReport,
    /// Data rows validated so far (all of them once posts are being created).
    pub rows_processed: u64,
    /// When the upload was accepted.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// The last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

impl ImportDoc {
    /// Reads a stored job.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the stored report is not a report.
    pub fn from_record(record: &ImportRecord) -> Result<Self, ApiError> {
        let report: ImportReport = serde_json::from_str(&record.report)
            .map_err(|e| ApiError::Internal(format!("stored import report unreadable: {e}")))?;
        Ok(Self {
            report,
            rows_processed: record.rows_processed,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    fn record(
        &self,
        scope: WorkspaceScope,
        retention: Duration,
    ) -> Result<ImportRecord, SinkError> {
        let keep = SignedDuration::try_from(retention).unwrap_or(SignedDuration::MAX);
        Ok(ImportRecord {
            id: self.report.id,
            workspace_id: scope.workspace_id(),
            report: serde_json::to_string(&self.report)?,
            rows_processed: self.rows_processed,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self
                .updated_at
                .saturating_add(keep)
                .unwrap_or(Timestamp::MAX),
        })
    }
}

/// Saves a job's document.
///
/// # Errors
/// The store's failure.
pub async fn save(
    state: &AppState,
    scope: WorkspaceScope,
    doc: &ImportDoc,
) -> Result<(), ApiError> {
    let record = doc
        .record(scope, state.config.imports.retention)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(state.store.put_import(scope, &record).await?)
}

/// An upload spooled to a file; the file is removed when this is dropped.
#[derive(Debug)]
pub struct SpooledUpload {
    path: PathBuf,
    /// Its size in bytes.
    pub num_bytes: u64,
}

impl Drop for SpooledUpload {
    fn drop(&mut self) {
        // Already gone is fine; anything else only leaves a file to clean by hand.
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "import spool not removed");
        }
    }
}

/// Streams an upload to `path`, refusing it (413) as soon as it grows past `max_bytes`.
///
/// # Errors
/// 413 past the limit (or the outer body limit), 400 for a body that broke off, 500 for a
/// file that cannot be written.
pub async fn spool_upload<S, E>(
    path: PathBuf,
    max_bytes: u64,
    body: S,
) -> Result<SpooledUpload, ApiError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let io = |e: std::io::Error| ApiError::Internal(format!("import spool: {e}"));
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    let file = tokio::fs::File::create(&path).await.map_err(io)?;
    let mut spooled = SpooledUpload { path, num_bytes: 0 };
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, file);
    let too_large = || ApiError::PayloadTooLarge {
        limit_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
    };
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            if e.to_string().contains("length limit") {
                too_large()
            } else {
                ApiError::bad_request("unreadable_body", "the upload broke off before its end")
            }
        })?;
        spooled.num_bytes += chunk.len() as u64;
        if spooled.num_bytes > max_bytes {
            return Err(too_large());
        }
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    Ok(spooled)
}

/// Where the upload of import `id` is spooled.
pub fn spool_path(data_dir: &Path, scope: WorkspaceScope, id: ImportId) -> PathBuf {
    data_dir
        .join("imports")
        .join(scope.workspace_id().to_string())
        .join(format!("{id}.csv"))
}

/// One import to run over a spooled upload.
#[derive(Debug)]
pub struct ImportJob {
    /// The workspace imported into.
    pub scope: WorkspaceScope,
    /// The options (mode, dry run, limits, clock).
    pub opts: ImportOptions,
    /// The workspace's accounts.
    pub accounts: AccountDirectory,
    /// The upload.
    pub upload: SpooledUpload,
    /// Who imports (the posts' `created_by`).
    pub created_by: Option<UserId>,
    /// The job's document as accepted (`pending`).
    pub doc: ImportDoc,
}

impl ImportJob {
    /// Runs the import to its end and saves its final document. Waits for a free slot first.
    pub async fn run(self, state: AppState) -> ImportDoc {
        let ImportJob {
            scope,
            opts,
            accounts,
            upload,
            created_by,
            mut doc,
        } = self;
        let _permit = state.imports.permits.clone().acquire_owned().await;
        doc.report.status = ImportStatus::Running;
        doc.updated_at = state.clock.now();
        if let Err(e) = save(&state, scope, &doc).await {
            tracing::warn!(import_id = %doc.report.id, error = %e, "import progress not saved");
        }
        let id = doc.report.id;
        let mut sink = StoreSink {
            rt: Handle::current(),
            state: state.clone(),
            scope,
            created_by,
            doc: doc.clone(),
            last_saved: Instant::now(),
        };
        let started = Instant::now();
        let finished = tokio::task::spawn_blocking(move || {
            let open = || {
                std::fs::File::open(&upload.path).map(|f| BufReader::with_capacity(64 * 1024, f))
            };
            let report = run_import(open, id, &opts, &accounts, &mut sink);
            drop(upload);
            report
        })
        .await;
        doc.report = match finished {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(import_id = %id, error = %e, "import task failed");
                let mut report = ImportReport::new(id, doc.report.dry_run);
                report.status = ImportStatus::Failed;
                report
            }
        };
        doc.rows_processed = doc.report.rows_total;
        doc.updated_at = state.clock.now();
        if let Err(e) = save(&state, scope, &doc).await {
            tracing::error!(import_id = %id, error = %e, "import report not saved");
        }
        publish_completed(&state, scope, &doc).await;
        tracing::info!(
            event = "import.completed",
            workspace_id = %scope.workspace_id(),
            import_id = %id,
            status = ?doc.report.status,
            rows_total = doc.report.rows_total,
            posts_created = doc.report.posts_created,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "import finished"
        );
        doc
    }
}

/// Sends `import.completed` to the workspace's webhook subscribers. A failure to enqueue is
/// logged, never turned into a failed import: the posts are already created.
async fn publish_completed(state: &AppState, scope: WorkspaceScope, doc: &ImportDoc) {
    let Ok(engine) = state.engine() else {
        return;
    };
    let Ok(webhooks) = engine.webhooks() else {
        return;
    };
    let report = &doc.report;
    let data = serde_json::json!({
        "import_id": report.id.to_string(),
        "status": report.status,
        "dry_run": report.dry_run,
        "rows_total": report.rows_total,
        "rows_valid": report.rows_valid,
        "rows_invalid": report.rows_invalid,
        "posts_created": report.posts_created,
    });
    if let Err(e) = webhooks.publish(scope, "import.completed", data).await {
        tracing::warn!(import_id = %report.id, error = %e, "import.completed not enqueued");
    }
}

/// Engine batches of one import in flight at once.
const CREATE_CONCURRENCY: usize = 64;

/// How often a running job saves its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The store and the engine behind [`run_import`]. Blocking: lives on a `spawn_blocking`
/// thread and drives the async store through the runtime's handle.
struct StoreSink {
    rt: Handle,
    state: AppState,
    scope: WorkspaceScope,
    created_by: Option<UserId>,
    doc: ImportDoc,
    last_saved: Instant,
}

impl ImportSink for StoreSink {
    fn find_imported(&mut self, keys: &[String]) -> Result<Vec<Option<PostId>>, SinkError> {
        let (store, scope) = (&self.state.store, self.scope);
        let lookups = keys
            .iter()
            .map(|k| store.find_post_by_external_id(scope, k));
        let found = self.rt.block_on(futures::future::try_join_all(lookups))?;
        Ok(found)
    }

    /// The rows go to the engine as [`CREATE_CONCURRENCY`] batches at once, so the store's
    /// group commit can write many posts per transaction.
    fn create(&mut self, rows: &[ValidRow]) -> Result<Vec<PostId>, SinkError> {
        let engine = self.state.engine().map_err(|e| e.to_string())?;
        let per_batch = rows.len().div_ceil(CREATE_CONCURRENCY).max(1);
        let batches = rows.chunks(per_batch).map(|chunk| {
            let new: Vec<NewPost> = chunk.iter().map(|r| new_post(r, self.created_by)).collect();
            engine.create_posts(self.scope, new)
        });
        let created = self.rt.block_on(futures::future::try_join_all(batches))?;
        Ok(created.into_iter().flatten().map(|v| v.post.id).collect())
    }

    fn progress(&mut self, rows_read: u64, posts_created: u64) {
        if self.last_saved.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_saved = Instant::now();
        self.doc.rows_processed = rows_read;
        self.doc.report.posts_created = posts_created;
        self.doc.updated_at = self.state.clock.now();
        if let Err(e) = self.rt.block_on(save(&self.state, self.scope, &self.doc)) {
            tracing::warn!(import_id = %self.doc.report.id, error = %e, "import progress not saved");
        }
    }
}

/// The engine's request for one valid row. The time goes as wall-clock time in the row's zone
/// (so the post keeps that zone), unless that reads back as another instant (the later half of
/// a DST overlap), in which case it goes as the instant.
fn new_post(row: &ValidRow, created_by: Option<UserId>) -> NewPost {
    let schedule = row.scheduled_at.map(|at| {
        let local = tenants::parse_timezone(&row.timezone)
            .ok()
            .map(|tz| at.to_zoned(tz).datetime());
        match local {
            Some(local) => {
                let input = ScheduleInput::Local {
                    local,
                    timezone: row.timezone.clone(),
                };
                if tenants::resolve(&input, &row.timezone).ok() == Some(at) {
                    input
                } else {
                    ScheduleInput::At(at)
                }
            }
            None => ScheduleInput::At(at),
        }
    });
    NewPost {
        caption: row.caption.clone(),
        account_ids: row.account_ids.clone(),
        schedule,
        status: row.status,
        media_ids: Vec::new(),
        media_urls: row.media_urls.clone(),
        variants: Default::default(),
        first_comment: row.first_comment.clone(),
        external_id: Some(row.dedup_key()),
        created_by,
    }
}
