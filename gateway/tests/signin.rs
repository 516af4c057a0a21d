//! Google and X sign-in through the sandbox, step by step: redirects, `state`, the session
//! cookies and their attributes, `/v1/me`, the age gate, CSRF and logout.

mod common;

use std::collections::BTreeMap;

use common::{TestApp, client, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `name -> full Set-Cookie line` of a response.
fn set_cookies(response: &reqwest::Response) -> BTreeMap<String, String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| {
            line.split_once('=')
                .map(|(name, _)| (name.to_owned(), line.to_owned()))
        })
        .collect()
}

fn value_of(line: &str) -> String {
    line.split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location header")
        .to_owned()
}

/// A signed-in browser: its session and CSRF cookie values.
struct Browser {
    session: String,
    csrf: String,
}

impl Browser {
    fn cookie(&self) -> String {
        format!("scrm_session={}; csrf={}", self.session, self.csrf)
    }
}

/// Runs the whole sign-in dance for `provider` and returns the browser's cookies.
async fn sign_in(app: &TestApp, provider: &str) -> Browser {
    let http = client();
    let start = http
        .get(format!("{}/auth/{provider}/start", app.base_url))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let pending = set_cookies(&start)
        .remove("scrm_signin")
        .expect("pending sign-in cookie");
    assert!(
        pending.contains("HttpOnly") && pending.contains("Secure"),
        "{pending}"
    );
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&app.sandbox.base_url()),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("state="));
    if provider == "google" {
        assert!(authorize.contains("nonce="));
    }

    let approved = http.get(&authorize).send().await.expect("authorize");
    assert!(approved.status().is_redirection(), "{}", approved.status());
    let callback = location(&approved);
    assert!(
        callback.starts_with(&format!("{}/auth/{provider}/callback?", app.base_url)),
        "{callback}"
    );

    // Without the pending cookie (another browser), the callback is refused.
    let stolen = http.get(&callback).send().await.expect("callback");
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);

    let done = http
        .get(&callback)
        .header("cookie", format!("scrm_signin={}", value_of(&pending)))
        .send()
        .await
        .expect("callback");
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        done.text().await
    );
    assert_eq!(location(&done), "/v1/me");
    let cookies = set_cookies(&done);
    let session = cookies.get("scrm_session").expect("session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing: {session}"
        );
    }
    let csrf = cookies.get("csrf").expect("csrf cookie");
    assert!(
        !csrf.contains("HttpOnly") && csrf.contains("Secure"),
        "{csrf}"
    );
    Browser {
        session: value_of(session),
        csrf: value_of(csrf),
    }
}

async fn get(app: &TestApp, browser: &Browser, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", app.base_url))
        .header("cookie", browser.cookie())
        .send()
        .await
        .expect("get")
}

async fn post(
    app: &TestApp,
    browser: &Browser,
    path: &str,
    body: Value,
    csrf: bool,
) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}{path}", app.base_url))
        .header("cookie", browser.cookie())
        .json(&body);
    if csrf {
        request = request.header("x-csrf-token", &browser.csrf);
    }
    request.send().await.expect("post")
}

async fn problem_type(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("problem json");
    body["type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn test_google_sign_in_gives_a_session_gated_by_age_and_csrf() {
    let app = spawn_app().await;
    let browser = sign_in(&app, "google").await;

    let me = get(&app, &browser, "/v1/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["provider"], "google");
    assert!(
        me["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Sandbox Person"))
    );
    assert!(
        me["email"]
            .as_str()
            .is_some_and(|e| e.ends_with("@sandbox.test"))
    );
    assert_eq!(me["age_declared"], false);

    let gated = get(&app, &browser, "/v1/workspaces").await;
    assert_eq!(gated.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        problem_type(gated).await,
        "urn:socialcrm:problem:age_declaration_required"
    );

    let no_csrf = post(
        &app,
        &browser,
        "/v1/me/age",
        json!({"birth_date": "1990-04-21"}),
        false,
    )
    .await;
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        problem_type(no_csrf).await,
        "urn:socialcrm:problem:csrf_failed"
    );

    let declared = post(
        &app,
        &browser,
        "/v1/me/age",
        json!({"birth_date": "1990-04-21"}),
        true,
    )
    .await;
    assert_eq!(declared.status(), StatusCode::OK);

    let created = post(
        &app,
        &browser,
        "/v1/workspaces",
        json!({"name": "Mine", "timezone": "UTC"}),
        true,
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let ws: Value = created.json().await.expect("json");
    let members: Value = get(
        &app,
        &browser,
        &format!("/v1/workspaces/{}/members", ws["id"].as_str().expect("id")),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(members["items"][0]["role"], "owner");
    assert_eq!(members["items"][0]["user_id"], me["id"]);

    let logout = client()
        .post(format!("{}/auth/logout", app.base_url))
        .header("cookie", browser.cookie())
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&app, &browser, "/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
}

#[tokio::test]
async fn test_x_sign_in_and_an_under_16_declaration_is_refused_and_recorded() {
    let app = spawn_app().await;
    let browser = sign_in(&app, "x").await;
    let me: Value = get(&app, &browser, "/v1/me")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["provider"], "x");
    assert!(
        me["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Sandbox X Person"))
    );

    let today = jiff::Zoned::now().date();
    let birth = today
        .checked_sub(jiff::Span::new().years(15))
        .expect("date");
    let refused = post(
        &app,
        &browser,
        "/v1/me/age",
        json!({"birth_date": birth.to_string()}),
        true,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        problem_type(refused).await,
        "urn:socialcrm:problem:age_requirement_not_met"
    );

    // The refusal ended the session and is kept on the user.
    assert_eq!(
        get(&app, &browser, "/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let subject = me["id"]
        .as_str()
        .expect("id")
        .parse::<tenants::UserId>()
        .expect("user id");
    let user = app
        .state
        .store
        .get_user(subject)
        .await
        .expect("store")
        .expect("user");
    assert_eq!(user.birth_date_declared, Some(birth));
    app.shutdown().await;
}

#[tokio::test]
async fn test_unknown_provider_is_404() {
    let app = spawn_app().await;
    let reply = client()
        .get(format!("{}/auth/facebook/start", app.base_url))
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}
