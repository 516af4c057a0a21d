//! Clients of the outside services the engine calls: the publishing partner ([`OutstandClient`])
//! and the platforms' OAuth token endpoints ([`PlatformOAuthClient`]). Each takes its base URL
//! from config, so the same code talks to the real service or to its sandbox stand-in. Secrets
//! (API key, tokens, client secret) are held as [`secrecy::SecretString`] and never logged.

pub mod error;
pub mod oauth;
pub mod outstand;
pub mod pkce;
pub mod wire;

use std::error::Error as _;
use std::time::Duration;

use url::Url;

pub use error::{OAuthError, PartnerError, PublishError, RefreshError, RevokeError};
pub use oauth::{OAuthApp, PlatformOAuthClient, PlatformUser, TokenResponse};
pub use outstand::{
    Accepted, AccountMetrics, AccountPostMetrics, Engagement, MediaRef, OutstandClient,
    PartnerAccountStatus, PartnerPost, PartnerPostAccount, PostAnalytics, PublishRequest, Reply,
};
pub use pkce::Pkce;
pub use wire::{RateLimitInfo, RateLimitReset};

/// The longest a connect attempt may take, so "never connected" is told apart from "sent, no
/// answer" well before the whole-call timeout fires.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which HTTP a partner client speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PartnerHttp {
    /// HTTP/2 where TLS negotiates it, else HTTP/1.1: for a public partner API.
    #[default]
    Negotiated,
    /// HTTP/2 over plain TCP ("h2c", with prior knowledge): for the local stand-ins of sandbox
    /// mode, which serve it beside HTTP/1.1. One connection carries every call in flight, as
    /// with a partner that negotiated HTTP/2.
    H2c,
}

/// Builds the HTTP client every partner client uses, speaking `http`: bounded whole-call and
/// connect timeouts, and no redirects (a redirected POST could turn into something else).
pub(crate) fn http_client(timeout: Duration, http: PartnerHttp) -> Result<reqwest::Client, String> {
    // reqwest is built without a bundled crypto provider; the binary installs ring. Installing
    // it here too (a no-op when one is set) keeps a library caller from a panic at build time.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let connect_timeout = (timeout / 2).min(MAX_CONNECT_TIMEOUT);
    let builder = match http {
        PartnerHttp::Negotiated => reqwest::Client::builder(),
        PartnerHttp::H2c => reqwest::Client::builder().http2_prior_knowledge(),
    };
    builder
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("socialcrm/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("http client: {}", describe_transport(&e)))
}

/// `base` with `segments` appended as percent-encoded path segments.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, String> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| format!("`{base}` cannot be a base url"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// A transport error as text: its kind and source chain, without the URL (which may carry
/// query values) and never any header.
pub(crate) fn describe_transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "body failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    wire::bounded(&text)
}
