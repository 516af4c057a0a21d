//! Reconciliation of deliveries whose outcome is unknown: `unconfirmed` ones, and `submitting`
//! ones a crash left behind. The partner is asked (by post id, else by idempotency key), never
//! posted to blind. Only when the partner proves it has nothing does the delivery go back to
//! `scheduled`, to be published again under the same idempotency key.

use tenants::{Delivery, DeliveryError, DeliveryEvent};

use crate::account::AccountState;
use crate::context::Ctx;
use crate::error::EngineError;
use crate::outbound::PartnerError;
use crate::publish::{finish, on_partner_post};

/// Unconfirmed deliveries give up (fail with a reason) after this many unanswered checks.
const MAX_CHECKS: u32 = 200;

/// Asks the partner what became of `d` and records the answer.
///
/// # Errors
/// Store failures.
pub async fn reconcile(
    ctx: &Ctx,
    state: &mut AccountState,
    d: Delivery,
) -> Result<(), EngineError> {
    // Asking is a request too: it waits out any Retry-After the partner gave.
    if let Some(until) = state.limits.blocked_until(&ctx.app_limits, ctx.now()) {
        state.requeue(until, d.id, d.post_id);
        return Ok(());
    }
    let found = match &d.partner_post_id {
        Some(id) => match ctx.partner.get_post(id).await {
            Ok(None) => {
                ctx.partner
                    .find_by_idempotency_key(&d.idempotency_key)
                    .await
            }
            other => other,
        },
        None => {
            ctx.partner
                .find_by_idempotency_key(&d.idempotency_key)
                .await
        }
    };
    let now = ctx.now();
    match found {
        Ok(Some(post)) => on_partner_post(ctx, state, &d, post).await,
        Ok(None) => {
            // Proven absent: publish again, under the same key.
            tracing::info!(delivery_id = %d.id, "partner has no such post; retrying with the same key");
            let error = DeliveryError::new(
                "not_received",
                "the partner never received the post; sending it again",
            );
            finish(
                ctx,
                state,
                &d,
                DeliveryEvent::RetryLater {
                    error,
                    retry_at: now,
                },
            )
            .await
        }
        Err(e) => {
            let checks = d.version.min(u64::from(u32::MAX)) as u32;
            if let PartnerError::NotAccepted {
                rate_limited: true,
                retry_after: Some(ra),
                ..
            } = &e
                && let Ok(wait) = jiff::SignedDuration::try_from(*ra)
            {
                state.limits.block_until(now + wait);
                ctx.app_limits.block_partner_until(now + wait);
            }
            let why = match e {
                PartnerError::Unknown(w) => w,
                PartnerError::TokenRejected => "token rejected".into(),
                PartnerError::NotAccepted { message, .. } => message,
            };
            if checks > MAX_CHECKS {
                let reason = DeliveryError::new(
                    "unconfirmed_gave_up",
                    format!(
                        "the partner could not confirm the post after many checks ({why}); check the account"
                    ),
                );
                return finish(ctx, state, &d, DeliveryEvent::Fail(reason)).await;
            }
            let error = DeliveryError::new(
                "outcome_unknown",
                format!("the partner could not be asked about the post ({why}); checking again"),
            );
            let blocked = state.limits.blocked_until(&ctx.app_limits, now);
            let check_at =
                (now + ctx.backoff(2).max(ctx.tuning.reconcile_after)).max(blocked.unwrap_or(now));
            finish(ctx, state, &d, DeliveryEvent::Unconfirm { error, check_at }).await
        }
    }
}
