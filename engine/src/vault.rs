//! The token vault service: OAuth tokens in, sealed rows out, and back. It sits between the
//! account actor (connect, refresh, publish, disconnect) and the store, and is the only code that
//! turns a platform token into bytes at rest.
//!
//! Envelope encryption (see [`tenants::crypto`]): each workspace has a random data key, stored
//! only wrapped by the operator's master keyring; every token is sealed under it with AAD binding
//! workspace, account and key version, so a ciphertext copied onto another row fails to open.
//! Deleting the data key ([`TokenVault::shred_workspace`]) crypto-shreds every token at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use schema::{AccountScope, AccountStore, KeyringStore, Store, StoreError, WorkspaceScope};
use secrecy::{ExposeSecret, SecretString};
use tenants::crypto::{self, DataKey, MasterKeyring, SealAad, VaultError};
use tenants::{Sealed, StoredTokens, WorkspaceId};

use crate::partner::TokenResponse;

/// The version of every data key this vault creates. Data keys are never replaced in place
/// (master keys rotate instead), so one version is enough; it is still bound in every AAD.
const DATA_KEY_VERSION: u32 = 1;

/// Unwrapped data keys kept in memory at most; the cache is emptied when it is full.
const MAX_CACHED_KEYS: usize = 1024;

/// The storage the vault needs: sealed tokens and wrapped data keys. Every [`Store`] has it.
pub trait VaultStore: AccountStore + KeyringStore {}

impl<T: AccountStore + KeyringStore + ?Sized> VaultStore for T {}

/// Why a vault call failed. Never carries key material or tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenVaultError {
    /// The store failed; the call may be retried.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unwrapping or opening failed: tampered or moved ciphertext, unknown master key. The
    /// tokens are not served.
    #[error(transparent)]
    Crypto(#[from] VaultError),
    /// Tokens exist but the workspace's data key is gone: they were crypto-shredded.
    #[error("the workspace's data key was deleted; its tokens are unrecoverable")]
    Shredded,
}

/// An account's tokens in clear, in memory only. `Debug` redacts the tokens.
#[derive(Debug, Clone)]
pub struct ClearTokens {
    /// The platform access token.
    pub access_token: SecretString,
    /// The refresh token, when the platform issued one.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (`None`: it does not).
    pub access_expires_at: Option<Timestamp>,
    /// When the refresh token expires, when the platform says.
    pub refresh_expires_at: Option<Timestamp>,
    /// Granted scopes, space separated.
    pub scope: Option<String>,
}

impl ClearTokens {
    /// The tokens of a token-endpoint answer received at `received_at`; lifetimes become
    /// instants. An empty refresh token is dropped, so it cannot overwrite a real one.
    pub fn from_response(resp: &TokenResponse, received_at: Timestamp) -> Self {
        let at = |d: Option<Duration>| {
            d.and_then(|d| SignedDuration::try_from(d).ok())
                .and_then(|d| received_at.checked_add(d).ok())
        };
        Self {
            access_token: resp.access_token.clone(),
            refresh_token: resp.refresh_token.clone(),
            access_expires_at: at(resp.expires_in),
            refresh_expires_at: at(resp.refresh_expires_in),
            scope: resp.scope.clone(),
        }
        .without_empty_refresh()
    }

    fn without_empty_refresh(mut self) -> Self {
        if self
            .refresh_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().trim().is_empty())
        {
            self.refresh_token = None;
        }
        self
    }

    /// The last 4 characters of the access token, the most that may be shown of it.
    pub fn token_hint(&self) -> String {
        crypto::secret_hint(&self.access_token)
    }
}

/// Seals, stores, opens and shreds account tokens. Share it behind an `Arc`; unwrapped data keys
/// are cached in a small map whose lock is never held across an `.await`.
pub struct TokenVault<S: ?Sized + VaultStore = dyn Store> {
    store: Arc<S>,
    /// Swapped whole by [`TokenVault::replace_keyring`]; the lock is held only to clone the
    /// `Arc`, never across an `.await`.
    keyring: RwLock<Arc<MasterKeyring>>,
    cache: Mutex<HashMap<WorkspaceId, DataKey>>,
    /// Serialises data key creation in this process, so two first uses cannot each store a key
    /// and seal under the one that loses.
    create_lock: tokio::sync::Mutex<()>,
}

impl<S: ?Sized + VaultStore> std::fmt::Debug for TokenVault<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVault")
            .field("keyring", &self.keyring())
            .finish_non_exhaustive()
    }
}

