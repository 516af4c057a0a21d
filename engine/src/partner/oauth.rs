//! The platforms' OAuth token endpoints: the authorization URL of the connect hand-off, code
//! exchange, refresh and revocation. Each platform has its own app (client id and secret) and
//! endpoints from config; in sandbox mode every platform lives under `{sandbox}/oauth/{platform}`.
//!
//! Used by the connect flow (authorization URL, exchange), the account actor's token refresh
//! ([`crate::token_refresh`]) and disconnect (revoke).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tenants::Platform;
use url::Url;

use crate::partner::error::{OAuthError, RefreshError, RevokeError};
use crate::partner::pkce::CHALLENGE_METHOD;
use crate::partner::wire::{as_text, error_body, field, retry_after, text, uint};
use crate::partner::{PartnerHttp, describe_transport, endpoint, http_client};

/// Error codes that mean the grant itself is dead, across platforms (`190` is Meta's expired or
/// revoked token code).
const DEAD_GRANT_CODES: [&str; 5] = [
    "invalid_grant",
    "invalid_token",
    "expired_token",
    "invalid_refresh_token",
    "190",
];

/// One platform's OAuth app: where its endpoints are and how we identify ourselves.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// Where the person is sent to approve access.
    pub authorize_url: Url,
    /// The token endpoint (code exchange and refresh).
    pub token_url: Url,
    /// The revocation endpoint, when the platform has one.
    pub revoke_url: Option<Url>,
    /// Our client id at the platform.
    pub client_id: String,
    /// Our client secret at the platform.
    pub client_secret: SecretString,
}

impl OAuthApp {
    /// An app whose endpoints are `{base}/authorize`, `{base}/token` and `{base}/revoke`, as the
    /// sandbox serves them.
    ///
    /// # Errors
    /// [`OAuthError::Config`] when `base` is not an absolute URL.
    pub fn under(
        base: &str,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Result<Self, OAuthError> {
        let base = Url::parse(base).map_err(|e| OAuthError::Config(format!("`{base}`: {e}")))?;
        let at = |segment: &str| endpoint(&base, &[segment]).map_err(OAuthError::Config);
        Ok(Self {
            authorize_url: at("authorize")?,
            token_url: at("token")?,
            revoke_url: Some(at("revoke")?),
            client_id: client_id.into(),
            client_secret,
        })
    }
}

/// The platform user behind a grant (the sandbox returns it with the tokens; it stands in for
/// each platform's "me" call). `id` is also the publishing partner's account id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformUser {
    /// The platform's user id.
    pub id: String,
    /// The handle.
    pub username: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
}

/// A token endpoint's answer. An empty refresh token is read as none, so it can never overwrite
/// a real one.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: SecretString,
    /// The refresh token, when the platform issued one (rotating platforms issue a new one on
    /// every refresh).
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token.
    pub expires_in: Option<Duration>,
    /// Lifetime of the refresh token, when the platform says.
    pub refresh_expires_in: Option<Duration>,
    /// Granted scopes, space separated.
    pub scope: Option<String>,
    /// Who granted it, when the platform says.
    pub user: Option<PlatformUser>,
}

impl TokenResponse {
    fn from_json(v: &Value) -> Result<Self, OAuthError> {
        let secret = |names: &[&str]| text(v, names).map(SecretString::from);
        let access_token = secret(&["access_token", "accessJwt"])
            .ok_or_else(|| OAuthError::Decode("no access_token in the answer".into()))?;
        let scope = match field(v, &["scope"]) {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(as_text)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Some(other) => as_text(other),
            None => None,
        };
        let user = field(v, &["user"]).and_then(|u| {
            Some(PlatformUser {
                id: text(u, &["id", "open_id", "sub", "did"])?,
                username: text(u, &["username", "handle"]),
                name: text(u, &["name", "display_name"]),
                avatar_url: text(u, &["avatar_url", "profile_image_url", "picture"]),
            })
        });
        Ok(Self {
            access_token,
            refresh_token: secret(&["refresh_token", "refreshJwt"]),
            expires_in: uint(v, &["expires_in"]).map(Duration::from_secs),
            refresh_expires_in: uint(v, &["refresh_expires_in", "refresh_token_expires_in"])
                .map(Duration::from_secs),
            scope,
            user,
        })
    }
}

/// Client of every configured platform's OAuth endpoints.
#[derive(Debug, Clone)]
pub struct PlatformOAuthClient {
    http: reqwest::Client,
    apps: HashMap<Platform, OAuthApp>,
}

impl PlatformOAuthClient {
    /// A client for the given per-platform apps; `timeout` bounds each call.
    ///
    /// # Errors
    /// [`OAuthError::Config`] when the HTTP client cannot be built.
    pub fn new(apps: HashMap<Platform, OAuthApp>, timeout: Duration) -> Result<Self, OAuthError> {
        let http = http_client(timeout, PartnerHttp::Negotiated).map_err(OAuthError::Config)?;
        Ok(Self { http, apps })
    }

    /// A client with every platform served by the sandbox at `{sandbox_url}/oauth/{platform}`.
    ///
    /// # Errors
    /// [`OAuthError::Config`] when `sandbox_url` is not an absolute URL.
    pub fn sandbox(
        sandbox_url: &str,
        client_id: &str,
        client_secret: &SecretString,
        timeout: Duration,
    ) -> Result<Self, OAuthError> {
        let base = sandbox_url.trim_end_matches('/');
        let apps = Platform::ALL
            .into_iter()
            .map(|p| {
                let app = OAuthApp::under(
                    &format!("{base}/oauth/{p}"),
                    client_id,
                    client_secret.clone(),
                )?;
                Ok((p, app))
            })
            .collect::<Result<_, OAuthError>>()?;
        Self::new(apps, timeout)
    }

