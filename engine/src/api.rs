//! The engine's public API: the types the gateway sends and receives, and [`EngineHandle`], the
//! cheap-to-clone handle through which every request reaches the actor tree.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ractor::Actor;
use schema::{Store, WorkspaceScope};
use secrecy::SecretString;
use serde::Serialize;
use tenants::{
    AccountId, Delivery, MasterKeyring, MediaId, Platform, Post, PostStatus, SharedClock, UserId,
    Variant,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::adapters::{OutstandPartner, VaultCredentials};
pub use crate::context::EngineTuning;
use crate::context::{Ctx, EngineContext};
use crate::engine::{EngineActor, EngineMsg, RootHandle};
use crate::error::EngineError;
use crate::events::EventHub;
pub use crate::events::{EngineEvent, EventKind, EventSink};
pub use crate::notify::{Notification, Recipient, SmtpConfig};
pub use crate::observe::{AccountObservable, EngineObservable};
use crate::outbound::{Credentials, Partner};
use crate::partner::{OAuthApp, OutstandClient, PlatformOAuthClient};
pub use crate::privacy::EngineServices;
use crate::rate_limit::AppLimits;
use crate::scheduler;
use crate::vault::TokenVault;
use crate::workspace::WorkspaceMsg;

pub use tenants::ScheduleInput;

/// A post to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPost {
    /// The caption.
    pub caption: String,
    /// The target accounts; each becomes a delivery.
    pub account_ids: Vec<AccountId>,
    /// When to publish; `None` with status `Scheduled` publishes now.
    pub schedule: Option<ScheduleInput>,
    /// `Draft` or `Scheduled` only.
    pub status: PostStatus,
    /// Attached media.
    pub media_ids: Vec<MediaId>,
    /// Public media URLs given directly.
    pub media_urls: Vec<String>,
    /// Per-platform overrides.
    pub variants: BTreeMap<Platform, Variant>,
    /// A first comment.
    pub first_comment: Option<String>,
    /// The caller's own id, unique per workspace.
    pub external_id: Option<String>,
    /// Who created it.
    pub created_by: Option<UserId>,
}

/// Changes to a post; every `None` leaves the field unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostPatch {
    /// New caption.
    pub caption: Option<String>,
    /// New time.
    pub schedule: Option<ScheduleInput>,
    /// New uploaded media.
    pub media_ids: Option<Vec<MediaId>>,
    /// New public media URLs (what the partner receives); applied with `media_ids`.
    pub media_urls: Option<Vec<String>>,
    /// New variants.
    pub variants: Option<BTreeMap<Platform, Variant>>,
    /// New first comment (`Some(None)` removes it).
    pub first_comment: Option<Option<String>>,
    /// New status (draft -> scheduled).
    pub status: Option<PostStatus>,
}

/// A post with its deliveries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostView {
    /// The post.
    pub post: Post,
    /// One delivery per target account.
    pub deliveries: Vec<Delivery>,
}

/// A freshly granted set of platform tokens (clear text only in memory).
#[derive(Debug)]
pub struct TokenGrant {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, when the platform issued one.
    pub refresh_token: Option<SecretString>,
    /// Access token lifetime.
    pub expires_in_secs: Option<i64>,
    /// Refresh token lifetime, when the platform says.
    pub refresh_expires_in_secs: Option<i64>,
    /// Granted scopes.
    pub scope: Option<String>,
}

/// An account to connect.
#[derive(Debug)]
pub struct NewAccount {
    /// The network.
    pub platform: Platform,
    /// The platform's user id.
    pub platform_user_id: String,
    /// The publishing partner's id for the account.
    pub partner_account_id: Option<String>,
    /// The handle.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// The tokens.
    pub grant: TokenGrant,
}

/// How to reach the outside services, and the engine's tuning.
#[derive(Debug)]
pub struct EngineConfig {
    /// Publishing partner base URL (`.../outstand/v1`).
    pub outstand_base_url: String,
    /// Publishing partner API key.
    pub outstand_api_key: SecretString,
    /// Platform OAuth base URLs (`.../oauth/{platform}`).
    pub oauth_base_urls: BTreeMap<Platform, String>,
    /// OAuth client id.
    pub oauth_client_id: String,
    /// OAuth client secret.
    pub oauth_client_secret: SecretString,
    /// Master keys wrapping the per-workspace data keys.
    pub master_keys: MasterKeyring,
    /// Timings and limits.
    pub tuning: EngineTuning,
    /// Where domain events go besides the in-memory buffer and subscribers.
    pub event_sink: Option<Arc<dyn EventSink>>,
    /// Timeout of each partner call.
    pub partner_timeout: Duration,
    /// Which HTTP the publishing partner client speaks ([`crate::partner::PartnerHttp::H2c`]
    /// for the sandbox stand-in).
    pub partner_http: crate::partner::PartnerHttp,
}

