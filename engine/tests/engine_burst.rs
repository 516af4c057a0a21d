//! Bursts: an account with several posts due at the same instant takes them on together. A
//! Retry-After learned from one send holds back the rest of the burst (nothing else goes out
//! before it elapses), and every post still publishes exactly once afterwards.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use jiff::SignedDuration;
use sandbox::Faults;
use tenants::DeliveryState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_retry_after_holds_back_the_rest_of_a_burst() -> anyhow::Result<()> {
    const BURST: usize = 6;
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let account = env.linkedin_account(&h, scope).await?;
    let due = start_time() + SignedDuration::from_secs(10);
    let mut posts = Vec::new();
    for i in 0..BURST {
        let new = post_at(&format!("burst {i}"), vec![account], due);
        posts.push(h.create_post(scope, new).await?.post.id);
    }
    let deliveries = || async {
        let mut all = Vec::new();
        for id in &posts {
            all.extend(h.get_post(scope, *id).await.unwrap().deliveries);
        }
        all
    };
    env.sandbox.set_faults(Faults {
        rate_limit_rate: 1.0,
        retry_after_secs: 60,
        ..Faults::default()
    });
    // Steps the clock until every delivery of the burst satisfies `pred`.
    let all_become = |pred: fn(&tenants::Delivery) -> bool| {
        let step = SignedDuration::from_secs(5);
        run_until(
            &env,
            &h,
            step,
            Duration::from_secs(20),
            move || async move { deliveries().await.iter().all(pred) },
        )
    };
    let waiting =
        all_become(|d| d.state == DeliveryState::Scheduled && d.last_error.is_some()).await;
    let seen = deliveries().await;
    assert!(waiting, "the burst did not wait out the 429: {seen:?}");
    assert_eq!(
        env.sandbox.stats().rate_limited,
        1,
        "after the first 429 the rest of the burst must not be sent"
    );
    let limited_at = env.clock_now();
    for d in &seen {
        assert!(d.due_at > due, "no later retry time: {d:?}");
    }
    // Only the one request that went out used an attempt.
    assert_eq!(seen.iter().map(|d| d.attempts).sum::<u32>(), 1, "{seen:?}");
    let withdrawn: Vec<_> = seen.iter().filter(|d| d.attempts == 0).collect();
    assert_eq!(withdrawn.len(), BURST - 1);
    for d in withdrawn {
        assert_eq!(d.last_error.as_ref().unwrap().code, "rate_limited");
    }

    env.sandbox.set_faults(Faults::default());
    let done = all_become(|d| d.state == DeliveryState::Published).await;
    assert!(done, "the burst never published: {:?}", deliveries().await);
    let stats = env.sandbox.stats();
    assert_eq!(
        stats.early_retries, 0,
        "a request came before its Retry-After"
    );
    assert_eq!(env.sandbox.ledger().len(), BURST);
    assert_eq!(env.sandbox.duplicates(), 0);
    for d in deliveries().await {
        assert!(
            d.published_at.is_some_and(|at| at >= limited_at),
            "published before the Retry-After: {d:?}"
        );
    }
    engine.shutdown().await;
    Ok(())
}
