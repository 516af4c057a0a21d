//! `Idempotency-Key` on POST and PATCH (draft-ietf-httpapi-idempotency-key-header, as Stripe
//! does it). The key (quoted or bare, at most 255 visible ASCII characters) is scoped by the
//! principal, the method and the request path, and bound to a SHA-256 fingerprint of the body
//! (canonical JSON: object keys sorted, whitespace ignored).
//!
//! - first request: claimed in the `IdempotencyStore`, run, its status and body stored for the
//!   configured TTL (24 h by default); a 5xx is not stored, so it can be retried;
//! - same key, same body: the stored response is replayed with `Idempotency-Replayed: true`;
//! - same key, different body: 422 `idempotency_key_reused`;
//! - same key while the first is still running: 409 `idempotency_key_in_use` with `Retry-After`.
//!
//! Requests without the header run normally.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use schema::{IdempotencyClaim, Store, StoredResponse};

use crate::auth::{Principal, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header marking a replayed response.
pub const IDEMPOTENCY_REPLAYED: &str = "idempotency-replayed";
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// Parses the header value: a structured-field string (`"abc"`) or a bare token (`abc`).
///
/// # Errors
/// 400 `invalid_idempotency_key` for empty, overlong or non-printable keys.
pub fn parse_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let invalid = |why: &str| ApiError::BadRequest {
        code: "invalid_idempotency_key",
        detail: format!("`Idempotency-Key` {why}"),
        errors: vec![crate::error::FieldIssue::new("Idempotency-Key", why)],
    };
    let text = raw
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?
        .trim();
    let key = match text.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| invalid("has an unterminated quote"))?,
        None => text,
    };
    if key.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(invalid("must be at most 255 characters"));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    {
        return Err(invalid(
            "must be visible ASCII without quotes or backslashes",
        ));
    }
    Ok(key.to_owned())
}

/// The namespaced key under which a request's record is stored: principal, method, path and
/// the client's key, hashed to a fixed length.
pub fn store_key(principal_id: &str, method: &Method, path: &str, key: &str) -> String {
    format!(
        "idem:{}",
        sha256_hex(format!("{principal_id}\n{method}\n{path}\n{key}").as_bytes())
    )
}

/// SHA-256 of the body, in canonical form when it is JSON.
pub fn fingerprint(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            let mut out = String::new();
            canonical(&value, &mut out);
            sha256_hex(out.as_bytes())
        }
        Err(_) => sha256_hex(body),
    }
}

fn canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Releases a claim if the request is abandoned (client gone, panic) before completing.
struct ClaimGuard {
    store: Arc<dyn Store>,
    key: Option<String>,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let (Some(key), Ok(runtime)) = (self.key.take(), tokio::runtime::Handle::try_current()) {
            let store = self.store.clone();
            runtime.spawn(async move {
                if let Err(err) = store.release_idempotency(&key).await {
                    tracing::warn!(error = %err, "could not release an abandoned idempotency claim");
                }
            });
        }
    }
}

/// Middleware applying idempotency to POST and PATCH under `/v1` (inside authentication).
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match run(state, request, next).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn run(state: AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    if !matches!(*request.method(), Method::POST | Method::PATCH) {
        return Ok(next.run(request).await);
    }
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY).iter();
    let Some(raw) = values.next() else {
        return Ok(next.run(request).await);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "send at most one `Idempotency-Key` header",
        ));
    }
    let key = parse_key(raw)?;
    let principal = request
        .extensions()
        .get::<Principal>()
        .map(Principal::id)
        .ok_or_else(|| ApiError::Unauthenticated("authentication required".to_owned()))?;
    let (parts, body) = request.into_parts();
    let limit = body_limit(&state, &parts.headers);
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit_bytes: limit })?;
    let store_key = store_key(&principal, &parts.method, parts.uri.path(), &key);
    let print = fingerprint(&bytes);
    let now = state.clock.now();
    let ttl = SignedDuration::try_from(state.config.idempotency_ttl)
        .map_err(|e| ApiError::Internal(format!("idempotency ttl: {e}")))?;
    let expires_at = now
        .checked_add(ttl)
        .map_err(|e| ApiError::Internal(format!("idempotency expiry: {e}")))?;
    match state
        .store
        .claim_idempotency(&store_key, &print, expires_at, now)
        .await?
    {
        IdempotencyClaim::Existing(record) if record.fingerprint != print => {
            Err(ApiError::Unprocessable {
                code: "idempotency_key_reused",
                detail: "this `Idempotency-Key` was already used with a different request body"
                    .to_owned(),
                errors: Vec::new(),
            })
        }
        IdempotencyClaim::Existing(record) => match record.response {
            None => Err(ApiError::Conflict {
                code: "idempotency_key_in_use",
                detail: "a request with this `Idempotency-Key` is still being processed".to_owned(),
                retry_after_secs: Some(1),
            }),
            Some(stored) => Ok(replay(stored)),
        },
        IdempotencyClaim::Claimed => {
            let mut guard = ClaimGuard {
                store: state.store.clone(),
                key: Some(store_key.clone()),
            };
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, usize::MAX)
                .await
                .map_err(|e| ApiError::Internal(format!("buffering response: {e}")))?;
            if parts.status.is_server_error() {
                state.store.release_idempotency(&store_key).await?;
            } else {
                let stored = StoredResponse {
                    status: parts.status.as_u16(),
                    body: body.to_vec(),
                    content_type: parts
                        .headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/json")
                        .to_owned(),
                };
                state
                    .store
                    .complete_idempotency(&store_key, &stored)
                    .await?;
            }
            guard.key = None;
            Ok(Response::from_parts(parts, Body::from(body)))
        }
    }
}

/// JSON bodies are capped at `max_body_bytes`; other bodies (media uploads) at
/// `max_media_bytes`, since they must be read whole to be fingerprinted.
fn body_limit(state: &AppState, headers: &axum::http::HeaderMap) -> usize {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        state.config.max_body_bytes
    } else {
        state
            .config
            .max_body_bytes
            .max(state.config.max_media_bytes)
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&stored.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(IDEMPOTENCY_REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_quoted_and_bare_keys_are_the_same_key() {
        let quoted = parse_key(&HeaderValue::from_static("\"abc-123\"")).expect("quoted");
        let bare = parse_key(&HeaderValue::from_static("abc-123")).expect("bare");
        assert_eq!(quoted, bare);
    }

    #[test]
    fn test_overlong_key_is_rejected() {
        let long = "k".repeat(256);
        assert!(parse_key(&HeaderValue::from_str(&long).expect("header")).is_err());
        let max = "k".repeat(255);
        assert!(parse_key(&HeaderValue::from_str(&max).expect("header")).is_ok());
    }

    #[test]
    fn test_fingerprint_ignores_key_order_and_whitespace() {
        assert_eq!(
            fingerprint(br#"{"a":1,"b":[1,2]}"#),
            fingerprint(br#"{ "b": [1, 2], "a": 1 }"#)
        );
        assert_ne!(fingerprint(br#"{"a":1}"#), fingerprint(br#"{"a":2}"#));
    }
}
