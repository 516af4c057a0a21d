//! The publish pipeline for one due delivery, run by its account actor:
//!
//! 1. checks that hold it back (restricted workspace, account to reconnect, token, rate limits)
//!    put it in `held` with a reason and, where known, `retry_at`;
//! 2. `scheduled -> submitting` is persisted (compare-and-set) before the partner is called;
//! 3. the partner is called with the delivery's stable idempotency key;
//! 4. the outcome is persisted: `published`, `failed` (code and message), `unconfirmed` (sent,
//!    outcome unknown: reconciled later by asking the partner), or back to `scheduled` with a
//!    retry time when the partner proved nothing was published.

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
use cas::transition_all;

/// Acts on one due delivery.
///
/// # Errors
/// Store or vault failures; the caller retries later.
pub async fn process(
    ctx: &Ctx,
    state: &mut AccountState,
    post_id: PostId,
    id: DeliveryId,
) -> Result<(), EngineError> {
    let scope = state.scope.workspace();
    let Some(d) = ctx.store.get_delivery(scope, post_id, id).await? else {
        return Ok(());
    };
    let now = ctx.now();
    if d.state.is_terminal() || d.account_id != state.scope.account_id() {
        return Ok(());
    }
    if d.due_at > now {
        state.requeue(d.due_at, d.id, d.post_id);
        return Ok(());
    }
    match d.state {
        DeliveryState::Scheduled => attempt(ctx, state, d).await,
        DeliveryState::Held => release(ctx, state, d).await,
        DeliveryState::Submitting | DeliveryState::Unconfirmed => {
            crate::reconcile::reconcile(ctx, state, d).await
        }
        _ => Ok(()),
    }
}

/// Releases a held delivery whose condition may have cleared, then attempts it.
async fn release(ctx: &Ctx, state: &mut AccountState, d: Delivery) -> Result<(), EngineError> {
    let code = d.last_error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
    if matches!(code, "account_needs_reconnect" | "account_degraded")
        && state.account.status != AccountStatus::Active
    {
        return Ok(());
    }
    if code == "processing_restricted" && restricted(ctx, state).await? {
        return Ok(());
    }
    let now = ctx.now();
    match transition(ctx, state, &d, DeliveryEvent::Release { due_at: now }).await? {
        Some(next) => attempt(ctx, state, next).await,
        None => Ok(()),
    }
}

async fn restricted(ctx: &Ctx, state: &AccountState) -> Result<bool, EngineError> {
    let ws = ctx.store.get_workspace(state.scope.workspace()).await?;
    Ok(ws.is_none_or(|w| w.processing_restricted || w.deletion_requested_at.is_some()))
}

