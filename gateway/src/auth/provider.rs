//! Sign-in provider clients: Google (OpenID Connect, discovery, `state` + `nonce` + PKCE, ID
//! token checked for signature, `iss`, `aud`, `exp` and `nonce`) and X (OAuth 2.0 with PKCE,
//! identity from `GET /2/users/me`). Base URLs come from config, so tests point them at the
//! sandbox. Only the name, email, avatar and provider subject are kept from either.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tenants::Provider;

use crate::auth::id_token::verify_id_token;
use crate::config::{OidcProviderConfig, XProviderConfig};
use crate::error::ApiError;
use crate::state::AppState;

/// What a provider told us about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider.
    pub provider: Provider,
    /// The provider's stable subject.
    pub subject: String,
    /// Display name.
    pub name: String,
    /// Verified email, when shared.
    pub email: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
}

/// The secrets of one sign-in attempt, kept in a signed cookie between start and callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The provider.
    pub provider: Provider,
    /// The OAuth `state` (CSRF protection of the callback).
    pub state: String,
    /// The OIDC `nonce` (replay protection of the ID token).
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// Unix seconds after which the attempt is void.
    pub expires_at: i64,
}

impl PendingSignIn {
    fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

fn upstream(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("sign-in provider {what}: {err}"))
}

pub(crate) fn rejected(what: &str) -> ApiError {
    tracing::warn!(reason = what, "sign-in rejected");
    ApiError::Unauthenticated(format!("the sign-in could not be verified: {what}"))
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

async fn discover(state: &AppState, config: &OidcProviderConfig) -> Result<Discovery, ApiError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        config.base_url.trim_end_matches('/')
    );
    let response = state
        .http
        .get(&url)
        .send()
        .await
        .map_err(|e| upstream("discovery", e))?;
    if !response.status().is_success() {
        return Err(upstream("discovery", response.status()));
    }
    response.json().await.map_err(|e| upstream("discovery", e))
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> Result<String, ApiError> {
    let mut url = url::Url::parse(base).map_err(|e| upstream("endpoint", e))?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.into())
}

/// The URL to send the browser to.
///
/// # Errors
/// 503 when the provider's discovery document cannot be read.
pub async fn authorize_url(
    state: &AppState,
    pending: &PendingSignIn,
    redirect_uri: &str,
) -> Result<String, ApiError> {
    let challenge = pending.challenge();
    match pending.provider {
        Provider::Google => {
            let config = google(state)?;
            let discovery = discover(state, config).await?;
            with_query(
                &discovery.authorization_endpoint,
                &[
                    ("response_type", "code"),
                    ("client_id", &config.client_id),
                    ("redirect_uri", redirect_uri),
                    ("scope", "openid email profile"),
                    ("state", &pending.state),
                    ("nonce", &pending.nonce),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
        }
        Provider::X => {
            let config = x(state)?;
            let base = format!(
                "{}/i/oauth2/authorize",
                config.authorize_base_url.trim_end_matches('/')
            );
            with_query(
                &base,
                &[
                    ("response_type", "code"),
                    ("client_id", &config.client_id),
                    ("redirect_uri", redirect_uri),
                    ("scope", "users.read tweet.read"),
                    ("state", &pending.state),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
        }
    }
}

/// The configured Google provider.
///
/// # Errors
/// 404 when Google sign-in is not configured.
pub fn google(state: &AppState) -> Result<&OidcProviderConfig, ApiError> {
    state
        .config
        .google
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("google sign-in is not configured".to_owned()))
}

/// The configured X provider.
///
/// # Errors
/// 404 when X sign-in is not configured.
pub fn x(state: &AppState) -> Result<&XProviderConfig, ApiError> {
    state
        .config
        .x
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("x sign-in is not configured".to_owned()))
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
}

/// Exchanges the callback's `code` for the person's identity.
///
/// # Errors
/// 401 when the provider's answer does not verify, 503 when the provider cannot be reached.
pub async fn exchange(
    state: &AppState,
    pending: &PendingSignIn,
    code: &str,
    redirect_uri: &str,
) -> Result<Identity, ApiError> {
    match pending.provider {
        Provider::Google => exchange_google(state, pending, code, redirect_uri).await,
        Provider::X => exchange_x(state, pending, code, redirect_uri).await,
    }
}

async fn read_token(response: reqwest::Response) -> Result<TokenResponse, ApiError> {
    let status = response.status();
    if status.is_client_error() {
        return Err(rejected("the provider refused the authorization code"));
    }
    if !status.is_success() {
        return Err(upstream("token endpoint", status));
    }
    response
        .json()
        .await
        .map_err(|e| upstream("token endpoint", e))
}

async fn exchange_google(
    state: &AppState,
    pending: &PendingSignIn,
    code: &str,
    redirect_uri: &str,
) -> Result<Identity, ApiError> {
    let config = google(state)?;
    let discovery = discover(state, config).await?;
    let response = state
        .http
        .post(&discovery.token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", &config.client_id),
            ("client_secret", config.client_secret.expose_secret()),
            ("code_verifier", &pending.verifier),
        ])
        .send()
        .await
        .map_err(|e| upstream("token endpoint", e))?;
    let token = read_token(response).await?;
    let id_token = token
        .id_token
        .ok_or_else(|| rejected("no id_token in the token response"))?;
    let claims = verify_id_token(
        &id_token,
        config,
        &discovery.issuer,
        &pending.nonce,
        state.clock.now().as_second(),
    )?;
    Ok(Identity {
        provider: Provider::Google,
        subject: claims.sub,
        name: claims.name.unwrap_or_default(),
        email: claims
            .email
            .filter(|_| claims.email_verified.unwrap_or(false)),
        avatar_url: claims.picture,
    })
}

#[derive(Deserialize)]
struct XMe {
    data: XUser,
}

#[derive(Deserialize)]
struct XUser {
    id: String,
    name: String,
    #[serde(default)]
    profile_image_url: Option<String>,
}

async fn exchange_x(
    state: &AppState,
    pending: &PendingSignIn,
    code: &str,
    redirect_uri: &str,
) -> Result<Identity, ApiError> {
    let config = x(state)?;
    let api = config.api_base_url.trim_end_matches('/');
    let response = state
        .http
        .post(format!("{api}/2/oauth2/token"))
        .basic_auth(
            &config.client_id,
            Some(config.client_secret.expose_secret()),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &pending.verifier),
            ("client_id", &config.client_id),
        ])
        .send()
        .await
        .map_err(|e| upstream("token endpoint", e))?;
    let token = read_token(response).await?;
    let response = state
        .http
        .get(format!("{api}/2/users/me"))
        .query(&[("user.fields", "profile_image_url")])
        .bearer_auth(&token.access_token)
        .send()
        .await
        .map_err(|e| upstream("users/me", e))?;
    if !response.status().is_success() {
        return Err(upstream("users/me", response.status()));
    }
    let me: XMe = response.json().await.map_err(|e| upstream("users/me", e))?;
    Ok(Identity {
        provider: Provider::X,
        subject: me.data.id,
        name: me.data.name,
        email: None,
        avatar_url: me.data.profile_image_url,
    })
}
