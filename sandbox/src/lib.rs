//! Local stand-ins for every outside service socialcrm talks to: the Outstand publishing API,
//! each platform's OAuth endpoints, and Google/X sign-in. One [`Sandbox`] serves them all over
//! real HTTP on loopback (see `docs/partners.md` for the contract), so the real partner clients
//! run end to end in tests, the demo and benchmarks. All time comes from an injectable clock:
//! advancing a [`tenants::ManualClock`] expires tokens and publishes pending posts.

// Handler helpers return a ready HTTP response as their error; boxing it gains nothing.
#![allow(clippy::result_large_err)]

mod control;
mod faults;
mod idempotency;
mod ledger;
mod metrics;
mod oauth;
mod outstand;
mod posts;
mod server;
mod signin;
mod smtp;
mod tokens;
mod webhook_sender;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use jiff::Timestamp;
use tenants::{Platform, SharedClock, SystemClock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::Faults;
pub use ledger::{LedgerEntry, SandboxStats};
pub use smtp::SentEmail;

use faults::FaultState;
use ledger::Ledger;
use posts::PostStore;
use server::{Connection, CuttableListener};
use signin::PeopleStore;
use tokens::{Lifetimes, TokenStore};

/// How a [`Sandbox`] behaves.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The source of "now" for token expiry, publish delays, idempotency TTLs and metrics.
    pub clock: SharedClock,
    /// Initial fault injection; change it later with [`Sandbox::set_faults`].
    pub faults: Faults,
    /// Lifetime of platform access tokens, in seconds.
    pub token_lifetime_secs: i64,
    /// Lifetime of platform refresh tokens, in seconds.
    pub refresh_lifetime_secs: i64,
    /// The Outstand API key the stand-in accepts as `Authorization: Bearer <key>`.
    pub outstand_api_key: String,
    /// How long an accepted post stays `pending` before it is published (0: published at once).
    pub publish_delay_ms: u64,
    /// Where Outstand-style webhooks (`post.published`, `post.error`) are sent when simulated
    /// posts settle; `None` sends none.
    pub webhook_url: Option<String>,
    /// The webhook signing secret (`X-Outstand-Signature: sha256=<hex>`).
    pub webhook_secret: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            faults: Faults::default(),
            token_lifetime_secs: 7200,
            refresh_lifetime_secs: 180 * 24 * 3600,
            outstand_api_key: "sandbox-outstand-key".to_owned(),
            publish_delay_ms: 0,
            webhook_url: None,
            webhook_secret: "sandbox-webhook-secret".to_owned(),
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("faults", &self.faults)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("refresh_lifetime_secs", &self.refresh_lifetime_secs)
            .field("outstand_api_key", &"<redacted>")
            .field("publish_delay_ms", &self.publish_delay_ms)
            .field("webhook_url", &self.webhook_url)
            .finish()
    }
}

/// Everything the handlers share. Each store has its own lock, held only for plain in-memory
/// work and never across an `.await`; no handler holds two of them at once.
pub(crate) struct AppState {
    clock: SharedClock,
    base_url: String,
    outstand_api_key: String,
    lifetimes: Lifetimes,
    faults: Mutex<FaultState>,
    ledger: Mutex<Ledger>,
    tokens: Mutex<TokenStore>,
    posts: Mutex<PostStore>,
    people: Mutex<PeopleStore>,
    stats: Mutex<SandboxStats>,
    webhooks: Option<webhook_sender::WebhookSender>,
    /// Every message the SMTP sink received.
    emails: smtp::Outbox,
}

pub(crate) type Shared = Arc<AppState>;

/// Locks `mutex`, recovering the data if a handler panicked while holding it: every store
/// update is a single in-memory step, so the data is consistent even then.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl AppState {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        lock(&self.tokens)
    }

    fn posts(&self) -> MutexGuard<'_, PostStore> {
        lock(&self.posts)
    }

    fn people(&self) -> MutexGuard<'_, PeopleStore> {
        lock(&self.people)
    }

    fn bump(&self, update: impl FnOnce(&mut SandboxStats)) {
        update(&mut lock(&self.stats));
    }

    fn record_secrets(&self, secrets: &[&str]) {
        let mut ledger = self.ledger();
        for secret in secrets {
            ledger.record_secret(secret);
        }
    }
}

