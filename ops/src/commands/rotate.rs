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

/// Runs the rotation and reports progress. With a key file, waits `settle` after adding the new
/// key, so running servers load it before the old key is retired: a server still on the old
/// keyring would wrap a new workspace's data key under a key about to disappear.
pub async fn run(settings: &Settings, settle: std::time::Duration) -> anyhow::Result<()> {
    let (ring, source) = load(settings)?;
    let url = StoreUrl::parse(&settings.store)?;
    let store = schema::open_store(&url).await?;
    let wait = matches!(source, Source::File(_)) && !settle.is_zero();
    if wait {
        println!(
            "after adding the key, waiting {} s for running servers to load it (SIGHUP them and pass --settle-secs 0 to skip)",
            settle.as_secs()
        );
    }
    let settled = async move {
        if wait {
            tokio::time::sleep(settle).await;
        }
    };
    rotate(&*store, ring, &source, settled).await
}

/// The rotation itself, over an open store.
async fn rotate(
    store: &dyn schema::Store,
    mut ring: MasterKeyring,
    source: &Source,
    settled: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    if ring.ids().len() == 1 {
        let next_id = format!("mk{}", jiff::Timestamp::now().as_second());
        let key = MasterKey::generate(&next_id)
            .map_err(|e| anyhow::anyhow!("cannot generate a master key: {e}"))?;
        ring.push(key)
            .map_err(|e| anyhow::anyhow!("cannot add the master key: {e}"))?;
        save(
            source,
            &ring,
            "new key added (old key still present for unwrapping)",
        )?;
    } else {
        println!(
            "resuming an interrupted rotation towards master key `{}`",
            ring.active().id
        );
    }

    settled.await;

    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} rewrapped {pos} data keys ({per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let (mut rewrapped, mut skipped) = (0u64, 0u64);
    // A second pass catches a data key a server created under the old key during the first; the
    // old key is retired only after a pass that found nothing to rewrap.
    let mut settled = false;
    for _pass in 0..MAX_PASSES {
        let before = rewrapped;
        skipped = 0;
        rewrap_pass(store, &ring, &bar, &mut rewrapped, &mut skipped).await?;
        if rewrapped == before {
            settled = true;
            break;
        }
    }
    if !settled {
        anyhow::bail!(
            "data keys are still being created under the old master key; make sure every server loaded the key file, then run `socialcrm keys rotate` again"
        );
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
    save(source, &ring, "old keys retired")?;
    println!(
        "rotation complete: {rewrapped} data keys rewrapped, {skipped} already current; retired {}; active master key `{}`",
        retired.join(", "),
        ring.active().id
    );
    if matches!(source, Source::File(_)) {
        println!(
            "running servers load the new keyring within 30 s; send them SIGHUP to load it now"
        );
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

/// Passes over every data key before retiring the old master key.
const MAX_PASSES: usize = 3;

/// Rewraps every data key not under the active master key, counting into `rewrapped` and
/// `skipped`.
async fn rewrap_pass(
    store: &dyn schema::Store,
    ring: &MasterKeyring,
    bar: &ProgressBar,
    rewrapped: &mut u64,
    skipped: &mut u64,
) -> anyhow::Result<()> {
    let mut page = PageRequest::first(500);
    loop {
        let batch = store.list_data_keys(page.clone()).await?;
        for wrapped in &batch.items {
            if !needs_rewrap(ring, wrapped) {
                *skipped += 1;
                continue;
            }
            let next = rewrap(ring, wrapped).map_err(|e| {
                anyhow::anyhow!(
                    "cannot rewrap the data key of workspace {}: {e}",
                    wrapped.workspace_id
                )
            })?;
            store
                .put_data_key(WorkspaceScope::authorized(wrapped.workspace_id), &next)
                .await?;
            *rewrapped += 1;
            bar.inc(1);
        }
        match batch.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use tenants::WorkspaceId;
    use tenants::crypto::{DataKey, unwrap_data_key, wrap_data_key};

    use super::*;

    async fn put_key(store: &dyn schema::Store, ring: &MasterKeyring) -> WorkspaceId {
        let ws = WorkspaceId::new();
        let wrapped = wrap_data_key(ring, ws, 1, &DataKey::generate(), jiff::Timestamp::now());
        store
            .put_data_key(WorkspaceScope::authorized(ws), &wrapped)
            .await
            .expect("put data key");
        ws
    }

    #[tokio::test]
    async fn test_a_key_wrapped_by_a_lagging_server_during_rotation_survives_the_retirement() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = StoreUrl::parse(&format!("redb://{}", dir.path().join("s.redb").display()))
            .expect("url");
        let store = schema::open_store(&url).await.expect("store");
        let old = MasterKeyring::generate("mk-old").expect("ring");
        let key_file = dir.path().join("master.keys");
        std::fs::write(&key_file, old.to_config().expose_secret()).expect("key file");
        let before = put_key(&*store, &old).await;

        // A server that has not reloaded the key file yet wraps a new workspace's key under the
        // old master key while the rotation settles.
        let lagging_ring = MasterKeyring::parse(old.to_config().expose_secret()).expect("ring");
        let during = std::sync::Mutex::new(None);
        let settled = async {
            let ws = put_key(&*store, &lagging_ring).await;
            *during.lock().expect("lock") = Some(ws);
        };
        let source = Source::File(key_file.clone());
        rotate(&*store, old, &source, settled)
            .await
            .expect("rotate");
        let during = during
            .lock()
            .expect("lock")
            .take()
            .expect("lagging write ran");

        let text = std::fs::read_to_string(&key_file).expect("key file");
        let ring = MasterKeyring::parse(text.trim()).expect("new ring");
        assert_eq!(ring.ids().len(), 1, "the old key is retired");
        assert_ne!(ring.active().id, "mk-old");
        for ws in [before, during] {
            let wrapped = store
                .get_data_key(WorkspaceScope::authorized(ws))
                .await
                .expect("read")
                .expect("data key kept");
            assert_eq!(wrapped.master_key_id, ring.active().id);
            unwrap_data_key(&ring, &wrapped).expect("opens under the new key alone");
        }
    }
}
