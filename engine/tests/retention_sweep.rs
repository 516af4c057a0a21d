//! Retention on the embedded store: rows past their expiry are removed by the engine's sweep
//! pass (the store only hides them on read), and rows still within it stay.

mod common;

use common::{Env, env, start_time};
use jiff::SignedDuration;
use schema::IdempotencyClaim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sweep_pass_removes_expired_rows_and_keeps_live_ones() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let now = start_time();
    let soon = now + SignedDuration::from_hours(1);
    let later = now + SignedDuration::from_hours(72);
    for (key, expires_at) in [("old-1", soon), ("old-2", soon), ("live", later)] {
        let claim = env
            .store
            .claim_idempotency(key, "fp", expires_at, now)
            .await?;
        assert!(matches!(claim, IdempotencyClaim::Claimed));
    }

    env.clock.advance(SignedDuration::from_hours(2));
    let swept = h.run_sweep_pass().await?;
    assert!(swept >= 2, "both expired claims are removed, got {swept}");
    assert_eq!(h.run_sweep_pass().await?, 0, "nothing left to sweep");

    let at = now + SignedDuration::from_hours(2);
    let live = env
        .store
        .claim_idempotency("live", "other", later, at)
        .await?;
    assert!(
        matches!(live, IdempotencyClaim::Existing(_)),
        "a claim within its retention survives the sweep"
    );
    engine.shutdown().await;
    Ok(())
}
