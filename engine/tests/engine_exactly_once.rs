//! Exactly once: 1,000 deliveries across 100 accounts in 10 workspaces, all due within one minute,
//! publish once each.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use jiff::SignedDuration;
use tenants::{DeliveryState, Platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_thousand_deliveries_publish_exactly_once() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let mut posts = Vec::new();
    for _ in 0..10 {
        let scope = env.workspace().await?;
        h.workspace_created(scope).await?;
        let mut accounts = Vec::new();
        for _ in 0..10 {
            accounts.push(
                h.connect_account(scope, env.grant(Platform::Linkedin).await?)
                    .await?
                    .id,
            );
        }
        for i in 0..10 {
            let at = start_time() + SignedDuration::from_secs(30 + i * 3);
            posts.push((
                scope,
                h.create_post(scope, post_at(&format!("post {i}"), accounts.clone(), at))
                    .await?
                    .post
                    .id,
            ));
        }
    }
    let check = || async {
        let mut all = true;
        for (scope, id) in &posts {
            let v = h.get_post(*scope, *id).await.unwrap();
            // The post's status follows its deliveries once the workspace flushes it.
            all &= v
                .deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Published)
                && v.post.status == tenants::PostStatus::Published;
        }
        all
    };
    let done = run_until(
        &env,
        &h,
        SignedDuration::from_secs(10),
        Duration::from_secs(45),
        check,
    )
    .await;
    assert!(
        done,
        "not every delivery published: {:?}",
        h.observe()
            .accounts
            .iter()
            .map(|a| &a.transitions_by_state)
            .collect::<Vec<_>>()
    );
    assert_eq!(env.sandbox.ledger().len(), 1000);
    assert_eq!(env.sandbox.duplicates(), 0);
    for (scope, id) in &posts {
        assert_eq!(
            h.get_post(*scope, *id).await?.post.status,
            tenants::PostStatus::Published
        );
    }
    engine.shutdown().await;
    Ok(())
}
