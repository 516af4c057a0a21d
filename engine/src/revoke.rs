//! Token revocation at disconnect and erasure, with durable retries.
//!
//! [`Revoker::revoke_and_delete`] works like an outbox: it first queues one `revoke_retries` row
//! per token (the token still sealed under the workspace's data key), then deletes the tokens,
//! then asks the platform. A confirmed revocation settles its row (`succeeded`, token dropped);
//! a failed one stays `pending` and [`Revoker::run_pass`] retries it with backoff until it
//! succeeds or is given up after [`MAX_ATTEMPTS`]. A crash anywhere loses nothing, and the
//! tokens leave `account_tokens` at once whatever the platform says. Shredding the workspace
//! makes a queued token unrecoverable: its row is settled as `unrecoverable`.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use schema::{
    AccountScope, PageRequest, RevokeRetry, RevokeState, RevokeTokenKind, Store, WorkspaceScope,
};
use secrecy::SecretString;
use serde::Serialize;
use tenants::{Platform, SharedClock};

use crate::error::EngineError;
use crate::partner::{OAuthError, PlatformOAuthClient};
use crate::token_refresh::retry_delay;
use crate::vault::{TokenVault, TokenVaultError};

/// Attempts (the first one included) before a revocation is given up.
pub const MAX_ATTEMPTS: u32 = 8;

/// What one disconnect's revocation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RevokeSummary {
    /// Tokens the platform confirmed revoked.
    pub num_revoked: u32,
    /// Tokens whose revocation failed and is retried by the worker.
    pub num_queued: u32,
}

/// What one retry pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RevokePass {
    /// Revocations confirmed in this pass.
    pub num_succeeded: u32,
    /// Revocations that failed again and stay queued.
    pub num_failed: u32,
    /// Revocations given up (too many attempts, or the token was shredded).
    pub num_settled_unrevoked: u32,
}

/// Revokes tokens at the platform and keeps the retries.
#[derive(Debug)]
pub struct Revoker {
    vault: Arc<TokenVault>,
    oauth: PlatformOAuthClient,
    clock: SharedClock,
}

fn vault_err(e: TokenVaultError) -> EngineError {
    match e {
        TokenVaultError::Store(e) => EngineError::Store(e),
        other => EngineError::Vault(other.to_string()),
    }
}

impl Revoker {
    /// A revoker over the vault (and its store) and the platform OAuth client.
    pub fn new(vault: Arc<TokenVault>, oauth: PlatformOAuthClient, clock: SharedClock) -> Self {
        Self {
            vault,
            oauth,
            clock,
        }
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.vault.store()
    }

