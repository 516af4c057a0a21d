//! Media uploads: raw and multipart, read back, signed public URLs, delete, and the size and
//! type limits (413, 415) leaving nothing behind.

mod common;
mod e2e_support;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{Answer, answer, call, http, png, upload, workspace};
use serde_json::json;

const MAX: usize = 8 * 1024;

async fn app() -> (TestApp, String, String) {
    let app = spawn_app_with(AppOptions {
        max_media_bytes: Some(MAX),
        ..AppOptions::default()
    })
    .await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Media").await;
    (app, key, ws)
}

fn media_dir(app: &TestApp, ws: &str) -> std::path::PathBuf {
    app.state.config.data_dir.join("media").join(ws)
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_upload_read_and_delete_media() {
    let (app, key, ws) = app().await;
    let bytes = png(3000);
    let meta = upload(&app, &key, &ws, "image/png", bytes.clone())
        .await
        .expect(201);
    let id = meta["id"].as_str().expect("id").to_owned();
    assert_eq!(meta["content_type"], "image/png");
    assert_eq!(meta["size"], 3000);
    assert_eq!(
        meta["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    assert_eq!(
        files_in(&media_dir(&app, &ws)),
        vec![id.clone()],
        "one final file, no temporary left"
    );

    let path = format!("/v1/workspaces/{ws}/media/{id}");
    assert_eq!(call(&app, "GET", &path, &key, None).await.expect(200), meta);
    let content = call(&app, "GET", &format!("{path}/content"), &key, None).await;
    assert_eq!(content.status, 200);
    assert_eq!(content.content_type.as_deref(), Some("image/png"));
    assert_eq!(content.body, bytes);
    let listed = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/media"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed["items"], json!([meta]));

    call(&app, "DELETE", &path, &key, None).await.expect(204);
    call(&app, "GET", &path, &key, None).await.problem(404);
    call(&app, "GET", &format!("{path}/content"), &key, None)
        .await
        .problem(404);
    assert!(
        files_in(&media_dir(&app, &ws)).is_empty(),
        "the file is gone too"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_multipart_upload_keeps_the_file_name() {
    let (app, key, ws) = app().await;
    let boundary = "socialcrm-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/party.gif\"\r\nContent-Type: image/gif\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(b"GIF89a-animated");
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = http()
        .post(format!("{}/v1/workspaces/{ws}/media", app.base_url))
        .bearer_auth(&key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    let meta = answer(request).await.expect(201);
    assert_eq!(meta["content_type"], "image/gif");
    assert_eq!(meta["filename"], "party.gif", "no path survives");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_limits_are_413_and_415_and_leave_nothing() {
    let (app, key, ws) = app().await;
    let too_big: Answer = upload(&app, &key, &ws, "image/png", png(MAX + 1)).await;
    assert_eq!(
        too_big.problem(413)["type"],
        "urn:socialcrm:problem:payload_too_large"
    );
    let pdf = upload(&app, &key, &ws, "application/pdf", b"%PDF-1.7".to_vec()).await;
    let problem = pdf.problem(415);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("image/png"),
        "{problem}"
    );
    let disguised = upload(
        &app,
        &key,
        &ws,
        "image/png",
        b"MZ\x90\x00 an executable".to_vec(),
    )
    .await;
    disguised.problem(415);
    let empty = upload(&app, &key, &ws, "image/png", Vec::new()).await;
    empty.problem(422);
    let listed = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/media"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed["items"], json!([]));
    assert!(
        files_in(&media_dir(&app, &ws)).is_empty(),
        "no partial files remain"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_posts_carry_media_as_signed_public_urls() {
    let (app, key, ws) = app().await;
    let bytes = png(100);
    let meta = upload(&app, &key, &ws, "image/png", bytes.clone())
        .await
        .expect(201);
    let id = meta["id"].as_str().expect("id");
    let ws_id = ws.parse().expect("ws id");
    let url = gateway::routes::media_files::public_url(
        &app.state.config,
        ws_id,
        id.parse().expect("media id"),
        "image/png",
    );
    let fetched = answer(http().get(&url)).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, bytes);
    let forged = url.replace("sig=", "sig=00");
    answer(http().get(forged)).await.problem(404);
    let unsigned = url.split('?').next().expect("path").to_owned();
    answer(http().get(unsigned)).await.problem(404);
    app.shutdown().await;
}
