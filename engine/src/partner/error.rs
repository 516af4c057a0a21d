//! Errors of the partner clients. [`PublishError`] separates exactly the cases the publish
//! pipeline must treat differently (proven not published / token refused / outcome unknown);
//! [`PartnerError`] covers the publishing partner's read and cancel calls; [`OAuthError`] the
//! platform token endpoints. None of them ever carries a token or an API key.

use std::time::Duration;

use tenants::Platform;

/// Why a publish call did not return an accepted post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The partner did not accept the post: nothing was published. `retryable` says whether the
    /// same request (same idempotency key) may be sent again later.
    #[error("partner did not accept the post ({code}): {message}")]
    NotAccepted {
        /// Whether a later retry may succeed (429, 5xx, connection never made).
        retryable: bool,
        /// How long the partner asked us to wait, from `Retry-After`.
        retry_after: Option<Duration>,
        /// A short machine code: the partner's error code, or `http_<status>`, `connect`.
        code: String,
        /// Text a person can act on.
        message: String,
    },
    /// The platform access token handed to the partner was refused (expired, revoked or
    /// unknown): refresh it, or ask for a reconnect. Nothing was published.
    #[error("partner refused the platform token ({code})")]
    TokenRejected {
        /// `token_expired`, `token_invalid` or the partner's equivalent.
        code: String,
    },
    /// The request was sent but no usable answer came back (read timeout, connection reset,
    /// truncated or unreadable body). The post may exist: reconcile by idempotency key, never
    /// retry blind.
    #[error("publish outcome unknown: {message}")]
    Unknown {
        /// What went wrong on the wire.
        message: String,
    },
}

impl PublishError {
    /// Whether the error proves nothing was published and a retry with the same key may work.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PublishError::NotAccepted {
                retryable: true,
                ..
            }
        )
    }
}

/// Why a read or cancel call to the publishing partner failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartnerError {
    /// The client could not be built (bad base URL, TLS setup).
    #[error("invalid partner client config: {0}")]
    Config(String),
    /// The partner refused our API key (401).
    #[error("partner refused the api key")]
    Unauthorized,
    /// The post or account does not exist at the partner (404).
    #[error("not found at partner")]
    NotFound,
    /// Too many requests (429); wait `retry_after` if given.
    #[error("partner rate limit hit")]
    RateLimited {
        /// From `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The partner refused the request (other 4xx).
    #[error("partner refused the request with {status} ({code})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The partner's error code or `http_<status>`.
        code: String,
        /// The partner's text, if any.
        message: Option<String>,
    },
    /// The partner is unreachable or failing (5xx, timeout, connection); try again later.
    #[error("partner unavailable: {0}")]
    Unavailable(String),
    /// The partner answered with a body we cannot read.
    #[error("unreadable partner response: {0}")]
    Decode(String),
}

/// Why a platform OAuth call (code exchange, refresh, revoke) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// No endpoints are configured for this platform.
    #[error("no oauth endpoints configured for {0}")]
    NotConfigured(Platform),
    /// The client could not be built (bad URL, TLS setup).
    #[error("invalid oauth client config: {0}")]
    Config(String),
    /// The grant is dead (`invalid_grant` or a platform equivalent): the refresh token was
    /// revoked, reused or expired, or the code was bad. Only a person reconnecting fixes it.
    #[error("the platform refused the grant ({code})")]
    InvalidGrant {
        /// The platform's error code.
        code: String,
    },
    /// The platform refused the request for another reason (for example `invalid_client`):
    /// a configuration problem on our side, not a dead grant.
    #[error("the platform refused the request with {status} ({code})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The platform's error code or `http_<status>`.
        code: String,
    },
    /// The platform has no revocation endpoint configured.
    #[error("{0} has no token revocation endpoint")]
    RevokeUnsupported(Platform),
    /// A temporary failure (5xx, 429, timeout, connection): try again later.
    #[error("temporary oauth failure: {message}")]
    Transient {
        /// What went wrong.
        message: String,
        /// From `Retry-After`, if the platform sent one.
        retry_after: Option<Duration>,
    },
    /// The platform answered 2xx with a body we cannot read (for example no `access_token`).
    #[error("unreadable token response: {0}")]
    Decode(String),
}

/// The errors of [`crate::partner::PlatformOAuthClient::refresh`].
pub type RefreshError = OAuthError;

/// The errors of [`crate::partner::PlatformOAuthClient::revoke`].
pub type RevokeError = OAuthError;
