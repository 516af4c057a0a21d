//! Outbound webhooks (Standard Webhooks v1). Engine events are logged durably
//! ([`crate::event_log`]), read from the log by cursor ([`feed`]) and fanned out into a durable
//! outbox (one message per event and subscribed endpoint, see [`schema::WebhookStore`]); the
//! [`dispatch`] loop posts due messages, signs them with the endpoint's secret(s), logs every
//! attempt and retries on the Svix schedule, disabling an endpoint that never recovers.
//!
//! Flow: state change + event log row -> [`feed`] -> [`fanout`] -> outbox row + due index ->
//! [`dispatch`] -> receiver. Delivery is at least once and unordered; receivers dedupe on
//! `webhook-id`, which is the logged event's id and survives restarts.

pub mod dispatch;
pub mod fanout;
pub mod feed;
pub mod inbound;
mod manage;
pub mod purge;
pub mod target;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::SignedDuration;
use schema::{Store, WebhookDueRef, WebhookEndpoint};
use serde::Serialize;
use tenants::{SharedClock, WebhookId, WorkspaceId};
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::vault::TokenVault;

pub use inbound::{PartnerUpdate, PartnerUpdateOutcome};
pub use manage::{EndpointPatch, NewEndpoint};

/// The event types an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "post.scheduled",
    "post.published",
    "post.partially_published",
    "post.failed",
    "post.unconfirmed",
    "post.canceled",
    "account.connected",
    "account.needs_reconnect",
    "account.disconnected",
    "import.completed",
    "test",
];

/// Delays before each attempt (the first is immediate): Svix's schedule, about 27.6 h in all.
pub const RETRY_SCHEDULE: [SignedDuration; 8] = [
    SignedDuration::ZERO,
    SignedDuration::from_secs(5),
    SignedDuration::from_mins(5),
    SignedDuration::from_mins(30),
    SignedDuration::from_hours(2),
    SignedDuration::from_hours(5),
    SignedDuration::from_hours(10),
    SignedDuration::from_hours(10),
];

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP: SignedDuration = SignedDuration::from_hours(24);

/// Settings of the webhook subsystem.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Allow loopback and private targets (development and tests only).
    pub allow_private_targets: bool,
    /// Timeout of each attempt.
    pub attempt_timeout: Duration,
    /// Real time between scans of the due index (a tick or a new message scans at once).
    pub scan_interval: Duration,
    /// Attempts running at once.
    pub max_in_flight: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            attempt_timeout: Duration::from_secs(15),
            scan_interval: Duration::from_secs(1),
            max_in_flight: 32,
        }
    }
}

/// Something the owner of a workspace must hear about (an endpoint was disabled).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookNotice {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// Why it was disabled.
    pub reason: String,
}

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointView {
    /// Id.
    pub id: WebhookId,
    /// Target URL.
    pub url: String,
    /// Subscribed event types.
    pub events: Vec<String>,
    /// Note.
    pub description: Option<String>,
    /// Whether deliveries are attempted.
    pub enabled: bool,
    /// Why the system disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// Creation time.
    pub created_at: jiff::Timestamp,
    /// Last change.
    pub updated_at: jiff::Timestamp,
}

impl From<WebhookEndpoint> for EndpointView {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            events: e.events,
            description: e.description,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// What the webhook tasks and every handle share.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Arc<TokenVault>,
    pub(crate) clock: SharedClock,
    pub(crate) config: WebhookConfig,
    pub(crate) allow_private: AtomicBool,
    pub(crate) http: reqwest::Client,
    pub(crate) wake: Notify,
    /// Due rows written by this process since the dispatcher's last pass (see [`dispatch`]).
    pub(crate) fresh: Mutex<Vec<WebhookDueRef>>,
    /// Wakes the [`feed`] (an event was logged).
    pub(crate) feed_wake: Notify,
    pub(crate) notices_tx: broadcast::Sender<WebhookNotice>,
    pub(crate) tick_tx: mpsc::Sender<oneshot::Sender<()>>,
    pub(crate) feed_tick_tx: mpsc::Sender<oneshot::Sender<()>>,
}

impl Shared {
    pub(crate) fn allow_private(&self) -> bool {
        self.allow_private.load(Ordering::Relaxed)
    }

