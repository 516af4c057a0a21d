//! Platform OAuth stand-ins under `/oauth/{platform}`: an authorize endpoint that approves at
//! once, a token endpoint (authorization code with PKCE, refresh with per-platform rotation) and
//! a revoke endpoint. Each connect creates a new platform user, returned in the token response.
//! The shared authorize/code helpers are also used by the sign-in stand-ins.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use tenants::Platform;

use crate::tokens::{AuthCode, CODE_LIFETIME_SECS, Challenge, Issued, after, pkce_matches};
use crate::{Shared, faults};

pub(crate) fn router(state: Shared) -> Router<Shared> {
    Router::new()
        .route("/oauth/{platform}/authorize", get(authorize))
        .route("/oauth/{platform}/token", post(token))
        .route("/oauth/{platform}/revoke", post(revoke))
        .route_layer(axum::middleware::from_fn_with_state(state, faults::latency))
        .route("/_sandbox/avatar/{id}", get(avatar))
}

/// Query of an OAuth authorization request (platform, Google or X).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuthorizeQuery {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    /// Sandbox extension: reuse the user (platform OAuth) or person (sign-in) it names.
    pub login_hint: Option<String>,
}

/// Form of a token-endpoint request.
#[derive(Default, Deserialize)]
pub(crate) struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

/// An RFC 6749 error body.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (status, Json(body)).into_response()
}

/// Validates an authorization request and builds the code to issue. `require_pkce` is set by
/// providers that insist on PKCE (X).
pub(crate) fn parse_authorize(
    query: &AuthorizeQuery,
    now: Timestamp,
    require_pkce: bool,
) -> Result<AuthCode, Response> {
    let bad = |description: &str| {
        Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            description,
        ))
    };
    let Some(client_id) = query.client_id.clone().filter(|c| !c.is_empty()) else {
        return bad("client_id is required");
    };
    let Some(redirect_uri) = query.redirect_uri.clone() else {
        return bad("redirect_uri is required");
    };
    if url::Url::parse(&redirect_uri).is_err() {
        return bad("redirect_uri is not an absolute URL");
    }
    if query.response_type.as_deref() != Some("code") {
        return bad("response_type must be code");
    }
    let challenge = match &query.code_challenge {
        Some(challenge) => {
            let method = query.code_challenge_method.as_deref().unwrap_or("plain");
            if !matches!(method, "S256" | "plain") {
                return bad("code_challenge_method must be S256 or plain");
            }
            Some(Challenge {
                challenge: challenge.clone(),
                method: method.to_owned(),
            })
        }
        None if require_pkce => return bad("code_challenge is required"),
        None => None,
    };
    Ok(AuthCode {
        client_id,
        redirect_uri,
        scope: query.scope.clone().unwrap_or_default(),
        challenge,
        expires_at: after(now, CODE_LIFETIME_SECS),
        login_hint: query.login_hint.clone(),
    })
}

/// `302 Location: {redirect_uri}?code=..&state=..`.
pub(crate) fn redirect_with_code(redirect_uri: &str, code: &str, state: Option<&str>) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "bad redirect_uri",
        );
    };
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("code", code);
        if let Some(state) = state {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// `client_id` and `client_secret` from HTTP Basic auth, if present.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Checks a code exchange against the code's authorization request.
pub(crate) fn check_exchange(
    auth: &AuthCode,
    form: &TokenForm,
    client_id: Option<&str>,
    now: Timestamp,
) -> Result<(), Response> {
    let invalid = |description: &str| {
        Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            description,
        ))
    };
    if now >= auth.expires_at {
        return invalid("authorization code expired");
    }
    if form.redirect_uri.as_deref() != Some(auth.redirect_uri.as_str()) {
        return invalid("redirect_uri does not match the authorization request");
    }
    if client_id.is_some_and(|c| c != auth.client_id) {
        return invalid("client_id does not match the authorization request");
    }
    if let Some(challenge) = &auth.challenge {
        let Some(verifier) = form.code_verifier.as_deref() else {
            return invalid("code_verifier is required");
        };
        if !pkce_matches(&challenge.challenge, &challenge.method, verifier) {
            return invalid("code_verifier does not match code_challenge");
        }
    }
    Ok(())
}

