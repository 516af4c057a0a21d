//! `POST /partner/outstand/webhook`: webhooks from the publishing partner (`post.published`,
//! `post.error`, `account.token_expired`, `test`...). The raw body must carry a valid
//! `X-Outstand-Signature: sha256=<hex>` (HMAC-SHA256 with the configured secret, compared in
//! constant time), else 401 and nothing changes. Each event is applied once: its key
//! `<event>:<postId|accountId>:<timestamp>` is claimed in the idempotency store for 7 days.
//! The engine re-reads the post from the partner and applies only forward transitions.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use engine::webhooks::PartnerUpdate;
use hmac::{Hmac, Mac};
use schema::{IdempotencyClaim, StoredResponse};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::error::ApiError;
use crate::state::AppState;

/// How long an applied partner event is remembered, to drop its duplicates.
const DEDUPE_SECS: i64 = 7 * 24 * 3600;

/// The partner webhook route (public: authenticated by its signature).
pub fn router() -> Router<AppState> {
    Router::new().route("/partner/outstand/webhook", post(outstand_webhook))
}

fn signature_ok(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sig).is_ok()
}

/// A string or number field under any of `names` (the partner's casing varies).
fn field(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        let f = n.split('.').try_fold(v, |v, part| v.get(part))?;
        match f {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    })
}

fn accounts(data: &Value) -> Vec<String> {
    let list = data
        .get("socialAccounts")
        .or_else(|| data.get("social_accounts"))
        .and_then(Value::as_array);
    list.map(|l| {
        l.iter()
            .filter_map(|a| field(a, &["accountId", "account_id", "id"]))
            .collect()
    })
    .unwrap_or_default()
}

/// Receives one partner webhook.
#[utoipa::path(post, path = "/partner/outstand/webhook", tag = "partner",
    security(()),
    params(("X-Outstand-Signature" = String, Header, description = "`sha256=<hex>`: HMAC-SHA256 of the raw body with the shared secret")),
    request_body(content = Object, description = "The partner's event (`post.published`, `post.error`...)", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied, a duplicate, or about an unknown post", body = Object),
        (status = 400, body = crate::error::Problem),
        (status = 401, description = "Bad or missing signature; nothing changed", body = crate::error::Problem),
        (status = 503, description = "No partner webhook secret is configured", body = crate::error::Problem)))]
pub async fn outstand_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let secret = state.config.outstand_webhook_secret.expose_secret();
    if secret.is_empty() {
        return Err(ApiError::Unavailable(
            "partner webhooks are not configured".into(),
        ));
    }
    let header = headers
        .get("x-outstand-signature")
        .and_then(|v| v.to_str().ok());
    if !signature_ok(secret, header, &body) {
        return Err(ApiError::Unauthenticated(
            "bad or missing X-Outstand-Signature".into(),
        ));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("invalid_json", "the body is not JSON"))?;
    let event = field(&v, &["event", "type"]).unwrap_or_default();
    let data = v.get("data").cloned().unwrap_or(Value::Null);
    let post_id = field(&data, &["postId", "post_id", "post.id"]);
    let subject = post_id
        .clone()
        .or_else(|| field(&data, &["accountId", "account_id"]));
    let timestamp = field(&v, &["timestamp"]).unwrap_or_default();
    let key = format!(
        "partner-webhook:outstand:{event}:{}:{timestamp}",
        subject.unwrap_or_default()
    );
    let now = state.clock.now();
    let fingerprint = crate::auth::sha256_hex(&body);
    let expires_at = now + jiff::SignedDuration::from_secs(DEDUPE_SECS);
    let claim = state
        .store
        .claim_idempotency(&key, &fingerprint, expires_at, now)
        .await?;
    if let IdempotencyClaim::Existing(_) = claim {
        return Ok(Json(json!({"status": "duplicate"})));
    }
    let result = match (event.as_str(), post_id) {
        ("post.published" | "post.error", Some(partner_post_id)) => {
            let update = PartnerUpdate {
                event: event.clone(),
                partner_post_id,
                partner_account_ids: accounts(&data),
            };
            match state.engine() {
                Ok(engine) => engine
                    .apply_partner_update(update)
                    .await
                    .map(|o| json!({"status": "applied", "matched": o.num_matched, "applied": o.num_applied}))
                    .map_err(ApiError::from),
                Err(e) => Err(e),
            }
        }
        _ => Ok(json!({"status": "ignored"})),
    };
    match result {
        Ok(answer) => {
            let stored = StoredResponse {
                status: 200,
                body: answer.to_string().into_bytes(),
                content_type: "application/json".into(),
            };
            state.store.complete_idempotency(&key, &stored).await?;
            Ok(Json(answer))
        }
        Err(e) => {
            // Not applied: let the partner's retry try again.
            state.store.release_idempotency(&key).await?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_signature_must_match_the_raw_body() {
        let body = br#"{"event":"post.published"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_ok("s3cret", Some(&good), body));
        assert!(!signature_ok("other", Some(&good), body));
        assert!(!signature_ok(
            "s3cret",
            Some(&good),
            br#"{"event":"post.error"}"#
        ));
        assert!(!signature_ok("s3cret", None, body));
        assert!(!signature_ok("s3cret", Some("sha256=zz"), body));
    }

    #[test]
    fn test_fields_accept_the_partners_casings() {
        let data = json!({"post": {"id": "p1"}, "social_accounts": [{"account_id": 42}]});
        assert_eq!(
            field(&data, &["postId", "post_id", "post.id"]).as_deref(),
            Some("p1")
        );
        assert_eq!(accounts(&data), vec!["42".to_owned()]);
    }
}