    /// Hands a due row just written to the dispatcher and wakes it: the dispatcher reads the
    /// due index incrementally, and a row due now may sort before its resume point.
    pub(crate) fn hand_over(&self, due: WebhookDueRef) {
        self.fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(due);
        self.wake.notify_one();
    }
}

/// The webhook subsystem's API. Cheap to clone.
#[derive(Clone)]
pub struct WebhookHandle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for WebhookHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookHandle").finish_non_exhaustive()
    }
}

/// Starts the feed (which reads the event log; `events_rx` only wakes it) and the dispatcher;
/// both stop when `cancel` fires. Events logged but not fanned out, and pending messages already
/// in the store, are picked up by their first pass, so a restart loses neither.
///
/// # Errors
/// [`EngineError::Unavailable`] when the HTTP client cannot be built.
pub fn start(
    store: Arc<dyn Store>,
    vault: Arc<TokenVault>,
    clock: SharedClock,
    config: WebhookConfig,
    events_rx: broadcast::Receiver<EngineEvent>,
    cancel: CancellationToken,
) -> Result<WebhookHandle, EngineError> {
    // reqwest is built without a default TLS provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.attempt_timeout)
        .user_agent("socialcrm-webhooks/1")
        .build()
        .map_err(|e| EngineError::Unavailable(format!("webhook http client: {e}")))?;
    let (tick_tx, tick_rx) = mpsc::channel(16);
    let (feed_tick_tx, feed_tick_rx) = mpsc::channel(16);
    let (notices_tx, _) = broadcast::channel(256);
    let shared = Arc::new(Shared {
        store,
        vault,
        clock,
        allow_private: AtomicBool::new(config.allow_private_targets),
        config,
        http,
        wake: Notify::new(),
        fresh: Mutex::new(Vec::new()),
        feed_wake: Notify::new(),
        notices_tx,
        tick_tx,
        feed_tick_tx,
    });
    crate::runtime::spawn(feed::run(
        shared.clone(),
        events_rx,
        feed_tick_rx,
        cancel.clone(),
    ));
    crate::runtime::spawn(dispatch::run(shared.clone(), tick_rx, cancel));
    Ok(WebhookHandle { shared })
}

impl WebhookHandle {
    /// Allows or refuses loopback and private targets from now on.
    pub fn set_allow_private_targets(&self, allow: bool) {
        self.shared.allow_private.store(allow, Ordering::Relaxed);
    }

    /// Notices (endpoint disabled) emitted from now on.
    pub fn subscribe_notices(&self) -> broadcast::Receiver<WebhookNotice> {
        self.shared.notices_tx.subscribe()
    }

    /// Runs a feed pass (every logged event fanned out) and then a dispatch pass, and returns
    /// when both are done: every message due on the engine clock has had its attempt. Tests
    /// advance a `ManualClock` and call this.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the feed or the dispatcher has stopped.
    pub async fn tick(&self) -> Result<(), EngineError> {
        for tx in [&self.shared.feed_tick_tx, &self.shared.tick_tx] {
            let (done_tx, done_rx) = oneshot::channel();
            tx.send(done_tx)
                .await
                .map_err(|_| EngineError::Unavailable("webhook dispatcher stopped".into()))?;
            done_rx
                .await
                .map_err(|_| EngineError::Unavailable("webhook dispatcher stopped".into()))?;
        }
        Ok(())
    }
}

impl crate::api::EngineHandle {
    /// Starts the webhook subsystem on this engine's store, clock and events (once; later
    /// calls return the running one). `Engine::start` does this with default settings.
    ///
    /// # Errors
    /// As [`start`].
    pub fn attach_webhooks(
        &self,
        vault: Arc<TokenVault>,
        config: WebhookConfig,
    ) -> Result<WebhookHandle, EngineError> {
        if let Some(h) = self.inner.webhooks.get() {
            return Ok(h.clone());
        }
        let ctx = &self.inner.ctx;
        let handle = start(
            ctx.store.clone(),
            vault,
            ctx.clock.clone(),
            config,
            ctx.events.subscribe(),
            self.inner.cancel.clone(),
        )?;
        Ok(self.inner.webhooks.get_or_init(|| handle).clone())
    }

    /// The webhook subsystem.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when it was not attached.
    pub fn webhooks(&self) -> Result<&WebhookHandle, EngineError> {
        self.inner
            .webhooks
            .get()
            .ok_or_else(|| EngineError::Unavailable("webhooks are not running".into()))
    }
}
