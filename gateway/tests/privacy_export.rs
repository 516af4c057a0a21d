//! Access and portability: a workspace owner and a person export their data as a ZIP of JSON
//! files with a manifest; tokens never appear; only the requester can download.

mod common;
mod e2e_support;
mod privacy_support;

use std::io::{Cursor, Read};

use common::{AppOptions, spawn_app_with};
use e2e_support::{answer, call, connect, http, png, upload, workspace};
use privacy_support::{add_member, person_key, wait_for_export};
use serde_json::{Value, json};
use tenants::Role;

fn open(bytes: &[u8]) -> zip::ZipArchive<Cursor<Vec<u8>>> {
    zip::ZipArchive::new(Cursor::new(bytes.to_vec())).expect("the download is a ZIP archive")
}

fn read_json(archive: &mut zip::ZipArchive<Cursor<Vec<u8>>>, name: &str) -> Value {
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap_or_else(|_| panic!("archive has {name}"))
        .read_to_string(&mut text)
        .expect("utf-8");
    serde_json::from_str(&text).expect("json")
}

async fn download(app: &common::TestApp, url: &str, key: &str) -> e2e_support::Answer {
    answer(
        http()
            .get(format!("{}{url}", app.base_url))
            .bearer_auth(key),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_workspace_export_holds_every_table_without_tokens() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (owner_id, key) = person_key(&app, None).await;
    let ws = workspace(&app, &key, "Exported").await;
    let account = connect(&app, &key, &ws, "linkedin").await;
    let media = upload(&app, &key, &ws, "image/png", png(1024))
        .await
        .expect(201);
    let post = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(json!({"caption": "Export me", "account_ids": [account["id"]], "status": "draft"})),
    )
    .await
    .expect(201);

    let started = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/export"),
        &key,
        None,
    )
    .await
    .expect(202);
    assert_eq!(started["status"], "pending", "{started}");
    let job_path = format!(
        "/v1/workspaces/{ws}/exports/{}",
        started["id"].as_str().expect("id")
    );
    let job = wait_for_export(&app, &job_path, &key).await;
    assert_eq!(job["status"], "ready", "{job}");
    let url = job["download_url"]
        .as_str()
        .expect("download_url")
        .to_owned();

    let reply = download(&app, &url, &key).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type.as_deref(), Some("application/zip"));
    let mut archive = open(&reply.body);
    let manifest = read_json(&mut archive, "manifest.json");
    let tables: Vec<&str> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["table"].as_str())
        .collect();
    for table in [
        "workspaces",
        "memberships_by_workspace",
        "accounts",
        "posts",
        "deliveries",
        "media",
        "audit_log",
    ] {
        assert!(
            tables.contains(&table),
            "manifest lists {table}: {manifest}"
        );
    }
    for file in manifest["files"].as_array().expect("files") {
        let name = file["name"].as_str().expect("name");
        assert!(archive.by_name(name).is_ok(), "{name} is in the archive");
    }
    let excluded = manifest["excluded"].to_string();
    assert!(excluded.contains("account_tokens"), "{manifest}");

    let accounts = read_json(&mut archive, "accounts.json");
    assert_eq!(
        accounts[0]["id"], account["id"],
        "accounts present: {accounts}"
    );
    assert!(accounts[0]["token_hint"].is_null());
    let posts = read_json(&mut archive, "posts.json");
    assert_eq!(posts[0]["id"], post["id"]);
    let members = read_json(&mut archive, "memberships.json");
    assert_eq!(members[0]["user_id"], owner_id.to_string());
    let media_id = media["id"].as_str().expect("media id");
    let mut file = Vec::new();
    archive
        .by_name(&format!("media/{media_id}"))
        .expect("media file exported")
        .read_to_end(&mut file)
        .expect("read");
    assert_eq!(file, png(1024));
    let audit = read_json(&mut archive, "audit.json");
    assert!(
        audit
            .as_array()
            .expect("audit")
            .iter()
            .any(|e| e["action"] == "POST /v1/workspaces/{ws}/posts"),
        "audit entries exported: {audit}"
    );
    // No token material anywhere in the archive.
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        for needle in ["access_token", "refresh_token", "ciphertext", "nonce"] {
            assert!(!text.contains(needle), "{needle} found in {}", entry.name());
        }
    }

    // Another owner of the same workspace sees neither the job nor the archive.
    let (other, other_key) = person_key(&app, None).await;
    add_member(&app, &ws, other, Role::Owner).await;
    call(&app, "GET", &job_path, &other_key, None)
        .await
        .problem(404);
    assert_eq!(download(&app, &url, &other_key).await.status, 404);
    // Editors may not export a workspace.
    let (editor, editor_key) = person_key(&app, None).await;
    add_member(&app, &ws, editor, Role::Editor).await;
    call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/export"),
        &editor_key,
        None,
    )
    .await
    .problem(403);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_person_export_holds_profile_memberships_posts_and_sign_ins() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (user_id, key) = person_key(&app, None).await;
    let ws = workspace(&app, &key, "Mine").await;
    call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(json!({"caption": "Mine", "account_ids": [], "status": "draft"})),
    )
    .await;
    let started = call(&app, "POST", "/v1/me/export", &key, None)
        .await
        .expect(202);
    let job_path = format!("/v1/me/exports/{}", started["id"].as_str().expect("id"));
    let job = wait_for_export(&app, &job_path, &key).await;
    assert_eq!(job["status"], "ready", "{job}");
    let reply = download(&app, job["download_url"].as_str().expect("url"), &key).await;
    assert_eq!(reply.content_type.as_deref(), Some("application/zip"));
    let mut archive = open(&reply.body);
    let profile = read_json(&mut archive, "profile.json");
    assert_eq!(profile[0]["id"], user_id.to_string());
    let memberships = read_json(&mut archive, "memberships.json");
    assert_eq!(memberships[0]["workspace_id"], ws);
    let keys = read_json(&mut archive, "api_keys.json");
    assert!(!keys.to_string().contains("key_hash"), "{keys}");
    let manifest = read_json(&mut archive, "manifest.json");
    assert_eq!(manifest["kind"], "user");
    // The bootstrap key is not this person: it cannot read the job.
    call(&app, "GET", &job_path, &app.bootstrap_key, None)
        .await
        .problem(403);
    app.shutdown().await;
}
