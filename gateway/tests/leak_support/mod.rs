//! Support of the secrets scan: every log line of the process captured at TRACE, a gateway with
//! Google sign-in, platform OAuth, the engine and the sandbox sharing one manual clock, a browser
//! that records every response body it sees, and the scanner itself.

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gateway::{AppState, GatewayConfig, IdTokenCheck, OidcProviderConfig};
use sandbox::{Sandbox, SandboxConfig};
use secrecy::SecretString;
use serde_json::Value;
use tempfile::TempDir;
use tenants::{ManualClock, SharedClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{CLIENT_ID, CLIENT_SECRET, insert_key, start_engine, temp_store};

/// Every byte any subscriber wrote, for the whole process.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the process-wide subscriber: every target at TRACE, span creation and closing
/// included (so span fields such as request URIs are written too), into the shared buffer.
pub fn capture_logs() {
    let buffer = LOGS
        .get_or_init(|| Arc::new(Mutex::new(Vec::new())))
        .clone();
    let installed = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || Capture(buffer.clone()))
        .try_init();
    assert!(
        installed.is_ok(),
        "the capturing subscriber must be the global one"
    );
}

/// Everything logged so far, one entry per line.
pub fn log_lines() -> Vec<String> {
    let bytes = LOGS
        .get()
        .map(|b| b.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Which of `secrets` occur in which `(label, text)` haystack.
pub fn find_leaks(secrets: &[String], haystacks: &[(String, String)]) -> Vec<String> {
    let mut leaks = Vec::new();
    for (label, text) in haystacks {
        for secret in secrets {
            if let Some(at) = text.find(secret.as_str()) {
                let shown = &secret[..secret.len().min(12)];
                let mut from = at.saturating_sub(120);
                while !text.is_char_boundary(from) {
                    from -= 1;
                }
                let mut to = (at + secret.len() + 60).min(text.len());
                while !text.is_char_boundary(to) {
                    to += 1;
                }
                let context = text[from..to].replace(secret.as_str(), "<SECRET>");
                leaks.push(format!(
                    "{label}: contains the secret starting {shown:?} in ...{context}..."
                ));
            }
        }
    }
    leaks
}

/// Gateway, engine and sandbox on one manual clock, with Google sign-in and account connect
/// pointed at the sandbox.
pub struct LeakApp {
    pub base_url: String,
    pub bootstrap_key: String,
    pub state: AppState,
    pub sandbox: Sandbox,
    pub engine: engine::Engine,
    pub clock: ManualClock,
    pub dir: TempDir,
    shutdown_tx: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl LeakApp {
    /// Starts everything on loopback.
    pub async fn spawn() -> LeakApp {
        let manual = ManualClock::new(jiff::Timestamp::now());
        let clock: SharedClock = Arc::new(manual.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let sandbox_config = SandboxConfig {
            clock: clock.clone(),
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), sandbox_config)
            .await
            .expect("sandbox");
        let sandbox_url = sandbox.base_url();
        let (store, dir) = temp_store().await;
        let engine = start_engine(store.clone(), &sandbox_url, clock.clone()).await;
        let mut config =
            GatewayConfig::new(base_url.clone(), SecretString::from("test-cookie-secret"));
        config.post_signin_redirect = "/v1/me".to_owned();
        config.google = Some(OidcProviderConfig {
            base_url: format!("{sandbox_url}/google"),
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET),
            id_token_check: IdTokenCheck::Hs256ClientSecret,
        });
        config.oauth_base_url = format!("{sandbox_url}/oauth");
        config.oauth_client_id = CLIENT_ID.to_owned();
        config.oauth_client_secret = SecretString::from(CLIENT_SECRET);
        config.data_dir = dir.path().join("data");
        let bootstrap_key = insert_key(&store, |_| {}).await;
        let state = AppState::new(config, store, Some(engine.handle()), clock).expect("state");
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(gateway::serve(listener, state.clone(), async move {
            let _ = shutdown_rx.await;
        }));
        LeakApp {
            base_url,
            bootstrap_key,
            state,
            sandbox,
            engine,
            clock: manual,
            dir,
            shutdown_tx,
            server,
        }
    }

    /// The redb file.
    pub fn store_path(&self) -> std::path::PathBuf {
        self.dir.path().join("socialcrm.redb")
    }

    /// Stops the gateway, the engine and the sandbox; returns the temporary dir.
    pub async fn shutdown(self) -> TempDir {
        let _ = self.shutdown_tx.send(());
        self.server.await.expect("server task").expect("server io");
        self.engine.shutdown().await;
        self.sandbox.shutdown().await;
        self.dir
    }
}

/// A browser that records every response body (and every transport error) it sees.
#[derive(Default)]
pub struct Browser {
    pub bearer: Option<String>,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub session: Option<String>,
    pub seen: Mutex<Vec<(String, String)>>,
}

/// What a request answered.
pub struct Seen {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts `status` and returns the JSON body.
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    /// The value of cookie `name` set by this response.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies.iter().find_map(|line| {
            let pair = line.split(';').next()?;
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.to_owned())
        })
    }
}

impl Browser {
    /// Sends a request to an absolute URL; the session cookie and CSRF header are added when
    /// signed in, redirects are not followed.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<Value>,
        extra_cookie: Option<String>,
    ) -> Seen {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let mut request = client.request(method, url);
        let cookies: Vec<String> = self.cookie.iter().cloned().chain(extra_cookie).collect();
        if !cookies.is_empty() {
            request = request.header("cookie", cookies.join("; "));
        }
        if let Some(key) = &self.bearer {
            request = request.bearer_auth(key);
        }
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.record(format!("error of {url}"), format!("{e} / {e:?}"));
                panic!("request to {url} failed: {e}");
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let location = header("location").into_iter().next();
        let set_cookies = header("set-cookie");
        let body = response.bytes().await.expect("body").to_vec();
        self.record(
            format!("body of {url}"),
            String::from_utf8_lossy(&body).into_owned(),
        );
        Seen {
            status,
            location,
            set_cookies,
            body,
        }
    }

    /// Records a text the scan must cover.
    pub fn record(&self, label: String, text: String) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((label, text));
    }

    /// Everything recorded.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
