//! The ports of [`crate::outbound`] implemented over the real clients: the Outstand client for
//! [`Partner`], and the token vault plus the platform OAuth client for [`Credentials`].

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use schema::{AccountScope, WorkspaceScope};
use tenants::{ConnectedAccount, SharedClock};

use crate::api::TokenGrant;
use crate::error::EngineError;
use crate::outbound::{
    AccessToken, Credentials, Partner, PartnerError, PartnerPost, PartnerStatus, PublishRequest,
    RateHint, RefreshResult,
};
use crate::partner::{
    self, MediaRef, OutstandClient, PartnerAccountStatus, PlatformOAuthClient, PublishError,
};
use crate::revoke::{RevokePass, RevokeSummary, Revoker};
use crate::token_refresh::{self, RefreshOutcome};
use crate::vault::{ClearTokens, TokenVault};

/// [`Partner`] over the Outstand client.
#[derive(Debug)]
pub struct OutstandPartner {
    client: OutstandClient,
    clock: SharedClock,
    last_hint: Mutex<Option<RateHint>>,
    // Lookups by idempotency key share one partner-wide rate scope; one at a time, so a
    // Retry-After on one is known before the next leaves.
    org_reads: tokio::sync::Semaphore,
    org_blocked_until: Mutex<Option<Timestamp>>,
}

impl OutstandPartner {
    /// Wraps a client.
    pub fn new(client: OutstandClient, clock: SharedClock) -> Self {
        Self {
            client,
            clock,
            last_hint: Mutex::new(None),
            org_reads: tokio::sync::Semaphore::new(1),
            org_blocked_until: Mutex::new(None),
        }
    }

    fn record(&self, info: &partner::RateLimitInfo) {
        let now = self.clock.now();
        let hint = match (info.remaining, info.reset_at(now)) {
            (Some(remaining), Some(reset_at)) => Some(RateHint {
                remaining,
                reset_at,
            }),
            _ => None,
        };
        *self.last_hint.lock().unwrap_or_else(|e| e.into_inner()) = hint;
    }
}

fn convert(post: &partner::PartnerPost, partner_account_id: Option<&str>) -> PartnerPost {
    let account = partner_account_id
        .and_then(|id| post.account(id))
        .or_else(|| post.social_accounts.first());
    let status = match account {
        Some(a) => match &a.status {
            PartnerAccountStatus::Published => PartnerStatus::Published {
                platform_post_id: a
                    .platform_post_id
                    .clone()
                    .unwrap_or_else(|| post.id.clone()),
                published_at: a
                    .published_at
                    .or(post.published_at)
                    .unwrap_or_else(Timestamp::now),
            },
            PartnerAccountStatus::Failed | PartnerAccountStatus::Deleted => PartnerStatus::Failed {
                code: "platform_rejected".into(),
                message: a
                    .error
                    .clone()
                    .unwrap_or_else(|| "the platform refused the post".into()),
            },
            PartnerAccountStatus::Pending | PartnerAccountStatus::Other(_) => {
                PartnerStatus::Pending
            }
        },
        None => PartnerStatus::Pending,
    };
    PartnerPost {
        partner_post_id: post.id.clone(),
        status,
    }
}

fn read_error(e: partner::PartnerError) -> PartnerError {
    match e {
        partner::PartnerError::RateLimited { retry_after } => PartnerError::NotAccepted {
            retryable: true,
            retry_after,
            rate_limited: true,
            code: "rate_limited".into(),
            message: "the partner asked us to slow down".into(),
        },
        other => PartnerError::Unknown(other.to_string()),
    }
}

