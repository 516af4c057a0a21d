//! Disconnect: tokens leave the store at once whatever the platform says, pending deliveries are
//! canceled with `account_disconnected`, and a revocation the platform could not take is queued
//! (still sealed) and retried until the platform is back.

mod common;

use common::{Env, env, post_at, start_time};
use engine::EventKind;
use jiff::SignedDuration;
use sandbox::Faults;
use schema::{PageRequest, RevokeState};
use tenants::{AccountStatus, DeliveryState, Platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_disconnect_with_platform_down_queues_revocation_and_retries_it() -> anyhow::Result<()>
{
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::Linkedin).await?)
        .await?
        .id;
    let later = start_time() + SignedDuration::from_hours(3);
    let post = h
        .create_post(scope, post_at("later", vec![account], later))
        .await?;
    env.sandbox.set_faults(Faults {
        revoke_down: true,
        ..Faults::default()
    });

    h.disconnect_account(scope, account).await?;

    let acc_scope = scope.account(account);
    assert!(
        env.store.get_tokens(acc_scope).await?.is_none(),
        "tokens kept"
    );
    let view = h.get_post(scope, post.post.id).await?;
    let d = &view.deliveries[0];
    assert_eq!(d.state, DeliveryState::Canceled);
    assert_eq!(
        d.last_error.as_ref().map(|e| e.code.as_str()),
        Some("account_disconnected")
    );
    let stored = env
        .store
        .get_account(acc_scope)
        .await?
        .expect("account row");
    assert_eq!(stored.status, AccountStatus::Disconnected);
    assert!(
        h.recent_events()
            .iter()
            .any(|e| e.kind == EventKind::AccountDisconnected && e.account_id == Some(account))
    );
    let queued = env
        .store
        .list_revoke_retries(scope, PageRequest::first(10))
        .await?
        .items;
    assert!(!queued.is_empty(), "no revocation queued");
    for r in &queued {
        assert_eq!(r.state, RevokeState::Pending);
        let sealed = r.token.as_ref().expect("queued token is kept sealed");
        let clear_in_store = env.sandbox.issued_secrets().iter().any(|s| {
            sealed
                .ciphertext
                .windows(s.len())
                .any(|w| w == s.as_bytes())
        });
        assert!(!clear_in_store, "a queued token is stored in clear");
    }
    assert!(env.sandbox.stats().revokes_unavailable >= 1);

    // Still down: the retry fails and stays queued.
    env.clock.advance(SignedDuration::from_hours(2));
    let pass = h.run_privacy_pass().await?;
    assert!(pass.revocations.num_failed >= 1 && pass.revocations.num_succeeded == 0);

    // Back up: the next due retry succeeds and the outcome is observable.
    env.sandbox.set_faults(Faults::default());
    env.clock.advance(SignedDuration::from_hours(2));
    let pass = h.run_privacy_pass().await?;
    assert_eq!(pass.revocations.num_succeeded as usize, queued.len());
    let settled = h.revocations(scope, account).await?;
    assert_eq!(settled.len(), queued.len());
    assert!(settled.iter().all(|r| r.state == RevokeState::Succeeded));
    let rows = env
        .store
        .list_revoke_retries(scope, PageRequest::first(10))
        .await?
        .items;
    assert!(rows.iter().all(|r| r.token.is_none()), "settled token kept");
    assert_eq!(env.sandbox.stats().revokes as usize, queued.len());
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_disconnect_with_platform_up_revokes_at_once() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::Linkedin).await?)
        .await?
        .id;
    h.disconnect_account(scope, account).await?;
    assert!(
        env.store
            .get_tokens(scope.account(account))
            .await?
            .is_none()
    );
    let revocations = h.revocations(scope, account).await?;
    assert!(!revocations.is_empty());
    assert!(
        revocations
            .iter()
            .all(|r| r.state == RevokeState::Succeeded)
    );
    assert_eq!(env.sandbox.stats().revokes as usize, revocations.len());
    assert_eq!(env.sandbox.stats().revokes_unavailable, 0);
    engine.shutdown().await;
    Ok(())
}
