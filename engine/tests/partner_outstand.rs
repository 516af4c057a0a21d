//! The publishing partner's client against the sandbox over real HTTP: accepted, replayed and
//! read-back posts, and every failure sorted the way the publish pipeline needs it.

mod partner_support;

use std::time::Duration;

use engine::partner::{
    MediaRef, OutstandClient, PartnerAccountStatus, PartnerError, PartnerHttp, PublishError,
    PublishRequest,
};
use jiff::SignedDuration;
use partner_support::{API_KEY, connect, world};
use sandbox::Faults;
use secrecy::{ExposeSecret, SecretString};
use tenants::Platform;

fn request<'a>(key: &str, account: &str, token: &'a SecretString) -> PublishRequest<'a> {
    PublishRequest {
        idempotency_key: key.to_owned(),
        content: "Spring sale starts today".to_owned(),
        partner_account_id: account.to_owned(),
        media: vec![MediaRef {
            url: "https://media.example.com/a.jpg".to_owned(),
            filename: "a.jpg".to_owned(),
        }],
        first_comment: Some("Link in bio".to_owned()),
        access_token: token,
    }
}

#[tokio::test]
async fn test_accepted_post_is_replayed_for_the_same_key_and_readable_back() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::X).await;
    let account = grant.user.clone().expect("user").id;
    let req = request("delivery-1", &account, &grant.access_token);

    let first = w.outstand.create_post(&req).await.expect("accepted");
    assert!(!first.replayed);
    let entry = first
        .post
        .account(&account)
        .expect("our account is targeted");
    assert_eq!(entry.status, PartnerAccountStatus::Published);
    assert!(entry.platform_post_id.is_some());
    assert_eq!(first.rate_limit.limit, Some(600));
    assert!(first.rate_limit.reset.is_some());

    let again = w.outstand.create_post(&req).await.expect("replayed");
    assert!(again.replayed);
    assert_eq!(again.post.id, first.post.id);
    assert_eq!(w.sandbox.ledger().len(), 1, "one publish, not two");

    let read = w.outstand.get_post(&first.post.id).await.expect("readable");
    assert_eq!(read.value.id, first.post.id);
    let found = w
        .outstand
        .find_by_idempotency_key("delivery-1")
        .await
        .expect("lookup works");
    assert_eq!(found.value.map(|p| p.id), Some(first.post.id.clone()));
    let missing = w
        .outstand
        .find_by_idempotency_key("never-sent")
        .await
        .expect("lookup works");
    assert!(missing.value.is_none());

    let analytics = w
        .outstand
        .post_analytics(&first.post.id)
        .await
        .expect("analytics");
    assert_eq!(analytics.value.by_account.len(), 1);
    assert_eq!(
        analytics.value.by_account[0].account_id.as_deref(),
        Some(account.as_str())
    );
    let metrics = w
        .outstand
        .account_metrics(&account, None, None)
        .await
        .expect("metrics");
    assert_eq!(metrics.value.account_id.as_deref(), Some(account.as_str()));
    assert!(matches!(
        w.outstand.get_post("no-such-post").await,
        Err(PartnerError::NotFound)
    ));
}

#[tokio::test]
async fn test_rate_limited_publish_is_retryable_after_the_partners_delay() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::Instagram).await;
    let account = grant.user.clone().expect("user").id;
    w.sandbox.set_faults(Faults {
        rate_limit_rate: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let req = request("delivery-429", &account, &grant.access_token);
    match w.outstand.create_post(&req).await {
        Err(PublishError::NotAccepted {
            retryable,
            retry_after,
            ..
        }) => {
            assert!(retryable);
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("expected a retryable refusal, got {other:?}"),
    }
    assert!(w.sandbox.ledger().is_empty());

    w.sandbox.set_faults(Faults::default());
    w.clock.advance(SignedDuration::from_secs(8));
    let accepted = w
        .outstand
        .create_post(&req)
        .await
        .expect("accepted after waiting");
    assert!(!accepted.replayed);
    assert_eq!(w.sandbox.stats().early_retries, 0);
}

#[tokio::test]
async fn test_server_error_before_acceptance_is_retryable_and_publishes_nothing() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::Linkedin).await;
    let account = grant.user.clone().expect("user").id;
    w.sandbox.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let err = w
        .outstand
        .create_post(&request("delivery-500", &account, &grant.access_token))
        .await
        .expect_err("refused");
    assert!(err.is_retryable(), "got {err:?}");
    assert!(w.sandbox.ledger().is_empty());
}

