//! CSV import jobs: the upload spooled to a file under the data dir
//! ([`crate::import_spool`]), [`run_import`] over it on a blocking thread, rows turned into
//! posts and deliveries through the engine in batches
//! ([`engine::EngineHandle::import_posts`], one store transaction per batch), and the job's
//! progress and report kept in the store (`ImportStore`) so that they survive a restart.
//!
//! Flow: `POST .../imports` -> [`crate::import_spool::spool_upload`] -> [`ImportJob::persist`]
//! -> [`ImportJob::run`] (now, or as a background job for a large file) -> [`StoreSink`]
//! (dedup by `external_id`, batch create, in `import_sink.rs`) -> store.
//!
//! The upload and its spec stay on disk until the final report is saved; a job interrupted by
//! a restart is run again from them by [`crate::import_resume`], which skips the rows already
//! imported.

use std::io::BufReader;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use schema::{ImportRecord, WorkspaceScope};
use serde::{Deserialize, Serialize};
use tenants::UserId;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::csv_import::{
    AccountDirectory, ImportOptions, ImportReport, ImportStatus, SinkError, run_import,
};
use crate::error::ApiError;
use crate::export::all_pages;
use crate::import_sink::StoreSink;
use crate::import_spool::{JobSpec, SpooledUpload, remove_files};
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

/// The workspace's connected accounts, every page.
///
/// # Errors
/// The store's failure.
pub async fn account_directory(
    state: &AppState,
    scope: WorkspaceScope,
) -> Result<AccountDirectory, ApiError> {
    let accounts = all_pages!(page => state.store.list_accounts(scope, page));
    Ok(AccountDirectory::from_accounts(&accounts))
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
    /// Writes the job's spec beside its upload and keeps both: from here on, a restart runs
    /// the job again ([`crate::import_resume`]) until it has saved its final report.
    ///
    /// # Errors
    /// 500 when the spec cannot be written.
    pub async fn persist(&mut self) -> Result<(), ApiError> {
        JobSpec::new(self.scope.workspace_id(), self.created_by, &self.opts)
            .write(self.upload.path())
            .await
            .map_err(|e| ApiError::Internal(format!("import spec: {e}")))?;
        self.upload.keep();
        Ok(())
    }

    /// Runs the import to its end, saves its final document, then removes the upload and its
    /// spec. Waits for a free slot first.
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
        let mut sink = StoreSink::new(state.clone(), scope, created_by, doc.clone());
        let started = Instant::now();
        let spool = upload.path().to_path_buf();
        let finished = tokio::task::spawn_blocking(move || {
            let open = || {
                std::fs::File::open(upload.path()).map(|f| BufReader::with_capacity(64 * 1024, f))
            };
            let report = run_import(open, id, &opts, &accounts, &mut sink);
            (report, upload)
        })
        .await;
        let upload = match finished {
            Ok((report, upload)) => {
                doc.report = report;
                Some(upload)
            }
            Err(e) => {
                tracing::error!(import_id = %id, error = %e, "import task failed");
                let mut report = ImportReport::new(id, doc.report.dry_run);
                report.status = ImportStatus::Failed;
                doc.report = report;
                None
            }
        };
        doc.rows_processed = doc.report.rows_total;
        doc.updated_at = state.clock.now();
        match save(&state, scope, &doc).await {
            // The report is durable: the upload is no longer needed to finish the job.
            Ok(()) => match upload {
                Some(upload) => upload.remove(),
                None => remove_files(&spool),
            },
            // Kept: a restart runs the job again (rows already imported are skipped).
            Err(e) => tracing::error!(import_id = %id, error = %e, "import report not saved"),
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
