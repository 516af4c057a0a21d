//! Quota: an Instagram account that used up its 24 h publishing quota holds the next delivery
//! (never fails it) until the window opens, then publishes it.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use engine::EngineHandle;
use jiff::{SignedDuration, Timestamp};
use schema::WorkspaceScope;
use tenants::{AccountId, DeliveryState, Platform, PostId};

/// A workspace with one Instagram account; returns them with the account's 24-hour quota.
async fn instagram(
    env: &Env,
    h: &EngineHandle,
) -> anyhow::Result<(WorkspaceScope, AccountId, usize)> {
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::Instagram).await?)
        .await?
        .id;
    let quota = tenants::rules(Platform::Instagram).quotas[0].count as usize;
    Ok((scope, account, quota))
}

/// Schedules an Instagram post (it needs a media item) on `account` for `at`.
async fn instagram_post(
    h: &EngineHandle,
    scope: WorkspaceScope,
    account: AccountId,
    caption: &str,
    at: Timestamp,
) -> anyhow::Result<PostId> {
    let mut new = post_at(caption, vec![account], at);
    new.media_urls = vec!["https://cdn.example.com/photo.jpg".into()];
    Ok(h.create_post(scope, new).await?.post.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_instagram_quota_holds_then_publishes_when_window_opens() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let (scope, account, quota) = instagram(&env, &h).await?;
    let mut posts = Vec::new();
    for i in 0..=quota {
        let at = start_time() + SignedDuration::from_secs(10 + i as i64);
        posts.push(instagram_post(&h, scope, account, &format!("ig {i}"), at).await?);
    }
    let states = || async {
        let mut v = Vec::new();
        for id in &posts {
            v.extend(h.get_post(scope, *id).await.unwrap().deliveries);
        }
        v
    };
    let held = run_until(
        &env,
        &h,
        SignedDuration::from_secs(5),
        Duration::from_secs(20),
        || async {
            let ds = states().await;
            ds.iter()
                .filter(|d| d.state == DeliveryState::Published)
                .count()
                == quota
                && ds.iter().any(|d| d.state == DeliveryState::Held)
        },
    )
    .await;
    assert!(held, "quota did not hold the extra delivery");
    let ds = states().await;
    let waiting = ds
        .iter()
        .find(|d| d.state == DeliveryState::Held)
        .unwrap()
        .clone();
    let reason = waiting.last_error.clone().unwrap();
    assert_eq!(reason.code, "quota_exhausted");
    let opens_at = waiting.due_at;
    assert!(
        opens_at > env.clock_now(),
        "held without a future retry time"
    );

    let done = run_until(
        &env,
        &h,
        SignedDuration::from_mins(5),
        Duration::from_secs(20),
        || async {
            states()
                .await
                .iter()
                .all(|d| d.state == DeliveryState::Published)
        },
    )
    .await;
    assert!(done, "held delivery never published");
    let published = states()
        .await
        .into_iter()
        .find(|d| d.id == waiting.id)
        .unwrap();
    assert!(published.published_at.unwrap() >= opens_at);
    assert_eq!(env.sandbox.ledger().len(), quota + 1);
    engine.shutdown().await;
    Ok(())
}

/// The quota outlives the engine: publishes before a restart still count after it, so a
/// restarted engine never goes over the platform's 24-hour limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_instagram_quota_used_before_a_restart_still_holds_after_it() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let first = env.start(Env::tuning()).await?;
    let h = first.handle();
    let (scope, account, quota) = instagram(&env, &h).await?;
    for i in 0..quota {
        let at = start_time() + SignedDuration::from_secs(10 + i as i64);
        instagram_post(&h, scope, account, &format!("ig {i}"), at).await?;
    }
    let used = run_until(
        &env,
        &h,
        SignedDuration::from_secs(5),
        Duration::from_secs(20),
        || async { env.sandbox.ledger().len() == quota },
    )
    .await;
    assert!(used, "the quota's posts did not publish");
    first.shutdown().await;

    let second = env.start(Env::tuning()).await?;
    let h = second.handle();
    let at = env.clock_now() + SignedDuration::from_mins(1);
    let extra = instagram_post(&h, scope, account, "one too many", at).await?;
    let delivery = || async { h.get_post(scope, extra).await.unwrap().deliveries[0].clone() };
    let held = run_until(
        &env,
        &h,
        SignedDuration::from_mins(1),
        Duration::from_secs(20),
        || async { delivery().await.state == DeliveryState::Held },
    )
    .await;
    let d = delivery().await;
    assert!(held, "the restarted engine did not hold: {:?}", d.state);
    assert_eq!(d.last_error.unwrap().code, "quota_exhausted");
    assert_eq!(
        env.sandbox.ledger().len(),
        quota,
        "published over the quota"
    );
    // It waits for the oldest publish to leave the 24-hour window, not for a restart.
    assert!(d.due_at >= start_time() + SignedDuration::from_hours(24));
    second.shutdown().await;
    Ok(())
}
