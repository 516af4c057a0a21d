//! Fan-out: turns an engine event into one envelope `{id, type, timestamp, workspace_id, data}`
//! and writes one outbox message per enabled endpoint subscribed to its type. The event id is
//! made once here and stays the same across endpoints, attempts and resends.

use std::sync::Arc;

use jiff::Timestamp;
use schema::{PageRequest, WebhookEndpoint, WebhookMessage, WebhookMessageState, WorkspaceScope};
use serde::Serialize;
use tenants::WorkspaceId;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{EVENT_TYPES, Shared, WebhookHandle};
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};

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

/// Writes one pending message of `envelope` for `endpoint`, due now. Returns its id.
pub(crate) async fn enqueue(
    shared: &Shared,
    scope: WorkspaceScope,
    endpoint: &WebhookEndpoint,
    envelope: &Envelope,
) -> Result<Uuid, EngineError> {
    let now = shared.clock.now();
    let payload = serde_json::to_string(envelope)
        .map_err(|e| EngineError::Unavailable(format!("webhook payload: {e}")))?;
    let message = WebhookMessage {
        id: Uuid::now_v7(),
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
    Ok(message.id)
}

async fn publish_envelope(
    shared: &Shared,
    scope: WorkspaceScope,
    envelope: &Envelope,
) -> Result<usize, EngineError> {
    let mut n = 0;
    for endpoint in shared.store.list_webhooks(scope).await? {
        if endpoint.enabled && endpoint.events.contains(&envelope.kind) {
            enqueue(shared, scope, &endpoint, envelope).await?;
            n += 1;
        }
    }
    if n > 0 {
        shared.wake.notify_one();
    }
    Ok(n)
}

impl WebhookHandle {
    /// Publishes an event of `kind` (one of [`EVENT_TYPES`]) to every subscribed endpoint of the
    /// workspace, e.g. `import.completed` from the CSV importer. Returns the event id.
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
        let env = envelope(scope.workspace_id(), kind, self.shared.clock.now(), data);
        publish_envelope(&self.shared, scope, &env).await?;
        Ok(env.id)
    }
}

fn to_envelope(event: &EngineEvent) -> Option<Envelope> {
    let kind = event.kind.as_str();
    EVENT_TYPES.contains(&kind).then(|| {
        let data = serde_json::json!({
            "post_id": event.post_id,
            "account_id": event.account_id,
            "reason": event.reason,
        });
        envelope(event.workspace_id, kind, event.at, data)
    })
}

/// Indexes a connected account's partner id, so partner webhooks can be routed to it.
async fn remember_account(
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
async fn backfill_partner_accounts(shared: &Shared) -> Result<(), EngineError> {
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

/// Consumes engine events until `cancel` fires.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut events_rx: broadcast::Receiver<EngineEvent>,
    cancel: CancellationToken,
) {
    if let Err(e) = backfill_partner_accounts(&shared).await {
        tracing::warn!(error = %e, "partner account index backfill failed");
    }
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            e = events_rx.recv() => e,
        };
        match event {
            Ok(event) => {
                if let (EventKind::AccountConnected, Some(account_id)) =
                    (event.kind, event.account_id)
                {
                    let scope = WorkspaceScope::authorized(event.workspace_id);
                    if let Err(e) = remember_account(&shared, scope, account_id).await {
                        tracing::warn!(account_id = %account_id, error = %e, "partner account not indexed");
                    }
                }
                let Some(env) = to_envelope(&event) else {
                    continue;
                };
                let scope = WorkspaceScope::authorized(event.workspace_id);
                if let Err(e) = publish_envelope(&shared, scope, &env).await {
                    tracing::warn!(workspace_id = %event.workspace_id, error = %e,
                        kind = env.kind, "webhook fan-out failed");
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    num_lost = n,
                    "webhook fan-out fell behind; events were lost"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
