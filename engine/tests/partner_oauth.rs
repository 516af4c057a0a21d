//! Platform OAuth and the refresh policy end to end: the connect hand-off against the sandbox,
//! refresh with and without rotation persisted through the vault before use, dead grants asking
//! for a reconnect, and transient failures retried with backoff.

mod partner_support;

use std::time::Duration;

use engine::partner::{OAuthApp, OAuthError, PlatformOAuthClient, PublishRequest};
use engine::token_refresh::{RefreshOutcome, refresh_account};
use engine::vault::ClearTokens;
use jiff::SignedDuration;
use partner_support::{REDIRECT_URI, connect, follow_authorize, keyring, store, vault, world};
use sandbox::Faults;
use schema::WorkspaceScope;
use secrecy::{ExposeSecret, SecretString};
use tenants::{AccountId, Clock, Platform, WorkspaceId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn account_scope() -> schema::AccountScope {
    WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new())
}

#[tokio::test]
async fn test_code_exchange_returns_tokens_and_the_platform_user() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::X).await;
    assert!(!grant.access_token.expose_secret().is_empty());
    assert!(grant.refresh_token.is_some());
    assert_eq!(grant.expires_in, Some(Duration::from_secs(7200)));
    let user = grant.user.expect("user");
    assert!(!user.id.is_empty());
    assert!(user.avatar_url.is_some());

    let pkce = engine::partner::Pkce::generate();
    let url = w
        .oauth
        .authorization_url(
            Platform::X,
            REDIRECT_URI,
            "s2",
            pkce.challenge(),
            &["publish"],
        )
        .expect("url");
    let code = follow_authorize(&url, "s2").await;
    let wrong = SecretString::from("a-verifier-that-does-not-match-the-challenge-at-all");
    let err = w
        .oauth
        .exchange_code(Platform::X, &code, REDIRECT_URI, &wrong)
        .await
        .expect_err("refused");
    assert!(
        matches!(err, OAuthError::InvalidGrant { .. }),
        "got {err:?}"
    );
}

#[tokio::test]
async fn test_rotating_refresh_persists_the_new_refresh_token_and_retires_the_old() {
    let w = world().await;
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = account_scope();
    let grant = connect(&w.oauth, Platform::X).await;
    let account = grant.user.clone().expect("user").id;
    let old_refresh = grant.refresh_token.clone().expect("refresh token");
    vault
        .store_grant(
            scope,
            &ClearTokens::from_response(&grant, w.clock.now()),
            w.clock.now(),
        )
        .await
        .expect("stored");

    w.clock.advance(SignedDuration::from_mins(100));
    let outcome = refresh_account(&vault, &w.oauth, &w.clock, scope, Platform::X, 0).await;
    let now = w.clock.now();
    let RefreshOutcome::Refreshed {
        access_expires_at,
        next_refresh_at,
        token_hint,
        ..
    } = outcome
    else {
        panic!("expected a refresh, got {outcome:?}");
    };
    assert_eq!(
        access_expires_at,
        Some(now + SignedDuration::from_secs(7200))
    );
    let next = next_refresh_at.expect("planned");
    assert!(next > now && next <= now + SignedDuration::from_secs(7200 - 60));

    let stored = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    let new_refresh = stored.refresh_token.clone().expect("refresh token kept");
    assert_ne!(
        new_refresh.expose_secret(),
        old_refresh.expose_secret(),
        "rotated"
    );
    assert_ne!(
        stored.access_token.expose_secret(),
        grant.access_token.expose_secret()
    );
    assert_eq!(token_hint, stored.token_hint());
    let reused = w
        .oauth
        .refresh(Platform::X, &old_refresh)
        .await
        .expect_err("old one is spent");
    assert!(
        matches!(reused, OAuthError::InvalidGrant { .. }),
        "got {reused:?}"
    );

    let publish = PublishRequest {
        idempotency_key: "after-refresh".into(),
        content: "hello".into(),
        partner_account_id: account,
        media: vec![],
        first_comment: None,
        access_token: &stored.access_token,
    };
    w.outstand
        .create_post(&publish)
        .await
        .expect("the persisted token publishes");

    let again = refresh_account(&vault, &w.oauth, &w.clock, scope, Platform::X, 0).await;
    assert!(
        matches!(again, RefreshOutcome::Refreshed { .. }),
        "the stored rotated token works: {again:?}"
    );
}

