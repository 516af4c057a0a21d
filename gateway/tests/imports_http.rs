//! `POST /v1/workspaces/{ws}/imports` answered at once: posts created through the engine, dry
//! runs, both modes, exact row/column errors, and idempotent re-uploads.

mod common;
mod e2e_support;
mod imports_support;

use imports_support::{HEADER, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_small_import_creates_scheduled_posts_with_deliveries() {
    let w = world().await;
    let csv = format!(
        "{HEADER}\n{}\n{}\n{},Asia/Tokyo,linkedin:@{},Hello Tokyo,,,,scheduled,\n",
        w.row(2, "First", "a-1"),
        w.row(3, "Second", "a-2"),
        imports_support::in_days(4),
        w.linkedin
    );
    let answer = w.upload("", csv).await;
    let doc = answer.expect(201);
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["dry_run"], false);
    assert_eq!(
        (doc["rows_total"].as_u64(), doc["rows_valid"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(doc["posts_created"], 3);
    assert_eq!(doc["rows_processed"], 3);
    assert_eq!(doc["errors"], serde_json::json!([]));

    let posts = w.posts().await;
    assert_eq!(posts.len(), 3);
    let tokyo = posts
        .iter()
        .find(|p| p["caption"] == "Hello Tokyo")
        .expect("tokyo post");
    assert_eq!(tokyo["timezone"], "Asia/Tokyo");
    assert_eq!(tokyo["status"], "scheduled");
    assert_eq!(tokyo["deliveries"].as_array().map(Vec::len), Some(1));

    let id = doc["id"].as_str().expect("id");
    let path = format!("{}/{id}", w.imports());
    let stored = e2e_support::call(&w.app, "GET", &path, &w.key, None)
        .await
        .expect(200);
    assert_eq!(stored["posts_created"], 3);
    let list = e2e_support::call(&w.app, "GET", &w.imports(), &w.key, None)
        .await
        .expect(200);
    assert_eq!(list["items"][0]["id"], doc["id"]);
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_dry_run_validates_and_creates_nothing() {
    let w = world().await;
    let csv = format!(
        "{HEADER}\n{}\n{}\n",
        w.row(2, "One", "d-1"),
        w.row(2, "Two", "d-2")
    );
    let doc = w.upload("?dry_run=true", csv).await.expect(201);
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["rows_valid"], 2);
    assert_eq!(doc["posts_created"], 0);
    assert!(w.posts().await.is_empty());
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_all_or_nothing_with_one_bad_row_creates_nothing_and_locates_it() {
    let w = world().await;
    let csv = format!(
        "{HEADER}\n{}\n{},UTC,@nobody,Bad account,,,,scheduled,b-2\n{}\n",
        w.row(2, "Good", "b-1"),
        imports_support::in_days(2),
        w.row(2, "Good too", "b-3"),
    );
    let doc = w.upload("?mode=all_or_nothing", csv).await.expect(201);
    assert_eq!(doc["status"], "failed");
    assert_eq!(
        (doc["rows_valid"].as_u64(), doc["rows_invalid"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(doc["posts_created"], 0);
    assert_eq!(
        doc["errors"],
        serde_json::json!([{
            "row": 3,
            "column": "accounts",
            "value": "@nobody",
            "message": "unknown account `@nobody`: no account with that username is connected \
                        to this workspace"
        }])
    );
    assert!(w.posts().await.is_empty());
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_valid_rows_mode_creates_the_good_rows() {
    let w = world().await;
    let csv = format!(
        "{HEADER}\n{}\nnot a date,UTC,x:@{},Bad time,,,,scheduled,v-2\n{}\n",
        w.row(2, "Good", "v-1"),
        w.x,
        w.row(3, "Also good", "v-3"),
    );
    let doc = w.upload("?mode=valid_rows", csv).await.expect(201);
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["posts_created"], 2);
    assert_eq!(doc["rows_invalid"], 1);
    assert_eq!(doc["errors"][0]["row"], 3);
    assert_eq!(doc["errors"][0]["column"], "scheduled_at");
    let mut captions: Vec<String> = w
        .posts()
        .await
        .iter()
        .map(|p| p["caption"].as_str().unwrap_or_default().to_owned())
        .collect();
    captions.sort();
    assert_eq!(captions, ["Also good", "Good"]);
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_reupload_creates_no_duplicates_and_reports_already_imported() {
    let w = world().await;
    let with_id = w.row(2, "Keyed", "r-1");
    let without_id = w.row(3, "Fingerprinted", "");
    let csv = format!("{HEADER}\n{with_id}\n{without_id}\n");
    let first = w.upload("", csv.clone()).await.expect(201);
    assert_eq!(first["posts_created"], 2);

    let again = w.upload("", csv).await.expect(201);
    assert_eq!(again["status"], "completed");
    assert_eq!(again["posts_created"], 0);
    let rows: Vec<u64> = again["already_imported"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["row"].as_u64())
        .collect();
    assert_eq!(rows, [2, 3]);
    assert_eq!(again["already_imported"][0]["key"], "r-1");

    // Same external_id in a new file with other content: still the one post.
    let changed = format!("{HEADER}\n{}\n", w.row(5, "Keyed and edited", "r-1"));
    let third = w.upload("", changed).await.expect(201);
    assert_eq!(third["posts_created"], 0);
    assert_eq!(third["already_imported"][0]["key"], "r-1");
    assert_eq!(w.posts().await.len(), 2);
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_unknown_option_is_a_bad_request() {
    let w = world().await;
    let csv = format!("{HEADER}\n{}\n", w.row(2, "x", "u-1"));
    let problem = w.upload("?mode=sometimes", csv).await.problem(400);
    assert_eq!(problem["errors"][0]["field"], "mode");
    assert!(w.posts().await.is_empty());
    w.app.shutdown().await;
}
