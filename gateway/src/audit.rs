//! The audit and security log: middleware that records every state-changing request (POST,
//! PATCH, PUT, DELETE under `/v1`), every sign-in attempt, logout and account connect callback
//! with the workspace (if any), the actor, the action (method and route template), the target
//! ids from the path, the client IP, the user agent, the status and the time. Entries expire
//! after `GatewayConfig::audit_retention` (90 days by default), or sooner when their workspace
//! or person is erased (`crate::purge`); a person's successful `DELETE /v1/me` is therefore only
//! logged, not recorded under them.
//!
//! An entry goes to the workspace's partition only when the caller may act in the workspace the
//! path names (checked by the authorizer); anything else goes to the caller's own partition, so a
//! probe of another tenant's id leaves no trace in that tenant's log.
//!
//! Every request handled here is also logged through `tracing` with its IP and user agent, after
//! [`strip_line_breaks`] (log injection, CWE-117).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use jiff::SignedDuration;
use schema::{AuditEntry, WorkspaceScope};
use uuid::Uuid;

use crate::auth::{self, Principal, SESSION_COOKIE, authorizer, cookie_value, sha256_hex};
use crate::state::AppState;

/// The longest user-supplied string kept in a log line or an audit entry, in characters.
const MAX_LOGGED_CHARS: usize = 512;

/// The largest response body inspected to learn which workspace an account callback joined.
const MAX_INSPECTED_BODY: usize = 64 * 1024;

/// Makes a user-supplied string safe to log: CR, LF, NEL, the Unicode line and paragraph
/// separators and every other control character become a space (so a value cannot forge a
/// second log line), and it is cut to 512 characters.
pub fn strip_line_breaks(value: &str) -> String {
    value
        .chars()
        .take(MAX_LOGGED_CHARS)
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The action of a person erasing themselves, which is not recorded under them once it worked.
const ERASE_ME: &str = "DELETE /v1/me";

/// Whether a method changes state.
fn changes_state(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    )
}

/// Where the request came from.
#[derive(Debug, Clone, Default)]
struct Client {
    ip: Option<String>,
    user_agent: Option<String>,
}

fn client_of(request: &Request) -> Client {
    Client {
        ip: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string()),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .map(|v| strip_line_breaks(&String::from_utf8_lossy(v.as_bytes()))),
    }
}

/// What the middleware learned about a request before running it.
struct Pending {
    action: String,
    target: Vec<String>,
    client: Client,
}

async fn pending(state: &AppState, request: Request) -> (Pending, Option<String>, Request) {
    let client = client_of(&request);
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let action = format!("{} {template}", request.method());
    let (mut parts, body) = request.into_parts();
    let mut target = Vec::new();
    let mut ws = None;
    if let Ok(params) = RawPathParams::from_request_parts(&mut parts, state).await {
        for (name, value) in params.iter() {
            if name == "ws" {
                ws = Some(value.to_owned());
            } else {
                target.push(format!("{name}={}", strip_line_breaks(value)));
            }
        }
    }
    let request = Request::from_parts(parts, body);
    let pending = Pending {
        action,
        target,
        client,
    };
    (pending, ws, request)
}

/// Writes one entry; a failure is logged and never fails the request.
async fn append(
    state: &AppState,
    scope: Option<WorkspaceScope>,
    actor: String,
    pending: Pending,
    status: u16,
) {
    let now = state.clock.now();
    let retention =
        SignedDuration::try_from(state.config.audit_retention).unwrap_or(SignedDuration::MAX);
    let entry = AuditEntry {
        id: Uuid::now_v7(),
        at: now,
        workspace_id: scope.map(|s| s.workspace_id()),
        actor,
        action: pending.action,
        target: pending.target,
        ip: pending.client.ip,
        user_agent: pending.client.user_agent,
        status,
        expires_at: now
            .saturating_add(retention)
            .unwrap_or(jiff::Timestamp::MAX),
    };
    tracing::info!(
        actor = %entry.actor,
        action = %entry.action,
        status,
        ip = entry.ip.as_deref().unwrap_or("-"),
        user_agent = entry.user_agent.as_deref().unwrap_or("-"),
        workspace_id = ?entry.workspace_id,
        "audit"
    );
    if let Err(err) = state.store.append_audit(scope, &entry).await {
        tracing::warn!(error = %err, action = %entry.action, "could not record audit entry");
    }
}

/// The request log line (kept for every request, recorded or not).
fn log_request(pending: &Pending, status: u16) {
    tracing::info!(
        action = %pending.action,
        status,
        ip = pending.client.ip.as_deref().unwrap_or("-"),
        user_agent = pending.client.user_agent.as_deref().unwrap_or("-"),
        "request"
    );
}

