//! `GET /v1/workspaces/{ws}/posts/export.csv`: formula cells neutralised, filters, and a file
//! exported from one workspace and imported into another scheduling the same posts.

mod common;
mod e2e_support;
mod imports_support;

use e2e_support::{answer, call, http, workspace};
use imports_support::{HEADER, connect_as, in_days, upload_to, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_export_neutralises_formulas_and_round_trips_into_another_workspace() {
    let w = world().await;
    let csv = format!(
        "{HEADER}\n{}\n{},America/New_York,linkedin:@{},\"Two lines,\nwith a comma\",https://cdn.example.com/a.jpg,First!,,scheduled,e-2\n",
        w.row(2, "=cmd|' /C calc'!A0", "e-1"),
        in_days(3),
        w.linkedin,
    );
    let imported = w.upload("", csv).await.expect(201);
    assert_eq!(imported["posts_created"], 2, "{imported}");

    let url = format!("{}/v1/workspaces/{}/posts/export.csv", w.app.base_url, w.ws);
    let export = answer(http().get(&url).bearer_auth(&w.key)).await;
    assert_eq!(export.status, 200);
    assert_eq!(
        export.content_type.as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let text = String::from_utf8(export.body.clone()).expect("utf-8");
    assert!(text.starts_with('\u{feff}'), "BOM first");
    assert!(text.contains("'=cmd|' /C calc'!A0"), "{text}");
    assert!(!text.contains(",=cmd"), "{text}");

    let filtered = answer(
        http()
            .get(format!("{url}?account_id={}", linkedin_id(&w).await))
            .bearer_auth(&w.key),
    )
    .await;
    let filtered = String::from_utf8(filtered.body).expect("utf-8");
    assert_eq!(
        filtered.matches("\r\n").count(),
        2,
        "the header and the one linkedin post (its caption's line break is kept as is): {filtered}"
    );

    let other = workspace(&w.app, &w.key, "Other agency").await;
    let x = connect_as(&w.app, &w.key, &other, "x", "acct_x_1").await;
    let li = connect_as(&w.app, &w.key, &other, "linkedin", "acct_linkedin_1").await;
    assert_eq!(
        (x["username"].as_str(), li["username"].as_str()),
        (Some(w.x.as_str()), Some(w.linkedin.as_str()))
    );
    let text = text.trim_start_matches('\u{feff}').to_owned();
    let again = upload_to(&w.app.base_url, &w.key, &other, "", text)
        .await
        .expect(201);
    assert_eq!(again["posts_created"], 2, "{again}");

    let key = |p: &serde_json::Value| {
        (
            p["caption"].as_str().unwrap_or_default().to_owned(),
            p["scheduled_at"].as_str().unwrap_or_default().to_owned(),
            p["timezone"].as_str().unwrap_or_default().to_owned(),
            p["media_urls"].to_string(),
            p["first_comment"].to_string(),
            p["deliveries"].as_array().map(Vec::len),
        )
    };
    let mut source: Vec<_> = w.posts().await.iter().map(key).collect();
    let listed = call(
        &w.app,
        "GET",
        &format!("/v1/workspaces/{other}/posts"),
        &w.key,
        None,
    )
    .await
    .expect(200);
    let mut copied: Vec<_> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(key)
        .collect();
    source.sort();
    copied.sort();
    assert_eq!(source, copied);
    assert!(copied.iter().any(|p| p.0 == "=cmd|' /C calc'!A0"));
    assert!(copied.iter().any(|p| p.2 == "America/New_York"));
    w.app.shutdown().await;
}

async fn linkedin_id(w: &imports_support::World) -> String {
    let path = format!("/v1/workspaces/{}/accounts", w.ws);
    let body = call(&w.app, "GET", &path, &w.key, None).await.expect(200);
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["platform"] == "linkedin")
        .and_then(|a| a["id"].as_str())
        .expect("linkedin account")
        .to_owned()
}
