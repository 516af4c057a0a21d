//! Account and workspace commands on [`EngineHandle`]: connect (seal the tokens, store the
//! account, start its actor), reconnect (same platform user: updated in place, holds released),
//! disconnect (delete, revoke with durable retries, cancel pending deliveries, stop the actor),
//! workspace created.

use jiff::SignedDuration;
use schema::{PageRequest, RevokeRetry, WorkspaceScope};
use secrecy::ExposeSecret;
use tenants::{AccountId, AccountStatus, ConnectedAccount, DeliveryError};

use crate::api::{EngineHandle, NewAccount};
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::pending::{PendingMove, move_pending};
use crate::workspace::WorkspaceMsg;

impl EngineHandle {
    /// Seals the tokens in the vault, stores the account and starts its actor. Connecting the
    /// same platform user again reconnects the existing account in place.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown workspace; [`EngineError::Vault`] when the
    /// tokens cannot be sealed.
    pub async fn connect_account(
        &self,
        scope: WorkspaceScope,
        new: NewAccount,
    ) -> Result<ConnectedAccount, EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let ws = self.inner.root.workspace(scope).await?;
        let now = ctx.now();
        let existing = find_account(self, scope, &new).await?;
        let id = existing.as_ref().map_or_else(AccountId::new, |a| a.id);
        ctx.credentials.ensure_data_key(scope).await?;
        let hint = {
            let t = new.grant.access_token.expose_secret();
            let n = t.chars().count();
            t.chars().skip(n.saturating_sub(4)).collect::<String>()
        };
        let refresh_expires_at = new
            .grant
            .refresh_expires_in_secs
            .and_then(|s| now.checked_add(SignedDuration::from_secs(s)).ok());
        let token = ctx
            .credentials
            .store_grant(scope.account(id), new.grant)
            .await?;
        let account = ConnectedAccount {
            id,
            workspace_id: scope.workspace_id(),
            platform: new.platform,
            platform_user_id: new.platform_user_id,
            partner_account_id: new.partner_account_id,
            username: new.username,
            display_name: new.display_name,
            avatar_url: new.avatar_url,
            status: AccountStatus::Active,
            status_reason: None,
            access_expires_at: token.expires_at,
            refresh_expires_at,
            token_hint: Some(hint),
            connected_at: existing.as_ref().map_or(now, |a| a.connected_at),
            updated_at: now,
        };
        ctx.store.put_account(scope, &account).await?;
        ws.send(WorkspaceMsg::AccountChanged { account_id: id });
        ctx.emit_logged(EngineEvent {
            kind: EventKind::AccountConnected,
            workspace_id: scope.workspace_id(),
            post_id: None,
            account_id: Some(id),
            reason: None,
            at: now,
        })
        .await;
        Ok(account)
    }

    /// Disconnects an account: stops its actor, deletes its tokens at once and revokes them at
    /// the platform (a failed revocation is queued durably and retried with backoff, see
    /// [`crate::revoke`]), cancels its pending deliveries with `account_disconnected` (published
    /// history is kept), marks it `disconnected` and emits `account.disconnected`.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown account; [`EngineError::Store`] or
    /// [`EngineError::Vault`] when the tokens could not be deleted (nothing changed then).
    pub async fn disconnect_account(
        &self,
        scope: WorkspaceScope,
        id: AccountId,
    ) -> Result<(), EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let account_scope = scope.account(id);
        let mut account =
            ctx.store
                .get_account(account_scope)
                .await?
                .ok_or_else(|| EngineError::NotFound {
                    kind: "account",
                    id: id.to_string(),
                })?;
        let ws = self.inner.root.workspace(scope).await.ok();
        if let Some(ws) = &ws {
            ws.stop_account(id).await;
        }
        let revoked = ctx
            .credentials
            .revoke_and_delete(account_scope, &account)
            .await?;
        let now = ctx.now();
        account.status = AccountStatus::Disconnected;
        account.status_reason = Some(if revoked.num_queued > 0 {
            "disconnected; the platform did not confirm the revocation yet, it is retried \
             automatically"
                .into()
        } else {
            "disconnected".into()
        });
        account.token_hint = None;
        account.updated_at = now;
        ctx.store.put_account(scope, &account).await?;
        let reason = DeliveryError::new(
            "account_disconnected",
            "the account was disconnected; reconnect it and schedule the post again",
        );
        let posts = move_pending(ctx, account_scope, PendingMove::Cancel, &reason).await?;
        if let Some(ws) = &ws {
            for post_id in posts {
                ws.send(WorkspaceMsg::PostChanged { post_id });
            }
        }
        ctx.emit_logged(EngineEvent {
            kind: EventKind::AccountDisconnected,
            workspace_id: scope.workspace_id(),
            post_id: None,
            account_id: Some(id),
            reason: None,
            at: now,
        })
        .await;
        Ok(())
    }

    /// The account's token revocations that did not succeed at once, with their outcome
    /// (`pending`, `succeeded`, `gave_up`, `unrecoverable`). Sealed tokens are never returned.
    ///
    /// # Errors
    /// [`EngineError::Store`].
    pub async fn revocations(
        &self,
        scope: WorkspaceScope,
        id: AccountId,
    ) -> Result<Vec<RevokeRetry>, EngineError> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(500);
        loop {
            let rows = self
                .inner
                .ctx
                .store
                .list_revoke_retries(scope, page.clone())
                .await?;
            out.extend(
                rows.items
                    .into_iter()
                    .filter(|r| r.account_id == id)
                    .map(|r| RevokeRetry { token: None, ..r }),
            );
            match rows.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Creates the workspace's data key and starts its actor.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown workspace; [`EngineError::Vault`].
    pub async fn workspace_created(&self, scope: WorkspaceScope) -> Result<(), EngineError> {
        self.ensure_ready()?;
        self.inner.ctx.credentials.ensure_data_key(scope).await?;
        self.inner.root.workspace(scope).await?;
        Ok(())
    }
}

async fn find_account(
    h: &EngineHandle,
    scope: WorkspaceScope,
    new: &NewAccount,
) -> Result<Option<ConnectedAccount>, EngineError> {
    let mut page = PageRequest::first(500);
    loop {
        let accounts = h.inner.ctx.store.list_accounts(scope, page.clone()).await?;
        if let Some(a) = accounts
            .items
            .into_iter()
            .find(|a| a.platform == new.platform && a.platform_user_id == new.platform_user_id)
        {
            return Ok(Some(a));
        }
        match accounts.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(None),
        }
    }
}
