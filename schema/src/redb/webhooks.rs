//! Outbound webhooks on the embedded store: endpoints, the outbox with its hour-bucketed due
//! index, and the attempt log. Messages, attempts and index rows carry an emulated expiry.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tenants::{AccountId, WebhookId, WorkspaceId};
use uuid::Uuid;

use super::RedbStore;
use super::access::Lookup;
use super::tables::{
    PARTNER_ACCOUNT_REFS, WEBHOOK_ATTEMPTS, WEBHOOK_DUE, WEBHOOK_ENDPOINTS, WEBHOOK_MESSAGES,
};
use super::writer::Outcome;
use crate::error::StoreResult;
use crate::layout::{check_scope, decode, encode, nanos};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest, hour_bucket};
use crate::store_erasure::PurgeProgress;
use crate::store_webhooks::{
    WEBHOOK_LOG_RETENTION_SECS, WebhookAttempt, WebhookDueRef, WebhookEndpoint, WebhookMessage,
    WebhookMessageState, WebhookStore, key,
};

/// A row with its emulated expiry.
#[derive(Debug, Serialize, Deserialize)]
struct Timed<T> {
    #[serde(flatten)]
    row: T,
    expires_at: Timestamp,
}

fn retention_end(now: Timestamp) -> Timestamp {
    now + SignedDuration::from_secs(WEBHOOK_LOG_RETENTION_SECS)
}

