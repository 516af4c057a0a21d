//! Sign-in stand-ins for people (not platform accounts): Google OpenID Connect under `/google`
//! and X OAuth 2.0 with PKCE under `/x`. Both approve at once. Google's ID token is HS256-signed
//! with the client secret presented at the token step (the real Google uses RS256 and a JWKS).
//! A `login_hint` brings back the same person; without one, each sign-in is a new person.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::oauth::{
    AuthorizeQuery, TokenForm, basic_credentials, check_exchange, oauth_error, parse_authorize,
    redirect_with_code,
};
use crate::tokens::{AuthCode, after, random_secret};
use crate::{Shared, faults};

/// Google access tokens and ID tokens live about an hour.
const GOOGLE_TOKEN_SECS: i64 = 3599;
/// X access tokens live two hours.
const X_TOKEN_SECS: i64 = 7200;

pub(crate) fn router(state: Shared) -> Router<Shared> {
    Router::new()
        .route(
            "/google/.well-known/openid-configuration",
            get(google_discovery),
        )
        .route("/google/o/oauth2/v2/auth", get(google_authorize))
        .route("/google/token", post(google_token))
        .route("/google/userinfo", get(google_userinfo))
        .route("/x/i/oauth2/authorize", get(x_authorize))
        .route("/x/2/oauth2/token", post(x_token))
        .route("/x/2/users/me", get(x_me))
        .route_layer(axum::middleware::from_fn_with_state(state, faults::latency))
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Provider {
    Google,
    X,
}

struct Person {
    /// Google `sub` or X user id.
    id: String,
    email: String,
    name: String,
    username: String,
    picture: String,
}

struct SignInCode {
    provider: Provider,
    auth: AuthCode,
    nonce: Option<String>,
}

/// People who signed in, their pending codes and their access tokens.
#[derive(Default)]
pub(crate) struct PeopleStore {
    codes: HashMap<String, SignInCode>,
    access: HashMap<String, (Provider, usize, Timestamp)>,
    people: Vec<Person>,
    by_hint: HashMap<(Provider, String), usize>,
}

impl PeopleStore {
    fn person_for(&mut self, provider: Provider, hint: Option<&str>, base_url: &str) -> usize {
        if let Some(idx) = hint.and_then(|h| self.by_hint.get(&(provider, h.to_owned()))) {
            return *idx;
        }
        let n = self.people.len() as u64 + 1;
        let person = match provider {
            Provider::Google => Person {
                id: format!("1{:020}", 4_200_000 + n),
                email: hint
                    .filter(|h| h.contains('@'))
                    .map_or_else(|| format!("person{n}@sandbox.test"), str::to_owned),
                name: format!("Sandbox Person {n}"),
                username: format!("person{n}"),
                picture: format!("{base_url}/_sandbox/avatar/google_{n}"),
            },
            Provider::X => Person {
                id: (1_600_000_000_000_000_000u64 + n).to_string(),
                email: String::new(),
                name: format!("Sandbox X Person {n}"),
                username: format!("x_signin_{n}"),
                picture: format!("{base_url}/_sandbox/avatar/x_{n}"),
            },
        };
        self.people.push(person);
        let idx = self.people.len() - 1;
        if let Some(hint) = hint {
            self.by_hint.insert((provider, hint.to_owned()), idx);
        }
        idx
    }

    /// The person behind a bearer access token, if it is live at `now`.
    fn bearer(&self, provider: Provider, headers: &HeaderMap, now: Timestamp) -> Option<&Person> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = value.strip_prefix("Bearer ")?.trim();
        let (p, idx, expires_at) = *self.access.get(token)?;
        (p == provider && now < expires_at).then(|| &self.people[idx])
    }
}

