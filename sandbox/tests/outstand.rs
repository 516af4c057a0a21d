//! End-to-end behaviour of the Outstand stand-in over real HTTP.

mod common;

use common::{API_KEY, spawn, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn test_same_key_same_body_replays_without_publishing_twice() {
    let t = spawn().await;
    let account = t.connect("linkedin").await;

    let first = t.publish("key-1", "hello", &account).await.expect("first");
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["post"]["socialAccounts"][0]["status"], "published");

    let again = t.publish("key-1", "hello", &account).await.expect("replay");
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.expect("json");
    assert_eq!(again, first);

    assert_eq!(t.sandbox.ledger().len(), 1);
    assert_eq!(t.sandbox.duplicates(), 0);
    assert_eq!(t.sandbox.stats().publishes_replayed, 1);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_same_key_different_body_is_rejected_with_422() {
    let t = spawn().await;
    let account = t.connect("instagram").await;
    t.publish("key-1", "hello", &account).await.expect("first");
    let other = t
        .publish("key-1", "different", &account)
        .await
        .expect("second");
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = other.json().await.expect("json");
    assert_eq!(body["success"], false);
    assert_eq!(t.sandbox.ledger().len(), 1);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_retry_with_refreshed_token_replays_instead_of_conflicting() {
    let t = spawn().await;
    let account = t.connect("x").await;
    t.publish("key-1", "hello", &account).await.expect("first");
    let refreshed: Value = t
        .refresh("x", &account.refresh_token)
        .await
        .json()
        .await
        .expect("json");
    let body = json!({
        "content": "hello",
        "accounts": [account.account],
        "credentials": [{"account": account.account, "access_token": refreshed["access_token"]}],
    });
    let retry = t.publish_body("key-1", &body).await.expect("retry");
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(t.sandbox.ledger().len(), 1);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_ledger_records_each_account_of_each_accepted_publish() {
    let t = spawn().await;
    let a = t.connect("linkedin").await;
    let b = t.connect("tiktok").await;
    let body = json!({
        "content": "to both",
        "accounts": [a.account, b.account],
        "credentials": [
            {"account": a.account, "access_token": a.access_token},
            {"account": b.account, "access_token": b.access_token},
        ],
    });
    let response = t.publish_body("multi", &body).await.expect("publish");
    assert_eq!(response.status(), StatusCode::OK);
    t.publish("single", "only a", &a).await.expect("publish");

    let ledger = t.sandbox.ledger();
    let accounts: Vec<(&str, &str)> = ledger
        .iter()
        .map(|e| (e.idempotency_key.as_str(), e.account.as_str()))
        .collect();
    assert_eq!(
        accounts,
        vec![
            ("multi", a.account.as_str()),
            ("multi", b.account.as_str()),
            ("single", a.account.as_str())
        ]
    );
    let over_http: Value = t
        .http
        .get(format!("{}/_sandbox/ledger", t.base))
        .send()
        .await
        .expect("ledger")
        .json()
        .await
        .expect("json");
    assert_eq!(over_http["entries"].as_array().map(Vec::len), Some(3));
    assert_eq!(t.sandbox.stats().publishes_accepted, 2);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_expired_token_is_refused_after_the_clock_moves() {
    let t = spawn_with(|c| c.token_lifetime_secs = 3600).await;
    let account = t.connect("linkedin").await;
    t.advance_secs(3601);
    let response = t.publish("late", "hello", &account).await.expect("publish");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "token_expired");
    assert!(t.sandbox.ledger().is_empty());
    assert_eq!(t.sandbox.stats().rejected_token_expired, 1);

    let unknown = json!({
        "content": "hello",
        "accounts": [account.account],
        "credentials": [{"account": account.account, "access_token": "made-up"}],
    });
    let response = t.publish_body("unknown", &unknown).await.expect("publish");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "token_invalid");
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_pending_post_publishes_when_the_clock_passes_the_delay() {
    let t = spawn_with(|c| c.publish_delay_ms = 5_000).await;
    let account = t.connect("threads").await;
    let created: Value = t
        .publish("slow", "hello", &account)
        .await
        .expect("publish")
        .json()
        .await
        .expect("json");
    assert_eq!(created["post"]["socialAccounts"][0]["status"], "pending");
    assert_eq!(
        created["post"]["socialAccounts"][0]["platformPostId"],
        Value::Null
    );
    let id = created["post"]["id"].as_str().expect("id").to_owned();

    t.advance_secs(5);
    let fetched: Value = t
        .http
        .get(t.outstand(&format!("/posts/{id}")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let account_state = &fetched["post"]["socialAccounts"][0];
    assert_eq!(account_state["status"], "published");
    assert_eq!(
        account_state["platformPostId"].as_str(),
        Some(t.sandbox.ledger()[0].platform_post_id.as_str())
    );

    let listed: Value = t
        .http
        .get(t.outstand("/posts"))
        .query(&[("idempotency_key", "slow")])
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["pagination"]["total"], 1);
    assert_eq!(listed["posts"][0]["id"], id.as_str());
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_pending_post_can_be_cancelled_but_published_cannot() {
    let t = spawn_with(|c| c.publish_delay_ms = 60_000).await;
    let account = t.connect("facebook").await;
    let created: Value = t
        .publish("c1", "hello", &account)
        .await
        .expect("publish")
        .json()
        .await
        .expect("json");
    let id = created["post"]["id"].as_str().expect("id").to_owned();
    let url = t.outstand(&format!("/posts/{id}"));
    let cancelled = t
        .http
        .delete(&url)
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("delete");
    assert_eq!(cancelled.status(), StatusCode::OK);
    let body: Value = cancelled.json().await.expect("json");
    assert_eq!(body["post"]["socialAccounts"][0]["status"], "failed");
    let again = t
        .http
        .delete(&url)
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_missing_api_key_is_unauthorized_and_headers_carry_rate_limits() {
    let t = spawn().await;
    let response = t.http.get(t.outstand("/posts")).send().await.expect("list");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"success": false, "error": "Unauthorized"}));

    let response = t
        .http
        .get(t.outstand("/posts"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("list");
    assert_eq!(response.status(), StatusCode::OK);
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(response.headers().contains_key(name), "{name} missing");
    }
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_metrics_grow_with_time() {
    let t = spawn().await;
    let account = t.connect("instagram").await;
    t.publish("m1", "hello", &account).await.expect("publish");
    t.advance_secs(3600);
    let url = t.outstand(&format!("/social-accounts/{}/metrics", account.account));
    let first: Value = t
        .http
        .get(&url)
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("m")
        .json()
        .await
        .expect("json");
    t.advance_secs(3600);
    let later: Value = t
        .http
        .get(&url)
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("m")
        .json()
        .await
        .expect("json");
    assert_eq!(first["data"]["posts_count"], 1);
    let views = |v: &Value| v["data"]["engagement"]["views"].as_u64().expect("views");
    assert!(views(&later) > views(&first) && views(&first) > 0);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_key_reused_after_24_hours_publishes_again_and_counts_as_duplicate() {
    let t = spawn_with(|c| c.token_lifetime_secs = 3 * 24 * 3600).await;
    let account = t.connect("bluesky").await;
    t.publish("old-key", "hello", &account)
        .await
        .expect("first");
    t.advance_secs(24 * 3600);
    let again = t
        .publish("old-key", "hello", &account)
        .await
        .expect("again");
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.headers().get("idempotency-replayed").is_none());
    assert_eq!(t.sandbox.ledger().len(), 2);
    assert_eq!(t.sandbox.duplicates(), 1);
    t.sandbox.shutdown().await;
}
