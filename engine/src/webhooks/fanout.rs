//! Fan-out: turns a logged engine event into one envelope `{id, type, timestamp, workspace_id,
//! data}` and writes one outbox message per enabled endpoint subscribed to its type. The event
//! id comes from the durable event log ([`schema::EventLogStore`]) and stays the same across
//! endpoints, attempts, resends and restarts; each outbox message id is derived from the event
//! and the endpoint, so fanning an event out twice (after a crash) writes nothing new.
//! The log is read by cursor in [`super::feed`].

use jiff::Timestamp;
use schema::{
    LoggedEvent, PageRequest, WebhookDueRef, WebhookEndpoint, WebhookMessage, WebhookMessageState,
    WorkspaceScope,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tenants::{WebhookId, WorkspaceId};
use uuid::Uuid;

use super::{EVENT_TYPES, Shared, WebhookHandle};
use crate::error::EngineError;

/// The body every webhook carries.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope {
    /// The event id (`evt_...`), also sent as `webhook-id`.
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened (RFC 3339).
    pub timestamp: Timestamp,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Event-specific fields.
    pub data: serde_json::Value,
}

/// A new envelope with a fresh event id.
pub fn envelope(
    workspace_id: WorkspaceId,
    kind: &str,
    at: Timestamp,
    data: serde_json::Value,
) -> Envelope {
    Envelope {
        id: format!("evt_{}", Uuid::now_v7().simple()),
        kind: kind.to_owned(),
        timestamp: at,
        workspace_id,
        data,
    }
}

/// Writes one pending message of `envelope` for `endpoint` with id `message_id`, due now, and
/// hands its due row to the dispatcher.
pub(crate) async fn enqueue_as(
    shared: &Shared,
    scope: WorkspaceScope,
    endpoint: &WebhookEndpoint,
    envelope: &Envelope,
    message_id: Uuid,
) -> Result<(), EngineError> {
    let now = shared.clock.now();
    let payload = serde_json::to_string(envelope)
        .map_err(|e| EngineError::Unavailable(format!("webhook payload: {e}")))?;
    let message = WebhookMessage {
        id: message_id,
        workspace_id: scope.workspace_id(),
        endpoint_id: endpoint.id,
        event_id: envelope.id.clone(),
        event_type: envelope.kind.clone(),
        payload,
        state: WebhookMessageState::Pending,
        num_attempts: 0,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
    };
    shared.store.put_webhook_message(scope, &message).await?;
    shared.hand_over(WebhookDueRef {
        due_at: now,
        workspace_id: message.workspace_id,
        endpoint_id: message.endpoint_id,
        message_id,
    });
    Ok(())
}

/// Writes one pending message of `envelope` for `endpoint`, due now. Returns its id.
pub(crate) async fn enqueue(
    shared: &Shared,
    scope: WorkspaceScope,
    endpoint: &WebhookEndpoint,
    envelope: &Envelope,
) -> Result<Uuid, EngineError> {
    let id = Uuid::now_v7();
    enqueue_as(shared, scope, endpoint, envelope, id).await?;
    Ok(id)
}

