//! Observable state: every actor publishes a serialisable snapshot of itself to a shared board
//! after each message, so [`crate::EngineHandle::observe`] answers without messaging (and without
//! waiting on) busy actors.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;
use tenants::{AccountId, AccountStatus, Platform, WorkspaceId};

/// What one account actor looks like from outside.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountObservable {
    /// The account.
    pub account_id: AccountId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its platform.
    pub platform: Platform,
    /// Whether it can publish.
    pub status: AccountStatus,
    /// Whether the actor is running (false once passivated or degraded).
    pub resident: bool,
    /// Crashed too often and stopped.
    pub degraded: bool,
    /// Deliveries this actor moved into each state since it started, by state name.
    pub transitions_by_state: BTreeMap<String, u64>,
    /// Deliveries waiting in the actor's window.
    pub num_pending: usize,
    /// The next delivery due.
    pub next_due_at: Option<Timestamp>,
    /// When the single timer fires next.
    pub timer_at: Option<Timestamp>,
    /// When the access token is refreshed next.
    pub refresh_at: Option<Timestamp>,
    /// Rate limiter state.
    pub limiter: LimiterObservable,
    /// Restarts by the workspace supervisor.
    pub restarts: u32,
    /// Messages sent but not yet handled.
    pub mailbox_depth: u64,
}

/// A rate limiter's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LimiterObservable {
    /// Publishes allowed per window for this account.
    pub quota_per_window: u32,
    /// The window length in seconds.
    pub window_secs: u64,
    /// Blocked until then (quota or partner `Retry-After`), if blocked.
    pub blocked_until: Option<Timestamp>,
    /// Deliveries held by the limiter so far.
    pub num_held: u64,
}

/// What the whole engine looks like from outside.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineObservable {
    /// Start-up recovery finished and work is accepted.
    pub ready: bool,
    /// Workspace actors running.
    pub num_workspaces_resident: usize,
    /// Account actors running.
    pub num_accounts_resident: usize,
    /// Account actors restarted so far.
    pub num_restarts: u64,
    /// Due-window scans done.
    pub num_scans: u64,
    /// Events emitted.
    pub num_events: u64,
    /// Every account actor seen since start (resident or not).
    pub accounts: Vec<AccountObservable>,
}

/// Engine-wide counts, computed without copying any actor's snapshot: cheap to poll with 100k
/// accounts resident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EngineTotals {
    /// Start-up recovery finished and work is accepted.
    pub ready: bool,
    /// Workspace actors running.
    pub num_workspaces_resident: usize,
    /// Account actors running.
    pub num_accounts_resident: usize,
    /// Resident account actors with their timer armed.
    pub num_timers_armed: usize,
    /// Deliveries waiting in the resident actors' windows.
    pub num_pending: usize,
    /// Account actors marked degraded.
    pub num_degraded: usize,
    /// Account actors restarted so far.
    pub num_restarts: u64,
}

/// The shared board actors write their snapshots to.
#[derive(Debug, Default)]
pub struct ObserveBoard {
    accounts: Mutex<HashMap<AccountId, AccountObservable>>,
    workspaces: Mutex<HashMap<WorkspaceId, bool>>,
    /// Account actor restarts.
    pub num_restarts: AtomicU64,
    /// Due-window scans.
    pub num_scans: AtomicU64,
    /// Events emitted.
    pub num_events: AtomicU64,
}

impl ObserveBoard {
    /// Replaces an account's snapshot.
    pub fn put_account(&self, snapshot: AccountObservable) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.insert(snapshot.account_id, snapshot);
    }

    /// Changes an account's snapshot in place, if there is one.
    pub fn update_account(&self, id: AccountId, f: impl FnOnce(&mut AccountObservable)) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = accounts.get_mut(&id) {
            f(a);
        }
    }

    /// One account's snapshot.
    pub fn account(&self, id: AccountId) -> Option<AccountObservable> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.get(&id).cloned()
    }

    /// Records whether a workspace actor runs.
    pub fn set_workspace(&self, id: WorkspaceId, resident: bool) {
        let mut ws = self.workspaces.lock().unwrap_or_else(|e| e.into_inner());
        ws.insert(id, resident);
    }

    /// The counts of [`EngineTotals`], read under the lock.
    pub fn totals(&self, ready: bool) -> EngineTotals {
        let mut totals = EngineTotals {
            ready,
            num_restarts: self.num_restarts.load(Ordering::Relaxed),
            ..EngineTotals::default()
        };
        {
            let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
            for a in accounts.values() {
                totals.num_degraded += usize::from(a.degraded);
                if !a.resident {
                    continue;
                }
                totals.num_accounts_resident += 1;
                totals.num_timers_armed += usize::from(a.timer_at.is_some());
                totals.num_pending += a.num_pending;
            }
        }
        let ws = self.workspaces.lock().unwrap_or_else(|e| e.into_inner());
        totals.num_workspaces_resident = ws.values().filter(|r| **r).count();
        totals
    }

    /// A snapshot of everything.
    pub fn snapshot(&self, ready: bool) -> EngineObservable {
        let accounts: Vec<AccountObservable> = {
            let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
            accounts.values().cloned().collect()
        };
        let num_workspaces_resident = {
            let ws = self.workspaces.lock().unwrap_or_else(|e| e.into_inner());
            ws.values().filter(|r| **r).count()
        };
        EngineObservable {
            ready,
            num_workspaces_resident,
            num_accounts_resident: accounts.iter().filter(|a| a.resident).count(),
            num_restarts: self.num_restarts.load(Ordering::Relaxed),
            num_scans: self.num_scans.load(Ordering::Relaxed),
            num_events: self.num_events.load(Ordering::Relaxed),
            accounts,
        }
    }
}

/// Shared handle to the board.
pub type SharedBoard = Arc<ObserveBoard>;