/// The running engine: the actor tree plus the scheduler loop.
#[derive(Debug)]
pub struct Engine {
    handle: EngineHandle,
    scheduler: Option<JoinHandle<()>>,
    workers: Option<JoinHandle<()>>,
}

/// What every [`EngineHandle`] clone shares.
pub(crate) struct Inner {
    pub(crate) ctx: Ctx,
    pub(crate) root: RootHandle,
    pub(crate) scan_tx: mpsc::Sender<oneshot::Sender<()>>,
    pub(crate) ready: AtomicBool,
    pub(crate) cancel: CancellationToken,
    pub(crate) webhooks: std::sync::OnceLock<crate::webhooks::WebhookHandle>,
    pub(crate) analytics: std::sync::OnceLock<crate::analytics::AnalyticsHandle>,
    pub(crate) services: std::sync::OnceLock<crate::privacy::EngineServices>,
    pub(crate) notifier: std::sync::OnceLock<crate::notify::Notifier>,
    pub(crate) vault: std::sync::OnceLock<Arc<TokenVault>>,
}

impl Engine {
    /// Starts the actor tree on `store` with real partner clients, runs the recovery pass and
    /// starts the scheduler.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when a client cannot be built or the root cannot start;
    /// [`EngineError::Store`] when recovery cannot read the store.
    pub async fn start(
        config: EngineConfig,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Result<Engine, EngineError> {
        let client = OutstandClient::over(
            &config.outstand_base_url,
            config.outstand_api_key.clone(),
            config.partner_timeout,
            config.partner_http,
        )
        .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let apps = config
            .oauth_base_urls
            .iter()
            .map(|(p, base)| {
                OAuthApp::under(
                    base,
                    config.oauth_client_id.clone(),
                    config.oauth_client_secret.clone(),
                )
                .map(|app| (*p, app))
            })
            .collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let oauth = PlatformOAuthClient::new(apps, config.partner_timeout)
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let vault = Arc::new(TokenVault::new(store.clone(), Arc::new(config.master_keys)));
        let analytics_client = client.clone();
        let partner: Arc<dyn Partner> = Arc::new(OutstandPartner::new(client, clock.clone()));
        let credentials: Arc<dyn Credentials> =
            Arc::new(VaultCredentials::new(vault.clone(), oauth, clock.clone()));
        let engine = Self::start_with(
            config.tuning,
            config.event_sink,
            store,
            clock,
            partner,
            credentials,
        )
        .await?;
        let _ = engine.handle.inner.vault.set(vault.clone());
        engine
            .handle
            .attach_webhooks(vault, crate::webhooks::WebhookConfig::default())?;
        engine.handle.attach_analytics(
            analytics_client,
            crate::analytics::AnalyticsConfig::default(),
        );
        Ok(engine)
    }

    /// Starts the engine over any partner and credentials ports (tests, embedding).
    ///
    /// # Errors
    /// As [`Engine::start`].
    pub async fn start_with(
        tuning: EngineTuning,
        event_sink: Option<Arc<dyn EventSink>>,
        store: Arc<dyn Store>,
        clock: SharedClock,
        partner: Arc<dyn Partner>,
        credentials: Arc<dyn Credentials>,
    ) -> Result<Engine, EngineError> {
        let ctx: Ctx = Arc::new(EngineContext {
            events: EventHub::new(event_sink, tuning.recent_events),
            app_limits: AppLimits::new(clock.clone()),
            board: Arc::default(),
            store,
            clock,
            partner,
            credentials,
            timers: crate::timer_wheel::TimerWheel::start(),
            tuning,
        });
        let (root, _) = Actor::spawn(None, EngineActor, ctx.clone())
            .await
            .map_err(|e| EngineError::Unavailable(format!("engine root did not start: {e}")))?;
        let root = RootHandle::new(root);
        scheduler::recover(&ctx, &root).await?;
        let (recovery_ctx, recovery_root) = (ctx.clone(), root.clone());
        crate::runtime::spawn(async move {
            let recovered =
                crate::status_recovery::recover_post_statuses(&recovery_ctx, &recovery_root).await;
            if let Err(e) = recovered {
                tracing::warn!(error = %e, "post status recovery failed");
            }
        });
        let (scan_tx, scan_rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let scheduler = scheduler::run(ctx.clone(), root.clone(), scan_rx, cancel.clone());
        let inner = Arc::new(Inner {
            ctx,
            root,
            scan_tx,
            ready: AtomicBool::new(true),
            cancel,
            webhooks: std::sync::OnceLock::new(),
            analytics: std::sync::OnceLock::new(),
            services: std::sync::OnceLock::new(),
            notifier: std::sync::OnceLock::new(),
            vault: std::sync::OnceLock::new(),
        });
        let handle = EngineHandle { inner };
        let workers = crate::privacy::run_workers(handle.clone());
        Ok(Engine {
            handle,
            scheduler: Some(scheduler),
            workers: Some(workers),
        })
    }

    /// A handle to the engine.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops accepting work, stops the scheduler, then stops the actors top-down (workspaces
    /// drain their accounts) within the tuning's shutdown deadline.
    pub async fn shutdown(mut self) {
        let inner = &self.handle.inner;
        inner.ready.store(false, Ordering::SeqCst);
        inner.cancel.cancel();
        if let Some(s) = self.scheduler.take() {
            let _ = s.await;
        }
        if let Some(w) = self.workers.take() {
            let _ = w.await;
        }
        let deadline = inner.ctx.tuning.shutdown_deadline;
        let root = inner.root.actor().clone();
        let drained = root
            .call(|reply| EngineMsg::Drain { reply }, Some(deadline))
            .await;
        if drained.is_err() {
            tracing::warn!("actors did not drain within the deadline");
        }
        let _ = root
            .stop_and_wait(Some("shutdown".into()), Some(deadline))
            .await;
    }
}

impl Drop for Engine {
    /// Dropping without [`Engine::shutdown`] is an abrupt stop, as a crash would be: the tree is
    /// killed where it stands and the store is left as it was; the next start recovers.
    fn drop(&mut self) {
        if let Some(s) = self.scheduler.take() {
            self.handle.inner.ready.store(false, Ordering::SeqCst);
            self.handle.inner.cancel.cancel();
            s.abort();
            if let Some(w) = self.workers.take() {
                w.abort();
            }
            let root = self.handle.inner.root.actor();
            for ws in root.get_children() {
                for account in ws.get_children() {
                    account.kill();
                }
                ws.kill();
            }
            root.kill();
        }
    }
}

/// The running engine's handle. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// Whether the engine finished its start-up recovery and accepts work.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    /// The engine's clock.
    pub fn clock(&self) -> SharedClock {
        self.inner.ctx.clock.clone()
    }

    /// A serialisable snapshot of every actor: residency, transitions by state, next due,
    /// limiter state, restarts, mailbox depth.
    pub fn observe(&self) -> EngineObservable {
        self.inner.ctx.board.snapshot(self.is_ready())
    }

    /// Engine-wide counts (resident actors, armed timers, pending deliveries) without the
    /// per-actor snapshots: what a health check or a benchmark polls.
    pub fn observe_totals(&self) -> crate::observe::EngineTotals {
        self.inner.ctx.board.totals(self.is_ready())
    }

    /// The most recent domain events, oldest first.
    pub fn recent_events(&self) -> Vec<EngineEvent> {
        self.inner.ctx.events.recent()
    }

    /// Every domain event emitted from now on.
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<EngineEvent> {
        self.inner.ctx.events.subscribe()
    }

    /// Tells the engine its clock moved: scans the due window now (activating accounts with
    /// work in it) and wakes every resident account actor, each of which acts on whatever is due
    /// on the engine clock. With a `ManualClock`, tests advance the clock and then call this, so
    /// days of schedule run in seconds. Returns once the scan is done and the wakes are sent.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the engine is shutting down.
    pub async fn tick(&self) -> Result<(), EngineError> {
        let (done_tx, done_rx) = oneshot::channel();
        self.inner
            .scan_tx
            .send(done_tx)
            .await
            .map_err(|_| EngineError::Unavailable("engine shutting down".into()))?;
        let _ = done_rx.await;
        for ws in self.inner.root.resident().await {
            ws.send(WorkspaceMsg::WakeAll);
        }
        Ok(())
    }

    /// Fault hook for supervision drills: makes the account's actor panic inside a handler.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown workspace.
    #[doc(hidden)]
    pub async fn inject_account_panic(
        &self,
        scope: WorkspaceScope,
        account_id: AccountId,
    ) -> Result<(), EngineError> {
        let ws = self.inner.root.workspace(scope).await?;
        ws.send(WorkspaceMsg::InjectPanic { account_id });
        Ok(())
    }

    pub(crate) fn ensure_ready(&self) -> Result<(), EngineError> {
        if self.is_ready() {
            Ok(())
        } else {
            Err(EngineError::Unavailable("engine is not running".into()))
        }
    }
}