#[async_trait]
impl WebhookStore for RedbStore {
    async fn put_webhook(
        &self,
        scope: WorkspaceScope,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<()> {
        check_scope(
            WEBHOOK_ENDPOINTS,
            scope.workspace_id(),
            endpoint.workspace_id,
        )?;
        let k = key::endpoint(endpoint.workspace_id, endpoint.id);
        let v = encode(WEBHOOK_ENDPOINTS, endpoint)?;
        self.write_done(Box::new(move |tx| {
            tx.put(WEBHOOK_ENDPOINTS, k, v);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_webhook(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let k = key::endpoint(scope.workspace_id(), id);
        self.read(move |r| r.get_json(WEBHOOK_ENDPOINTS, &k)).await
    }

    async fn list_webhooks(&self, scope: WorkspaceScope) -> StoreResult<Vec<WebhookEndpoint>> {
        let prefix = key::endpoints_part(scope.workspace_id());
        self.read(move |r| r.all(WEBHOOK_ENDPOINTS, &prefix)).await
    }

    async fn delete_webhook(&self, scope: WorkspaceScope, id: WebhookId) -> StoreResult<()> {
        let k = key::endpoint(scope.workspace_id(), id);
        self.write_done(Box::new(move |tx| {
            tx.delete(WEBHOOK_ENDPOINTS, k);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn put_webhook_message(
        &self,
        scope: WorkspaceScope,
        message: &WebhookMessage,
    ) -> StoreResult<()> {
        check_scope(WEBHOOK_MESSAGES, scope.workspace_id(), message.workspace_id)?;
        let now = Timestamp::now();
        let k = key::message(message.workspace_id, message.endpoint_id, message.id);
        let v = encode(
            WEBHOOK_MESSAGES,
            &Timed {
                row: message,
                expires_at: retention_end(now),
            },
        )?;
        let due = match (message.state, message.next_attempt_at) {
            (WebhookMessageState::Pending, Some(at)) => {
                let row = WebhookDueRef {
                    due_at: at,
                    workspace_id: message.workspace_id,
                    endpoint_id: message.endpoint_id,
                    message_id: message.id,
                };
                let dk = key::due(hour_bucket(at), nanos(at)?, message.id);
                let expires_at = retention_end(now.max(at));
                Some((dk, encode(WEBHOOK_DUE, &Timed { row, expires_at })?))
            }
            _ => None,
        };
        self.write_done(Box::new(move |tx| {
            if let Some((dk, dv)) = due {
                tx.put(WEBHOOK_DUE, dk, dv);
            }
            tx.put(WEBHOOK_MESSAGES, k, v);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_webhook_message(
        &self,
        scope: WorkspaceScope,
        endpoint_id: WebhookId,
        id: Uuid,
    ) -> StoreResult<Option<WebhookMessage>> {
        let k = key::message(scope.workspace_id(), endpoint_id, id);
        let now = Timestamp::now();
        let row: Option<Timed<WebhookMessage>> =
            self.read(move |r| r.get_json(WEBHOOK_MESSAGES, &k)).await?;
        Ok(row.filter(|t| t.expires_at > now).map(|t| t.row))
    }

    async fn webhook_due_in_bucket(
        &self,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookDueRef>> {
        let prefix = key::due_part(bucket);
        let now = Timestamp::now();
        self.read(move |r| {
            r.page(WEBHOOK_DUE, &prefix, &page, |_, v| {
                let t: Timed<WebhookDueRef> = decode(WEBHOOK_DUE, v)?;
                Ok((t.expires_at > now).then_some(t.row))
            })
        })
        .await
    }

    async fn webhook_due_between(
        &self,
        bucket: i64,
        after: Option<(Timestamp, Uuid)>,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDueRef>> {
        let prefix = key::due_part(bucket);
        let after = after
            .map(|(at, id)| Ok::<_, crate::error::StoreError>(key::due(bucket, nanos(at)?, id)))
            .transpose()?;
        let limit = limit.max(1);
        let now = Timestamp::now();
        self.read(move |r| {
            let mut out = Vec::new();
            r.scan_from(WEBHOOK_DUE, &prefix, after.as_deref(), &mut |_, v| {
                let t: Timed<WebhookDueRef> = decode(WEBHOOK_DUE, v)?;
                if t.row.due_at > until {
                    return Ok(false);
                }
                if t.expires_at > now {
                    out.push(t.row);
                }
                Ok(out.len() < limit)
            })?;
            Ok(out)
        })
        .await
    }

    async fn put_webhook_attempt(
        &self,
        scope: WorkspaceScope,
        attempt: &WebhookAttempt,
    ) -> StoreResult<()> {
        let k = key::attempt(scope.workspace_id(), attempt.endpoint_id, attempt.id);
        let v = encode(
            WEBHOOK_ATTEMPTS,
            &Timed {
                row: attempt,
                expires_at: retention_end(Timestamp::now()),
            },
        )?;
        self.write_done(Box::new(move |tx| {
            tx.put(WEBHOOK_ATTEMPTS, k, v);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_webhook_attempts(
        &self,
        scope: WorkspaceScope,
        endpoint_id: WebhookId,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookAttempt>> {
        let prefix = key::endpoint_part(scope.workspace_id(), endpoint_id);
        let now = Timestamp::now();
        self.read(move |r| {
            r.page(WEBHOOK_ATTEMPTS, &prefix, &page, |_, v| {
                let t: Timed<WebhookAttempt> = decode(WEBHOOK_ATTEMPTS, v)?;
                Ok((t.expires_at > now).then_some(t.row))
            })
        })
        .await
    }

    async fn put_partner_account_ref(
        &self,
        partner_account_id: &str,
        workspace_id: WorkspaceId,
        account_id: AccountId,
    ) -> StoreResult<()> {
        let k = key::partner_account(partner_account_id);
        let v = encode(PARTNER_ACCOUNT_REFS, &(workspace_id, account_id))?;
        self.write_done(Box::new(move |tx| {
            tx.put(PARTNER_ACCOUNT_REFS, k, v);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_partner_account_ref(
        &self,
        partner_account_id: &str,
    ) -> StoreResult<Option<(WorkspaceId, AccountId)>> {
        let k = key::partner_account(partner_account_id);
        self.read(move |r| r.get_json(PARTNER_ACCOUNT_REFS, &k))
            .await
    }

    async fn delete_partner_account_ref(&self, partner_account_id: &str) -> StoreResult<()> {
        let k = key::partner_account(partner_account_id);
        self.write_done(Box::new(move |tx| {
            tx.delete(PARTNER_ACCOUNT_REFS, k);
            Ok(Outcome::Done)
        }))
        .await
    }

    /// One write plan: the outbox (each pending message with its current due row), the attempt
    /// log, then the endpoints, all found by the workspace key prefix.
    async fn purge_webhooks(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let prefix = key::endpoints_part(scope.workspace_id());
        let budget = max_rows.max(1);
        self.purge_rows(budget, move |tx, doomed| {
            tx.scan_from(WEBHOOK_MESSAGES, &prefix, None, &mut |k, v| {
                let t: Timed<WebhookMessage> = decode(WEBHOOK_MESSAGES, v)?;
                if let (WebhookMessageState::Pending, Some(at)) =
                    (t.row.state, t.row.next_attempt_at)
                {
                    doomed.push((WEBHOOK_DUE, key::due(hour_bucket(at), nanos(at)?, t.row.id)));
                }
                doomed.push((WEBHOOK_MESSAGES, k.to_vec()));
                Ok(doomed.len() < budget)
            })?;
            for table in [WEBHOOK_ATTEMPTS, WEBHOOK_ENDPOINTS] {
                if doomed.len() < budget {
                    tx.scan_from(table, &prefix, None, &mut |k, _| {
                        doomed.push((table, k.to_vec()));
                        Ok(doomed.len() < budget)
                    })?;
                }
            }
            Ok(())
        })
        .await
    }
}
