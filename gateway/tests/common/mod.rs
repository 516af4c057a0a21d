//! Test harness: a gateway on a temporary redb store, either served on 127.0.0.1:0 next to the
//! sandbox ([`spawn_app`]) or driven in-process with `app(state).oneshot(request)`
//! ([`test_state`], [`send`]).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use gateway::{AppState, GatewayConfig, IdTokenCheck, OidcProviderConfig, XProviderConfig};
use http_body_util::BodyExt;
use sandbox::{Sandbox, SandboxConfig};
use schema::{RedbStore, Store};
use secrecy::SecretString;
use tempfile::TempDir;
use tenants::{ApiKeyId, ApiKeyMeta, SharedClock, SystemClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// The Google/X client id the tests register with the sandbox.
pub const CLIENT_ID: &str = "socialcrm-test-client";
/// Its secret (the sandbox signs ID tokens with it).
pub const CLIENT_SECRET: &str = "socialcrm-test-secret";

/// Starts the engine on `store` with every partner pointed at the sandbox.
pub async fn start_engine(
    store: Arc<dyn Store>,
    sandbox_url: &str,
    clock: SharedClock,
) -> engine::Engine {
    let oauth_base_urls = tenants::Platform::ALL
        .iter()
        .map(|p| (*p, format!("{sandbox_url}/oauth/{p}")))
        .collect();
    let config = engine::EngineConfig {
        outstand_base_url: format!("{sandbox_url}/outstand/v1"),
        outstand_api_key: SecretString::from(SandboxConfig::default().outstand_api_key),
        oauth_base_urls,
        oauth_client_id: CLIENT_ID.to_owned(),
        oauth_client_secret: SecretString::from(CLIENT_SECRET),
        master_keys: tenants::MasterKeyring::generate("mk-test").expect("master key"),
        tuning: Default::default(),
        event_sink: None,
        partner_timeout: std::time::Duration::from_secs(5),
        partner_http: engine::partner::PartnerHttp::H2c,
    };
    engine::Engine::start(config, store, clock)
        .await
        .expect("engine")
}

/// A state on a fresh store, plus the instance bootstrap key.
pub struct TestState {
    pub state: AppState,
    pub bootstrap_key: String,
    pub dir: TempDir,
}

/// Opens a migrated redb store in a new temporary directory.
pub async fn temp_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path().join("socialcrm.redb")).expect("open store");
    store.migrate().await.expect("migrate store");
    (Arc::new(store), dir)
}

/// Inserts an API key and returns its secret.
pub async fn insert_key(store: &Arc<dyn Store>, meta: impl FnOnce(&mut ApiKeyMeta)) -> String {
    use base64::Engine as _;
    let secret = format!(
        "sk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let mut key = ApiKeyMeta {
        id: ApiKeyId::new(),
        name: "bootstrap".to_owned(),
        owner: None,
        key_hash: gateway::auth::sha256_hex(secret.as_bytes()),
        last4: secret[secret.len() - 4..].to_owned(),
        workspace_ids: None,
        scopes: Vec::new(),
        instance_admin: true,
        created_at: jiff::Timestamp::now(),
        last_used_at: None,
    };
    meta(&mut key);
    store.put_api_key(&key).await.expect("put key");
    secret
}

/// A gateway state on a fresh store with `configure` applied to the config.
pub async fn test_state_with(configure: impl FnOnce(&mut GatewayConfig)) -> TestState {
    let (store, dir) = temp_store().await;
    state_on(store, dir, None, configure).await
}

async fn state_on(
    store: Arc<dyn Store>,
    dir: TempDir,
    engine: Option<engine::EngineHandle>,
    configure: impl FnOnce(&mut GatewayConfig),
) -> TestState {
    let mut config = GatewayConfig::new(
        "http://127.0.0.1:9",
        SecretString::from("test-cookie-secret"),
    );
    configure(&mut config);
    let clock: SharedClock = Arc::new(SystemClock);
    let bootstrap_key = insert_key(&store, |_| {}).await;
    let state = AppState::new(config, store, engine, clock).expect("state");
    TestState {
        state,
        bootstrap_key,
        dir,
    }
}

/// A gateway state with the default config.
pub async fn test_state() -> TestState {
    test_state_with(|_| {}).await
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json body with `status` and a `type` ending in `code`; returns it.
    pub fn problem(&self, status: u16, code: &str) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(
            body["type"],
            format!("urn:socialcrm:problem:{code}"),
            "body: {body}"
        );
        assert_eq!(body["status"], status);
        assert!(
            body["title"].is_string() && body["detail"].is_string(),
            "body: {body}"
        );
        body
    }
}

/// Sends one request through `app(state)` in-process.
pub async fn send(state: &AppState, request: Request<Body>) -> Reply {
    let response = gateway::app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A request with an optional bearer key and JSON body.
pub fn request(
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    match body {
        Some(json) => builder
            .header("content-type", "application/json")
            .body(Body::from(json.to_string()))
            .expect("request"),
        None => builder.body(Body::empty()).expect("request"),
    }
}

/// A gateway served over HTTP next to the sandbox.
pub struct TestApp {
    pub base_url: String,
    pub bootstrap_key: String,
    pub state: AppState,
    pub sandbox: Sandbox,
    pub engine: engine::Engine,
    shutdown_tx: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    _dir: TempDir,
}

impl TestApp {
    /// Stops the gateway (draining) and the sandbox, and waits for both.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(());
        self.server.await.expect("server task").expect("server io");
        self.engine.shutdown().await;
        self.sandbox.shutdown().await;
    }
}