/// Route layer of the authenticated `/v1` routes (inside authentication, so the principal is
/// known). Reads are only logged; state changes are recorded.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let principal = request.extensions().get::<Principal>().cloned();
    let method = request.method().clone();
    let (pending, ws, request) = pending(&state, request).await;
    if !changes_state(&method) {
        let response = next.run(request).await;
        log_request(&pending, response.status().as_u16());
        return response;
    }
    let actor = principal
        .as_ref()
        .map_or_else(|| "anonymous".to_owned(), Principal::id);
    // Authorized before the handler runs, so an erasure is still recorded in its workspace.
    let scope = match (&principal, ws) {
        (Some(p), Some(raw)) => authorizer::authorize(&state, p, &raw)
            .await
            .ok()
            .map(|access| access.scope),
        _ => None,
    };
    let response = next.run(request).await;
    if pending.action == ERASE_ME && response.status().is_success() {
        // The person's own entries were just purged; recording the erasure under them would
        // keep their address and user agent past it. The erasure ledger records it instead.
        log_request(&pending, response.status().as_u16());
        return response;
    }
    append(&state, scope, actor, pending, response.status().as_u16()).await;
    response
}

/// The user of a session cookie value, if the session is live.
async fn session_user(state: &AppState, session_id: &str) -> Option<String> {
    let session = state
        .store
        .get_session(&sha256_hex(session_id.as_bytes()), state.clock.now())
        .await
        .ok()??;
    Some(format!("user:{}", session.user_id))
}

/// The session id a response sets, if it starts a session.
fn new_session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == SESSION_COOKIE && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// Route layer of the public routes: records sign-in callbacks (successful or not), logouts and
/// account connect callbacks; everything else passes through.
pub async fn record_public(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let kind = match template.as_str() {
        "/auth/{provider}/callback" => Kind::SignIn,
        "/auth/logout" => Kind::Logout,
        crate::routes::account_connect::CALLBACK_PATH => Kind::AccountCallback,
        _ => return next.run(request).await,
    };
    let cookie = cookie_value(request.headers(), SESSION_COOKIE);
    let before = match (&kind, &cookie) {
        (Kind::Logout, Some(id)) => session_user(&state, id).await,
        _ => None,
    };
    let caller = match (&kind, &cookie) {
        (Kind::AccountCallback, Some(id)) => {
            auth::resolve_session(&state, request.headers(), &Method::GET, id)
                .await
                .ok()
        }
        _ => None,
    };
    let (pending, _, request) = pending(&state, request).await;
    let response = next.run(request).await;
    let status = response.status().as_u16();
    match kind {
        Kind::SignIn => {
            let actor = match new_session_id(response.headers()) {
                Some(id) => session_user(&state, &id).await,
                None => None,
            };
            let actor = actor.unwrap_or_else(|| "anonymous".to_owned());
            append(&state, None, actor, pending, status).await;
            response
        }
        Kind::Logout => {
            let actor = before.unwrap_or_else(|| "anonymous".to_owned());
            append(&state, None, actor, pending, status).await;
            response
        }
        Kind::AccountCallback => account_callback(&state, caller, pending, response).await,
    }
}

enum Kind {
    SignIn,
    Logout,
    AccountCallback,
}

/// Records a connect callback in the workspace the account joined when the browser's session
/// may act there, else in the caller's (or the instance's) partition.
async fn account_callback(
    state: &AppState,
    caller: Option<Principal>,
    mut pending: Pending,
    response: Response,
) -> Response {
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_INSPECTED_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            append(state, None, "anonymous".to_owned(), pending, status).await;
            return Response::from_parts(parts, Body::empty());
        }
    };
    let view: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let field = |name: &str| {
        view.as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    if let Some(id) = field("id") {
        pending
            .target
            .push(format!("account_id={}", strip_line_breaks(&id)));
    }
    let actor = caller
        .as_ref()
        .map_or_else(|| "anonymous".to_owned(), Principal::id);
    let scope = match (&caller, field("workspace_id")) {
        (Some(p), Some(ws)) => authorizer::authorize(state, p, &ws)
            .await
            .ok()
            .map(|a| a.scope),
        _ => None,
    };
    append(state, scope, actor, pending, status).await;
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_line_breaks_cannot_forge_a_log_line() {
        let cleaned =
            strip_line_breaks("curl/8\r\n2026-01-01 INFO admin signed in\u{0}\u{85}\u{2028}");
        assert!(!cleaned.chars().any(|c| c.is_control() || c == '\u{2028}'));
        assert!(cleaned.starts_with("curl/8  2026"));
    }

    #[test]
    fn test_long_values_are_cut() {
        assert_eq!(strip_line_breaks(&"a".repeat(2000)).len(), MAX_LOGGED_CHARS);
    }
}
