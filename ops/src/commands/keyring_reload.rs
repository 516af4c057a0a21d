//! Keeps a running `serve` in step with its master key file, so `socialcrm keys rotate` needs no
//! restart. The rule:
//! - `SIGHUP` re-reads the key file at once and applies it;
//! - every [`CHECK_INTERVAL`] the file is re-read and applied if its content changed (a content
//!   comparison, not the modification time, so two writes within one timestamp tick are not
//!   missed; the file is a few hundred bytes).
//!
//! A file that cannot be read or parsed leaves the keyring in use untouched (logged); rotation
//! replaces the file atomically, so a half-written file is never seen. Keys that come from
//! configuration (`SOCIALCRM_MASTER_KEYS`) cannot change under a running process: rotating them
//! means setting the new value and restarting, and a `SIGHUP` then only logs that.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tenants::MasterKeyring;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often the key file is re-read.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// The key file and the content last applied.
pub struct KeyringFile {
    path: PathBuf,
    loaded: SecretString,
}

impl std::fmt::Debug for KeyringFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl KeyringFile {
    /// Reads and parses the key file.
    ///
    /// # Errors
    /// The file cannot be read or is not a valid keyring.
    pub fn open(path: &Path) -> anyhow::Result<(Self, MasterKeyring)> {
        let (text, ring) = read(path)?;
        let file = Self {
            path: path.to_path_buf(),
            loaded: text,
        };
        Ok((file, ring))
    }

    /// Re-reads the file: the new keyring when its content differs from what was applied last
    /// (it then counts as applied), `None` when unchanged.
    ///
    /// # Errors
    /// The file cannot be read or is not a valid keyring (nothing counts as applied then).
    pub fn changed(&mut self) -> anyhow::Result<Option<MasterKeyring>> {
        let (text, ring) = read(&self.path)?;
        if text.expose_secret() == self.loaded.expose_secret() {
            return Ok(None);
        }
        self.loaded = text;
        Ok(Some(ring))
    }

    /// Re-reads the file whatever its content and returns the keyring.
    ///
    /// # Errors
    /// As [`KeyringFile::changed`].
    pub fn reread(&mut self) -> anyhow::Result<MasterKeyring> {
        let (text, ring) = read(&self.path)?;
        self.loaded = text;
        Ok(ring)
    }
}

fn read(path: &Path) -> anyhow::Result<(SecretString, MasterKeyring)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let text = SecretString::from(text.trim().to_owned());
    let ring = MasterKeyring::parse(text.expose_secret())
        .map_err(|e| anyhow::anyhow!("invalid master key file {}: {e}", path.display()))?;
    Ok((text, ring))
}

/// Runs the reload rule of the module doc until `hup_rx` closes: each message on it is a
/// `SIGHUP`, and the file is checked every `every` ([`CHECK_INTERVAL`] when serving); `apply`
/// installs a keyring in the running engine and returns its active key id.
pub fn spawn<F>(
    mut file: KeyringFile,
    mut hup_rx: mpsc::Receiver<()>,
    every: Duration,
    apply: F,
) -> JoinHandle<()>
where
    F: Fn(MasterKeyring) -> anyhow::Result<String> + Send + 'static,
{
    engine::runtime::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        // The first tick is immediate; the file was just read.
        ticks.tick().await;
        loop {
            let next = tokio::select! {
                hup = hup_rx.recv() => match hup {
                    Some(()) => file.reread().map(Some),
                    None => break,
                },
                _ = ticks.tick() => file.changed(),
            };
            match next {
                Ok(Some(ring)) => match apply(ring) {
                    Ok(active) => {
                        tracing::info!(master_key_id = %active, "master keyring reloaded from its file");
                    }
                    Err(e) => tracing::error!(error = %e, "master keyring reload failed"),
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "master key file not reloaded; the keyring in use stays");
                }
            }
        }
    })
}

/// For keys from configuration: answers each `SIGHUP` with a log line saying a restart is needed.
pub fn spawn_fixed(mut hup_rx: mpsc::Receiver<()>) -> JoinHandle<()> {
    engine::runtime::spawn(async move {
        while hup_rx.recv().await.is_some() {
            tracing::warn!(
                "SIGHUP: the master keys come from configuration (SOCIALCRM_MASTER_KEYS); set the new value and restart to change them"
            );
        }
    })
}