fn platform_from(name: &str) -> Result<Platform, Response> {
    name.parse::<Platform>().map_err(|_| {
        let body = json!({"error": "not_found", "error_description": "unknown platform"});
        (StatusCode::NOT_FOUND, Json(body)).into_response()
    })
}

async fn authorize(
    State(state): State<Shared>,
    Path(platform): Path<String>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let platform = match platform_from(&platform) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let auth = match parse_authorize(&query, state.now(), false) {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    let code = crate::tokens::random_secret("sbx_code");
    let redirect_uri = auth.redirect_uri.clone();
    state.tokens().add_code(platform, code.clone(), auth);
    state.record_secrets(&[&code]);
    state.bump(|s| s.authorizations += 1);
    redirect_with_code(&redirect_uri, &code, query.state.as_deref())
}

fn token_response(state: &Shared, issued: &Issued) -> Response {
    state.record_secrets(&[&issued.access_token, &issued.refresh_token]);
    let user = &issued.user;
    let body = json!({
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "refresh_expires_in": issued.refresh_expires_in,
        "scope": issued.scope,
        "user": {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "avatar_url": format!("{}/_sandbox/avatar/{}", state.base_url, user.id),
        },
    });
    (StatusCode::OK, Json(body)).into_response()
}

async fn token(
    State(state): State<Shared>,
    Path(platform): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let platform = match platform_from(&platform) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let now = state.now();
    let client_id = form
        .client_id
        .clone()
        .or_else(|| basic_credentials(&headers).map(|(id, _)| id));
    match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let code = form.code.as_deref().unwrap_or_default();
            let Some(auth) = state.tokens().take_code(platform, code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or already used authorization code",
                );
            };
            if let Err(response) = check_exchange(&auth, &form, client_id.as_deref(), now) {
                return response;
            }
            let issued = state.tokens().grant(
                platform,
                auth.login_hint.as_deref(),
                &auth.scope,
                now,
                state.lifetimes,
            );
            state.bump(|s| s.code_exchanges += 1);
            token_response(&state, &issued)
        }
        Some("refresh_token") => {
            let refresh_token = form.refresh_token.as_deref().unwrap_or_default();
            let issued = state
                .tokens()
                .refresh(platform, refresh_token, now, state.lifetimes);
            match issued {
                Some(issued) => {
                    state.bump(|s| s.refreshes += 1);
                    token_response(&state, &issued)
                }
                None => {
                    state.bump(|s| s.refresh_rejected += 1);
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "refresh token is invalid, expired, revoked or already used",
                    )
                }
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    token: Option<String>,
}

async fn revoke(
    State(state): State<Shared>,
    Path(platform): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let platform = match platform_from(&platform) {
        Ok(p) => p,
        Err(response) => return response,
    };
    if state.faults().faults.revoke_down {
        state.bump(|s| s.revokes_unavailable += 1);
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "revocation is unavailable",
        );
    }
    let Some(token) = form.token else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    // RFC 7009: an unknown token is not an error.
    let revoked_user = state.tokens().revoke(platform, &token);
    if let Some(account) = revoked_user {
        let now = state.now();
        state.posts().fail_pending(&account, now, "token revoked");
    }
    state.bump(|s| s.revokes += 1);
    (StatusCode::OK, Json(json!({}))).into_response()
}

/// A small deterministic SVG avatar for a platform user, so `avatar_url` resolves.
async fn avatar(Path(id): Path<String>) -> Response {
    let hue = id.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 360;
    let initial = id
        .rsplit('_')
        .next()
        .and_then(|n| n.chars().next())
        .filter(char::is_ascii_alphanumeric)
        .unwrap_or('?');
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\">\
         <rect width=\"64\" height=\"64\" fill=\"hsl({hue},60%,55%)\"/>\
         <text x=\"32\" y=\"42\" font-size=\"28\" text-anchor=\"middle\" fill=\"#fff\">{initial}</text></svg>"
    );
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}
