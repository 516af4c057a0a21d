//! Typed settings for the `socialcrm` binary, layered: defaults, then a TOML file, then
//! `SOCIALCRM_*` environment variables, then command-line flags. The loader takes the environment
//! as an argument so the layering is unit-tested without touching the process environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable, for development.
    Pretty,
    /// One JSON object per line, for production log pipelines.
    Json,
}

/// Every setting the binary reads. Secrets are `SecretString` and never printed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the gateway listens on.
    pub listen: SocketAddr,
    /// Store URL: `redb://./data/socialcrm.redb` or `scylla://host1:9042,host2:9042/keyspace`.
    pub store: String,
    /// Directory for the embedded store, media files and generated keys.
    pub data_dir: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info,socialcrm=debug`.
    pub log_filter: String,
    /// Address the in-process sandbox partners listen on in sandbox mode.
    pub sandbox_listen: SocketAddr,
    /// Use an already-running `socialcrm-sandbox` at this URL for every partner.
    pub sandbox_url: Option<String>,
    /// Installs this exact admin API key when the store has none.
    pub bootstrap_key: Option<SecretString>,
    /// Outstand API key; without it the binary runs in sandbox mode.
    pub outstand_api_key: Option<SecretString>,
    /// Outstand base URL.
    pub outstand_base_url: String,
    /// Secret Outstand signs its webhooks with (`X-Outstand-Signature`).
    pub outstand_webhook_secret: Option<SecretString>,
    /// SMTP relay for transactional email (in sandbox mode, the sandbox's sink).
    pub smtp_host: Option<String>,
    /// SMTP port.
    pub smtp_port: u16,
    /// Sender address of transactional email.
    pub smtp_from: String,
    /// Master keys for the token vault, `id:base64key,...` (the last is active).
    pub master_keys: Option<SecretString>,
    /// OAuth client id used with the platforms.
    pub oauth_client_id: String,
    /// OAuth client secret used with the platforms.
    pub oauth_client_secret: Option<SecretString>,
    /// Google sign-in client id.
    pub google_client_id: String,
    /// Google sign-in client secret.
    pub google_client_secret: Option<SecretString>,
    /// X sign-in client id.
    pub x_client_id: String,
    /// X sign-in client secret.
    pub x_client_secret: Option<SecretString>,
    /// The URL people and partners reach the gateway at (for OAuth redirects).
    pub public_url: Option<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Sustained requests per minute for one API key or session.
    pub rate_limit_per_key_per_minute: u32,
    /// Sustained requests per minute addressed to one workspace.
    pub rate_limit_per_workspace_per_minute: u32,
    /// Allow webhook and media URLs that resolve to private or loopback addresses.
    pub allow_private_targets: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: "redb://./data/socialcrm.redb".to_owned(),
            data_dir: PathBuf::from("./data"),
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            sandbox_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            sandbox_url: None,
            bootstrap_key: None,
            outstand_api_key: None,
            outstand_base_url: "https://api.outstand.so/v1".to_owned(),
            outstand_webhook_secret: None,
            smtp_host: None,
            smtp_port: 25,
            smtp_from: "SocialCRM <no-reply@socialcrm.local>".to_owned(),
            master_keys: None,
            oauth_client_id: "socialcrm".to_owned(),
            oauth_client_secret: None,
            google_client_id: "socialcrm".to_owned(),
            google_client_secret: None,
            x_client_id: "socialcrm".to_owned(),
            x_client_secret: None,
            public_url: None,
            max_body_bytes: 1 << 20,
            rate_limit_per_key_per_minute: 600,
            rate_limit_per_workspace_per_minute: 1200,
            allow_private_targets: false,
        }
    }
}

/// The keys a settings file or `SOCIALCRM_*` variable may set.
const KNOWN_KEYS: &[&str] = &[
    "listen",
    "store",
    "data_dir",
    "log_format",
    "log_filter",
    "sandbox_listen",
    "sandbox_url",
    "bootstrap_key",
    "outstand_api_key",
    "outstand_base_url",
    "outstand_webhook_secret",
    "smtp_host",
    "smtp_port",
    "smtp_from",
    "master_keys",
    "oauth_client_id",
    "oauth_client_secret",
    "google_client_id",
    "google_client_secret",
    "x_client_id",
    "x_client_secret",
    "public_url",
    "max_body_bytes",
    "allow_private_targets",
    "rate_limit_per_key_per_minute",
    "rate_limit_per_workspace_per_minute",
];

/// Settings plus the warnings met while loading them (unknown keys), to log once telemetry is up.
#[derive(Debug)]
pub struct Loaded {
    /// The merged settings.
    pub settings: Settings,
    /// Human-readable warnings.
    pub warnings: Vec<String>,
}

impl Settings {
    /// Whether no real partner credentials are configured, so the sandbox partners stand in.
    pub fn sandbox_mode(&self) -> bool {
        self.outstand_api_key.is_none()
    }
}

/// Loads settings: defaults, then `file` (if given, or `./socialcrm.toml` if it exists), then
/// the `SOCIALCRM_*` entries of `env`. Flags are applied by the caller afterwards.
pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> anyhow::Result<Loaded> {
    let mut table = toml::Table::new();
    let mut warnings = Vec::new();
    let default_file = Path::new("socialcrm.toml");
    let path = match file {
        Some(p) => Some(p.to_path_buf()),
        None if default_file.exists() => Some(default_file.to_path_buf()),
        None => None,
    };
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let parsed: toml::Table = text
            .parse()
            .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
        for (key, value) in parsed {
            if KNOWN_KEYS.contains(&key.as_str()) {
                table.insert(key, value);
            } else {
                warnings.push(format!(
                    "unknown key `{key}` in {}, ignored",
                    path.display()
                ));
            }
        }
    }
    for (name, value) in env {
        let Some(key) = name.strip_prefix("SOCIALCRM_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if !KNOWN_KEYS.contains(&key.as_str()) {
            // Test-only and tool variables share the prefix; they are not settings.
            if !key.starts_with("test_") {
                warnings.push(format!("unknown environment variable `{name}`, ignored"));
            }
            continue;
        }
        table.insert(key, env_value(value));
    }
    let settings: Settings = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("invalid setting: {}", e.message()))?;
    if settings.max_body_bytes == 0 {
        bail!("invalid setting: max_body_bytes must be greater than 0");
    }
    Ok(Loaded { settings, warnings })
}

/// Environment values are strings; numbers and booleans are typed so `SOCIALCRM_MAX_BODY_BYTES=10`
/// and `SOCIALCRM_ALLOW_PRIVATE_TARGETS=true` deserialize.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(n) = raw.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn test_defaults_run_in_sandbox_mode_on_embedded_store() {
        let loaded = load(None, &env(&[])).unwrap();
        assert_eq!(loaded.settings.store, "redb://./data/socialcrm.redb");
        assert!(loaded.settings.sandbox_mode());
        assert_eq!(loaded.settings.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn test_env_overrides_file_and_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nmax_body_bytes = 42\n").unwrap();
        let loaded = load(
            Some(&path),
            &env(&[("SOCIALCRM_MAX_BODY_BYTES", "7"), ("PATH", "/bin")]),
        )
        .unwrap();
        assert_eq!(loaded.settings.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(loaded.settings.max_body_bytes, 7);
    }

    #[test]
    fn test_unknown_keys_are_warned_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let loaded = load(Some(&path), &env(&[("SOCIALCRM_STOER", "y")])).unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("lisen"));
        assert!(loaded.warnings[1].contains("SOCIALCRM_STOER"));
    }

    #[test]
    fn test_secrets_are_redacted_in_debug() {
        let loaded = load(
            None,
            &env(&[("SOCIALCRM_OUTSTAND_API_KEY", "ost_supersecret_1234")]),
        )
        .unwrap();
        assert_eq!(
            loaded
                .settings
                .outstand_api_key
                .as_ref()
                .unwrap()
                .expose_secret(),
            "ost_supersecret_1234"
        );
        assert!(!format!("{:?}", loaded.settings).contains("supersecret"));
        assert!(!loaded.settings.sandbox_mode());
    }

    #[test]
    fn test_bad_value_is_a_clear_error() {
        let err = load(None, &env(&[("SOCIALCRM_LISTEN", "not-an-address")])).unwrap_err();
        assert!(err.to_string().contains("invalid setting"), "{err}");
    }
}
