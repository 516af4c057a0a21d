//! The webhook fan-out benchmark: events published through the real webhook subsystem (outbox
//! on the embedded redb store, the real dispatcher, signing and attempt log) to loopback
//! receivers, small axum servers in this process that answer 200, record when each delivery
//! arrived and verify the signature of a sample. Reports deliveries per second and the latency
//! from publication (before the event-log write) to receipt: log, feed, outbox, dispatch.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use engine::vault::TokenVault;
use engine::webhooks::{self, NewEndpoint, WebhookConfig, WebhookHandle};
use schema::{Store, WorkspaceScope};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tenants::{MasterKeyring, SharedClock, SystemClock, WorkspaceId};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::engine_env::{bounded, open_store};
use crate::lateness;

/// Every how many arrivals a signature is verified.
const VERIFY_EVERY: u64 = 100;
/// Publications kept in flight (the store group-commits their outbox writes).
const PUBLISH_CONCURRENCY: usize = 64;

/// The scenario's size.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Events published.
    pub num_events: usize,
    /// Loopback receivers, one endpoint each.
    pub num_receivers: usize,
    /// Every event goes to every receiver (one workspace with all endpoints) instead of each
    /// event to one receiver (one workspace per receiver, events spread round robin).
    pub fanout_all: bool,
    /// Dispatcher attempts in flight.
    pub max_in_flight: usize,
    /// How long to wait for the last delivery.
    pub max_wait: Duration,
}

/// What every receiver shares.
struct Receipts {
    epoch: Instant,
    expected: u64,
    num_arrivals: AtomicU64,
    num_verified: AtomicU64,
    num_bad_signatures: AtomicU64,
    latencies_us: Mutex<Vec<i64>>,
    event_ids: Mutex<HashSet<String>>,
    last_arrival_us: AtomicU64,
    all_in: Notify,
}

/// One receiver's state: the shared receipts and its endpoint's secret.
#[derive(Clone)]
struct Receiver {
    receipts: Arc<Receipts>,
    secret: Arc<OnceLock<String>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now_us = r.receipts.epoch.elapsed().as_micros() as i64;
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let receipts = &r.receipts;
    let n = receipts.num_arrivals.fetch_add(1, Ordering::Relaxed) + 1;
    if n % VERIFY_EVERY == 1 {
        let secret = r.secret.get().map(String::as_str).unwrap_or_default();
        let now = jiff::Timestamp::now().as_second();
        let ok = tenants::webhook_signature::verify(
            &[secret],
            h("webhook-id"),
            h("webhook-timestamp"),
            h("webhook-signature"),
            &body,
            now,
            300,
        )
        .is_ok();
        receipts.num_verified.fetch_add(1, Ordering::Relaxed);
        if !ok {
            receipts.num_bad_signatures.fetch_add(1, Ordering::Relaxed);
        }
    }
    let published_us = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["data"]["published_us"].as_i64());
    if let Some(p) = published_us {
        receipts
            .latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(now_us - p);
    }
    receipts
        .event_ids
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(format!("{}/{}", h("webhook-id"), h("host")));
    receipts
        .last_arrival_us
        .fetch_max(now_us as u64, Ordering::Relaxed);
    if n >= receipts.expected {
        receipts.all_in.notify_one();
    }
    StatusCode::OK
}

/// Starts a receiver on 127.0.0.1:0; returns its URL.
async fn start_receiver(state: Receiver, cancel: CancellationToken) -> anyhow::Result<String> {
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
    });
    Ok(url)
}

