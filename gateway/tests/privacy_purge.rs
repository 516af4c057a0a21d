//! The purge after erasure reaches the gateway's own data: an erased workspace's audit entries,
//! export jobs and archive files are gone after the next purge pass (days before the 30-day
//! deadline, not after their 90- and 7-day TTLs), an erased person's own entries and exports go
//! with them, and other workspaces and people keep theirs.

mod common;
mod e2e_support;
mod privacy_support;

use std::path::PathBuf;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{call, workspace};
use jiff::{SignedDuration, Timestamp};
use privacy_support::{person_key, wait_for_export};
use schema::{AuditEntry, AuditQuery, ExportJob, ExportOwner, PageRequest, WorkspaceScope};
use serde_json::json;
use tenants::{Clock, ManualClock, UserId, WorkspaceId};

fn everything(now: Timestamp) -> AuditQuery {
    AuditQuery {
        from: now - SignedDuration::from_hours(60 * 24),
        to: now + SignedDuration::from_hours(24),
        actor: None,
        action: None,
        now,
    }
}

async fn audit_of(app: &TestApp, ws: &str, now: Timestamp) -> Vec<AuditEntry> {
    let scope = WorkspaceScope::authorized(ws.parse().expect("workspace id"));
    app.state
        .store
        .list_audit(scope, &everything(now), PageRequest::first(1000))
        .await
        .expect("list audit")
        .items
}

async fn audit_of_actor(app: &TestApp, actor: &str, now: Timestamp) -> Vec<AuditEntry> {
    app.state
        .store
        .list_audit_of_actor(actor, &everything(now), PageRequest::first(1000))
        .await
        .expect("list audit of actor")
        .items
}

async fn exports_of(app: &TestApp, owner: &ExportOwner) -> Vec<ExportJob> {
    app.state
        .store
        .list_exports(owner, PageRequest::first(1000))
        .await
        .expect("list exports")
        .items
}

fn archive(app: &TestApp, id: &str) -> PathBuf {
    app.state
        .config
        .data_dir
        .join("exports")
        .join(format!("{id}.zip"))
}

/// Asks for an export at `post` and waits until its archive is ready; returns the job id.
async fn ready_export(app: &TestApp, key: &str, post: &str, jobs: &str) -> String {
    let id = call(app, "POST", post, key, None).await.expect(202)["id"]
        .as_str()
        .expect("job id")
        .to_owned();
    let job = wait_for_export(app, &format!("{jobs}/{id}"), key).await;
    assert_eq!(job["status"], "ready", "{job}");
    assert!(archive(app, &id).is_file(), "the archive is on disk");
    id
}

