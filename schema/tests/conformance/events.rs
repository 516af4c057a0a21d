//! The domain-event log (ids in append order, buckets, cursors, the post update logged in the
//! same commit), the webhook dispatcher's incremental due read, and the deletion of an erased
//! workspace's analytics pull jobs.

use jiff::{SignedDuration, Timestamp};
use schema::{
    AnalyticsJob, AnalyticsJobKind, EventCursor, LoggedEvent, WebhookMessage, WebhookMessageState,
    WorkspaceScope, event_bucket,
};
use tenants::{AccountId, PostStatus, WebhookId, WorkspaceId};
use uuid::Uuid;

use super::fixtures::{now, post};
use super::{DynStore, walk};

/// A far-future hour of its own, so concurrent cases never share a bucket.
fn private_hour() -> i64 {
    let r = u64::from(Uuid::new_v4().as_bytes()[0]) * 256 + u64::from(Uuid::new_v4().as_bytes()[1]);
    4_300_000_000 / 3600 + i64::try_from(r).unwrap_or(0)
}

fn event(ws: WorkspaceId, kind: &str) -> LoggedEvent {
    LoggedEvent {
        id: Uuid::nil(),
        workspace_id: ws,
        kind: kind.into(),
        post_id: None,
        account_id: Some(AccountId::new()),
        reason: None,
        at: now(),
        data: None,
    }
}

/// The events of `ws` in `bucket` after `after`, read in pages of `limit`.
async fn read_all(
    store: &DynStore,
    ws: WorkspaceId,
    bucket: i64,
    after: Option<Uuid>,
    limit: usize,
) -> Vec<LoggedEvent> {
    let mut out = Vec::new();
    let mut after = after;
    for _ in 0..10_000 {
        let page = store.events_in_bucket(bucket, after, limit).await.unwrap();
        assert!(page.len() <= limit, "the limit holds");
        assert!(page.windows(2).all(|w| w[0].id < w[1].id), "in id order");
        let Some(last) = page.last() else {
            return out;
        };
        after = Some(last.id);
        out.extend(page.into_iter().filter(|e| e.workspace_id == ws));
    }
    panic!("reading the log did not terminate");
}

pub async fn test_event_log_reads_a_bucket_in_id_order_after_a_cursor(store: DynStore) {
    let ws = WorkspaceId::new();
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut e = event(ws, "account.connected");
        e.reason = Some(format!("n{i}"));
        let id = store.append_event(&e).await.unwrap();
        assert_ne!(id, Uuid::nil(), "the store makes the id");
        ids.push(id);
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids grow with the appends"
    );
    let bucket = event_bucket(ids[0]);
    if event_bucket(ids[6]) != bucket {
        // The appends straddled an hour boundary: nothing more to compare in one bucket.
        return;
    }
    let all = read_all(&store, ws, bucket, None, 3).await;
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert_eq!(all[2].reason.as_deref(), Some("n2"));
    assert_eq!(all[2].kind, "account.connected");
    let rest = read_all(&store, ws, bucket, Some(ids[3]), 2).await;
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), ids[4..]);
    assert!(
        read_all(&store, ws, bucket, Some(ids[6]), 10)
            .await
            .is_empty()
    );
    assert!(
        read_all(&store, ws, private_hour(), None, 10)
            .await
            .is_empty(),
        "another bucket holds none of them"
    );
    assert!(store.event_log_settle() >= SignedDuration::ZERO);
}

pub async fn test_event_log_appends_a_batch_with_an_id_each(store: DynStore) {
    let ws = WorkspaceId::new();
    let batch: Vec<LoggedEvent> = (0..5)
        .map(|i| {
            let mut e = event(ws, "post.scheduled");
            e.reason = Some(format!("b{i}"));
            e
        })
        .collect();
    let ids = store.append_events(&batch).await.unwrap();
    assert_eq!(ids.len(), 5, "one id per event");
    assert!(
        ids.iter().all(|id| *id != Uuid::nil()),
        "the store makes the ids"
    );
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "ids are distinct");
    let mut found = Vec::new();
    for bucket in sorted
        .iter()
        .map(|id| event_bucket(*id))
        .collect::<std::collections::BTreeSet<_>>()
    {
        found.extend(read_all(&store, ws, bucket, None, 100).await);
    }
    let mut reasons: Vec<_> = found.iter().filter_map(|e| e.reason.clone()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        ["b0", "b1", "b2", "b3", "b4"],
        "every event is readable"
    );
    assert!(store.append_events(&[]).await.unwrap().is_empty());
}

