//! Bulk moves of one account's pending deliveries, outside its actor: cancel them (disconnect,
//! erasure) or hold them (degraded account). Each move is a compare-and-set on the delivery, so
//! one racing the actor's own claim loses cleanly; published history is never touched.

use jiff::{SignedDuration, Timestamp};
use schema::{AccountScope, CasOutcome};
use tenants::{DeliveryError, DeliveryEvent, DeliveryState, PostId};

use crate::context::Ctx;
use crate::error::EngineError;

/// How far ahead pending deliveries are looked for: every schedule lies within it.
const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 366 * 5);
/// Due rows read at most per account.
const MAX_ROWS: usize = 100_000;

/// What to do with each pending delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingMove {
    /// `scheduled | held -> canceled`.
    Cancel,
    /// `scheduled -> held` (held ones keep their first reason).
    Hold,
}

/// Moves every `scheduled` (and for [`PendingMove::Cancel`] also `held`) delivery of the account
/// with `reason`. Returns the posts touched, once each, so their status can be recomputed.
///
/// # Errors
/// Store failures; deliveries moved before the failure stay moved.
pub async fn move_pending(
    ctx: &Ctx,
    scope: AccountScope,
    how: PendingMove,
    reason: &DeliveryError,
) -> Result<Vec<PostId>, EngineError> {
    let now = ctx.now();
    let rows = ctx
        .store
        .account_due(scope, Timestamp::UNIX_EPOCH, now + HORIZON, MAX_ROWS)
        .await?;
    let mut posts = Vec::new();
    for r in rows {
        let Some(d) = ctx
            .store
            .get_delivery(scope.workspace(), r.post_id, r.delivery_id)
            .await?
        else {
            continue;
        };
        let event = match (how, d.state) {
            (PendingMove::Cancel, DeliveryState::Scheduled | DeliveryState::Held) => {
                DeliveryEvent::Cancel {
                    reason: reason.clone(),
                }
            }
            (PendingMove::Hold, DeliveryState::Scheduled) => DeliveryEvent::Hold {
                reason: reason.clone(),
                retry_at: None,
            },
            _ => continue,
        };
        let Ok(next) = d.apply(&event, now) else {
            continue;
        };
        if let CasOutcome::Applied = ctx.store.transition(scope, d.version, &next).await?
            && !posts.contains(&d.post_id)
        {
            posts.push(d.post_id);
        }
    }
    Ok(posts)
}
