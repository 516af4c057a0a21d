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
        smtp: true,
        ..AppOptions::default()
    })
    .await;
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
        smtp: true,
        ..AppOptions::default()
    })
    .await;
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

/// The one email whose subject is `subject`, addressed to `to`.
fn mail_to<'a>(emails: &'a [SentEmail], subject: &str, to: &str) -> &'a SentEmail {
    emails
        .iter()
        .find(|m| m.subject == subject && m.to == vec![to.to_owned()])
        .unwrap_or_else(|| panic!("no {subject:?} email to {to}: {emails:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_ready_export_mails_its_download_link_to_the_person_who_asked() {
    let app = spawn_app_with(AppOptions {
        smtp: true,
        ..AppOptions::default()
    })
    .await;
    let (_, key) = privacy_support::person_key(&app, None).await;
    let ws = workspace(&app, &key, "Exported").await;
    let job_path = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws}/export"),
        &key,
        None,
    )
    .await
    .expect(202)["id"]
        .as_str()
        .map(|id| format!("/v1/workspaces/{ws}/exports/{id}"))
        .expect("job id");
    let job = privacy_support::wait_for_export(&app, &job_path, &key).await;
    assert_eq!(job["status"], "ready", "{job}");

    let subject = "Your data export is ready";
    let emails = emails_until(&app, |e| e.iter().any(|m| m.subject == subject)).await;
    let mail = mail_to(&emails, subject, "ana@example.com");
    let link = format!("{}{job_path}/download", app.base_url);
    assert!(mail.body.contains(&link), "{link} not in {}", mail.body);
    assert_eq!(
        emails.iter().filter(|m| m.subject == subject).count(),
        1,
        "one email, to the requester only"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_erasures_are_confirmed_to_the_owners_and_to_the_erased_person() {
    let app = spawn_app_with(AppOptions {
        smtp: true,
        ..AppOptions::default()
    })
    .await;
    let (_, key) = privacy_support::person_key(&app, None).await;
    let ws = workspace(&app, &key, "Erased with two owners").await;
    let (co_owner, _) = privacy_support::person_key(&app, None).await;
    let mut user = app
        .state
        .store
        .get_user(co_owner)
        .await
        .expect("read")
        .expect("co-owner");
    user.email = Some("bo@example.com".to_owned());
    app.state.store.put_user(&user).await.expect("put user");
    privacy_support::add_member(&app, &ws, co_owner, tenants::Role::Owner).await;
    let (editor, _) = privacy_support::person_key(&app, None).await;
    let mut user = app
        .state
        .store
        .get_user(editor)
        .await
        .expect("read")
        .expect("editor");
    user.email = Some("ed@example.com".to_owned());
    app.state.store.put_user(&user).await.expect("put user");
    privacy_support::add_member(&app, &ws, editor, tenants::Role::Editor).await;

    let receipt = call(&app, "DELETE", &format!("/v1/workspaces/{ws}"), &key, None)
        .await
        .expect(202);
    let purge_by = receipt["purge_by"].as_str().expect("purge_by").to_owned();
    let subject = "Your data was erased";
    let emails = emails_until(&app, |e| {
        e.iter().filter(|m| m.subject == subject).count() >= 2
    })
    .await;
    for owner in ["ana@example.com", "bo@example.com"] {
        let mail = mail_to(&emails, subject, owner);
        assert!(
            mail.body.contains(&purge_by),
            "{purge_by} not in {}",
            mail.body
        );
    }
    assert!(
        !emails
            .iter()
            .any(|m| m.to.contains(&"ed@example.com".to_owned())),
        "an editor is not an owner: {emails:#?}"
    );

    // A person erasing themselves is mailed at the address their row held.
    let (gone, gone_key) = privacy_support::person_key(&app, None).await;
    let mut user = app
        .state
        .store
        .get_user(gone)
        .await
        .expect("read")
        .expect("person");
    user.email = Some("gone@example.com".to_owned());
    app.state.store.put_user(&user).await.expect("put user");
    let receipt = call(&app, "DELETE", "/v1/me", &gone_key, None)
        .await
        .expect(202);
    assert_eq!(app.state.store.get_user(gone).await.expect("read"), None);
    let purge_by = receipt["purge_by"].as_str().expect("purge_by").to_owned();
    let emails = emails_until(&app, |e| {
        e.iter()
            .any(|m| m.to == vec!["gone@example.com".to_owned()])
    })
    .await;
    let mail = mail_to(&emails, subject, "gone@example.com");
    assert!(mail.body.contains(&purge_by), "{}", mail.body);
    assert_eq!(
        emails.iter().filter(|m| m.subject == subject).count(),
        3,
        "one confirmation per owner and one to the person: {emails:#?}"
    );
    app.shutdown().await;
}
