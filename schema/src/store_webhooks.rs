//! Outbound webhooks in the store: endpoints (with their sealed signing secrets), the durable
//! outbox of messages (one per event and endpoint) with a time-bucketed due index, and the
//! attempt log. The engine's dispatcher is the only writer of messages and attempts.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{AccountId, Sealed, WebhookId, WorkspaceId};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};
use crate::store_erasure::PurgeProgress;

/// How long messages and attempts are kept after their last write (30 days).
pub const WEBHOOK_LOG_RETENTION_SECS: i64 = 30 * 24 * 3600;

/// A tenant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// The endpoint id (also the AAD owner of its sealed secrets).
    pub id: WebhookId,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives (`post.published`...).
    pub events: Vec<String>,
    /// A note from the owner.
    pub description: Option<String>,
    /// Whether deliveries are attempted.
    pub enabled: bool,
    /// Why it was disabled by the system (retries exhausted, 410 Gone), if it was.
    pub disabled_reason: Option<String>,
    /// The current signing secret, sealed with the workspace data key.
    pub secret: Sealed,
    /// The previous secret during a rotation overlap.
    pub previous_secret: Option<Sealed>,
    /// When the previous secret stops signing.
    pub previous_until: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookMessageState {
    /// Waiting for its next attempt at `next_attempt_at`.
    Pending,
    /// A 2xx was received.
    Delivered,
    /// Retries ran out, the endpoint answered 410, or the endpoint was disabled or deleted.
    Failed,
}

/// One event for one endpoint: the outbox row (a "delivery" in the public API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookMessage {
    /// The delivery id (UUIDv7).
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// The event id, stable across attempts and resends (`webhook-id`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The exact JSON body sent.
    pub payload: String,
    /// Where it stands.
    pub state: WebhookMessageState,
    /// Attempts made so far.
    pub num_attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// One HTTP attempt of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    /// The attempt id (UUIDv7, so newer attempts sort first).
    pub id: Uuid,
    /// The message.
    pub message_id: Uuid,
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// The event id.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// When it was sent.
    pub at: Timestamp,
    /// The HTTP status, when an answer came.
    pub status_code: Option<u16>,
    /// Time to the answer (or the failure), in milliseconds.
    pub latency_ms: u64,
    /// The start of the response body.
    pub response: Option<String>,
    /// A transport failure (timeout, refused, blocked target).
    pub error: Option<String>,
    /// When the next attempt is scheduled, if any.
    pub next_retry_at: Option<Timestamp>,
}

/// A due-index row: a message that needs an attempt at `due_at`. Rows are never deleted when a
/// message moves on; readers load the message and skip rows that no longer match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDueRef {
    /// When the attempt is due.
    pub due_at: Timestamp,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// The message.
    pub message_id: Uuid,
}

