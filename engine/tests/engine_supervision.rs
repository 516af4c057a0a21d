//! Supervision: a panicking account actor is restarted with its schedule reloaded from the store;
//! one that keeps panicking is capped, marked degraded, and an event says so.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use engine::EventKind;
use jiff::SignedDuration;
use tenants::{DeliveryState, Platform};

async fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_crashed_account_restarts_with_schedule_and_loop_is_capped() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::Threads).await?)
        .await?
        .id;
    let post = h
        .create_post(
            scope,
            post_at(
                "survives",
                vec![account],
                start_time() + SignedDuration::from_mins(20),
            ),
        )
        .await?
        .post
        .id;
    assert!(
        wait_for(|| h
            .observe()
            .accounts
            .iter()
            .any(|a| a.account_id == account && a.num_pending == 1))
        .await
    );

    h.inject_account_panic(scope, account).await?;
    let restarted = wait_for(|| {
        h.observe()
            .accounts
            .iter()
            .any(|a| a.account_id == account && a.restarts == 1 && a.resident && a.num_pending == 1)
    })
    .await;
    assert!(
        restarted,
        "account actor was not restarted with its schedule"
    );

    let published = run_until(
        &env,
        &h,
        SignedDuration::from_mins(5),
        Duration::from_secs(20),
        || async {
            h.get_post(scope, post)
                .await
                .unwrap()
                .deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Published)
        },
    )
    .await;
    assert!(published, "the schedule did not survive the restart");

    for n in 2..=3u32 {
        h.inject_account_panic(scope, account).await?;
        assert!(
            wait_for(|| h
                .observe()
                .accounts
                .iter()
                .any(|a| a.account_id == account && a.restarts == n && a.resident))
            .await,
            "restart {n} did not happen"
        );
    }
    h.inject_account_panic(scope, account).await?;
    assert!(
        wait_for(|| h
            .observe()
            .accounts
            .iter()
            .any(|a| a.account_id == account && a.degraded))
        .await
    );
    let obs = h.observe();
    let a = obs
        .accounts
        .iter()
        .find(|a| a.account_id == account)
        .unwrap();
    assert!(
        a.degraded && !a.resident,
        "a crash loop was not capped: {a:?}"
    );
    assert!(
        wait_for(|| h
            .recent_events()
            .iter()
            .any(|e| e.kind == EventKind::AccountDegraded && e.account_id == Some(account)))
        .await,
        "no account.degraded event"
    );
    engine.shutdown().await;
    Ok(())
}
