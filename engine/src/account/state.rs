//! The account actor's state: the window of upcoming deliveries, the one timer, the token, the
//! limits and the counters it exposes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use ractor::ActorRef;
use schema::{AccountScope, DueRef};
use tenants::{ConnectedAccount, DeliveryId, DeliveryState, PostId};

use crate::account::AccountMsg;
use crate::context::{Ctx, delay_until};
use crate::observe::AccountObservable;
use crate::outbound::AccessToken;
use crate::rate_limit::AccountLimits;
use crate::timer_wheel::ArmedTimer;
use crate::workspace::WorkspaceHandle;

/// The single armed timer, kept in the engine's [`crate::timer_wheel::TimerWheel`]. Dropping
/// it cancels it; the actor drops it when it fires.
#[derive(Debug)]
pub struct Timer {
    /// The wake it stands for (engine clock); it may fire earlier, capped at `max_timer`.
    pub at: Timestamp,
    armed: ArmedTimer,
}

impl Timer {
    /// The id its expiry message carries.
    pub fn id(&self) -> u64 {
        self.armed.id()
    }
}

/// Everything an account actor holds.
#[derive(Debug)]
pub struct AccountState {
    /// The account's scope.
    pub scope: AccountScope,
    /// The account record.
    pub account: ConnectedAccount,
    /// The parent workspace.
    pub workspace: WorkspaceHandle,
    /// Upcoming deliveries in the window: (due at, delivery) -> post.
    pub pending: BTreeMap<(Timestamp, DeliveryId), PostId>,
    /// The schedule is loaded up to here.
    pub loaded_until: Timestamp,
    /// The opened access token, kept only in memory.
    pub token: Option<AccessToken>,
    /// Refresh before the next publish regardless of expiry (the partner refused the token).
    pub force_refresh: bool,
    /// When the token is refreshed next.
    pub refresh_at: Option<Timestamp>,
    /// Consecutive transient refresh failures.
    pub refresh_failures: u32,
    /// Quota and partner backoff.
    pub limits: AccountLimits,
    /// The one timer.
    pub timer: Option<Timer>,
    /// A `Wake` is already queued.
    pub wake_queued: bool,
    /// Last time (engine clock) the actor did work.
    pub last_active: Timestamp,
    /// Transitions made, by target state.
    pub transitions: BTreeMap<String, u64>,
    /// Restarts so far.
    pub restarts: u32,
    /// Messages in flight.
    pub depth: Arc<AtomicU64>,
}

impl AccountState {
    /// Adds a due row to the window if it falls inside it.
    pub fn insert_due(&mut self, due: &DueRef) {
        if due.account_id == self.scope.account_id() && due.due_at < self.loaded_until {
            self.pending
                .insert((due.due_at, due.delivery_id), due.post_id);
        }
    }

    /// Puts a delivery back at `due_at`.
    pub fn requeue(&mut self, due_at: Timestamp, id: DeliveryId, post_id: PostId) {
        if due_at < self.loaded_until {
            self.pending.insert((due_at, id), post_id);
        }
    }

    /// Takes up to `max` deliveries due at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Timestamp, max: usize) -> Vec<crate::publish::Due> {
        let mut due = Vec::new();
        while due.len() < max {
            let Some(entry) = self.pending.first_entry() else {
                break;
            };
            let &(at, id) = entry.key();
            if at > now {
                break;
            }
            due.push((at, id, entry.remove()));
        }
        due
    }

    /// Counts a transition.
    pub fn count(&mut self, state: DeliveryState) {
        *self
            .transitions
            .entry(state.as_str().to_owned())
            .or_default() += 1;
    }

    /// When the actor next has something to do: a delivery, a refresh, or reloading the window.
    pub fn next_wake(&self, ctx: &Ctx) -> Timestamp {
        let reload_at = self.loaded_until - ctx.tuning.window / 2;
        [
            self.pending.keys().next().map(|k| k.0),
            self.refresh_at,
            Some(reload_at),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(reload_at)
    }

    /// Arms the one timer for the next wake, replacing the previous one if it differs.
    pub fn arm(&mut self, ctx: &Ctx, myself: &ActorRef<AccountMsg>) {
        let at = self.next_wake(ctx);
        // A timer that fired was dropped by the handler, so one still here is pending.
        if self.timer.as_ref().is_some_and(|t| t.at == at) {
            return;
        }
        let delay = delay_until(ctx.now(), at, ctx.tuning.max_timer);
        let armed = ctx.timers.arm(myself, delay);
        self.timer = Some(Timer { at, armed });
    }

    /// The observable snapshot.
    pub fn observable(&self, ctx: &Ctx, resident: bool) -> AccountObservable {
        let now = ctx.now();
        AccountObservable {
            account_id: self.account.id,
            workspace_id: self.account.workspace_id,
            platform: self.account.platform,
            status: self.account.status,
            resident,
            degraded: false,
            transitions_by_state: self.transitions.clone(),
            num_pending: self.pending.len(),
            next_due_at: self.pending.keys().next().map(|k| k.0),
            timer_at: self.timer.as_ref().map(|t| t.at),
            refresh_at: self.refresh_at,
            limiter: self.limits.observable(now),
            restarts: self.restarts,
            mailbox_depth: self.depth.load(Ordering::Relaxed),
        }
    }
}
