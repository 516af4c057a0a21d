//! The webhook feed: reads the durable event log ([`schema::EventLogStore`]) by cursor and fans
//! every event out to the outbox ([`super::fanout`]). It never relies on the in-memory
//! broadcast for content: a broadcast message (or a lag notice) only wakes it up, so a slow
//! feed or a crash loses nothing.
//!
//! Position: the saved cursor (`event_cursors["webhooks"]`) says which events are done; it is
//! written after each pass. In memory the feed also keeps, per hour bucket, how far it has read.
//! A position only passes an event once the event is handled and older than the store's
//! [`schema::EventLogStore::event_log_settle`] (zero on the embedded store, whose ids grow in
//! commit order), so a late-visible event is never skipped; events handled but not yet passed
//! are remembered so a re-read does not fan them out again. A bucket is left for the next one a
//! minute after it ends (plus the settle time). Replaying an event is harmless anyway: outbox
//! message ids are derived from the event and the endpoint.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use schema::WebhookEndpoint;
use schema::{EventCursor, LoggedEvent, WorkspaceScope, hour_bucket};
use tenants::WorkspaceId;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Shared;
use super::fanout::{backfill_partner_accounts, fan_out, remember_account, to_envelope};
use crate::error::EngineError;
use crate::events::EngineEvent;

/// The feed's name in `event_cursors`.
pub const CONSUMER: &str = "webhooks";
/// Events read per store call.
const PAGE: usize = 500;
/// Events fanned out at once.
const CONCURRENCY: usize = 64;
/// How far back a feed without a saved cursor starts (the log's retention).
const FIRST_LOOKBACK_HOURS: i64 = 7 * 24;
/// How long after a bucket ends the feed keeps reading it.
const BUCKET_GRACE: SignedDuration = SignedDuration::from_secs(60);

/// The feed's position.
#[derive(Debug)]
struct Position {
    /// Per hour bucket still open, the last event passed in it.
    buckets: BTreeMap<i64, Option<Uuid>>,
    /// Events handled but not passed yet (younger than the settle time).
    handled: HashSet<Uuid>,
    /// The cursor as last saved.
    saved: Option<EventCursor>,
}

impl Position {
    fn cursor(&self) -> Option<EventCursor> {
        self.buckets
            .iter()
            .next()
            .map(|(&bucket, &after)| EventCursor { bucket, after })
    }
}

/// The time part of a UUIDv7.
fn id_time(id: Uuid) -> Timestamp {
    id.get_timestamp()
        .and_then(|t| {
            let (secs, nanos) = t.to_unix();
            Timestamp::new(i64::try_from(secs).ok()?, i32::try_from(nanos).ok()?).ok()
        })
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

async fn load(shared: &Shared) -> Position {
    let current = hour_bucket(Timestamp::now());
    let saved = match shared.store.get_event_cursor(CONSUMER).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "webhook feed cursor unreadable; reading the whole log");
            None
        }
    };
    let start = saved.unwrap_or(EventCursor {
        bucket: current - FIRST_LOOKBACK_HOURS,
        after: None,
    });
    let mut buckets = BTreeMap::new();
    buckets.insert(start.bucket, start.after);
    Position {
        buckets,
        handled: HashSet::new(),
        saved,
    }
}

/// Handles one logged event: indexes a connected account, then writes its outbox messages to
/// `endpoints` (its workspace's).
async fn handle(
    shared: &Shared,
    event: &LoggedEvent,
    endpoints: &[WebhookEndpoint],
) -> Result<(), EngineError> {
    let scope = WorkspaceScope::authorized(event.workspace_id);
    if let ("account.connected", Some(account_id)) = (event.kind.as_str(), event.account_id) {
        remember_account(shared, scope, account_id).await?;
    }
    if let Some(envelope) = to_envelope(event) {
        fan_out(shared, event, &envelope, endpoints).await?;
    }
    Ok(())
}

/// The webhook endpoints of every workspace that has an event in `events`, listed once per
/// page rather than once per event (an import logs thousands of events of one workspace). A
/// workspace whose listing failed is missing: its events are retried next pass.
async fn endpoints_of(
    shared: &Shared,
    events: &[(LoggedEvent, bool)],
) -> HashMap<WorkspaceId, Vec<WebhookEndpoint>> {
    let workspaces: HashSet<WorkspaceId> = events
        .iter()
        .filter(|(_, todo)| *todo)
        .map(|(e, _)| e.workspace_id)
        .collect();
    let mut out = HashMap::with_capacity(workspaces.len());
    for ws in workspaces {
        match shared
            .store
            .list_webhooks(WorkspaceScope::authorized(ws))
            .await
        {
            Ok(endpoints) => {
                out.insert(ws, endpoints);
            }
            Err(e) => {
                tracing::warn!(workspace_id = %ws, error = %e, "webhook endpoints unreadable; retried next pass");
            }
        }
    }
    out
}

