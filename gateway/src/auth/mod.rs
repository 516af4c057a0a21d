//! Authentication: who is calling. A request to `/v1` carries either `Authorization: Bearer
//! <api key>` (looked up by its SHA-256 via the `KeyStore`) or the session cookie set by Google
//! or X sign-in (looked up by its SHA-256 via the `SessionStore`). [`authenticate`] resolves the
//! [`Principal`], enforces CSRF on state-changing cookie requests and the age gate, and hands the
//! principal to handlers; [`authorizer`] then turns a principal and a `{ws}` path segment into a
//! `WorkspaceScope`.

pub mod age;
pub mod authorizer;
pub mod id_token;
pub mod provider;
pub mod session;
pub mod signin;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tenants::{ApiKeyMeta, Scope, User, UserId, WorkspaceId};

use crate::error::ApiError;
use crate::state::AppState;

pub use authorizer::{Permission, WorkspaceAccess};

/// The HttpOnly cookie holding the session id.
pub const SESSION_COOKIE: &str = "scrm_session";
/// The script-readable cookie holding the CSRF token (double submit).
pub const CSRF_COOKIE: &str = "csrf";
/// The header a state-changing cookie request must echo the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A key's `last_used_at` is written at most this often, to keep reads from becoming writes.
const TOUCH_INTERVAL: SignedDuration = SignedDuration::from_secs(60);

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `n` random bytes from the OS, base64url without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine as _;
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// Constant-time string equality.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Who is calling: a person (session or their API key) or an instance key.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The person, for a session or a user-owned key.
    pub user: Option<User>,
    /// The API key, when the request used one.
    pub key: Option<ApiKeyMeta>,
    /// The session's id hash, when the request used the session cookie.
    pub session_id_hash: Option<String>,
}

impl Principal {
    /// A stable id of the credential's owner, used to scope idempotency keys: the key for API
    /// keys, the user for sessions.
    pub fn id(&self) -> String {
        match (&self.key, &self.user) {
            (Some(key), _) => format!("key:{}", key.id),
            (None, Some(user)) => format!("user:{}", user.id),
            (None, None) => "anonymous".to_owned(),
        }
    }

    /// The person behind the request, if any.
    pub fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().map(|u| u.id)
    }

    /// Whether the credential is an instance administrator's.
    pub fn is_instance_admin(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.instance_admin)
            || (self.key.is_none() && self.user.as_ref().is_some_and(|u| u.instance_admin))
    }

    /// Whether the credential's scopes allow `scope`. Sessions and keys without scopes may do
    /// whatever the person may; the `admin` scope implies every other.
    pub fn has_scope(&self, scope: Scope) -> bool {
        match &self.key {
            None => true,
            Some(key) => {
                key.scopes.is_empty()
                    || key.scopes.contains(&scope)
                    || key.scopes.contains(&Scope::Admin)
            }
        }
    }

    /// 403 unless [`Principal::has_scope`].
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] with code `insufficient_scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_scope",
                format!("this API key lacks the `{}` scope", scope_name(scope)),
            ))
        }
    }

    /// Whether the key's workspace list (if any) includes `ws`.
    pub fn key_allows(&self, ws: WorkspaceId) -> bool {
        match self.key.as_ref().and_then(|k| k.workspace_ids.as_ref()) {
            None => true,
            Some(list) => list.contains(&ws),
        }
    }
}

/// The wire name of a scope.
pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Read => "read",
        Scope::PostsWrite => "posts_write",
        Scope::AccountsWrite => "accounts_write",
        Scope::WebhooksWrite => "webhooks_write",
        Scope::Admin => "admin",
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthenticated("authentication required".to_owned()))
    }
}

/// Middleware on every `/v1` route: resolves the principal or answers 401/403.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match resolve(&state, request.headers(), request.method()).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    if let Err(err) = age::gate(&state, &principal, request.method(), request.uri().path()) {
        return err.into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Principal, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthenticated("expected `Authorization: Bearer <api key>`".to_owned())
            })?;
        return resolve_key(state, token).await;
    }
    if let Some(session_id) = cookie_value(headers, SESSION_COOKIE) {
        return resolve_session(state, headers, method, &session_id).await;
    }
    Err(ApiError::Unauthenticated(
        "authentication required: send `Authorization: Bearer <api key>` or sign in".to_owned(),
    ))
}

async fn resolve_key(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::Unauthenticated("invalid or revoked API key".to_owned());
    let key = state
        .store
        .get_api_key_by_hash(&sha256_hex(token.as_bytes()))
        .await?
        .ok_or_else(invalid)?;
    let user = match key.owner {
        Some(owner) => Some(active_user(state, owner).await?.ok_or_else(invalid)?),
        None => None,
    };
    let now = state.clock.now();
    let stale = key
        .last_used_at
        .is_none_or(|at| now.duration_since(at) >= TOUCH_INTERVAL);
    if stale {
        if let Err(err) = state.store.touch_api_key(key.id, now).await {
            tracing::warn!(key_id = %key.id, error = %err, "could not record api key use");
        }
    }
    Ok(Principal {
        user,
        key: Some(key),
        session_id_hash: None,
    })
}

pub(crate) async fn resolve_session(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    session_id: &str,
) -> Result<Principal, ApiError> {
    let expired = || ApiError::Unauthenticated("the session has expired; sign in again".to_owned());
    let id_hash = sha256_hex(session_id.as_bytes());
    let session = state
        .store
        .get_session(&id_hash, state.clock.now())
        .await?
        .ok_or_else(expired)?;
    let user = active_user(state, session.user_id)
        .await?
        .ok_or_else(expired)?;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let cookie_matches =
            cookie_value(headers, CSRF_COOKIE).is_none_or(|c| same_secret(&c, sent));
        if sent.is_empty()
            || !cookie_matches
            || !same_secret(&sha256_hex(sent.as_bytes()), &session.csrf_hash)
        {
            return Err(ApiError::forbidden(
                "csrf_failed",
                "state-changing requests made with the session cookie must send the `csrf` cookie's value in the `X-CSRF-Token` header",
            ));
        }
    }
    Ok(Principal {
        user: Some(user),
        key: None,
        session_id_hash: Some(id_hash),
    })
}

/// The user, unless missing or erased.
async fn active_user(state: &AppState, id: UserId) -> Result<Option<User>, ApiError> {
    Ok(state
        .store
        .get_user(id)
        .await?
        .filter(|u| u.deletion_requested_at.is_none()))
}