pub async fn test_event_cursors_round_trip_per_consumer(store: DynStore) {
    let name = format!("test-{}", Uuid::new_v4());
    assert_eq!(store.get_event_cursor(&name).await.unwrap(), None);
    let c = EventCursor {
        bucket: 493_000,
        after: Some(Uuid::now_v7()),
    };
    store.put_event_cursor(&name, &c).await.unwrap();
    assert_eq!(store.get_event_cursor(&name).await.unwrap(), Some(c));
    let later = EventCursor {
        bucket: 493_001,
        after: None,
    };
    store.put_event_cursor(&name, &later).await.unwrap();
    assert_eq!(store.get_event_cursor(&name).await.unwrap(), Some(later));
    let other = format!("{name}-other");
    assert_eq!(store.get_event_cursor(&other).await.unwrap(), None);
}

pub async fn test_post_update_and_its_event_commit_together(store: DynStore) {
    let ws = WorkspaceId::new();
    let scope = WorkspaceScope::authorized(ws);
    let account = AccountId::new();
    let mut p = post(ws, &[account], Some(now()), PostStatus::Scheduled);
    p.external_id = Some(format!("ext-{}", Uuid::new_v4()));
    store.create_post(scope, &p, &[]).await.unwrap();
    let mut published = p.clone();
    published.status = PostStatus::Published;
    let mut e = event(ws, "post.published");
    e.post_id = Some(p.id);
    let id = store
        .update_post_logged(scope, &published, &e)
        .await
        .unwrap();
    let stored = store.get_post(scope, p.id).await.unwrap().unwrap();
    assert_eq!(stored.status, PostStatus::Published);
    let logged = read_all(&store, ws, event_bucket(id), None, 100).await;
    assert_eq!(logged, vec![LoggedEvent { id, ..e.clone() }]);
    let ext = p.external_id.clone().unwrap();
    assert_eq!(
        store.find_post_by_external_id(scope, &ext).await.unwrap(),
        Some(p.id),
        "the external-id lookup is kept"
    );

    // A refused update stores neither the post nor the event.
    let mut renamed = published.clone();
    renamed.external_id = Some("another".into());
    renamed.status = PostStatus::Failed;
    let refused = event(ws, "post.failed");
    assert!(
        store
            .update_post_logged(scope, &renamed, &refused)
            .await
            .is_err()
    );
    let foreign = WorkspaceScope::authorized(WorkspaceId::new());
    assert!(
        store
            .update_post_logged(foreign, &published, &e)
            .await
            .is_err()
    );
    assert_eq!(
        store.get_post(scope, p.id).await.unwrap().unwrap().status,
        PostStatus::Published
    );
    let after = read_all(&store, ws, event_bucket(id), None, 100).await;
    assert_eq!(after.len(), 1, "no event of a refused update");
}

pub async fn test_post_updates_and_their_events_commit_in_one_call(store: DynStore) {
    let ws = WorkspaceId::new();
    let scope = WorkspaceScope::authorized(ws);
    let account = AccountId::new();
    let mut changes = Vec::new();
    for kind in ["post.published", "post.failed", "post.published"] {
        let p = post(ws, &[account], Some(now()), PostStatus::Scheduled);
        store.create_post(scope, &p, &[]).await.unwrap();
        let mut changed = p.clone();
        changed.status = if kind == "post.failed" {
            PostStatus::Failed
        } else {
            PostStatus::Published
        };
        let mut e = event(ws, kind);
        e.post_id = Some(p.id);
        changes.push((changed, e));
    }
    let ids: Vec<Uuid> = store
        .update_posts_logged(scope, &changes)
        .await
        .into_iter()
        .map(|r| r.expect("logged update"))
        .collect();
    assert_eq!(ids.len(), changes.len());
    for ((post, e), id) in changes.iter().zip(&ids) {
        let stored = store.get_post(scope, post.id).await.unwrap().unwrap();
        assert_eq!(stored.status, post.status);
        let logged = read_all(&store, ws, event_bucket(*id), None, 100).await;
        assert!(
            logged.contains(&LoggedEvent {
                id: *id,
                ..e.clone()
            }),
            "the event of {} was not logged",
            post.id
        );
    }

    // Another workspace's posts are refused, and nothing of theirs is written.
    let foreign = WorkspaceScope::authorized(WorkspaceId::new());
    let mut again = changes.clone();
    again[0].0.status = PostStatus::Canceled;
    for r in store.update_posts_logged(foreign, &again).await {
        assert!(r.is_err(), "a foreign scope must be refused");
    }
    let first = store
        .get_post(scope, changes[0].0.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, PostStatus::Published);
}

