//! Transactional email through the sandbox's SMTP sink: an account whose grant is refused mails
//! the workspace's owner; a policy notice mails every person with an address; consenting to
//! marketing makes nothing else arrive (no marketing email path exists).

mod common;
mod e2e_support;
mod privacy_support;

use std::time::Duration;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{call, connect, workspace};
use jiff::{SignedDuration, Timestamp};
use sandbox::SentEmail;
use serde_json::json;
use tenants::{Clock, ManualClock, Platform, Provider, User, UserId};

/// Points the engine's notifier at the sandbox's SMTP sink.
fn with_smtp(app: &TestApp) {
    let smtp = engine::SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port: app.sandbox.smtp_addr().port(),
        from: "SocialCRM <no-reply@socialcrm.test>".to_owned(),
    };
    app.engine
        .handle()
        .configure_services(engine::EngineServices {
            smtp: Some(smtp),
            ..Default::default()
        })
        .expect("configure services");
}

/// Waits (at most 15 s, ticking the engine) until `done` holds for the sink's emails.
async fn emails_until(app: &TestApp, done: impl Fn(&[SentEmail]) -> bool) -> Vec<SentEmail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let emails = app.sandbox.emails();
        if done(&emails) {
            return emails;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "emails not as expected before the deadline: {emails:#?}"
        );
        app.engine.handle().tick().await.expect("tick");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_refused_grant_mails_the_workspace_owner_to_reconnect() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    with_smtp(&app);
    let (_, key) = privacy_support::person_key(&app, None).await;
    let ws = workspace(&app, &key, "Mailed").await;
    let account = connect(&app, &key, &ws, "x").await;
    let scope = schema::WorkspaceScope::authorized(ws.parse().expect("ws id"));
    let stored = app
        .state
        .store
        .list_accounts(scope, schema::PageRequest::first(10))
        .await
        .expect("accounts");
    app.sandbox
        .invalidate_grant(Platform::X, &stored.items[0].platform_user_id);

    clock.advance(SignedDuration::from_hours(3));
    let body =
        json!({"caption": "Needs a token", "account_ids": [account["id"]], "status": "scheduled"});
    call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/posts"),
        &key,
        Some(body),
    )
    .await
    .expect(201);
    let emails = emails_until(&app, |e| e.iter().any(|m| m.subject.contains("reconnect"))).await;
    let mail = emails
        .iter()
        .find(|m| m.subject.contains("reconnect"))
        .expect("reconnect email");
    assert_eq!(mail.to, vec!["ana@example.com".to_owned()]);
    assert_eq!(mail.from, "no-reply@socialcrm.test");
    assert!(
        mail.body.contains(account["id"].as_str().expect("id")),
        "{}",
        mail.body
    );
    let listed = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws}/accounts"),
        &key,
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed["items"][0]["status"], "needs_reconnect", "{listed}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_policy_notice_mails_every_person_and_consent_adds_no_marketing() {
    let clock = ManualClock::new(Timestamp::now());
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        ..AppOptions::default()
    })
    .await;
    with_smtp(&app);
    let mut addresses = Vec::new();
    for i in 0..3 {
        let email = format!("person{i}@example.com");
        let user = User {
            id: UserId::new(),
            provider: Provider::Google,
            subject: format!("sub-{i}"),
            email: Some(email.clone()),
            name: format!("Person {i}"),
            avatar_url: None,
            created_at: clock.now(),
            birth_date_declared: Some(jiff::civil::date(1990, 1, 1)),
            marketing_consent: false,
            marketing_consent_at: None,
            instance_admin: false,
            deletion_requested_at: None,
        };
        app.state.store.put_user(&user).await.expect("put user");
        addresses.push(email);
    }
    // One person consents to marketing through PATCH /v1/me; the flag defaults to false.
    let (_, key) = privacy_support::person_key(&app, None).await;
    addresses.push("ana@example.com".to_owned());
    let me = call(&app, "GET", "/v1/me", &key, None).await.expect(200);
    assert_eq!(me["marketing_consent"], false);
    let me = call(
        &app,
        "PATCH",
        "/v1/me",
        &key,
        Some(json!({"marketing_consent": true})),
    )
    .await
    .expect(200);
    assert_eq!(me["marketing_consent"], true);

    let effective_at = clock.now() + SignedDuration::from_hours(15 * 24);
    let notice = json!({"title": "New retention", "body": "Logs are kept 60 days.", "effective_at": effective_at.to_string()});
    call(
        &app,
        "POST",
        "/v1/admin/notices",
        &app.bootstrap_key,
        Some(notice),
    )
    .await
    .expect(201);
    let emails = emails_until(&app, |e| e.len() >= addresses.len()).await;
    let mut recipients: Vec<String> = emails.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    addresses.sort();
    assert_eq!(
        recipients, addresses,
        "one notice email per person, nothing more"
    );
    for mail in &emails {
        assert_eq!(mail.subject, "Policy change: New retention");
        assert!(
            mail.body.contains("Logs are kept 60 days."),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains(&effective_at.to_string()),
            "{}",
            mail.body
        );
    }
    // The same list over HTTP.
    let listed: serde_json::Value =
        reqwest::get(format!("{}/_sandbox/emails", app.sandbox.base_url()))
            .await
            .expect("emails")
            .json()
            .await
            .expect("json");
    assert_eq!(
        listed["emails"].as_array().map(Vec::len),
        Some(addresses.len())
    );
    app.shutdown().await;
}
