//! Post events reach webhook subscribers: creating or rescheduling a scheduled post sends
//! `post.scheduled`, canceling or deleting it sends `post.canceled`, each signed with the
//! endpoint's secret. And erasure removes the workspace's webhook and analytics rows (metric
//! samples and pull jobs).

mod common;
mod webhook_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{env, post_at, start_time};
use engine::PostPatch;
use engine::webhooks::NewEndpoint;
use jiff::SignedDuration;
use schema::{
    AnalyticsJob, AnalyticsJobKind, MetricSample, Metrics, PageRequest, Store, WorkspaceScope,
    hour_bucket,
};
use secrecy::ExposeSecret;
use tenants::{Platform, PostId, ScheduleInput};
use webhook_support::{Received, Receiver};

const WAIT: Duration = Duration::from_secs(10);

/// The next delivery, checked against the secret; returns its event type and post id.
async fn next_event(receiver: &mut Receiver, secret: &str) -> (String, PostId) {
    let got: Received = receiver.next(WAIT).await.expect("a delivery in time");
    tenants::webhook_signature::verify(
        &[secret],
        got.header("webhook-id"),
        got.header("webhook-timestamp"),
        got.header("webhook-signature"),
        &got.body,
        start_time().as_second(),
        300,
    )
    .expect("signature verifies");
    let body = got.json();
    assert_eq!(body["id"], got.header("webhook-id"));
    let post_id = body["data"]["post_id"].as_str().expect("post id").parse();
    (body["type"].as_str().unwrap().to_owned(), post_id.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_subscribed_endpoint_receives_post_scheduled_and_post_canceled() -> anyhow::Result<()>
{
    let env = env(|_| {}).await?;
    let engine = env.start(common::Env::tuning()).await?;
    let h = engine.handle();
    let hooks = h.webhooks()?.clone();
    hooks.set_allow_private_targets(true);
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::Linkedin).await?)
        .await?
        .id;
    let mut receiver = Receiver::start().await;
    let events = vec!["post.scheduled".to_owned(), "post.canceled".to_owned()];
    let (_, secret) = hooks
        .create(
            scope,
            NewEndpoint {
                url: receiver.url.clone(),
                events,
                description: None,
            },
        )
        .await?;
    let secret = secret.expose_secret().to_owned();

    let at = start_time() + SignedDuration::from_hours(5);
    let first = h
        .create_post(scope, post_at("one", vec![account], at))
        .await?;
    let first_id = first.post.id;
    assert_eq!(
        next_event(&mut receiver, &secret).await,
        ("post.scheduled".to_owned(), first_id)
    );

    let later = PostPatch {
        schedule: Some(ScheduleInput::At(at + SignedDuration::from_hours(1))),
        ..PostPatch::default()
    };
    h.update_post(scope, first_id, later).await?;
    assert_eq!(
        next_event(&mut receiver, &secret).await,
        ("post.scheduled".to_owned(), first_id),
        "a reschedule is announced again"
    );

    h.cancel_post(scope, first_id).await?;
    assert_eq!(
        next_event(&mut receiver, &secret).await,
        ("post.canceled".to_owned(), first_id)
    );
    // Canceling again changes nothing and sends nothing.
    h.cancel_post(scope, first_id).await?;

    let second = h
        .create_post(scope, post_at("two", vec![account], at))
        .await?;
    let second_id = second.post.id;
    assert_eq!(
        next_event(&mut receiver, &secret).await,
        ("post.scheduled".to_owned(), second_id)
    );
    h.delete_post(scope, second_id).await?;
    assert_eq!(
        next_event(&mut receiver, &secret).await,
        ("post.canceled".to_owned(), second_id),
        "deleting a scheduled post cancels it"
    );
    assert!(
        receiver.next(Duration::from_millis(300)).await.is_none(),
        "no duplicate after the second cancel"
    );
    engine.shutdown().await;
    Ok(())
}

