//! `socialcrm serve`: the main job. Opens (and migrates) the store, starts the sandbox partners
//! when no real credentials are configured, starts the engine (with the gateway's purgers
//! registered) and the gateway, follows the master key file (SIGHUP and a periodic check, see
//! [`super::keyring_reload`]), and on SIGTERM or Ctrl-C shuts down in order: the gateway drains
//! requests, the actors stop top-down, the store closes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use engine::partner::PartnerHttp;
use engine::{Engine, EngineConfig};
use gateway::{AppState, GatewayConfig, IdTokenCheck, OidcProviderConfig, XProviderConfig};
use sandbox::{Sandbox, SandboxConfig};
use schema::StoreUrl;
use secrecy::{ExposeSecret, SecretString};
use tenants::{MasterKeyring, Platform, SharedClock, SystemClock};

use super::keyring_reload::{self, KeyringFile};
use crate::config::Settings;

/// The client secret the sandbox's identity and platform stand-ins accept.
const SANDBOX_CLIENT_SECRET: &str = "sandbox-client-secret";

/// Runs the server until a shutdown signal.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
    let url = StoreUrl::parse(&settings.store)?;
    schema::migrate(&url).await?;
    let store = schema::open_store(&url).await?;
    let clock: SharedClock = Arc::new(SystemClock);

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let local = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let webhook_secret = settings
        .outstand_webhook_secret
        .clone()
        .unwrap_or_else(|| SecretString::from(SandboxConfig::default().webhook_secret));
    let sandbox = start_sandbox(&settings, &clock, &public_url, &webhook_secret).await?;
    let partner_base = partner_base(&settings, sandbox.as_ref());
    let (master_keys, key_file) = master_keys(&settings)?;

    let engine = Engine::start(
        engine_config(&settings, &partner_base, master_keys),
        store.clone(),
        clock.clone(),
    )
    .await
    .context("cannot start the engine")?;
    let mut gateway_config = gateway_config(&settings, &partner_base, &public_url)?;
    gateway_config.outstand_webhook_secret = webhook_secret;
    let state = AppState::new(gateway_config, store.clone(), Some(engine.handle()), clock)?;
    // Media dir, the gateway's purgers (audit log, exports and their archives) and email.
    engine
        .handle()
        .configure_services(gateway::purge::engine_services(
            &state,
            smtp_config(&settings, sandbox.as_ref()),
        ))
        .context("cannot configure the engine")?;
    engine
        .handle()
        .webhooks()
        .context("the webhook dispatcher did not start")?
        .set_allow_private_targets(settings.allow_private_targets);
    let keyring_tasks = watch_keyring(key_file, engine.handle())?;

    let bootstrap =
        super::keys::ensure_bootstrap_key(&store, settings.bootstrap_key.as_ref()).await?;
    println!("socialcrm is listening on {public_url}");
    match &bootstrap {
        Some(key) => println!(
            "bootstrap admin API key (shown once, store it now): {}",
            key.expose_secret()
        ),
        None => println!("API keys already exist; create another with `socialcrm keys create`"),
    }
    println!("API docs: {public_url}/docs (OpenAPI: {public_url}/openapi.json)");
    match &sandbox {
        Some(sb) => println!(
            "sandbox mode: partners are local stand-ins at {} (no OUTSTAND_API_KEY set)",
            sb.base_url()
        ),
        None if settings.sandbox_mode() => {
            println!("sandbox mode: partners at {partner_base}")
        }
        None => println!(
            "live mode: publishing through {}",
            settings.outstand_base_url
        ),
    }

    gateway::serve(listener, state, shutdown_signal())
        .await
        .context("the gateway stopped with an error")?;
    for task in keyring_tasks {
        task.abort();
    }
    tracing::info!("requests drained; stopping the engine");
    engine.shutdown().await;
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    drop(store);
    tracing::info!("store closed; bye");
    Ok(())
}

