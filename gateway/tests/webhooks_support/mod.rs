//! A loopback webhook receiver for the webhook tests: verifies every signature against the
//! secrets it is told (on the shared manual clock), dedupes on `webhook-id`, and can be switched
//! down (503), gone (410) or up.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tenants::{Clock, ManualClock};
use tokio::task::JoinHandle;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 OK.
    Up,
    /// 503.
    Down,
    /// 410 Gone.
    Gone,
}

/// What the receiver saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Accepted events by `webhook-id`, with how many times each was accepted.
    pub accepted: HashMap<String, (u32, serde_json::Value)>,
    /// Requests received, in any mode.
    pub num_requests: u32,
    /// Requests whose signature did not verify.
    pub num_bad_signatures: u32,
    /// Every signature header received.
    pub signature_headers: Vec<String>,
}

struct Inner {
    mode: Mutex<Mode>,
    secrets: Mutex<Vec<String>>,
    seen: Mutex<Seen>,
    clock: ManualClock,
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1:0 verifying with the manual clock.
    pub async fn start(clock: ManualClock) -> Receiver {
        let inner = Arc::new(Inner {
            mode: Mutex::new(Mode::Up),
            secrets: Mutex::new(Vec::new()),
            seen: Mutex::new(Seen::default()),
            clock,
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, inner, server }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// The secrets a signature may match (any of them).
    pub fn set_secrets(&self, secrets: &[&str]) {
        *self.inner.secrets.lock().unwrap() = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.inner.seen.lock().unwrap())
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let secrets = inner.secrets.lock().unwrap().clone();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let now = inner.clock.now().as_second();
    let valid = tenants::webhook_signature::verify(&refs, &id, &ts, &sig, &body, now, 300).is_ok();
    let mode = *inner.mode.lock().unwrap();
    let mut seen = inner.seen.lock().unwrap();
    seen.num_requests += 1;
    seen.signature_headers.push(sig);
    if !valid {
        seen.num_bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    match mode {
        Mode::Down => StatusCode::SERVICE_UNAVAILABLE,
        Mode::Gone => StatusCode::GONE,
        Mode::Up => {
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let entry = seen.accepted.entry(id).or_insert((0, json));
            entry.0 += 1;
            StatusCode::OK
        }
    }
}
