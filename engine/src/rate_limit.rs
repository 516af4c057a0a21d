//! Rate limits, owned by the account actor: a governor limiter per (platform, account) built from
//! the platform's publishing quota, a limiter per (platform, partner app) shared by every account
//! of the node, and a block-until fed back from the partner's 429 `Retry-After` and
//! `X-RateLimit-*` headers. Every limiter reads the engine's injectable clock, so quota windows
//! open when a test's `ManualClock` is advanced.

use std::collections::BTreeMap;
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
    quotas: Vec<QuotaLimiter>,
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
    pub fn new(platform: Platform, clock: SharedClock) -> Self {
        Self {
            quotas: account_quotas(platform)
                .into_iter()
                .map(|q| QuotaLimiter::new(q, clock.clone()))
                .collect(),
            blocked_until: None,
            num_held: 0,
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
        if let Err(at) = self.quotas.iter().try_for_each(QuotaLimiter::check) {
            self.num_held += 1;
            return Err(LimitHit::AccountQuota(at));
        }
        app.check_app(platform).map_err(|at| {
            self.num_held += 1;
            LimitHit::AppQuota(at)
        })
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
        let q = self.quotas.first().map(QuotaLimiter::quota);
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
}