/// Runs the scenario and returns the report body.
pub async fn run(shape: Shape) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = open_store(&dir.path().join("store.redb")).await?;
    let keyring = Arc::new(MasterKeyring::generate("bench-master")?);
    let vault = Arc::new(TokenVault::new(store.clone(), keyring));
    let clock: SharedClock = Arc::new(SystemClock);
    let cancel = CancellationToken::new();
    // No engine events: the benchmark publishes through the handle, as the importer does.
    let (_events_tx, events_rx) = broadcast::channel(16);
    let config = WebhookConfig {
        allow_private_targets: true,
        max_in_flight: shape.max_in_flight,
        ..WebhookConfig::default()
    };
    let hooks = webhooks::start(store, vault, clock, config, events_rx, cancel.clone())?;

    let num_receivers = shape.num_receivers.max(1);
    let per_event = if shape.fanout_all { num_receivers } else { 1 };
    let expected = (shape.num_events * per_event) as u64;
    let receipts = Arc::new(Receipts {
        epoch: Instant::now(),
        expected,
        num_arrivals: AtomicU64::new(0),
        num_verified: AtomicU64::new(0),
        num_bad_signatures: AtomicU64::new(0),
        latencies_us: Mutex::new(Vec::with_capacity(expected as usize)),
        event_ids: Mutex::new(HashSet::with_capacity(expected as usize)),
        last_arrival_us: AtomicU64::new(0),
        all_in: Notify::new(),
    });
    let shared_ws = WorkspaceScope::authorized(WorkspaceId::new());
    let mut scopes = Vec::new();
    for _ in 0..num_receivers {
        let state = Receiver {
            receipts: receipts.clone(),
            secret: Arc::new(OnceLock::new()),
        };
        let url = start_receiver(state.clone(), cancel.clone()).await?;
        let scope = if shape.fanout_all {
            shared_ws
        } else {
            WorkspaceScope::authorized(WorkspaceId::new())
        };
        let endpoint = NewEndpoint {
            url,
            events: vec!["post.published".to_owned()],
            description: Some("bench receiver".to_owned()),
        };
        let (_, secret) = hooks.create(scope, endpoint).await?;
        let _ = state.secret.set(secret.expose_secret().to_owned());
        if !shape.fanout_all || scopes.is_empty() {
            scopes.push(scope);
        }
    }

    let publish_started = receipts.epoch.elapsed();
    let jobs = (0..shape.num_events).map(|i| {
        let hooks: WebhookHandle = hooks.clone();
        let scope = scopes[i % scopes.len()];
        let epoch = receipts.epoch;
        async move {
            let data = json!({
                "seq": i,
                "published_us": epoch.elapsed().as_micros() as i64,
            });
            hooks
                .publish(scope, "post.published", data)
                .await
                .context("publish")?;
            anyhow::Ok(())
        }
    });
    bounded(PUBLISH_CONCURRENCY, jobs).await?;
    let publish_secs = (receipts.epoch.elapsed() - publish_started).as_secs_f64();

    let all_in = tokio::time::timeout(shape.max_wait, async {
        while receipts.num_arrivals.load(Ordering::Relaxed) < expected {
            tokio::select! {
                () = receipts.all_in.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
    .await
    .is_ok();
    cancel.cancel();

    let num_arrivals = receipts.num_arrivals.load(Ordering::Relaxed);
    let num_unique = receipts
        .event_ids
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .len();
    let last_us = receipts.last_arrival_us.load(Ordering::Relaxed) as f64;
    let span_secs = (last_us / 1e6 - publish_started.as_secs_f64()).max(1e-9);
    let latencies = std::mem::take(
        &mut *receipts
            .latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    Ok(json!({
        "scenario": "webhook-fanout",
        "num_events": shape.num_events,
        "num_receivers": num_receivers,
        "fanout_all": shape.fanout_all,
        "max_in_flight": shape.max_in_flight,
        "expected_deliveries": expected,
        "num_arrivals": num_arrivals,
        "num_unique_deliveries": num_unique,
        "all_delivered": all_in,
        "publish_secs": publish_secs,
        "events_published_per_sec": shape.num_events as f64 / publish_secs.max(1e-9),
        "first_publish_to_last_receipt_secs": span_secs,
        "deliveries_per_sec": num_arrivals as f64 / span_secs,
        "num_signatures_verified": receipts.num_verified.load(Ordering::Relaxed),
        "num_bad_signatures": receipts.num_bad_signatures.load(Ordering::Relaxed),
        "publication_to_receipt": lateness::summary(latencies),
    }))
}
