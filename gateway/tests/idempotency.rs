//! `Idempotency-Key` on POST: replay, misuse with another body, and a request still in flight.

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use common::{send, test_state};
use serde_json::json;

fn create(key: &str, idem: &str, body: serde_json::Value) -> Request<Body> {
    Request::post("/v1/workspaces")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("idempotency-key", idem)
        .body(Body::from(body.to_string()))
        .expect("request")
}

async fn count_workspaces(t: &common::TestState) -> usize {
    let reply = send(
        &t.state,
        common::request("GET", "/v1/workspaces", Some(&t.bootstrap_key), None),
    )
    .await;
    reply.json()["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn test_same_key_and_body_replays_the_first_response() {
    let t = test_state().await;
    let body = json!({"name": "Acme", "timezone": "Europe/Paris"});
    let first = send(
        &t.state,
        create(&t.bootstrap_key, "\"order-1\"", body.clone()),
    )
    .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotency-replayed"), None);
    // The bare form of the same key, and the same body with keys in another order.
    let again = send(
        &t.state,
        create(
            &t.bootstrap_key,
            "order-1",
            json!({"timezone": "Europe/Paris", "name": "Acme"}),
        ),
    )
    .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(count_workspaces(&t).await, 1);
}

#[tokio::test]
async fn test_same_key_with_another_body_is_422() {
    let t = test_state().await;
    let first = send(
        &t.state,
        create(
            &t.bootstrap_key,
            "k-2",
            json!({"name": "A", "timezone": "UTC"}),
        ),
    )
    .await;
    assert_eq!(first.status, 201);
    let other = send(
        &t.state,
        create(
            &t.bootstrap_key,
            "k-2",
            json!({"name": "B", "timezone": "UTC"}),
        ),
    )
    .await;
    other.problem(422, "idempotency_key_reused");
    assert_eq!(count_workspaces(&t).await, 1);
}

#[tokio::test]
async fn test_key_still_in_flight_is_409_with_retry_after() {
    let t = test_state().await;
    let body = json!({"name": "A", "timezone": "UTC"});
    let meta = schema::KeyStore::get_api_key_by_hash(
        t.state.store.as_ref(),
        &gateway::auth::sha256_hex(t.bootstrap_key.as_bytes()),
    )
    .await
    .expect("store")
    .expect("bootstrap key");
    let stored_key = gateway::idempotency::store_key(
        &format!("key:{}", meta.id),
        &Method::POST,
        "/v1/workspaces",
        "k-3",
    );
    let now = jiff::Timestamp::now();
    let later = now
        .checked_add(jiff::SignedDuration::from_hours(1))
        .expect("time");
    let print = gateway::idempotency::fingerprint(body.to_string().as_bytes());
    // Another node has claimed the key and not finished yet.
    t.state
        .store
        .claim_idempotency(&stored_key, &print, later, now)
        .await
        .expect("claim");
    let reply = send(&t.state, create(&t.bootstrap_key, "k-3", body.clone())).await;
    reply.problem(409, "idempotency_key_in_use");
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(count_workspaces(&t).await, 0);
    // Once the claim is released the request goes through.
    t.state
        .store
        .release_idempotency(&stored_key)
        .await
        .expect("release");
    assert_eq!(
        send(&t.state, create(&t.bootstrap_key, "k-3", body))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn test_keys_are_scoped_by_credential() {
    let t = test_state().await;
    let other = common::insert_key(&t.state.store, |_| {}).await;
    let body = json!({"name": "A", "timezone": "UTC"});
    let a = send(&t.state, create(&t.bootstrap_key, "shared", body.clone())).await;
    let b = send(&t.state, create(&other, "shared", body)).await;
    assert_eq!(b.status, 201);
    assert_eq!(b.header("idempotency-replayed"), None);
    assert_ne!(a.json()["id"], b.json()["id"]);
}

#[tokio::test]
async fn test_overlong_key_is_400() {
    let t = test_state().await;
    let reply = send(
        &t.state,
        create(
            &t.bootstrap_key,
            &"k".repeat(256),
            json!({"name": "A", "timezone": "UTC"}),
        ),
    )
    .await;
    reply.problem(400, "invalid_idempotency_key");
    assert_eq!(count_workspaces(&t).await, 0);
}
