//! Durable domain events. Every event a webhook can report is written to the store's event log
//! ([`schema::EventLogStore`]) before it is announced in memory: in the same commit as the state
//! change where the store offers one (post status changes, see
//! [`schema::EventLogStore::update_post_logged`]), otherwise right after the state write and
//! before the call returns. The webhook fan-out reads the log by cursor, so neither a crash nor a
//! slow in-memory subscriber loses a webhook.

use std::time::Duration;

use schema::{LoggedEvent, Store};
use uuid::Uuid;

use crate::context::EngineContext;
use crate::events::{EngineEvent, EventKind};
use crate::webhooks::EVENT_TYPES;

/// Attempts at appending an event before the failure is logged as lost.
const APPEND_ATTEMPTS: u32 = 4;

/// Whether a webhook can report events of `kind` (only those are logged).
pub fn is_logged_kind(kind: EventKind) -> bool {
    EVENT_TYPES.contains(&kind.as_str())
}

/// The log record of `event`. Its id is left nil: the store gives it one when it logs it (the
/// webhook id is then `evt_<simple id>`).
pub fn logged(event: &EngineEvent) -> LoggedEvent {
    LoggedEvent {
        id: Uuid::nil(),
        workspace_id: event.workspace_id,
        kind: event.kind.as_str().to_owned(),
        post_id: event.post_id,
        account_id: event.account_id,
        reason: event.reason.clone(),
        at: event.at,
        data: None,
    }
}

/// Appends `event` to the log, retrying transient store failures with a short backoff.
/// `false` when every attempt failed (then the failure is logged at error level).
pub async fn append(store: &dyn Store, event: &LoggedEvent) -> bool {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=APPEND_ATTEMPTS {
        match store.append_event(event).await {
            Ok(_) => return true,
            Err(e) if attempt == APPEND_ATTEMPTS => {
                tracing::error!(event_id = %event.id, kind = event.kind, error = %e,
                    "event could not be logged; its webhook is lost");
            }
            Err(e) => {
                tracing::warn!(event_id = %event.id, kind = event.kind, error = %e,
                    "event log append failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
    }
    false
}

/// Appends `events` to the log in one store call, retrying transient failures as [`append`].
/// `false` when every attempt failed.
pub async fn append_many(store: &dyn Store, events: &[LoggedEvent]) -> bool {
    if events.is_empty() {
        return true;
    }
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=APPEND_ATTEMPTS {
        match store.append_events(events).await {
            Ok(_) => return true,
            Err(e) if attempt == APPEND_ATTEMPTS => {
                tracing::error!(num_events = events.len(), error = %e,
                    "events could not be logged; their webhooks are lost");
            }
            Err(e) => {
                tracing::warn!(num_events = events.len(), error = %e,
                    "event log append failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
    }
    false
}

impl EngineContext {
    /// [`EngineContext::emit_logged`] for many events at once: they are logged in one store
    /// call (one commit on the embedded store), then emitted in memory in order.
    pub async fn emit_logged_many(&self, events: Vec<EngineEvent>) {
        let logged: Vec<LoggedEvent> = events
            .iter()
            .filter(|e| is_logged_kind(e.kind))
            .map(logged)
            .collect();
        append_many(self.store.as_ref(), &logged).await;
        for event in events {
            self.emit(event);
        }
    }

    /// Logs `event` durably when a webhook can report it, then emits it in memory. Call it
    /// after the state change the event reports is stored.
    pub async fn emit_logged(&self, event: EngineEvent) {
        if is_logged_kind(event.kind) {
            append(self.store.as_ref(), &logged(&event)).await;
        }
        self.emit(event);
    }
}