#[tokio::test]
async fn test_non_rotating_refresh_keeps_the_same_refresh_token() {
    let w = world().await;
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = account_scope();
    let grant = connect(&w.oauth, Platform::Linkedin).await;
    let refresh = grant.refresh_token.clone().expect("refresh token");
    vault
        .store_grant(
            scope,
            &ClearTokens::from_response(&grant, w.clock.now()),
            w.clock.now(),
        )
        .await
        .expect("stored");
    let outcome = refresh_account(&vault, &w.oauth, &w.clock, scope, Platform::Linkedin, 0).await;
    assert!(
        matches!(outcome, RefreshOutcome::Refreshed { .. }),
        "got {outcome:?}"
    );
    let stored = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    assert_eq!(
        stored.refresh_token.expect("kept").expose_secret(),
        refresh.expose_secret()
    );
    assert_ne!(
        stored.access_token.expose_secret(),
        grant.access_token.expose_secret()
    );
}

/// A platform token endpoint that answers every request with `body` and hands back what it was
/// sent, standing in for a platform whose refresh answer carries no refresh token.
async fn one_shot_token_endpoint(body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("a request");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.expect("reads");
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if rest.len() >= len || n == 0 {
                    break;
                }
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.expect("writes");
        String::from_utf8_lossy(&request).to_string()
    });
    (format!("http://{addr}/oauth/youtube"), served)
}

#[tokio::test]
async fn test_refresh_answer_without_refresh_token_keeps_the_old_one() {
    partner_support::install_crypto();
    let clock = tenants::ManualClock::new(partner_support::start_time());
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = account_scope();
    let original = ClearTokens {
        access_token: SecretString::from("old-access-token-1111"),
        refresh_token: Some(SecretString::from("long-lived-refresh-2222")),
        access_expires_at: Some(clock.now() + SignedDuration::from_mins(5)),
        refresh_expires_at: None,
        scope: None,
    };
    vault
        .store_grant(scope, &original, clock.now())
        .await
        .expect("stored");

    let (base, served) = one_shot_token_endpoint(
        r#"{"access_token":"new-access-token-3333","expires_in":3600,"token_type":"Bearer"}"#,
    )
    .await;
    let app = OAuthApp::under(&base, "cid", SecretString::from("csecret")).expect("app");
    let oauth = PlatformOAuthClient::new([(Platform::Youtube, app)].into(), Duration::from_secs(5))
        .expect("client");
    let outcome = refresh_account(&vault, &oauth, &clock, scope, Platform::Youtube, 0).await;
    assert!(
        matches!(outcome, RefreshOutcome::Refreshed { .. }),
        "got {outcome:?}"
    );
    let sent = served.await.expect("served");
    assert!(sent.contains("grant_type=refresh_token"));
    assert!(sent.contains("refresh_token=long-lived-refresh-2222"));

    let stored = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    assert_eq!(stored.access_token.expose_secret(), "new-access-token-3333");
    assert_eq!(
        stored.refresh_token.expect("kept").expose_secret(),
        "long-lived-refresh-2222"
    );
    assert_eq!(
        stored.access_expires_at,
        Some(clock.now() + SignedDuration::from_hours(1))
    );
}

#[tokio::test]
async fn test_dead_grant_needs_reconnect_and_keeps_the_tokens() {
    let w = world().await;
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = account_scope();
    let grant = connect(&w.oauth, Platform::Tiktok).await;
    let user = grant.user.clone().expect("user").id;
    vault
        .store_grant(
            scope,
            &ClearTokens::from_response(&grant, w.clock.now()),
            w.clock.now(),
        )
        .await
        .expect("stored");
    w.sandbox.invalidate_grant(Platform::Tiktok, &user);
    let outcome = refresh_account(&vault, &w.oauth, &w.clock, scope, Platform::Tiktok, 0).await;
    let RefreshOutcome::NeedsReconnect { reason } = outcome else {
        panic!("expected a reconnect, got {outcome:?}");
    };
    assert!(
        reason.contains("invalid_grant") && reason.contains("reconnect"),
        "{reason}"
    );
    let kept = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("tokens are kept");
    assert_eq!(
        kept.access_token.expose_secret(),
        grant.access_token.expose_secret()
    );

    let empty = account_scope();
    let none = refresh_account(&vault, &w.oauth, &w.clock, empty, Platform::Tiktok, 0).await;
    assert!(
        matches!(none, RefreshOutcome::NeedsReconnect { .. }),
        "got {none:?}"
    );
}

