//! A pending webhook attempt survives a dispatcher restart: the outbox is in the store.

mod common;
mod webhooks_support;

use std::sync::Arc;

use engine::vault::TokenVault;
use engine::webhooks::{NewEndpoint, WebhookConfig};
use jiff::{SignedDuration, Timestamp};
use schema::WorkspaceScope;
use secrecy::ExposeSecret;
use tenants::{Clock, ManualClock, MasterKeyring, WorkspaceId};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use webhooks_support::{Mode, Receiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_pending_attempts_survive_a_dispatcher_restart() {
    let (store, _dir) = common::temp_store().await;
    let clock = ManualClock::new(Timestamp::now());
    let shared: tenants::SharedClock = Arc::new(clock.clone());
    let vault = Arc::new(TokenVault::new(
        store.clone(),
        Arc::new(MasterKeyring::generate("mk").unwrap()),
    ));
    let config = WebhookConfig {
        allow_private_targets: true,
        ..WebhookConfig::default()
    };
    let scope = WorkspaceScope::authorized(WorkspaceId::new());
    let receiver = Receiver::start(clock.clone()).await;
    receiver.set_mode(Mode::Down);
    let (_events_tx, events_rx) = broadcast::channel(8);
    let first_cancel = CancellationToken::new();
    let first = engine::webhooks::start(
        store.clone(),
        vault.clone(),
        shared.clone(),
        config.clone(),
        events_rx,
        first_cancel.clone(),
    )
    .unwrap();
    let new = NewEndpoint {
        url: receiver.url.clone(),
        events: vec!["import.completed".into()],
        description: None,
    };
    let (endpoint, secret) = first.create(scope, new).await.unwrap();
    receiver.set_secrets(&[secret.expose_secret()]);
    first
        .publish(scope, "import.completed", serde_json::json!({"rows": 3}))
        .await
        .unwrap();
    first.tick().await.unwrap();
    assert_eq!(receiver.seen(|s| s.num_requests), 1);
    first_cancel.cancel();

    receiver.set_mode(Mode::Up);
    let (_events_tx, events_rx) = broadcast::channel(8);
    let cancel = CancellationToken::new();
    let second = engine::webhooks::start(
        store.clone(),
        vault,
        shared,
        config,
        events_rx,
        cancel.clone(),
    )
    .unwrap();
    clock.advance(SignedDuration::from_secs(3));
    second.tick().await.unwrap();
    assert_eq!(
        receiver.seen(|s| s.accepted.len()),
        0,
        "the retry is not due yet"
    );
    clock.advance(SignedDuration::from_secs(3));
    second.tick().await.unwrap();
    receiver.seen(|s| {
        assert_eq!(s.accepted.len(), 1);
        assert_eq!(s.num_bad_signatures, 0);
    });
    let log = second
        .deliveries(scope, endpoint.id, schema::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(log.items.len(), 2);
    assert_eq!(log.items[0].status_code, Some(200));
    assert_eq!(log.items[1].status_code, Some(503));
    assert!(clock.now() > Timestamp::UNIX_EPOCH);
    cancel.cancel();
    receiver.stop();
}
