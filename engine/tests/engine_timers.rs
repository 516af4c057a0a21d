//! Timers: an account actor wakes itself from its one armed timer, with no scan and no nudge.
//! The due-window scan is pushed out of reach and the clock is moved without `tick`, so only
//! the engine's timer wheel can make the delivery publish.

mod common;

use std::time::{Duration, Instant};

use common::{Env, env, start_time};
use jiff::SignedDuration;
use tenants::DeliveryState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_armed_timer_publishes_without_scan_or_nudge() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let tuning = engine::EngineTuning {
        scan_interval: Duration::from_secs(3600),
        // Each timer fires after at most 100 ms of real time and is re-armed from the engine
        // clock, so moving the manual clock is noticed by the next firing.
        max_timer: Duration::from_millis(100),
        ..Env::tuning()
    };
    let engine = env.start(tuning).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let due = start_time() + SignedDuration::from_mins(10);
    let (account, post) = env.linkedin_post(&h, scope, "timer", due).await?;

    let armed_for_due = || {
        h.observe()
            .accounts
            .iter()
            .any(|a| a.account_id == account && a.resident && a.next_due_at == Some(due))
    };
    let waited = Instant::now();
    while !armed_for_due() {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the account never took the delivery into its window"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = || async { h.get_post(scope, post).await.unwrap().deliveries[0].state };
    // The timer keeps firing every 100 ms, but nothing is due on the engine clock yet.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(state().await, DeliveryState::Scheduled);

    env.clock.advance(SignedDuration::from_mins(10));
    let waited = Instant::now();
    while state().await != DeliveryState::Published {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the timer never woke the account: {:?}",
            state().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = h.observe();
    let actor = seen
        .accounts
        .iter()
        .find(|a| a.account_id == account)
        .expect("the account is observed");
    assert!(actor.timer_at.is_some(), "no timer armed after the publish");
    engine.shutdown().await;
    Ok(())
}
