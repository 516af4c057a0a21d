//! API keys and workspaces end to end over HTTP: create, list, read, patch, revoke, and tenant
//! isolation (another tenant's workspace is indistinguishable from a missing one).

mod common;

use common::{Reply, request, send, spawn_app, test_state};
use serde_json::{Value, json};

async fn call(
    t: &common::TestState,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> Reply {
    send(&t.state, request(method, uri, Some(key), body)).await
}

#[tokio::test]
async fn test_api_key_is_shown_once_listed_by_last4_and_revocable() {
    let t = test_state().await;
    let created = call(
        &t,
        "POST",
        "/v1/api-keys",
        &t.bootstrap_key,
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let body = created.json();
    let key = body["key"].as_str().expect("key").to_owned();
    assert!(
        key.starts_with("sk_") && key.len() == 3 + 43,
        "key format: {key}"
    );
    let id = body["id"].as_str().expect("id").to_owned();

    // The new key authenticates.
    assert_eq!(
        call(&t, "GET", "/v1/workspaces", &key, None).await.status,
        200
    );

    let listed = call(&t, "GET", "/v1/api-keys", &t.bootstrap_key, None)
        .await
        .json();
    let item = listed["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id.as_str()))
        .expect("listed")
        .clone();
    assert_eq!(item["last4"], &key[key.len() - 4..]);
    assert_eq!(item["name"], "ci");
    assert!(
        item.get("key").is_none() && item.get("key_hash").is_none(),
        "{item}"
    );
    assert!(
        !listed.to_string().contains(&key),
        "the secret must never be listed"
    );

    let deleted = call(
        &t,
        "DELETE",
        &format!("/v1/api-keys/{id}"),
        &t.bootstrap_key,
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    call(&t, "GET", "/v1/workspaces", &key, None)
        .await
        .problem(401, "unauthenticated");
    call(
        &t,
        "DELETE",
        &format!("/v1/api-keys/{id}"),
        &t.bootstrap_key,
        None,
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn test_a_key_cannot_grant_more_than_it_has() {
    let t = test_state().await;
    let limited = common::insert_key(&t.state.store, |k| {
        k.instance_admin = false;
        k.scopes = vec![tenants::Scope::Admin];
        k.workspace_ids = Some(Vec::new());
    })
    .await;
    let ws = call(
        &t,
        "POST",
        "/v1/workspaces",
        &t.bootstrap_key,
        Some(json!({"name": "A", "timezone": "UTC"})),
    )
    .await;
    let ws_id = ws.json()["id"].as_str().expect("id").to_owned();
    let reply = call(
        &t,
        "POST",
        "/v1/api-keys",
        &limited,
        Some(json!({"name": "x", "workspace_ids": [ws_id]})),
    )
    .await;
    let body = reply.problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "workspace_ids[0]");
}

#[tokio::test]
async fn test_workspace_create_list_get_patch() {
    let t = test_state().await;
    let created = call(
        &t,
        "POST",
        "/v1/workspaces",
        &t.bootstrap_key,
        Some(json!({"name": "Acme", "timezone": "Europe/Paris"})),
    )
    .await;
    assert_eq!(created.status, 201);
    let ws = created.json();
    let id = ws["id"].as_str().expect("id");
    assert_eq!(ws["timezone"], "Europe/Paris");
    assert!(jiff::Timestamp::from_str_rfc3339(
        ws["created_at"].as_str().expect("created_at")
    ));

    for name in ["B", "C"] {
        let r = call(
            &t,
            "POST",
            "/v1/workspaces",
            &t.bootstrap_key,
            Some(json!({"name": name, "timezone": "UTC"})),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let page1 = call(&t, "GET", "/v1/workspaces?limit=2", &t.bootstrap_key, None)
        .await
        .json();
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    let cursor = page1["next_cursor"].as_str().expect("cursor");
    let page2 = call(
        &t,
        "GET",
        &format!("/v1/workspaces?limit=2&cursor={cursor}"),
        &t.bootstrap_key,
        None,
    )
    .await
    .json();
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page2["next_cursor"], Value::Null);

    let got = call(
        &t,
        "GET",
        &format!("/v1/workspaces/{id}"),
        &t.bootstrap_key,
        None,
    )
    .await;
    assert_eq!(got.json()["name"], "Acme");
    let patched = call(
        &t,
        "PATCH",
        &format!("/v1/workspaces/{id}"),
        &t.bootstrap_key,
        Some(json!({"name": "Acme SA", "timezone": "America/New_York"})),
    )
    .await;
    assert_eq!(patched.status, 200);
    let again = call(
        &t,
        "GET",
        &format!("/v1/workspaces/{id}"),
        &t.bootstrap_key,
        None,
    )
    .await
    .json();
    assert_eq!(again["name"], "Acme SA");
    assert_eq!(again["timezone"], "America/New_York");
}

trait Rfc3339 {
    fn from_str_rfc3339(s: &str) -> bool;
}

impl Rfc3339 for jiff::Timestamp {
    fn from_str_rfc3339(s: &str) -> bool {
        s.parse::<jiff::Timestamp>().is_ok() && s.ends_with('Z')
    }
}

#[tokio::test]
async fn test_other_tenants_workspace_is_404_like_a_missing_one() {
    let t = test_state().await;
    let created = call(
        &t,
        "POST",
        "/v1/workspaces",
        &t.bootstrap_key,
        Some(json!({"name": "Theirs", "timezone": "UTC"})),
    )
    .await;
    let theirs = created.json()["id"].as_str().expect("id").to_owned();
    // A key limited to a workspace of its own.
    let mine = call(
        &t,
        "POST",
        "/v1/workspaces",
        &t.bootstrap_key,
        Some(json!({"name": "Mine", "timezone": "UTC"})),
    )
    .await;
    let mine_id = mine.json()["id"].as_str().expect("id").to_owned();
    let key = call(
        &t,
        "POST",
        "/v1/api-keys",
        &t.bootstrap_key,
        Some(json!({"name": "tenant", "workspace_ids": [mine_id]})),
    )
    .await;
    let key = key.json()["key"].as_str().expect("key").to_owned();

    assert_eq!(
        call(&t, "GET", &format!("/v1/workspaces/{mine_id}"), &key, None)
            .await
            .status,
        200
    );
    let foreign = call(&t, "GET", &format!("/v1/workspaces/{theirs}"), &key, None).await;
    let missing = call(
        &t,
        "GET",
        &format!("/v1/workspaces/{}", uuid::Uuid::now_v7()),
        &key,
        None,
    )
    .await;
    let foreign_body = foreign.problem(404, "not_found");
    assert_eq!(foreign_body, missing.problem(404, "not_found"));
    assert_eq!(foreign.body, missing.body, "byte-identical bodies");
    let patch = call(
        &t,
        "PATCH",
        &format!("/v1/workspaces/{theirs}"),
        &key,
        Some(json!({"name": "pwned"})),
    )
    .await;
    assert_eq!(patch.body, missing.body);
    let members = call(
        &t,
        "GET",
        &format!("/v1/workspaces/{theirs}/members"),
        &key,
        None,
    )
    .await;
    members.problem(404, "not_found");
    let listed = call(&t, "GET", "/v1/workspaces", &key, None).await.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    // Nothing changed.
    let still = call(
        &t,
        "GET",
        &format!("/v1/workspaces/{theirs}"),
        &t.bootstrap_key,
        None,
    )
    .await
    .json();
    assert_eq!(still["name"], "Theirs");
}

#[tokio::test]
async fn test_a_restricted_key_can_act_in_the_workspace_it_creates() {
    let t = test_state().await;
    let key = call(
        &t,
        "POST",
        "/v1/api-keys",
        &t.bootstrap_key,
        Some(json!({"name": "r", "workspace_ids": []})),
    )
    .await;
    let key = key.json()["key"].as_str().expect("key").to_owned();
    let created = call(
        &t,
        "POST",
        "/v1/workspaces",
        &key,
        Some(json!({"name": "New", "timezone": "UTC"})),
    )
    .await;
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        call(&t, "GET", &format!("/v1/workspaces/{id}"), &key, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn test_workspaces_over_http_with_the_bootstrap_key() {
    let app = spawn_app().await;
    let client = common::client();
    let created = client
        .post(format!("{}/v1/workspaces", app.base_url))
        .bearer_auth(&app.bootstrap_key)
        .json(&json!({"name": "Over HTTP", "timezone": "Asia/Tokyo"}))
        .send()
        .await
        .expect("send");
    assert_eq!(created.status(), 201);
    assert!(created.headers().contains_key("ratelimit-remaining"));
    let ws: Value = created.json().await.expect("json");
    let got: Value = client
        .get(format!(
            "{}/v1/workspaces/{}",
            app.base_url,
            ws["id"].as_str().expect("id")
        ))
        .bearer_auth(&app.bootstrap_key)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(got["timezone"], "Asia/Tokyo");
    // The engine was told: the workspace's data key exists and its actor is resident.
    let id: tenants::WorkspaceId = ws["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("workspace id");
    let scope = schema::WorkspaceScope::authorized(id);
    assert!(
        app.state
            .store
            .get_data_key(scope)
            .await
            .expect("store")
            .is_some()
    );
    let ready: Value = client
        .get(format!("{}/readyz", app.base_url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["engine"], "ready");
    let metrics = client
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("socialcrm_engine_ready 1"), "{metrics}");
    assert!(
        metrics.contains("socialcrm_engine_workspaces_resident"),
        "{metrics}"
    );
    app.shutdown().await;
}
