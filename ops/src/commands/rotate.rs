//! `socialcrm keys rotate`: adds a new master key, rewraps every workspace data key under it and
//! retires the old key. Safe to re-run: an interrupted rotation (several keys in the keyring)
//! resumes rewrapping instead of adding yet another key, and data keys already under the active
//! key are skipped. Tokens themselves are never decrypted: only the data keys are rewrapped.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use schema::{PageRequest, StoreUrl, WorkspaceScope};
use secrecy::ExposeSecret;
use tenants::crypto::{MasterKey, MasterKeyring, needs_rewrap, rewrap};

use crate::config::Settings;

/// Where the keyring lives: the data dir's key file (sandbox mode), or the configuration.
enum Source {
    File(PathBuf),
    Config,
}

/// Runs the rotation and reports progress.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let (mut ring, source) = load(settings)?;
    let url = StoreUrl::parse(&settings.store)?;
    let store = schema::open_store(&url).await?;

    if ring.ids().len() == 1 {
        let next_id = format!("mk{}", jiff::Timestamp::now().as_second());
        let key = MasterKey::generate(&next_id)
            .map_err(|e| anyhow::anyhow!("cannot generate a master key: {e}"))?;
        ring.push(key)
            .map_err(|e| anyhow::anyhow!("cannot add the master key: {e}"))?;
        save(
            &source,
            &ring,
            "new key added (old key still present for unwrapping)",
        )?;
    } else {
        println!(
            "resuming an interrupted rotation towards master key `{}`",
            ring.active().id
        );
    }

    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} rewrapped {pos} data keys ({per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let (mut rewrapped, mut skipped) = (0u64, 0u64);
    let mut page = PageRequest::first(500);
    loop {
        let batch = store.list_data_keys(page.clone()).await?;
        for wrapped in &batch.items {
            if !needs_rewrap(&ring, wrapped) {
                skipped += 1;
                continue;
            }
            let next = rewrap(&ring, wrapped).map_err(|e| {
                anyhow::anyhow!(
                    "cannot rewrap the data key of workspace {}: {e}",
                    wrapped.workspace_id
                )
            })?;
            store
                .put_data_key(WorkspaceScope::authorized(wrapped.workspace_id), &next)
                .await?;
            rewrapped += 1;
            bar.inc(1);
        }
        match batch.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    bar.finish_with_message(format!("({skipped} already under the active key)"));

    let active_id = ring.active().id.clone();
    let retired: Vec<String> = ring
        .ids()
        .into_iter()
        .filter(|id| *id != active_id)
        .map(str::to_owned)
        .collect();
    // Keep only the active key's entry of the keyring's own serialisation.
    let prefix = format!("{active_id}:");
    let kept = ring
        .to_config()
        .expose_secret()
        .split(',')
        .find(|entry| entry.starts_with(&prefix))
        .map(str::to_owned)
        .context("the active master key is missing from its keyring")?;
    let ring = MasterKeyring::parse(&kept)
        .map_err(|e| anyhow::anyhow!("cannot build the new keyring: {e}"))?;
    save(&source, &ring, "old keys retired")?;
    println!(
        "rotation complete: {rewrapped} data keys rewrapped, {skipped} already current; retired {}; active master key `{}`",
        retired.join(", "),
        ring.active().id
    );
    if matches!(source, Source::File(_)) {
        println!("restart running servers so they load the new keyring");
    }
    Ok(())
}

fn load(settings: &Settings) -> anyhow::Result<(MasterKeyring, Source)> {
    if let Some(keys) = &settings.master_keys {
        let ring = MasterKeyring::parse(keys.expose_secret())
            .map_err(|e| anyhow::anyhow!("invalid master_keys: {e}"))?;
        return Ok((ring, Source::Config));
    }
    let path = settings.data_dir.join("master.keys");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no master keys configured and no key file at {}; nothing to rotate",
            path.display()
        )
    })?;
    let ring = MasterKeyring::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("invalid master key file {}: {e}", path.display()))?;
    Ok((ring, Source::File(path)))
}

/// Persists the keyring durably (write to a temporary file, fsync, rename), or, when the keys
/// come from configuration, prints the value the operator must set before continuing.
fn save(source: &Source, ring: &MasterKeyring, what: &str) -> anyhow::Result<()> {
    match source {
        Source::File(path) => {
            let tmp = path.with_extension("keys.tmp");
            super::serve::write_private_replace(&tmp, path, ring.to_config().expose_secret())?;
            println!("keyring file {} updated: {what}", path.display());
        }
        Source::Config => {
            println!(
                "keyring from configuration ({what}); set SOCIALCRM_MASTER_KEYS to the value below on every node, then re-run `socialcrm keys rotate`:"
            );
            println!("{}", ring.to_config().expose_secret());
        }
    }
    Ok(())
}
