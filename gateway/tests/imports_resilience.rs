//! Imports under concurrency and restarts: two simultaneous uploads of one file create each
//! post once, and a job interrupted by a restart is resumed from its kept upload (or failed
//! with a message to upload again when the upload is gone).

mod common;
mod e2e_support;
mod imports_support;

use gateway::csv_import::{ImportReport, ImportStatus};
use gateway::import_jobs::{ImportDoc, save};
use gateway::import_resume::UPLOAD_LOST;
use gateway::import_spool::{JobSpec, spool_path};
use imports_support::{HEADER, Tuned, World, world};
use schema::{PageRequest, PostFilter, WorkspaceScope};
use serde_json::Value;
use tenants::{ImportId, Post, WorkspaceId};

fn scope(w: &World) -> WorkspaceScope {
    WorkspaceScope::authorized(w.ws.parse::<WorkspaceId>().expect("workspace id"))
}

/// Every post of the workspace, from the store.
async fn all_posts(w: &World) -> Vec<Post> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = w
            .app
            .state
            .store
            .list_posts(
                scope(w),
                &PostFilter::default(),
                PageRequest { cursor, limit: 200 },
            )
            .await
            .expect("posts");
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn file(w: &World, rows: std::ops::Range<usize>) -> String {
    let mut csv = format!("{HEADER}\n");
    for i in rows {
        csv.push_str(&w.row(2 + (i % 30) as i64, &format!("Post {i}"), &format!("r-{i}")));
        csv.push('\n');
    }
    csv
}

async fn finished(w: &World, base: &str, answer: Value) -> Value {
    let id = answer["id"].as_str().expect("id").to_owned();
    let seen = w
        .poll(base, &id, |d| {
            d["status"] == "completed" || d["status"] == "failed"
        })
        .await;
    seen.last().expect("final").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_simultaneous_uploads_of_one_file_create_each_post_once() {
    let w = world().await;
    // Both run as jobs, side by side (two import slots by default).
    let tuned = Tuned::start(&w.app, |l| l.sync_max_bytes = 1_024).await;
    let csv = file(&w, 0..600);
    let (a, b) = tokio::join!(
        imports_support::upload_to(&tuned.base_url, &w.key, &w.ws, "", csv.clone()),
        imports_support::upload_to(&tuned.base_url, &w.key, &w.ws, "", csv),
    );
    let a = finished(&w, &tuned.base_url, a.expect(202)).await;
    let b = finished(&w, &tuned.base_url, b.expect(202)).await;
    for doc in [&a, &b] {
        assert_eq!(doc["status"], "completed", "{doc}");
        let created = doc["posts_created"].as_u64().expect("created");
        let skipped = doc["already_imported"].as_array().expect("list").len() as u64;
        assert_eq!(
            created + skipped,
            600,
            "every row created or reported: {doc}"
        );
    }
    assert_eq!(
        a["posts_created"].as_u64().unwrap() + b["posts_created"].as_u64().unwrap(),
        600,
        "together they created each post once"
    );
    let posts = all_posts(&w).await;
    assert_eq!(posts.len(), 600);
    let mut keys: Vec<_> = posts.iter().filter_map(|p| p.external_id.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 600, "no external id twice");
    tuned.shutdown().await;
    w.app.shutdown().await;
}

/// Leaves an import as a killed process would: `running` in the store, with (or without) its
/// upload and spec in the spool.
async fn interrupted(w: &World, csv: Option<&str>) -> ImportId {
    let id = ImportId::new();
    let state = &w.app.state;
    let now = state.clock.now();
    let mut report = ImportReport::new(id, false);
    report.status = ImportStatus::Running;
    let doc = ImportDoc {
        report,
        rows_processed: 500,
        created_at: now,
        updated_at: now,
    };
    save(state, scope(w), &doc).await.expect("save");
    if let Some(csv) = csv {
        let path = spool_path(&state.config.data_dir, scope(w).workspace_id(), id);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, csv).expect("upload");
        let mut opts = gateway::csv_import::ImportOptions::new("Europe/Paris", now);
        opts.mode = gateway::csv_import::ImportMode::AllOrNothing;
        JobSpec::new(scope(w).workspace_id(), None, &opts)
            .write(&path)
            .await
            .expect("spec");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_interrupted_import_is_resumed_after_restart_and_skips_imported_rows() {
    let w = world().await;
    // Rows 0..40 were imported before the process stopped.
    let first = w.upload("", file(&w, 0..40)).await.expect(201);
    assert_eq!(first["posts_created"], 40);
    let resumed = interrupted(&w, Some(&file(&w, 0..100))).await;
    let lost = interrupted(&w, None).await;

    // A gateway starting on the same store and data dir handles both.
    let restarted = Tuned::start(&w.app, |_| {}).await;
    let done = w
        .poll(&restarted.base_url, &resumed.to_string(), |d| {
            d["status"] == "completed" || d["status"] == "failed"
        })
        .await;
    let done = done.last().expect("final");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["rows_total"], 100);
    assert_eq!(done["posts_created"], 60);
    assert_eq!(done["already_imported"].as_array().expect("list").len(), 40);
    assert_eq!(all_posts(&w).await.len(), 100);
    let spool = spool_path(
        &w.app.state.config.data_dir,
        scope(&w).workspace_id(),
        resumed,
    );
    // The upload goes right after the final report is saved (it is what a restart would resume
    // from until then).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while spool.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !spool.exists(),
        "the upload is removed once the job is done"
    );

    let failed = w
        .poll(&restarted.base_url, &lost.to_string(), |d| {
            d["status"] == "failed"
        })
        .await;
    let failed = failed.last().expect("final");
    assert_eq!(failed["errors"][0]["row"], 0);
    assert_eq!(failed["errors"][0]["message"], UPLOAD_LOST, "{failed}");
    assert!(
        UPLOAD_LOST.contains("upload the file again"),
        "the message tells the user what to do"
    );
    restarted.shutdown().await;
    w.app.shutdown().await;
}