/// The workspace's analytics pull jobs due in the first week after the start.
async fn pull_jobs(
    store: &std::sync::Arc<dyn Store>,
    scope: WorkspaceScope,
) -> anyhow::Result<Vec<AnalyticsJob>> {
    let first = hour_bucket(start_time());
    let mut out = Vec::new();
    for bucket in first..=first + 7 * 24 + 1 {
        let mut page = PageRequest::first(500);
        loop {
            let p = store.analytics_due_in_bucket(bucket, page.clone()).await?;
            out.extend(
                p.items
                    .into_iter()
                    .filter(|j| j.workspace_id == scope.workspace_id()),
            );
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_erased_workspace_loses_its_webhook_and_metric_rows() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(common::Env::tuning()).await?;
    let h = engine.handle();
    let hooks = h.webhooks()?.clone();
    hooks.set_allow_private_targets(true);
    let mut receiver = Receiver::start().await;
    let mut seeded = Vec::new();
    for _ in 0..2 {
        let scope = env.workspace().await?;
        let grant = env.grant(Platform::Linkedin).await?;
        let partner_id = grant.partner_account_id.clone().expect("partner id");
        let account = h.connect_account(scope, grant).await?.id;
        let (endpoint, _) = hooks
            .create(
                scope,
                NewEndpoint {
                    url: receiver.url.clone(),
                    events: vec!["post.scheduled".to_owned()],
                    description: None,
                },
            )
            .await?;
        let at = start_time() + SignedDuration::from_hours(5);
        let post = h
            .create_post(scope, post_at("p", vec![account], at))
            .await?;
        receiver.next(WAIT).await.expect("delivered");
        let sample = MetricSample {
            workspace_id: scope.workspace_id(),
            account_id: account,
            post_id: Some(post.post.id),
            platform: Platform::Linkedin,
            at: start_time(),
            metrics: Metrics {
                likes: Some(3),
                ..Metrics::default()
            },
            raw: BTreeMap::new(),
        };
        env.store
            .put_metric_sample(scope.account(account), &sample)
            .await?;
        for offset in [1, 24, 7 * 24] {
            let job = AnalyticsJob {
                id: uuid::Uuid::now_v7(),
                due_at: start_time() + SignedDuration::from_hours(offset),
                workspace_id: scope.workspace_id(),
                account_id: account,
                kind: AnalyticsJobKind::Post {
                    post_id: post.post.id,
                    partner_post_id: "partner-post".into(),
                    offset: format!("{offset}h"),
                },
            };
            env.store.put_analytics_job(&job).await?;
        }
        seeded.push((scope, account, partner_id, endpoint.id, post.post.id));
    }
    // The delivery's attempt is logged right after the receiver answers.
    let deadline = std::time::Instant::now() + WAIT;
    for (scope, _, _, endpoint, _) in &seeded {
        loop {
            let log = hooks
                .deliveries(*scope, *endpoint, PageRequest::first(10))
                .await?;
            if !log.items.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "attempt logged in time"
            );
            hooks.tick().await?;
        }
    }
    let (doomed, account, partner_id, endpoint, post) = seeded[0].clone();
    let log = hooks
        .deliveries(doomed, endpoint, PageRequest::first(10))
        .await?;
    let message_id = log.items[0].message_id;

    h.erase_workspace(doomed).await?;
    let report = h.run_purge_pass().await?;
    assert_eq!(report.num_workspaces, 1);

    let store = &env.store;
    let far = SignedDuration::from_hours(24 * 400);
    let leftovers = |scope: WorkspaceScope, account, endpoint, post| {
        let store = store.clone();
        async move {
            let mut left = Vec::new();
            if !store.list_webhooks(scope).await?.is_empty() {
                left.push("webhook endpoints");
            }
            let log = store
                .list_webhook_attempts(scope, endpoint, PageRequest::first(10))
                .await?;
            if !log.items.is_empty() {
                left.push("delivery log");
            }
            let samples = store
                .list_account_metrics(
                    scope.account(account),
                    start_time() - far,
                    start_time() + far,
                )
                .await?;
            if !samples.is_empty() {
                left.push("account metrics");
            }
            if !store.list_post_metrics(scope, post).await?.is_empty() {
                left.push("post metrics");
            }
            if !pull_jobs(&store, scope).await?.is_empty() {
                left.push("analytics pull jobs");
            }
            anyhow::Ok(left)
        }
    };
    assert_eq!(
        leftovers(doomed, account, endpoint, post).await?,
        Vec::<&str>::new()
    );
    assert_eq!(
        store
            .get_webhook_message(doomed, endpoint, message_id)
            .await?,
        None,
        "outbox row"
    );
    assert_eq!(store.get_partner_account_ref(&partner_id).await?, None);

    let (kept, kept_account, kept_partner, kept_endpoint, kept_post) = seeded[1].clone();
    assert_eq!(
        leftovers(kept, kept_account, kept_endpoint, kept_post).await?,
        vec![
            "webhook endpoints",
            "delivery log",
            "account metrics",
            "post metrics",
            "analytics pull jobs"
        ],
        "another workspace keeps everything"
    );
    assert!(
        store
            .get_partner_account_ref(&kept_partner)
            .await?
            .is_some()
    );
    engine.shutdown().await;
    Ok(())
}
