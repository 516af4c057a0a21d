//! Connecting accounts through the platform OAuth hand-off, listing, reading and disconnecting
//! them; single-use states; roles; and the callback listed in the OpenAPI document.

mod common;
mod e2e_support;

use std::collections::HashMap;

use common::{AppOptions, spawn_app_with};
use e2e_support::{answer, call, connect, http, member_key, workspace};
use serde_json::json;
use tenants::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connect_list_read_and_disconnect() {
    let app = spawn_app_with(AppOptions::default()).await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Accounts").await;
    let account = connect(&app, &key, &ws, "x").await;
    assert_eq!(account["platform"], "x");
    assert_eq!(account["status"], "active");
    let hint = account["token_hint"].as_str().expect("token hint");
    assert!(hint.chars().count() <= 4);
    for secret in app.sandbox.issued_secrets() {
        assert!(
            !account.to_string().contains(&secret),
            "no issued secret is shown"
        );
    }
    let path = format!(
        "/v1/workspaces/{ws}/accounts/{}",
        account["id"].as_str().expect("id")
    );
    assert_eq!(
        call(&app, "GET", &path, &key, None).await.expect(200),
        account
    );
    let listed = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/accounts"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed["items"], json!([account]));
    assert!(listed["next_cursor"].is_null());

    call(&app, "DELETE", &path, &key, None).await.expect(204);
    call(&app, "GET", &path, &key, None).await.problem(404);
    call(&app, "DELETE", &path, &key, None).await.problem(404);
    let listed = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/accounts"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed["items"], json!([]));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_authorization_url_uses_pkce_and_a_state_works_once() {
    let app = spawn_app_with(AppOptions::default()).await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Accounts").await;
    let started = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/accounts/connect"),
        &key,
        Some(json!({"platform": "linkedin"})),
    )
    .await
    .expect(200);
    let url =
        url::Url::parse(started["authorization_url"].as_str().expect("url")).expect("absolute");
    assert!(url.as_str().starts_with(&format!(
        "{}/oauth/linkedin/authorize",
        app.sandbox.base_url()
    )));
    let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["redirect_uri"],
        format!("{}/v1/accounts/callback", app.base_url)
    );
    assert!(query["state"].len() >= 32 && query["code_challenge"].len() >= 43);

    let consent = answer(http().get(url.as_str())).await;
    assert_eq!(consent.status, 302);
    let location = http().get(url.as_str()).send().await.expect("consent");
    let callback = location.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let first = answer(http().get(&callback)).await.expect(201);
    assert_eq!(first["platform"], "linkedin");
    let replay = answer(http().get(&callback)).await.problem(400);
    assert_eq!(replay["type"], "urn:socialcrm:problem:invalid_state");
    let forged = answer(http().get(format!(
        "{}/v1/accounts/callback?code=x&state=forged",
        app.base_url
    )))
    .await;
    forged.problem(400);
    let listed = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/accounts"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "one account, however often the callback is replayed"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_unknown_platform_is_422_and_an_editor_cannot_connect() {
    let app = spawn_app_with(AppOptions::default()).await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Accounts").await;
    let path = format!("/v1/workspaces/{ws}/accounts/connect");
    let bad = call(
        &app,
        "POST",
        &path,
        &key,
        Some(json!({"platform": "myspace"})),
    )
    .await
    .problem(422);
    assert_eq!(bad["errors"][0]["field"], "platform");
    let editor = member_key(&app, &ws, Role::Editor).await;
    call(&app, "POST", &path, &editor, Some(json!({"platform": "x"})))
        .await
        .problem(403);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_openapi_lists_the_account_post_and_media_routes() {
    let app = spawn_app_with(AppOptions::default()).await;
    let doc = answer(http().get(format!("{}/openapi.json", app.base_url)))
        .await
        .expect(200);
    for path in [
        "/v1/accounts/callback",
        "/v1/workspaces/{ws}/accounts/connect",
        "/v1/workspaces/{ws}/posts",
        "/v1/workspaces/{ws}/posts/{post_id}/publish",
        "/v1/workspaces/{ws}/media/{media_id}/content",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    app.shutdown().await;
}
