//! Data-subject rights on [`EngineHandle`]: restriction (pause processing), erasure of a
//! workspace or a user, and the privacy workers (revocation retries, purge) that run in the
//! background every `privacy_interval` and on demand for tests.
//!
//! Erasure takes effect at once: the workspace is gone from the engine (its actors stop and it
//! can no longer be addressed), its tokens are deleted, revoked at the platform (best effort,
//! failures queued) and crypto-shredded, and its pending deliveries are canceled. The purge
//! worker ([`crate::purge`]) then removes every row and media file and records the completion.
//!
//! Erasing a user follows one documented rule: a user who is the only owner of a workspace that
//! has other members cannot be erased until ownership is transferred (`Conflict` naming the
//! workspace); workspaces where they are the only member are erased with them; elsewhere their
//! membership is removed. The registered purge hooks delete the person's own rows (the
//! gateway's audit entries and personal exports), then their sessions, API keys and user row go.
//!
//! [`EngineHandle::reload_master_keys`] swaps the master keyring of the running vault, so data
//! keys rewrapped by `socialcrm keys rotate` unwrap without a restart.

use std::path::PathBuf;
use std::sync::Arc;

use schema::{ErasureRecord, ErasureSubject, PageRequest, WorkspaceScope};
use serde::Serialize;
use tenants::{AccountStatus, DeliveryError, MasterKeyring, Membership, Role, UserId, Workspace};
use tokio::task::JoinHandle;

use crate::api::EngineHandle;
use crate::error::EngineError;
use crate::pending::{PendingMove, move_pending};
use crate::purge::{PURGE_DEADLINE, PurgeHook, PurgeReport};
use crate::revoke::RevokePass;
use crate::workspace::WorkspaceMsg;

/// Optional services of the engine, configured once after start
/// ([`EngineHandle::configure_services`]).
#[derive(Debug, Clone, Default)]
pub struct EngineServices {
    /// The directory holding one media folder per workspace (`<data_dir>/media`, whose
    /// `<workspace_id>/` folders the purge deletes).
    pub media_dir: Option<PathBuf>,
    /// Purgers of tables other subsystems own (audit, analytics...).
    pub purge_hooks: Vec<Arc<dyn PurgeHook>>,
    /// Where transactional email goes out; `None` sends none.
    pub smtp: Option<crate::notify::SmtpConfig>,
}

/// What one run of the privacy workers did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PrivacyPass {
    /// Revocation retries.
    pub revocations: RevokePass,
    /// Purges.
    pub purge: PurgeReport,
}

fn gone(scope: WorkspaceScope) -> EngineError {
    EngineError::NotFound {
        kind: "workspace",
        id: scope.workspace_id().to_string(),
    }
}

/// Store sweeps per sweep pass at most (each removes a bounded number of rows).
const SWEEP_CALLS_PER_PASS: usize = 20;

/// Runs the privacy workers every `privacy_interval` (and the expired-row sweep every
/// `sweep_interval`) until the engine stops.
pub(crate) fn run_workers(handle: EngineHandle) -> JoinHandle<()> {
    let cancel = handle.inner.cancel.clone();
    let every = handle.inner.ctx.tuning.privacy_interval;
    let sweep_every = handle.inner.ctx.tuning.sweep_interval;
    crate::runtime::spawn(async move {
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = handle.run_privacy_pass().await {
                tracing::warn!(error = %e, "privacy workers pass failed");
            }
            if last_sweep.elapsed() >= sweep_every {
                last_sweep = tokio::time::Instant::now();
                if let Err(e) = handle.run_sweep_pass().await {
                    tracing::warn!(error = %e, "expired-row sweep failed");
                }
            }
        }
    })
}

impl EngineHandle {
    /// Sets the optional services; the first call wins.
    ///
    /// # Errors
    /// [`EngineError::Conflict`] when they were already set.
    pub fn configure_services(&self, services: EngineServices) -> Result<(), EngineError> {
        let smtp = services.smtp.clone();
        self.inner
            .services
            .set(services)
            .map_err(|_| EngineError::Conflict("engine services are already configured".into()))?;
        if let Some(smtp) = smtp {
            self.start_notifier(smtp);
        }
        Ok(())
    }

    async fn live_workspace(&self, scope: WorkspaceScope) -> Result<Workspace, EngineError> {
        match self.inner.ctx.store.get_workspace(scope).await? {
            Some(w) if w.deletion_requested_at.is_none() => Ok(w),
            _ => Err(gone(scope)),
        }
    }

