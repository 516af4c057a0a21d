//! Request metrics in Prometheus text format: counts by method, route template and status, and
//! a latency histogram by route. Recorded by [`track`] (a middleware inside the router, so the
//! matched route template is known) and rendered by `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS_SECS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS_SECS.len()],
    sum_secs: f64,
    num: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    rate_limited: u64,
}

/// The gateway's request metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, elapsed_secs: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        if status == 429 {
            inner.rate_limited += 1;
        }
        let histogram = inner.latency.entry(route.to_owned()).or_default();
        for (i, bound) in BUCKETS_SECS.iter().enumerate() {
            if elapsed_secs <= *bound {
                histogram.counts[i] += 1;
            }
        }
        histogram.sum_secs += elapsed_secs;
        histogram.num += 1;
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP socialcrm_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE socialcrm_http_requests_total counter\n");
        for ((method, route, status), count) in &inner.requests {
            let _ = writeln!(
                out,
                "socialcrm_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP socialcrm_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE socialcrm_http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            let route = escape(route);
            for (i, bound) in BUCKETS_SECS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "socialcrm_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "socialcrm_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.num
            );
            let _ = writeln!(
                out,
                "socialcrm_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_secs
            );
            let _ = writeln!(
                out,
                "socialcrm_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.num
            );
        }
        out.push_str("# HELP socialcrm_http_rate_limited_total Requests refused with 429.\n");
        out.push_str("# TYPE socialcrm_http_rate_limited_total counter\n");
        let _ = writeln!(
            out,
            "socialcrm_http_rate_limited_total {}",
            inner.rate_limited
        );
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware recording each request's status and latency under its route template (never the
/// raw path, which would carry ids and explode the label set).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