#[tokio::test]
async fn test_dropped_answer_after_acceptance_is_unknown_and_reconciles_by_key() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::X).await;
    let account = grant.user.clone().expect("user").id;
    w.sandbox.set_faults(Faults {
        drop_after_accept_rate: 1.0,
        ..Faults::default()
    });
    let req = request("delivery-dropped", &account, &grant.access_token);
    let err = w.outstand.create_post(&req).await.expect_err("no answer");
    assert!(matches!(err, PublishError::Unknown { .. }), "got {err:?}");
    assert!(!err.is_retryable());

    w.sandbox.set_faults(Faults::default());
    let found = w
        .outstand
        .find_by_idempotency_key("delivery-dropped")
        .await
        .expect("lookup works")
        .value
        .expect("the partner did accept it");
    assert!(found.account(&account).is_some());
    let replay = w.outstand.create_post(&req).await.expect("replayed");
    assert!(replay.replayed);
    assert_eq!(replay.post.id, found.id);
    assert_eq!(w.sandbox.ledger().len(), 1);
    assert_eq!(w.sandbox.duplicates(), 0);
}

#[tokio::test]
async fn test_over_h2c_a_lost_answer_is_unknown_and_the_next_call_shares_the_connection() {
    let w = world().await;
    let h2c = OutstandClient::over(
        &format!("{}/outstand/v1", w.sandbox.base_url()),
        SecretString::from(API_KEY),
        Duration::from_secs(5),
        PartnerHttp::H2c,
    )
    .expect("h2c client");
    let grant = connect(&w.oauth, Platform::Instagram).await;
    let account = grant.user.clone().expect("user").id;
    let kept = request("delivery-h2c-1", &account, &grant.access_token);
    h2c.create_post(&kept).await.expect("accepted over h2c");
    let connections = w.sandbox.stats().connections_accepted;

    w.sandbox.set_faults(Faults {
        drop_after_accept_rate: 1.0,
        ..Faults::default()
    });
    let lost = request("delivery-h2c-2", &account, &grant.access_token);
    let err = h2c.create_post(&lost).await.expect_err("no answer");
    assert!(matches!(err, PublishError::Unknown { .. }), "got {err:?}");
    assert!(!err.is_retryable());

    w.sandbox.set_faults(Faults::default());
    let found = h2c
        .find_by_idempotency_key("delivery-h2c-2")
        .await
        .expect("lookup works")
        .value
        .expect("the partner did accept it");
    assert!(found.account(&account).is_some());
    let replay = h2c.create_post(&lost).await.expect("replayed");
    assert!(replay.replayed);
    assert_eq!(w.sandbox.ledger().len(), 2);
    assert_eq!(w.sandbox.duplicates(), 0);
    assert_eq!(
        w.sandbox.stats().connections_accepted,
        connections,
        "only the lost call's stream was reset"
    );
}

