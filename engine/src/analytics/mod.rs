//! The analytics worker: pulls metrics from the publishing partner on a durable schedule and
//! stores them as a time series ([`schema::AnalyticsStore`]).
//!
//! Flow: `account.connected` -> an account pull now, then daily; `post.published` /
//! `post.partially_published` -> post pulls at +1 h, +24 h and +7 d after publishing. Jobs sit in
//! an hour-bucketed index scanned like the due index; a job's sample is keyed by its due time,
//! so running a job twice stores one sample. Restricted workspaces are skipped. Pulls run one at
//! a time, spaced by [`AnalyticsConfig::min_interval`]; a failed pull (429 included) keeps the
//! scan's low-water mark, so the next scan retries it.

mod pull;
pub mod purge;

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use schema::{AnalyticsJob, AnalyticsJobKind, PageRequest, Store, WorkspaceScope, hour_bucket};
use tenants::{AccountId, DeliveryState, PostId, SharedClock, WorkspaceId};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::partner::OutstandClient;

/// When post analytics are pulled, after publishing.
pub const POST_PULLS: [(&str, SignedDuration); 3] = [
    ("1h", SignedDuration::from_hours(1)),
    ("24h", SignedDuration::from_hours(24)),
    ("7d", SignedDuration::from_hours(7 * 24)),
];

/// Settings of the analytics worker.
#[derive(Debug, Clone)]
pub struct AnalyticsConfig {
    /// Real time between scans of the job index.
    pub scan_interval: Duration,
    /// Real time between two partner calls (a client-side rate limit).
    pub min_interval: Duration,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            scan_interval: Duration::from_secs(30),
            min_interval: Duration::from_millis(200),
        }
    }
}

pub(crate) struct Worker {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) client: OutstandClient,
    pub(crate) clock: SharedClock,
    pub(crate) config: AnalyticsConfig,
}

/// The analytics worker's handle.
#[derive(Debug, Clone)]
pub struct AnalyticsHandle {
    tick_tx: mpsc::Sender<oneshot::Sender<()>>,
}

impl AnalyticsHandle {
    /// Runs every job due on the engine clock now, and returns when done (tests).
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the worker has stopped.
    pub async fn tick(&self) -> Result<(), EngineError> {
        let (done_tx, done_rx) = oneshot::channel();
        let gone = || EngineError::Unavailable("analytics worker stopped".into());
        self.tick_tx.send(done_tx).await.map_err(|_| gone())?;
        done_rx.await.map_err(|_| gone())
    }
}

/// Starts the worker; it stops when `cancel` fires.
pub fn start(
    store: Arc<dyn Store>,
    client: OutstandClient,
    clock: SharedClock,
    config: AnalyticsConfig,
    events_rx: broadcast::Receiver<EngineEvent>,
    cancel: CancellationToken,
) -> AnalyticsHandle {
    let (tick_tx, tick_rx) = mpsc::channel(16);
    let worker = Arc::new(Worker {
        store,
        client,
        clock,
        config,
    });
    crate::runtime::spawn(run(worker, events_rx, tick_rx, cancel));
    AnalyticsHandle { tick_tx }
}

async fn run(
    w: Arc<Worker>,
    mut events_rx: broadcast::Receiver<EngineEvent>,
    mut tick_rx: mpsc::Receiver<oneshot::Sender<()>>,
    cancel: CancellationToken,
) {
    let mut low_water: Option<i64> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            e = events_rx.recv() => match e {
                Ok(event) => {
                    if let Err(err) = schedule_for(&w, &event).await {
                        tracing::warn!(error = %err, "analytics jobs not scheduled");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(num_lost = n, "analytics scheduling fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            t = tick_rx.recv() => {
                let Some(done) = t else { return };
                pass(&w, &mut low_water).await;
                let _ = done.send(());
            }
            () = tokio::time::sleep(w.config.scan_interval) => pass(&w, &mut low_water).await,
        }
    }
}

async fn put_job(
    w: &Worker,
    due_at: Timestamp,
    ws: WorkspaceId,
    account: AccountId,
    kind: AnalyticsJobKind,
) -> Result<(), EngineError> {
    let job = AnalyticsJob {
        id: Uuid::now_v7(),
        due_at,
        workspace_id: ws,
        account_id: account,
        kind,
    };
    w.store.put_analytics_job(&job).await?;
    Ok(())
}

/// Schedules the pulls an event calls for.
async fn schedule_for(w: &Worker, event: &EngineEvent) -> Result<(), EngineError> {
    let ws = event.workspace_id;
    match (event.kind, event.account_id, event.post_id) {
        (EventKind::AccountConnected, Some(account), _) => {
            put_job(
                w,
                w.clock.now(),
                ws,
                account,
                AnalyticsJobKind::AccountDaily,
            )
            .await
        }
        (EventKind::PostPublished | EventKind::PostPartiallyPublished, _, Some(post)) => {
            schedule_post(w, ws, post).await
        }
        _ => Ok(()),
    }
}

async fn schedule_post(w: &Worker, ws: WorkspaceId, post_id: PostId) -> Result<(), EngineError> {
    let scope = WorkspaceScope::authorized(ws);
    for d in w.store.list_deliveries_of_post(scope, post_id).await? {
        let (DeliveryState::Published, Some(partner_post_id), Some(at)) =
            (d.state, d.partner_post_id.clone(), d.published_at)
        else {
            continue;
        };
        for (offset, after) in POST_PULLS {
            let kind = AnalyticsJobKind::Post {
                post_id,
                partner_post_id: partner_post_id.clone(),
                offset: offset.to_owned(),
            };
            put_job(w, at + after, ws, d.account_id, kind).await?;
        }
    }
    Ok(())
}

/// Runs every job due now, from the low-water bucket on.
async fn pass(w: &Worker, low_water: &mut Option<i64>) {
    let now = w.clock.now();
    let current = hour_bucket(now);
    let from = low_water.unwrap_or(current - 8 * 24);
    let mut complete = true;
    for bucket in from..=current {
        let mut page = PageRequest::first(200);
        loop {
            let p = match w.store.analytics_due_in_bucket(bucket, page.clone()).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(bucket, error = %e, "analytics scan failed");
                    complete = false;
                    break;
                }
            };
            for job in p.items.into_iter().filter(|j| j.due_at <= now) {
                if let Err(e) = pull::run_job(w, &job, now).await {
                    // The low-water mark stays put, so the next scan retries it.
                    tracing::warn!(job_id = %job.id, error = %e, "analytics pull failed; retrying later");
                    complete = false;
                }
                tokio::time::sleep(w.config.min_interval).await;
            }
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    if complete {
        *low_water = Some(current - 1);
    }
}

impl crate::api::EngineHandle {
    /// Starts the analytics worker on this engine's store, clock and events (once).
    /// `Engine::start` does this with default settings.
    pub fn attach_analytics(
        &self,
        client: OutstandClient,
        config: AnalyticsConfig,
    ) -> AnalyticsHandle {
        self.inner
            .analytics
            .get_or_init(|| {
                let ctx = &self.inner.ctx;
                start(
                    ctx.store.clone(),
                    client,
                    ctx.clock.clone(),
                    config,
                    ctx.events.subscribe(),
                    self.inner.cancel.clone(),
                )
            })
            .clone()
    }

    /// The analytics worker.
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when it was not attached.
    pub fn analytics(&self) -> Result<&AnalyticsHandle, EngineError> {
        self.inner
            .analytics
            .get()
            .ok_or_else(|| EngineError::Unavailable("analytics are not running".into()))
    }
}