fn pending(ws: WorkspaceId, endpoint: WebhookId, due: Timestamp) -> WebhookMessage {
    WebhookMessage {
        id: Uuid::now_v7(),
        workspace_id: ws,
        endpoint_id: endpoint,
        event_id: format!("evt_{}", Uuid::now_v7().simple()),
        event_type: "post.published".into(),
        payload: "{}".into(),
        state: WebhookMessageState::Pending,
        num_attempts: 0,
        next_attempt_at: Some(due),
        created_at: now(),
        updated_at: now(),
    }
}

pub async fn test_webhook_due_between_reads_only_rows_after_the_resume_point(store: DynStore) {
    let ws = WorkspaceId::new();
    let scope = WorkspaceScope::authorized(ws);
    let endpoint = WebhookId::new();
    let hour = private_hour();
    let base = Timestamp::from_second(hour * 3600).unwrap();
    let mut due = Vec::new();
    for minute in [1, 2, 2, 3, 10, 40] {
        let m = pending(ws, endpoint, base + SignedDuration::from_mins(minute));
        store.put_webhook_message(scope, &m).await.unwrap();
        due.push((m.next_attempt_at.unwrap(), m.id));
    }
    due.sort();
    let until = base + SignedDuration::from_mins(5);
    let first = store
        .webhook_due_between(hour, None, until, 2)
        .await
        .unwrap();
    let keys = |rows: &[schema::WebhookDueRef]| {
        rows.iter()
            .map(|r| (r.due_at, r.message_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&first), due[..2], "in due order, limited");
    let last = first.last().map(|r| (r.due_at, r.message_id));
    let next = store
        .webhook_due_between(hour, last, until, 100)
        .await
        .unwrap();
    assert_eq!(
        keys(&next),
        due[2..4],
        "only rows after the resume point, due by `until`"
    );
    let resume = next.last().map(|r| (r.due_at, r.message_id));
    assert!(
        store
            .webhook_due_between(hour, resume, until, 100)
            .await
            .unwrap()
            .is_empty(),
        "nothing new"
    );
    let later = store
        .webhook_due_between(hour, resume, base + SignedDuration::from_hours(1), 100)
        .await
        .unwrap();
    assert_eq!(keys(&later), due[4..], "later rows once they are due");
    assert!(
        later
            .iter()
            .all(|r| r.workspace_id == ws && r.endpoint_id == endpoint)
    );
    let everything = walk(2, |p| store.webhook_due_in_bucket(hour, p)).await;
    assert_eq!(everything.len(), 6, "the paged read still sees every row");
}

pub async fn test_purge_analytics_jobs_deletes_the_erased_workspaces_jobs_only(store: DynStore) {
    let doomed = WorkspaceScope::authorized(WorkspaceId::new());
    let kept = WorkspaceScope::authorized(WorkspaceId::new());
    let hour = private_hour();
    let base = Timestamp::from_second(hour * 3600).unwrap();
    for scope in [doomed, kept] {
        for i in 0..5 {
            let job = AnalyticsJob {
                id: Uuid::now_v7(),
                due_at: base + SignedDuration::from_mins(i * 20),
                workspace_id: scope.workspace_id(),
                account_id: AccountId::new(),
                kind: AnalyticsJobKind::AccountDaily,
            };
            store.put_analytics_job(&job).await.unwrap();
        }
    }
    let mut total = 0;
    for _ in 0..100 {
        let p = store.purge_analytics_jobs(doomed, 3).await.unwrap();
        total += p.num_deleted;
        if p.done {
            break;
        }
    }
    assert!(total >= 5, "every job counted, got {total}");
    assert!(store.purge_analytics_jobs(doomed, 100).await.unwrap().done);
    for bucket in [hour, hour + 1] {
        let jobs = walk(2, |p| store.analytics_due_in_bucket(bucket, p)).await;
        assert!(
            jobs.iter().all(|j| j.workspace_id != doomed.workspace_id()),
            "no job of the erased workspace is left"
        );
        let kept_jobs = jobs
            .iter()
            .filter(|j| j.workspace_id == kept.workspace_id())
            .count();
        assert_eq!(kept_jobs, if bucket == hour { 3 } else { 2 });
    }
}
