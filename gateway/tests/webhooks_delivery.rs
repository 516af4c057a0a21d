//! Outbound webhooks end to end: a loopback receiver behind the gateway's webhook API, time on a
//! manual clock shared by gateway, engine and receiver, so a day of retries runs in seconds.

mod common;
mod e2e_support;
mod webhooks_support;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{call, tenant_key, workspace};
use jiff::{SignedDuration, Timestamp};
use schema::WorkspaceScope;
use serde_json::{Value, json};
use tenants::{ManualClock, WorkspaceId};
use webhooks_support::{Mode, Receiver};

struct World {
    app: TestApp,
    clock: ManualClock,
    key: String,
    ws: String,
    receiver: Receiver,
}

async fn world() -> World {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    app.engine
        .handle()
        .webhooks()
        .expect("webhooks attached")
        .set_allow_private_targets(true);
    let key = tenant_key(&app).await;
    let ws = workspace(&app, &key, "Hooks").await;
    let receiver = Receiver::start(clock.clone()).await;
    World {
        app,
        clock,
        key,
        ws,
        receiver,
    }
}

impl World {
    async fn create(&self, events: &[&str]) -> Value {
        let body = json!({"url": self.receiver.url, "events": events, "description": "crm"});
        let path = format!("/v1/workspaces/{}/webhooks", self.ws);
        let created = call(&self.app, "POST", &path, &self.key, Some(body))
            .await
            .expect(201);
        let secret = created["secret"].as_str().expect("secret");
        assert!(secret.starts_with("whsec_"));
        self.receiver.set_secrets(&[secret]);
        created
    }

    fn scope(&self) -> WorkspaceScope {
        WorkspaceScope::authorized(self.ws.parse::<WorkspaceId>().expect("ws id"))
    }

    async fn publish(&self, kind: &str, n: u32) {
        let hooks = self
            .app
            .engine
            .handle()
            .webhooks()
            .expect("webhooks")
            .clone();
        for i in 0..n {
            hooks
                .publish(self.scope(), kind, json!({"n": i}))
                .await
                .expect("publish");
        }
    }

    async fn tick(&self) {
        self.app
            .engine
            .handle()
            .webhooks()
            .expect("webhooks")
            .tick()
            .await
            .expect("tick");
    }

    /// Moves the clock on in `step`s for `total`, with a dispatch pass after each.
    async fn run_for(&self, total: SignedDuration, step: SignedDuration) {
        let mut elapsed = SignedDuration::ZERO;
        while elapsed < total {
            self.clock.advance(step);
            elapsed += step;
            self.tick().await;
        }
    }

    async fn endpoint(&self, id: &str) -> Value {
        let path = format!("/v1/workspaces/{}/webhooks/{id}", self.ws);
        call(&self.app, "GET", &path, &self.key, None)
            .await
            .expect(200)
    }

    async fn attempts(&self, id: &str) -> Vec<Value> {
        let path = format!(
            "/v1/workspaces/{}/webhooks/{id}/deliveries?limit=200",
            self.ws
        );
        let page = call(&self.app, "GET", &path, &self.key, None)
            .await
            .expect(200);
        page["items"].as_array().cloned().unwrap_or_default()
    }

