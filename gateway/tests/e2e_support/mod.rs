//! Helpers shared by the account, post, media, tenancy and end-to-end tests: an HTTP client for
//! a gateway served by [`crate::common::spawn_app_with`], workspaces, keys, people with a role,
//! and connecting accounts through the sandbox's consent page.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tenants::{Membership, Provider, Role, User, UserId, WorkspaceId};

use crate::common::{TestApp, insert_key};

/// What a request answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a problem+json with `status`; returns the body.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "status {status}"
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        body
    }

    /// Asserts `status`; returns the JSON body.
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }
}

/// A client that never follows redirects.
pub fn http() -> reqwest::Client {
    crate::common::client()
}

/// Sends one request with a bearer key and an optional JSON body.
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http()
        .request(method, format!("{}{path}", app.base_url))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request).await
}

/// Sends a prepared request and reads the whole answer.
pub async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.expect("body").to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// A key limited to the workspaces it creates, as an agency's integration would hold.
pub async fn tenant_key(app: &TestApp) -> String {
    insert_key(&app.state.store, |k| k.workspace_ids = Some(Vec::new())).await
}

/// Creates a workspace with `key` and returns its id.
pub async fn workspace(app: &TestApp, key: &str, name: &str) -> String {
    let body = json!({"name": name, "timezone": "Europe/Paris"});
    let created = call(app, "POST", "/v1/workspaces", key, Some(body))
        .await
        .expect(201);
    created["id"].as_str().expect("workspace id").to_owned()
}

/// Adds a person with `role` to `ws` and returns an API key acting as them.
pub async fn member_key(app: &TestApp, ws: &str, role: Role) -> String {
    let store = &app.state.store;
    let now = jiff::Timestamp::now();
    let user = User {
        id: UserId::new(),
        provider: Provider::Google,
        subject: format!("sub-{}", UserId::new()),
        email: None,
        name: format!("{role:?} person"),
        avatar_url: None,
        created_at: now,
        birth_date_declared: Some(jiff::civil::date(1990, 1, 1)),
        marketing_consent: false,
        marketing_consent_at: None,
        instance_admin: false,
        deletion_requested_at: None,
    };
    store.put_user(&user).await.expect("put user");
    let workspace_id: WorkspaceId = ws.parse().expect("workspace id");
    let membership = Membership {
        workspace_id,
        user_id: user.id,
        role,
        created_at: now,
    };
    store
        .put_membership(
            schema::WorkspaceScope::authorized(workspace_id),
            &membership,
        )
        .await
        .expect("put membership");
    insert_key(store, |k| {
        k.owner = Some(user.id);
        k.instance_admin = false;
    })
    .await
}

/// Connects a `platform` account to `ws` the way a person would: the connect call, then the
/// authorization URL followed through the sandbox's consent page back to the callback.
pub async fn connect(app: &TestApp, key: &str, ws: &str, platform: &str) -> Value {
    let started = call(
        app,
        "POST",
        &format!("/v1/workspaces/{ws}/accounts/connect"),
        key,
        Some(json!({"platform": platform})),
    )
    .await
    .expect(200);
    let url = started["authorization_url"]
        .as_str()
        .expect("authorization_url");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("browser");
    answer(browser.get(url)).await.expect(201)
}

/// Polls `GET path` until `done` holds for the JSON body, for at most 10 s.
pub async fn poll_until(
    app: &TestApp,
    path: &str,
    key: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = call(app, "GET", path, key, None).await.expect(200);
        if done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met before the deadline: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A small valid-looking PNG (signature and header chunk, then padding).
pub fn png(num_bytes: usize) -> Vec<u8> {
    let mut bytes = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    bytes.resize(num_bytes.max(bytes.len()), 7);
    bytes
}

/// Uploads `bytes` as `content_type` media to `ws`.
pub async fn upload(
    app: &TestApp,
    key: &str,
    ws: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Answer {
    let request = http()
        .post(format!("{}/v1/workspaces/{ws}/media", app.base_url))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(bytes);
    answer(request).await
}
