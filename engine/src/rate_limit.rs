//! Rate limits, owned by the account actor: a rolling window per (platform, account) built from
//! the platform's publishing quota ([`RollingQuota`]: the platforms count a moving 24 hours,
//! which a refilling token bucket would overrun by up to twice the quota), resumed at start from
//! the store's log of the account's publishes; a governor limiter per (platform, partner app)
//! shared by every account of the node; and a block-until fed back from the partner's 429
//! `Retry-After` and `X-RateLimit-*` headers. Every limit reads the engine's injectable clock,
//! so quota windows open when a test's `ManualClock` is advanced.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use jiff::{SignedDuration, Timestamp};
use tenants::{Platform, SharedClock};

/// A publishing quota: `max` publishes per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishQuota {
    /// Publishes allowed in one window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl From<&tenants::Quota> for PublishQuota {
    fn from(q: &tenants::Quota) -> Self {
        Self {
            max: q.count,
            window: Duration::from_secs(q.window_secs),
        }
    }
}

/// The per-account publishing quotas of a platform, from the platform rules (Instagram 25 per
/// 24 h, Threads 250 per 24 h...). Every window applies at once.
pub fn account_quotas(platform: Platform) -> Vec<PublishQuota> {
    tenants::rules(platform)
        .quotas
        .iter()
        .map(PublishQuota::from)
        .collect()
}

/// The per-app quotas shared by every account of a platform behind the same partner app.
pub fn app_quotas(platform: Platform) -> Vec<PublishQuota> {
    tenants::rules(platform)
        .app_quotas
        .iter()
        .map(PublishQuota::from)
        .collect()
}

/// Reads the engine clock for governor, as nanoseconds since the limiter's origin.
#[derive(Debug, Clone)]
pub struct LimiterClock {
    clock: SharedClock,
    origin: Timestamp,
}

impl LimiterClock {
    fn at(&self, ts: Timestamp) -> Nanos {
        let d = ts.duration_since(self.origin);
        Nanos::from(u64::try_from(d.as_nanos()).unwrap_or(0))
    }

    fn to_timestamp(&self, n: Nanos) -> Timestamp {
        let nanos = i64::try_from(n.as_u64()).unwrap_or(i64::MAX);
        self.origin
            .checked_add(SignedDuration::from_nanos(nanos))
            .unwrap_or(self.origin)
    }
}

impl GovernorClock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        self.at(self.clock.now())
    }
}

type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Nanos>>;

/// A governor limiter over the engine clock.
#[derive(Debug)]
pub struct QuotaLimiter {
    limiter: DirectLimiter,
    clock: LimiterClock,
    quota: PublishQuota,
}

impl QuotaLimiter {
    /// A limiter allowing `quota`, starting full.
    pub fn new(quota: PublishQuota, clock: SharedClock) -> Self {
        // Origin well in the past, so the clock never reads before it.
        let origin = clock.now() - SignedDuration::from_hours(24 * 365);
        let clock = LimiterClock { clock, origin };
        let max = NonZeroU32::new(quota.max.max(1)).unwrap_or(NonZeroU32::MIN);
        let per = quota.window.max(Duration::from_millis(1));
        let q = Quota::with_period(per / max.get())
            .unwrap_or_else(|| Quota::per_hour(max))
            .allow_burst(max);
        Self {
            limiter: RateLimiter::direct_with_clock(q, clock.clone()),
            clock,
            quota,
        }
    }

    /// Takes one cell, or says when one is available.
    pub fn check(&self) -> Result<(), Timestamp> {
        self.limiter
            .check()
            .map_err(|not_until| self.clock.to_timestamp(not_until.earliest_possible()))
    }

    /// The quota it enforces.
    pub fn quota(&self) -> PublishQuota {
        self.quota
    }
}

/// A platform's rolling quota for one account: at most `max` publishes in any `window` (the
/// platforms count a moving 24 hours, not a refilling bucket). It keeps the publish times still
/// inside the window, at most `max`, so it frees exactly when the oldest leaves the window, and
/// a restarted actor resumes it from the store's publish log.
#[derive(Debug)]
pub struct RollingQuota {
    quota: PublishQuota,
    recent: VecDeque<Timestamp>,
}

impl RollingQuota {
    /// An unused quota.
    pub fn new(quota: PublishQuota) -> Self {
        Self {
            quota,
            recent: VecDeque::new(),
        }
    }

    fn window(&self) -> SignedDuration {
        SignedDuration::try_from(self.quota.window).unwrap_or(SignedDuration::MAX)
    }

