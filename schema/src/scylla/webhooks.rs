//! Outbound webhooks on ScyllaDB: endpoints, the outbox with its hour-bucketed due index (TTL,
//! never deleted), and the attempt log (TTL).

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};
use tenants::{AccountId, WebhookId, WorkspaceId};
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, ScyllaStore, body_text, errors, part};
use crate::cursor::{self, PageBuilder};
use crate::error::StoreResult;
use crate::keys::KeyReader;
use crate::layout::{check_scope, decode, from_nanos, nanos, page_limit};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest, hour_bucket};
use crate::store_erasure::PurgeProgress;
use crate::store_webhooks::{
    WEBHOOK_LOG_RETENTION_SECS, WebhookAttempt, WebhookDueRef, WebhookEndpoint, WebhookMessage,
    WebhookMessageState, WebhookStore, key,
};

pub(crate) const PUT_WEBHOOK: &str =
    "INSERT INTO webhook_endpoints (workspace_id, endpoint_id, body) VALUES (?, ?, ?)";
pub(crate) const GET_WEBHOOK: &str =
    "SELECT body FROM webhook_endpoints WHERE workspace_id = ? AND endpoint_id = ?";
pub(crate) const LIST_WEBHOOKS: &str = "SELECT body FROM webhook_endpoints WHERE workspace_id = ?";
pub(crate) const DELETE_WEBHOOK: &str =
    "DELETE FROM webhook_endpoints WHERE workspace_id = ? AND endpoint_id = ?";
pub(crate) const PUT_WEBHOOK_MESSAGE: &str = "INSERT INTO webhook_messages \
    (workspace_id, endpoint_id, message_id, body) VALUES (?, ?, ?, ?) USING TTL ?";
pub(crate) const GET_WEBHOOK_MESSAGE: &str = "SELECT body FROM webhook_messages \
    WHERE workspace_id = ? AND endpoint_id = ? AND message_id = ?";
pub(crate) const PUT_WEBHOOK_DUE: &str = "INSERT INTO webhook_due \
    (hour, due_at_ns, message_id, workspace_id, endpoint_id) VALUES (?, ?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_WEBHOOK_DUE: &str = "SELECT due_at_ns, message_id, workspace_id, endpoint_id \
    FROM webhook_due WHERE hour = ? AND (due_at_ns, message_id) > (?, ?)";
pub(crate) const LIST_WEBHOOK_DUE_BETWEEN: &str = "SELECT due_at_ns, message_id, workspace_id, \
    endpoint_id FROM webhook_due WHERE hour = ? AND (due_at_ns, message_id) > (?, ?) \
    AND (due_at_ns, message_id) <= (?, ?) LIMIT ?";
pub(crate) const PUT_WEBHOOK_ATTEMPT: &str = "INSERT INTO webhook_attempts \
    (workspace_id, endpoint_id, attempt_id, body) VALUES (?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_WEBHOOK_ATTEMPTS: &str = "SELECT attempt_id, body FROM webhook_attempts \
    WHERE workspace_id = ? AND endpoint_id = ? AND attempt_id < ?";

pub(crate) const PUT_PARTNER_ACCOUNT_REF: &str = "INSERT INTO partner_account_refs \
    (partner_account_id, workspace_id, account_id) VALUES (?, ?, ?)";
pub(crate) const GET_PARTNER_ACCOUNT_REF: &str = "SELECT workspace_id, account_id \
    FROM partner_account_refs WHERE partner_account_id = ?";

pub(crate) const DELETE_PARTNER_ACCOUNT_REF: &str =
    "DELETE FROM partner_account_refs WHERE partner_account_id = ?";
pub(crate) const PURGE_WEBHOOK_MESSAGES: &str =
    "SELECT body FROM webhook_messages WHERE workspace_id = ? AND endpoint_id = ?";
pub(crate) const DELETE_WEBHOOK_DUE: &str =
    "DELETE FROM webhook_due WHERE hour = ? AND due_at_ns = ? AND message_id = ?";
pub(crate) const DELETE_WEBHOOK_MESSAGES: &str =
    "DELETE FROM webhook_messages WHERE workspace_id = ? AND endpoint_id = ?";
pub(crate) const DELETE_WEBHOOK_ATTEMPTS: &str =
    "DELETE FROM webhook_attempts WHERE workspace_id = ? AND endpoint_id = ?";

const TTL_SECS: i32 = WEBHOOK_LOG_RETENTION_SECS as i32;

