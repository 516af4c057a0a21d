//! Domain events the engine emits (`post.published`, `account.needs_reconnect`...), fanned out to
//! an [`EventSink`] (email), to broadcast subscribers and to a bounded in-memory buffer of recent
//! events that tests and the admin endpoint read. This in-memory path may drop events (a lagging
//! subscriber, a crash); webhooks do not depend on it: events they report are logged durably
//! first ([`crate::event_log`]) and the webhook feed reads the log.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;
use tenants::{AccountId, PostId, WorkspaceId};
use tokio::sync::broadcast;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventKind {
    /// A post's deliveries were scheduled (on creation, or when it was rescheduled).
    #[serde(rename = "post.scheduled")]
    PostScheduled,
    /// A scheduled post was canceled (or deleted), or all of its deliveries were.
    #[serde(rename = "post.canceled")]
    PostCanceled,
    /// Every delivery of a post published.
    #[serde(rename = "post.published")]
    PostPublished,
    /// Some deliveries published, others failed or were canceled.
    #[serde(rename = "post.partially_published")]
    PostPartiallyPublished,
    /// No delivery published and none can any more.
    #[serde(rename = "post.failed")]
    PostFailed,
    /// A delivery was sent but its outcome is unknown; it is being reconciled.
    #[serde(rename = "post.unconfirmed")]
    PostUnconfirmed,
    /// A delivery is held (quota, reconnect, restriction), with the reason.
    #[serde(rename = "post.held")]
    PostHeld,
    /// An account was connected.
    #[serde(rename = "account.connected")]
    AccountConnected,
    /// An account's grant was refused: a person must reconnect.
    #[serde(rename = "account.needs_reconnect")]
    AccountNeedsReconnect,
    /// An account was disconnected.
    #[serde(rename = "account.disconnected")]
    AccountDisconnected,
    /// An account actor crashed too often and was stopped.
    #[serde(rename = "account.degraded")]
    AccountDegraded,
}

impl EventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PostScheduled => "post.scheduled",
            EventKind::PostCanceled => "post.canceled",
            EventKind::PostPublished => "post.published",
            EventKind::PostPartiallyPublished => "post.partially_published",
            EventKind::PostFailed => "post.failed",
            EventKind::PostUnconfirmed => "post.unconfirmed",
            EventKind::PostHeld => "post.held",
            EventKind::AccountConnected => "account.connected",
            EventKind::AccountNeedsReconnect => "account.needs_reconnect",
            EventKind::AccountDisconnected => "account.disconnected",
            EventKind::AccountDegraded => "account.degraded",
        }
    }
}

/// One domain event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineEvent {
    /// What happened.
    pub kind: EventKind,
    /// The workspace it happened in.
    pub workspace_id: WorkspaceId,
    /// The post concerned, if any.
    pub post_id: Option<PostId>,
    /// The account concerned, if any.
    pub account_id: Option<AccountId>,
    /// A reason a person can act on, for failures and holds.
    pub reason: Option<String>,
    /// When it happened (engine clock).
    pub at: Timestamp,
}

/// A consumer of domain events (the webhook dispatcher, the notifier). Must not block.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Takes one event.
    fn emit(&self, event: &EngineEvent);
}

/// Fans events out to the configured sink, broadcast subscribers and the recent buffer.
#[derive(Debug, Clone)]
pub struct EventHub {
    sink: Option<Arc<dyn EventSink>>,
    subscribers_tx: broadcast::Sender<EngineEvent>,
    recent: Arc<Mutex<VecDeque<EngineEvent>>>,
    capacity: usize,
}

impl EventHub {
    /// A hub keeping the last `capacity` events.
    pub fn new(sink: Option<Arc<dyn EventSink>>, capacity: usize) -> Self {
        let (subscribers_tx, _) = broadcast::channel(1024);
        Self {
            sink,
            subscribers_tx,
            recent: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(4096)))),
            capacity: capacity.max(1),
        }
    }

    /// Emits one event.
    pub fn emit(&self, event: EngineEvent) {
        tracing::info!(kind = event.kind.as_str(), workspace_id = %event.workspace_id,
            post_id = ?event.post_id, account_id = ?event.account_id, "event");
        if let Some(sink) = &self.sink {
            sink.emit(&event);
        }
        // No subscriber is a normal state, not an error.
        let _ = self.subscribers_tx.send(event.clone());
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == self.capacity {
            recent.pop_front();
        }
        recent.push_back(event);
    }

    /// A receiver of every event emitted from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.subscribers_tx.subscribe()
    }

    /// The most recent events, oldest first.
    pub fn recent(&self) -> Vec<EngineEvent> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }
}
