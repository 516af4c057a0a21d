//! Crash and restart: the engine is dropped abruptly while deliveries are submitting; a new engine
//! on the same store finishes every delivery, and the partner's ledger has no duplicate.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use jiff::SignedDuration;
use sandbox::Faults;
use tenants::{DeliveryState, Platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_abrupt_stop_while_submitting_recovers_without_duplicates() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    env.sandbox.set_faults(Faults {
        latency_ms: 30,
        ..Faults::default()
    });
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let mut posts = Vec::new();
    for _ in 0..2 {
        let scope = env.workspace().await?;
        let mut accounts = Vec::new();
        for _ in 0..10 {
            accounts.push(
                h.connect_account(scope, env.grant(Platform::X).await?)
                    .await?
                    .id,
            );
        }
        for i in 0..10 {
            let at = start_time() + SignedDuration::from_secs(5 + i);
            posts.push((
                scope,
                h.create_post(scope, post_at(&format!("p{i}"), accounts.clone(), at))
                    .await?
                    .post
                    .id,
            ));
        }
    }
    env.clock.advance(SignedDuration::from_secs(30));
    h.tick().await?;
    // Wait until some deliveries are mid-flight, then stop abruptly.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let obs = h.observe();
        let submitting: u64 = obs
            .accounts
            .iter()
            .filter_map(|a| a.transitions_by_state.get("submitting"))
            .sum();
        if submitting >= 20 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(h);
    drop(engine);
    let published_before = env.sandbox.ledger().len();
    assert!(
        published_before < 200,
        "the stop came too late to test recovery"
    );

    env.sandbox.set_faults(Faults::default());
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
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
        SignedDuration::from_secs(5),
        Duration::from_secs(45),
        check,
    )
    .await;
    assert!(done, "deliveries left unfinished after restart");
    for (scope, id) in &posts {
        for d in h.get_post(*scope, *id).await?.deliveries {
            assert_eq!(d.state, DeliveryState::Published, "{:?}", d.last_error);
        }
    }
    assert_eq!(env.sandbox.duplicates(), 0);
    assert_eq!(env.sandbox.ledger().len(), 200);
    engine.shutdown().await;
    Ok(())
}