/// Forwards `SIGHUP` to `hup_tx` until the receiver is gone.
pub fn forward_sighup(hup_tx: mpsc::Sender<()>) -> JoinHandle<()> {
    engine::runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hup = match signal(SignalKind::hangup()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; the key file is still checked periodically");
                    return;
                }
            };
            while hup.recv().await.is_some() {
                if hup_tx.send(()).await.is_err() {
                    break;
                }
            }
        }
        #[cfg(not(unix))]
        drop(hup_tx);
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use engine::vault::TokenVault;
    use schema::{KeyringStore, PageRequest, RedbStore, WorkspaceScope};
    use tenants::crypto::{MasterKey, rewrap};
    use tenants::{AccountId, WorkspaceId};

    use super::*;
    use crate::commands::serve::write_private_replace;

    fn write(path: &Path, ring: &MasterKeyring) {
        let tmp = path.with_extension("keys.tmp");
        write_private_replace(&tmp, path, ring.to_config().expose_secret()).expect("write");
    }

    #[test]
    fn test_a_changed_key_file_is_seen_once_and_a_broken_one_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("master.keys");
        write(&path, &MasterKeyring::generate("mk-a").expect("ring"));
        let (mut file, ring) = KeyringFile::open(&path).expect("open");
        assert_eq!(ring.active().id, "mk-a");
        assert!(file.changed().expect("read").is_none(), "unchanged");

        write(&path, &MasterKeyring::generate("mk-b").expect("ring"));
        let next = file.changed().expect("read").expect("changed");
        assert_eq!(next.active().id, "mk-b");
        assert!(file.changed().expect("read").is_none(), "applied once");

        std::fs::write(&path, "not a keyring").expect("write");
        assert!(file.changed().is_err());
        assert!(file.reread().is_err());
    }

    /// Rotates the store the way `socialcrm keys rotate` does; returns the retired keyring.
    async fn rotate(store: &RedbStore, old: &MasterKeyring) -> MasterKeyring {
        let next = MasterKey::generate("mk-next").expect("key");
        let entry = next.to_config_entry().expose_secret().to_owned();
        let mut both = MasterKeyring::parse(old.to_config().expose_secret()).expect("copy");
        both.push(next).expect("push");
        for wrapped in store
            .list_data_keys(PageRequest::first(100))
            .await
            .expect("list")
            .items
        {
            let again = rewrap(&both, &wrapped).expect("rewrap");
            store
                .put_data_key(WorkspaceScope::authorized(wrapped.workspace_id), &again)
                .await
                .expect("put");
        }
        MasterKeyring::parse(&entry).expect("retired")
    }

    /// A vault holding tokens another node sealed under `old` (so their data key is not
    /// cached), the store rotated to a new key, and the watcher over the key file, whose
    /// reloads are reported on the returned channel.
    struct Rotated {
        _dir: tempfile::TempDir,
        path: PathBuf,
        running: Arc<TokenVault<RedbStore>>,
        scope: schema::AccountScope,
        applied_rx: mpsc::UnboundedReceiver<String>,
        hup_tx: mpsc::Sender<()>,
        task: JoinHandle<()>,
        rotated: MasterKeyring,
    }

    async fn rotated_store(every: Duration) -> Rotated {
        let dir = tempfile::tempdir().expect("dir");
        let store = RedbStore::open(dir.path().join("store.redb")).expect("store");
        store.migrate().await.expect("migrate");
        let store = Arc::new(store);
        let path = dir.path().join("master.keys");
        let old = MasterKeyring::generate("mk-old").expect("ring");
        write(&path, &old);
        let (file, ring) = KeyringFile::open(&path).expect("open");
        let running = Arc::new(TokenVault::new(store.clone(), Arc::new(ring)));
        let scope = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
        let grant = engine::vault::ClearTokens {
            access_token: SecretString::from(ACCESS),
            refresh_token: None,
            access_expires_at: None,
            refresh_expires_at: None,
            scope: None,
        };
        let copy = MasterKeyring::parse(old.to_config().expose_secret()).expect("copy");
        TokenVault::new(store.clone(), Arc::new(copy))
            .store_grant(scope, &grant, jiff::Timestamp::now())
            .await
            .expect("sealed");
        let rotated = rotate(&store, &old).await;
        assert!(
            running.load_tokens(scope).await.is_err(),
            "the old keyring cannot unwrap the rewrapped data key"
        );
        let (applied_tx, applied_rx) = mpsc::unbounded_channel();
        let (hup_tx, hup_rx) = mpsc::channel(1);
        let target = running.clone();
        let task = spawn(file, hup_rx, every, move |ring| {
            target.replace_keyring(ring);
            let active = target.active_master_key_id();
            let _ = applied_tx.send(active.clone());
            Ok(active)
        });
        Rotated {
            _dir: dir,
            path,
            running,
            scope,
            applied_rx,
            hup_tx,
            task,
            rotated,
        }
    }

    const ACCESS: &str = "access-token-0123456789";

    async fn next_reload(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("reloaded before the deadline")
            .expect("watcher running")
    }

    async fn assert_opens(world: &Rotated) {
        let tokens = world
            .running
            .load_tokens(world.scope)
            .await
            .expect("opens after the reload")
            .expect("present");
        assert_eq!(tokens.access_token.expose_secret(), ACCESS);
    }

    #[tokio::test]
    async fn test_the_periodic_check_reloads_a_rotated_key_file_into_the_running_vault() {
        let mut world = rotated_store(Duration::from_millis(20)).await;
        write(&world.path, &world.rotated);
        assert_eq!(next_reload(&mut world.applied_rx).await, "mk-next");
        assert_opens(&world).await;
        drop(world.hup_tx);
        world
            .task
            .await
            .expect("the watcher stops when the signal source closes");
    }

    #[tokio::test]
    async fn test_sighup_reloads_the_key_file_at_once() {
        // No periodic check within the test: only the SIGHUP can load the new keyring.
        let mut world = rotated_store(Duration::from_secs(3600)).await;
        write(&world.path, &world.rotated);
        world.hup_tx.send(()).await.expect("hup");
        assert_eq!(next_reload(&mut world.applied_rx).await, "mk-next");
        assert_opens(&world).await;
        assert!(
            world.applied_rx.try_recv().is_err(),
            "one reload per SIGHUP"
        );
        drop(world.hup_tx);
        world
            .task
            .await
            .expect("the watcher stops when the signal source closes");
    }
}