impl<S: ?Sized + VaultStore> TokenVault<S> {
    /// A vault over `store`, wrapping data keys with `keyring`'s active master key.
    pub fn new(store: Arc<S>, keyring: Arc<MasterKeyring>) -> Self {
        Self {
            store,
            keyring: RwLock::new(keyring),
            cache: Mutex::new(HashMap::new()),
            create_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The keyring in use now.
    fn keyring(&self) -> Arc<MasterKeyring> {
        let ring = self.keyring.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&ring)
    }

    /// Replaces the master keyring of a running vault (after `socialcrm keys rotate`): data
    /// keys are unwrapped and new ones wrapped with `keyring` from now on. Data keys already
    /// unwrapped stay cached: a rotation rewraps them without changing them.
    pub fn replace_keyring(&self, keyring: MasterKeyring) {
        let mut ring = self.keyring.write().unwrap_or_else(|e| e.into_inner());
        *ring = Arc::new(keyring);
    }

    /// The id of the master key new data keys are wrapped with.
    pub fn active_master_key_id(&self) -> String {
        self.keyring().active().id.clone()
    }

    fn cached(&self, workspace_id: WorkspaceId) -> Option<DataKey> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(&workspace_id).cloned()
    }

    fn remember(&self, workspace_id: WorkspaceId, key: &DataKey) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(workspace_id, key.clone());
    }

    fn forget(&self, workspace_id: WorkspaceId) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(&workspace_id);
    }

    /// The workspace's stored data key, unwrapped, or `None` when it has none.
    async fn stored_data_key(
        &self,
        scope: WorkspaceScope,
    ) -> Result<Option<DataKey>, TokenVaultError> {
        let workspace_id = scope.workspace_id();
        if let Some(key) = self.cached(workspace_id) {
            return Ok(Some(key));
        }
        let Some(wrapped) = self.store.get_data_key(scope).await? else {
            return Ok(None);
        };
        if wrapped.workspace_id != workspace_id || wrapped.key_version != DATA_KEY_VERSION {
            return Err(VaultError::Tampered.into());
        }
        let key = crypto::unwrap_data_key(&self.keyring(), &wrapped)?;
        self.remember(workspace_id, &key);
        Ok(Some(key))
    }

    /// Returns the workspace's data key, creating and storing a wrapped one on first use.
    ///
    /// # Errors
    /// [`TokenVaultError::Store`] when the store fails; [`TokenVaultError::Crypto`] when the
    /// stored key cannot be unwrapped (unknown master key, tampered row).
    pub async fn ensure_data_key(
        &self,
        scope: WorkspaceScope,
        now: Timestamp,
    ) -> Result<DataKey, TokenVaultError> {
        if let Some(key) = self.stored_data_key(scope).await? {
            return Ok(key);
        }
        let _creating = self.create_lock.lock().await;
        if let Some(key) = self.stored_data_key(scope).await? {
            return Ok(key);
        }
        let key = DataKey::generate();
        let wrapped = crypto::wrap_data_key(
            &self.keyring(),
            scope.workspace_id(),
            DATA_KEY_VERSION,
            &key,
            now,
        );
        // Insert-if-absent: a concurrent first use on another node that stored a key first
        // wins, and everyone seals under the key the store kept.
        let kept = self.store.create_data_key(scope, &wrapped).await?;
        if kept.workspace_id != scope.workspace_id() || kept.key_version != DATA_KEY_VERSION {
            return Err(VaultError::Tampered.into());
        }
        let key = crypto::unwrap_data_key(&self.keyring(), &kept)?;
        self.forget(scope.workspace_id());
        self.remember(scope.workspace_id(), &key);
        Ok(key)
    }

    /// The store this vault writes to.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Seals one secret for an account (a token queued for revocation).
    ///
    /// # Errors
    /// As [`TokenVault::ensure_data_key`].
    pub async fn seal_secret(
        &self,
        scope: AccountScope,
        secret: &SecretString,
        now: Timestamp,
    ) -> Result<Sealed, TokenVaultError> {
        let key = self.ensure_data_key(scope.workspace(), now).await?;
        Ok(crypto::seal(
            &key,
            secret.expose_secret().as_bytes(),
            &Self::aad(scope),
        ))
    }

    /// Opens one value sealed for an account (a token queued for revocation).
    ///
    /// # Errors
    /// [`TokenVaultError::Shredded`] when the workspace's data key is gone;
    /// [`TokenVaultError::Crypto`] when the value does not open; [`TokenVaultError::Store`].
    pub async fn open_sealed(
        &self,
        scope: AccountScope,
        sealed: &Sealed,
    ) -> Result<SecretString, TokenVaultError> {
        let key = self
            .stored_data_key(scope.workspace())
            .await?
            .ok_or(TokenVaultError::Shredded)?;
        Ok(crypto::open_string(&key, sealed, &Self::aad(scope))?)
    }

    fn aad(scope: AccountScope) -> SealAad {
        SealAad {
            workspace_id: scope.workspace_id(),
            owner_id: scope.account_id().as_uuid(),
            key_version: DATA_KEY_VERSION,
        }
    }

    /// Seals an account's clear tokens (without storing them).
    ///
    /// # Errors
    /// As [`TokenVault::ensure_data_key`].
    pub async fn seal_tokens(
        &self,
        scope: AccountScope,
        tokens: &ClearTokens,
        now: Timestamp,
    ) -> Result<StoredTokens, TokenVaultError> {
        let key = self.ensure_data_key(scope.workspace(), now).await?;
        let aad = Self::aad(scope);
        let seal =
            |secret: &SecretString| crypto::seal(&key, secret.expose_secret().as_bytes(), &aad);
        Ok(StoredTokens {
            access_token: seal(&tokens.access_token),
            refresh_token: tokens.refresh_token.as_ref().map(seal),
            access_expires_at: tokens.access_expires_at,
            refresh_expires_at: tokens.refresh_expires_at,
            scope: tokens.scope.clone(),
            updated_at: now,
        })
    }

    /// Seals and persists a grant (from a connect or a refresh). A grant without a refresh
    /// token keeps the stored one (and its expiry): an absent or empty refresh token never
    /// overwrites a real one. Returns what was stored.
    ///
    /// # Errors
    /// As [`TokenVault::ensure_data_key`], and [`TokenVaultError::Store`] when the write fails
    /// (nothing may then use the new tokens as if they were saved).
    pub async fn store_grant(
        &self,
        scope: AccountScope,
        grant: &ClearTokens,
        now: Timestamp,
    ) -> Result<StoredTokens, TokenVaultError> {
        let grant = grant.clone().without_empty_refresh();
        let mut sealed = self.seal_tokens(scope, &grant, now).await?;
        if sealed.refresh_token.is_none() {
            let previous = self.store.get_tokens(scope).await?;
            if let Some(previous) = previous.filter(|p| p.refresh_token.is_some()) {
                sealed.refresh_token = previous.refresh_token;
                sealed.refresh_expires_at =
                    sealed.refresh_expires_at.or(previous.refresh_expires_at);
            }
        }
        self.store.put_tokens(scope, &sealed).await?;
        Ok(sealed)
    }

    /// Opens an account's stored tokens. `None` when the account has none.
    ///
    /// # Errors
    /// [`TokenVaultError::Crypto`] when a token fails to open (tampered, or copied from another
    /// account): it is never served. [`TokenVaultError::Shredded`] when the workspace's data key
    /// was deleted. [`TokenVaultError::Store`] when the store fails.
    pub async fn load_tokens(
        &self,
        scope: AccountScope,
    ) -> Result<Option<ClearTokens>, TokenVaultError> {
        let Some(stored) = self.store.get_tokens(scope).await? else {
            return Ok(None);
        };
        let key = self
            .stored_data_key(scope.workspace())
            .await?
            .ok_or(TokenVaultError::Shredded)?;
        let aad = Self::aad(scope);
        let open = |sealed: &Sealed| crypto::open_string(&key, sealed, &aad);
        Ok(Some(ClearTokens {
            access_token: open(&stored.access_token)?,
            refresh_token: stored.refresh_token.as_ref().map(open).transpose()?,
            access_expires_at: stored.access_expires_at,
            refresh_expires_at: stored.refresh_expires_at,
            scope: stored.scope,
        }))
    }

    /// Deletes an account's tokens (after disconnect or erasure).
    ///
    /// # Errors
    /// [`TokenVaultError::Store`] when the store fails.
    pub async fn delete_tokens(&self, scope: AccountScope) -> Result<(), TokenVaultError> {
        self.store.delete_tokens(scope).await?;
        Ok(())
    }

    /// Deletes the workspace's data key: every token it sealed becomes unrecoverable at once.
    ///
    /// # Errors
    /// [`TokenVaultError::Store`] when the store fails (the key may still exist; retry).
    pub async fn shred_workspace(&self, scope: WorkspaceScope) -> Result<(), TokenVaultError> {
        self.forget(scope.workspace_id());
        let deleted = self.store.delete_data_key(scope).await;
        // Forget again: a concurrent load may have cached the key while the delete ran.
        self.forget(scope.workspace_id());
        deleted?;
        Ok(())
    }
}
