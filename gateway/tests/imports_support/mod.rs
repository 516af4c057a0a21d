//! Shared set-up for the import tests: a gateway next to the sandbox with a workspace and two
//! connected accounts, CSV files scheduled in the future, uploads, and a second gateway on the
//! same store and engine with tuned import limits.

#![allow(dead_code)]

use std::time::Duration;

use gateway::AppState;
use gateway::import_jobs::ImportLimits;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{AppOptions, TestApp, spawn_app_with};
use crate::e2e_support::{Answer, answer, call, connect, http, workspace};

pub const HEADER: &str =
    "scheduled_at,timezone,accounts,caption,media_urls,first_comment,platforms,status,external_id";

/// A gateway with one workspace holding an X and a LinkedIn account.
pub struct World {
    pub app: TestApp,
    pub key: String,
    pub ws: String,
    pub x: String,
    pub linkedin: String,
}

pub async fn world() -> World {
    let app = spawn_app_with(AppOptions::default()).await;
    let key = app.bootstrap_key.clone();
    let ws = workspace(&app, &key, "Agency").await;
    let x = connect(&app, &key, &ws, "x").await["username"]
        .as_str()
        .expect("username")
        .to_owned();
    let linkedin = connect(&app, &key, &ws, "linkedin").await["username"]
        .as_str()
        .expect("username")
        .to_owned();
    World {
        app,
        key,
        ws,
        x,
        linkedin,
    }
}

/// An RFC 3339 instant `days` from now, on the minute.
pub fn in_days(days: i64) -> String {
    let at = Timestamp::now() + SignedDuration::from_hours(days * 24);
    at.round(jiff::Unit::Minute).expect("round").to_string()
}

impl World {
    /// A row posting `caption` to the X account in `days` days.
    pub fn row(&self, days: i64, caption: &str, external_id: &str) -> String {
        format!(
            "{},UTC,x:@{},{caption},,,,scheduled,{external_id}",
            in_days(days),
            self.x
        )
    }

    pub fn imports(&self) -> String {
        format!("/v1/workspaces/{}/imports", self.ws)
    }

    /// Uploads `csv` as a `text/csv` body with `query`.
    pub async fn upload(&self, query: &str, csv: String) -> Answer {
        upload_to(&self.app.base_url, &self.key, &self.ws, query, csv).await
    }

    pub async fn posts(&self) -> Vec<Value> {
        let path = format!("/v1/workspaces/{}/posts?limit=200", self.ws);
        let body = call(&self.app, "GET", &path, &self.key, None)
            .await
            .expect(200);
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Polls an import until `done` holds, for at most 20 s.
    pub async fn poll(&self, base: &str, id: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let url = format!("{base}{}/{id}", self.imports());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let body = answer(http().get(&url).bearer_auth(&self.key))
                .await
                .expect(200);
            seen.push(body.clone());
            if done(&body) {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "import never finished: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub async fn upload_to(base: &str, key: &str, ws: &str, query: &str, csv: String) -> Answer {
    let url = format!("{base}/v1/workspaces/{ws}/imports{query}");
    let request = http()
        .post(url)
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(csv);
    answer(request).await
}

/// A second gateway on the app's store and engine, with tuned import limits.
pub struct Tuned {
    pub base_url: String,
    shutdown_tx: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Tuned {
    pub async fn start(app: &TestApp, tune: impl FnOnce(&mut ImportLimits)) -> Tuned {
        let mut config = (*app.state.config).clone();
        tune(&mut config.imports);
        // Polling a job is many requests; the budget is not what these tests are about.
        config.rate_limit.per_key_per_minute = 60_000;
        config.rate_limit.per_key_burst = 1_000;
        let state = AppState::new(
            config,
            app.state.store.clone(),
            Some(app.engine.handle()),
            app.state.clock.clone(),
        )
        .expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(gateway::serve(listener, state, async move {
            let _ = shutdown_rx.await;
        }));
        Tuned {
            base_url,
            shutdown_tx,
            server,
        }
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(());
        self.server.await.expect("server task").expect("server io");
    }
}

/// Connects the sandbox user `user_id` (`acct_x_1`) of `platform` to `ws`: the same handle as
/// in another workspace.
pub async fn connect_as(
    app: &TestApp,
    key: &str,
    ws: &str,
    platform: &str,
    user_id: &str,
) -> Value {
    let path = format!("/v1/workspaces/{ws}/accounts/connect");
    let body = serde_json::json!({"platform": platform});
    let started = call(app, "POST", &path, key, Some(body)).await.expect(200);
    let url = started["authorization_url"]
        .as_str()
        .expect("authorization_url");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("browser");
    answer(browser.get(format!("{url}&login_hint={user_id}")))
        .await
        .expect(201)
}