#[async_trait]
impl Partner for OutstandPartner {
    async fn publish(&self, req: PublishRequest) -> Result<PartnerPost, PartnerError> {
        let media = req
            .media_urls
            .iter()
            .enumerate()
            .map(|(i, url)| MediaRef {
                url: url.clone(),
                filename: url
                    .rsplit('/')
                    .next()
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| format!("media-{i}"), str::to_owned),
            })
            .collect();
        let wire = partner::PublishRequest {
            idempotency_key: req.idempotency_key.clone(),
            content: req.caption.clone(),
            partner_account_id: req.partner_account_id.clone(),
            media,
            first_comment: None,
            access_token: &req.access_token,
        };
        match self.client.create_post(&wire).await {
            Ok(accepted) => {
                self.record(&accepted.rate_limit);
                Ok(convert(&accepted.post, Some(&req.partner_account_id)))
            }
            Err(PublishError::NotAccepted {
                retryable,
                retry_after,
                code,
                message,
            }) => Err(PartnerError::NotAccepted {
                retryable,
                retry_after,
                rate_limited: retry_after.is_some() || {
                    let c = code.to_ascii_lowercase();
                    c.contains("429") || c.contains("rate") || c.contains("too many")
                },
                code,
                message,
            }),
            Err(PublishError::TokenRejected { .. }) => Err(PartnerError::TokenRejected),
            Err(PublishError::Unknown { message }) => Err(PartnerError::Unknown(message)),
        }
    }

    async fn get_post(&self, partner_post_id: &str) -> Result<Option<PartnerPost>, PartnerError> {
        match self.client.get_post(partner_post_id).await {
            Ok(reply) => {
                self.record(&reply.rate_limit);
                Ok(Some(convert(&reply.value, None)))
            }
            Err(partner::PartnerError::NotFound) => Ok(None),
            Err(e) => Err(read_error(e)),
        }
    }

    async fn find_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<PartnerPost>, PartnerError> {
        let _permit = self
            .org_reads
            .acquire()
            .await
            .map_err(|e| PartnerError::Unknown(e.to_string()))?;
        let now = self.clock.now();
        let blocked = *self
            .org_blocked_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(until) = blocked.filter(|u| *u > now) {
            return Err(PartnerError::NotAccepted {
                retryable: true,
                retry_after: std::time::Duration::try_from(until.duration_since(now)).ok(),
                rate_limited: true,
                code: "rate_limited".into(),
                message: "waiting for the partner's Retry-After".into(),
            });
        }
        let reply = match self.client.find_by_idempotency_key(key).await {
            Ok(reply) => reply,
            Err(e) => {
                let e = read_error(e);
                if let PartnerError::NotAccepted {
                    retry_after: Some(ra),
                    ..
                } = &e
                    && let Ok(wait) = SignedDuration::try_from(*ra)
                {
                    *self
                        .org_blocked_until
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(self.clock.now() + wait);
                }
                return Err(e);
            }
        };
        self.record(&reply.rate_limit);
        Ok(reply.value.as_ref().map(|p| convert(p, None)))
    }

    fn rate_hint(&self) -> Option<RateHint> {
        *self.last_hint.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// [`Credentials`] over the token vault and the platform OAuth client. Refresh follows the
/// shared policy of [`crate::token_refresh`]; revocation goes through [`Revoker`].
#[derive(Debug)]
pub struct VaultCredentials {
    vault: Arc<TokenVault>,
    oauth: PlatformOAuthClient,
    clock: SharedClock,
    revoker: Revoker,
}

impl VaultCredentials {
    /// Wraps the vault and the OAuth client.
    pub fn new(vault: Arc<TokenVault>, oauth: PlatformOAuthClient, clock: SharedClock) -> Self {
        let revoker = Revoker::new(vault.clone(), oauth.clone(), clock.clone());
        Self {
            vault,
            oauth,
            clock,
            revoker,
        }
    }
}

fn vault_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Vault(e.to_string())
}

#[async_trait]
impl Credentials for VaultCredentials {
    async fn ensure_data_key(&self, scope: WorkspaceScope) -> Result<(), EngineError> {
        self.vault
            .ensure_data_key(scope, self.clock.now())
            .await
            .map_err(vault_err)?;
        Ok(())
    }

    async fn store_grant(
        &self,
        scope: AccountScope,
        grant: TokenGrant,
    ) -> Result<AccessToken, EngineError> {
        let now = self.clock.now();
        let at = |secs: Option<i64>| {
            secs.and_then(|s| now.checked_add(SignedDuration::from_secs(s)).ok())
        };
        let clear = ClearTokens {
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            access_expires_at: at(grant.expires_in_secs),
            refresh_expires_at: at(grant.refresh_expires_in_secs),
            scope: grant.scope,
        };
        self.vault
            .store_grant(scope, &clear, now)
            .await
            .map_err(vault_err)?;
        Ok(AccessToken {
            token: clear.access_token,
            expires_at: clear.access_expires_at,
        })
    }

    async fn access_token(&self, scope: AccountScope) -> Result<Option<AccessToken>, EngineError> {
        let tokens = self.vault.load_tokens(scope).await.map_err(vault_err)?;
        Ok(tokens.map(|t| AccessToken {
            token: t.access_token,
            expires_at: t.access_expires_at,
        }))
    }

    fn next_refresh_at(&self, expires_at: Timestamp, now: Timestamp) -> Timestamp {
        token_refresh::next_refresh_at(expires_at, now, &mut rand::thread_rng())
    }

    async fn refresh(&self, scope: AccountScope, account: &ConnectedAccount) -> RefreshResult {
        // The actor counts consecutive failures for its own backoff; the shared policy's
        // `retry_at` is advice it does not need here.
        let outcome = token_refresh::refresh_account(
            &self.vault,
            &self.oauth,
            self.clock.as_ref(),
            scope,
            account.platform,
            0,
        )
        .await;
        match outcome {
            RefreshOutcome::Refreshed {
                access_expires_at, ..
            } => match self.vault.load_tokens(scope).await {
                // Persisted before use: what is served is what the store holds.
                Ok(Some(t)) => RefreshResult::Refreshed(AccessToken {
                    token: t.access_token,
                    expires_at: t.access_expires_at.or(access_expires_at),
                }),
                Ok(None) => RefreshResult::NeedsReconnect("no tokens are stored".into()),
                Err(e) => RefreshResult::Transient(e.to_string()),
            },
            RefreshOutcome::NeedsReconnect { reason } => RefreshResult::NeedsReconnect(reason),
            RefreshOutcome::Transient { reason, .. } => RefreshResult::Transient(reason),
        }
    }

    async fn revoke_and_delete(
        &self,
        scope: AccountScope,
        account: &ConnectedAccount,
    ) -> Result<RevokeSummary, EngineError> {
        self.revoker
            .revoke_and_delete(scope, account.platform)
            .await
    }

    async fn retry_revokes(&self) -> Result<RevokePass, EngineError> {
        self.revoker.run_pass().await
    }

    async fn shred_workspace(&self, scope: WorkspaceScope) -> Result<(), EngineError> {
        self.revoker.shred_workspace(scope).await
    }
}
