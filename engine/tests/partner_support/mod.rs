//! Shared set-up for the partner and vault tests: a sandbox on loopback driven by a manual
//! clock, the real clients pointed at it, an embedded store in a temporary directory, and the
//! OAuth hand-off a person would go through to connect an account.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use engine::partner::{OutstandClient, Pkce, PlatformOAuthClient, TokenResponse};
use engine::vault::TokenVault;
use sandbox::{Sandbox, SandboxConfig};
use schema::RedbStore;
use secrecy::SecretString;
use tenants::crypto::MasterKeyring;
use tenants::{ManualClock, Platform};

/// The sandbox's default Outstand API key.
pub const API_KEY: &str = "sandbox-outstand-key";
/// Where the OAuth hand-off "returns" to; never contacted.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// A running sandbox with its clock and the clients under test.
pub struct World {
    pub sandbox: Sandbox,
    pub clock: ManualClock,
    pub outstand: OutstandClient,
    pub oauth: PlatformOAuthClient,
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn start_time() -> jiff::Timestamp {
    "2026-03-02T09:00:00Z".parse().expect("valid instant")
}

pub async fn world() -> World {
    install_crypto();
    let clock = ManualClock::new(start_time());
    let config = SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    };
    let sandbox = Sandbox::spawn("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("sandbox starts");
    let base = sandbox.base_url();
    let outstand = OutstandClient::new(
        &format!("{base}/outstand/v1"),
        SecretString::from(API_KEY),
        Duration::from_secs(5),
    )
    .expect("outstand client");
    let oauth = PlatformOAuthClient::sandbox(
        &base,
        "socialcrm-test",
        &SecretString::from("client-secret"),
        Duration::from_secs(5),
    )
    .expect("oauth client");
    World {
        sandbox,
        clock,
        outstand,
        oauth,
    }
}

/// Goes through the hand-off: authorization URL, the platform's redirect with a code, and the
/// code exchange with the PKCE verifier.
pub async fn connect(oauth: &PlatformOAuthClient, platform: Platform) -> TokenResponse {
    let pkce = Pkce::generate();
    let state = "st-123";
    let url = oauth
        .authorization_url(
            platform,
            REDIRECT_URI,
            state,
            pkce.challenge(),
            &["publish"],
        )
        .expect("authorization url");
    let code = follow_authorize(&url, state).await;
    oauth
        .exchange_code(platform, &code, REDIRECT_URI, pkce.verifier())
        .await
        .expect("code exchange succeeds")
}

/// Calls the authorize URL without following the redirect and returns the code it carries.
pub async fn follow_authorize(url: &str, state: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let resp = http.get(url).send().await.expect("authorize answers");
    assert_eq!(resp.status(), reqwest::StatusCode::FOUND);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("redirect location");
    let location = url::Url::parse(location).expect("absolute redirect");
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query.get("state").map(String::as_str), Some(state));
    query.get("code").cloned().expect("code in redirect")
}

/// An embedded store in a fresh temporary directory (kept alive by the returned guard).
pub async fn store() -> (tempfile::TempDir, Arc<RedbStore>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path().join("store.redb")).expect("store opens");
    store.migrate().await.expect("store migrates");
    (dir, Arc::new(store))
}

pub fn keyring() -> Arc<MasterKeyring> {
    Arc::new(MasterKeyring::generate("test-key-1").expect("keyring"))
}

pub fn vault(store: &Arc<RedbStore>, keyring: &Arc<MasterKeyring>) -> TokenVault<RedbStore> {
    TokenVault::new(store.clone(), keyring.clone())
}
