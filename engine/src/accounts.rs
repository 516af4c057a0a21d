//! Account and workspace commands on [`EngineHandle`]: connect (seal the tokens, store the
//! account, start its actor), reconnect (same platform user: updated in place, holds released),
//! disconnect (revoke, delete, cancel pending deliveries, stop the actor), workspace created.

use jiff::{SignedDuration, Timestamp};
use schema::{PageRequest, WorkspaceScope};
use secrecy::ExposeSecret;
use tenants::{
    AccountId, AccountStatus, ConnectedAccount, DeliveryError, DeliveryEvent, DeliveryState,
};

use crate::api::{EngineHandle, NewAccount};
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
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
        ctx.emit(EngineEvent {
            kind: EventKind::AccountConnected,
            workspace_id: scope.workspace_id(),
            post_id: None,
            account_id: Some(id),
            reason: None,
            at: now,
        });
        Ok(account)
    }

    /// Revokes the tokens at the platform and deletes them, cancels the account's pending
    /// deliveries and stops its actor.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown account.
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
        if let Ok(ws) = self.inner.root.workspace(scope).await {
            ws.stop_account(id).await;
        }
        ctx.credentials
            .revoke_and_delete(account_scope, &account)
            .await?;
        let now = ctx.now();
        account.status = AccountStatus::Disconnected;
        account.status_reason = Some("disconnected".into());
        account.updated_at = now;
        ctx.store.put_account(scope, &account).await?;
        let reason = DeliveryError::new("account_disconnected", "the account was disconnected");
        let far = now + SignedDuration::from_hours(24 * 366 * 5);
        let rows = ctx
            .store
            .account_due(account_scope, Timestamp::UNIX_EPOCH, far, 100_000)
            .await?;
        for r in rows {
            let Some(d) = ctx
                .store
                .get_delivery(scope, r.post_id, r.delivery_id)
                .await?
            else {
                continue;
            };
            if matches!(d.state, DeliveryState::Scheduled | DeliveryState::Held)
                && let Ok(next) = d.apply(
                    &DeliveryEvent::Cancel {
                        reason: reason.clone(),
                    },
                    now,
                )
            {
                ctx.store
                    .transition(account_scope, d.version, &next)
                    .await?;
            }
        }
        ctx.emit(EngineEvent {
            kind: EventKind::AccountDisconnected,
            workspace_id: scope.workspace_id(),
            post_id: None,
            account_id: Some(id),
            reason: None,
            at: now,
        });
        Ok(())
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
