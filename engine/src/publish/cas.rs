//! Compare-and-set transitions of a delivery, the only way the publish pipeline changes one: the
//! next state is computed by the domain state machine and persisted only if the stored version is
//! still the one it was computed from.

use schema::CasOutcome;
use tenants::{Delivery, DeliveryEvent};

use crate::account::AccountState;
use crate::context::Ctx;
use crate::error::EngineError;

/// Persists `event` on `d` by compare-and-set. `None` when the event is illegal or another
/// writer moved the delivery first (then nothing happened here).
///
/// # Errors
/// Store failures.
pub async fn transition(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    event: DeliveryEvent,
) -> Result<Option<Delivery>, EngineError> {
    transition_all(ctx, state, d, [event]).await
}

/// Applies `events` in order to `d` in memory and persists the result by one compare-and-set on
/// `d`'s version. `None` when any event is illegal or another writer moved the delivery first.
pub(super) async fn transition_all(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    events: impl IntoIterator<Item = DeliveryEvent>,
) -> Result<Option<Delivery>, EngineError> {
    let now = ctx.now();
    let mut next = d.clone();
    let mut states = Vec::with_capacity(2);
    for event in events {
        match next.apply(&event, now) {
            Ok(moved) => next = moved,
            Err(illegal) => {
                tracing::warn!(delivery_id = %d.id, error = %illegal, "transition refused");
                return Ok(None);
            }
        }
        states.push(next.state);
    }
    match ctx.store.transition(state.scope, d.version, &next).await? {
        CasOutcome::Applied => {
            for s in states {
                state.count(s);
            }
            Ok(Some(next))
        }
        CasOutcome::Conflict(_) => {
            tracing::info!(delivery_id = %d.id, "delivery moved by another writer");
            Ok(None)
        }
    }
}
