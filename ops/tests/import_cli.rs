//! `socialcrm import FILE --server URL --key KEY` against a gateway started in this process on
//! 127.0.0.1 (embedded store, engine, sandbox partners): the file is streamed to the import
//! endpoint, the posts exist afterwards, and a file with a bad row exits non-zero with the row
//! and column in the error table.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use gateway::{AppState, GatewayConfig};
use jiff::{SignedDuration, Timestamp};
use sandbox::{Sandbox, SandboxConfig};
use schema::{PostFilter, Store, WorkspaceScope};
use secrecy::SecretString;
use serde_json::{Value, json};
use tenants::{SharedClock, SystemClock, WorkspaceId};
use tokio::sync::oneshot;

const CLIENT_ID: &str = "socialcrm-cli-test";
const CLIENT_SECRET: &str = "socialcrm-cli-test-secret";
const HEADER: &str =
    "scheduled_at,timezone,accounts,caption,media_urls,first_comment,platforms,status,external_id";

struct Server {
    base_url: String,
    key: String,
    store: Arc<dyn Store>,
    http: reqwest::Client,
    shutdown_tx: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    engine: engine::Engine,
    sandbox: Sandbox,
    dir: tempfile::TempDir,
}

async fn start() -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock: SharedClock = Arc::new(SystemClock);
    let sandbox = Sandbox::spawn(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SandboxConfig::default(),
    )
    .await
    .expect("sandbox");
    let sandbox_url = sandbox.base_url();
    let dir = tempfile::tempdir().expect("dir");
    let redb = schema::RedbStore::open(dir.path().join("store.redb")).expect("store");
    redb.migrate().await.expect("migrate");
    let store: Arc<dyn Store> = Arc::new(redb);
    let config = engine::EngineConfig {
        outstand_base_url: format!("{sandbox_url}/outstand/v1"),
        outstand_api_key: SecretString::from(SandboxConfig::default().outstand_api_key),
        oauth_base_urls: tenants::Platform::ALL
            .iter()
            .map(|p| (*p, format!("{sandbox_url}/oauth/{p}")))
            .collect(),
        oauth_client_id: CLIENT_ID.to_owned(),
        oauth_client_secret: SecretString::from(CLIENT_SECRET),
        master_keys: tenants::MasterKeyring::generate("mk-cli-test").expect("keys"),
        tuning: Default::default(),
        event_sink: None,
        partner_timeout: Duration::from_secs(5),
        partner_http: engine::partner::PartnerHttp::H2c,
    };
    let engine = engine::Engine::start(config, store.clone(), clock.clone())
        .await
        .expect("engine");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut gw = GatewayConfig::new(base_url.clone(), SecretString::from("cli-cookie-secret"));
    gw.oauth_base_url = format!("{sandbox_url}/oauth");
    gw.oauth_client_id = CLIENT_ID.to_owned();
    gw.oauth_client_secret = SecretString::from(CLIENT_SECRET);
    gw.data_dir = dir.path().join("data");
    // A file over this size runs as a job that the CLI follows to its end.
    gw.imports.sync_max_bytes = 4 * 1024;
    let key = format!("sk_cli_{}", uuid::Uuid::now_v7().simple());
    store
        .put_api_key(&tenants::ApiKeyMeta {
            id: tenants::ApiKeyId::new(),
            name: "cli-test".to_owned(),
            owner: None,
            key_hash: gateway::auth::sha256_hex(key.as_bytes()),
            last4: key[key.len() - 4..].to_owned(),
            workspace_ids: None,
            scopes: Vec::new(),
            instance_admin: true,
            created_at: Timestamp::now(),
            last_used_at: None,
        })
        .await
        .expect("key");
    let state = AppState::new(gw, store.clone(), Some(engine.handle()), clock).expect("state");
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(gateway::serve(listener, state, async move {
        let _ = shutdown_rx.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    Server {
        base_url,
        key,
        store,
        http,
        shutdown_tx,
        server,
        engine,
        sandbox,
        dir,
    }
}

impl Server {
    async fn call(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    /// A workspace with one connected X account; returns its id and the account's handle.
    async fn workspace(&self) -> (String, String) {
        let ws = self
            .call(
                "/v1/workspaces",
                json!({"name": "CLI", "timezone": "Europe/Paris"}),
            )
            .await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let started = self
            .call(
                &format!("/v1/workspaces/{ws}/accounts/connect"),
                json!({"platform": "x"}),
            )
            .await;
        let url = started["authorization_url"].as_str().expect("url");
        let account: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("consent")
            .json()
            .await
            .expect("account");
        let handle = format!("x:@{}", account["username"].as_str().expect("username"));
        (ws, handle)
    }

    async fn num_posts(&self, ws: &str) -> usize {
        let scope = WorkspaceScope::authorized(ws.parse::<WorkspaceId>().expect("ws id"));
        let page = self
            .store
            .list_posts(
                scope,
                &PostFilter::default(),
                schema::PageRequest::first(200),
            )
            .await
            .expect("posts");
        page.items.len()
    }

    async fn import(&self, ws: &str, file: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "import".to_owned(),
            file.display().to_string(),
            "--workspace".to_owned(),
            ws.to_owned(),
            "--server".to_owned(),
            self.base_url.clone(),
            "--key".to_owned(),
            self.key.clone(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_socialcrm"))
            .args(&args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("SOCIALCRM_API_KEY")
            .env("SOCIALCRM_LOG_FILTER", "warn")
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(Duration::from_secs(60), child)
            .await
            .expect("the import finishes within 60 s")
            .expect("the socialcrm binary runs")
    }

    async fn stop(self) {
        let _ = self.shutdown_tx.send(());
        let _ = self.server.await;
        self.engine.shutdown().await;
        self.sandbox.shutdown().await;
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `rows` rows for `handle`, one a day from tomorrow, with external ids `cli-<i>`.
fn csv(handle: &str, rows: usize) -> String {
    let start = Timestamp::now() + SignedDuration::from_hours(24);
    let mut out = format!("{HEADER}\n");
    for i in 0..rows {
        let at = (start + SignedDuration::from_hours(24 * i as i64))
            .round(jiff::Unit::Minute)
            .expect("round");
        out.push_str(&format!(
            "{at},UTC,{handle},Post {i} from the command line,,,,scheduled,cli-{i}\n"
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_cli_import_streams_the_file_and_creates_every_post() {
    let server = start().await;
    let (ws, handle) = server.workspace().await;
    let file = server.dir.path().join("posts.csv");
    let body = csv(&handle, 120);
    assert!(body.len() > 4 * 1024, "large enough to run as a job");
    std::fs::write(&file, body).expect("write");

    let out = server.import(&ws, &file, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("120 rows, 120 valid, 0 invalid, 120 posts created, 0 already imported"),
        "{}",
        text(&out)
    );
    assert_eq!(server.num_posts(&ws).await, 120);

    // The same file again creates nothing and says so.
    let again = server.import(&ws, &file, &[]).await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("0 posts created, 120 already imported"),
        "{}",
        text(&again)
    );
    assert_eq!(server.num_posts(&ws).await, 120);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_cli_import_with_a_bad_row_exits_non_zero_with_the_error_table() {
    let server = start().await;
    let (ws, handle) = server.workspace().await;
    let file = server.dir.path().join("bad.csv");
    let mut body = csv(&handle, 3);
    body.push_str("not a date,UTC,x:@nobody,Broken,,,,scheduled,cli-bad\n");
    std::fs::write(&file, body).expect("write");

    let out = server.import(&ws, &file, &[]).await;
    assert!(!out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("the import failed: nothing was created"),
        "{shown}"
    );
    let row5: Vec<&str> = shown
        .lines()
        .filter(|l| l.trim_start().starts_with("5 "))
        .collect();
    assert!(
        row5.iter().any(|l| l.contains("scheduled_at"))
            && row5.iter().any(|l| l.contains("accounts")),
        "row 5's date and account are both reported: {shown}"
    );
    assert_eq!(server.num_posts(&ws).await, 0, "all or nothing");
    server.stop().await;
}