    /// Queues, deletes, then revokes the account's tokens (see the module doc). Tokens that no
    /// longer open (tampered, shredded) are deleted without a revocation.
    ///
    /// # Errors
    /// Store failures before the tokens were deleted (then nothing was deleted; retry).
    pub async fn revoke_and_delete(
        &self,
        scope: AccountScope,
        platform: Platform,
    ) -> Result<RevokeSummary, EngineError> {
        let now = self.clock.now();
        let clear = match self.vault.load_tokens(scope).await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(RevokeSummary::default()),
            Err(TokenVaultError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(account_id = %scope.account_id(), error = %e,
                    "stored tokens cannot be opened; deleting them without revocation");
                self.vault.delete_tokens(scope).await.map_err(vault_err)?;
                return Ok(RevokeSummary::default());
            }
        };
        let mut queued: Vec<(RevokeRetry, SecretString)> = Vec::new();
        let tokens = [
            (RevokeTokenKind::Refresh, clear.refresh_token.clone()),
            (RevokeTokenKind::Access, Some(clear.access_token.clone())),
        ];
        for (kind, token) in tokens {
            let Some(token) = token else { continue };
            let sealed = self
                .vault
                .seal_secret(scope, &token, now)
                .await
                .map_err(vault_err)?;
            let retry = RevokeRetry {
                workspace_id: scope.workspace_id(),
                account_id: scope.account_id(),
                platform,
                token_kind: kind,
                token: Some(sealed),
                state: RevokeState::Pending,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                created_at: now,
                updated_at: now,
            };
            self.store()
                .put_revoke_retry(scope.workspace(), &retry)
                .await?;
            queued.push((retry, token));
        }
        self.vault.delete_tokens(scope).await.map_err(vault_err)?;
        let mut summary = RevokeSummary::default();
        for (retry, token) in queued {
            if self.attempt(scope.workspace(), retry, &token).await? == RevokeState::Succeeded {
                summary.num_revoked += 1;
            } else {
                summary.num_queued += 1;
            }
        }
        Ok(summary)
    }

    /// Calls the platform once for `retry` and stores the outcome.
    async fn attempt(
        &self,
        scope: WorkspaceScope,
        mut retry: RevokeRetry,
        token: &SecretString,
    ) -> Result<RevokeState, EngineError> {
        let result = self.oauth.revoke(retry.platform, token).await;
        let now = self.clock.now();
        retry.attempts += 1;
        retry.updated_at = now;
        match result {
            Ok(()) => {
                retry.state = RevokeState::Succeeded;
                retry.last_error = None;
            }
            Err(OAuthError::RevokeUnsupported(p)) => {
                retry.state = RevokeState::GaveUp;
                retry.last_error = Some(format!("{p} offers no revocation endpoint"));
            }
            Err(e) => {
                retry.last_error = Some(e.to_string());
                if retry.attempts >= MAX_ATTEMPTS {
                    retry.state = RevokeState::GaveUp;
                } else {
                    let asked = match &e {
                        OAuthError::Transient { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    let delay = retry_delay(retry.attempts - 1, asked, &mut rand::thread_rng());
                    retry.next_attempt_at = now
                        + SignedDuration::try_from(delay).unwrap_or(SignedDuration::from_mins(1));
                }
                tracing::warn!(account_id = %retry.account_id, attempts = retry.attempts,
                    state = ?retry.state, error = %e, "token revocation failed");
            }
        }
        if retry.state.is_terminal() {
            retry.token = None;
        }
        self.store().put_revoke_retry(scope, &retry).await?;
        Ok(retry.state)
    }

    /// Retries every pending revocation of `scope` that is due at `now`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn retry_workspace(
        &self,
        scope: WorkspaceScope,
        now: Timestamp,
    ) -> Result<RevokePass, EngineError> {
        let mut pass = RevokePass::default();
        let mut page = PageRequest::first(500);
        loop {
            let retries = self
                .store()
                .list_revoke_retries(scope, page.clone())
                .await?;
            for retry in retries.items {
                if retry.state.is_terminal() || retry.next_attempt_at > now {
                    continue;
                }
                let account = scope.account(retry.account_id);
                let opened = match &retry.token {
                    Some(sealed) => self.vault.open_sealed(account, sealed).await,
                    None => Err(TokenVaultError::Shredded),
                };
                let state = match opened {
                    Ok(token) => self.attempt(scope, retry, &token).await?,
                    Err(TokenVaultError::Store(e)) => return Err(e.into()),
                    Err(e) => {
                        let settled = RevokeRetry {
                            state: RevokeState::Unrecoverable,
                            token: None,
                            last_error: Some(e.to_string()),
                            updated_at: now,
                            ..retry
                        };
                        self.store().put_revoke_retry(scope, &settled).await?;
                        RevokeState::Unrecoverable
                    }
                };
                match state {
                    RevokeState::Succeeded => pass.num_succeeded += 1,
                    RevokeState::Pending => pass.num_failed += 1,
                    RevokeState::GaveUp | RevokeState::Unrecoverable => {
                        pass.num_settled_unrevoked += 1;
                    }
                }
            }
            match retries.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(pass),
            }
        }
    }

    /// Retries every due pending revocation of every workspace.
    ///
    /// # Errors
    /// Store failures.
    pub async fn run_pass(&self) -> Result<RevokePass, EngineError> {
        let now = self.clock.now();
        let mut total = RevokePass::default();
        let mut page = PageRequest::first(500);
        loop {
            let workspaces = self.store().list_all_workspaces(page.clone()).await?;
            for ws in &workspaces.items {
                let pass = self
                    .retry_workspace(WorkspaceScope::authorized(ws.id), now)
                    .await?;
                total.num_succeeded += pass.num_succeeded;
                total.num_failed += pass.num_failed;
                total.num_settled_unrevoked += pass.num_settled_unrevoked;
            }
            match workspaces.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(total),
            }
        }
    }

    /// Crypto-shreds the workspace: deletes its data key.
    ///
    /// # Errors
    /// Store failures (the key may still exist; retry).
    pub async fn shred_workspace(&self, scope: WorkspaceScope) -> Result<(), EngineError> {
        self.vault.shred_workspace(scope).await.map_err(vault_err)
    }
}
