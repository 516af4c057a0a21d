//! The account actor's messages and its typed handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use ractor::ActorRef;
use schema::DueRef;

/// What an account actor can be asked to do.
#[derive(Debug)]
pub enum AccountMsg {
    /// The engine was nudged: act on whatever is due on the engine clock.
    Wake,
    /// The armed timer with this id expired (see [`crate::timer_wheel`]): act as on `Wake`.
    Timer(u64),
    /// Reload the schedule from the store from `from` to the end of the window.
    Reload {
        /// Lower bound of the reload.
        from: Timestamp,
    },
    /// Deliveries were added or moved; take them into the schedule.
    Schedule(Vec<DueRef>),
    /// The account record or its tokens changed (reconnect); reload them and release holds.
    AccountChanged,
    /// Fault hook for supervision tests: panic inside the handler.
    InjectPanic,
}

/// The typed API to one account actor. Counts messages in flight (the mailbox depth).
#[derive(Debug, Clone)]
pub struct AccountHandle {
    actor: ActorRef<AccountMsg>,
    depth: Arc<AtomicU64>,
}

impl AccountHandle {
    /// Wraps an actor reference with its depth counter.
    pub fn new(actor: ActorRef<AccountMsg>, depth: Arc<AtomicU64>) -> Self {
        Self { actor, depth }
    }

    /// The underlying actor.
    pub fn actor(&self) -> &ActorRef<AccountMsg> {
        &self.actor
    }

    /// Sends a message; `false` if the actor is gone.
    pub fn send(&self, msg: AccountMsg) -> bool {
        self.depth.fetch_add(1, Ordering::Relaxed);
        if self.actor.cast(msg).is_err() {
            decrement(&self.depth);
            return false;
        }
        true
    }

    /// Acts on whatever is due now.
    pub fn wake(&self) -> bool {
        self.send(AccountMsg::Wake)
    }
}

/// Takes one from a depth counter without going below zero (timer messages were never counted).
pub fn decrement(depth: &AtomicU64) {
    let _ = depth.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| d.checked_sub(1));
}
