//! Faults: 10% 5xx, 5% 429 with Retry-After, 2% dropped after acceptance. Every delivery ends
//! published or failed with a reason, nothing is published twice, and no request comes before its
//! Retry-After.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use jiff::SignedDuration;
use sandbox::Faults;
use tenants::{DeliveryState, Platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_partner_faults_never_duplicate_or_retry_early() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let mut posts = Vec::new();
    for _ in 0..4 {
        let scope = env.workspace().await?;
        let mut accounts = Vec::new();
        for _ in 0..5 {
            accounts.push(
                h.connect_account(scope, env.grant(Platform::Linkedin).await?)
                    .await?
                    .id,
            );
        }
        for i in 0..10 {
            let at = start_time() + SignedDuration::from_secs(10 + i);
            posts.push((
                scope,
                h.create_post(scope, post_at(&format!("f{i}"), accounts.clone(), at))
                    .await?
                    .post
                    .id,
            ));
        }
    }
    env.sandbox.set_faults(Faults {
        error_rate: 0.10,
        rate_limit_rate: 0.05,
        retry_after_secs: 2,
        drop_after_accept_rate: 0.02,
        ..Faults::default()
    });
    let check = || async {
        let mut all = true;
        for (scope, id) in &posts {
            let v = h.get_post(*scope, *id).await.unwrap();
            all &= v.deliveries.iter().all(|d| d.state.is_terminal());
        }
        all
    };
    let done = run_until(
        &env,
        &h,
        SignedDuration::from_secs(1),
        Duration::from_secs(50),
        check,
    )
    .await;
    assert!(done, "deliveries left unfinished under faults");
    let mut published = 0;
    for (scope, id) in &posts {
        for d in h.get_post(*scope, *id).await?.deliveries {
            match d.state {
                DeliveryState::Published => published += 1,
                DeliveryState::Failed => assert!(d.last_error.is_some(), "failed without a reason"),
                other => panic!("unexpected state {other:?}"),
            }
        }
    }
    let stats = env.sandbox.stats();
    assert!(
        stats.injected_errors + stats.rate_limited > 0,
        "faults were not exercised"
    );
    assert_eq!(
        stats.early_retries, 0,
        "a request came before its Retry-After: {:?}",
        stats.early_retries_by_account
    );
    assert_eq!(env.sandbox.duplicates(), 0);
    assert_eq!(env.sandbox.ledger().len(), published);
    engine.shutdown().await;
    Ok(())
}
