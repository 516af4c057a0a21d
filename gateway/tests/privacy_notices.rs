//! Policy notices: a material change is announced at least 14 days ahead (by the injected
//! clock), shown in-app to everyone, and only instance administrators publish.

mod common;
mod e2e_support;
mod privacy_support;

use common::{AppOptions, spawn_app_with};
use e2e_support::call;
use jiff::{SignedDuration, Timestamp};
use privacy_support::person_key;
use serde_json::json;
use tenants::{Clock, ManualClock};

fn notice(effective_at: Timestamp, material: Option<bool>) -> serde_json::Value {
    let mut body = json!({
        "title": "Privacy policy update",
        "body": "Section 5 now says 30 days.",
        "effective_at": effective_at.to_string(),
    });
    if let Some(material) = material {
        body["material"] = json!(material);
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_material_notice_needs_fourteen_days_and_shows_in_app() {
    let clock = ManualClock::new(Timestamp::from_second(1_900_000_000).expect("instant"));
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    let admin = app.bootstrap_key.clone();
    let day = SignedDuration::from_hours(24);

    let too_soon = call(
        &app,
        "POST",
        "/v1/admin/notices",
        &admin,
        Some(notice(clock.now() + day * 13, None)),
    )
    .await
    .problem(422);
    assert_eq!(too_soon["errors"][0]["field"], "effective_at", "{too_soon}");
    let accepted = call(
        &app,
        "POST",
        "/v1/admin/notices",
        &admin,
        Some(notice(clock.now() + day * 15, None)),
    )
    .await
    .expect(201);
    assert_eq!(accepted["material"], true);
    // A non-material change may take effect sooner.
    call(
        &app,
        "POST",
        "/v1/admin/notices",
        &admin,
        Some(notice(clock.now() + day, Some(false))),
    )
    .await
    .expect(201);

    let (_, person) = person_key(&app, None).await;
    call(
        &app,
        "POST",
        "/v1/admin/notices",
        &person,
        Some(notice(clock.now() + day * 20, None)),
    )
    .await
    .problem(403);
    let shown = call(&app, "GET", "/v1/notices", &person, None)
        .await
        .expect(200);
    let items = shown["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{shown}");
    assert_eq!(
        items[1]["id"], accepted["id"],
        "ordered by effective date: {shown}"
    );
    assert_eq!(items[1]["title"], "Privacy policy update");

    // Long after it took effect, the notice is no longer current.
    clock.advance(day * 60);
    let later = call(&app, "GET", "/v1/notices", &person, None)
        .await
        .expect(200);
    assert!(
        later["items"].as_array().expect("items").is_empty(),
        "{later}"
    );
    app.shutdown().await;
}
