//! Inbound partner webhooks end to end: the sandbox's Outstand stand-in sends signed
//! `post.published` to the gateway when a post settles, which completes a delivery whose
//! publish answer was lost (`unconfirmed`); bad signatures, duplicates and a late `post.error`
//! change nothing.

mod common;
mod e2e_support;

use std::time::Duration;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{call, connect, http, workspace};
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use sandbox::{Faults, SandboxConfig};
use serde_json::{Value, json};
use sha2::Sha256;
use tenants::{Clock, ManualClock};

const SECRET: &str = "whk-partner-secret";

fn sign(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(app: &TestApp, body: &str, signature: Option<&str>) -> (u16, Value) {
    let mut req = http()
        .post(format!("{}/partner/outstand/webhook", app.base_url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("x-outstand-signature", sig);
    }
    let resp = req.send().await.expect("gateway answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn delivery_status(app: &TestApp, key: &str, path: &str) -> String {
    let post = call(app, "GET", path, key, None).await.expect(200);
    post["deliveries"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn wait_for(app: &TestApp, key: &str, path: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while delivery_status(app, key, path).await != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never became {status}"
        );
        app.engine.handle().tick().await.expect("tick");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn partner_post_id(app: &TestApp) -> String {
    let list: Value = http()
        .get(format!("{}/outstand/v1/posts", app.sandbox.base_url()))
        .bearer_auth(SandboxConfig::default().outstand_api_key)
        .send()
        .await
        .expect("sandbox")
        .json()
        .await
        .expect("json");
    list["posts"][0]["id"]
        .as_str()
        .expect("partner post")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_partner_webhook_completes_an_unconfirmed_delivery_once() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        partner_webhook_secret: Some(SECRET.to_owned()),
        ..AppOptions::default()
    })
    .await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Inbound").await;
    let account = connect(&app, &key, &ws, "linkedin").await;
    // The publish is accepted, then its answer is lost: the delivery is unconfirmed. The
    // sandbox's webhooks wait until the test flushes them.
    app.sandbox.set_faults(Faults {
        drop_after_accept_rate: 1.0,
        hold_webhooks: true,
        ..Faults::default()
    });
    let body = json!({
        "caption": "Hello",
        "account_ids": [account["id"]],
        "scheduled_at": (clock.now() + SignedDuration::from_mins(1)).to_string(),
    });
    let post = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(body),
    )
    .await
    .expect(201);
    let path = format!("/v1/workspaces/{ws}/posts/{}", post["id"].as_str().unwrap());
    clock.advance(SignedDuration::from_mins(2));
    wait_for(&app, &key, &path, "unconfirmed").await;
    app.sandbox.set_faults(Faults {
        hold_webhooks: true,
        ..Faults::default()
    });
    let partner_post = partner_post_id(&app).await;

    // A forged or unsigned webhook is refused and changes nothing.
    let forged = json!({"event": "post.published", "timestamp": clock.now().to_string(),
        "data": {"postId": partner_post, "socialAccounts": [{"accountId": "x"}]}})
    .to_string();
    assert_eq!(deliver(&app, &forged, Some("sha256=00")).await.0, 401);
    assert_eq!(deliver(&app, &forged, None).await.0, 401);
    assert_eq!(delivery_status(&app, &key, &path).await, "unconfirmed");

    // The sandbox's own signed webhook completes it (before the reconciler's next check).
    assert_eq!(app.sandbox.flush_webhooks().await, 1);
    wait_for(&app, &key, &path, "published").await;
    // The post's own status follows asynchronously (the workspace recomputes it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let settled = call(&app, "GET", &path, &key, None).await.expect(200);
        if settled["status"] == "published" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "post not published: {settled}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // A duplicate is acknowledged without effect; a late post.error does not downgrade.
    let later = json!({"event": "post.error", "timestamp": (clock.now() + SignedDuration::from_secs(30)).to_string(),
        "data": {"postId": partner_post, "socialAccounts": [{"accountId": account_partner_id(&app).await, "error": "boom"}]}})
    .to_string();
    let (status, answer) = deliver(&app, &later, Some(&sign(&later))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], 0);
    let (status, answer) = deliver(&app, &later, Some(&sign(&later))).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(delivery_status(&app, &key, &path).await, "published");
    assert_eq!(app.sandbox.ledger().len(), 1, "published exactly once");
    app.shutdown().await;
}

async fn account_partner_id(app: &TestApp) -> String {
    let list: Value = http()
        .get(format!("{}/outstand/v1/posts", app.sandbox.base_url()))
        .bearer_auth(SandboxConfig::default().outstand_api_key)
        .send()
        .await
        .expect("sandbox")
        .json()
        .await
        .expect("json");
    list["posts"][0]["socialAccounts"][0]["id"]
        .as_str()
        .expect("account")
        .to_owned()
}
