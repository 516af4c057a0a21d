//! End to end over real HTTP: a workspace connects Instagram and LinkedIn through the sandbox's
//! consent page, schedules one post to both a minute ahead, and the clock moves on: each
//! account gets the post exactly once.

mod common;
mod e2e_support;

use std::time::Duration;

use common::{AppOptions, spawn_app_with};
use e2e_support::{call, connect, png, upload, workspace};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tenants::{Clock, ManualClock};

fn all_published(post: &Value) -> bool {
    let deliveries = post["deliveries"].as_array().cloned().unwrap_or_default();
    !deliveries.is_empty()
        && deliveries.iter().all(|d| {
            d["status"] == "published"
                && d["platform_post_id"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_scheduled_post_publishes_once_to_each_connected_account() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Agency").await;

    let instagram = connect(&app, &key, &ws, "instagram").await;
    let linkedin = connect(&app, &key, &ws, "linkedin").await;
    for account in [&instagram, &linkedin] {
        assert_eq!(account["status"], "active", "{account}");
        let hint = account["token_hint"].as_str().unwrap_or_default();
        assert!(
            hint.chars().count() <= 4,
            "token_hint shows at most 4 characters: {hint}"
        );
    }
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
        Some(2),
        "{listed}"
    );
    assert!(!listed.to_string().contains("access_token"));

    let media = upload(&app, &key, &ws, "image/png", png(2048))
        .await
        .expect(201);
    let due = clock.now() + SignedDuration::from_mins(1);
    let body = json!({
        "caption": "Launch day",
        "account_ids": [instagram["id"], linkedin["id"]],
        "scheduled_at": due.to_string(),
        "media_ids": [media["id"]],
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
    assert_eq!(post["status"], "scheduled", "{post}");
    assert_eq!(post["scheduled_at"], due.to_string());
    assert_eq!(post["timezone"], "Europe/Paris");
    let deliveries = post["deliveries"].as_array().cloned().unwrap_or_default();
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries.iter().all(|d| d["status"] == "scheduled"));
    assert!(
        app.sandbox.ledger().is_empty(),
        "nothing is published before its time"
    );

    clock.advance(SignedDuration::from_mins(2));
    let path = format!(
        "/v1/workspaces/{ws}/posts/{}",
        post["id"].as_str().expect("post id")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let published = loop {
        app.engine.handle().tick().await.expect("tick");
        let current = call(&app, "GET", &path, &key, None).await.expect(200);
        // The post's own status follows its deliveries a moment later (the workspace batches
        // those writes), so wait for both.
        if all_published(&current) && current["status"] == "published" {
            break current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not published in time: {current}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(published["status"], "published", "{published}");
    for d in published["deliveries"].as_array().into_iter().flatten() {
        assert!(d["published_at"].is_string(), "{d}");
        assert!(d["error"].is_null(), "{d}");
    }
    let ledger = app.sandbox.ledger();
    assert_eq!(
        ledger.len(),
        2,
        "exactly one publish per account: {ledger:?}"
    );
    assert_eq!(app.sandbox.duplicates(), 0);
    app.shutdown().await;
}
