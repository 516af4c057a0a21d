//! Cases for the audit log, export jobs and policy notices.

use jiff::{SignedDuration, Timestamp};
use schema::{
    AuditEntry, AuditQuery, ExportJob, ExportOwner, ExportStatus, Notice, PageRequest, StoreError,
    WorkspaceScope, notice_year,
};
use tenants::{UserId, WorkspaceId};
use uuid::Uuid;

use super::fixtures::*;
use super::{DynStore, walk};

fn entry(ws: Option<WorkspaceId>, actor: &str, action: &str, at: Timestamp) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        at,
        workspace_id: ws,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: vec!["post_id=1".to_owned()],
        ip: Some("127.0.0.1".to_owned()),
        user_agent: Some("conformance".to_owned()),
        status: 200,
        expires_at: at + SignedDuration::from_hours(90 * 24),
    }
}

fn window(base: Timestamp, days: i64) -> AuditQuery {
    AuditQuery {
        from: base - SignedDuration::from_hours(days * 24),
        to: base + SignedDuration::from_hours(days * 24),
        actor: None,
        action: None,
        now: base,
    }
}

pub async fn test_audit_entries_list_in_time_order_across_days_with_filters(store: DynStore) {
    let base = now();
    let ws = WorkspaceId::new();
    let scope = WorkspaceScope::authorized(ws);
    let mut written = Vec::new();
    for (i, hours) in [-50i64, -26, -1, 0, 3, 30].iter().enumerate() {
        let actor = if i % 2 == 0 { "user:a" } else { "key:b" };
        let e = entry(
            Some(ws),
            actor,
            "POST /v1/workspaces/{ws}/posts",
            base + SignedDuration::from_hours(*hours),
        );
        store.append_audit(Some(scope), &e).await.expect("append");
        written.push(e);
    }
    // An entry of another workspace and one already expired stay out.
    let other = WorkspaceId::new();
    store
        .append_audit(
            Some(WorkspaceScope::authorized(other)),
            &entry(Some(other), "user:a", "DELETE /x", base),
        )
        .await
        .expect("append other");
    let mut expired = entry(Some(ws), "user:a", "DELETE /x", base);
    expired.expires_at = base - SignedDuration::from_secs(1);
    store
        .append_audit(Some(scope), &expired)
        .await
        .expect("append expired");

    let wide = window(base, 3);
    let all = walk(2, |page| store.list_audit(scope, &wide, page)).await;
    assert_eq!(
        all, written,
        "every entry once, oldest first, across day partitions"
    );

    let mut by_actor = window(base, 3);
    by_actor.actor = Some("key:b".to_owned());
    let items = walk(10, |page| store.list_audit(scope, &by_actor, page)).await;
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|e| e.actor == "key:b"));

    let mut narrow = window(base, 3);
    narrow.from = base - SignedDuration::from_hours(2);
    narrow.to = base + SignedDuration::from_hours(4);
    let items = walk(10, |page| store.list_audit(scope, &narrow, page)).await;
    assert_eq!(items, written[2..5].to_vec());

    let mut by_action = window(base, 3);
    by_action.action = Some("DELETE".to_owned());
    let items = walk(10, |page| store.list_audit(scope, &by_action, page)).await;
    assert!(items.is_empty(), "expired entries are never returned");
}

pub async fn test_audit_entries_without_workspace_go_to_the_actor(store: DynStore) {
    let base = now();
    let actor = format!("user:{}", UserId::new());
    let e = entry(None, &actor, "POST /auth/{provider}/callback", base);
    store.append_audit(None, &e).await.expect("append");
    let items = store
        .list_audit_of_actor(&actor, &window(base, 1), PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(items.items, vec![e.clone()]);
    let none = store
        .list_audit_of_actor(
            "user:someone-else",
            &window(base, 1),
            PageRequest::first(10),
        )
        .await
        .expect("list other");
    assert!(none.items.is_empty());
    // A workspace entry written under another workspace's scope is refused.
    let ws = WorkspaceId::new();
    let wrong = entry(Some(ws), &actor, "POST /x", base);
    let refused = store
        .append_audit(Some(WorkspaceScope::authorized(WorkspaceId::new())), &wrong)
        .await;
    assert!(matches!(refused, Err(StoreError::OutOfScope { .. })));
}

pub async fn test_export_jobs_and_notices_round_trip(store: DynStore) {
    let base = now();
    let owner = ExportOwner::workspace(WorkspaceScope::authorized(WorkspaceId::new()));
    let mut job = ExportJob {
        id: Uuid::now_v7(),
        owner: owner.clone(),
        requested_by: "user:x".to_owned(),
        status: ExportStatus::Pending,
        created_at: base,
        finished_at: None,
        num_bytes: None,
        error: None,
        expires_at: base + SignedDuration::from_hours(7 * 24),
    };
    store.put_export(&job).await.expect("put");
    job.status = ExportStatus::Ready;
    job.num_bytes = Some(42);
    store.put_export(&job).await.expect("update");
    assert_eq!(
        store.get_export(&owner, job.id, base).await.expect("get"),
        Some(job.clone())
    );
    let stranger = ExportOwner::user(UserId::new());
    assert_eq!(
        store
            .get_export(&stranger, job.id, base)
            .await
            .expect("get"),
        None
    );
    let later = base + SignedDuration::from_hours(8 * 24);
    assert_eq!(
        store.get_export(&owner, job.id, later).await.expect("get"),
        None
    );

    let notice = Notice {
        id: Uuid::now_v7(),
        title: "Policy update".to_owned(),
        body: "We changed section 5.".to_owned(),
        effective_at: base + SignedDuration::from_hours(15 * 24),
        material: true,
        published_at: base,
        published_by: "key:admin".to_owned(),
    };
    store.put_notice(&notice).await.expect("put notice");
    let listed = store
        .list_notices(notice_year(base))
        .await
        .expect("list notices");
    assert!(listed.contains(&notice));
}
