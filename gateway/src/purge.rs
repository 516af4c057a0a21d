//! The gateway's share of erasure: purgers of the tables and files the gateway owns (the audit
//! log, export jobs and their archives under `<data_dir>/exports/`), registered with the
//! engine's purge worker through [`engine_services`].
//!
//! A workspace's audit entries, export jobs and archives go on the purge pass after its erasure
//! (minutes later, well within the 30-day promise), instead of waiting for their TTL (90 and 7
//! days). A person's own entries (recorded under `user:<id>` and each of their `key:<id>`) and
//! personal exports go when the person is erased, before their keys and user row. Entries the
//! person left in workspaces that live on stay in those workspaces' logs until the retention
//! limit: they are that workspace's security record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use engine::purge::PurgeHook;
use engine::{EngineError, EngineServices};
use jiff::{SignedDuration, Timestamp};
use schema::{ExportJob, ExportOwner, MAX_AUDIT_WINDOW_DAYS, PageRequest, Store, WorkspaceScope};
use tenants::{SharedClock, UserId};

use crate::export::ExportScope;
use crate::state::AppState;

/// The engine services of a gateway: its media directory, its purgers and the SMTP relay.
pub fn engine_services(
    state: &AppState,
    smtp: Option<engine::notify::SmtpConfig>,
) -> EngineServices {
    EngineServices {
        media_dir: Some(state.config.data_dir.join("media")),
        purge_hooks: purge_hooks(state),
        smtp,
    }
}

/// The purgers of the gateway's tables and files.
pub fn purge_hooks(state: &AppState) -> Vec<Arc<dyn PurgeHook>> {
    vec![
        Arc::new(AuditPurge {
            store: state.store.clone(),
            clock: state.clock.clone(),
        }),
        Arc::new(ExportPurge {
            store: state.store.clone(),
            exports_dir: exports_dir(&state.config.data_dir),
        }),
    ]
}

/// Where export archives are written: `<data_dir>/exports/<id>.zip`.
pub(crate) fn exports_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("exports")
}

/// Deletes a just-finished export's archive and job when its workspace or person was erased
/// while it ran (the purge may already have passed); returns whether it did.
pub(crate) async fn discard_if_erased(
    state: &AppState,
    scope: &ExportScope,
    job: &ExportJob,
) -> bool {
    let erased = match scope {
        ExportScope::Workspace { scope, .. } => state
            .store
            .get_workspace(*scope)
            .await
            .map(|w| w.is_none_or(|w| w.deletion_requested_at.is_some())),
        ExportScope::User { user_id, .. } => state
            .store
            .get_user(*user_id)
            .await
            .map(|u| u.is_none_or(|u| u.deletion_requested_at.is_some())),
    };
    // On a store failure the job stays; the owner's purge lists it.
    if !erased.unwrap_or(false) {
        return false;
    }
    let dir = exports_dir(&state.config.data_dir);
    for name in [format!("{}.zip", job.id), format!("{}.zip.part", job.id)] {
        let _ = tokio::fs::remove_file(dir.join(name)).await;
    }
    if let Err(err) = state.store.delete_export(&job.owner, job.id).await {
        tracing::warn!(export_id = %job.id, error = %err, "export of an erased owner not deleted");
    }
    tracing::info!(export_id = %job.id, "export discarded: its owner was erased meanwhile");
    true
}

fn store_failed(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable(format!("{what} purge: {e}"))
}

/// Deletes an erased workspace's audit entries, and an erased person's own.
pub struct AuditPurge {
    store: Arc<dyn Store>,
    clock: SharedClock,
}

impl std::fmt::Debug for AuditPurge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditPurge").finish_non_exhaustive()
    }
}

impl AuditPurge {
    /// Every instant an entry can carry: back to the longest window the store walks (longer
    /// than any retention limit), and a day ahead for clock skew between nodes.
    fn window(&self) -> (Timestamp, Timestamp) {
        let now = self.clock.now();
        let back = SignedDuration::from_hours((MAX_AUDIT_WINDOW_DAYS + 1) * 24);
        let ahead = SignedDuration::from_hours(24);
        (
            now.saturating_sub(back).unwrap_or(Timestamp::MIN),
            now.saturating_add(ahead).unwrap_or(Timestamp::MAX),
        )
    }
}

#[async_trait]
impl PurgeHook for AuditPurge {
    fn name(&self) -> &'static str {
        "audit"
    }

    async fn purge_workspace(&self, scope: WorkspaceScope) -> Result<u64, EngineError> {
        let (from, to) = self.window();
        self.store
            .delete_audit(scope, from, to)
            .await
            .map_err(|e| store_failed("audit", e))
    }

    async fn purge_user(&self, user_id: UserId) -> Result<u64, EngineError> {
        let (from, to) = self.window();
        let mut actors = vec![format!("user:{user_id}")];
        let keys = self
            .store
            .list_api_keys(Some(user_id))
            .await
            .map_err(|e| store_failed("audit", e))?;
        actors.extend(keys.iter().map(|k| format!("key:{}", k.id)));
        let mut num = 0;
        for actor in &actors {
            num += self
                .store
                .delete_audit_of_actor(actor, from, to)
                .await
                .map_err(|e| store_failed("audit", e))?;
        }
        Ok(num)
    }
}