/// Reads one bucket from its position and handles what is new, a page at a time with up to
/// [`CONCURRENCY`] events in flight (their outbox writes share group commits). `false` when a
/// failure stopped it (the rest is read again next pass).
async fn drain_bucket(
    shared: &Shared,
    pos: &mut Position,
    bucket: i64,
    settled_before: Timestamp,
) -> bool {
    let mut after = pos.buckets.get(&bucket).copied().flatten();
    let mut passing = true;
    loop {
        let events = match shared.store.events_in_bucket(bucket, after, PAGE).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(bucket, error = %e, "webhook feed read failed");
                return false;
            }
        };
        let page: Vec<(LoggedEvent, bool)> = events
            .iter()
            .map(|e| (e.clone(), !pos.handled.contains(&e.id)))
            .collect();
        let endpoints = endpoints_of(shared, &page).await;
        let endpoints = &endpoints;
        let jobs: Vec<_> = page
            .into_iter()
            .map(|(event, todo)| async move {
                if !todo {
                    return true;
                }
                let Some(endpoints) = endpoints.get(&event.workspace_id) else {
                    return false;
                };
                match handle(shared, &event, endpoints).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(event_id = %event.id, kind = event.kind, error = %e,
                            "webhook fan-out failed; retried next pass");
                        false
                    }
                }
            })
            .collect();
        let results: Vec<bool> = futures::stream::iter(jobs)
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let mut failed = false;
        for (event, ok) in events.iter().zip(results) {
            after = Some(event.id);
            if !ok {
                failed = true;
                continue;
            }
            pos.handled.insert(event.id);
            passing = passing && !failed && id_time(event.id) < settled_before;
            if passing {
                pos.handled.remove(&event.id);
                pos.buckets.insert(bucket, Some(event.id));
            }
        }
        if failed {
            return false;
        }
        if events.len() < PAGE {
            return true;
        }
    }
}

/// Reads every open bucket up to the current hour, then saves the cursor.
async fn pass(shared: &Shared, pos: &mut Position) {
    let now = Timestamp::now();
    let settle = shared.store.event_log_settle();
    let settled_before = now - settle;
    let current = hour_bucket(now);
    let first = pos.buckets.keys().next().copied().unwrap_or(current);
    for bucket in first..=current {
        pos.buckets.entry(bucket).or_insert(None);
    }
    let open: Vec<i64> = pos.buckets.keys().copied().collect();
    for bucket in open {
        let complete = drain_bucket(shared, pos, bucket, settled_before).await;
        let ended = Timestamp::from_second((bucket + 1) * 3600).unwrap_or(Timestamp::MAX);
        let is_first = pos.buckets.keys().next() == Some(&bucket);
        let all_passed = !pos
            .handled
            .iter()
            .any(|id| schema::event_bucket(*id) == bucket);
        if complete
            && is_first
            && bucket < current
            && all_passed
            && ended + BUCKET_GRACE + settle <= now
        {
            pos.buckets.remove(&bucket);
        }
        if !complete {
            break;
        }
    }
    let cursor = pos.cursor();
    if cursor != pos.saved
        && let Some(c) = cursor
    {
        match shared.store.put_event_cursor(CONSUMER, &c).await {
            Ok(()) => pos.saved = Some(c),
            Err(e) => tracing::warn!(error = %e, "webhook feed cursor not saved"),
        }
    }
}

/// Runs the feed until `cancel` fires: a pass at start, on every event broadcast (the content is
/// ignored), on [`Shared::feed_wake`], on a tick request and every scan interval.
pub(crate) async fn run(
    shared: Arc<Shared>,
    events_rx: broadcast::Receiver<EngineEvent>,
    mut tick_rx: mpsc::Receiver<oneshot::Sender<()>>,
    cancel: CancellationToken,
) {
    if let Err(e) = backfill_partner_accounts(&shared).await {
        tracing::warn!(error = %e, "partner account index backfill failed");
    }
    let mut pos = load(&shared).await;
    let mut events_rx = Some(events_rx);
    loop {
        pass(&shared, &mut pos).await;
        let woken = async {
            match events_rx.as_mut() {
                // Lagged is a wake-up like any other: the log holds every event.
                Some(rx) => matches!(rx.recv().await, Err(broadcast::error::RecvError::Closed)),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            closed = woken => if closed { events_rx = None },
            () = shared.feed_wake.notified() => {}
            t = tick_rx.recv() => match t {
                Some(done) => {
                    pass(&shared, &mut pos).await;
                    let _ = done.send(());
                }
                None => return,
            },
            () = tokio::time::sleep(shared.config.scan_interval) => {}
        }
    }
}
