//! Analytics end to end: the worker pulls account metrics when an account connects (then
//! daily) and post analytics 1 h, 24 h and 7 d after publishing, from the sandbox's
//! deterministic metrics; the three endpoints read the stored series, with nulls kept.

mod common;
mod e2e_support;

use std::time::Duration;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{call, connect, workspace};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tenants::{Clock, ManualClock};

async fn analytics_tick(app: &TestApp) {
    app.engine
        .handle()
        .analytics()
        .expect("analytics")
        .tick()
        .await
        .expect("tick");
}

async fn publish(
    app: &TestApp,
    clock: &ManualClock,
    key: &str,
    ws: &str,
    account: &Value,
) -> String {
    let body = json!({"caption": "Numbers", "account_ids": [account["id"]],
        "scheduled_at": (clock.now() + SignedDuration::from_mins(1)).to_string()});
    let post = call(
        app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        key,
        Some(body),
    )
    .await
    .expect(201);
    let id = post["id"].as_str().unwrap().to_owned();
    clock.advance(SignedDuration::from_mins(2));
    let path = format!("/v1/workspaces/{ws}/posts/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        app.engine.handle().tick().await.expect("tick");
        let p = call(app, "GET", &path, key, None).await.expect(200);
        if p["status"] == "published" {
            return id;
        }
        assert!(tokio::time::Instant::now() < deadline, "not published: {p}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_pull_schedule_storage_endpoints_and_nulls() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Numbers").await;
    let account = connect(&app, &key, &ws, "linkedin").await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let post_id = publish(&app, &clock, &key, &ws, &account).await;
    let post_path = format!("/v1/workspaces/{ws}/posts/{post_id}/analytics");

    // The account pull runs at once; the first post pull waits for +1 h.
    analytics_tick(&app).await;
    let early = call(&app, "GET", &post_path, &key, None).await.expect(200);
    assert_eq!(early["samples"].as_array().unwrap().len(), 0, "{early}");
    let acct_path = format!("/v1/workspaces/{ws}/accounts/{account_id}/analytics?granularity=day");
    let days = call(&app, "GET", &acct_path, &key, None).await.expect(200);
    let items = days["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{days}");
    let m = &items[0]["metrics"];
    assert!(m["followers"].is_u64(), "{m}");
    assert!(
        m["saves"].is_null() && m["clicks"].is_null(),
        "not reported => null, not 0: {m}"
    );

    clock.advance(SignedDuration::from_mins(61));
    analytics_tick(&app).await;
    analytics_tick(&app).await;
    let one = call(&app, "GET", &post_path, &key, None).await.expect(200);
    assert_eq!(one["samples"].as_array().unwrap().len(), 1, "{one}");
    let first = one["samples"][0].clone();
    assert_eq!(first["raw"]["offset"], "1h");
    assert!(first["metrics"]["saves"].is_null());

    clock.advance(SignedDuration::from_hours(24));
    analytics_tick(&app).await;
    let two = call(&app, "GET", &post_path, &key, None).await.expect(200);
    let samples = two["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2, "{two}");
    assert_eq!(samples[1]["raw"]["offset"], "24h");
    let days = call(&app, "GET", &acct_path, &key, None).await.expect(200);
    assert_eq!(
        days["items"].as_array().unwrap().len(),
        2,
        "a daily account pull: {days}"
    );
    let months = format!("/v1/workspaces/{ws}/accounts/{account_id}/analytics?granularity=month");
    let months = call(&app, "GET", &months, &key, None).await.expect(200);
    assert!(!months["items"].as_array().unwrap().is_empty());
    let bad = format!("/v1/workspaces/{ws}/accounts/{account_id}/analytics?granularity=hour");
    call(&app, "GET", &bad, &key, None).await.expect(422);

    let summary = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/analytics/summary"),
        &key,
        None,
    )
    .await
    .expect(200);
    let linkedin = &summary["platforms"]["linkedin"];
    assert_eq!(
        linkedin["top_posts"][0]["post_id"],
        post_id.as_str(),
        "{summary}"
    );
    assert!(linkedin["totals"]["followers"].is_u64(), "{summary}");
    app.shutdown().await;
}
