//! What every actor shares: the store, the clock, the partner and credential ports, the event hub,
//! the observation board, the shared limiters, and the engine's tuning.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use schema::Store;
use tenants::SharedClock;

use crate::events::{EngineEvent, EventHub};
use crate::observe::SharedBoard;
use crate::outbound::{Credentials, Partner};
use crate::rate_limit::AppLimits;

/// Timings and limits of the engine. Durations on the engine clock are `SignedDuration`; real
/// (tokio) durations are `Duration`.
#[derive(Debug, Clone)]
pub struct EngineTuning {
    /// How far ahead account actors load their schedule and the scheduler activates them.
    pub window: SignedDuration,
    /// How far back the periodic sweep looks for due rows.
    pub sweep_lookback: SignedDuration,
    /// Real time between periodic due-window scans.
    pub scan_interval: Duration,
    /// The longest real delay a timer is armed for; it re-checks the clock after that.
    pub max_timer: Duration,
    /// An idle account actor stops after this long (engine clock) with nothing due.
    pub passivate_after: SignedDuration,
    /// Refresh the access token if it expires within this margin before publishing.
    pub refresh_margin: SignedDuration,
    /// First reconcile of an unconfirmed delivery after this long.
    pub reconcile_after: SignedDuration,
    /// Poll a pending (accepted, not yet live) delivery this often.
    pub pending_poll: SignedDuration,
    /// Base of the exponential retry backoff.
    pub retry_base: SignedDuration,
    /// Cap of the retry backoff.
    pub retry_max: SignedDuration,
    /// Give up (fail with a reason) after this many proven-not-published attempts.
    pub max_attempts: u32,
    /// Restarts allowed per account within `restart_window` before it is marked degraded.
    pub restart_max: u32,
    /// The window restarts are counted in (real time).
    pub restart_window: Duration,
    /// Base of the restart backoff (real time), doubled per recent restart.
    pub restart_backoff: Duration,
    /// How long graceful shutdown waits for actors to stop.
    pub shutdown_deadline: Duration,
    /// Recent events kept in memory.
    pub recent_events: usize,
    /// Real time between passes of the privacy workers (revocation retries, purge).
    pub privacy_interval: Duration,
    /// How often rows past their retention are swept from stores that do not expire rows
    /// themselves (the embedded store).
    pub sweep_interval: Duration,
}

impl Default for EngineTuning {
    fn default() -> Self {
        Self {
            window: SignedDuration::from_mins(60),
            sweep_lookback: SignedDuration::from_hours(2),
            scan_interval: Duration::from_secs(5),
            max_timer: Duration::from_secs(60),
            passivate_after: SignedDuration::from_mins(30),
            refresh_margin: SignedDuration::from_mins(5),
            reconcile_after: SignedDuration::from_secs(10),
            pending_poll: SignedDuration::from_secs(5),
            retry_base: SignedDuration::from_secs(2),
            retry_max: SignedDuration::from_mins(10),
            max_attempts: 8,
            restart_max: 3,
            restart_window: Duration::from_secs(60),
            restart_backoff: Duration::from_millis(50),
            shutdown_deadline: Duration::from_secs(10),
            recent_events: 10_000,
            privacy_interval: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(15 * 60),
        }
    }
}

/// Everything an actor needs, shared by reference.
pub struct EngineContext {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The injectable clock.
    pub clock: SharedClock,
    /// The publishing partner.
    pub partner: Arc<dyn Partner>,
    /// Account credentials.
    pub credentials: Arc<dyn Credentials>,
    /// Domain events.
    pub events: EventHub,
    /// Observation.
    pub board: SharedBoard,
    /// Limiters shared across accounts.
    pub app_limits: Arc<AppLimits>,
    /// The account actors' timers.
    pub timers: crate::timer_wheel::TimerWheel,
    /// Timings.
    pub tuning: EngineTuning,
}

impl std::fmt::Debug for EngineContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineContext")
            .field("tuning", &self.tuning)
            .finish_non_exhaustive()
    }
}

impl EngineContext {
    /// The engine clock's now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Emits an event and counts it.
    pub fn emit(&self, event: EngineEvent) {
        self.board
            .num_events
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.events.emit(event);
    }

    /// Exponential backoff with jitter for the `attempt`-th retry (1-based).
    pub fn backoff(&self, attempt: u32) -> SignedDuration {
        let exp = attempt.saturating_sub(1).min(16);
        let base = self.tuning.retry_base.as_millis() as i64;
        let raw = base
            .saturating_mul(1 << exp)
            .min(self.tuning.retry_max.as_millis() as i64);
        let jitter = rand::random::<f64>() * 0.2 * raw as f64;
        SignedDuration::from_millis(raw + jitter as i64)
    }
}

/// Shared context.
pub type Ctx = Arc<EngineContext>;

/// A real delay until `at` on the engine clock, capped at `max`.
pub fn delay_until(now: Timestamp, at: Timestamp, max: Duration) -> Duration {
    let d = at.duration_since(now);
    if d.is_negative() {
        Duration::ZERO
    } else {
        Duration::try_from(d).unwrap_or(max).min(max)
    }
}