    /// When a publish made at `at` leaves the window.
    fn leaves_window(&self, at: Timestamp) -> Timestamp {
        at.checked_add(self.window()).unwrap_or(Timestamp::MAX)
    }

    /// The start of the window that ends at `now`: publishes before it no longer count.
    fn window_start(&self, now: Timestamp) -> Timestamp {
        now.checked_sub(self.window()).unwrap_or(Timestamp::MIN)
    }

    /// When a publish is allowed again, if the quota is used up at `now`.
    pub fn full_until(&mut self, now: Timestamp) -> Option<Timestamp> {
        while self
            .recent
            .front()
            .is_some_and(|t| self.leaves_window(*t) <= now)
        {
            self.recent.pop_front();
        }
        let max = usize::try_from(self.quota.max).unwrap_or(usize::MAX);
        if self.recent.len() < max {
            return None;
        }
        self.recent
            .get(self.recent.len() - max)
            .map(|oldest| self.leaves_window(*oldest))
    }

    /// Counts a publish at `at` (in time order).
    pub fn record(&mut self, at: Timestamp) {
        self.recent.push_back(at);
        let max = usize::try_from(self.quota.max).unwrap_or(usize::MAX);
        while self.recent.len() > max {
            self.recent.pop_front();
        }
    }

    /// The quota it enforces.
    pub fn quota(&self) -> PublishQuota {
        self.quota
    }
}

/// The limiters shared by every account: one per (platform, partner app), and the partner's own
/// block-until learnt from 429s and rate-limit headers.
#[derive(Debug)]
pub struct AppLimits {
    per_platform: BTreeMap<Platform, Vec<QuotaLimiter>>,
    partner_blocked_until: Mutex<Option<Timestamp>>,
}

impl AppLimits {
    /// Limiters for every platform.
    pub fn new(clock: SharedClock) -> Arc<Self> {
        let per_platform = Platform::ALL
            .into_iter()
            .map(|p| {
                let limiters = app_quotas(p)
                    .into_iter()
                    .map(|q| QuotaLimiter::new(q, clock.clone()))
                    .collect();
                (p, limiters)
            })
            .collect();
        Arc::new(Self {
            per_platform,
            partner_blocked_until: Mutex::new(None),
        })
    }

    /// When the partner as a whole may be called again, if it asked us to wait.
    pub fn partner_blocked_until(&self, now: Timestamp) -> Option<Timestamp> {
        let guard = self
            .partner_blocked_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        guard.filter(|at| *at > now)
    }

    /// Records that the partner asked for a pause until `until`.
    pub fn block_partner_until(&self, until: Timestamp) {
        let mut guard = self
            .partner_blocked_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if guard.is_none_or(|at| at < until) {
            *guard = Some(until);
        }
    }

    /// Takes one cell from the platform's app limiter.
    pub fn check_app(&self, platform: Platform) -> Result<(), Timestamp> {
        self.per_platform.get(&platform).map_or(Ok(()), |limiters| {
            limiters.iter().try_for_each(QuotaLimiter::check)
        })
    }
}

/// An account's limits: its own quota plus its own partner `Retry-After` block.
#[derive(Debug)]
pub struct AccountLimits {
    quotas: Vec<RollingQuota>,
    blocked_until: Option<Timestamp>,
    /// Deliveries held by these limits so far.
    pub num_held: u64,
}

/// Why a publish must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// The account's platform quota is used up until the given time.
    AccountQuota(Timestamp),
    /// The shared app quota is used up.
    AppQuota(Timestamp),
    /// The partner asked us to wait (429 `Retry-After` or exhausted rate-limit headers).
    PartnerBackoff(Timestamp),
}

impl LimitHit {
    /// When the wait ends.
    pub fn until(self) -> Timestamp {
        match self {
            LimitHit::AccountQuota(t) | LimitHit::AppQuota(t) | LimitHit::PartnerBackoff(t) => t,
        }
    }

    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            LimitHit::AccountQuota(_) => "quota_exhausted",
            LimitHit::AppQuota(_) => "app_quota_exhausted",
            LimitHit::PartnerBackoff(_) => "rate_limited",
        }
    }
}

impl AccountLimits {
    /// Limits for an account of `platform`.
    pub fn new(platform: Platform) -> Self {
        Self {
            quotas: account_quotas(platform)
                .into_iter()
                .map(RollingQuota::new)
                .collect(),
            blocked_until: None,
            num_held: 0,
        }
    }