/// A running sandbox. Dropping it stops the server too; [`Sandbox::shutdown`] also waits for it.
pub struct Sandbox {
    addr: SocketAddr,
    smtp_addr: SocketAddr,
    state: Shared,
    shutdown_tx: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox").field("addr", &self.addr).finish()
    }
}

impl Sandbox {
    /// Binds `listen` (port 0 picks a free port) and serves every stand-in until shutdown.
    ///
    /// # Errors
    ///
    /// Fails when the address cannot be bound.
    pub async fn spawn(listen: SocketAddr, config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            clock: config.clock,
            base_url: format!("http://{addr}"),
            outstand_api_key: config.outstand_api_key,
            lifetimes: Lifetimes {
                access_secs: config.token_lifetime_secs,
                refresh_secs: config.refresh_lifetime_secs,
            },
            faults: Mutex::new(FaultState::new(config.faults, config.publish_delay_ms)),
            ledger: Mutex::new(Ledger::default()),
            tokens: Mutex::new(TokenStore::default()),
            posts: Mutex::new(PostStore::default()),
            people: Mutex::new(PeopleStore::default()),
            stats: Mutex::new(SandboxStats::default()),
            webhooks: config
                .webhook_url
                .map(|url| webhook_sender::WebhookSender::new(url, config.webhook_secret)),
            emails: smtp::Outbox::default(),
        });
        let app = router(state.clone()).into_make_service_with_connect_info::<Connection>();
        let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
        webhook_sender::spawn_loop(state.clone(), shutdown_tx.subscribe());
        let smtp_addr = smtp::spawn(state.emails.clone(), shutdown_tx.subscribe()).await?;
        let listening = state.clone();
        let server = tokio::spawn(async move {
            // Ends on `shutdown()` or when the `Sandbox` is dropped (the sender goes away).
            let signal = async move {
                let _ = shutdown_rx.changed().await;
            };
            let serve = axum::serve(CuttableListener::new(listener, listening), app)
                .with_graceful_shutdown(signal);
            if let Err(error) = serve.await {
                tracing::error!(%error, "sandbox server failed");
            }
        });
        tracing::info!(%addr, "sandbox listening");
        Ok(Sandbox {
            addr,
            smtp_addr,
            state,
            shutdown_tx,
            server,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base every partner prefix hangs off.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// The SMTP sink's address (loopback), to configure as the mail relay.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// Every email the SMTP sink received, in order.
    pub fn emails(&self) -> Vec<SentEmail> {
        lock(&self.state.emails).clone()
    }

    /// Every accepted publish, in order.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.state.ledger().entries()
    }

    /// How many ledger entries repeat an (idempotency key, account) pair already accepted.
    pub fn duplicates(&self) -> usize {
        self.state.ledger().duplicates()
    }

    /// Every token, code and secret the sandbox ever issued.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.state.ledger().secrets()
    }

    /// Replaces the fault injection (the publish delay is left as is).
    pub fn set_faults(&self, faults: Faults) {
        self.state.faults().faults = faults;
    }

    /// Makes the next refresh of every grant of `user_id` on `platform` fail with
    /// `invalid_grant`.
    pub fn invalidate_grant(&self, platform: Platform, user_id: &str) {
        self.state
            .tokens()
            .invalidate(platform, None, Some(user_id));
    }

    /// Sends the Outstand-style webhooks due now (posts settled on the sandbox clock) and
    /// returns how many were acknowledged; the background loop does the same every 250 ms.
    pub async fn flush_webhooks(&self) -> usize {
        match &self.state.webhooks {
            Some(sender) => sender.flush(&self.state).await,
            None => 0,
        }
    }

    /// Counters of what the sandbox saw.
    pub fn stats(&self) -> SandboxStats {
        lock(&self.state.stats).clone()
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the server.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        if let Err(error) = self.server.await {
            tracing::error!(%error, "sandbox server task failed");
        }
    }
}

/// All stand-ins under their path prefixes.
fn router(state: Shared) -> Router {
    Router::new()
        .merge(outstand::router(state.clone()))
        .merge(oauth::router(state.clone()))
        .merge(signin::router(state.clone()))
        .merge(control::router())
        .merge(smtp::router())
        .with_state(state)
}
