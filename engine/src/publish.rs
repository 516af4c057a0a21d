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
//! each is checked on its own, the ready ones are claimed in one [`schema::DeliveryStore::transition_many`]
//! call, published concurrently, and their outcomes persisted in one more. Every claim is still
//! durable before its partner call, and every compare-and-set still wins or loses on its own.

use jiff::Timestamp;
use tenants::{
    AccountStatus, Delivery, DeliveryError, DeliveryEvent, DeliveryId, DeliveryState, PostId,
};

use crate::account::AccountState;
use crate::context::Ctx;
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::outbound::{PartnerError, PartnerPost, PartnerStatus, PublishRequest};
use crate::workspace::WorkspaceMsg;

mod cas;

pub use cas::transition;
use cas::{transition_all, transition_many};

/// A due delivery as the account's window holds it: (due at, delivery, post).
pub type Due = (Timestamp, DeliveryId, PostId);

/// The most due deliveries of one account taken on together: enough that a burst shares its
/// commits, few enough that the actor's other messages still interleave.
pub const MAX_BURST: usize = 16;

/// A delivery that passed every check and may be claimed and sent.
struct Ready {
    due_at: Timestamp,
    d: Delivery,
    req: PublishRequest,
}

/// Acts on due deliveries. A delivery whose processing hits a store failure goes back in the
/// window to be tried again later.
pub async fn process(ctx: &Ctx, state: &mut AccountState, due: Vec<Due>) {
    let mut ready = Vec::with_capacity(due.len());
    for (due_at, id, post_id) in due {
        match prepare(ctx, state, post_id, id).await {
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

/// Reads one due delivery and acts on what needs no partner publish (holds, releases,
/// reconciliation). `Some` when it is ready to be claimed and sent.
async fn prepare(
    ctx: &Ctx,
    state: &mut AccountState,
    post_id: PostId,
    id: DeliveryId,
) -> Result<Option<Ready>, EngineError> {
    let scope = state.scope.workspace();
    let Some(d) = ctx.store.get_delivery(scope, post_id, id).await? else {
        return Ok(None);
    };
    let now = ctx.now();
    if d.state.is_terminal() || d.account_id != state.scope.account_id() {
        return Ok(None);
    }
    if d.due_at > now {
        state.requeue(d.due_at, d.id, d.post_id);
        return Ok(None);
    }
    match d.state {
        DeliveryState::Scheduled => check(ctx, state, d).await,
        DeliveryState::Held => release(ctx, state, d).await,
        DeliveryState::Submitting | DeliveryState::Unconfirmed => {
            crate::reconcile::reconcile(ctx, state, d).await?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Releases a held delivery whose condition may have cleared, then checks it.
async fn release(
    ctx: &Ctx,
    state: &mut AccountState,
    d: Delivery,
) -> Result<Option<Ready>, EngineError> {
    let code = d.last_error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
    if matches!(code, "account_needs_reconnect" | "account_degraded")
        && state.account.status != AccountStatus::Active
    {
        return Ok(None);
    }
    if code == "processing_restricted" && restricted(ctx, state).await? {
        return Ok(None);
    }
    let now = ctx.now();
    match transition(ctx, state, &d, DeliveryEvent::Release { due_at: now }).await? {
        Some(next) => check(ctx, state, next).await,
        None => Ok(None),
    }
}

async fn restricted(ctx: &Ctx, state: &AccountState) -> Result<bool, EngineError> {
    let ws = ctx.store.get_workspace(state.scope.workspace()).await?;
    Ok(ws.is_none_or(|w| w.processing_restricted || w.deletion_requested_at.is_some()))
}

/// Runs the checks (workspace, account, post, token, limits); a delivery that may not go now
/// is held, failed or canceled here with its reason.
async fn check(
    ctx: &Ctx,
    state: &mut AccountState,
    d: Delivery,
) -> Result<Option<Ready>, EngineError> {
    // Both reads are needed on the common path; reading them together halves the wait.
    let (is_restricted, post) = tokio::try_join!(restricted(ctx, state), async {
        Ok(ctx
            .store
            .get_post(state.scope.workspace(), d.post_id)
            .await?)
    },)?;
    if is_restricted {
        let reason = DeliveryError::new(
            "processing_restricted",
            "processing is restricted for this workspace; lift the restriction to publish",
        );
        return hold(ctx, state, &d, reason, None).await.map(|()| None);
    }
    match state.account.status {
        AccountStatus::Active => {}
        AccountStatus::NeedsReconnect => {
            let crate::account::tokens::TokenHold::NeedsReconnect(reason) =
                crate::account::tokens::reconnect_hold(state)
            else {
                return Ok(None);
            };
            return hold(ctx, state, &d, reason, None).await.map(|()| None);
        }
        AccountStatus::Degraded => {
            let reason = crate::workspace::degraded_reason();
            return hold(ctx, state, &d, reason, None).await.map(|()| None);
        }
        AccountStatus::Disconnected => {
            let reason = DeliveryError::new("account_disconnected", "the account was disconnected");
            transition(ctx, state, &d, DeliveryEvent::Cancel { reason }).await?;
            notify_post(state, &d);
            return Ok(None);
        }
    }
    let Some(post) = post else {
        let reason = DeliveryError::new(
            "post_missing",
            "the post was deleted before it could publish",
        );
        return finish(ctx, state, &d, DeliveryEvent::Fail(reason))
            .await
            .map(|()| None);
    };
    let Some(partner_account_id) = state.account.partner_account_id.clone() else {
        let reason = DeliveryError::new(
            "account_not_linked",
            "the account has no publishing partner id; reconnect the account",
        );
        return finish(ctx, state, &d, DeliveryEvent::Fail(reason))
            .await
            .map(|()| None);
    };
    let token = match crate::account::tokens::ensure_token(ctx, state).await? {
        Ok(t) => t,
        Err(crate::account::tokens::TokenHold::NeedsReconnect(reason)) => {
            return hold(ctx, state, &d, reason, None).await.map(|()| None);
        }
        Err(crate::account::tokens::TokenHold::RetryAt(reason, at)) => {
            return hold(ctx, state, &d, reason, Some(at)).await.map(|()| None);
        }
    };
    let now = ctx.now();
    if let Err(hit) = state.limits.admit(&ctx.app_limits, d.platform, now) {
        let reason = DeliveryError::new(
            hit.code(),
            format!(
                "publishing limit reached; it publishes automatically at {}",
                hit.until()
            ),
        );
        let until = hit.until();
        return hold(ctx, state, &d, reason, Some(until))
            .await
            .map(|()| None);
    }
    let req = PublishRequest {
        idempotency_key: d.idempotency_key.clone(),
        partner_account_id,
        caption: post.caption_for(d.platform).to_owned(),
        media_urls: post.media_urls.clone(),
        access_token: token,
    };
    Ok(Some(Ready {
        due_at: d.due_at,
        d,
        req,
    }))
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

/// The events that record what the partner says about an accepted post.
fn partner_post_events(ctx: &Ctx, d: &Delivery, post: PartnerPost) -> Vec<DeliveryEvent> {
    // A new partner post id and the outcome are persisted in one compare-and-set: the answer is
    // already in hand, so writing `accepted` on its own first would only add a durable round.
    let accepted =
        (d.partner_post_id.as_deref() != Some(post.partner_post_id.as_str())).then(|| {
            DeliveryEvent::Accepted {
                partner_post_id: post.partner_post_id.clone(),
            }
        });
    let event = match post.status {
        PartnerStatus::Published {
            platform_post_id,
            published_at,
        } => DeliveryEvent::Publish {
            platform_post_id,
            published_at,
        },
        PartnerStatus::Failed { code, message } => {
            DeliveryEvent::Fail(DeliveryError::new(code, message))
        }
        PartnerStatus::Pending => DeliveryEvent::Unconfirm {
            error: DeliveryError::new(
                "awaiting_platform",
                "accepted by the partner, waiting for the platform to publish",
            ),
            check_at: ctx.now() + ctx.tuning.pending_poll,
        },
    };
    accepted.into_iter().chain([event]).collect()
}

/// The event that records a publish the partner did not answer with a post, after feeding any
/// Retry-After into the limits.
fn publish_error_events(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    e: PartnerError,
) -> Vec<DeliveryEvent> {
    let now = ctx.now();
    match e {
        PartnerError::NotAccepted {
            retryable: true,
            retry_after,
            rate_limited,
            code,
            message,
        } => {
            let wait = retry_after.and_then(|ra| jiff::SignedDuration::try_from(ra).ok());
            // Any Retry-After is honoured for every request to the partner, not just this one.
            if let Some(wait) = wait.filter(|_| rate_limited || retry_after.is_some()) {
                state.limits.block_until(now + wait);
                ctx.app_limits.block_partner_until(now + wait);
            }
            if d.attempts >= ctx.tuning.max_attempts {
                let reason = DeliveryError::new(
                    code,
                    format!("{message}; gave up after {} attempts", d.attempts),
                );
                return vec![DeliveryEvent::Fail(reason)];
            }
            let backoff = ctx.backoff(d.attempts);
            let retry_at = now + wait.map_or(backoff, |w| w.max(backoff));
            let error = DeliveryError::new(code, message);
            vec![DeliveryEvent::RetryLater { error, retry_at }]
        }
        PartnerError::NotAccepted {
            retryable: false,
            code,
            message,
            ..
        } => {
            vec![DeliveryEvent::Fail(DeliveryError::new(code, message))]
        }
        PartnerError::TokenRejected => {
            state.force_refresh = true;
            state.token = None;
            if d.attempts >= ctx.tuning.max_attempts {
                let reason = DeliveryError::new(
                    "token_rejected",
                    "the platform keeps refusing the account's token; reconnect the account",
                );
                return vec![DeliveryEvent::Fail(reason)];
            }
            let error = DeliveryError::new(
                "token_rejected",
                "the platform refused the access token; refreshing and retrying",
            );
            let retry_at = now + ctx.backoff(1);
            vec![DeliveryEvent::RetryLater { error, retry_at }]
        }
        PartnerError::Unknown(why) => {
            let error = DeliveryError::new(
                "outcome_unknown",
                format!("the partner did not confirm the post ({why}); checking with the partner"),
            );
            let check_at = now + ctx.tuning.reconcile_after;
            vec![DeliveryEvent::Unconfirm { error, check_at }]
        }
    }
}

fn feed_rate_hint(ctx: &Ctx) {
    if let Some(hint) = ctx.partner.rate_hint()
        && hint.remaining == 0
        && hint.reset_at > ctx.now()
    {
        ctx.app_limits.block_partner_until(hint.reset_at);
    }
}

/// Puts a delivery on hold with a reason.
async fn hold(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    reason: DeliveryError,
    retry_at: Option<Timestamp>,
) -> Result<(), EngineError> {
    let code = reason.code.clone();
    let already =
        d.state == DeliveryState::Held && d.last_error.as_ref().is_some_and(|e| e.code == code);
    let event = DeliveryEvent::Hold {
        reason: reason.clone(),
        retry_at,
    };
    if let Some(next) = transition(ctx, state, d, event).await? {
        if let Some(at) = retry_at {
            state.requeue(at, next.id, next.post_id);
        }
        if !already {
            ctx.emit(EngineEvent {
                kind: EventKind::PostHeld,
                workspace_id: d.workspace_id,
                post_id: Some(d.post_id),
                account_id: Some(d.account_id),
                reason: Some(format!("{}: {}", reason.code, reason.message)),
                at: ctx.now(),
            });
        }
    }
    Ok(())
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
