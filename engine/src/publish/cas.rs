//! Compare-and-set transitions of a delivery, the only way the publish pipeline changes one: the
//! next state is computed by the domain state machine and persisted only if the stored version is
//! still the one it was computed from.

use schema::CasOutcome;
use tenants::{Delivery, DeliveryEvent, DeliveryState};

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
    let moves = vec![(d.clone(), events.into_iter().collect())];
    transition_many(ctx, state, moves)
        .await
        .pop()
        .unwrap_or(Ok(None))
}

/// [`transition_all`] for several deliveries of the account, persisted in one store call (one
/// commit on the embedded store). One result per delivery, in order.
pub(super) async fn transition_many(
    ctx: &Ctx,
    state: &mut AccountState,
    moves: Vec<(Delivery, Vec<DeliveryEvent>)>,
) -> Vec<Result<Option<Delivery>, EngineError>> {
    let now = ctx.now();
    // Each move's next delivery and the states it passes through, or `None` if refused.
    let planned: Vec<Option<(Delivery, Vec<DeliveryState>)>> = moves
        .iter()
        .map(|(d, events)| apply_in_memory(d, events, now))
        .collect();
    let writes: Vec<(u64, Delivery)> = moves
        .iter()
        .zip(&planned)
        .filter_map(|((d, _), p)| p.as_ref().map(|(next, _)| (d.version, next.clone())))
        .collect();
    let mut stored = if writes.is_empty() {
        Vec::new()
    } else {
        ctx.store.transition_many(state.scope, &writes).await
    }
    .into_iter();
    let mut results = Vec::with_capacity(moves.len());
    for ((d, _), plan) in moves.iter().zip(planned) {
        let Some((next, states)) = plan else {
            results.push(Ok(None));
            continue;
        };
        let outcome = stored.next().unwrap_or_else(|| {
            Err(schema::StoreError::Backend(
                "the store returned fewer outcomes than moves".into(),
            ))
        });
        results.push(match outcome {
            Ok(CasOutcome::Applied) => {
                for s in states {
                    state.count(s);
                }
                Ok(Some(next))
            }
            Ok(CasOutcome::Conflict(_)) => {
                tracing::info!(delivery_id = %d.id, "delivery moved by another writer");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        });
    }
    results
}

/// Applies `events` to `d` by the domain state machine: the next delivery and every state it
/// passed through, or `None` (logged) when an event is illegal.
fn apply_in_memory(
    d: &Delivery,
    events: &[DeliveryEvent],
    now: jiff::Timestamp,
) -> Option<(Delivery, Vec<DeliveryState>)> {
    let mut next = d.clone();
    let mut states = Vec::with_capacity(events.len());
    for event in events {
        match next.apply(event, now) {
            Ok(moved) => next = moved,
            Err(illegal) => {
                tracing::warn!(delivery_id = %d.id, error = %illegal, "transition refused");
                return None;
            }
        }
        states.push(next.state);
    }
    Some((next, states))
}
