//! Helpers of the privacy tests: keys acting as people, and polling export jobs.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use tenants::{Membership, Provider, Role, User, UserId, WorkspaceId};

use crate::common::{TestApp, insert_key};
use crate::e2e_support::call;

/// Creates a person (no workspace yet) and returns their id and an API key acting as them,
/// limited to `workspace_ids` when given.
pub async fn person_key(
    app: &TestApp,
    workspace_ids: Option<Vec<WorkspaceId>>,
) -> (UserId, String) {
    let store = &app.state.store;
    let user = User {
        id: UserId::new(),
        provider: Provider::Google,
        subject: format!("sub-{}", UserId::new()),
        email: Some("ana@example.com".to_owned()),
        name: "Ana".to_owned(),
        avatar_url: None,
        created_at: jiff::Timestamp::now(),
        birth_date_declared: Some(jiff::civil::date(1990, 1, 1)),
        marketing_consent: false,
        marketing_consent_at: None,
        instance_admin: false,
        deletion_requested_at: None,
    };
    store.put_user(&user).await.expect("put user");
    let key = insert_key(store, |k| {
        k.owner = Some(user.id);
        k.instance_admin = false;
        k.workspace_ids = workspace_ids;
    })
    .await;
    (user.id, key)
}

/// Adds `user` to `ws` with `role`.
pub async fn add_member(app: &TestApp, ws: &str, user: UserId, role: Role) {
    let workspace_id: WorkspaceId = ws.parse().expect("workspace id");
    let membership = Membership {
        workspace_id,
        user_id: user,
        role,
        created_at: jiff::Timestamp::now(),
    };
    app.state
        .store
        .put_membership(
            schema::WorkspaceScope::authorized(workspace_id),
            &membership,
        )
        .await
        .expect("put membership");
}

/// Polls an export job until it leaves `pending` (at most 15 s) and returns it.
pub async fn wait_for_export(app: &TestApp, path: &str, key: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let job = call(app, "GET", path, key, None).await.expect(200);
        if job["status"] != "pending" {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "export still pending: {job}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