/// Runs the checks, claims the delivery and calls the partner.
async fn attempt(ctx: &Ctx, state: &mut AccountState, d: Delivery) -> Result<(), EngineError> {
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
        return hold(ctx, state, &d, reason, None).await;
    }
    match state.account.status {
        AccountStatus::Active => {}
        AccountStatus::NeedsReconnect => {
            let crate::account::tokens::TokenHold::NeedsReconnect(reason) =
                crate::account::tokens::reconnect_hold(state)
            else {
                return Ok(());
            };
            return hold(ctx, state, &d, reason, None).await;
        }
        AccountStatus::Degraded => {
            return hold(ctx, state, &d, crate::workspace::degraded_reason(), None).await;
        }
        AccountStatus::Disconnected => {
            let reason = DeliveryError::new("account_disconnected", "the account was disconnected");
            transition(ctx, state, &d, DeliveryEvent::Cancel { reason }).await?;
            notify_post(state, &d);
            return Ok(());
        }
    }
    let Some(post) = post else {
        let reason = DeliveryError::new(
            "post_missing",
            "the post was deleted before it could publish",
        );
        return finish(ctx, state, &d, DeliveryEvent::Fail(reason)).await;
    };
    let Some(partner_account_id) = state.account.partner_account_id.clone() else {
        let reason = DeliveryError::new(
            "account_not_linked",
            "the account has no publishing partner id; reconnect the account",
        );
        return finish(ctx, state, &d, DeliveryEvent::Fail(reason)).await;
    };
    let token = match crate::account::tokens::ensure_token(ctx, state).await? {
        Ok(t) => t,
        Err(crate::account::tokens::TokenHold::NeedsReconnect(reason)) => {
            return hold(ctx, state, &d, reason, None).await;
        }
        Err(crate::account::tokens::TokenHold::RetryAt(reason, at)) => {
            return hold(ctx, state, &d, reason, Some(at)).await;
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
        return hold(ctx, state, &d, reason, Some(hit.until())).await;
    }
    // Persist the claim before the side effect, so a crash is reconciled instead of re-posted.
    let Some(claimed) = transition(ctx, state, &d, DeliveryEvent::Submit).await? else {
        return Ok(());
    };
    let req = PublishRequest {
        idempotency_key: claimed.idempotency_key.clone(),
        partner_account_id,
        caption: post.caption_for(claimed.platform).to_owned(),
        media_urls: post.media_urls.clone(),
        access_token: token,
    };
    let started = std::time::Instant::now();
    let result = ctx.partner.publish(req).await;
    tracing::debug!(delivery_id = %claimed.id, latency_ms = started.elapsed().as_millis() as u64,
        ok = result.is_ok(), "partner publish");
    feed_rate_hint(ctx);
    match result {
        Ok(post) => on_partner_post(ctx, state, &claimed, post).await,
        Err(e) => on_publish_error(ctx, state, &claimed, e).await,
    }
}

/// Applies what the partner says about an accepted post.
pub async fn on_partner_post(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    post: PartnerPost,
) -> Result<(), EngineError> {
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
    finish_all(ctx, state, d, accepted.into_iter().chain([event])).await
}

async fn on_publish_error(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    e: PartnerError,
) -> Result<(), EngineError> {
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
                return finish(ctx, state, d, DeliveryEvent::Fail(reason)).await;
            }
            let backoff = ctx.backoff(d.attempts);
            let retry_at = now + wait.map_or(backoff, |w| w.max(backoff));
            let error = DeliveryError::new(code, message);
            finish(ctx, state, d, DeliveryEvent::RetryLater { error, retry_at }).await
        }
        PartnerError::NotAccepted {
            retryable: false,
            code,
            message,
            ..
        } => {
            finish(
                ctx,
                state,
                d,
                DeliveryEvent::Fail(DeliveryError::new(code, message)),
            )
            .await
        }
        PartnerError::TokenRejected => {
            state.force_refresh = true;
            state.token = None;
            if d.attempts >= ctx.tuning.max_attempts {
                let reason = DeliveryError::new(
                    "token_rejected",
                    "the platform keeps refusing the account's token; reconnect the account",
                );
                return finish(ctx, state, d, DeliveryEvent::Fail(reason)).await;
            }
            let error = DeliveryError::new(
                "token_rejected",
                "the platform refused the access token; refreshing and retrying",
            );
            let retry_at = now + ctx.backoff(1);
            finish(ctx, state, d, DeliveryEvent::RetryLater { error, retry_at }).await
        }
        PartnerError::Unknown(why) => {
            let error = DeliveryError::new(
                "outcome_unknown",
                format!("the partner did not confirm the post ({why}); checking with the partner"),
            );
            let check_at = now + ctx.tuning.reconcile_after;
            finish(ctx, state, d, DeliveryEvent::Unconfirm { error, check_at }).await
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
    let Some(next) = transition_all(ctx, state, d, events).await? else {
        return Ok(());
    };
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
        notify_post(state, &next);
    }
    Ok(())
}

fn notify_post(state: &AccountState, d: &Delivery) {
    state
        .workspace
        .send(WorkspaceMsg::PostChanged { post_id: d.post_id });
}
