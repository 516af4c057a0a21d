//! Posts over HTTP with the engine attached: roles, drafts, publish now, cancel, delete,
//! rescheduling, the edit lock once publishing started, and list filters.

mod common;
mod e2e_support;

use std::time::Duration;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{call, connect, member_key, workspace};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tenants::{Clock, ManualClock, Role};

struct World {
    app: TestApp,
    clock: ManualClock,
    key: String,
    ws: String,
    account: String,
}

async fn world() -> World {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Studio").await;
    let account = connect(&app, &key, &ws, "linkedin").await["id"]
        .as_str()
        .expect("account id")
        .to_owned();
    World {
        app,
        clock,
        key,
        ws,
        account,
    }
}

impl World {
    async fn post(&self, body: Value) -> Value {
        call(
            &self.app,
            "POST",
            &format!("/v1/workspaces/{}/posts", self.ws),
            &self.key,
            Some(body),
        )
        .await
        .expect(201)
    }

    fn path(&self, post: &Value) -> String {
        format!(
            "/v1/workspaces/{}/posts/{}",
            self.ws,
            post["id"].as_str().expect("post id")
        )
    }

    /// Ticks the engine until the post's deliveries are all `status`, within a deadline.
    async fn until_deliveries(&self, post: &Value, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            self.app.engine.handle().tick().await.expect("tick");
            let current = call(&self.app, "GET", &self.path(post), &self.key, None)
                .await
                .expect(200);
            let ds = current["deliveries"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            // When every delivery ends the same way, the post's own status follows a moment
            // later (the workspace batches those writes): wait for it too.
            let post_settled =
                !matches!(status, "published" | "canceled") || current["status"] == status;
            if !ds.is_empty() && ds.iter().all(|d| d["status"] == status) && post_settled {
                return current;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "deliveries never became {status}: {current}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_viewer_cannot_create_posts_and_nothing_is_created() {
    let w = world().await;
    let viewer = member_key(&w.app, &w.ws, Role::Viewer).await;
    let body = json!({"caption": "hi", "account_ids": [w.account]});
    let reply = call(
        &w.app,
        "POST",
        &format!("/v1/workspaces/{}/posts", w.ws),
        &viewer,
        Some(body),
    )
    .await;
    let problem = reply.problem(403);
    assert_eq!(problem["type"], "urn:socialcrm:problem:insufficient_role");
    let listed = call(
        &w.app,
        "GET",
        &format!("/v1/workspaces/{}/posts", w.ws),
        &viewer,
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed["items"], json!([]), "a viewer still reads");
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_publish_now_then_any_edit_is_409() {
    let w = world().await;
    let post = w
        .post(json!({"caption": "now", "account_ids": [w.account]}))
        .await;
    let published = w.until_deliveries(&post, "published").await;
    assert!(
        published["deliveries"][0]["platform_post_id"].is_string(),
        "{published}"
    );
    let reply = call(
        &w.app,
        "PATCH",
        &w.path(&post),
        &w.key,
        Some(json!({"caption": "edited"})),
    )
    .await;
    let problem = reply.problem(409);
    assert_eq!(problem["type"], "urn:socialcrm:problem:conflict");
    let after = call(&w.app, "GET", &w.path(&post), &w.key, None)
        .await
        .expect(200);
    assert_eq!(after["caption"], "now", "the refused edit changed nothing");
    assert_eq!(w.app.sandbox.ledger().len(), 1);
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_draft_publishes_when_asked() {
    let w = world().await;
    let draft = w
        .post(json!({"caption": "later", "account_ids": [w.account], "status": "draft"}))
        .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["deliveries"], json!([]));
    w.app.engine.handle().tick().await.expect("tick");
    assert!(
        w.app.sandbox.ledger().is_empty(),
        "a draft never publishes by itself"
    );
    let publish = format!("{}/publish", w.path(&draft));
    let publishing = call(&w.app, "POST", &publish, &w.key, None)
        .await
        .expect(200);
    assert_eq!(
        publishing["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{publishing}"
    );
    let done = w.until_deliveries(&draft, "published").await;
    assert_eq!(done["status"], "published");
    assert_eq!(w.app.sandbox.ledger().len(), 1);
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_cancel_stops_a_scheduled_post() {
    let w = world().await;
    let at = w.clock.now() + SignedDuration::from_hours(1);
    let post = w
        .post(
            json!({"caption": "soon", "account_ids": [w.account], "scheduled_at": at.to_string()}),
        )
        .await;
    let canceled = call(
        &w.app,
        "POST",
        &format!("{}/cancel", w.path(&post)),
        &w.key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(canceled["deliveries"][0]["status"], "canceled");
    w.clock.advance(SignedDuration::from_hours(2));
    w.app.engine.handle().tick().await.expect("tick");
    let after = call(&w.app, "GET", &w.path(&post), &w.key, None)
        .await
        .expect(200);
    assert_eq!(after["deliveries"][0]["status"], "canceled");
    assert!(
        w.app.sandbox.ledger().is_empty(),
        "a canceled post is never published"
    );
    let edit = call(
        &w.app,
        "PATCH",
        &w.path(&post),
        &w.key,
        Some(json!({"caption": "x"})),
    )
    .await;
    edit.problem(409);
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_delete_removes_a_draft_and_cancels_a_scheduled_post() {
    let w = world().await;
    let draft = w
        .post(json!({"caption": "d", "account_ids": [w.account], "status": "draft"}))
        .await;
    call(&w.app, "DELETE", &w.path(&draft), &w.key, None)
        .await
        .expect(204);
    call(&w.app, "GET", &w.path(&draft), &w.key, None)
        .await
        .problem(404);
    let at = w.clock.now() + SignedDuration::from_hours(1);
    let post = w
        .post(json!({"caption": "s", "account_ids": [w.account], "scheduled_at": at.to_string()}))
        .await;
    call(&w.app, "DELETE", &w.path(&post), &w.key, None)
        .await
        .expect(204);
    let after = call(&w.app, "GET", &w.path(&post), &w.key, None)
        .await
        .expect(200);
    assert_eq!(after["deliveries"][0]["status"], "canceled", "{after}");
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_reschedule_in_local_time_and_list_filters() {
    let w = world().await;
    let at = w.clock.now() + SignedDuration::from_hours(1);
    let post = w
        .post(json!({"caption": "s", "account_ids": [w.account], "scheduled_at": at.to_string()}))
        .await;
    let draft = w
        .post(json!({"caption": "d", "account_ids": [w.account], "status": "draft"}))
        .await;
    let local =
        json!({"scheduled_at": {"local": "2030-07-01T09:00", "timezone": "America/New_York"}});
    let moved = call(&w.app, "PATCH", &w.path(&post), &w.key, Some(local))
        .await
        .expect(200);
    assert_eq!(moved["scheduled_at"], "2030-07-01T13:00:00Z", "{moved}");
    assert_eq!(moved["deliveries"][0]["due_at"], "2030-07-01T13:00:00Z");
    let list = |q: &str| format!("/v1/workspaces/{}/posts?{q}", w.ws);
    let drafts = call(&w.app, "GET", &list("status=draft"), &w.key, None)
        .await
        .expect(200);
    assert_eq!(
        drafts["items"].as_array().map(Vec::len),
        Some(1),
        "{drafts}"
    );
    assert_eq!(drafts["items"][0]["id"], draft["id"]);
    let all = call(&w.app, "GET", &list("limit=1"), &w.key, None)
        .await
        .expect(200);
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    let cursor = all["next_cursor"].as_str().expect("a second page");
    let rest = call(
        &w.app,
        "GET",
        &list(&format!("limit=1&cursor={cursor}")),
        &w.key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(rest["items"][0]["id"], all["items"][0]["id"]);
    w.app.shutdown().await;
}
