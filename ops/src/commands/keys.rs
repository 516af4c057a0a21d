//! `socialcrm keys`: instance admin API keys, and the bootstrap key `serve` installs on a store
//! that has none. Keys are shown once and stored as SHA-256 hashes only.

use std::sync::Arc;

use anyhow::{Context, bail};
use gateway::auth::{random_token, sha256_hex};
use schema::{Store, StoreUrl};
use secrecy::{ExposeSecret, SecretString};
use tenants::{ApiKeyId, ApiKeyMeta};

use crate::cli::KeysAction;
use crate::config::Settings;

/// Runs a `keys` subcommand.
pub async fn run(settings: &Settings, action: KeysAction) -> anyhow::Result<()> {
    match action {
        KeysAction::Create { name } => {
            let url = StoreUrl::parse(&settings.store)?;
            schema::migrate(&url).await?;
            let store = schema::open_store(&url).await?;
            let key = new_admin_key(&store, &name, None).await?;
            println!("created admin API key (shown once, store it now):");
            println!("{}", key.expose_secret());
            Ok(())
        }
        KeysAction::Rotate { settle_secs } => {
            super::rotate::run(settings, std::time::Duration::from_secs(settle_secs)).await
        }
    }
}

/// Creates an instance admin key named `name`: `exact` when given (scripts), else a fresh
/// random `sk_` key. Returns the key, to be shown once.
pub async fn new_admin_key(
    store: &Arc<dyn Store>,
    name: &str,
    exact: Option<&SecretString>,
) -> anyhow::Result<SecretString> {
    let secret = match exact {
        Some(key) => key.expose_secret().to_owned(),
        None => format!("sk_{}", random_token(32)),
    };
    if secret.len() < 16 {
        bail!("the bootstrap key must be at least 16 characters");
    }
    let last4: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let meta = ApiKeyMeta {
        id: ApiKeyId::new(),
        name: name.to_owned(),
        owner: None,
        key_hash: sha256_hex(secret.as_bytes()),
        last4,
        workspace_ids: None,
        scopes: Vec::new(),
        instance_admin: true,
        created_at: jiff::Timestamp::now(),
        last_used_at: None,
    };
    store
        .put_api_key(&meta)
        .await
        .context("cannot store the API key")?;
    Ok(secret.into())
}

/// On a store with no API key at all, installs the configured bootstrap key or a fresh one and
/// returns it for printing. Returns `None` when keys already exist.
pub async fn ensure_bootstrap_key(
    store: &Arc<dyn Store>,
    configured: Option<&SecretString>,
) -> anyhow::Result<Option<SecretString>> {
    if store.count_api_keys().await? > 0 {
        return Ok(None);
    }
    new_admin_key(store, "bootstrap", configured)
        .await
        .map(Some)
}
