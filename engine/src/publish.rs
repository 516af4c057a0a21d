//! The publish pipeline for one due delivery, run by its account actor:
//!
//! 1. checks that hold it back (restricted workspace, account to reconnect, token, rate limits)
//!    put it in `held` with a reason and, where known, `retry_at`;
//! 2. `scheduled -> submitting` is persisted (compare-and-set) before the partner is called;
//! 3. the partner is called with the delivery's stable idempotency key;
//! 4. the outcome is persisted: `published`, `failed` (code and message), `unconfirmed` (sent,
//!    outcome unknown: reconciled later by asking the partner), or back to `scheduled` with a
//!    retry time when the partner proved nothing was published.
//!
//! An account with several deliveries due at once takes up to [`MAX_BURST`] of them together:
//! their deliveries and posts are read in two store calls, each is checked on its own
//! ([`checks`]), the ready ones are claimed in one
//! [`schema::DeliveryStore::transition_many`] call, sent one after the other, and their outcomes
//! ([`outcome`]) persisted in one more. Every claim is still durable before its partner call, and
//! every compare-and-set still wins or loses on its own.

use jiff::Timestamp;
use tenants::{Delivery, DeliveryError, DeliveryEvent, DeliveryId, DeliveryState, PostId};

use crate::account::AccountState;
use crate::context::Ctx;
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::outbound::PartnerPost;
use crate::workspace::WorkspaceMsg;

mod cas;
mod checks;
mod outcome;

pub use cas::transition;
use cas::{transition_all, transition_many};
use checks::{Ready, Restriction, prepare, read_burst};
use outcome::{feed_rate_hint, partner_post_events, publish_error_events};

/// A due delivery as the account's window holds it: (due at, delivery, post).
pub type Due = (Timestamp, DeliveryId, PostId);

/// The most due deliveries of one account taken on together: enough that a burst shares its
/// commits, few enough that the actor's other messages still interleave.
pub const MAX_BURST: usize = 16;

/// Acts on due deliveries. A delivery whose processing hits a store failure goes back in the
/// window to be tried again later.
pub async fn process(ctx: &Ctx, state: &mut AccountState, due: Vec<Due>) {
    let read = match read_burst(ctx, state, &due).await {
        Ok(read) => read,
        Err(e) => {
            for d in due {
                retry_later(ctx, state, d, &e);
            }
            return;
        }
    };
    let mut ready = Vec::with_capacity(due.len());
    let mut restriction = Restriction::default();
    for ((due_at, id, post_id), d) in due.into_iter().zip(read.deliveries) {
        match prepare(ctx, state, &mut restriction, &read.posts, d).await {
            Ok(Some(mut r)) => {
                r.due_at = due_at;
                ready.push(r);
            }
            Ok(None) => {}
            Err(e) => retry_later(ctx, state, (due_at, id, post_id), &e),
        }
    }
    if !ready.is_empty() {
        publish_ready(ctx, state, ready).await;
    }
}

/// Keeps a delivery whose processing failed in the window, to be tried again after a backoff.
fn retry_later(ctx: &Ctx, state: &mut AccountState, (due_at, id, post_id): Due, e: &EngineError) {
    tracing::warn!(error = %e, delivery_id = %id, "processing failed; will retry");
    state.requeue(due_at.max(ctx.now() + ctx.backoff(1)), id, post_id);
}

/// Claims the ready deliveries, publishes the claimed ones one after the other and persists what
/// the partner said.
///
/// The sends are sequential so that a Retry-After or a refused token seen on one holds back the
/// rest of the burst (no request goes out before its Retry-After); it is the claims and the
/// outcomes that are batched, which is where the time goes.
async fn publish_ready(ctx: &Ctx, state: &mut AccountState, ready: Vec<Ready>) {
    // Persist the claims before the side effects, so a crash is reconciled instead of re-posted.
    let claims = ready
        .iter()
        .map(|r| (r.d.clone(), vec![DeliveryEvent::Submit]))
        .collect();
    let claimed = transition_many(ctx, state, claims).await;
    let mut outcomes = Vec::with_capacity(ready.len());
    for (r, claim) in ready.into_iter().zip(claimed) {
        let d = match claim {
            Ok(Some(claimed)) => claimed,
            Ok(None) => continue,
            Err(e) => {
                retry_later(ctx, state, (r.due_at, r.d.id, r.d.post_id), &e);
                continue;
            }
        };
        let events = match unsent_reason(ctx, state) {
            // Claimed but not sent: nothing went out, so it waits without using an attempt.
            Some((reason, retry_at)) => vec![DeliveryEvent::Withdraw { reason, retry_at }],
            None => {
                let started = std::time::Instant::now();
                let result = ctx.partner.publish(r.req).await;
                tracing::debug!(delivery_id = %d.id, ok = result.is_ok(),
                    latency_ms = started.elapsed().as_millis() as u64, "partner publish");
                feed_rate_hint(ctx);
                match result {
                    Ok(post) => partner_post_events(ctx, &d, post),
                    Err(e) => publish_error_events(ctx, state, &d, e),
                }
            }
        };
        outcomes.push((d, events));
    }
    finish_many(ctx, state, outcomes).await;
}

