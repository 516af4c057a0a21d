//! A degraded account is persisted as such and its deliveries are held with a reason instead of
//! waiting silently; reconnecting releases them. Edits re-validate the post's content.

mod common;

use std::time::Duration;

use common::{Env, env, post_at, run_until, start_time};
use engine::{EngineError, PostPatch};
use jiff::SignedDuration;
use tenants::{AccountStatus, DeliveryState, Platform};

async fn wait_for<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < until {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_degraded_account_holds_deliveries_until_reconnected() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let grant = env.grant(Platform::Threads).await?;
    let account = h.connect_account(scope, grant).await?.id;
    let at = start_time() + SignedDuration::from_mins(20);
    let post = h
        .create_post(scope, post_at("p", vec![account], at))
        .await?
        .post
        .id;
    for _ in 0..10 {
        let degraded = h
            .observe()
            .accounts
            .iter()
            .any(|a| a.account_id == account && a.degraded);
        if degraded {
            break;
        }
        let _ = h.inject_account_panic(scope, account).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let held = wait_for(|| async {
        let d = &h.get_post(scope, post).await.unwrap().deliveries[0];
        d.state == DeliveryState::Held
            && d.last_error
                .as_ref()
                .is_some_and(|e| e.code == "account_degraded" && e.message.contains("reconnect"))
    })
    .await;
    assert!(held, "deliveries of a degraded account were left scheduled");
    let stored = env
        .store
        .get_account(scope.account(account))
        .await?
        .expect("account");
    assert_eq!(stored.status, AccountStatus::Degraded);
    assert!(stored.status_reason.is_some());

    // Reconnecting the account (same platform user id, fresh sandbox grant) makes it active and
    // publishes the held post.
    let mut again = env.grant(Platform::Threads).await?;
    again.platform_user_id = stored.platform_user_id.clone();
    h.connect_account(scope, again).await?;
    let published = run_until(
        &env,
        &h,
        SignedDuration::from_mins(10),
        Duration::from_secs(20),
        || async {
            h.get_post(scope, post).await.unwrap().deliveries[0].state == DeliveryState::Published
        },
    )
    .await;
    let d = h.get_post(scope, post).await?.deliveries[0].clone();
    assert!(
        published,
        "held delivery was not released by the reconnect: {d:?}"
    );
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_patch_revalidates_caption_and_media() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::X).await?)
        .await?
        .id;
    let at = start_time() + SignedDuration::from_hours(2);
    let post = h
        .create_post(scope, post_at("ok", vec![account], at))
        .await?
        .post
        .id;
    let too_long = PostPatch {
        caption: Some("x".repeat(10_000)),
        ..PostPatch::default()
    };
    assert!(matches!(
        h.update_post(scope, post, too_long).await,
        Err(EngineError::Validation(_))
    ));
    let unknown_media = PostPatch {
        media_ids: Some(vec![tenants::MediaId::new()]),
        ..PostPatch::default()
    };
    match h.update_post(scope, post, unknown_media).await {
        Err(EngineError::Validation(errors)) => {
            assert!(errors.iter().any(|e| e.field == "media_ids[0]"))
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let urls = PostPatch {
        media_urls: Some(vec!["https://cdn.example/a.png".into()]),
        ..PostPatch::default()
    };
    let view = h.update_post(scope, post, urls).await?;
    assert_eq!(
        view.post.media_urls,
        vec!["https://cdn.example/a.png".to_owned()]
    );
    assert_eq!(h.get_post(scope, post).await?.post.caption, "ok");
    engine.shutdown().await;
    Ok(())
}