    /// From when past publishes still count against some quota at `now` (the start of the
    /// longest window); `None` when the platform has no quota.
    pub fn counted_since(&self, now: Timestamp) -> Option<Timestamp> {
        self.quotas.iter().map(|q| q.window_start(now)).min()
    }

    /// Counts past publishes (oldest first), made before this actor started, against every
    /// quota; those already out of a quota's window are dropped at the next check.
    pub fn seed(&mut self, published: &[Timestamp]) {
        for q in &mut self.quotas {
            for at in published {
                q.record(*at);
            }
        }
    }

    /// Checks every limit that applies, consuming quota only when all pass.
    pub fn admit(
        &mut self,
        app: &AppLimits,
        platform: Platform,
        now: Timestamp,
    ) -> Result<(), LimitHit> {
        if let Some(until) = self.blocked_until(app, now) {
            self.num_held += 1;
            return Err(LimitHit::PartnerBackoff(until));
        }
        let full = self
            .quotas
            .iter_mut()
            .filter_map(|q| q.full_until(now))
            .max();
        if let Some(at) = full {
            self.num_held += 1;
            return Err(LimitHit::AccountQuota(at));
        }
        app.check_app(platform).map_err(|at| {
            self.num_held += 1;
            LimitHit::AppQuota(at)
        })?;
        for q in &mut self.quotas {
            q.record(now);
        }
        Ok(())
    }

    /// When the partner may next be called for this account, if it asked us to wait.
    pub fn blocked_until(&self, app: &AppLimits, now: Timestamp) -> Option<Timestamp> {
        [
            self.blocked_until.filter(|t| *t > now),
            app.partner_blocked_until(now),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// Records a partner `Retry-After` for this account.
    pub fn block_until(&mut self, until: Timestamp) {
        if self.blocked_until.is_none_or(|at| at < until) {
            self.blocked_until = Some(until);
        }
    }

    /// The state for observation.
    pub fn observable(&self, now: Timestamp) -> crate::observe::LimiterObservable {
        let q = self.quotas.first().map(RollingQuota::quota);
        crate::observe::LimiterObservable {
            quota_per_window: q.map_or(0, |q| q.max),
            window_secs: q.map_or(0, |q| q.window.as_secs()),
            blocked_until: self.blocked_until.filter(|t| *t > now),
            num_held: self.num_held,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenants::{Clock, ManualClock};

    #[test]
    fn test_instagram_quota_opens_when_the_clock_moves() {
        let manual = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
        let clock: SharedClock = Arc::new(manual.clone());
        let quota = account_quotas(Platform::Instagram)[0];
        let limiter = QuotaLimiter::new(quota, clock);
        for _ in 0..quota.max {
            assert!(limiter.check().is_ok());
        }
        let at = limiter.check().unwrap_err();
        assert!(at > manual.now());
        manual.set(at);
        assert!(limiter.check().is_ok());
    }

    #[test]
    fn test_account_quota_is_a_rolling_window_and_resumes_from_seeded_publishes() {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let manual = ManualClock::new(start);
        let app = AppLimits::new(Arc::new(manual.clone()));
        let quota = account_quotas(Platform::Instagram)[0];
        let window = SignedDuration::try_from(quota.window).unwrap();
        let max = i32::try_from(quota.max).unwrap();

        // The whole quota at once: the next publish waits for the window, not for a refill.
        let mut limits = AccountLimits::new(Platform::Instagram);
        for _ in 0..max {
            assert!(limits.admit(&app, Platform::Instagram, start).is_ok());
        }
        let later = start + window / 2;
        assert_eq!(
            limits.admit(&app, Platform::Instagram, later),
            Err(LimitHit::AccountQuota(start + window))
        );
        assert!(
            limits
                .admit(&app, Platform::Instagram, start + window)
                .is_ok()
        );

        // Used over the last half window before the actor started: the quota resumes full and
        // frees when the oldest of those publishes leaves the window.
        let step = window / 2 / max;
        let published: Vec<Timestamp> = (0..max).map(|i| start - window / 2 + step * i).collect();
        let mut resumed = AccountLimits::new(Platform::Instagram);
        resumed.seed(&published);
        assert_eq!(
            resumed.admit(&app, Platform::Instagram, start),
            Err(LimitHit::AccountQuota(published[0] + window))
        );
        let mut stale = AccountLimits::new(Platform::Instagram);
        stale.seed(&[start - window - SignedDuration::from_secs(1)]);
        assert!(stale.admit(&app, Platform::Instagram, start).is_ok());
    }
}
