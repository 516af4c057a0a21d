//! Every kind of bad post input gets a problem+json 4xx naming what was wrong, and creates
//! nothing: the lists stay empty afterwards.

mod common;
mod e2e_support;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{answer, call, connect, http, workspace};
use serde_json::{Value, json};

async fn world() -> (TestApp, String, String, String) {
    let app = spawn_app_with(AppOptions {
        max_body_bytes: Some(16 * 1024),
        ..AppOptions::default()
    })
    .await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Inputs").await;
    let instagram = connect(&app, &key, &ws, "instagram").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (app, key, ws, instagram)
}

fn errors_of(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn raw(app: &TestApp, key: &str, ws: &str, body: &str) -> e2e_support::Answer {
    let request = http()
        .post(format!("{}/v1/workspaces/{ws}/posts", app.base_url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned());
    answer(request).await
}

async fn assert_nothing_created(app: &TestApp, key: &str, ws: &str) {
    let posts = call(app, "GET", &format!("/v1/workspaces/{ws}/posts"), key, None)
        .await
        .expect(200);
    assert_eq!(posts["items"], json!([]), "no post was created");
    let media = call(app, "GET", &format!("/v1/workspaces/{ws}/media"), key, None)
        .await
        .expect(200);
    assert_eq!(media["items"], json!([]), "no media was created");
    assert!(app.sandbox.ledger().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_malformed_unknown_wrong_type_and_oversized_bodies() {
    let (app, key, ws, ig) = world().await;
    raw(&app, &key, &ws, r#"{"caption": "a","#)
        .await
        .problem(400);
    let unknown = raw(
        &app,
        &key,
        &ws,
        &json!({"caption": "a", "account_ids": [ig], "colour": 1}).to_string(),
    )
    .await
    .problem(422);
    assert_eq!(errors_of(&unknown)[0].0, "colour");
    let wrong = raw(&app, &key, &ws, r#"{"caption": 5, "account_ids": []}"#)
        .await
        .problem(422);
    assert_eq!(errors_of(&wrong)[0].0, "caption");
    let status = raw(
        &app,
        &key,
        &ws,
        &json!({"caption": "a", "account_ids": [ig], "status": "published"}).to_string(),
    )
    .await;
    assert_eq!(errors_of(&status.problem(422))[0].0, "status");
    let huge = json!({"caption": "x".repeat(20_000), "account_ids": [ig]}).to_string();
    raw(&app, &key, &ws, &huge).await.problem(413);
    let bad_query = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/posts?status=nope"),
        &key,
        None,
    )
    .await
    .problem(400);
    assert_eq!(errors_of(&bad_query)[0].0, "status");
    let bad_from = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/posts?from=yesterday"),
        &key,
        None,
    )
    .await
    .problem(400);
    assert_eq!(errors_of(&bad_from)[0].0, "from");
    assert_nothing_created(&app, &key, &ws).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_bad_times_are_422_on_scheduled_at() {
    let (app, key, ws, ig) = world().await;
    let post = |scheduled_at: Value| json!({"caption": "a", "account_ids": [ig], "scheduled_at": scheduled_at});
    let gap = post(json!({"local": "2026-03-29T02:30", "timezone": "Europe/Paris"}));
    let problem = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(gap),
    )
    .await
    .problem(422);
    let (_, message) = errors_of(&problem)
        .into_iter()
        .find(|(f, _)| f == "scheduled_at")
        .expect("scheduled_at named");
    assert!(
        message.contains("does not exist")
            && message.contains("02:00")
            && message.contains("03:00"),
        "{message}"
    );
    for bad in [
        json!({"local": "2026-12-01T09:00", "timezone": "Mars/Olympus"}),
        json!({"local": "2026-12-01T09:00", "timezone": "+02:00"}),
    ] {
        let problem = call(
            &app,
            "POST",
            &format!("/v1/workspaces/{ws}/posts"),
            &key,
            Some(post(bad)),
        )
        .await
        .problem(422);
        assert!(
            errors_of(&problem)
                .iter()
                .any(|(f, m)| f == "scheduled_at" && m.contains("time zone")),
            "{problem}"
        );
    }
    let nonsense = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(post(json!("next tuesday"))),
    )
    .await;
    assert_eq!(errors_of(&nonsense.problem(422))[0].0, "scheduled_at");
    assert_nothing_created(&app, &key, &ws).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_too_long_caption_names_the_platform_and_its_limit() {
    let (app, key, ws, ig) = world().await;
    let body = json!({"caption": "x".repeat(2201), "account_ids": [ig]});
    let problem = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(body),
    )
    .await
    .problem(422);
    let caption = errors_of(&problem)
        .into_iter()
        .find(|(f, _)| f == "caption")
        .expect("caption named");
    assert!(
        caption.1.contains("instagram") && caption.1.contains("2200"),
        "{caption:?}"
    );
    assert_nothing_created(&app, &key, &ws).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_unknown_ids_are_named_and_change_nothing() {
    let (app, key, ws, ig) = world().await;
    let random = tenants::AccountId::new().to_string();
    let body = json!({"caption": "a", "account_ids": [ig, random, "not-an-id"], "media_ids": [tenants::MediaId::new().to_string()]});
    let problem = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(body),
    )
    .await
    .problem(422);
    assert!(
        errors_of(&problem)
            .iter()
            .any(|(f, _)| f == "account_ids[2]"),
        "{problem}"
    );
    let body = json!({"caption": "a", "account_ids": [ig, random], "media_ids": [tenants::MediaId::new().to_string()]});
    let problem = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(body),
    )
    .await
    .problem(422);
    assert!(
        errors_of(&problem).iter().any(|(f, _)| f == "media_ids[0]"),
        "{problem}"
    );
    let body = json!({"caption": "a", "account_ids": [ig, random], "status": "draft"});
    let problem = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(body),
    )
    .await
    .problem(422);
    let named: Vec<_> = errors_of(&problem)
        .into_iter()
        .filter(|(f, _)| f.starts_with("account_ids"))
        .collect();
    assert_eq!(
        named,
        vec![(
            "account_ids[1]".to_owned(),
            "no connected account with this id".to_owned()
        )]
    );
    let body = json!({"caption": "a", "account_ids": [ig, "not-an-id"], "status": "draft"});
    let malformed = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(body),
    )
    .await
    .problem(422);
    assert_eq!(
        malformed["errors"][0]["message"], named[0].1,
        "a malformed id reads like an unknown one"
    );
    let missing = format!("/v1/workspaces/{ws}/posts/{}", tenants::PostId::new());
    call(&app, "GET", &missing, &key, None).await.problem(404);
    call(&app, "PATCH", &missing, &key, Some(json!({"caption": "b"})))
        .await
        .problem(404);
    call(&app, "POST", &format!("{missing}/publish"), &key, None)
        .await
        .problem(404);
    call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/posts/garbage"),
        &key,
        None,
    )
    .await
    .problem(404);
    assert_nothing_created(&app, &key, &ws).await;
    app.shutdown().await;
}