/// Starts a redb store in a tempdir, the sandbox on port 0 and the gateway on 127.0.0.1:0,
/// with Google, X sign-in and the engine's partners pointed at the sandbox, and the engine
/// attached.
pub async fn spawn_app() -> TestApp {
    let sandbox = Sandbox::spawn(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SandboxConfig::default(),
    )
    .await
    .expect("sandbox");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let sandbox_url = sandbox.base_url();
    let (store, dir) = temp_store().await;
    let engine = start_engine(store.clone(), &sandbox_url, Arc::new(SystemClock)).await;
    let TestState {
        state,
        bootstrap_key,
        dir,
    } = state_on(store, dir, Some(engine.handle()), |config| {
        config.public_base_url = base_url.clone();
        config.post_signin_redirect = "/v1/me".to_owned();
        config.google = Some(OidcProviderConfig {
            base_url: format!("{sandbox_url}/google"),
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET),
            id_token_check: IdTokenCheck::Hs256ClientSecret,
        });
        config.x = Some(XProviderConfig {
            authorize_base_url: format!("{sandbox_url}/x"),
            api_base_url: format!("{sandbox_url}/x"),
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET),
        });
    })
    .await;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(gateway::serve(listener, state.clone(), async move {
        let _ = shutdown_rx.await;
    }));
    TestApp {
        base_url,
        bootstrap_key,
        state,
        sandbox,
        engine,
        shutdown_tx,
        server,
        _dir: dir,
    }
}

/// An HTTP client that never follows redirects and keeps no cookies (tests carry them).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Options of [`spawn_app_with`].
#[derive(Default)]
pub struct AppOptions {
    /// One clock for the gateway, the engine and the sandbox; the system clock when `None`.
    pub clock: Option<tenants::ManualClock>,
    /// Overrides `GatewayConfig::max_media_bytes`.
    pub max_media_bytes: Option<usize>,
    /// Overrides `GatewayConfig::max_body_bytes`.
    pub max_body_bytes: Option<usize>,
    /// When set, the sandbox sends its Outstand webhooks to the gateway signed with this secret,
    /// and the gateway verifies them with it.
    pub partner_webhook_secret: Option<String>,
    /// Sends transactional email to the sandbox's SMTP sink.
    pub smtp: bool,
}

/// Like [`spawn_app`], with one injectable clock shared by gateway, engine and sandbox, platform
/// OAuth (account connect) pointed at the sandbox, and media kept under the temporary dir.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let clock: SharedClock = match &options.clock {
        Some(manual) => Arc::new(manual.clone()),
        None => Arc::new(SystemClock),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut sandbox_config = SandboxConfig {
        clock: clock.clone(),
        ..SandboxConfig::default()
    };
    if let Some(secret) = &options.partner_webhook_secret {
        sandbox_config.webhook_url = Some(format!("{base_url}/partner/outstand/webhook"));
        sandbox_config.webhook_secret = secret.clone();
    }
    let sandbox = Sandbox::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), sandbox_config)
        .await
        .expect("sandbox");
    let sandbox_url = sandbox.base_url();
    let (store, dir) = temp_store().await;
    let engine = start_engine(store.clone(), &sandbox_url, clock.clone()).await;
    let mut config = GatewayConfig::new(base_url.clone(), SecretString::from("test-cookie-secret"));
    config.oauth_base_url = format!("{sandbox_url}/oauth");
    config.oauth_client_id = CLIENT_ID.to_owned();
    config.oauth_client_secret = SecretString::from(CLIENT_SECRET);
    config.data_dir = dir.path().join("data");
    if let Some(max) = options.max_media_bytes {
        config.max_media_bytes = max;
    }
    if let Some(max) = options.max_body_bytes {
        config.max_body_bytes = max;
    }
    if let Some(secret) = &options.partner_webhook_secret {
        config.outstand_webhook_secret = SecretString::from(secret.clone());
    }
    let bootstrap_key = insert_key(&store, |_| {}).await;
    let state = AppState::new(config, store, Some(engine.handle()), clock).expect("state");
    // The services `serve` configures: media dir, the gateway's purgers, and email if asked.
    let smtp = options.smtp.then(|| engine::SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port: sandbox.smtp_addr().port(),
        from: "SocialCRM <no-reply@socialcrm.test>".to_owned(),
    });
    engine
        .handle()
        .configure_services(gateway::purge::engine_services(&state, smtp))
        .expect("configure engine services");
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(gateway::serve(listener, state.clone(), async move {
        let _ = shutdown_rx.await;
    }));
    TestApp {
        base_url,
        bootstrap_key,
        state,
        sandbox,
        engine,
        shutdown_tx,
        server,
        _dir: dir,
    }
}
