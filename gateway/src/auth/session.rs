//! Browser sessions: creation after sign-in, the cookies that carry them, and the signed
//! short-lived cookie that carries a sign-in attempt's secrets from start to callback.
//!
//! The session cookie holds a random id (32 bytes); only its SHA-256 is stored. It is
//! `HttpOnly; Secure; SameSite=Lax`. A second, script-readable `csrf` cookie holds the CSRF
//! token that state-changing requests must echo in `X-CSRF-Token` (double submit); the session
//! stores that token's SHA-256 too.

use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use secrecy::ExposeSecret;
use sha2::Sha256;
use tenants::{Session, UserId};

use crate::auth::provider::PendingSignIn;
use crate::auth::{CSRF_COOKIE, SESSION_COOKIE, random_token, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;

/// The cookie holding a pending sign-in.
pub const SIGNIN_COOKIE: &str = "scrm_signin";
/// How long a sign-in attempt may take.
pub const SIGNIN_TTL_SECS: i64 = 600;

/// Where the client came from, for the session's security log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client IP address.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
}

fn cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    http_only: bool,
    path: &str,
) -> Result<HeaderValue, ApiError> {
    let http_only = if http_only { "; HttpOnly" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age_secs}; Secure; SameSite=Lax{http_only}"
    ))
    .map_err(|e| ApiError::Internal(format!("cookie header: {e}")))
}

/// Creates a session for `user_id` and returns the two `Set-Cookie` values.
///
/// # Errors
/// Store failures.
pub async fn start(
    state: &AppState,
    user_id: UserId,
    client: ClientInfo,
) -> Result<Vec<HeaderValue>, ApiError> {
    let session_id = random_token(32);
    let csrf = random_token(32);
    let now = state.clock.now();
    let ttl = SignedDuration::try_from(state.config.session_ttl)
        .map_err(|e| ApiError::Internal(format!("session ttl: {e}")))?;
    let session = Session {
        id_hash: sha256_hex(session_id.as_bytes()),
        user_id,
        csrf_hash: sha256_hex(csrf.as_bytes()),
        created_at: now,
        expires_at: now
            .checked_add(ttl)
            .map_err(|e| ApiError::Internal(format!("session expiry: {e}")))?,
        ip: client.ip,
        user_agent: client.user_agent.map(|ua| ua.chars().take(256).collect()),
    };
    state.store.put_session(&session).await?;
    let max_age = ttl.as_secs();
    Ok(vec![
        cookie(SESSION_COOKIE, &session_id, max_age, true, "/")?,
        cookie(CSRF_COOKIE, &csrf, max_age, false, "/")?,
    ])
}

/// `Set-Cookie` values that remove the session and CSRF cookies.
///
/// # Errors
/// Never in practice; header building is fallible in type only.
pub fn clear() -> Result<Vec<HeaderValue>, ApiError> {
    Ok(vec![
        cookie(SESSION_COOKIE, "", 0, true, "/")?,
        cookie(CSRF_COOKIE, "", 0, false, "/")?,
    ])
}

fn mac(state: &AppState) -> Result<Hmac<Sha256>, ApiError> {
    Hmac::<Sha256>::new_from_slice(state.config.cookie_secret.expose_secret().as_bytes())
        .map_err(|e| ApiError::Internal(format!("cookie key: {e}")))
}

/// The signed cookie carrying `pending` to the callback.
///
/// # Errors
/// Never in practice.
pub fn pending_cookie(state: &AppState, pending: &PendingSignIn) -> Result<HeaderValue, ApiError> {
    let payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(pending)
            .map_err(|e| ApiError::Internal(format!("pending sign-in: {e}")))?,
    );
    let mut mac = mac(state)?;
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    cookie(
        SIGNIN_COOKIE,
        &format!("{payload}.{signature}"),
        SIGNIN_TTL_SECS,
        true,
        "/auth",
    )
}

/// A `Set-Cookie` value removing the pending sign-in cookie.
///
/// # Errors
/// Never in practice.
pub fn clear_pending() -> Result<HeaderValue, ApiError> {
    cookie(SIGNIN_COOKIE, "", 0, true, "/auth")
}

/// Reads and checks the pending sign-in cookie: signature, expiry.
///
/// # Errors
/// 400 `signin_expired` when it is missing, forged or expired.
pub fn read_pending(state: &AppState, value: Option<String>) -> Result<PendingSignIn, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "signin_expired",
            "this sign-in attempt is unknown or expired; start again",
        )
    };
    let value = value.ok_or_else(invalid)?;
    let (payload, signature) = value.split_once('.').ok_or_else(invalid)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
    let mut mac = mac(state)?;
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| invalid())?;
    let pending: PendingSignIn = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    if pending.expires_at < state.clock.now().as_second() {
        return Err(invalid());
    }
    Ok(pending)
}