fn authorize(state: &Shared, provider: Provider, query: &AuthorizeQuery) -> Response {
    let auth = match parse_authorize(query, state.now(), provider == Provider::X) {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    let code = random_secret("sbx_signin_code");
    let redirect_uri = auth.redirect_uri.clone();
    let pending = SignInCode {
        provider,
        auth,
        nonce: query.nonce.clone(),
    };
    state.people().codes.insert(code.clone(), pending);
    state.record_secrets(&[&code]);
    redirect_with_code(&redirect_uri, &code, query.state.as_deref())
}

/// Exchanges a sign-in code; returns the person index, the access token and the nonce.
fn exchange(
    state: &Shared,
    provider: Provider,
    form: &TokenForm,
    client_id: &str,
    lifetime_secs: i64,
) -> Result<(usize, String, SignInCode), Response> {
    if form.grant_type.as_deref() != Some("authorization_code") {
        let description = "grant_type must be authorization_code";
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        ));
    }
    let now = state.now();
    let mut people = state.people();
    let code = form.code.as_deref().unwrap_or_default();
    let pending = match people.codes.remove(code) {
        Some(pending) if pending.provider == provider => pending,
        _ => {
            let description = "Value passed for the authorization code was invalid.";
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                description,
            ));
        }
    };
    check_exchange(&pending.auth, form, Some(client_id), now)?;
    let person = people.person_for(
        provider,
        pending.auth.login_hint.as_deref(),
        &state.base_url,
    );
    let access_token = random_secret("sbx_signin_at");
    people.access.insert(
        access_token.clone(),
        (provider, person, after(now, lifetime_secs)),
    );
    drop(people);
    state.bump(|s| s.sign_ins += 1);
    Ok((person, access_token, pending))
}

async fn google_discovery(State(state): State<Shared>) -> Json<Value> {
    let base = format!("{}/google", state.base_url);
    // No jwks_uri: ID tokens are HS256 with the client secret, so there is no public key.
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/o/oauth2/v2/auth"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name",
            "iat", "iss", "name", "nonce", "picture", "sub"],
    }))
}

async fn google_authorize(
    State(state): State<Shared>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    authorize(&state, Provider::Google, &query)
}

/// A compact HS256 JWT over `claims`.
fn sign_hs256(claims: &Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("hmac takes any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

async fn google_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let basic = basic_credentials(&headers);
    let client_id = form
        .client_id
        .clone()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()));
    let secret = form
        .client_secret
        .clone()
        .or_else(|| basic.map(|(_, secret)| secret));
    let (Some(client_id), Some(secret)) = (client_id, secret.filter(|s| !s.is_empty())) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id and client_secret are required",
        );
    };
    let (person, access_token, pending) = match exchange(
        &state,
        Provider::Google,
        &form,
        &client_id,
        GOOGLE_TOKEN_SECS,
    ) {
        Ok(done) => done,
        Err(response) => return response,
    };
    let now = state.now();
    let claims = {
        let people = state.people();
        let p = &people.people[person];
        let mut claims = json!({
            "iss": format!("{}/google", state.base_url),
            "aud": client_id,
            "azp": client_id,
            "sub": p.id,
            "email": p.email,
            "email_verified": true,
            "name": p.name,
            "given_name": "Sandbox",
            "family_name": p.username,
            "picture": p.picture,
            "iat": now.as_second(),
            "exp": after(now, GOOGLE_TOKEN_SECS + 1).as_second(),
        });
        if let Some(nonce) = pending.nonce {
            claims["nonce"] = Value::String(nonce);
        }
        claims
    };
    let id_token = sign_hs256(&claims, &secret);
    state.record_secrets(&[&access_token, &id_token]);
    Json(json!({
        "access_token": access_token,
        "expires_in": GOOGLE_TOKEN_SECS,
        "token_type": "Bearer",
        "scope": pending.auth.scope,
        "id_token": id_token,
    }))
    .into_response()
}

async fn google_userinfo(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let people = state.people();
    let Some(p) = people.bearer(Provider::Google, &headers, state.now()) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "missing, unknown or expired access token",
        );
    };
    Json(json!({
        "sub": p.id, "email": p.email, "email_verified": true, "name": p.name,
        "given_name": "Sandbox", "family_name": p.username, "picture": p.picture,
    }))
    .into_response()
}

async fn x_authorize(State(state): State<Shared>, Query(query): Query<AuthorizeQuery>) -> Response {
    authorize(&state, Provider::X, &query)
}

async fn x_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let client_id = form
        .client_id
        .clone()
        .or_else(|| basic_credentials(&headers).map(|(id, _)| id));
    let Some(client_id) = client_id else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Missing valid authorization header",
        );
    };
    let (_, access_token, pending) =
        match exchange(&state, Provider::X, &form, &client_id, X_TOKEN_SECS) {
            Ok(done) => done,
            Err(response) => return response,
        };
    state.record_secrets(&[&access_token]);
    Json(json!({
        "token_type": "bearer",
        "expires_in": X_TOKEN_SECS,
        "access_token": access_token,
        "scope": pending.auth.scope,
    }))
    .into_response()
}

async fn x_me(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let people = state.people();
    let Some(p) = people.bearer(Provider::X, &headers, state.now()) else {
        let body = json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    Json(json!({"data": {"id": p.id, "name": p.name, "username": p.username, "profile_image_url": p.picture}}))
        .into_response()
}
