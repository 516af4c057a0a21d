//! Sign-in routes: `GET /auth/{provider}/start` redirects to Google or X with a fresh `state`,
//! `nonce` and PKCE challenge (kept in a signed cookie); `GET /auth/{provider}/callback` checks
//! `state`, exchanges the code, records the person (name, email, avatar, provider subject only)
//! and starts a session; `POST /auth/logout` ends it.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tenants::{Provider, User, UserId};

use crate::auth::provider::{self, Identity, PendingSignIn};
use crate::auth::session::{self, ClientInfo, SIGNIN_COOKIE, SIGNIN_TTL_SECS};
use crate::auth::{age, cookie_value, random_token, resolve_session, same_secret};
use crate::error::ApiError;
use crate::state::AppState;

/// The sign-in routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/{provider}/start", get(start))
        .route("/auth/{provider}/callback", get(callback))
        .route("/auth/logout", post(logout))
}

fn parse_provider(raw: &str) -> Result<Provider, ApiError> {
    match raw {
        "google" => Ok(Provider::Google),
        "x" => Ok(Provider::X),
        _ => Err(ApiError::NotFound(format!(
            "no sign-in provider `{}`",
            raw.chars().take(32).collect::<String>()
        ))),
    }
}

fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!("{}/auth/{provider}/callback", state.config.public_base_url)
}

fn redirect(location: &str, cookies: Vec<HeaderValue>) -> Result<Response, ApiError> {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(location)
            .map_err(|e| ApiError::Internal(format!("location: {e}")))?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Starts a sign-in: redirects the browser to the provider.
#[utoipa::path(
    get, path = "/auth/{provider}/start", tag = "auth",
    params(("provider" = String, Path, description = "`google` or `x`")),
    responses(
        (status = 303, description = "Redirect to the provider"),
        (status = 404, description = "Unknown or unconfigured provider", body = crate::error::Problem),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let provider = parse_provider(&raw)?;
    let pending = PendingSignIn {
        provider,
        state: random_token(24),
        nonce: random_token(24),
        verifier: random_token(48),
        expires_at: state.clock.now().as_second() + SIGNIN_TTL_SECS,
    };
    let url = provider::authorize_url(&state, &pending, &redirect_uri(&state, &raw)).await?;
    redirect(&url, vec![session::pending_cookie(&state, &pending)?])
}

/// Finishes a sign-in: verifies the provider's answer and starts a session.
#[utoipa::path(
    get, path = "/auth/{provider}/callback", tag = "auth",
    params(
        ("provider" = String, Path, description = "`google` or `x`"),
        ("code" = String, Query, description = "Authorization code"),
        ("state" = String, Query, description = "The state sent at start"),
    ),
    responses(
        (status = 303, description = "Signed in; session cookies set"),
        (status = 400, description = "Unknown, expired or mismatched sign-in attempt", body = crate::error::Problem),
        (status = 401, description = "The provider's answer did not verify", body = crate::error::Problem),
        (status = 403, description = "Refused by the age gate", body = crate::error::Problem),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let provider = parse_provider(&raw)?;
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(error) = param("error") {
        return Err(ApiError::forbidden(
            "signin_denied",
            format!(
                "the provider did not grant sign-in: {}",
                error.chars().take(64).collect::<String>()
            ),
        ));
    }
    let headers = request.headers();
    let pending = session::read_pending(&state, cookie_value(headers, SIGNIN_COOKIE))?;
    let state_ok = param("state").is_some_and(|s| same_secret(&s, &pending.state));
    if pending.provider != provider || !state_ok {
        return Err(ApiError::bad_request(
            "signin_state_mismatch",
            "the sign-in `state` does not match this browser's attempt; start again",
        ));
    }
    let code = param("code").ok_or_else(|| {
        ApiError::bad_request("signin_missing_code", "the callback has no `code`")
    })?;
    let identity = provider::exchange(&state, &pending, &code, &redirect_uri(&state, &raw)).await?;
    let user = record_user(&state, identity).await?;
    if let Some(birth) = user.birth_date_declared {
        let today = state.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
        if age::age_on(birth, today) < age::MIN_AGE_YEARS {
            return Err(ApiError::forbidden(
                "age_requirement_not_met",
                format!(
                    "socialcrm may only be used by people aged {} or over",
                    age::MIN_AGE_YEARS
                ),
            ));
        }
    }
    let client = client_info(
        headers,
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
    );
    let mut cookies = session::start(&state, user.id, client).await?;
    cookies.push(session::clear_pending()?);
    tracing::info!(user_id = %user.id, provider = ?provider, "signed in");
    redirect(&state.config.post_signin_redirect, cookies)
}

fn client_info(headers: &HeaderMap, connect: Option<&ConnectInfo<SocketAddr>>) -> ClientInfo {
    ClientInfo {
        ip: connect.map(|ConnectInfo(addr)| addr.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Creates the person on first sign-in, or refreshes what the provider says about them.
async fn record_user(state: &AppState, identity: Identity) -> Result<User, ApiError> {
    let existing = state
        .store
        .find_user_by_subject(identity.provider, &identity.subject)
        .await?;
    let user = match existing {
        Some(user) if user.deletion_requested_at.is_some() => {
            return Err(ApiError::forbidden(
                "account_erased",
                "this account was erased at its owner's request",
            ));
        }
        Some(mut user) => {
            user.name = identity.name;
            if identity.email.is_some() {
                user.email = identity.email;
            }
            if identity.avatar_url.is_some() {
                user.avatar_url = identity.avatar_url;
            }
            user
        }
        None => User {
            id: UserId::new(),
            provider: identity.provider,
            subject: identity.subject,
            email: identity.email,
            name: identity.name,
            avatar_url: identity.avatar_url,
            created_at: state.clock.now(),
            birth_date_declared: None,
            marketing_consent: false,
            marketing_consent_at: None,
            instance_admin: false,
            deletion_requested_at: None,
        },
    };
    state.store.put_user(&user).await?;
    Ok(user)
}

/// Ends the current session and clears its cookies.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 403, description = "Missing or wrong `X-CSRF-Token`", body = crate::error::Problem),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(session_id) = cookie_value(&headers, crate::auth::SESSION_COOKIE) {
        match resolve_session(&state, &headers, &axum::http::Method::POST, &session_id).await {
            Ok(principal) => {
                if let Some(hash) = principal.session_id_hash {
                    state.store.delete_session(&hash).await?;
                }
            }
            Err(err @ ApiError::Forbidden { .. }) => return Err(err),
            Err(_) => {}
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    for cookie in session::clear()? {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
