//! Per-credential and per-workspace rate limits (governor GCRA buckets). Every response carries
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` for the tightest bucket the
//! request touched; past a limit the answer is 429 with `Retry-After`.
//!
//! The credential bucket is charged in [`enforce`], before authentication, keyed by a hash of the
//! presented API key or session cookie (so bad keys are throttled too) or by client address.
//! The workspace bucket is charged by the authorizer only after access to the workspace is
//! proven, so nobody can drain another tenant's budget with requests that end in 404.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tenants::WorkspaceId;

use crate::auth::{SESSION_COOKIE, cookie_value, sha256_hex};
use crate::config::RateLimitConfig;
use crate::error::ApiError;
use crate::state::AppState;

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Forget idle buckets once every this many checks.
const RETAIN_EVERY: u64 = 4096;

/// Where a request stands against one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The bucket's size.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

/// The gateway's buckets.
pub struct RateLimits {
    per_key: KeyedLimiter,
    per_workspace: KeyedLimiter,
    key_burst: u32,
    workspace_burst: u32,
    num_checks: AtomicU64,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl RateLimits {
    /// Buckets sized by `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            per_key: RateLimiter::keyed(quota(config.per_key_per_minute, config.per_key_burst))
                .with_middleware::<StateInformationMiddleware>(),
            per_workspace: RateLimiter::keyed(quota(
                config.per_workspace_per_minute,
                config.per_workspace_burst,
            ))
            .with_middleware::<StateInformationMiddleware>(),
            key_burst: config.per_key_burst.max(1),
            workspace_burst: config.per_workspace_burst.max(1),
            num_checks: AtomicU64::new(0),
        }
    }

    fn check(&self, limiter: &KeyedLimiter, key: String) -> Result<Budget, ApiError> {
        if self.num_checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.per_key.retain_recent();
            self.per_workspace.retain_recent();
        }
        match limiter.check_key(&key) {
            Ok(snapshot) => {
                let quota = snapshot.quota();
                let remaining = snapshot.remaining_burst_capacity();
                let used = quota.burst_size().get().saturating_sub(remaining);
                Ok(Budget {
                    limit: quota.burst_size().get(),
                    remaining,
                    reset_secs: ceil_secs(quota.replenish_interval() * used),
                })
            }
            Err(not_until) => Err(ApiError::RateLimited {
                retry_after_secs: ceil_secs(not_until.wait_time_from(limiter.clock().now())).max(1),
            }),
        }
    }

    /// Charges one request to a workspace's bucket.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] past the workspace's limit.
    pub fn check_workspace(&self, workspace_id: WorkspaceId) -> Result<Budget, ApiError> {
        self.check(&self.per_workspace, workspace_id.to_string())
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Filled in by the authorizer when it charges the workspace bucket, read back by [`enforce`].
#[derive(Debug, Clone, Default)]
pub struct WorkspaceBudgetSlot(pub Arc<Mutex<Option<Result<Budget, u64>>>>);

impl WorkspaceBudgetSlot {
    /// Records the workspace bucket's outcome (`Err(retry_after_secs)` when refused).
    pub fn set(&self, outcome: Result<Budget, u64>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
    }

    fn get(&self) -> Option<Result<Budget, u64>> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The credential a request is throttled by: the hashed bearer token or session cookie, else
/// the client address.
fn credential_key(request: &Request) -> String {
    let headers = request.headers();
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return format!("key:{}", sha256_hex(auth.trim().as_bytes()));
    }
    if let Some(session) = cookie_value(headers, SESSION_COOKIE) {
        return format!("session:{}", sha256_hex(session.as_bytes()));
    }
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "ip:unknown".to_owned(),
    }
}

fn write_headers(headers: &mut HeaderMap, budget: Budget) {
    headers.insert("ratelimit-limit", HeaderValue::from(budget.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(budget.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(budget.reset_secs));
}

/// Middleware charging the credential bucket and writing the `RateLimit-*` headers.
pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let limits = state.rate_limits.clone();
    let key = credential_key(&request);
    let key_budget = match limits.check(&limits.per_key, key) {
        Ok(budget) => budget,
        Err(err) => {
            let retry = match &err {
                ApiError::RateLimited { retry_after_secs } => *retry_after_secs,
                _ => 1,
            };
            let mut response = err.into_response();
            let limit = limits.key_burst;
            write_headers(
                response.headers_mut(),
                Budget {
                    limit,
                    remaining: 0,
                    reset_secs: retry,
                },
            );
            return response;
        }
    };
    let slot = WorkspaceBudgetSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let budget = match slot.get() {
        Some(Ok(ws)) if ws.remaining < key_budget.remaining => ws,
        Some(Err(retry)) => Budget {
            limit: limits.workspace_burst,
            remaining: 0,
            reset_secs: retry,
        },
        _ => key_budget,
    };
    write_headers(response.headers_mut(), budget);
    response
}
