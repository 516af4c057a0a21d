//! Outstand-style webhooks from the sandbox: when a simulated post's accounts settle (on the
//! sandbox clock), `post.published` (at least one account published) or `post.error` (every
//! account failed) is posted to the configured URL as `{event, timestamp, data}`, signed with
//! `X-Outstand-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body), and retried up to 5 times.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Shared;
use crate::posts::ListFilter;

/// Where and how webhooks are sent, and which were sent already.
#[derive(Debug)]
pub(crate) struct WebhookSender {
    url: String,
    secret: String,
    http: reqwest::Client,
    /// Post id -> event already sent for it.
    sent: Mutex<HashMap<String, &'static str>>,
}

/// The signature header value for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSender {
    /// A sender to `url` signing with `secret`.
    pub(crate) fn new(url: String, secret: String) -> Self {
        // reqwest is built without a default TLS provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            url,
            secret,
            http,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// The events due now: one per post whose accounts settled since the last call.
    fn due(&self, state: &Shared) -> Vec<Value> {
        let now = state.now();
        let filter = ListFilter {
            social_account_id: None,
            idempotency_key: None,
            limit: usize::MAX,
            offset: 0,
        };
        let (posts, _) = state.posts().list(&filter, now);
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for post in posts {
            let id = post["id"].as_str().unwrap_or_default().to_owned();
            let accounts = post["socialAccounts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let any_published = accounts.iter().any(|a| a["status"] == "published");
            let all_failed =
                !accounts.is_empty() && accounts.iter().all(|a| a["status"] == "failed");
            let event = match (any_published, all_failed) {
                (true, _) => "post.published",
                (false, true) => "post.error",
                _ => continue,
            };
            if sent.get(&id) == Some(&event) {
                continue;
            }
            sent.insert(id.clone(), event);
            let social: Vec<Value> = accounts
                .iter()
                .map(|a| {
                    json!({
                        "accountId": a["id"], "network": a["network"], "username": a["username"],
                        "platformPostId": a["platformPostId"], "status": a["status"], "error": a["error"],
                    })
                })
                .collect();
            out.push(json!({
                "event": event,
                "timestamp": now.to_string(),
                "data": {"postId": id, "orgId": post["orgId"], "publishedAt": post["publishedAt"],
                         "socialAccounts": social},
            }));
        }
        out
    }

    /// Sends every event due now; returns how many were acknowledged with a 2xx.
    pub(crate) async fn flush(&self, state: &Shared) -> usize {
        let mut delivered = 0;
        for event in self.due(state) {
            let body = event.to_string();
            let signature = sign(&self.secret, body.as_bytes());
            for attempt in 0..5u32 {
                let sent = self
                    .http
                    .post(&self.url)
                    .header("content-type", "application/json")
                    .header("user-agent", "Outstand-Webhooks/1.0")
                    .header("x-outstand-signature", &signature)
                    .body(body.clone())
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    delivered += 1;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
        delivered
    }
}

/// Flushes every 250 ms (real time) until the sandbox shuts down, unless webhooks are held. Does
/// nothing without a URL.
pub(crate) fn spawn_loop(state: Shared, mut shutdown_rx: tokio::sync::watch::Receiver<bool>) {
    if state.webhooks.is_none() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown_rx.changed() => return,
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            let held = state.faults().faults.hold_webhooks;
            if let Some(sender) = state.webhooks.as_ref().filter(|_| !held) {
                sender.flush(&state).await;
            }
        }
    });
}
