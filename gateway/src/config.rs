//! Gateway settings: body limits, rate limits, sign-in providers and cookie secrets. The binary
//! fills a [`GatewayConfig`] from its typed settings and hands it to [`crate::AppState::new`].

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Everything the gateway needs to know that is not in the store.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The URL browsers reach the gateway at (`https://crm.example.com`), used to build OAuth
    /// `redirect_uri`s. No trailing slash.
    pub public_base_url: String,
    /// The largest request body accepted, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Per-credential and per-workspace request budgets.
    pub rate_limit: RateLimitConfig,
    /// How long an `Idempotency-Key` is remembered (at least 24 h).
    pub idempotency_ttl: Duration,
    /// How long a browser session lasts.
    pub session_ttl: Duration,
    /// Key for signing the short-lived sign-in cookie (state, nonce, PKCE verifier). Every
    /// gateway node of one deployment must share it.
    pub cookie_secret: SecretString,
    /// Where the browser is sent after a successful sign-in.
    pub post_signin_redirect: String,
    /// Google sign-in, when configured.
    pub google: Option<OidcProviderConfig>,
    /// X sign-in, when configured.
    pub x: Option<XProviderConfig>,
    /// The data directory; uploaded media live in `<data_dir>/media/<workspace>/<media id>`.
    pub data_dir: PathBuf,
    /// The largest media upload accepted, in bytes; larger uploads get 413.
    pub max_media_bytes: usize,
    /// Base of the platforms' OAuth endpoints, laid out as
    /// `{oauth_base_url}/{platform}/authorize|token|revoke` (the sandbox's `{sandbox}/oauth`).
    /// Empty: connecting accounts is not configured and answers 503.
    pub oauth_base_url: String,
    /// Our OAuth client id at the platforms.
    pub oauth_client_id: String,
    /// Our OAuth client secret at the platforms.
    pub oauth_client_secret: SecretString,
    /// How long audit and security log entries are kept (default 90 days).
    pub audit_retention: Duration,
    /// How long a data export job and its archive are kept (default 7 days).
    pub export_retention: Duration,
    /// The signing secret of the publishing partner's webhooks (`X-Outstand-Signature`).
    /// Empty: inbound partner webhooks are not configured and answer 503.
    pub outstand_webhook_secret: SecretString,
    /// CSV import limits: upload size and rows (413 past them), the size answered at once.
    pub imports: crate::import_jobs::ImportLimits,
}

impl GatewayConfig {
    /// A configuration with the documented defaults: 1 MiB bodies, 600 requests a minute per
    /// credential, 1200 per workspace, 24 h idempotency, 14-day sessions, no sign-in provider.
    pub fn new(public_base_url: impl Into<String>, cookie_secret: SecretString) -> Self {
        Self {
            public_base_url: public_base_url.into().trim_end_matches('/').to_owned(),
            max_body_bytes: 1024 * 1024,
            rate_limit: RateLimitConfig::default(),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            cookie_secret,
            post_signin_redirect: "/".to_owned(),
            google: None,
            x: None,
            data_dir: PathBuf::from("./data"),
            max_media_bytes: 50 * 1024 * 1024,
            oauth_base_url: String::new(),
            oauth_client_id: "socialcrm".to_owned(),
            oauth_client_secret: SecretString::from(String::new()),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            export_retention: Duration::from_secs(7 * 24 * 3600),
            outstand_webhook_secret: SecretString::from(String::new()),
            imports: crate::import_jobs::ImportLimits::default(),
        }
    }
}

/// Request budgets. Each is a GCRA bucket: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Sustained requests per minute for one API key or session (anonymous callers share one
    /// bucket per client address).
    pub per_key_per_minute: u32,
    /// Burst size for one credential.
    pub per_key_burst: u32,
    /// Sustained requests per minute addressed to one workspace, whoever sends them.
    pub per_workspace_per_minute: u32,
    /// Burst size for one workspace.
    pub per_workspace_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_key_per_minute: 600,
            per_key_burst: 100,
            per_workspace_per_minute: 1200,
            per_workspace_burst: 200,
        }
    }
}

/// How an ID token's signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenCheck {
    /// HS256 keyed by the client secret (the sandbox's scheme).
    Hs256ClientSecret,
    /// Trust the TLS channel to the token endpoint, as OpenID Connect Core §3.1.3.7 allows for
    /// a token received directly from the provider; claims are still checked.
    DirectTls,
}

/// An OpenID Connect provider (Google).
#[derive(Debug, Clone)]
pub struct OidcProviderConfig {
    /// The issuer base; discovery is read from `{base}/.well-known/openid-configuration`.
    pub base_url: String,
    /// The OAuth client id (also the expected `aud`).
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
    /// How the ID token signature is checked.
    pub id_token_check: IdTokenCheck,
}

/// X OAuth 2.0 with PKCE.
#[derive(Debug, Clone)]
pub struct XProviderConfig {
    /// Base of the authorize page (`https://x.com`); `/i/oauth2/authorize` is appended.
    pub authorize_base_url: String,
    /// Base of the API (`https://api.x.com`); `/2/oauth2/token` and `/2/users/me` are appended.
    pub api_base_url: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret (confidential client: sent as HTTP Basic).
    pub client_secret: SecretString,
}
