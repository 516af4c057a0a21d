//! The fault gate every Outstand request passes first (injected 500s and 429s, and catching
//! requests that come back before their `Retry-After`), plus the `X-RateLimit-*` headers.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use jiff::Timestamp;

use super::failure;
use crate::Shared;
use crate::faults::Gate;

pub(super) async fn rate_limit_headers(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let window = state.faults().count_request(state.now());
    let mut response = next.run(request).await;
    let remaining = if response.status() == StatusCode::TOO_MANY_REQUESTS {
        0
    } else {
        window.remaining
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(window.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(window.reset));
    response
}

fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = failure(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        Some(format!("retry after {retry_after_secs} seconds")),
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The fault gate every partner request passes before doing anything. `scopes` are the
/// accounts the request touches; a 429 makes them wait, and coming back early is counted.
pub(super) fn gate(state: &Shared, scopes: &[String], now: Timestamp) -> Result<(), Response> {
    let mut faults = state.faults();
    let early = faults.early(scopes, now);
    if let Some(wait_secs) = early.iter().map(|(_, secs)| *secs).max() {
        drop(faults);
        state.bump(|s| {
            s.early_retries += 1;
            s.rate_limited += 1;
            for (scope, _) in &early {
                *s.early_retries_by_account.entry(scope.clone()).or_default() += 1;
            }
        });
        tracing::warn!(?early, "request arrived before its Retry-After elapsed");
        return Err(too_many_requests(wait_secs));
    }
    let outcome = faults.roll(scopes, now);
    drop(faults);
    match outcome {
        Gate::Pass => Ok(()),
        Gate::Error => {
            state.bump(|s| s.injected_errors += 1);
            Err(failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                Some("injected fault".to_owned()),
                None,
            ))
        }
        Gate::RateLimited { retry_after_secs } => {
            state.bump(|s| s.rate_limited += 1);
            Err(too_many_requests(retry_after_secs))
        }
    }
}
