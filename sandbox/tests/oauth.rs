//! End-to-end behaviour of the platform OAuth stand-ins.

mod common;

use common::{pkce_pair, spawn, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenants::Platform;

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn test_each_connect_creates_a_new_user_with_profile() {
    let t = spawn().await;
    let first = t.connect("linkedin").await;
    let second = t.connect("linkedin").await;
    assert_ne!(first.account, second.account);
    assert_eq!(first.body["user"]["username"], "linkedin_user_1");
    assert_eq!(second.body["user"]["username"], "linkedin_user_2");
    assert_eq!(first.body["token_type"], "bearer");
    assert_eq!(first.body["expires_in"], 7200);
    let avatar = t
        .http
        .get(first.body["user"]["avatar_url"].as_str().expect("url"))
        .send()
        .await
        .expect("avatar");
    assert_eq!(avatar.headers()["content-type"], "image/svg+xml");
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_rotating_refresh_token_cannot_be_reused() {
    let t = spawn().await;
    let account = t.connect("x").await;
    let refreshed = t.refresh("x", &account.refresh_token).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.expect("json");
    let new_refresh = refreshed["refresh_token"].as_str().expect("refresh");
    assert_ne!(new_refresh, account.refresh_token);

    let reused = t.refresh("x", &account.refresh_token).await;
    assert_eq!(
        error_of(reused).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".to_owned())
    );
    let next = t.refresh("x", new_refresh).await;
    assert_eq!(next.status(), StatusCode::OK);
    let stats = t.sandbox.stats();
    assert_eq!((stats.refreshes, stats.refresh_rejected), (2, 1));
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_non_rotating_refresh_token_keeps_working() {
    let t = spawn().await;
    let account = t.connect("linkedin").await;
    for _ in 0..2 {
        let refreshed: Value = t
            .refresh("linkedin", &account.refresh_token)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(refreshed["refresh_token"], account.refresh_token.as_str());
        assert_ne!(refreshed["access_token"], account.access_token.as_str());
    }
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_refreshed_access_token_publishes_after_the_old_one_expired() {
    let t = spawn_with(|c| c.token_lifetime_secs = 60).await;
    let mut account = t.connect("tiktok").await;
    t.advance_secs(120);
    let refreshed: Value = t
        .refresh("tiktok", &account.refresh_token)
        .await
        .json()
        .await
        .expect("json");
    account.access_token = refreshed["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let response = t
        .publish("after-refresh", "hi", &account)
        .await
        .expect("publish");
    assert_eq!(response.status(), StatusCode::OK);
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_invalidated_grant_refuses_the_next_refresh() {
    let t = spawn().await;
    let a = t.connect("linkedin").await;
    t.sandbox.invalidate_grant(Platform::Linkedin, &a.account);
    assert_eq!(
        error_of(t.refresh("linkedin", &a.refresh_token).await)
            .await
            .1,
        "invalid_grant"
    );

    let b = t.connect("pinterest").await;
    let response = t
        .http
        .post(format!("{}/_sandbox/oauth/invalidate", t.base))
        .json(&json!({"platform": "pinterest", "refresh_token": b.refresh_token}))
        .send()
        .await
        .expect("invalidate");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        error_of(t.refresh("pinterest", &b.refresh_token).await)
            .await
            .1,
        "invalid_grant"
    );
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_revoke_kills_the_grant_and_fails_when_down() {
    let t = spawn().await;
    let account = t.connect("x").await;
    let revoke_url = format!("{}/oauth/x/revoke", t.base);

    t.sandbox.set_faults(sandbox::Faults {
        revoke_down: true,
        ..Default::default()
    });
    let down = t
        .http
        .post(&revoke_url)
        .form(&[("token", &account.access_token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        t.refresh("x", &account.refresh_token).await.status(),
        StatusCode::OK
    );

    t.sandbox.set_faults(sandbox::Faults::default());
    let account = t.connect("x").await;
    let up = t
        .http
        .post(&revoke_url)
        .form(&[("token", &account.access_token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(up.status(), StatusCode::OK);
    assert_eq!(
        error_of(t.refresh("x", &account.refresh_token).await)
            .await
            .1,
        "invalid_grant"
    );
    let publish = t
        .publish("after-revoke", "hi", &account)
        .await
        .expect("publish");
    assert_eq!(
        error_of(publish).await,
        (StatusCode::UNAUTHORIZED, "token_invalid".to_owned())
    );
    let stats = t.sandbox.stats();
    assert_eq!((stats.revokes, stats.revokes_unavailable), (1, 1));
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_wrong_pkce_verifier_and_reused_code_are_refused() {
    let t = spawn().await;
    let (_, challenge) = pkce_pair();
    let redirect_uri = "http://127.0.0.1:1/cb";
    let authorize = t
        .http
        .get(format!("{}/oauth/bluesky/authorize", t.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", redirect_uri),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let code = common::code_from_redirect(&authorize, "s");
    let exchange = |verifier: &'static str| {
        t.http
            .post(format!("{}/oauth/bluesky/token", t.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
    };
    let wrong = exchange("not-the-verifier").send().await.expect("token");
    assert_eq!(error_of(wrong).await.1, "invalid_grant");
    // Codes are single use, even after a failed exchange.
    let reused = exchange("not-the-verifier").send().await.expect("token");
    assert_eq!(error_of(reused).await.1, "invalid_grant");
    t.sandbox.shutdown().await;
}

#[tokio::test]
async fn test_issued_secrets_include_codes_and_tokens() {
    let t = spawn().await;
    let account = t.connect("youtube").await;
    let secrets = t.sandbox.issued_secrets();
    assert!(secrets.contains(&account.access_token));
    assert!(secrets.contains(&account.refresh_token));
    assert!(secrets.iter().any(|s| s.starts_with("sbx_code_")));
    let over_http: Value = t
        .http
        .get(format!("{}/_sandbox/issued-secrets", t.base))
        .send()
        .await
        .expect("secrets")
        .json()
        .await
        .expect("json");
    assert_eq!(
        over_http["secrets"].as_array().map(Vec::len),
        Some(secrets.len())
    );
    t.sandbox.shutdown().await;
}