    async fn finish(self) {
        self.receiver.stop();
        self.app.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_receiver_down_for_two_hours_gets_every_event_exactly_once() {
    let w = world().await;
    let hook = w.create(&["post.published", "test"]).await;
    let id = hook["id"].as_str().unwrap();
    w.receiver.set_mode(Mode::Down);
    w.publish("post.published", 5).await;
    let test = format!("/v1/workspaces/{}/webhooks/{id}/test", w.ws);
    call(&w.app, "POST", &test, &w.key, None).await.expect(202);
    w.tick().await;
    w.run_for(SignedDuration::from_hours(2), SignedDuration::from_mins(1))
        .await;
    assert_eq!(
        w.receiver.seen(|s| s.accepted.len()),
        0,
        "nothing accepted while down"
    );
    w.receiver.set_mode(Mode::Up);
    w.run_for(SignedDuration::from_hours(4), SignedDuration::from_mins(5))
        .await;
    w.receiver.seen(|s| {
        assert_eq!(s.num_bad_signatures, 0);
        assert_eq!(s.accepted.len(), 6, "five published events and one test");
        assert!(
            s.accepted.values().all(|(n, _)| *n == 1),
            "each accepted once"
        );
        let kinds: Vec<&str> = s
            .accepted
            .values()
            .filter_map(|(_, b)| b["type"].as_str())
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k == "test").count(), 1);
        let body = &s.accepted.values().next().unwrap().1;
        assert_eq!(body["workspace_id"], w.ws.as_str());
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert!(body["timestamp"].is_string());
    });
    let attempts = w.attempts(id).await;
    assert!(
        attempts
            .iter()
            .any(|a| a["status_code"] == 503 && a["next_retry_at"].is_string())
    );
    assert_eq!(
        attempts.iter().filter(|a| a["status_code"] == 200).count(),
        6
    );
    assert!(attempts.iter().all(|a| a["latency_ms"].is_u64()));
    assert_eq!(w.endpoint(id).await["enabled"], true);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_endpoint_is_disabled_after_the_schedule_runs_out() {
    let w = world().await;
    let hook = w.create(&["post.failed"]).await;
    let id = hook["id"].as_str().unwrap();
    let mut notices = w
        .app
        .engine
        .handle()
        .webhooks()
        .unwrap()
        .subscribe_notices();
    w.receiver.set_mode(Mode::Down);
    w.publish("post.failed", 1).await;
    w.tick().await;
    w.run_for(
        SignedDuration::from_hours(26),
        SignedDuration::from_mins(30),
    )
    .await;
    assert_eq!(
        w.endpoint(id).await["enabled"],
        true,
        "still retrying before 27 h"
    );
    w.run_for(SignedDuration::from_hours(6), SignedDuration::from_mins(30))
        .await;
    let endpoint = w.endpoint(id).await;
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("8 attempts")
    );
    let attempts = w.attempts(id).await;
    assert_eq!(
        attempts.len(),
        8,
        "immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h"
    );
    assert!(
        attempts[0]["next_retry_at"].is_null(),
        "no retry after the last"
    );
    let first = attempts[7]["at"]
        .as_str()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap();
    let last = attempts[0]["at"]
        .as_str()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap();
    assert!(last.duration_since(first) >= SignedDuration::from_mins(27 * 60 + 35));
    let notice = notices.try_recv().expect("owner notified");
    assert_eq!(notice.endpoint_id.to_string(), id);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_410_gone_disables_the_endpoint_at_once() {
    let w = world().await;
    let hook = w.create(&["account.connected"]).await;
    let id = hook["id"].as_str().unwrap();
    w.receiver.set_mode(Mode::Gone);
    w.publish("account.connected", 1).await;
    w.tick().await;
    let endpoint = w.endpoint(id).await;
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    assert_eq!(w.attempts(id).await.len(), 1);
    // Events after disabling are not queued for it.
    w.receiver.set_mode(Mode::Up);
    w.publish("account.connected", 1).await;
    w.run_for(SignedDuration::from_mins(10), SignedDuration::from_mins(1))
        .await;
    assert_eq!(w.receiver.seen(|s| s.num_requests), 1);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_both_secrets_sign_during_rotation_then_only_the_new_one() {
    let w = world().await;
    let hook = w.create(&["test"]).await;
    let id = hook["id"].as_str().unwrap();
    let old = hook["secret"].as_str().unwrap().to_owned();
    let path = format!("/v1/workspaces/{}/webhooks/{id}/rotate-secret", w.ws);
    let rotated = call(&w.app, "POST", &path, &w.key, None).await.expect(200);
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    let test = format!("/v1/workspaces/{}/webhooks/{id}/test", w.ws);
    // A receiver still on the old secret accepts during the overlap...
    w.receiver.set_secrets(&[&old]);
    call(&w.app, "POST", &test, &w.key, None).await.expect(202);
    w.tick().await;
    // ...and one already on the new secret too.
    w.receiver.set_secrets(&[&new]);
    call(&w.app, "POST", &test, &w.key, None).await.expect(202);
    w.tick().await;
    w.receiver.seen(|s| {
        assert_eq!(s.num_bad_signatures, 0);
        assert_eq!(s.accepted.len(), 2);
        assert!(
            s.signature_headers.iter().all(|h| h
                .split(' ')
                .filter(|e| e.starts_with("v1,"))
                .count()
                == 2)
        );
    });
    w.clock.advance(SignedDuration::from_hours(25));
    w.receiver.set_secrets(&[&old]);
    call(&w.app, "POST", &test, &w.key, None).await.expect(202);
    w.tick().await;
    assert_eq!(
        w.receiver.seen(|s| s.num_bad_signatures),
        1,
        "old secret no longer signs"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_crud_resend_and_refused_targets() {
    let w = world().await;
    let hook = w.create(&["test"]).await;
    let id = hook["id"].as_str().unwrap();
    let base = format!("/v1/workspaces/{}/webhooks", w.ws);
    let list = call(&w.app, "GET", &base, &w.key, None).await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(
        list["items"][0].get("secret").is_none(),
        "the secret is shown once"
    );
    let bad = json!({"url": w.receiver.url, "events": ["post.exploded"]});
    call(&w.app, "POST", &base, &w.key, Some(bad))
        .await
        .expect(422);
    let bad = json!({"url": "ftp://example.com/x", "events": ["test"]});
    call(&w.app, "POST", &base, &w.key, Some(bad))
        .await
        .expect(422);
    w.app
        .engine
        .handle()
        .webhooks()
        .unwrap()
        .set_allow_private_targets(false);
    let private = json!({"url": "http://127.0.0.1:9/x", "events": ["test"]});
    call(&w.app, "POST", &base, &w.key, Some(private))
        .await
        .expect(422);
    w.app
        .engine
        .handle()
        .webhooks()
        .unwrap()
        .set_allow_private_targets(true);
    let one = format!("{base}/{id}");
    let patched = call(
        &w.app,
        "PATCH",
        &one,
        &w.key,
        Some(json!({"events": ["test", "post.failed"]})),
    )
    .await
    .expect(200);
    assert_eq!(patched["events"], json!(["test", "post.failed"]));
    let queued = call(&w.app, "POST", &format!("{one}/test"), &w.key, None)
        .await
        .expect(202);
    w.tick().await;
    let delivery = queued["delivery_id"].as_str().unwrap();
    call(
        &w.app,
        "POST",
        &format!("{one}/deliveries/{delivery}/resend"),
        &w.key,
        None,
    )
    .await
    .expect(202);
    w.tick().await;
    w.receiver.seen(|s| {
        assert_eq!(s.accepted.len(), 1, "a resend keeps the event id");
        assert_eq!(s.accepted.values().next().unwrap().0, 2);
    });
    call(&w.app, "DELETE", &one, &w.key, None).await.expect(204);
    call(&w.app, "GET", &one, &w.key, None).await.expect(404);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_finished_import_sends_import_completed() {
    let w = world().await;
    w.create(&["import.completed"]).await;
    let csv = "scheduled_at,accounts,caption\n2030-01-01T09:00:00Z,@nobody,hello\n".to_owned();
    let url = format!(
        "{}/v1/workspaces/{}/imports?dry_run=true",
        w.app.base_url, w.ws
    );
    let answer = e2e_support::answer(
        reqwest::Client::new()
            .post(url)
            .bearer_auth(&w.key)
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await
    .expect(201);
    let import_id = answer["id"].as_str().expect("import id").to_owned();
    w.tick().await;
    let events: Vec<Value> = w.receiver.seen(|s| {
        s.accepted
            .values()
            .map(|(count, body)| {
                assert_eq!(*count, 1, "delivered once");
                body.clone()
            })
            .collect()
    });
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "import.completed");
    assert_eq!(event["data"]["import_id"], import_id.as_str());
    assert_eq!(event["data"]["dry_run"], true);
    assert_eq!(event["data"]["rows_invalid"], 1);
    assert_eq!(event["data"]["posts_created"], 0);
    w.finish().await;
}
