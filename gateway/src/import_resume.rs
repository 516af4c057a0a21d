//! Runs again the CSV imports a restart interrupted. Started by [`crate::serve`].
//!
//! 1. Every job the store still shows `pending` or `running` whose upload is gone is marked
//!    `failed`, telling the user to upload the file again.
//! 2. Every upload left in the spool with its spec (`<data_dir>/imports/<ws>/<id>.csv` and
//!    `.json`) whose job is not finished and not running here is imported again
//!    from the start: imports are idempotent (dedup keys, refused atomically by the store), so
//!    the rows created before the restart are reported as already imported.
//!
//! The spool lives under `data_dir`, like uploaded media: nodes serving one store share it.

use std::path::{Path, PathBuf};

use schema::{PageRequest, WorkspaceScope};
use tenants::ImportId;

use crate::csv_import::{ImportReport, ImportStatus, RowError};
use crate::import_jobs::{ImportDoc, ImportJob, account_directory, save};
use crate::import_spool::{JobSpec, SpooledUpload, remove_files, spec_path, spool_root};
use crate::state::AppState;

/// What the message of an import failed by a lost upload says.
pub const UPLOAD_LOST: &str = "the import was interrupted by a restart and its upload is no \
    longer available; upload the file again: rows already imported will be skipped";

/// What a resume pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeReport {
    /// Jobs started again from their upload.
    pub num_resumed: usize,
    /// Jobs marked failed because their upload is gone.
    pub num_failed: usize,
}

/// Resumes or fails every interrupted import; logs and returns what it did. Resumed jobs run
/// in the background.
pub async fn resume_interrupted(state: AppState) -> ResumeReport {
    let mut report = ResumeReport::default();
    // Orphans first: a job resumed below may finish and remove its upload before the scan
    // reaches it, and must not be mistaken for one whose upload is lost.
    match fail_orphans(&state).await {
        Ok(n) => report.num_failed += n,
        Err(e) => tracing::warn!(error = %e, "interrupted imports not checked"),
    }
    for upload in spooled_uploads(&state.config.data_dir).await {
        match resume_one(&state, &upload).await {
            Ok(Some(true)) => report.num_resumed += 1,
            Ok(Some(false)) => report.num_failed += 1,
            Ok(None) => {}
            Err(e) => tracing::warn!(path = %upload.display(), error = %e, "import not resumed"),
        }
    }
    if report != ResumeReport::default() {
        tracing::info!(
            num_resumed = report.num_resumed,
            num_failed = report.num_failed,
            "interrupted imports handled"
        );
    }
    report
}

/// Every `<ws>/<id>.csv` or `<ws>/<id>.json` in the spool, as the upload's path.
async fn spooled_uploads(data_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(mut workspaces) = tokio::fs::read_dir(spool_root(data_dir)).await else {
        return out;
    };
    while let Ok(Some(ws)) = workspaces.next_entry().await {
        let Ok(mut files) = tokio::fs::read_dir(ws.path()).await else {
            continue;
        };
        while let Ok(Some(file)) = files.next_entry().await {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(path.with_extension("csv"));
            } else if path.extension().is_some_and(|e| e == "csv")
                && !tokio::fs::try_exists(spec_path(&path))
                    .await
                    .unwrap_or(false)
            {
                // An upload whose spec was never written: the job never started.
                out.push(path);
            }
        }
    }
    out
}

