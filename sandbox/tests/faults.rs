//! Fault injection as a partner client sees it.

mod common;

use common::{API_KEY, spawn};
use reqwest::StatusCode;
use sandbox::Faults;
use serde_json::{Value, json};

#[tokio::test]
async fn test_rate_limit_sends_retry_after_and_counts_early_retries() {
    let t = spawn().await;
    let account = t.connect("linkedin").await;
    t.sandbox.set_faults(Faults {
        rate_limit_rate: 1.0,
        retry_after_secs: 30,
        ..Faults::default()
    });
    let limited = t.publish("k", "hi", &account).await.expect("publish");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "30");
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");

    t.sandbox.set_faults(Faults::default());
    t.advance_secs(10);
    let early = t.publish("k", "hi", &account).await.expect("publish");
    assert_eq!(early.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(early.headers()["retry-after"], "20");
    let stats = t.sandbox.stats();
    assert_eq!(stats.early_retries, 1);
    assert_eq!(
        stats.early_retries_by_account.get(&account.account),
        Some(&1)
    );

    t.advance_secs(20);
    let on_time = t.publish("k", "hi", &account).await.expect("publish");
    assert_eq!(on_time.status(), StatusCode::OK);
    assert_eq!(t.sandbox.stats().early_retries, 1);
    assert_eq!(t.sandbox.ledger().len(), 1);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_injected_error_happens_before_anything_is_accepted() {
    let t = spawn().await;
    let account = t.connect("linkedin").await;
    t.sandbox.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let failed = t.publish("k", "hi", &account).await.expect("publish");
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(t.sandbox.ledger().is_empty());

    t.sandbox.set_faults(Faults::default());
    let retried = t.publish("k", "hi", &account).await.expect("publish");
    assert_eq!(retried.status(), StatusCode::OK);
    assert!(retried.headers().get("idempotency-replayed").is_none());
    assert_eq!(t.sandbox.ledger().len(), 1);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_drop_after_accept_records_the_publish_and_breaks_the_connection() {
    let t = spawn().await;
    let account = t.connect("instagram").await;
    t.sandbox.set_faults(Faults {
        drop_after_accept_rate: 1.0,
        ..Faults::default()
    });
    let lost = t.publish("lost-1", "hi", &account).await;
    let error = lost.expect_err("the client sees no response");
    assert!(
        !error.is_timeout(),
        "connection should break at once, got {error}"
    );
    assert_eq!(t.sandbox.ledger().len(), 1);
    assert_eq!(t.sandbox.stats().dropped_after_accept, 1);

    // The post is findable for reconciliation, and a keyed retry replays it.
    t.sandbox.set_faults(Faults::default());
    let found: Value = t
        .http
        .get(t.outstand("/posts"))
        .query(&[("idempotency_key", "lost-1")])
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(found["pagination"]["total"], 1);
    let retry = t.publish("lost-1", "hi", &account).await.expect("retry");
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(t.sandbox.duplicates(), 0);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_drop_after_accept_over_http2_loses_only_that_answer() {
    let mut t = spawn().await;
    let account = t.connect("x").await;
    t.http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("h2c client");
    let connections = t.sandbox.stats().connections_accepted;
    let before = t.publish("kept-1", "first", &account).await.expect("h2c");
    assert_eq!(before.version(), reqwest::Version::HTTP_2);
    assert_eq!(before.status(), StatusCode::OK);

    t.sandbox.set_faults(Faults {
        drop_after_accept_rate: 1.0,
        ..Faults::default()
    });
    let lost = match t.publish("lost-2", "hi", &account).await {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let error = lost.expect_err("the answer never arrives whole");
    assert!(
        !error.is_timeout(),
        "the stream should reset at once, got {error}"
    );
    assert_eq!(t.sandbox.ledger().len(), 2);

    t.sandbox.set_faults(Faults::default());
    let retry = t.publish("lost-2", "hi", &account).await.expect("retry");
    assert_eq!(retry.version(), reqwest::Version::HTTP_2);
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(t.sandbox.ledger().len(), 2);
    assert_eq!(t.sandbox.duplicates(), 0);
    assert_eq!(
        t.sandbox.stats().connections_accepted - connections,
        1,
        "the reset took down only its stream; the connection served the retry"
    );
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_faults_can_be_set_and_read_over_http() {
    let t = spawn().await;
    let url = format!("{}/_sandbox/faults", t.base);
    let set = json!({"error_rate": 0.25, "rate_limit_rate": 0.0, "retry_after_secs": 2,
        "drop_after_accept_rate": 0.0, "latency_ms": 0, "revoke_down": true, "hold_webhooks": true,
        "publish_delay_ms": 1500});
    let response = t.http.post(&url).json(&set).send().await.expect("set");
    assert_eq!(response.status(), StatusCode::OK);
    let read: Value = t
        .http
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(read, set);

    let account = t.connect("threads").await;
    t.sandbox.set_faults(Faults::default());
    let created: Value = t
        .publish("k", "hi", &account)
        .await
        .expect("publish")
        .json()
        .await
        .expect("json");
    assert_eq!(created["post"]["socialAccounts"][0]["status"], "pending");
    t.sandbox.shutdown().await;
}
