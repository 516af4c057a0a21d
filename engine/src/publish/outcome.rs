//! What the partner's answer to a publish means for the delivery: the events to persist, and the
//! limits a Retry-After or a rate-limit hint feeds.

use tenants::{Delivery, DeliveryError, DeliveryEvent};

use crate::account::AccountState;
use crate::context::Ctx;
use crate::outbound::{PartnerError, PartnerPost, PartnerStatus};

/// The events that record what the partner says about an accepted post.
pub(super) fn partner_post_events(
    ctx: &Ctx,
    d: &Delivery,
    post: PartnerPost,
) -> Vec<DeliveryEvent> {
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
pub(super) fn publish_error_events(
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

pub(super) fn feed_rate_hint(ctx: &Ctx) {
    if let Some(hint) = ctx.partner.rate_hint()
        && hint.remaining == 0
        && hint.reset_at > ctx.now()
    {
        ctx.app_limits.block_partner_until(hint.reset_at);
    }
}
