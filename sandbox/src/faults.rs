//! Fault injection for the partner stand-ins: random 500s, 429s with `Retry-After`, a dropped
//! connection after a publish was accepted, added latency and an unavailable revoke endpoint.
//! Also remembers every `Retry-After` it handed out, so a request that comes back too early is
//! caught and counted.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Shared;

/// What can go wrong, and how often. Rates are probabilities in `0.0..=1.0` per request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Share of partner requests answered `500` before anything is accepted.
    pub error_rate: f64,
    /// Share of partner requests answered `429` with a `Retry-After` header.
    pub rate_limit_rate: f64,
    /// The `Retry-After` of an injected 429, in seconds (at least 1 is sent).
    pub retry_after_secs: u64,
    /// Share of publishes that are accepted and recorded, then answered by a dropped connection.
    pub drop_after_accept_rate: f64,
    /// Delay added before every partner request is handled.
    pub latency_ms: u64,
    /// When set, the platform revoke endpoints answer `503`.
    pub revoke_down: bool,
    /// When set, the background loop sends no webhooks (they wait; an explicit
    /// `Sandbox::flush_webhooks` still sends them), so a test decides when they arrive.
    pub hold_webhooks: bool,
}

/// The control-route view of the faults: [`Faults`] plus the publish delay, which is tuned the
/// same way at run time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct FaultSettings {
    #[serde(flatten)]
    pub faults: Faults,
    /// How long a post stays `pending` before it is published, by the sandbox clock.
    pub publish_delay_ms: Option<u64>,
}

/// The outcome of the fault gate for one partner request.
pub(crate) enum Gate {
    /// Handle the request normally.
    Pass,
    /// Answer `500` without doing anything.
    Error,
    /// Answer `429` with this `Retry-After`, in seconds.
    RateLimited { retry_after_secs: u64 },
}

/// The live fault configuration and the `Retry-After` deadlines handed out per account.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub faults: Faults,
    pub publish_delay_ms: u64,
    /// Scope (account id, or `org` for requests that name no account) -> when it may retry.
    retry_at: HashMap<String, Timestamp>,
    /// The current one-minute window of the advertised rate limit, and requests seen in it.
    window: (i64, u64),
}

/// Requests per minute advertised in `X-RateLimit-Limit`. Only injected faults produce 429s;
/// the headers let clients exercise their header parsing and pacing.
pub(crate) const RATE_LIMIT_PER_MINUTE: u64 = 600;

/// Values of the `X-RateLimit-*` headers for one response.
pub(crate) struct RateWindow {
    pub limit: u64,
    pub remaining: u64,
    /// Unix seconds at which the window resets.
    pub reset: i64,
}

impl FaultState {
    pub fn new(faults: Faults, publish_delay_ms: u64) -> Self {
        Self {
            faults,
            publish_delay_ms,
            retry_at: HashMap::new(),
            window: (0, 0),
        }
    }

    /// Counts one request in the current minute window (by the sandbox clock).
    pub fn count_request(&mut self, now: Timestamp) -> RateWindow {
        let minute = now.as_second().div_euclid(60);
        if self.window.0 != minute {
            self.window = (minute, 0);
        }
        self.window.1 += 1;
        RateWindow {
            limit: RATE_LIMIT_PER_MINUTE,
            remaining: RATE_LIMIT_PER_MINUTE.saturating_sub(self.window.1),
            reset: (minute + 1) * 60,
        }
    }

    /// Scopes among `scopes` whose last `Retry-After` has not elapsed at `now`, with the seconds
    /// still to wait (rounded up).
    pub fn early(&self, scopes: &[String], now: Timestamp) -> Vec<(String, u64)> {
        scopes
            .iter()
            .filter_map(|scope| {
                let until = *self.retry_at.get(scope)?;
                (now < until).then(|| (scope.clone(), ceil_secs(until.duration_since(now))))
            })
            .collect()
    }

    /// Rolls the dice for a request touching `scopes`. A 429 records the deadline per scope.
    pub fn roll(&mut self, scopes: &[String], now: Timestamp) -> Gate {
        if chance(self.faults.error_rate) {
            return Gate::Error;
        }
        if chance(self.faults.rate_limit_rate) {
            let retry_after_secs = self.faults.retry_after_secs.max(1);
            let secs = i64::try_from(retry_after_secs).unwrap_or(i64::MAX);
            let until = now
                .checked_add(SignedDuration::from_secs(secs))
                .unwrap_or(Timestamp::MAX);
            for scope in scopes {
                self.retry_at.insert(scope.clone(), until);
            }
            return Gate::RateLimited { retry_after_secs };
        }
        Gate::Pass
    }

    /// Whether this accepted publish should lose its response.
    pub fn drop_after_accept(&self) -> bool {
        chance(self.faults.drop_after_accept_rate)
    }

    pub fn settings(&self) -> FaultSettings {
        FaultSettings {
            faults: self.faults.clone(),
            publish_delay_ms: Some(self.publish_delay_ms),
        }
    }

    pub fn apply(&mut self, settings: FaultSettings) {
        self.faults = settings.faults;
        if let Some(delay) = settings.publish_delay_ms {
            self.publish_delay_ms = delay;
        }
    }
}

/// True with probability `rate`.
fn chance(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}

fn ceil_secs(d: SignedDuration) -> u64 {
    let secs = d.as_secs() + i64::from(d.subsec_nanos() > 0);
    u64::try_from(secs.max(1)).unwrap_or(1)
}

/// Middleware that delays every partner request by `faults.latency_ms`.
pub(crate) async fn latency(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let latency_ms = state.faults().faults.latency_ms;
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).expect("valid timestamp")
    }

    #[test]
    fn test_rate_limit_marks_scope_until_retry_after_elapses() {
        let mut state = FaultState::new(
            Faults {
                rate_limit_rate: 1.0,
                retry_after_secs: 3,
                ..Faults::default()
            },
            0,
        );
        let scopes = vec!["acct_1".to_owned()];
        assert!(matches!(
            state.roll(&scopes, at(0)),
            Gate::RateLimited {
                retry_after_secs: 3
            }
        ));
        assert_eq!(state.early(&scopes, at(1)), vec![("acct_1".to_owned(), 2)]);
        assert!(state.early(&scopes, at(3)).is_empty());
        assert!(state.early(&["other".to_owned()], at(1)).is_empty());
    }

    #[test]
    fn test_partial_settings_reset_missing_faults_and_keep_the_delay() {
        let mut state = FaultState::new(
            Faults {
                revoke_down: true,
                ..Faults::default()
            },
            250,
        );
        let partial: FaultSettings =
            serde_json::from_str(r#"{"error_rate":0.5}"#).expect("partial settings parse");
        state.apply(partial);
        assert_eq!(state.faults.error_rate, 0.5);
        assert!(!state.faults.revoke_down);
        assert_eq!(state.publish_delay_ms, 250);
    }

    #[test]
    fn test_zero_rates_always_pass() {
        let mut state = FaultState::default();
        for _ in 0..100 {
            assert!(matches!(state.roll(&[], at(0)), Gate::Pass));
            assert!(!state.drop_after_accept());
        }
    }
}