fn owner_of(ws: &str) -> ExportOwner {
    let id: WorkspaceId = ws.parse().expect("workspace id");
    ExportOwner::workspace(WorkspaceScope::authorized(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_erased_workspace_audit_exports_and_archives_are_purged_and_others_kept() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    let (_, key) = person_key(&app, None).await;
    let (doomed, kept) = (
        workspace(&app, &key, "Doomed").await,
        workspace(&app, &key, "Kept").await,
    );
    let mut ids = Vec::new();
    for ws in [&doomed, &kept] {
        call(
            &app,
            "PATCH",
            &format!("/v1/workspaces/{ws}"),
            &key,
            Some(json!({"name": "Renamed"})),
        )
        .await
        .expect(200);
        let base = format!("/v1/workspaces/{ws}");
        ids.push(
            ready_export(
                &app,
                &key,
                &format!("{base}/export"),
                &format!("{base}/exports"),
            )
            .await,
        );
    }
    let (doomed_export, kept_export) = (ids[0].clone(), ids[1].clone());
    assert!(!audit_of(&app, &doomed, clock.now()).await.is_empty());
    assert_eq!(exports_of(&app, &owner_of(&doomed)).await.len(), 1);

    call(
        &app,
        "DELETE",
        &format!("/v1/workspaces/{doomed}"),
        &key,
        None,
    )
    .await
    .expect(202);
    // The erasure itself is recorded in the workspace's log, until the purge.
    let logged = audit_of(&app, &doomed, clock.now()).await;
    assert!(
        logged
            .iter()
            .any(|e| e.action == "DELETE /v1/workspaces/{ws}"),
        "{logged:#?}"
    );

    clock.advance(SignedDuration::from_hours(1));
    let report = app
        .engine
        .handle()
        .run_purge_pass()
        .await
        .expect("purge pass");
    assert_eq!(report.num_workspaces, 1, "{report:?}");

    let now = clock.now();
    assert_eq!(
        audit_of(&app, &doomed, now).await,
        Vec::new(),
        "no audit entry left"
    );
    assert_eq!(
        exports_of(&app, &owner_of(&doomed)).await,
        Vec::new(),
        "no export job left"
    );
    assert!(
        !archive(&app, &doomed_export).exists(),
        "the archive file is deleted"
    );
    let ledger = app
        .engine
        .handle()
        .erasure(doomed.parse::<WorkspaceId>().expect("id").as_uuid())
        .await
        .expect("ledger")
        .expect("erasure recorded");
    let completed = ledger.completed_at.expect("purge completed");
    assert!(completed <= ledger.purge_deadline, "{ledger:?}");
    assert!(
        completed < ledger.requested_at + SignedDuration::from_hours(24 * 7),
        "long before the 7-day export TTL: {ledger:?}"
    );

    // The other workspace keeps its log, its job and its archive, still downloadable.
    let kept_log = audit_of(&app, &kept, now).await;
    assert!(
        kept_log
            .iter()
            .any(|e| e.action == "PATCH /v1/workspaces/{ws}"),
        "{kept_log:#?}"
    );
    assert_eq!(exports_of(&app, &owner_of(&kept)).await.len(), 1);
    assert!(archive(&app, &kept_export).is_file());
    let download = format!("/v1/workspaces/{kept}/exports/{kept_export}/download");
    assert_eq!(call(&app, "GET", &download, &key, None).await.status, 200);

    // A second pass finds nothing left to do.
    let again = app
        .engine
        .handle()
        .run_purge_pass()
        .await
        .expect("purge pass");
    assert_eq!(again.num_workspaces, 0, "{again:?}");
    app.shutdown().await;
}

/// The id of the only API key of `user`.
async fn key_id(app: &TestApp, user: UserId) -> String {
    let keys = app
        .state
        .store
        .list_api_keys(Some(user))
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1);
    keys[0].id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_erased_person_loses_own_audit_entries_and_exports_and_others_keep_theirs() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    let (gone, gone_key) = person_key(&app, None).await;
    let (stays, stays_key) = person_key(&app, None).await;
    let gone_actor = format!("key:{}", key_id(&app, gone).await);
    let stays_actor = format!("key:{}", key_id(&app, stays).await);
    let solo = workspace(&app, &gone_key, "Solo").await;
    let mut exports = Vec::new();
    for (key, name) in [(&gone_key, "Gone"), (&stays_key, "Stays")] {
        call(&app, "PATCH", "/v1/me", key, Some(json!({"name": name})))
            .await
            .expect(200);
        exports.push(ready_export(&app, key, "/v1/me/export", "/v1/me/exports").await);
    }
    assert!(
        !audit_of_actor(&app, &gone_actor, clock.now())
            .await
            .is_empty()
    );

    call(&app, "DELETE", "/v1/me", &gone_key, None)
        .await
        .expect(202);

    let now = clock.now();
    assert_eq!(
        audit_of_actor(&app, &gone_actor, now).await,
        Vec::new(),
        "no entry of the erased person, their erasure request included"
    );
    assert_eq!(
        audit_of_actor(&app, &format!("user:{gone}"), now).await,
        Vec::new()
    );
    assert_eq!(exports_of(&app, &ExportOwner::user(gone)).await, Vec::new());
    assert!(
        !archive(&app, &exports[0]).exists(),
        "the personal archive is deleted"
    );

    // The workspace erased with them is purged on the next pass, its log included.
    clock.advance(SignedDuration::from_hours(1));
    app.engine
        .handle()
        .run_purge_pass()
        .await
        .expect("purge pass");
    assert_eq!(audit_of(&app, &solo, clock.now()).await, Vec::new());

    let theirs = audit_of_actor(&app, &stays_actor, clock.now()).await;
    assert!(
        theirs.iter().any(|e| e.action == "PATCH /v1/me"),
        "{theirs:#?}"
    );
    assert_eq!(exports_of(&app, &ExportOwner::user(stays)).await.len(), 1);
    assert!(archive(&app, &exports[1]).is_file());
    app.shutdown().await;
}
