//! The purge worker: removes everything of an erased workspace, well within the 30 days the
//! privacy policy promises (normally on the next pass, minutes after the erasure).
//!
//! A pass finds workspaces with `deletion_requested_at` set and, for each: runs the engine's
//! own hooks (webhooks, analytics) and the registered [`PurgeHook`]s (tables other subsystems
//! own: the gateway's audit log, export jobs and archives), deletes the media
//! files under `<media_dir>/<workspace_id>/`, deletes the workspace's rows through
//! `ErasureStore::purge_workspace` (posts, deliveries, due index, accounts, tokens, retries, media
//! records, memberships, data key, the workspace row last), and finally records the completion in
//! the erasure ledger, which is what makes the purge provable. A pass is idempotent: a crash
//! midway is finished by the next one.
//!
//! A person's erasure completes at once: [`crate::EngineHandle::erase_user`] runs every hook's
//! [`PurgeHook::purge_user`] before deleting the person's keys and user row.

use std::path::Path;

use async_trait::async_trait;
use jiff::SignedDuration;
use schema::{ErasureRecord, ErasureSubject, PageRequest, WorkspaceScope};
use serde::Serialize;
use tenants::{UserId, Workspace};

use crate::context::Ctx;
use crate::error::EngineError;
use crate::privacy::EngineServices;

/// How long after an erasure request its purge must be finished (the policy's promise).
pub const PURGE_DEADLINE: SignedDuration = SignedDuration::from_hours(24 * 30);

/// Rows deleted per store call.
const ROWS_PER_CALL: usize = 1000;

/// Deletes one subsystem's rows of an erased workspace. Registered through
/// [`crate::EngineServices::purge_hooks`] by the owners of tables the engine does not know.
#[async_trait]
pub trait PurgeHook: Send + Sync + std::fmt::Debug {
    /// What it purges, for logs (`audit`, `analytics`...).
    fn name(&self) -> &'static str;
    /// Deletes every row of the workspace it owns; returns how many. Must be idempotent.
    ///
    /// # Errors
    /// Any failure; the pass stops for this workspace and the next pass tries again.
    async fn purge_workspace(&self, scope: WorkspaceScope) -> Result<u64, EngineError>;
    /// Deletes every row it owns of an erased person that no workspace holds (their own audit
    /// entries, their personal exports); returns how many. Called by
    /// [`crate::EngineHandle::erase_user`] before the person's API keys and user row go (so
    /// their keys can still be listed). Must be idempotent.
    ///
    /// # Errors
    /// Any failure; the erasure stops and can be requested again.
    async fn purge_user(&self, user_id: UserId) -> Result<u64, EngineError> {
        let _ = user_id;
        Ok(0)
    }
}

/// What one purge pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Workspaces fully purged by this pass.
    pub num_workspaces: u32,
    /// Rows deleted.
    pub num_rows: u64,
    /// Media files deleted.
    pub num_files: u64,
}

/// Runs one pass over every erased workspace.
///
/// # Errors
/// Store failures while listing; a failing workspace is logged and retried next pass.
pub async fn run_pass(ctx: &Ctx, config: &EngineServices) -> Result<PurgeReport, EngineError> {
    let mut doomed: Vec<Workspace> = Vec::new();
    let mut page = PageRequest::first(500);
    loop {
        let workspaces = ctx.store.list_all_workspaces(page.clone()).await?;
        doomed.extend(
            workspaces
                .items
                .into_iter()
                .filter(|w| w.deletion_requested_at.is_some()),
        );
        match workspaces.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let mut report = PurgeReport::default();
    for ws in doomed {
        match purge_one(ctx, config, &ws).await {
            Ok((rows, files)) => {
                report.num_workspaces += 1;
                report.num_rows += rows;
                report.num_files += files;
            }
            Err(e) => {
                tracing::error!(workspace_id = %ws.id, error = %e, "workspace purge failed; retried next pass");
            }
        }
    }
    Ok(report)
}

async fn purge_one(
    ctx: &Ctx,
    config: &EngineServices,
    ws: &Workspace,
) -> Result<(u64, u64), EngineError> {
    let scope = WorkspaceScope::authorized(ws.id);
    let mut rows = 0;
    // Webhooks and analytics are engine-owned: their purge needs no registration.
    let owned: [std::sync::Arc<dyn PurgeHook>; 2] = [
        std::sync::Arc::new(crate::webhooks::purge::WebhookPurge::new(ctx.store.clone())),
        std::sync::Arc::new(crate::analytics::purge::AnalyticsPurge::new(
            ctx.store.clone(),
        )),
    ];
    for hook in owned.iter().chain(&config.purge_hooks) {
        rows += hook.purge_workspace(scope).await?;
        tracing::debug!(workspace_id = %ws.id, hook = hook.name(), "purge hook ran");
    }
    let files = match &config.media_dir {
        Some(dir) => remove_media(&dir.join(ws.id.to_string())).await?,
        None => 0,
    };
    loop {
        let progress = ctx.store.purge_workspace(scope, ROWS_PER_CALL).await?;
        rows += progress.num_deleted;
        if progress.done {
            break;
        }
    }
    let now = ctx.now();
    let requested_at = ws.deletion_requested_at.unwrap_or(now);
    let mut record = ctx
        .store
        .get_erasure(ws.id.as_uuid())
        .await?
        .unwrap_or(ErasureRecord {
            subject_id: ws.id.as_uuid(),
            subject: ErasureSubject::Workspace,
            requested_at,
            purge_deadline: requested_at + PURGE_DEADLINE,
            completed_at: None,
            num_rows_purged: 0,
            num_files_purged: 0,
            num_tokens_revoked: 0,
            num_revokes_failed: 0,
        });
    record.completed_at = Some(now);
    record.num_rows_purged += rows;
    record.num_files_purged += files;
    ctx.store.put_erasure(&record).await?;
    tracing::info!(workspace_id = %ws.id, num_rows = rows, num_files = files,
        late = now > record.purge_deadline, "workspace purged");
    Ok((rows, files))
}

/// Deletes a workspace's media folder; returns how many files it held.
async fn remove_media(dir: &Path) -> Result<u64, EngineError> {
    let io = |e: std::io::Error| EngineError::Unavailable(format!("media purge: {e}"));
    let mut num = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries = match tokio::fs::read_dir(&d).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(e)),
        };
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            if entry.file_type().await.map_err(io)?.is_dir() {
                stack.push(entry.path());
            } else {
                num += 1;
            }
        }
    }
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => Ok(num),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(num),
        Err(e) => Err(io(e)),
    }
}
