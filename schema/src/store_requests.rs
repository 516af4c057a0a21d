//! What a request needs beyond the data it acts on: idempotency records for the public API and
//! browser sessions.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{Session, UserId};

use crate::error::StoreResult;

/// The stored outcome of an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// SHA-256 of the request (method, route, body).
    pub fingerprint: String,
    /// `None` while the first request is in flight.
    pub response: Option<StoredResponse>,
    /// When the record stops counting.
    pub expires_at: Timestamp,
}

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Content type.
    pub content_type: String,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key was free and is now held by this request.
    Claimed,
    /// The key is held: in flight or done. The caller compares fingerprints.
    Existing(IdempotencyRecord),
}

/// Idempotency records for the public API.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` (already namespaced by the caller) if it is free or expired.
    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<IdempotencyClaim>;
    /// Stores the final response for a claimed key.
    async fn complete_idempotency(&self, key: &str, response: &StoredResponse) -> StoreResult<()>;
    /// Releases a claim whose request did not complete, so it can be retried.
    async fn release_idempotency(&self, key: &str) -> StoreResult<()>;
}

/// Browser sessions (hashed ids only).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a session under its id hash.
    async fn put_session(&self, session: &Session) -> StoreResult<()>;
    /// Reads a session by id hash; expired sessions are not returned.
    async fn get_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<Session>>;
    /// Deletes one session (logout).
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Deletes every session of a user (erasure, security).
    async fn delete_sessions_of_user(&self, user_id: UserId) -> StoreResult<()>;
}
