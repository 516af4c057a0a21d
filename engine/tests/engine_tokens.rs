//! Tokens: 48 hours on a manual clock with 2-hour access tokens and rotating refresh tokens. No
//! publish ever uses an expired token, no refresh token is lost, and `invalid_grant` marks the
//! account `needs_reconnect` with its deliveries held and a reason.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use engine::EventKind;
use jiff::SignedDuration;
use tenants::{AccountStatus, DeliveryState, Platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_days_of_rotating_tokens_then_invalid_grant() -> anyhow::Result<()> {
    let env = env(|c| c.token_lifetime_secs = 7200).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let grant = env.grant(Platform::X).await?;
    let user_id = grant.platform_user_id.clone();
    let account = h.connect_account(scope, grant).await?.id;
    let mut posts = Vec::new();
    for i in 0..24 {
        let at = start_time() + SignedDuration::from_mins(30 + i * 120);
        posts.push(
            h.create_post(scope, post_at(&format!("t{i}"), vec![account], at))
                .await?
                .post
                .id,
        );
    }
    let all_published = || async {
        let mut ok = true;
        for id in &posts {
            ok &= h
                .get_post(scope, *id)
                .await
                .unwrap()
                .deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Published);
        }
        ok
    };
    let done = run_until(
        &env,
        &h,
        SignedDuration::from_mins(10),
        Duration::from_secs(40),
        all_published,
    )
    .await;
    assert!(done, "not every post of the two days published");
    let stats = env.sandbox.stats();
    assert_eq!(
        stats.rejected_token_expired, 0,
        "a publish used an expired token"
    );
    assert_eq!(
        stats.refresh_rejected, 0,
        "a refresh token was lost or reused"
    );
    assert!(
        stats.refreshes >= 20,
        "tokens were not refreshed ({})",
        stats.refreshes
    );

    env.sandbox.invalidate_grant(Platform::X, &user_id);
    let later = env.clock_now() + SignedDuration::from_hours(3);
    let post = h
        .create_post(scope, post_at("after revoke", vec![account], later))
        .await?
        .post
        .id;
    let held = run_until(
        &env,
        &h,
        SignedDuration::from_mins(10),
        Duration::from_secs(20),
        || async {
            h.get_post(scope, post)
                .await
                .unwrap()
                .deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Held)
        },
    )
    .await;
    assert!(held, "delivery not held after invalid_grant");
    let d = &h.get_post(scope, post).await?.deliveries[0];
    assert_eq!(
        d.last_error.as_ref().unwrap().code,
        "account_needs_reconnect"
    );
    let acc = env
        .store
        .get_account(scope.account(account))
        .await?
        .unwrap();
    assert_eq!(acc.status, AccountStatus::NeedsReconnect);
    assert!(
        h.recent_events()
            .iter()
            .any(|e| e.kind == EventKind::AccountNeedsReconnect)
    );
    engine.shutdown().await;
    Ok(())
}