/// Why the rest of a burst must not be sent now, and until when: a Retry-After or a token the
/// platform just refused, learned from an earlier send of the same burst.
fn unsent_reason(ctx: &Ctx, state: &AccountState) -> Option<(DeliveryError, Timestamp)> {
    let now = ctx.now();
    if let Some(until) = state.limits.blocked_until(&ctx.app_limits, now) {
        let reason = DeliveryError::new(
            "rate_limited",
            format!("the partner asked to wait; it publishes automatically at {until}"),
        );
        return Some((reason, until));
    }
    state.force_refresh.then(|| {
        let reason = DeliveryError::new(
            "token_rejected",
            "the platform refused the access token; refreshing and retrying",
        );
        (reason, now + ctx.backoff(1))
    })
}

/// Applies what the partner says about an accepted post.
///
/// # Errors
/// Store failures.
pub async fn on_partner_post(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    post: PartnerPost,
) -> Result<(), EngineError> {
    let events = partner_post_events(ctx, d, post);
    finish_all(ctx, state, d, events).await
}

/// Applies an outcome, requeues what must run again and tells the workspace about the post.
///
/// # Errors
/// Store failures.
pub async fn finish(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    event: DeliveryEvent,
) -> Result<(), EngineError> {
    finish_all(ctx, state, d, [event]).await
}

/// Like [`finish`] for a sequence of events applied in memory and persisted in one
/// compare-and-set on `d`'s version, so they land together or not at all.
async fn finish_all(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    events: impl IntoIterator<Item = DeliveryEvent>,
) -> Result<(), EngineError> {
    if let Some(next) = transition_all(ctx, state, d, events).await? {
        after_finish(ctx, state, &next).await;
    }
    Ok(())
}

/// [`finish_all`] for several deliveries, persisted together; one that fails to persist goes
/// back in the window to be tried again.
async fn finish_many(
    ctx: &Ctx,
    state: &mut AccountState,
    outcomes: Vec<(Delivery, Vec<DeliveryEvent>)>,
) {
    let keys: Vec<Due> = outcomes
        .iter()
        .map(|(d, _)| (d.due_at, d.id, d.post_id))
        .collect();
    let moved = transition_many(ctx, state, outcomes).await;
    for (due, outcome) in keys.into_iter().zip(moved) {
        match outcome {
            Ok(Some(next)) => after_finish(ctx, state, &next).await,
            Ok(None) => {}
            Err(e) => retry_later(ctx, state, due, &e),
        }
    }
}

/// Requeues what must run again, reports an unknown outcome and tells the workspace about a
/// post whose delivery ended.
async fn after_finish(ctx: &Ctx, state: &mut AccountState, next: &Delivery) {
    match next.state {
        DeliveryState::Scheduled => state.requeue(next.due_at, next.id, next.post_id),
        DeliveryState::Unconfirmed => {
            state.requeue(next.due_at, next.id, next.post_id);
            if next
                .last_error
                .as_ref()
                .is_none_or(|e| e.code != "awaiting_platform")
            {
                ctx.emit_logged(EngineEvent {
                    kind: EventKind::PostUnconfirmed,
                    workspace_id: next.workspace_id,
                    post_id: Some(next.post_id),
                    account_id: Some(next.account_id),
                    reason: next.last_error.as_ref().map(|e| e.message.clone()),
                    at: ctx.now(),
                })
                .await;
            }
        }
        _ => {}
    }
    if next.state.is_terminal() {
        notify_post(state, next);
    }
}

fn notify_post(state: &AccountState, d: &Delivery) {
    state
        .workspace
        .send(WorkspaceMsg::PostChanged { post_id: d.post_id });
}