/// Starts the in-process sandbox, which also sends Outstand-style webhooks to this gateway.
async fn start_sandbox(
    settings: &Settings,
    clock: &SharedClock,
    public_url: &str,
    webhook_secret: &SecretString,
) -> anyhow::Result<Option<Sandbox>> {
    if !settings.sandbox_mode() || settings.sandbox_url.is_some() {
        return Ok(None);
    }
    let config = SandboxConfig {
        clock: clock.clone(),
        webhook_url: Some(format!("{public_url}/partner/outstand/webhook")),
        webhook_secret: webhook_secret.expose_secret().to_owned(),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::spawn(settings.sandbox_listen, config)
        .await
        .context("cannot start the sandbox partners")?;
    Ok(Some(sandbox))
}

/// Where transactional email goes: the configured relay, else the in-process sandbox's sink.
fn smtp_config(
    settings: &Settings,
    sandbox: Option<&Sandbox>,
) -> Option<engine::notify::SmtpConfig> {
    let (host, port) = match (&settings.smtp_host, sandbox) {
        (Some(host), _) => (host.clone(), settings.smtp_port),
        (None, Some(sb)) => (sb.smtp_addr().ip().to_string(), sb.smtp_addr().port()),
        (None, None) => return None,
    };
    Some(engine::notify::SmtpConfig {
        host,
        port,
        from: settings.smtp_from.clone(),
    })
}

/// Where every partner lives: one sandbox (in-process or `--sandbox-url`), or, in live mode, the
/// configured per-partner URLs.
fn partner_base(settings: &Settings, sandbox: Option<&Sandbox>) -> String {
    match (sandbox, &settings.sandbox_url) {
        (Some(sb), _) => sb.base_url(),
        (None, Some(url)) => url.trim_end_matches('/').to_owned(),
        (None, None) => String::new(),
    }
}

fn engine_config(settings: &Settings, base: &str, master_keys: MasterKeyring) -> EngineConfig {
    let sandboxed = !base.is_empty();
    let oauth_base_urls: BTreeMap<Platform, String> = Platform::ALL
        .iter()
        .map(|p| (*p, format!("{base}/oauth/{p}")))
        .collect();
    EngineConfig {
        outstand_base_url: if sandboxed {
            format!("{base}/outstand/v1")
        } else {
            settings.outstand_base_url.clone()
        },
        outstand_api_key: settings
            .outstand_api_key
            .clone()
            .unwrap_or_else(|| SecretString::from(SandboxConfig::default().outstand_api_key)),
        oauth_base_urls,
        oauth_client_id: settings.oauth_client_id.clone(),
        oauth_client_secret: settings
            .oauth_client_secret
            .clone()
            .unwrap_or_else(|| SecretString::from(SANDBOX_CLIENT_SECRET)),
        master_keys,
        tuning: Default::default(),
        event_sink: None,
        partner_timeout: Duration::from_secs(15),
        // The stand-in serves h2c; a real partner negotiates HTTP/2 over TLS.
        partner_http: if sandboxed {
            PartnerHttp::H2c
        } else {
            PartnerHttp::Negotiated
        },
    }
}

fn gateway_config(
    settings: &Settings,
    base: &str,
    public_url: &str,
) -> anyhow::Result<GatewayConfig> {
    let cookie_secret = file_secret(&settings.data_dir.join("cookie.secret"))?;
    let mut config = GatewayConfig::new(public_url, cookie_secret);
    config.max_body_bytes = settings.max_body_bytes;
    // Bursts allow ten seconds' worth of the sustained rate at once.
    config.rate_limit.per_key_per_minute = settings.rate_limit_per_key_per_minute.max(1);
    config.rate_limit.per_key_burst = (settings.rate_limit_per_key_per_minute / 6).max(1);
    config.rate_limit.per_workspace_per_minute =
        settings.rate_limit_per_workspace_per_minute.max(1);
    config.rate_limit.per_workspace_burst =
        (settings.rate_limit_per_workspace_per_minute / 6).max(1);
    config.data_dir = settings.data_dir.clone();
    config.oauth_client_id = settings.oauth_client_id.clone();
    config.oauth_client_secret = settings
        .oauth_client_secret
        .clone()
        .unwrap_or_else(|| SecretString::from(SANDBOX_CLIENT_SECRET));
    if !base.is_empty() {
        let secret = |s: &Option<SecretString>| {
            s.clone()
                .unwrap_or_else(|| SecretString::from(SANDBOX_CLIENT_SECRET))
        };
        config.google = Some(OidcProviderConfig {
            base_url: format!("{base}/google"),
            client_id: settings.google_client_id.clone(),
            client_secret: secret(&settings.google_client_secret),
            id_token_check: IdTokenCheck::Hs256ClientSecret,
        });
        config.x = Some(XProviderConfig {
            authorize_base_url: format!("{base}/x"),
            api_base_url: format!("{base}/x"),
            client_id: settings.x_client_id.clone(),
            client_secret: secret(&settings.x_client_secret),
        });
        config.oauth_base_url = format!("{base}/oauth");
    }
    Ok(config)
}

/// The master keyring: from config, or in sandbox mode generated once into the data dir. The
/// key file's path comes back with it when the keyring lives in one (it is then reloaded while
/// serving, see [`super::keyring_reload`]).
fn master_keys(settings: &Settings) -> anyhow::Result<(MasterKeyring, Option<PathBuf>)> {
    if let Some(keys) = &settings.master_keys {
        let ring = MasterKeyring::parse(keys.expose_secret())
            .map_err(|e| anyhow::anyhow!("invalid master_keys: {e}"))?;
        return Ok((ring, None));
    }
    if !settings.sandbox_mode() {
        bail!("live mode needs master keys: set SOCIALCRM_MASTER_KEYS (id:base64key,...)");
    }
    let path = settings.data_dir.join("master.keys");
    if path.exists() {
        let (_, ring) = KeyringFile::open(&path)?;
        return Ok((ring, Some(path)));
    }
    let ring = MasterKeyring::generate("mk1")
        .map_err(|e| anyhow::anyhow!("cannot generate a master key: {e}"))?;
    write_private(&path, ring.to_config().expose_secret())?;
    tracing::warn!(
        path = %path.display(),
        "sandbox mode: generated a master key into the data dir; set SOCIALCRM_MASTER_KEYS in production"
    );
    Ok((ring, Some(path)))
}

/// Starts the keyring reload: the key file is re-read on SIGHUP and every 30 s, and applied to
/// the running engine when it changed (keys from configuration only log a SIGHUP). Returns the
/// tasks to stop at shutdown.
fn watch_keyring(
    key_file: Option<PathBuf>,
    engine: engine::EngineHandle,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let (hup_tx, hup_rx) = tokio::sync::mpsc::channel(1);
    let signals = keyring_reload::forward_sighup(hup_tx);
    let watcher = match key_file {
        Some(path) => {
            let (file, _) = KeyringFile::open(&path)?;
            keyring_reload::spawn(file, hup_rx, keyring_reload::CHECK_INTERVAL, move |ring| {
                engine.reload_master_keys(ring).map_err(anyhow::Error::from)
            })
        }
        None => keyring_reload::spawn_fixed(hup_rx),
    };
    Ok(vec![signals, watcher])
}

/// A random secret kept in a private file, created on first use.
fn file_secret(path: &Path) -> anyhow::Result<SecretString> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(SecretString::from(text.trim().to_owned()));
    }
    let secret = gateway::auth::random_token(32);
    write_private(path, &secret)?;
    Ok(SecretString::from(secret))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Replaces `path` atomically with `contents` (private file): written to `tmp`, synced, renamed.
pub fn write_private_replace(tmp: &Path, path: &Path, contents: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(tmp);
    write_private(tmp, contents)?;
    std::fs::rename(tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}
