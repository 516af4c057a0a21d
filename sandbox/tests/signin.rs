//! End-to-end behaviour of the Google and X sign-in stand-ins.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{code_from_redirect, pkce_pair, spawn};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Sha256;

const REDIRECT: &str = "http://127.0.0.1:1/auth/callback";

#[tokio::test]
async fn test_google_id_token_is_signed_with_client_secret_and_echoes_nonce() {
    let t = spawn().await;
    let discovery: Value = t
        .http
        .get(format!(
            "{}/google/.well-known/openid-configuration",
            t.base
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let authorize_url = discovery["authorization_endpoint"]
        .as_str()
        .expect("auth endpoint");
    let authorize = t
        .http
        .get(authorize_url)
        .query(&[
            ("response_type", "code"),
            ("client_id", "web-client"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email profile"),
            ("state", "g-state"),
            ("nonce", "n-123"),
            ("login_hint", "ada@example.org"),
        ])
        .send()
        .await
        .expect("authorize");
    let code = code_from_redirect(&authorize, "g-state");
    let token: Value = t
        .http
        .post(
            discovery["token_endpoint"]
                .as_str()
                .expect("token endpoint"),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "web-client"),
            ("client_secret", "shh"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");

    let id_token = token["id_token"].as_str().expect("id_token");
    let parts: Vec<&str> = id_token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"shh").expect("key");
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("b64");
    mac.verify_slice(&signature)
        .expect("signature verifies with the client secret");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(claims["nonce"], "n-123");
    assert_eq!(claims["aud"], "web-client");
    assert_eq!(claims["iss"], discovery["issuer"]);
    assert_eq!(claims["email"], "ada@example.org");
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());

    let userinfo: Value = t
        .http
        .get(discovery["userinfo_endpoint"].as_str().expect("userinfo"))
        .bearer_auth(token["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(userinfo["sub"], claims["sub"]);
    assert!(t.sandbox.issued_secrets().iter().any(|s| s == id_token));
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_x_sign_in_with_pkce_returns_users_me() {
    let t = spawn().await;
    let (verifier, challenge) = pkce_pair();
    let authorize = t
        .http
        .get(format!("{}/x/i/oauth2/authorize", t.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", "x-client"),
            ("redirect_uri", REDIRECT),
            ("scope", "users.read tweet.read"),
            ("state", "x-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let code = code_from_redirect(&authorize, "x-state");
    let token: Value = t
        .http
        .post(format!("{}/x/2/oauth2/token", t.base))
        .basic_auth("x-client", Some("x-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(token["expires_in"], 7200);
    let access = token["access_token"].as_str().expect("access");
    let me_url = format!("{}/x/2/users/me", t.base);
    let me: Value = t
        .http
        .get(&me_url)
        .bearer_auth(access)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert!(me["data"]["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        me["data"]["username"]
            .as_str()
            .is_some_and(|s| s.starts_with("x_signin_"))
    );

    t.advance_secs(7200);
    let expired = t
        .http
        .get(&me_url)
        .bearer_auth(access)
        .send()
        .await
        .expect("me");
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_x_authorize_requires_pkce() {
    let t = spawn().await;
    let response = t
        .http
        .get(format!("{}/x/i/oauth2/authorize", t.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", "x"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    t.sandbox.shutdown().await;
}
