//! The ports through which actors reach the outside world: the publishing partner and the
//! account's credentials. The engine's actors depend on these traits only; [`crate::adapters`]
//! implements them over the partner clients and the token vault, and tests may substitute fakes.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use schema::{AccountScope, WorkspaceScope};
use secrecy::SecretString;
use tenants::ConnectedAccount;

use crate::api::TokenGrant;
use crate::error::EngineError;
use crate::revoke::{RevokePass, RevokeSummary};

/// What the partner says about one post on one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerStatus {
    /// The platform has it.
    Published {
        /// The platform's post id.
        platform_post_id: String,
        /// When it went live.
        published_at: Timestamp,
    },
    /// Accepted by the partner, not yet on the platform.
    Pending,
    /// The platform refused it.
    Failed {
        /// Stable code.
        code: String,
        /// Human explanation.
        message: String,
    },
}

/// A post as the partner knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerPost {
    /// The partner's post id.
    pub partner_post_id: String,
    /// Its status on the target account.
    pub status: PartnerStatus,
}

/// What a publish needs.
#[derive(Debug)]
pub struct PublishRequest {
    /// Sent as `Idempotency-Key` on every attempt.
    pub idempotency_key: String,
    /// The partner's id of the target account.
    pub partner_account_id: String,
    /// The caption for this platform.
    pub caption: String,
    /// Public media URLs.
    pub media_urls: Vec<String>,
    /// The account's current platform access token.
    pub access_token: SecretString,
}

/// Why a partner call did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerError {
    /// The partner proved it did not accept the post.
    NotAccepted {
        /// Whether trying again (same key) may succeed: 429, 5xx, connection refused.
        retryable: bool,
        /// The partner's `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// Whether this was a rate limit (429).
        rate_limited: bool,
        /// Stable code.
        code: String,
        /// Human explanation.
        message: String,
    },
    /// The platform token was refused; nothing was published.
    TokenRejected,
    /// The request may or may not have been applied (timeout after sending, reset).
    Unknown(String),
}

/// What the partner's rate-limit headers last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHint {
    /// Calls left in the window.
    pub remaining: u64,
    /// When the window resets.
    pub reset_at: Timestamp,
}

/// The publishing partner, as the pipeline needs it.
#[async_trait]
pub trait Partner: Send + Sync + std::fmt::Debug {
    /// Publishes one post to one account under `req.idempotency_key`.
    ///
    /// # Errors
    /// [`PartnerError`] says what is proven about the outcome.
    async fn publish(&self, req: PublishRequest) -> Result<PartnerPost, PartnerError>;
    /// Reads a post by the partner's id; `Ok(None)` when the partner has no such post.
    ///
    /// # Errors
    /// [`PartnerError`] when the partner could not answer.
    async fn get_post(&self, partner_post_id: &str) -> Result<Option<PartnerPost>, PartnerError>;
    /// Finds the post created under an idempotency key; `Ok(None)` proves there is none.
    ///
    /// # Errors
    /// [`PartnerError`] when the partner could not answer.
    async fn find_by_idempotency_key(&self, key: &str)
    -> Result<Option<PartnerPost>, PartnerError>;
    /// The last rate-limit headers seen, if any.
    fn rate_hint(&self) -> Option<RateHint>;
}

/// A usable platform access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token.
    pub token: SecretString,
    /// When it expires, if known.
    pub expires_at: Option<Timestamp>,
}

/// The result of a refresh attempt.
#[derive(Debug, Clone)]
pub enum RefreshResult {
    /// New tokens were persisted; this is the new access token.
    Refreshed(AccessToken),
    /// The platform refused the grant (`invalid_grant`): a person must reconnect.
    NeedsReconnect(String),
    /// Try again later; nothing changed.
    Transient(String),
}

/// An account's credentials: sealed in the vault, refreshed at the platform.
#[async_trait]
pub trait Credentials: Send + Sync + std::fmt::Debug {
    /// Creates the workspace's data key if it has none.
    ///
    /// # Errors
    /// [`EngineError::Vault`] or [`EngineError::Store`].
    async fn ensure_data_key(&self, scope: WorkspaceScope) -> Result<(), EngineError>;
    /// Seals and stores a fresh grant.
    ///
    /// # Errors
    /// [`EngineError::Vault`] or [`EngineError::Store`].
    async fn store_grant(
        &self,
        scope: AccountScope,
        grant: TokenGrant,
    ) -> Result<AccessToken, EngineError>;
    /// Opens the stored access token.
    ///
    /// # Errors
    /// [`EngineError::Vault`] or [`EngineError::Store`].
    async fn access_token(&self, scope: AccountScope) -> Result<Option<AccessToken>, EngineError>;
    /// When the access token should be refreshed (ahead of expiry, with jitter).
    fn next_refresh_at(&self, expires_at: Timestamp, now: Timestamp) -> Timestamp;
    /// Refreshes the tokens, persisting the new ones before returning them.
    async fn refresh(&self, scope: AccountScope, account: &ConnectedAccount) -> RefreshResult;
    /// Deletes the tokens at once and revokes them at the platform; revocations that fail are
    /// queued durably and retried by [`Credentials::retry_revokes`].
    ///
    /// # Errors
    /// [`EngineError::Vault`] or [`EngineError::Store`].
    async fn revoke_and_delete(
        &self,
        scope: AccountScope,
        account: &ConnectedAccount,
    ) -> Result<RevokeSummary, EngineError>;
    /// Retries every queued revocation that is due.
    ///
    /// # Errors
    /// [`EngineError::Store`].
    async fn retry_revokes(&self) -> Result<RevokePass, EngineError>;
    /// Crypto-shreds a workspace: deletes its data key, so none of its sealed tokens (stored or
    /// queued for revocation) can be opened again.
    ///
    /// # Errors
    /// [`EngineError::Vault`] or [`EngineError::Store`].
    async fn shred_workspace(&self, scope: WorkspaceScope) -> Result<(), EngineError>;
}