    fn app(&self, platform: Platform) -> Result<&OAuthApp, OAuthError> {
        self.apps
            .get(&platform)
            .ok_or(OAuthError::NotConfigured(platform))
    }

    /// The URL to send a person to, to approve access with PKCE (S256).
    ///
    /// # Errors
    /// [`OAuthError::NotConfigured`] for a platform without an app.
    pub fn authorization_url(
        &self,
        platform: Platform,
        redirect_uri: &str,
        state: &str,
        pkce_challenge: &str,
        scopes: &[&str],
    ) -> Result<String, OAuthError> {
        let app = self.app(platform)?;
        let mut url = app.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &app.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("code_challenge", pkce_challenge)
            .append_pair("code_challenge_method", CHALLENGE_METHOD);
        Ok(url.into())
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`] for a bad, used or expired code; [`OAuthError::Transient`]
    /// for 5xx, 429 and transport failures; other variants as documented on [`OAuthError`].
    pub async fn exchange_code(
        &self,
        platform: Platform,
        code: &str,
        redirect_uri: &str,
        verifier: &SecretString,
    ) -> Result<TokenResponse, OAuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose_secret()),
        ];
        let body = self.token_call(platform, &form).await?;
        TokenResponse::from_json(&body)
    }

    /// Trades a refresh token for a new access token (and, on rotating platforms, a new refresh
    /// token; the old one then stops working).
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`] when the grant is dead and only a reconnect helps;
    /// [`OAuthError::Transient`] when a later retry may succeed.
    pub async fn refresh(
        &self,
        platform: Platform,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, RefreshError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let body = self.token_call(platform, &form).await?;
        TokenResponse::from_json(&body)
    }

    /// Revokes a token (and with it the grant) at the platform. A token the platform already
    /// considers dead counts as revoked.
    ///
    /// # Errors
    /// [`OAuthError::RevokeUnsupported`] when the platform has no revocation endpoint;
    /// [`OAuthError::Transient`] when the platform is unreachable or failing.
    pub async fn revoke(
        &self,
        platform: Platform,
        token: &SecretString,
    ) -> Result<(), RevokeError> {
        let app = self.app(platform)?;
        let url = app
            .revoke_url
            .clone()
            .ok_or(OAuthError::RevokeUnsupported(platform))?;
        let form = [
            ("token", token.expose_secret()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose_secret()),
        ];
        match self.post_form(url, &form).await {
            Ok(_) | Err(OAuthError::InvalidGrant { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn token_call(
        &self,
        platform: Platform,
        form: &[(&str, &str)],
    ) -> Result<Value, OAuthError> {
        let app = self.app(platform)?;
        let mut full: Vec<(&str, &str)> = form.to_vec();
        full.push(("client_id", &app.client_id));
        full.push(("client_secret", app.client_secret.expose_secret()));
        self.post_form(app.token_url.clone(), &full).await
    }

    /// One form POST, with the status sorted into [`OAuthError`].
    async fn post_form(&self, url: Url, form: &[(&str, &str)]) -> Result<Value, OAuthError> {
        let transient = |e: reqwest::Error| OAuthError::Transient {
            message: describe_transport(&e),
            retry_after: None,
        };
        let resp = self
            .http
            .post(url)
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .map_err(transient)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transient)?;
        if status.is_success() {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&body)
                .map_err(|e| OAuthError::Decode(format!("not json: {e}")));
        }
        let err = error_body(&body);
        let code = err
            .code
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(OAuthError::Transient {
                message: format!("status {}: {code}", status.as_u16()),
                retry_after: retry_after(&headers),
            });
        }
        let dead = DEAD_GRANT_CODES.contains(&code.to_ascii_lowercase().as_str());
        if dead && matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) {
            return Err(OAuthError::InvalidGrant { code });
        }
        Err(OAuthError::Rejected {
            status: status.as_u16(),
            code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_token_response_reads_all_fields_and_drops_empty_refresh_token() {
        let v = json!({"access_token":"a","token_type":"bearer","expires_in":"7200",
            "refresh_token":"","refresh_expires_in":100,"scope":["a","b"],
            "user":{"id":123,"username":"u","name":"N","avatar_url":"https://x/a.png"}});
        let t = TokenResponse::from_json(&v).expect("decodes");
        assert_eq!(t.access_token.expose_secret(), "a");
        assert!(t.refresh_token.is_none());
        assert_eq!(t.expires_in, Some(Duration::from_secs(7200)));
        assert_eq!(t.scope.as_deref(), Some("a b"));
        assert_eq!(t.user.expect("user").id, "123");
        assert!(matches!(
            TokenResponse::from_json(&json!({"token_type":"bearer"})),
            Err(OAuthError::Decode(_))
        ));
    }

    #[test]
    fn test_authorization_url_carries_pkce_state_and_scopes() {
        let client = PlatformOAuthClient::sandbox(
            "http://127.0.0.1:9/",
            "cid",
            &"s".to_owned().into(),
            Duration::from_secs(1),
        )
        .expect("client");
        let url = client
            .authorization_url(
                Platform::X,
                "http://app/cb",
                "st",
                "ch",
                &["tweet.read", "offline.access"],
            )
            .expect("url");
        let parsed = Url::parse(&url).expect("valid url");
        assert_eq!(parsed.path(), "/oauth/x/authorize");
        let q: HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "tweet.read offline.access");
        assert_eq!(q["state"], "st");
        assert!(!url.contains("client_secret"));
    }
}