/// Deletes an erased workspace's (or person's) export jobs and their archives.
pub struct ExportPurge {
    store: Arc<dyn Store>,
    exports_dir: PathBuf,
}

impl std::fmt::Debug for ExportPurge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPurge")
            .field("exports_dir", &self.exports_dir)
            .finish_non_exhaustive()
    }
}

impl ExportPurge {
    /// Deletes each job's archive (and any half-written one), then the job; returns the number
    /// of jobs. The next pass finishes what a crash interrupted.
    async fn purge_owner(&self, owner: &ExportOwner) -> Result<u64, EngineError> {
        let mut ids = Vec::new();
        let mut page = PageRequest::first(500);
        loop {
            let jobs = self
                .store
                .list_exports(owner, page.clone())
                .await
                .map_err(|e| store_failed("export", e))?;
            ids.extend(jobs.items.iter().map(|j| j.id));
            match jobs.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        for id in &ids {
            for name in [format!("{id}.zip"), format!("{id}.zip.part")] {
                match tokio::fs::remove_file(self.exports_dir.join(name)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(store_failed("export archive", e)),
                }
            }
            self.store
                .delete_export(owner, *id)
                .await
                .map_err(|e| store_failed("export", e))?;
        }
        Ok(ids.len() as u64)
    }
}

#[async_trait]
impl PurgeHook for ExportPurge {
    fn name(&self) -> &'static str {
        "exports"
    }

    async fn purge_workspace(&self, scope: WorkspaceScope) -> Result<u64, EngineError> {
        self.purge_owner(&ExportOwner::workspace(scope)).await
    }

    async fn purge_user(&self, user_id: UserId) -> Result<u64, EngineError> {
        self.purge_owner(&ExportOwner::user(user_id)).await
    }
}

#[cfg(test)]
mod tests {
    use schema::{ExportStatus, RedbStore};
    use secrecy::SecretString;
    use tenants::{Membership, Role, SystemClock, Workspace, WorkspaceId};

    use super::*;
    use crate::config::GatewayConfig;

    async fn state(dir: &Path) -> AppState {
        let store = RedbStore::open(dir.join("store.redb")).expect("open");
        store.migrate().await.expect("migrate");
        let mut config = GatewayConfig::new("http://127.0.0.1:9", SecretString::from("cookie"));
        config.data_dir = dir.to_path_buf();
        AppState::new(config, Arc::new(store), None, Arc::new(SystemClock)).expect("state")
    }

    async fn finished_export(state: &AppState, scope: WorkspaceScope) -> ExportJob {
        let now = Timestamp::now();
        let job = ExportJob {
            id: uuid::Uuid::now_v7(),
            owner: ExportOwner::workspace(scope),
            requested_by: "user:x".to_owned(),
            status: ExportStatus::Ready,
            created_at: now,
            finished_at: Some(now),
            num_bytes: Some(2),
            error: None,
            expires_at: now + SignedDuration::from_hours(24),
        };
        state.store.put_export(&job).await.expect("put");
        let dir = exports_dir(&state.config.data_dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(format!("{}.zip", job.id)), b"PK").expect("archive");
        job
    }

    #[tokio::test]
    async fn test_an_export_finishing_after_its_workspace_was_erased_leaves_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let state = state(dir.path()).await;
        let mut live = Vec::new();
        for erased in [false, true] {
            let ws = Workspace {
                id: WorkspaceId::new(),
                name: "W".to_owned(),
                timezone: "UTC".to_owned(),
                created_at: Timestamp::now(),
                deletion_requested_at: erased.then(Timestamp::now),
                processing_restricted: false,
            };
            let owner = Membership {
                workspace_id: ws.id,
                user_id: UserId::new(),
                role: Role::Owner,
                created_at: Timestamp::now(),
            };
            state
                .store
                .create_workspace(&ws, &owner)
                .await
                .expect("create");
            let scope = WorkspaceScope::authorized(ws.id);
            let job = finished_export(&state, scope).await;
            let export = ExportScope::Workspace {
                scope,
                media_dir: None,
            };
            let discarded = discard_if_erased(&state, &export, &job).await;
            assert_eq!(discarded, erased);
            let archive = exports_dir(dir.path()).join(format!("{}.zip", job.id));
            assert_eq!(archive.exists(), !erased);
            let stored = state
                .store
                .get_export(&job.owner, job.id, Timestamp::now())
                .await
                .expect("get");
            assert_eq!(stored.is_some(), !erased);
            live.push(stored);
        }
        assert!(live[0].is_some(), "a live workspace keeps its export");
    }
}