#[tokio::test]
async fn test_unreachable_platform_is_retried_with_growing_backoff_and_never_disconnects() {
    let w = world().await;
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = account_scope();
    let grant = connect(&w.oauth, Platform::Pinterest).await;
    vault
        .store_grant(
            scope,
            &ClearTokens::from_response(&grant, w.clock.now()),
            w.clock.now(),
        )
        .await
        .expect("stored");
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let down = PlatformOAuthClient::sandbox(
        &dead,
        "cid",
        &SecretString::from("s"),
        Duration::from_secs(2),
    )
    .expect("client");
    let now = w.clock.now();
    for (failures, min_secs, max_secs) in [(0, 15, 30), (3, 120, 240)] {
        let outcome = refresh_account(
            &vault,
            &down,
            &w.clock,
            scope,
            Platform::Pinterest,
            failures,
        )
        .await;
        let RefreshOutcome::Transient { retry_at, .. } = outcome else {
            panic!("expected a retry, got {outcome:?}");
        };
        let wait = retry_at.duration_since(now).as_secs();
        assert!(
            (min_secs..=max_secs).contains(&wait),
            "waits {wait}s after {failures} failures"
        );
    }
    let kept = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    assert_eq!(
        kept.refresh_token.expect("kept").expose_secret(),
        grant.refresh_token.expect("rt").expose_secret()
    );
}

#[tokio::test]
async fn test_revoked_grant_can_no_longer_refresh_and_revoke_outage_is_transient() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::Threads).await;
    w.sandbox.set_faults(Faults {
        revoke_down: true,
        ..Faults::default()
    });
    let err = w
        .oauth
        .revoke(Platform::Threads, &grant.access_token)
        .await
        .expect_err("down");
    assert!(matches!(err, OAuthError::Transient { .. }), "got {err:?}");
    w.sandbox.set_faults(Faults::default());
    w.oauth
        .revoke(Platform::Threads, &grant.access_token)
        .await
        .expect("revoked");
    let refresh = grant.refresh_token.expect("refresh token");
    let err = w
        .oauth
        .refresh(Platform::Threads, &refresh)
        .await
        .expect_err("grant is gone");
    assert!(
        matches!(err, OAuthError::InvalidGrant { .. }),
        "got {err:?}"
    );
    w.oauth
        .revoke(Platform::Threads, &refresh)
        .await
        .expect("revoking twice is fine");
}

/// Collects everything the code under test logs.
#[derive(Clone, Default)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn test_logs_never_contain_tokens_or_the_api_key() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = world().await;
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = account_scope();
    let grant = connect(&w.oauth, Platform::X).await;
    let account = grant.user.clone().expect("user").id;
    vault
        .store_grant(
            scope,
            &ClearTokens::from_response(&grant, w.clock.now()),
            w.clock.now(),
        )
        .await
        .expect("stored");
    let refreshed = refresh_account(&vault, &w.oauth, &w.clock, scope, Platform::X, 0).await;
    assert!(
        matches!(refreshed, RefreshOutcome::Refreshed { .. }),
        "got {refreshed:?}"
    );
    let tokens = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    w.sandbox.set_faults(Faults {
        drop_after_accept_rate: 1.0,
        ..Faults::default()
    });
    let publish = PublishRequest {
        idempotency_key: "logged".into(),
        content: "hello".into(),
        partner_account_id: account.clone(),
        media: vec![],
        first_comment: None,
        access_token: &tokens.access_token,
    };
    let lost = w.outstand.create_post(&publish).await.expect_err("dropped");
    tracing::info!(error = %lost, ?publish, "publish outcome");
    w.sandbox.invalidate_grant(Platform::X, &account);
    let dead = refresh_account(&vault, &w.oauth, &w.clock, scope, Platform::X, 0).await;
    assert!(
        matches!(dead, RefreshOutcome::NeedsReconnect { .. }),
        "got {dead:?}"
    );

    let logs = String::from_utf8(capture.0.lock().expect("log buffer").clone()).expect("utf-8");
    assert!(
        logs.contains("tokens refreshed and persisted"),
        "the capture works: {logs}"
    );
    let secrets = w.sandbox.issued_secrets();
    assert!(secrets.len() >= 4);
    for secret in secrets.iter().chain([&partner_support::API_KEY.to_owned()]) {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
    }
}