#[tokio::test]
async fn test_expired_or_unknown_platform_token_is_rejected_and_nothing_published() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::Tiktok).await;
    let account = grant.user.clone().expect("user").id;
    w.clock.advance(SignedDuration::from_hours(3));
    let expired = w
        .outstand
        .create_post(&request("delivery-exp", &account, &grant.access_token))
        .await;
    assert_eq!(
        expired.expect_err("refused"),
        PublishError::TokenRejected {
            code: "token_expired".into()
        }
    );
    let bogus = SecretString::from("not-a-token");
    let invalid = w
        .outstand
        .create_post(&request("delivery-bogus", &account, &bogus))
        .await;
    assert_eq!(
        invalid.expect_err("refused"),
        PublishError::TokenRejected {
            code: "token_invalid".into()
        }
    );
    assert!(w.sandbox.ledger().is_empty());

    let refresh = grant.refresh_token.as_ref().expect("refresh token");
    let renewed = w
        .oauth
        .refresh(Platform::Tiktok, refresh)
        .await
        .expect("refreshed");
    let ok = w
        .outstand
        .create_post(&request("delivery-exp", &account, &renewed.access_token))
        .await
        .expect("accepted with the renewed token");
    assert!(!ok.replayed);
}

#[tokio::test]
async fn test_key_reused_with_another_body_is_unknown_not_a_failure() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::Bluesky).await;
    let account = grant.user.clone().expect("user").id;
    let mut req = request("delivery-reused", &account, &grant.access_token);
    w.outstand.create_post(&req).await.expect("accepted");
    req.content = "Edited caption".into();
    let err = w.outstand.create_post(&req).await.expect_err("conflict");
    assert!(matches!(err, PublishError::Unknown { .. }), "got {err:?}");
    assert_eq!(w.sandbox.ledger().len(), 1);
}

#[tokio::test]
async fn test_invalid_request_and_bad_api_key_are_not_retryable() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::X).await;
    let account = grant.user.clone().expect("user").id;
    let too_long = "k".repeat(300);
    let err = w
        .outstand
        .create_post(&request(&too_long, &account, &grant.access_token))
        .await
        .expect_err("invalid");
    assert!(
        matches!(
            err,
            PublishError::NotAccepted {
                retryable: false,
                ..
            }
        ),
        "got {err:?}"
    );

    let wrong_key = OutstandClient::new(
        &format!("{}/outstand/v1", w.sandbox.base_url()),
        SecretString::from("wrong-key"),
        Duration::from_secs(5),
    )
    .expect("client");
    let err = wrong_key
        .create_post(&request("delivery-key", &account, &grant.access_token))
        .await
        .expect_err("unauthorized");
    assert!(
        matches!(
            err,
            PublishError::NotAccepted {
                retryable: false,
                ..
            }
        ),
        "got {err:?}"
    );
    assert!(!err.to_string().contains("wrong-key"));
    assert!(matches!(
        wrong_key.get_post("x").await,
        Err(PartnerError::Unauthorized)
    ));
    assert!(w.sandbox.ledger().is_empty());
}

#[tokio::test]
async fn test_connection_refused_is_retryable_and_slow_answer_is_unknown() {
    let w = world().await;
    let grant = connect(&w.oauth, Platform::X).await;
    let account = grant.user.clone().expect("user").id;

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_addr = closed.local_addr().expect("addr");
    drop(closed);
    let dead = OutstandClient::new(
        &format!("http://{dead_addr}/outstand/v1"),
        SecretString::from(API_KEY),
        Duration::from_secs(2),
    )
    .expect("client");
    let err = dead
        .create_post(&request("delivery-refused", &account, &grant.access_token))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, PublishError::NotAccepted { retryable: true, code, .. } if code == "connect"),
        "got {err:?}"
    );

    let impatient = OutstandClient::new(
        &format!("{}/outstand/v1", w.sandbox.base_url()),
        SecretString::from(API_KEY),
        Duration::from_millis(300),
    )
    .expect("client");
    w.sandbox.set_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    let err = impatient
        .create_post(&request("delivery-slow", &account, &grant.access_token))
        .await
        .expect_err("timed out");
    assert!(matches!(err, PublishError::Unknown { .. }), "got {err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(grant.access_token.expose_secret()));
    assert!(!text.contains(API_KEY));
}
