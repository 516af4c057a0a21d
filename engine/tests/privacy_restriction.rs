//! Restriction: while a workspace's processing is restricted, due deliveries are held with
//! `processing_restricted` and nothing reaches the partner; lifting it publishes them.

mod common;

use std::time::Duration;

use common::{Env, env, run_until, start_time};
use jiff::SignedDuration;
use tenants::DeliveryState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_restricted_workspace_holds_due_posts_until_unrestricted() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let at = start_time() + SignedDuration::from_mins(10);
    let (_, post) = env.linkedin_post(&h, scope, "hi", at).await?;
    h.restrict_workspace(scope).await?;

    let held = run_until(
        &env,
        &h,
        SignedDuration::from_mins(5),
        Duration::from_secs(20),
        || async {
            let v = h.get_post(scope, post).await.unwrap();
            v.deliveries.iter().all(|d| {
                d.state == DeliveryState::Held
                    && d.last_error
                        .as_ref()
                        .is_some_and(|e| e.code == "processing_restricted")
            })
        },
    )
    .await;
    assert!(held, "due delivery was not held for the restriction");
    // More time passes: still held, and the partner never saw it.
    for _ in 0..3 {
        env.clock.advance(SignedDuration::from_mins(30));
        h.tick().await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.get_post(scope, post).await?.deliveries[0].state,
        DeliveryState::Held
    );
    assert!(
        env.sandbox.ledger().is_empty(),
        "a restricted workspace reached the partner"
    );

    h.unrestrict_workspace(scope).await?;
    let published = run_until(
        &env,
        &h,
        SignedDuration::from_secs(30),
        Duration::from_secs(20),
        || async {
            h.get_post(scope, post).await.unwrap().deliveries[0].state == DeliveryState::Published
        },
    )
    .await;
    assert!(published, "released delivery did not publish");
    assert_eq!(env.sandbox.ledger().len(), 1);
    engine.shutdown().await;
    Ok(())
}
