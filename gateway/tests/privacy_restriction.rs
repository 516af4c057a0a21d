//! Restriction of processing: while a workspace is restricted its due posts are held with the
//! reason `processing_restricted`; once lifted they publish.

mod common;
mod e2e_support;
mod privacy_support;

use std::time::Duration;

use common::{AppOptions, spawn_app_with};
use e2e_support::{call, connect, workspace};
use jiff::{SignedDuration, Timestamp};
use privacy_support::{add_member, person_key};
use serde_json::{Value, json};
use tenants::{Clock, ManualClock, Role};

async fn wait_for(
    app: &common::TestApp,
    path: &str,
    key: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        app.engine.handle().tick().await.expect("tick");
        let post = call(app, "GET", path, key, None).await.expect(200);
        if done(&post) {
            return post;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met: {post}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn delivery(post: &Value) -> Value {
    post["deliveries"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_restricted_workspace_holds_posts_until_unrestricted() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Paused").await;
    let account = connect(&app, &key, &ws, "linkedin").await;

    // Editors may not restrict; owners and admins may.
    let (editor, editor_key) = person_key(&app, None).await;
    add_member(&app, &ws, editor, Role::Editor).await;
    call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/restrict"),
        &editor_key,
        None,
    )
    .await
    .problem(403);
    let restricted = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/restrict"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(restricted["processing_restricted"], true);

    let due = clock.now() + SignedDuration::from_mins(1);
    let post = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(json!({"caption": "Wait", "account_ids": [account["id"]], "scheduled_at": due.to_string()})),
    )
    .await
    .expect(201);
    let path = format!(
        "/v1/workspaces/{ws}/posts/{}",
        post["id"].as_str().expect("id")
    );
    clock.advance(SignedDuration::from_mins(2));
    let held = wait_for(&app, &path, &key, |p| delivery(p)["status"] == "held").await;
    assert_eq!(
        delivery(&held)["error"]["code"],
        "processing_restricted",
        "{held}"
    );
    assert!(
        app.sandbox.ledger().is_empty(),
        "nothing published while restricted"
    );

    let lifted = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/unrestrict"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(lifted["processing_restricted"], false);
    clock.advance(SignedDuration::from_mins(1));
    let published = wait_for(&app, &path, &key, |p| delivery(p)["status"] == "published").await;
    assert!(
        delivery(&published)["published_at"].is_string(),
        "{published}"
    );
    assert_eq!(app.sandbox.ledger().len(), 1);
    app.shutdown().await;
}
