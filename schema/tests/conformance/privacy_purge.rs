//! Cases for the purge of the privacy tables: deleting an erased workspace's (or person's) audit
//! entries and export jobs removes exactly them.

use jiff::{SignedDuration, Timestamp};
use schema::{
    AuditEntry, AuditQuery, ExportJob, ExportOwner, ExportStatus, PageRequest, WorkspaceScope,
};
use tenants::{UserId, WorkspaceId};
use uuid::Uuid;

use super::fixtures::*;
use super::{DynStore, walk};

fn entry(ws: Option<WorkspaceId>, actor: &str, at: Timestamp) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        at,
        workspace_id: ws,
        actor: actor.to_owned(),
        action: "POST /v1/workspaces/{ws}/posts".to_owned(),
        target: Vec::new(),
        ip: Some("192.0.2.7".to_owned()),
        user_agent: Some("conformance".to_owned()),
        status: 201,
        expires_at: at + SignedDuration::from_hours(90 * 24),
    }
}

fn everything(base: Timestamp) -> AuditQuery {
    AuditQuery {
        from: base - SignedDuration::from_hours(30 * 24),
        to: base + SignedDuration::from_hours(30 * 24),
        actor: None,
        action: None,
        now: base,
    }
}

pub async fn test_deleting_audit_removes_the_window_and_spares_others(store: DynStore) {
    let base = now();
    let (ws, other) = (WorkspaceId::new(), WorkspaceId::new());
    let (scope, other_scope) = (
        WorkspaceScope::authorized(ws),
        WorkspaceScope::authorized(other),
    );
    for hours in [-50i64, -1, 0, 30] {
        let e = entry(Some(ws), "user:a", base + SignedDuration::from_hours(hours));
        store.append_audit(Some(scope), &e).await.expect("append");
    }
    // Older than the window: kept by a delete of the window.
    let old = entry(
        Some(ws),
        "user:a",
        base - SignedDuration::from_hours(10 * 24),
    );
    store
        .append_audit(Some(scope), &old)
        .await
        .expect("append old");
    let theirs = entry(Some(other), "user:a", base);
    store
        .append_audit(Some(other_scope), &theirs)
        .await
        .expect("append other");

    let from = base - SignedDuration::from_hours(3 * 24);
    let to = base + SignedDuration::from_hours(2 * 24);
    let num = store.delete_audit(scope, from, to).await.expect("delete");
    assert_eq!(num, 4, "every entry of the window, across day partitions");
    let all = everything(base);
    let left = walk(10, |page| store.list_audit(scope, &all, page)).await;
    assert_eq!(left, vec![old], "only the entry outside the window is left");
    let again = store.delete_audit(scope, from, to).await.expect("again");
    assert_eq!(again, 0, "deleting twice finds nothing");
    let kept = walk(10, |page| store.list_audit(other_scope, &all, page)).await;
    assert_eq!(kept, vec![theirs], "another workspace keeps its log");

    let (erased, kept_actor) = (
        format!("user:{}", UserId::new()),
        format!("user:{}", UserId::new()),
    );
    for actor in [&erased, &kept_actor] {
        for hours in [-26i64, 0] {
            let e = entry(None, actor, base + SignedDuration::from_hours(hours));
            store.append_audit(None, &e).await.expect("append actor");
        }
    }
    let num = store
        .delete_audit_of_actor(&erased, from, to)
        .await
        .expect("delete actor");
    assert_eq!(num, 2);
    let none = store
        .list_audit_of_actor(&erased, &everything(base), PageRequest::first(10))
        .await
        .expect("list erased");
    assert!(none.items.is_empty(), "{none:?}");
    let some = store
        .list_audit_of_actor(&kept_actor, &everything(base), PageRequest::first(10))
        .await
        .expect("list kept");
    assert_eq!(some.items.len(), 2, "another person keeps their entries");
}

fn job(owner: &ExportOwner, base: Timestamp) -> ExportJob {
    ExportJob {
        id: Uuid::now_v7(),
        owner: owner.clone(),
        requested_by: "user:x".to_owned(),
        status: ExportStatus::Ready,
        created_at: base,
        finished_at: Some(base),
        num_bytes: Some(7),
        error: None,
        expires_at: base + SignedDuration::from_hours(7 * 24),
    }
}

pub async fn test_export_jobs_list_in_id_order_and_delete_one_by_one(store: DynStore) {
    let base = now();
    let owner = ExportOwner::workspace(WorkspaceScope::authorized(WorkspaceId::new()));
    let other = ExportOwner::user(UserId::new());
    let mut jobs: Vec<ExportJob> = (0..3).map(|_| job(&owner, base)).collect();
    jobs[1].status = ExportStatus::Failed;
    for j in &jobs {
        store.put_export(j).await.expect("put");
    }
    let theirs = job(&other, base);
    store.put_export(&theirs).await.expect("put other");
    jobs.sort_by_key(|j| j.id);

    let listed = walk(2, |page| store.list_exports(&owner, page)).await;
    assert_eq!(listed, jobs, "every job of the owner once, in id order");

    for j in &jobs {
        store.delete_export(&owner, j.id).await.expect("delete");
        assert_eq!(
            store.get_export(&owner, j.id, base).await.expect("get"),
            None
        );
    }
    store
        .delete_export(&owner, jobs[0].id)
        .await
        .expect("deleting a missing job is not an error");
    let listed = walk(2, |page| store.list_exports(&owner, page)).await;
    assert!(listed.is_empty(), "{listed:?}");
    let kept = walk(2, |page| store.list_exports(&other, page)).await;
    assert_eq!(kept, vec![theirs], "another owner keeps its jobs");
}
