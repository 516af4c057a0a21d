//! The audit and security log: state changes are recorded with actor, action, target, IP and
//! user agent; reads are not; filters work; line breaks in the user agent are neutralised;
//! probing another tenant's workspace leaves nothing in that tenant's log.

mod common;
mod e2e_support;
mod privacy_support;

use common::{AppOptions, spawn_app_with};
use e2e_support::{answer, call, http, workspace};
use privacy_support::{add_member, person_key};
use serde_json::{Value, json};
use tenants::Role;

const AGENT: &str = "audit-test/1.0";

async fn send(
    app: &common::TestApp,
    method: &str,
    path: &str,
    key: &str,
    agent: &str,
    body: Option<Value>,
) -> u16 {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http()
        .request(method, format!("{}{path}", app.base_url))
        .bearer_auth(key)
        .header("user-agent", agent);
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request).await.status
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_state_changes_are_recorded_with_actor_ip_and_user_agent() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (user_id, key) = person_key(&app, None).await;
    let ws = workspace(&app, &key, "Audited").await;
    let ws_path = format!("/v1/workspaces/{ws}");
    assert_eq!(
        send(
            &app,
            "PATCH",
            &ws_path,
            &key,
            AGENT,
            Some(json!({"name": "Renamed"}))
        )
        .await,
        200
    );
    assert_eq!(send(&app, "GET", &ws_path, &key, AGENT, None).await, 200);
    let (member, member_key) = person_key(&app, None).await;
    add_member(&app, &ws, member, Role::Editor).await;
    let member_path = format!("{ws_path}/members/{member}");
    assert_eq!(
        send(&app, "DELETE", &member_path, &key, AGENT, None).await,
        204
    );
    // Refused requests are recorded too, with their status.
    assert_eq!(
        send(
            &app,
            "PATCH",
            &ws_path,
            &member_key,
            AGENT,
            Some(json!({"name": "x"}))
        )
        .await,
        404
    );

    let log = call(&app, "GET", &format!("{ws_path}/audit"), &key, None)
        .await
        .expect(200);
    let entries = items(&log);
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        vec![
            "PATCH /v1/workspaces/{ws}",
            "DELETE /v1/workspaces/{ws}/members/{user_id}"
        ],
        "reads are not recorded; the removed member's refused attempt is not in this log: {log}"
    );
    // The actor is the credential: this person's API key.
    let actor = entries[0]["actor"].as_str().expect("actor").to_owned();
    assert!(actor.starts_with("key:"), "{actor}");
    let keys = app
        .state
        .store
        .list_api_keys(Some(user_id))
        .await
        .expect("keys");
    assert_eq!(actor, format!("key:{}", keys[0].id));
    for e in &entries {
        assert_eq!(e["actor"], actor, "{e}");
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
        assert_eq!(e["user_agent"], AGENT, "{e}");
        assert!(e["at"].is_string());
    }
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[1]["status"], 204);
    assert_eq!(entries[1]["target"], json!([format!("user_id={member}")]));

    // Filters: by action prefix, by actor, by time window.
    let deletes = call(
        &app,
        "GET",
        &format!("{ws_path}/audit?action=DELETE"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(items(&deletes).len(), 1, "{deletes}");
    let nobody = call(
        &app,
        "GET",
        &format!("{ws_path}/audit?actor=key:nobody"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert!(items(&nobody).is_empty());
    let mine = call(
        &app,
        "GET",
        &format!("{ws_path}/audit?actor={actor}"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(items(&mine).len(), 2);
    let past = call(
        &app,
        "GET",
        &format!("{ws_path}/audit?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert!(items(&past).is_empty());
    let paged = call(&app, "GET", &format!("{ws_path}/audit?limit=1"), &key, None)
        .await
        .expect(200);
    assert_eq!(items(&paged).len(), 1);
    let cursor = paged["next_cursor"].as_str().expect("cursor");
    let rest = call(
        &app,
        "GET",
        &format!("{ws_path}/audit?limit=1&cursor={cursor}"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        items(&rest)[0]["action"],
        "DELETE /v1/workspaces/{ws}/members/{user_id}"
    );
    call(
        &app,
        "GET",
        &format!("{ws_path}/audit?from=yesterday"),
        &key,
        None,
    )
    .await
    .problem(400);

    // Only owners and admins read the log.
    let (editor, editor_key) = person_key(&app, None).await;
    add_member(&app, &ws, editor, Role::Editor).await;
    call(&app, "GET", &format!("{ws_path}/audit"), &editor_key, None)
        .await
        .problem(403);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_line_breaks_in_the_user_agent_are_neutralised() {
    let app = spawn_app_with(AppOptions::default()).await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Injected").await;
    let ws_path = format!("/v1/workspaces/{ws}");
    // HTTP refuses CR and LF in headers; NEL and LINE SEPARATOR get through and end a line in
    // many log viewers.
    let agent = "evil/1\u{85}2026-01-01 INFO admin granted\u{2028}more";
    assert_eq!(
        send(
            &app,
            "PATCH",
            &ws_path,
            &key,
            agent,
            Some(json!({"name": "x"}))
        )
        .await,
        200
    );
    let log = call(
        &app,
        "GET",
        &format!("{ws_path}/audit?action=PATCH"),
        &key,
        None,
    )
    .await
    .expect(200);
    let recorded = items(&log)[0]["user_agent"]
        .as_str()
        .expect("user agent")
        .to_owned();
    assert_eq!(recorded, "evil/1 2026-01-01 INFO admin granted more");
    assert!(
        items(&log)[0]["actor"]
            .as_str()
            .expect("actor")
            .starts_with("key:")
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_probing_another_tenant_leaves_no_trace_in_its_log() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (_, owner_key) = person_key(&app, None).await;
    let ws = workspace(&app, &owner_key, "Victim").await;
    let (_, intruder_key) = person_key(&app, None).await;
    let probe = format!("/v1/workspaces/{ws}");
    assert_eq!(
        send(&app, "DELETE", &probe, &intruder_key, AGENT, None).await,
        404
    );
    let log = call(&app, "GET", &format!("{probe}/audit"), &owner_key, None)
        .await
        .expect(200);
    assert!(items(&log).is_empty(), "{log}");
    app.shutdown().await;
}
