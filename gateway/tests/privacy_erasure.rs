//! Erasure: a workspace or a person is gone from the API at once; keys and sessions stop
//! working; a sole owner of a shared workspace is refused with a reason.

mod common;
mod e2e_support;
mod privacy_support;

use common::{AppOptions, spawn_app_with};
use e2e_support::{call, workspace};
use privacy_support::{add_member, person_key};
use serde_json::json;
use tenants::{Role, WorkspaceId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_erased_workspace_is_gone_at_once_and_its_keys_are_revoked() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (owner, key) = person_key(&app, None).await;
    let ws = workspace(&app, &key, "Doomed").await;
    let kept = workspace(&app, &key, "Kept").await;
    let ws_id: WorkspaceId = ws.parse().expect("id");
    let kept_id: WorkspaceId = kept.parse().expect("id");
    let only = common::insert_key(&app.state.store, |k| {
        k.owner = Some(owner);
        k.instance_admin = false;
        k.workspace_ids = Some(vec![ws_id]);
    })
    .await;
    let both = common::insert_key(&app.state.store, |k| {
        k.owner = Some(owner);
        k.instance_admin = false;
        k.workspace_ids = Some(vec![ws_id, kept_id]);
    })
    .await;
    let (admin, admin_key) = person_key(&app, None).await;
    add_member(&app, &ws, admin, Role::Admin).await;
    call(
        &app,
        "DELETE",
        &format!("/v1/workspaces/{ws}"),
        &admin_key,
        None,
    )
    .await
    .problem(403);

    let receipt = call(&app, "DELETE", &format!("/v1/workspaces/{ws}"), &key, None)
        .await
        .expect(202);
    assert_eq!(receipt["kind"], "workspace");
    assert!(receipt["purge_by"].is_string(), "{receipt}");
    for path in [
        format!("/v1/workspaces/{ws}"),
        format!("/v1/workspaces/{ws}/posts"),
    ] {
        call(&app, "GET", &path, &key, None).await.problem(404);
    }
    call(&app, "DELETE", &format!("/v1/workspaces/{ws}"), &key, None)
        .await
        .problem(404);
    let listed = call(&app, "GET", "/v1/workspaces", &key, None)
        .await
        .expect(200);
    assert!(!listed.to_string().contains(&ws), "{listed}");
    call(&app, "GET", "/v1/me", &only, None).await.problem(401);
    call(&app, "GET", &format!("/v1/workspaces/{kept}"), &both, None)
        .await
        .expect(200);
    call(&app, "GET", &format!("/v1/workspaces/{kept}"), &key, None)
        .await
        .expect(200);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_erased_person_is_gone_at_once_and_a_sole_owner_is_refused() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (owner, key) = person_key(&app, None).await;
    let shared = workspace(&app, &key, "Shared").await;
    let (member, member_key) = person_key(&app, None).await;
    add_member(&app, &shared, member, Role::Editor).await;

    let refused = call(&app, "DELETE", "/v1/me", &key, None)
        .await
        .problem(409);
    assert!(
        refused["type"]
            .as_str()
            .expect("type")
            .ends_with("sole_owner"),
        "{refused}"
    );
    call(&app, "GET", "/v1/me", &key, None).await.expect(200);

    // The member leaves cleanly: gone at once, their keys stop working, the workspace stays.
    let receipt = call(&app, "DELETE", "/v1/me", &member_key, None)
        .await
        .expect(202);
    assert_eq!(receipt["id"], member.to_string());
    call(&app, "GET", "/v1/me", &member_key, None)
        .await
        .problem(401);
    let members = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{shared}/members"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert!(
        !members.to_string().contains(&member.to_string()),
        "{members}"
    );

    // Now the owner is alone: erasing them erases the workspace with them.
    call(&app, "DELETE", "/v1/me", &key, None).await.expect(202);
    call(&app, "GET", "/v1/me", &key, None).await.problem(401);
    let ws_id: WorkspaceId = shared.parse().expect("id");
    let stored = app
        .state
        .store
        .get_workspace(schema::WorkspaceScope::authorized(ws_id))
        .await
        .expect("read");
    assert!(
        stored.is_none_or(|w| w.deletion_requested_at.is_some()),
        "the workspace is erased (and later purged) with its only member"
    );
    assert_eq!(app.state.store.get_user(owner).await.expect("read"), None);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_marketing_consent_defaults_to_false_and_records_its_time() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (user_id, key) = person_key(&app, None).await;
    let before = app
        .state
        .store
        .get_user(user_id)
        .await
        .expect("read")
        .expect("user");
    assert!(!before.marketing_consent && before.marketing_consent_at.is_none());
    let given = call(
        &app,
        "PUT",
        "/v1/me/marketing-consent",
        &key,
        Some(json!({"marketing_consent": true})),
    )
    .await
    .expect(200);
    assert_eq!(given["marketing_consent"], true);
    assert!(given["marketing_consent_at"].is_string());
    let withdrawn = call(
        &app,
        "PUT",
        "/v1/me/marketing-consent",
        &key,
        Some(json!({"marketing_consent": false})),
    )
    .await
    .expect(200);
    assert_eq!(withdrawn["marketing_consent"], false);
    let after = app
        .state
        .store
        .get_user(user_id)
        .await
        .expect("read")
        .expect("user");
    assert!(!after.marketing_consent && after.marketing_consent_at.is_some());
    app.shutdown().await;
}
