//! `RateLimit-*` headers on every response, and 429 with `Retry-After` past the limit.

mod common;

use common::{request, send, test_state_with};
use gateway::RateLimitConfig;

fn tiny(c: &mut gateway::GatewayConfig) {
    c.rate_limit = RateLimitConfig {
        per_key_per_minute: 3,
        per_key_burst: 3,
        per_workspace_per_minute: 1000,
        per_workspace_burst: 1000,
    };
}

#[tokio::test]
async fn test_every_response_carries_rate_limit_headers() {
    let t = test_state_with(|_| {}).await;
    for (method, uri, key) in [
        ("GET", "/healthz", None),
        ("GET", "/v1/workspaces", None),
        ("GET", "/v1/workspaces", Some(t.bootstrap_key.as_str())),
        ("GET", "/does-not-exist", None),
        ("GET", "/openapi.json", None),
    ] {
        let reply = send(&t.state, request(method, uri, key, None)).await;
        for name in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
            assert!(
                reply.header(name).is_some(),
                "{name} missing on {method} {uri} ({})",
                reply.status
            );
        }
    }
}

#[tokio::test]
async fn test_past_the_limit_is_429_with_retry_after() {
    let t = test_state_with(tiny).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let reply = send(
            &t.state,
            request("GET", "/v1/workspaces", Some(&t.bootstrap_key), None),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("ratelimit-limit"), Some("3"));
        remaining.push(
            reply
                .header("ratelimit-remaining")
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = send(
        &t.state,
        request("GET", "/v1/workspaces", Some(&t.bootstrap_key), None),
    )
    .await;
    refused.problem(429, "rate_limited");
    let retry: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    // Another credential has its own bucket.
    let other = common::insert_key(&t.state.store, |_| {}).await;
    assert_eq!(
        send(
            &t.state,
            request("GET", "/v1/workspaces", Some(&other), None)
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn test_workspace_budget_is_shared_by_every_caller() {
    let t = test_state_with(|c| {
        c.rate_limit = RateLimitConfig {
            per_key_per_minute: 1000,
            per_key_burst: 1000,
            per_workspace_per_minute: 2,
            per_workspace_burst: 2,
        }
    })
    .await;
    let created = send(
        &t.state,
        request(
            "POST",
            "/v1/workspaces",
            Some(&t.bootstrap_key),
            Some(serde_json::json!({"name": "A", "timezone": "UTC"})),
        ),
    )
    .await;
    let uri = format!(
        "/v1/workspaces/{}",
        created.json()["id"].as_str().expect("id")
    );
    let other = common::insert_key(&t.state.store, |_| {}).await;
    assert_eq!(
        send(&t.state, request("GET", &uri, Some(&t.bootstrap_key), None))
            .await
            .status,
        200
    );
    let second = send(&t.state, request("GET", &uri, Some(&other), None)).await;
    assert_eq!(second.header("ratelimit-limit"), Some("2"));
    assert_eq!(second.header("ratelimit-remaining"), Some("0"));
    send(&t.state, request("GET", &uri, Some(&other), None))
        .await
        .problem(429, "rate_limited");
}