/// `Some(true)`: resumed; `Some(false)`: failed (upload gone); `None`: nothing to do.
async fn resume_one(
    state: &AppState,
    upload: &Path,
) -> Result<Option<bool>, Box<dyn std::error::Error + Send + Sync>> {
    let Some(id) = upload
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse::<ImportId>().ok())
    else {
        return Ok(None);
    };
    let Ok(spec) = JobSpec::read(upload).await else {
        // No spec: the upload was refused or broke off before its job was handed over.
        if let Ok(Some(stale)) = SpooledUpload::reopen(upload.to_path_buf()) {
            stale.remove();
        }
        return Ok(None);
    };
    let scope = WorkspaceScope::authorized(spec.workspace_id);
    let record = state.store.get_import(scope, id, state.clock.now()).await?;
    let doc = match &record {
        Some(r) => Some(ImportDoc::from_record(r)?),
        None => None,
    };
    if doc.as_ref().is_some_and(|d| !is_unfinished(&d.report)) {
        // Finished, but stopped before removing its upload.
        remove_files(upload);
        return Ok(None);
    }
    let Some(spooled) = SpooledUpload::reopen(upload.to_path_buf())? else {
        if tokio::fs::try_exists(upload).await? {
            return Ok(None); // Held: its job is running in this process.
        }
        remove_files(upload);
        return Ok(match doc {
            Some(doc) => {
                fail(state, scope, doc).await?;
                Some(false)
            }
            None => None,
        });
    };
    let now = state.clock.now();
    let mut doc = doc.unwrap_or_else(|| ImportDoc {
        report: ImportReport::new(id, spec.dry_run),
        rows_processed: 0,
        created_at: now,
        updated_at: now,
    });
    doc.report.status = ImportStatus::Queued;
    doc.updated_at = now;
    save(state, scope, &doc).await?;
    let job = ImportJob {
        scope,
        opts: spec.options(&state.config.imports),
        accounts: account_directory(state, scope).await?,
        upload: spooled,
        created_by: spec.created_by,
        doc,
    };
    tracing::info!(import_id = %id, workspace_id = %scope.workspace_id(), "import resumed");
    tokio::spawn(job.run(state.clone()));
    Ok(Some(true))
}

fn is_unfinished(report: &ImportReport) -> bool {
    matches!(report.status, ImportStatus::Queued | ImportStatus::Running)
}

async fn fail(
    state: &AppState,
    scope: WorkspaceScope,
    mut doc: ImportDoc,
) -> Result<(), crate::error::ApiError> {
    doc.report.status = ImportStatus::Failed;
    doc.report
        .errors
        .push(RowError::new(0, None, "", UPLOAD_LOST));
    doc.updated_at = state.clock.now();
    tracing::warn!(import_id = %doc.report.id, "interrupted import failed: upload gone");
    save(state, scope, &doc).await
}

/// Marks failed every unfinished job of every workspace whose upload is not in the spool.
async fn fail_orphans(state: &AppState) -> Result<usize, crate::error::ApiError> {
    let mut num_failed = 0;
    let mut ws_cursor = None;
    loop {
        let workspaces = state
            .store
            .list_all_workspaces(PageRequest {
                cursor: ws_cursor,
                limit: 200,
            })
            .await?;
        for ws in &workspaces.items {
            let scope = WorkspaceScope::authorized(ws.id);
            let mut cursor = None;
            loop {
                let page = state
                    .store
                    .list_imports(scope, state.clock.now(), PageRequest { cursor, limit: 200 })
                    .await?;
                for record in &page.items {
                    let doc = ImportDoc::from_record(record)?;
                    let path = crate::import_spool::spool_path(
                        &state.config.data_dir,
                        ws.id,
                        doc.report.id,
                    );
                    let kept = tokio::fs::try_exists(&path).await.unwrap_or(false)
                        && tokio::fs::try_exists(spec_path(&path))
                            .await
                            .unwrap_or(false);
                    if !is_unfinished(&doc.report) || kept {
                        continue;
                    }
                    // Read again: a job of this process may have finished meanwhile.
                    let now = state.clock.now();
                    let Some(current) = state.store.get_import(scope, doc.report.id, now).await?
                    else {
                        continue;
                    };
                    let current = ImportDoc::from_record(&current)?;
                    if is_unfinished(&current.report) {
                        fail(state, scope, current).await?;
                        num_failed += 1;
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        match workspaces.next_cursor {
            Some(next) => ws_cursor = Some(next),
            None => break,
        }
    }
    Ok(num_failed)
}
