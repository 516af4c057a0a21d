//! No committed state change loses its webhook: events are logged durably and the webhook feed
//! reads the log, so an overflowing in-memory broadcast loses nothing, and an engine that stops
//! after a post's status changed but before the webhook was fanned out still has it delivered,
//! exactly once per endpoint and with the same `webhook-id`, by the next engine on the store.

mod common;
mod webhook_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, env, post_at, run_until, start_time};
use engine::adapters::{OutstandPartner, VaultCredentials};
use engine::partner::OutstandClient;
use engine::vault::TokenVault;
use engine::webhooks::NewEndpoint;
use engine::webhooks::feed::CONSUMER;
use engine::{Engine, EngineHandle};
use futures::StreamExt;
use jiff::SignedDuration;
use schema::{EventCursor, WorkspaceScope, event_bucket, hour_bucket};
use secrecy::{ExposeSecret, SecretString};
use tenants::{MasterKeyring, Platform, PostStatus, SharedClock};
use tokio::sync::broadcast::error::TryRecvError;
use webhook_support::Receiver;

/// Subscribes a new loopback receiver to `events`; returns it with its secret.
async fn subscribe(
    h: &EngineHandle,
    scope: WorkspaceScope,
    events: &[&str],
) -> anyhow::Result<(Receiver, String)> {
    let hooks = h.webhooks()?.clone();
    hooks.set_allow_private_targets(true);
    let receiver = Receiver::start().await;
    let (_, secret) = hooks
        .create(
            scope,
            NewEndpoint {
                url: receiver.url.clone(),
                events: events.iter().map(|e| (*e).to_owned()).collect(),
                description: None,
            },
        )
        .await?;
    Ok((receiver, secret.expose_secret().to_owned()))
}