#[async_trait]
impl WebhookStore for ScyllaStore {
    async fn put_webhook(
        &self,
        scope: WorkspaceScope,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<()> {
        check_scope(
            "webhook_endpoints",
            scope.workspace_id(),
            endpoint.workspace_id,
        )?;
        let values = (
            endpoint.workspace_id.as_uuid(),
            endpoint.id.as_uuid(),
            body_text("webhook_endpoints", endpoint)?,
        );
        self.write(&self.st.put_webhook, values).await
    }

    async fn get_webhook(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let values = (scope.workspace_id().as_uuid(), id.as_uuid());
        self.body("webhook_endpoints", &self.st.get_webhook, values)
            .await
    }

    async fn list_webhooks(&self, scope: WorkspaceScope) -> StoreResult<Vec<WebhookEndpoint>> {
        let values = (scope.workspace_id().as_uuid(),);
        self.bodies("webhook_endpoints", &self.st.list_webhooks, values)
            .await
    }

    async fn delete_webhook(&self, scope: WorkspaceScope, id: WebhookId) -> StoreResult<()> {
        let values = (scope.workspace_id().as_uuid(), id.as_uuid());
        self.write(&self.st.delete_webhook, values).await
    }

    /// The index row is written in the same logged batch as the message.
    async fn put_webhook_message(
        &self,
        scope: WorkspaceScope,
        message: &WebhookMessage,
    ) -> StoreResult<()> {
        check_scope(
            "webhook_messages",
            scope.workspace_id(),
            message.workspace_id,
        )?;
        let (ws, endpoint) = (
            message.workspace_id.as_uuid(),
            message.endpoint_id.as_uuid(),
        );
        let mut parts = Vec::new();
        if let (WebhookMessageState::Pending, Some(at)) = (message.state, message.next_attempt_at) {
            let ahead = at
                .duration_since(Timestamp::now())
                .max(SignedDuration::ZERO);
            let ttl = TTL_SECS.saturating_add(i32::try_from(ahead.as_secs()).unwrap_or(i32::MAX));
            parts.push(part(
                &self.st.put_webhook_due,
                (hour_bucket(at), nanos(at)?, message.id, ws, endpoint, ttl),
            ));
        }
        parts.push(part(
            &self.st.put_webhook_message,
            (
                ws,
                endpoint,
                message.id,
                body_text("webhook_messages", message)?,
                TTL_SECS,
            ),
        ));
        self.batch(parts).await
    }

    async fn get_webhook_message(
        &self,
        scope: WorkspaceScope,
        endpoint_id: WebhookId,
        id: Uuid,
    ) -> StoreResult<Option<WebhookMessage>> {
        let values = (scope.workspace_id().as_uuid(), endpoint_id.as_uuid(), id);
        self.body("webhook_messages", &self.st.get_webhook_message, values)
            .await
    }

    async fn webhook_due_in_bucket(
        &self,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookDueRef>> {
        let prefix = key::due_part(bucket);
        let (after_ns, after_id) = super::due_cursor(page.cursor.as_deref(), &prefix)?;
        let limit = page_limit(page.limit);
        let size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let mut rows = self
            .stream::<(i64, Uuid, Uuid, Uuid)>(
                "webhook_due",
                &self.st.list_webhook_due,
                (bucket, after_ns, after_id),
                size,
            )
            .await?;
        let mut out = PageBuilder::new(limit);
        while let Some((due_ns, message, ws, endpoint)) =
            rows.try_next().await.map_err(errors::next_row)?
        {
            let row = WebhookDueRef {
                due_at: from_nanos("webhook_due", due_ns)?,
                workspace_id: WorkspaceId(ws),
                endpoint_id: WebhookId(endpoint),
                message_id: message,
            };
            if !out.offer(&key::due(bucket, due_ns, message), Some(row)) {
                break;
            }
        }
        Ok(out.finish())
    }

    async fn webhook_due_between(
        &self,
        bucket: i64,
        after: Option<(Timestamp, Uuid)>,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDueRef>> {
        let (after_ns, after_id) = match after {
            Some((at, id)) => (nanos(at)?, id),
            None => (i64::MIN, Uuid::nil()),
        };
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let mut rows = self
            .stream::<(i64, Uuid, Uuid, Uuid)>(
                "webhook_due",
                &self.st.list_webhook_due_between,
                (
                    bucket,
                    after_ns,
                    after_id,
                    nanos(until)?,
                    Uuid::max(),
                    limit,
                ),
                limit,
            )
            .await?;
        let mut out = Vec::new();
        while let Some((due_ns, message, ws, endpoint)) =
            rows.try_next().await.map_err(errors::next_row)?
        {
            out.push(WebhookDueRef {
                due_at: from_nanos("webhook_due", due_ns)?,
                workspace_id: WorkspaceId(ws),
                endpoint_id: WebhookId(endpoint),
                message_id: message,
            });
        }
        Ok(out)
    }

    async fn put_webhook_attempt(
        &self,
        scope: WorkspaceScope,
        attempt: &WebhookAttempt,
    ) -> StoreResult<()> {
        let values = (
            scope.workspace_id().as_uuid(),
            attempt.endpoint_id.as_uuid(),
            attempt.id,
            body_text("webhook_attempts", attempt)?,
            TTL_SECS,
        );
        self.write(&self.st.put_webhook_attempt, values).await
    }

    async fn list_webhook_attempts(
        &self,
        scope: WorkspaceScope,
        endpoint_id: WebhookId,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookAttempt>> {
        let (ws, endpoint) = (scope.workspace_id(), endpoint_id);
        let prefix = key::endpoint_part(ws, endpoint);
        let before = match &page.cursor {
            Some(c) => {
                let k = cursor::decode(c, &prefix)?;
                let mut r = KeyReader::new(&k[prefix.len()..]);
                let id = r.uuid_desc()?;
                r.end()?;
                id
            }
            None => Uuid::max(),
        };
        let limit = page_limit(page.limit);
        let size = i32::try_from(limit + 1).unwrap_or(DEFAULT_PAGE_SIZE);
        let mut rows = self
            .stream::<(Uuid, String)>(
                "webhook_attempts",
                &self.st.list_webhook_attempts,
                (ws.as_uuid(), endpoint.as_uuid(), before),
                size,
            )
            .await?;
        let mut out = PageBuilder::new(limit);
        while let Some((id, body)) = rows.try_next().await.map_err(errors::next_row)? {
            let item: WebhookAttempt = decode("webhook_attempts", body.as_bytes())?;
            if !out.offer(&key::attempt(ws, endpoint, id), Some(item)) {
                break;
            }
        }
        Ok(out.finish())
    }

    async fn put_partner_account_ref(
        &self,
        partner_account_id: &str,
        workspace_id: WorkspaceId,
        account_id: AccountId,
    ) -> StoreResult<()> {
        let values = (
            partner_account_id,
            workspace_id.as_uuid(),
            account_id.as_uuid(),
        );
        self.write(&self.st.put_partner_account_ref, values).await
    }

    async fn get_partner_account_ref(
        &self,
        partner_account_id: &str,
    ) -> StoreResult<Option<(WorkspaceId, AccountId)>> {
        let row = self
            .one::<(Uuid, Uuid)>(
                "partner_account_refs",
                &self.st.get_partner_account_ref,
                (partner_account_id,),
            )
            .await?;
        Ok(row.map(|(ws, account)| (WorkspaceId(ws), AccountId(account))))
    }

    async fn delete_partner_account_ref(&self, partner_account_id: &str) -> StoreResult<()> {
        self.write(&self.st.delete_partner_account_ref, (partner_account_id,))
            .await
    }

    /// Endpoint by endpoint: reads the outbox partition for the due rows of pending messages,
    /// then deletes those rows, the outbox and attempt partitions and the endpoint.
    async fn purge_webhooks(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let ws = scope.workspace_id().as_uuid();
        let mut num_deleted = 0u64;
        for endpoint in self.list_webhooks(scope).await? {
            if num_deleted >= max_rows.max(1) as u64 {
                return Ok(PurgeProgress {
                    num_deleted,
                    done: false,
                });
            }
            let id = endpoint.id.as_uuid();
            let mut parts = Vec::new();
            let mut rows = self
                .stream::<(String,)>(
                    "webhook_messages",
                    &self.st.purge_webhook_messages,
                    (ws, id),
                    DEFAULT_PAGE_SIZE,
                )
                .await?;
            while let Some((body,)) = rows.try_next().await.map_err(errors::next_row)? {
                let m: WebhookMessage = decode("webhook_messages", body.as_bytes())?;
                num_deleted += 1;
                if let (WebhookMessageState::Pending, Some(at)) = (m.state, m.next_attempt_at) {
                    parts.push(part(
                        &self.st.delete_webhook_due,
                        (hour_bucket(at), nanos(at)?, m.id),
                    ));
                }
            }
            parts.push(part(&self.st.delete_webhook_messages, (ws, id)));
            parts.push(part(&self.st.delete_webhook_attempts, (ws, id)));
            parts.push(part(&self.st.delete_webhook, (ws, id)));
            num_deleted += 3;
            self.batch(parts).await?;
        }
        Ok(PurgeProgress {
            num_deleted,
            done: true,
        })
    }
}