/// Webhook endpoints, the outbox and the attempt log.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Inserts or replaces an endpoint.
    async fn put_webhook(
        &self,
        scope: WorkspaceScope,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<()>;
    /// Reads an endpoint.
    async fn get_webhook(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// The workspace's endpoints, in id order.
    async fn list_webhooks(&self, scope: WorkspaceScope) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Deletes an endpoint (its messages and attempts expire with their retention).
    async fn delete_webhook(&self, scope: WorkspaceScope, id: WebhookId) -> StoreResult<()>;
    /// Inserts or replaces a message; a pending one also gets a due-index row for
    /// `next_attempt_at`, written in the same batch.
    async fn put_webhook_message(
        &self,
        scope: WorkspaceScope,
        message: &WebhookMessage,
    ) -> StoreResult<()>;
    /// Reads a message.
    async fn get_webhook_message(
        &self,
        scope: WorkspaceScope,
        endpoint_id: WebhookId,
        id: Uuid,
    ) -> StoreResult<Option<WebhookMessage>>;
    /// The due-index rows of one hour bucket (see [`crate::hour_bucket`]), in due order, paged.
    async fn webhook_due_in_bucket(
        &self,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookDueRef>>;
    /// Up to `limit` due-index rows of one hour bucket that come after `after` (a row's
    /// `(due_at, message_id)`, exclusive) and are due at or before `until`, in due order: the
    /// dispatcher's incremental read, which costs only the rows it has not seen yet.
    async fn webhook_due_between(
        &self,
        bucket: i64,
        after: Option<(Timestamp, Uuid)>,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDueRef>>;
    /// Appends an attempt to the endpoint's log.
    async fn put_webhook_attempt(
        &self,
        scope: WorkspaceScope,
        attempt: &WebhookAttempt,
    ) -> StoreResult<()>;
    /// The endpoint's attempts, newest first, paged.
    async fn list_webhook_attempts(
        &self,
        scope: WorkspaceScope,
        endpoint_id: WebhookId,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookAttempt>>;
    /// Records which workspace and account a publishing-partner account id belongs to, so an
    /// inbound partner webhook can be routed.
    async fn put_partner_account_ref(
        &self,
        partner_account_id: &str,
        workspace_id: WorkspaceId,
        account_id: AccountId,
    ) -> StoreResult<()>;
    /// The workspace and account of a partner account id.
    async fn get_partner_account_ref(
        &self,
        partner_account_id: &str,
    ) -> StoreResult<Option<(WorkspaceId, AccountId)>>;
    /// Forgets a partner account id's route (erasure).
    async fn delete_partner_account_ref(&self, partner_account_id: &str) -> StoreResult<()>;
    /// Deletes up to about `max_rows` of an erased workspace's webhook rows: every endpoint's
    /// outbox (with the due-index row of each pending message) and attempt log, then the
    /// endpoint. Call again until [`PurgeProgress::done`]; idempotent. Older due-index rows
    /// hold only ids and expire with their retention.
    async fn purge_webhooks(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress>;
}

/// The ordered keys of the webhook tables (shared by both backends' cursors).
pub(crate) mod key {
    use tenants::{WebhookId, WorkspaceId};
    use uuid::Uuid;

    use crate::keys::KeyBuf;

    /// `webhook_endpoints((workspace_id), endpoint_id)`.
    pub(crate) fn endpoint(ws: WorkspaceId, id: WebhookId) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).uuid(id.as_uuid()).done()
    }
    /// The partition prefix of a workspace's endpoints.
    pub(crate) fn endpoints_part(ws: WorkspaceId) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).done()
    }
    /// The partition prefix of an endpoint's messages and attempts.
    pub(crate) fn endpoint_part(ws: WorkspaceId, id: WebhookId) -> Vec<u8> {
        endpoint(ws, id)
    }
    /// `webhook_messages((workspace_id, endpoint_id), message_id)`.
    pub(crate) fn message(ws: WorkspaceId, endpoint: WebhookId, id: Uuid) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(endpoint.as_uuid())
            .uuid(id)
            .done()
    }
    /// `webhook_attempts((workspace_id, endpoint_id), attempt_id DESC)`.
    pub(crate) fn attempt(ws: WorkspaceId, endpoint: WebhookId, id: Uuid) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(endpoint.as_uuid())
            .uuid_desc(id)
            .done()
    }
    /// The partition prefix of `webhook_due`.
    pub(crate) fn due_part(hour: i64) -> Vec<u8> {
        KeyBuf::new().i64(hour).done()
    }
    /// `partner_account_refs((partner_account_id))`.
    pub(crate) fn partner_account(id: &str) -> Vec<u8> {
        KeyBuf::new().str(id).done()
    }
    /// `webhook_due((hour), due_at_ns, message_id)`.
    pub(crate) fn due(hour: i64, due_ns: i64, message: Uuid) -> Vec<u8> {
        KeyBuf::new().i64(hour).i64(due_ns).uuid(message).done()
    }
}
