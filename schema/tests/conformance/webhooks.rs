//! Webhook endpoints, the outbox due index, the attempt log, partner account refs and the
//! analytics series.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use schema::{
    AnalyticsJob, AnalyticsJobKind, MetricSample, Metrics, PageRequest, WebhookAttempt,
    WebhookEndpoint, WebhookMessage, WebhookMessageState, WorkspaceScope, hour_bucket,
};
use tenants::{AccountId, Platform, PostId, WebhookId, WorkspaceId};
use uuid::Uuid;

use super::fixtures::{now, sealed};
use super::{DynStore, walk};

fn endpoint(ws: WorkspaceId) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::new(),
        workspace_id: ws,
        url: "https://example.com/hook".into(),
        events: vec!["post.published".into()],
        description: None,
        enabled: true,
        disabled_reason: None,
        secret: sealed(7),
        previous_secret: None,
        previous_until: None,
        created_at: now(),
        updated_at: now(),
    }
}

fn message(e: &WebhookEndpoint, due: Timestamp) -> WebhookMessage {
    WebhookMessage {
        id: Uuid::now_v7(),
        workspace_id: e.workspace_id,
        endpoint_id: e.id,
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

pub async fn test_webhook_endpoints_outbox_and_attempts(store: DynStore) {
    let ws = WorkspaceId::new();
    let scope = WorkspaceScope::authorized(ws);
    let other = WorkspaceScope::authorized(WorkspaceId::new());
    let e = endpoint(ws);
    store.put_webhook(scope, &e).await.unwrap();
    assert!(
        store.put_webhook(other, &e).await.is_err(),
        "foreign row refused"
    );
    assert_eq!(
        store.get_webhook(scope, e.id).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(store.get_webhook(other, e.id).await.unwrap(), None);
    assert_eq!(store.list_webhooks(scope).await.unwrap(), vec![e.clone()]);

    // A far-future hour keeps this case's bucket to itself.
    let due = Timestamp::from_second(4_000_000_000 + i64::from(rand_u16()) * 3600).unwrap();
    let m = message(&e, due);
    store.put_webhook_message(scope, &m).await.unwrap();
    let rows = store
        .webhook_due_in_bucket(hour_bucket(due), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(rows.items.len(), 1);
    assert_eq!(rows.items[0].message_id, m.id);
    assert_eq!(rows.items[0].due_at, due);
    assert_eq!(
        store.get_webhook_message(scope, e.id, m.id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(
        store.get_webhook_message(other, e.id, m.id).await.unwrap(),
        None
    );

    for n in 1..=5u32 {
        let a = WebhookAttempt {
            id: Uuid::now_v7(),
            message_id: m.id,
            endpoint_id: e.id,
            event_id: m.event_id.clone(),
            event_type: m.event_type.clone(),
            attempt: n,
            at: now(),
            status_code: Some(503),
            latency_ms: 3,
            response: Some("down".into()),
            error: None,
            next_retry_at: None,
        };
        store.put_webhook_attempt(scope, &a).await.unwrap();
    }
    let all = walk(2, |p| store.list_webhook_attempts(scope, e.id, p)).await;
    let order: Vec<u32> = all.iter().map(|a| a.attempt).collect();
    assert_eq!(order, vec![5, 4, 3, 2, 1], "newest first");
    let foreign = store
        .list_webhook_attempts(other, e.id, PageRequest::first(10))
        .await
        .unwrap();
    assert!(foreign.items.is_empty());

    store.delete_webhook(scope, e.id).await.unwrap();
    assert_eq!(store.get_webhook(scope, e.id).await.unwrap(), None);

    let account = AccountId::new();
    let partner = format!("acct-{}", Uuid::now_v7());
    store
        .put_partner_account_ref(&partner, ws, account)
        .await
        .unwrap();
    assert_eq!(
        store.get_partner_account_ref(&partner).await.unwrap(),
        Some((ws, account))
    );
    assert_eq!(store.get_partner_account_ref("nobody").await.unwrap(), None);
}

fn rand_u16() -> u16 {
    Uuid::new_v4().as_bytes()[0] as u16 * 256 + Uuid::new_v4().as_bytes()[1] as u16
}

pub async fn test_metric_samples_by_month_and_post_keep_nulls(store: DynStore) {
    let ws = WorkspaceId::new();
    let scope = WorkspaceScope::authorized(ws);
    let account = AccountId::new();
    let post = PostId::new();
    let jan = Timestamp::from_second(1_767_225_600 - 3600).unwrap(); // 2025-12-31 23:00 UTC
    let sample = |at: Timestamp, post_id: Option<PostId>, likes: Option<u64>| MetricSample {
        workspace_id: ws,
        account_id: account,
        post_id,
        platform: Platform::Linkedin,
        at,
        metrics: Metrics {
            likes,
            ..Metrics::default()
        },
        raw: BTreeMap::from([("reactions".to_owned(), serde_json::json!(3))]),
    };
    let a = sample(jan, None, Some(5));
    let b = sample(jan + SignedDuration::from_hours(2), Some(post), None);
    store
        .put_metric_sample(scope.account(account), &a)
        .await
        .unwrap();
    store
        .put_metric_sample(scope.account(account), &b)
        .await
        .unwrap();
    let got = store
        .list_account_metrics(
            scope.account(account),
            jan,
            jan + SignedDuration::from_hours(3),
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![a.clone(), b.clone()],
        "across the month boundary, in time order"
    );
    assert_eq!(got[1].metrics.likes, None, "a missing metric stays null");
    let narrow = store
        .list_account_metrics(
            scope.account(account),
            jan + SignedDuration::from_hours(1),
            jan + SignedDuration::from_hours(3),
        )
        .await
        .unwrap();
    assert_eq!(narrow, vec![b.clone()]);
    assert_eq!(store.list_post_metrics(scope, post).await.unwrap(), vec![b]);
    let other = WorkspaceScope::authorized(WorkspaceId::new());
    assert!(
        store
            .list_post_metrics(other, post)
            .await
            .unwrap()
            .is_empty()
    );

    let due = Timestamp::from_second(4_100_000_000 + i64::from(rand_u16()) * 3600).unwrap();
    let job = AnalyticsJob {
        id: Uuid::now_v7(),
        due_at: due,
        workspace_id: ws,
        account_id: account,
        kind: AnalyticsJobKind::Post {
            post_id: post,
            partner_post_id: "p1".into(),
            offset: "1h".into(),
        },
    };
    store.put_analytics_job(&job).await.unwrap();
    let page = store
        .analytics_due_in_bucket(hour_bucket(due), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items, vec![job]);
}

/// Pages through `purge` until it reports done; returns the rows deleted.
async fn purge_all<F, Fut>(mut purge: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = schema::StoreResult<schema::PurgeProgress>>,
{
    let mut total = 0;
    for _ in 0..1000 {
        let p = purge().await.unwrap();
        total += p.num_deleted;
        if p.done {
            return total;
        }
    }
    panic!("purge never finished");
}

pub async fn test_purge_webhooks_and_metrics_leaves_nothing_and_spares_others(store: DynStore) {
    let doomed = WorkspaceScope::authorized(WorkspaceId::new());
    let kept = WorkspaceScope::authorized(WorkspaceId::new());
    let due = Timestamp::from_second(4_200_000_000 + i64::from(rand_u16()) * 3600).unwrap();
    let account = AccountId::new();
    let post = PostId::new();
    let mut seeded = Vec::new();
    for scope in [doomed, kept] {
        let ws = scope.workspace_id();
        let mut endpoints = Vec::new();
        for _ in 0..3 {
            let e = endpoint(ws);
            store.put_webhook(scope, &e).await.unwrap();
            let mut messages = Vec::new();
            for _ in 0..4 {
                let m = message(&e, due);
                store.put_webhook_message(scope, &m).await.unwrap();
                let a = WebhookAttempt {
                    id: Uuid::now_v7(),
                    message_id: m.id,
                    endpoint_id: e.id,
                    event_id: m.event_id.clone(),
                    event_type: m.event_type.clone(),
                    attempt: 1,
                    at: now(),
                    status_code: Some(500),
                    latency_ms: 1,
                    response: None,
                    error: None,
                    next_retry_at: Some(due),
                };
                store.put_webhook_attempt(scope, &a).await.unwrap();
                messages.push(m);
            }
            endpoints.push((e, messages));
        }
        let jan = Timestamp::from_second(1_767_225_600 - 3600).unwrap();
        for (i, at) in [jan, jan + SignedDuration::from_hours(2)]
            .iter()
            .enumerate()
        {
            let sample = MetricSample {
                workspace_id: ws,
                account_id: account,
                post_id: (i == 1).then_some(post),
                platform: Platform::X,
                at: *at,
                metrics: Metrics::default(),
                raw: BTreeMap::new(),
            };
            store
                .put_metric_sample(scope.account(account), &sample)
                .await
                .unwrap();
        }
        seeded.push(endpoints);
    }

    let n = purge_all(|| store.purge_webhooks(doomed, 5)).await;
    assert!(n >= 3 * (4 + 4 + 1), "every row counted, got {n}");
    let m = purge_all(|| store.purge_metrics(doomed, 1)).await;
    assert!(m >= 2, "both samples counted, got {m}");
    // A second pass finds nothing left and still succeeds.
    let again = store.purge_webhooks(doomed, 100).await.unwrap();
    assert!(again.done);
    assert!(store.purge_metrics(doomed, 100).await.unwrap().done);

    let far = SignedDuration::from_hours(24 * 90);
    let jan = Timestamp::from_second(1_767_225_600 - 3600).unwrap();
    let due_rows = walk(50, |p| store.webhook_due_in_bucket(hour_bucket(due), p)).await;
    for (scope, endpoints) in [doomed, kept].into_iter().zip(&seeded) {
        let gone = scope == doomed;
        let listed = store.list_webhooks(scope).await.unwrap();
        assert_eq!(listed.len(), if gone { 0 } else { 3 });
        for (e, messages) in endpoints {
            let attempts = store
                .list_webhook_attempts(scope, e.id, PageRequest::first(50))
                .await
                .unwrap();
            assert_eq!(attempts.items.len(), if gone { 0 } else { 4 });
            for m in messages {
                let stored = store.get_webhook_message(scope, e.id, m.id).await.unwrap();
                assert_eq!(stored.is_none(), gone, "outbox row");
                let indexed = due_rows.iter().any(|r| r.message_id == m.id);
                assert_eq!(!indexed, gone, "due-index row");
            }
        }
        let samples = store
            .list_account_metrics(scope.account(account), jan - far, jan + far)
            .await
            .unwrap();
        assert_eq!(samples.len(), if gone { 0 } else { 2 });
        let by_post = store.list_post_metrics(scope, post).await.unwrap();
        assert_eq!(by_post.len(), if gone { 0 } else { 1 });
    }

    let partner = format!("acct-{}", Uuid::now_v7());
    store
        .put_partner_account_ref(&partner, doomed.workspace_id(), account)
        .await
        .unwrap();
    store.delete_partner_account_ref(&partner).await.unwrap();
    assert_eq!(store.get_partner_account_ref(&partner).await.unwrap(), None);
}