/// Collects deliveries until `n` distinct webhook ids arrived or `wait` passed; every signature
/// is checked. Returns how often each id arrived and each id's event type.
async fn collect(
    receiver: &mut Receiver,
    secret: &str,
    n: usize,
    wait: Duration,
) -> (BTreeMap<String, usize>, BTreeMap<String, String>) {
    let mut seen = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    let deadline = Instant::now() + wait;
    while seen.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(got) = receiver.next(left).await else {
            break;
        };
        tenants::webhook_signature::verify(
            &[secret],
            got.header("webhook-id"),
            got.header("webhook-timestamp"),
            got.header("webhook-signature"),
            &got.body,
            got.header("webhook-timestamp").parse().unwrap_or_default(),
            300,
        )
        .expect("signature verifies");
        let id = got.header("webhook-id").to_owned();
        kinds.insert(
            id.clone(),
            got.json()["type"].as_str().unwrap_or("").to_owned(),
        );
        *seen.entry(id).or_insert(0) += 1;
    }
    (seen, kinds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_broadcast_overflow_loses_no_webhook() -> anyhow::Result<()> {
    const POSTS: usize = 1_300;
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::Linkedin).await?)
        .await?
        .id;
    let (mut receiver, secret) = subscribe(&h, scope, &["post.scheduled"]).await?;
    // A subscriber that reads nothing until the end: the broadcast (1024 slots) overflows it.
    let mut slow = h.subscribe_events();

    let at = start_time() + SignedDuration::from_hours(5);
    let created: Vec<anyhow::Result<_>> = futures::stream::iter(0..POSTS)
        .map(|i| {
            let h = h.clone();
            async move {
                let post = h
                    .create_post(scope, post_at(&format!("p{i}"), vec![account], at))
                    .await?;
                anyhow::Ok(post.post.id)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let posts: BTreeSet<_> = created.into_iter().collect::<Result<_, _>>()?;
    assert_eq!(posts.len(), POSTS);
    let mut lagged = false;
    loop {
        match slow.try_recv() {
            Err(TryRecvError::Lagged(_)) => lagged = true,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(lagged, "the in-memory broadcast overflowed");

    let (seen, kinds) = collect(&mut receiver, &secret, POSTS, Duration::from_secs(90)).await;
    assert_eq!(seen.len(), POSTS, "one webhook per post, none lost");
    assert!(seen.values().all(|n| *n == 1), "no webhook arrived twice");
    assert!(kinds.values().all(|k| k == "post.scheduled"));
    assert!(
        receiver.next(Duration::from_millis(300)).await.is_none(),
        "nothing more"
    );
    engine.shutdown().await;
    Ok(())
}

/// The engine without its webhook subsystem (no feed, no dispatcher), on `env`'s store: what is
/// left of a process that dies after a state change and before its webhook is fanned out.
async fn engine_without_webhooks(env: &Env) -> anyhow::Result<Engine> {
    let clock: SharedClock = Arc::new(env.clock.clone());
    let keys = Arc::new(MasterKeyring::parse(&env.master_keys)?);
    let vault = Arc::new(TokenVault::new(env.store.clone(), keys));
    let client = OutstandClient::new(
        &format!("{}/outstand/v1", env.sandbox.base_url()),
        SecretString::from("sandbox-outstand-key"),
        Duration::from_secs(5),
    )?;
    let partner = Arc::new(OutstandPartner::new(client, clock.clone()));
    let credentials = Arc::new(VaultCredentials::new(
        vault,
        env.oauth.clone(),
        clock.clone(),
    ));
    Ok(Engine::start_with(
        Env::tuning(),
        None,
        env.store.clone(),
        clock,
        partner,
        credentials,
    )
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_webhook_of_a_status_change_survives_a_crash_before_fan_out() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let scope = env.workspace().await?;

    // 1. Endpoints are registered (the engine then stops).
    let first = env.start(Env::tuning()).await?;
    let (mut one, one_secret) = subscribe(&first.handle(), scope, &["post.published"]).await?;
    let (mut two, two_secret) = subscribe(&first.handle(), scope, &["post.published"]).await?;
    first.shutdown().await;

    // 2. An engine publishes a post and stops before any webhook is fanned out.
    let crashed = engine_without_webhooks(&env).await?;
    let h = crashed.handle();
    let due = start_time() + SignedDuration::from_mins(2);
    let (_, post) = env.linkedin_post(&h, scope, "crash", due).await?;
    let store = env.store.clone();
    let published = run_until(
        &env,
        &h,
        SignedDuration::from_secs(30),
        Duration::from_secs(20),
        || {
            let store = store.clone();
            async move {
                store
                    .get_post(scope, post)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.status == PostStatus::Published)
            }
        },
    )
    .await;
    assert!(published, "the post was published");
    drop(crashed);
    // Its event is in the log, committed with the status.
    let bucket = hour_bucket(jiff::Timestamp::now());
    let mut logged = Vec::new();
    for b in [bucket - 1, bucket] {
        for e in env.store.events_in_bucket(b, None, 10_000).await? {
            if e.post_id == Some(post) && e.kind == "post.published" {
                logged.push(e);
            }
        }
    }
    assert_eq!(logged.len(), 1, "the status change logged its event once");
    let event_id = format!("evt_{}", logged[0].id.simple());

    // 3. The next engine on the store delivers it, once per endpoint, with the logged id. (Its
    // first attempts may run before loopback targets are allowed again; the retries on the
    // advancing clock then deliver.)
    let restarted = env.start(Env::tuning()).await?;
    let hooks = restarted.handle().webhooks()?.clone();
    hooks.set_allow_private_targets(true);
    let mut got_one = BTreeMap::new();
    let mut got_two = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while (got_one.is_empty() || got_two.is_empty()) && Instant::now() < deadline {
        hooks.tick().await?;
        let short = Duration::from_millis(200);
        got_one.append(&mut collect(&mut one, &one_secret, 1, short).await.0);
        got_two.append(&mut collect(&mut two, &two_secret, 1, short).await.0);
        env.clock.advance(SignedDuration::from_mins(6));
    }
    // Anything sent twice would arrive now.
    hooks.tick().await?;
    let short = Duration::from_millis(500);
    let (more_one, _) = collect(&mut one, &one_secret, 1, short).await;
    let (more_two, _) = collect(&mut two, &two_secret, 1, short).await;
    let expected = BTreeMap::from([(event_id.clone(), 1)]);
    assert_eq!(got_one, expected, "first endpoint: the logged event");
    assert_eq!(got_two, expected, "second endpoint: the logged event");
    assert!(more_one.is_empty() && more_two.is_empty(), "each once");
    restarted.shutdown().await;

    // 4. A feed that replays the log (its cursor lost) sends nothing twice.
    env.store
        .put_event_cursor(
            CONSUMER,
            &EventCursor {
                bucket: event_bucket(logged[0].id) - 1,
                after: None,
            },
        )
        .await?;
    let replayed = env.start(Env::tuning()).await?;
    let hooks = replayed.handle().webhooks()?.clone();
    hooks.set_allow_private_targets(true);
    for _ in 0..3 {
        hooks.tick().await?;
        env.clock.advance(SignedDuration::from_mins(6));
    }
    hooks.tick().await?;
    assert!(
        one.next(Duration::from_millis(500)).await.is_none(),
        "no duplicate"
    );
    assert!(
        two.next(Duration::from_millis(100)).await.is_none(),
        "no duplicate"
    );
    replayed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_post_status_left_behind_by_a_crash_is_recovered_with_its_webhook()
-> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let scope = env.workspace().await?;
    let first = env.start(Env::tuning()).await?;
    let h = first.handle();
    let (mut receiver, secret) = subscribe(&h, scope, &["post.published"]).await?;
    let due = start_time() + SignedDuration::from_hours(3);
    let (account, post) = env.linkedin_post(&h, scope, "left behind", due).await?;
    first.shutdown().await;

    // What a crash leaves after the delivery's durable `published` transition and before the
    // workspace recomputed the post: the delivery published, the post still scheduled.
    env.clock
        .advance(SignedDuration::from_hours(3) + SignedDuration::from_mins(1));
    let store = env.store.clone();
    let deliveries = store.list_deliveries_of_post(scope, post).await?;
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    let mut published = d.clone();
    published.state = tenants::DeliveryState::Published;
    published.partner_post_id = Some("partner-1".into());
    published.published_at = Some(env.clock_now());
    published.updated_at = env.clock_now();
    published.version += 1;
    let applied = store
        .transition(scope.account(account), d.version, &published)
        .await?;
    assert_eq!(applied, schema::CasOutcome::Applied);
    assert_eq!(
        store.get_post(scope, post).await?.map(|p| p.status),
        Some(PostStatus::Scheduled)
    );

    // The next engine recomputes the post and sends its webhook, once.
    let restarted = env.start(Env::tuning()).await?;
    let hooks = restarted.handle().webhooks()?.clone();
    hooks.set_allow_private_targets(true);
    let mut got = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.is_empty() && Instant::now() < deadline {
        hooks.tick().await?;
        let (g, k) = collect(&mut receiver, &secret, 1, Duration::from_millis(200)).await;
        got.extend(g);
        kinds.extend(k);
        env.clock.advance(SignedDuration::from_mins(6));
    }
    hooks.tick().await?;
    let (more, _) = collect(&mut receiver, &secret, 1, Duration::from_millis(500)).await;
    assert_eq!(got.len(), 1, "post.published delivered");
    assert!(got.values().all(|n| *n == 1) && more.is_empty(), "once");
    assert!(kinds.values().all(|k| k == "post.published"));
    assert_eq!(
        store.get_post(scope, post).await?.map(|p| p.status),
        Some(PostStatus::Published),
        "the post's status is recovered"
    );
    restarted.shutdown().await;
    Ok(())
}