/// The outbox message id of `event` for `endpoint`: the event id's time part (so messages still
/// sort by time) and 64 bits of a hash of both ids, with the UUIDv7 version and variant bits.
pub(crate) fn message_id(event: Uuid, endpoint: WebhookId) -> Uuid {
    let mut h = Sha256::new();
    h.update(event.as_bytes());
    h.update(endpoint.as_uuid().as_bytes());
    let digest = h.finalize();
    let mut bytes = *event.as_bytes();
    bytes[8..].copy_from_slice(&digest[..8]);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// Writes the outbox message of a logged event for every enabled endpoint subscribed to it
/// (endpoints concurrently, so their writes share group commits), skipping endpoints that
/// already have it (a replay after a crash). Returns how many were new.
/// `endpoints` are the event's workspace's, listed by the caller (once for many events).
pub(crate) async fn fan_out(
    shared: &Shared,
    event: &LoggedEvent,
    envelope: &Envelope,
    endpoints: &[WebhookEndpoint],
) -> Result<usize, EngineError> {
    let scope = WorkspaceScope::authorized(event.workspace_id);
    let writes = endpoints
        .iter()
        .filter(|e| e.enabled && e.events.contains(&envelope.kind))
        .map(|endpoint| async move {
            let id = message_id(event.id, endpoint.id);
            let existing = shared
                .store
                .get_webhook_message(scope, endpoint.id, id)
                .await?;
            if existing.is_some() {
                return Ok::<_, EngineError>(0);
            }
            enqueue_as(shared, scope, endpoint, envelope, id).await?;
            Ok(1)
        });
    let written = futures::future::try_join_all(writes).await?;
    Ok(written.into_iter().sum())
}

impl WebhookHandle {
    /// Publishes an event of `kind` (one of [`EVENT_TYPES`]) to every subscribed endpoint of the
    /// workspace, e.g. `import.completed` from the CSV importer. The event is logged durably
    /// before this returns and fanned out from the log. Returns the event id.
    ///
    /// # Errors
    /// [`EngineError::Validation`] for an unknown type; store failures.
    pub async fn publish(
        &self,
        scope: WorkspaceScope,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<String, EngineError> {
        if !EVENT_TYPES.contains(&kind) {
            return Err(EngineError::Validation(vec![crate::error::FieldError {
                field: "type".into(),
                message: "unknown event type".into(),
            }]));
        }
        let event = LoggedEvent {
            id: Uuid::now_v7(),
            workspace_id: scope.workspace_id(),
            kind: kind.to_owned(),
            post_id: None,
            account_id: None,
            reason: None,
            at: self.shared.clock.now(),
            data: Some(data),
        };
        self.shared.store.append_event(&event).await?;
        self.shared.feed_wake.notify_one();
        Ok(event_id(event.id))
    }
}

/// The public id of a logged event (`evt_<simple uuid>`).
pub fn event_id(id: Uuid) -> String {
    format!("evt_{}", id.simple())
}

/// The envelope of a logged event, or `None` for a type no endpoint can subscribe to.
pub(crate) fn to_envelope(event: &LoggedEvent) -> Option<Envelope> {
    EVENT_TYPES.contains(&event.kind.as_str()).then(|| {
        let data = event.data.clone().unwrap_or_else(|| {
            serde_json::json!({
                "post_id": event.post_id,
                "account_id": event.account_id,
                "reason": event.reason,
            })
        });
        Envelope {
            id: event_id(event.id),
            kind: event.kind.clone(),
            timestamp: event.at,
            workspace_id: event.workspace_id,
            data,
        }
    })
}

/// Indexes a connected account's partner id, so partner webhooks can be routed to it.
pub(crate) async fn remember_account(
    shared: &Shared,
    scope: WorkspaceScope,
    account_id: tenants::AccountId,
) -> Result<(), EngineError> {
    let account = shared.store.get_account(scope.account(account_id)).await?;
    if let Some(partner_id) = account.and_then(|a| a.partner_account_id) {
        shared
            .store
            .put_partner_account_ref(&partner_id, scope.workspace_id(), account_id)
            .await?;
    }
    Ok(())
}

/// Indexes every existing account's partner id (accounts connected before this version).
pub(crate) async fn backfill_partner_accounts(shared: &Shared) -> Result<(), EngineError> {
    let mut workspaces = PageRequest::first(500);
    loop {
        let page = shared.store.list_all_workspaces(workspaces.clone()).await?;
        for ws in &page.items {
            let scope = WorkspaceScope::authorized(ws.id);
            let mut accounts = PageRequest::first(500);
            loop {
                let p = shared.store.list_accounts(scope, accounts.clone()).await?;
                for a in &p.items {
                    if let Some(partner_id) = &a.partner_account_id {
                        shared
                            .store
                            .put_partner_account_ref(partner_id, ws.id, a.id)
                            .await?;
                    }
                }
                match p.next_cursor {
                    Some(c) => accounts.cursor = Some(c),
                    None => break,
                }
            }
        }
        match page.next_cursor {
            Some(c) => workspaces.cursor = Some(c),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_message_id_is_stable_per_event_and_endpoint() {
        let event = Uuid::now_v7();
        let (a, b) = (WebhookId::new(), WebhookId::new());
        assert_eq!(
            message_id(event, a),
            message_id(event, a),
            "a replay finds the same row"
        );
        assert_ne!(
            message_id(event, a),
            message_id(event, b),
            "one row per endpoint"
        );
        assert_ne!(
            message_id(event, a),
            message_id(Uuid::now_v7(), a),
            "one row per event"
        );
        let id = message_id(event, a);
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(
            id.get_timestamp(),
            event.get_timestamp(),
            "sorts by the event's time"
        );
    }
}
