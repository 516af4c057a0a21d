//! Every kind of bad request gets a problem+json 4xx that names what was wrong and where.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{request, send, test_state, test_state_with};
use serde_json::json;

#[tokio::test]
async fn test_missing_and_bad_credentials_are_401() {
    let t = test_state().await;
    let missing = send(&t.state, request("GET", "/v1/workspaces", None, None)).await;
    missing.problem(401, "unauthenticated");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let bad = send(
        &t.state,
        request("GET", "/v1/workspaces", Some("sk_not_a_key"), None),
    )
    .await;
    bad.problem(401, "unauthenticated");
    let basic = Request::get("/v1/workspaces")
        .header("authorization", "Basic Zm9vOmJhcg==")
        .body(Body::empty())
        .expect("request");
    send(&t.state, basic).await.problem(401, "unauthenticated");
}

#[tokio::test]
async fn test_key_without_admin_scope_cannot_create_a_workspace() {
    let t = test_state().await;
    let reader =
        common::insert_key(&t.state.store, |k| k.scopes = vec![tenants::Scope::Read]).await;
    let reply = send(
        &t.state,
        request(
            "POST",
            "/v1/workspaces",
            Some(&reader),
            Some(json!({"name": "A", "timezone": "UTC"})),
        ),
    )
    .await;
    let body = reply.problem(403, "insufficient_scope");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("admin")
    );
    let listed = send(
        &t.state,
        request("GET", "/v1/workspaces", Some(&reader), None),
    )
    .await;
    assert_eq!(listed.status, 200);
}

fn raw_post(key: &str, uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.into())
        .expect("request")
}

#[tokio::test]
async fn test_malformed_json_is_400_with_position() {
    let t = test_state().await;
    let reply = send(
        &t.state,
        raw_post(&t.bootstrap_key, "/v1/workspaces", r#"{"name": "A","#),
    )
    .await;
    let body = reply.problem(400, "malformed_json");
    assert_eq!(body["errors"][0]["field"], "body");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 1")
    );
}

#[tokio::test]
async fn test_unknown_field_is_422_naming_the_field() {
    let t = test_state().await;
    let reply = send(
        &t.state,
        raw_post(
            &t.bootstrap_key,
            "/v1/workspaces",
            r#"{"name":"A","timezone":"UTC","colour":"red"}"#,
        ),
    )
    .await;
    let body = reply.problem(422, "invalid_body");
    assert_eq!(body["errors"][0]["field"], "colour");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field")
    );
}

#[tokio::test]
async fn test_wrong_type_is_422_naming_the_field() {
    let t = test_state().await;
    let reply = send(
        &t.state,
        raw_post(
            &t.bootstrap_key,
            "/v1/workspaces",
            r#"{"name":5,"timezone":"UTC"}"#,
        ),
    )
    .await;
    let body = reply.problem(422, "invalid_body");
    assert_eq!(body["errors"][0]["field"], "name");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid type")
    );
}

#[tokio::test]
async fn test_missing_field_is_422_naming_the_field() {
    let t = test_state().await;
    let reply = send(
        &t.state,
        raw_post(&t.bootstrap_key, "/v1/workspaces", r#"{"name":"A"}"#),
    )
    .await;
    let body = reply.problem(422, "invalid_body");
    assert_eq!(body["errors"][0]["field"], "timezone");
}

#[tokio::test]
async fn test_oversized_body_is_413_and_creates_nothing() {
    let t = test_state_with(|c| c.max_body_bytes = 256).await;
    let big = json!({"name": "x".repeat(1000), "timezone": "UTC"}).to_string();
    let reply = send(&t.state, raw_post(&t.bootstrap_key, "/v1/workspaces", big)).await;
    reply.problem(413, "payload_too_large");
    let listed = send(
        &t.state,
        request("GET", "/v1/workspaces", Some(&t.bootstrap_key), None),
    )
    .await;
    assert_eq!(listed.json()["items"], json!([]));
}

#[tokio::test]
async fn test_non_json_content_type_is_415() {
    let t = test_state().await;
    let req = Request::post("/v1/workspaces")
        .header("authorization", format!("Bearer {}", t.bootstrap_key))
        .header("content-type", "text/plain")
        .body(Body::from("name=A"))
        .expect("request");
    send(&t.state, req)
        .await
        .problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn test_bad_timezone_is_422_on_timezone() {
    let t = test_state().await;
    for zone in ["Mars/Olympus", "+02:00", "CEST", ""] {
        let reply = send(
            &t.state,
            request(
                "POST",
                "/v1/workspaces",
                Some(&t.bootstrap_key),
                Some(json!({"name": "A", "timezone": zone})),
            ),
        )
        .await;
        let body = reply.problem(422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "timezone", "zone {zone:?}");
    }
}

#[tokio::test]
async fn test_limit_outside_1_to_200_is_400() {
    let t = test_state().await;
    for limit in ["0", "201", "abc", "-1"] {
        let reply = send(
            &t.state,
            request(
                "GET",
                &format!("/v1/workspaces?limit={limit}"),
                Some(&t.bootstrap_key),
                None,
            ),
        )
        .await;
        let body = reply.problem(400, "invalid_query");
        assert_eq!(body["errors"][0]["field"], "limit");
    }
    let ok = send(
        &t.state,
        request(
            "GET",
            "/v1/workspaces?limit=200",
            Some(&t.bootstrap_key),
            None,
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn test_unknown_route_and_wrong_method_are_problems() {
    let t = test_state().await;
    send(&t.state, request("GET", "/nope", None, None))
        .await
        .problem(404, "not_found");
    send(&t.state, request("PUT", "/healthz", None, None))
        .await
        .problem(405, "method_not_allowed");
}
