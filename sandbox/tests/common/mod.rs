//! Shared helpers for the sandbox's end-to-end tests: a sandbox on 127.0.0.1:0 driven by a
//! manual clock, an HTTP client that does not follow redirects, and the OAuth connect dance.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use reqwest::StatusCode;
use sandbox::{Faults, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tenants::ManualClock;

pub const API_KEY: &str = "sandbox-outstand-key";

pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub base: String,
}

pub async fn spawn() -> TestSandbox {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut SandboxConfig)) -> TestSandbox {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock = ManualClock::new(Timestamp::from_second(1_767_225_600).expect("valid start"));
    let mut config = SandboxConfig {
        clock: Arc::new(clock.clone()),
        faults: Faults::default(),
        ..SandboxConfig::default()
    };
    tweak(&mut config);
    let sandbox = Sandbox::spawn("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("sandbox starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = sandbox.base_url();
    TestSandbox {
        sandbox,
        clock,
        http,
        base,
    }
}

/// A platform connection made through the sandbox's OAuth endpoints.
pub struct Connected {
    pub account: String,
    pub access_token: String,
    pub refresh_token: String,
    pub body: Value,
}

pub fn pkce_pair() -> (String, String) {
    let verifier = format!("verifier-{}", uuid::Uuid::new_v4());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Code from a `302` redirect's `Location`, checking `state` came back.
pub fn code_from_redirect(response: &reqwest::Response, state: &str) -> String {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("ascii");
    let url = url::Url::parse(location).expect("absolute redirect");
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs.get("state").map(String::as_str), Some(state));
    pairs["code"].clone()
}

impl TestSandbox {
    pub fn outstand(&self, path: &str) -> String {
        format!("{}/outstand/v1{path}", self.base)
    }

    pub async fn connect(&self, platform: &str) -> Connected {
        let (verifier, challenge) = pkce_pair();
        let redirect_uri = "http://127.0.0.1:1/callback";
        let authorize = self
            .http
            .get(format!("{}/oauth/{platform}/authorize", self.base))
            .query(&[
                ("response_type", "code"),
                ("client_id", "app"),
                ("redirect_uri", redirect_uri),
                ("state", "st-1"),
                ("scope", "publish"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .expect("authorize");
        let code = code_from_redirect(&authorize, "st-1");
        let response = self
            .http
            .post(format!("{}/oauth/{platform}/token", self.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", &verifier),
                ("client_id", "app"),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        Connected {
            account: body["user"]["id"].as_str().expect("user id").to_owned(),
            access_token: body["access_token"].as_str().expect("access").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh").to_owned(),
            body,
        }
    }

    pub async fn refresh(&self, platform: &str, refresh_token: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth/{platform}/token", self.base))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "app"),
            ])
            .send()
            .await
            .expect("refresh")
    }

    pub async fn publish(
        &self,
        key: &str,
        content: &str,
        to: &Connected,
    ) -> reqwest::Result<reqwest::Response> {
        let body = json!({
            "content": content,
            "accounts": [to.account],
            "credentials": [{"account": to.account, "access_token": to.access_token}],
        });
        self.publish_body(key, &body).await
    }

    pub async fn publish_body(
        &self,
        key: &str,
        body: &Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.outstand("/posts"))
            .bearer_auth(API_KEY)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
    }

    pub fn advance_secs(&self, secs: i64) {
        self.clock.advance(jiff::SignedDuration::from_secs(secs));
    }
}