    /// Restricts processing: from now on due deliveries are held with `processing_restricted`
    /// (never sent, no partner call) until [`EngineHandle::unrestrict_workspace`].
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown or erased workspace.
    pub async fn restrict_workspace(&self, scope: WorkspaceScope) -> Result<(), EngineError> {
        self.ensure_ready()?;
        let mut ws = self.live_workspace(scope).await?;
        ws.processing_restricted = true;
        self.inner.ctx.store.update_workspace(scope, &ws).await?;
        Ok(())
    }

    /// Lifts a restriction and releases the deliveries held for it: they publish (late ones at
    /// once).
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown or erased workspace.
    pub async fn unrestrict_workspace(&self, scope: WorkspaceScope) -> Result<(), EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let mut ws = self.live_workspace(scope).await?;
        ws.processing_restricted = false;
        ctx.store.update_workspace(scope, &ws).await?;
        let handle = self.inner.root.workspace(scope).await?;
        let mut page = PageRequest::first(500);
        loop {
            let accounts = ctx.store.list_accounts(scope, page.clone()).await?;
            for a in accounts
                .items
                .iter()
                .filter(|a| a.status != AccountStatus::Disconnected)
            {
                // Held rows keep their due time: reload from the start to pick them up.
                handle.send(WorkspaceMsg::Activate {
                    account_id: a.id,
                    from: jiff::Timestamp::UNIX_EPOCH,
                });
            }
            match accounts.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(()),
            }
        }
    }

    /// Erases a workspace at once (see the module doc); the purge follows on the next pass.
    /// Erasing an already erased workspace returns its ledger row.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown workspace; store failures (the erasure is then
    /// resumed by calling again).
    pub async fn erase_workspace(
        &self,
        scope: WorkspaceScope,
    ) -> Result<ErasureRecord, EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let mut ws = ctx
            .store
            .get_workspace(scope)
            .await?
            .ok_or_else(|| gone(scope))?;
        let now = ctx.now();
        let requested_at = *ws.deletion_requested_at.get_or_insert(now);
        ctx.store.update_workspace(scope, &ws).await?;
        let mut record = match ctx.store.get_erasure(ws.id.as_uuid()).await? {
            Some(r) if r.completed_at.is_some() => return Ok(r),
            Some(r) => r,
            None => ErasureRecord {
                subject_id: ws.id.as_uuid(),
                subject: ErasureSubject::Workspace,
                requested_at,
                purge_deadline: requested_at + PURGE_DEADLINE,
                completed_at: None,
                num_rows_purged: 0,
                num_files_purged: 0,
                num_tokens_revoked: 0,
                num_revokes_failed: 0,
            },
        };
        ctx.store.put_erasure(&record).await?;
        self.inner.root.stop_workspace(ws.id).await;
        let reason = DeliveryError::new("workspace_erased", "the workspace was erased");
        let mut page = PageRequest::first(500);
        loop {
            let accounts = ctx.store.list_accounts(scope, page.clone()).await?;
            for a in &accounts.items {
                let account = scope.account(a.id);
                move_pending(ctx, account, PendingMove::Cancel, &reason).await?;
                match ctx.credentials.revoke_and_delete(account, a).await {
                    Ok(s) => {
                        record.num_tokens_revoked += u64::from(s.num_revoked);
                        record.num_revokes_failed += u64::from(s.num_queued);
                    }
                    // Shredding below makes the tokens unusable whatever happened here.
                    Err(e) => {
                        tracing::warn!(account_id = %a.id, error = %e, "revocation at erasure failed");
                        record.num_revokes_failed += 1;
                    }
                }
            }
            match accounts.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        ctx.credentials.shred_workspace(scope).await?;
        ctx.store.put_erasure(&record).await?;
        tracing::info!(workspace_id = %ws.id, "workspace erased; purge pending");
        Ok(record)
    }

    /// Erases a user under the rule of the module doc.
    ///
    /// # Errors
    /// [`EngineError::Conflict`] naming the workspace the user solely owns while others are
    /// members (nothing is changed then); [`EngineError::NotFound`] for an unknown user.
    pub async fn erase_user(&self, user_id: UserId) -> Result<ErasureRecord, EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let user = ctx
            .store
            .get_user(user_id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                kind: "user",
                id: user_id.to_string(),
            })?;
        let mut erase = Vec::new();
        let mut leave = Vec::new();
        for m in ctx.store.list_memberships_of_user(user_id).await? {
            let scope = WorkspaceScope::authorized(m.workspace_id);
            if self.live_workspace(scope).await.is_err() {
                continue;
            }
            let others: Vec<Membership> = self
                .members(scope)
                .await?
                .into_iter()
                .filter(|o| o.user_id != user_id)
                .collect();
            if others.is_empty() {
                erase.push(scope);
            } else if m.role == Role::Owner && others.iter().all(|o| o.role != Role::Owner) {
                return Err(EngineError::Conflict(format!(
                    "the user is the only owner of workspace {}, which has other members; \
                     transfer ownership or remove the members first",
                    m.workspace_id
                )));
            } else {
                leave.push(scope);
            }
        }
        for scope in erase {
            self.erase_workspace(scope).await?;
        }
        for scope in leave {
            ctx.store.delete_membership(scope, user_id).await?;
        }
        // Before the keys and the user row go: a hook may look up the person's keys (entries
        // are recorded per key), and a failing hook leaves an erasure that can be asked again.
        let mut num_rows = 1;
        let hooks = self
            .inner
            .services
            .get()
            .map(|s| s.purge_hooks.clone())
            .unwrap_or_default();
        for hook in &hooks {
            num_rows += hook.purge_user(user_id).await?;
            tracing::debug!(user_id = %user_id, hook = hook.name(), "user purge hook ran");
        }
        ctx.store.delete_sessions_of_user(user_id).await?;
        for key in ctx.store.list_api_keys(Some(user_id)).await? {
            ctx.store.delete_api_key(key.id).await?;
        }
        ctx.store.delete_user(user_id).await?;
        let now = ctx.now();
        let record = ErasureRecord {
            subject_id: user.id.as_uuid(),
            subject: ErasureSubject::User,
            requested_at: now,
            purge_deadline: now + PURGE_DEADLINE,
            completed_at: Some(now),
            num_rows_purged: num_rows,
            num_files_purged: 0,
            num_tokens_revoked: 0,
            num_revokes_failed: 0,
        };
        ctx.store.put_erasure(&record).await?;
        Ok(record)
    }

    async fn members(&self, scope: WorkspaceScope) -> Result<Vec<Membership>, EngineError> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(500);
        loop {
            let members = self
                .inner
                .ctx
                .store
                .list_members(scope, page.clone())
                .await?;
            out.extend(members.items);
            match members.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The erasure ledger row of a workspace or user id: when it was requested, the deadline,
    /// and when the purge completed.
    ///
    /// # Errors
    /// [`EngineError::Store`].
    pub async fn erasure(
        &self,
        subject_id: uuid::Uuid,
    ) -> Result<Option<ErasureRecord>, EngineError> {
        Ok(self.inner.ctx.store.get_erasure(subject_id).await?)
    }

    /// Runs the privacy workers once now: due revocation retries, then the purge of every
    /// erased workspace. The background loop calls the same.
    ///
    /// # Errors
    /// Store failures.
    pub async fn run_privacy_pass(&self) -> Result<PrivacyPass, EngineError> {
        let revocations = self.inner.ctx.credentials.retry_revokes().await?;
        let purge = self.run_purge_pass().await?;
        Ok(PrivacyPass { revocations, purge })
    }

    /// Replaces the master keyring of the running engine (after `socialcrm keys rotate`): data
    /// keys rewrapped under the new master key unwrap from now on, and new data keys are
    /// wrapped with its active key. Returns the active key id.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the engine runs without its own token vault (started
    /// with [`crate::Engine::start_with`]).
    pub fn reload_master_keys(&self, keyring: MasterKeyring) -> Result<String, EngineError> {
        let vault = self.inner.vault.get().ok_or_else(|| {
            EngineError::Unavailable("this engine has no token vault to reload".into())
        })?;
        vault.replace_keyring(keyring);
        let active = vault.active_master_key_id();
        tracing::info!(master_key_id = %active, "master keyring reloaded");
        Ok(active)
    }

    /// Removes rows past their retention (idempotency records, sessions, due-index rows,
    /// audit entries, export jobs, webhook messages, the event log...) where the store does not
    /// expire them itself; returns how many. Runs every `sweep_interval` in the background.
    ///
    /// # Errors
    /// Store failures; the next pass resumes.
    pub async fn run_sweep_pass(&self) -> Result<u64, EngineError> {
        let store = &self.inner.ctx.store;
        let mut total = 0;
        // Each call removes a bounded number; a backlog is worked off over a few calls.
        for _ in 0..SWEEP_CALLS_PER_PASS {
            let n = store.sweep_expired(self.inner.ctx.now()).await?;
            total += n;
            if n == 0 {
                break;
            }
        }
        if total > 0 {
            tracing::info!(num_rows = total, "expired rows swept");
        }
        Ok(total)
    }

    /// Runs the purge worker once now.
    ///
    /// # Errors
    /// Store failures while listing workspaces.
    pub async fn run_purge_pass(&self) -> Result<PurgeReport, EngineError> {
        let services = self.inner.services.get().cloned().unwrap_or_default();
        crate::purge::run_pass(&self.inner.ctx, &services).await
    }
}
