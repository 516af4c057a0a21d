//! The token vault's crypto: AES-256-GCM envelope encryption.
//!
//! - Each workspace has a random 256-bit [`DataKey`]. It seals that workspace's OAuth tokens and
//!   webhook secrets into [`Sealed`] values, each under a fresh 96-bit nonce, with AAD
//!   ([`SealAad`]) binding the workspace, the owner row (account or webhook) and the key version.
//!   A ciphertext copied onto another row fails to open with [`VaultError::Tampered`].
//! - The data key is stored only wrapped ([`WrappedDataKey`]) by a [`MasterKey`] from the
//!   operator's [`MasterKeyring`]. The wrap's AAD binds workspace, key version and master key id.
//!   Deleting the wrapped data key crypto-shreds every token of the workspace at once.
//! - Master keys rotate: add a new key at the end of the keyring (it becomes active), then
//!   [`rewrap`] every stored data key. Old keys stay in the ring until nothing uses them.
//!
//! Key material never appears in `Debug` output or error messages.
//!
//! Flow: the engine's account actor calls [`open_string`] just before a partner call and
//! [`seal`] right after a refresh, and the store persists only [`Sealed`] and
//! [`WrappedDataKey`] values.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use jiff::Timestamp;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use uuid::Uuid;

use crate::ids::WorkspaceId;
use crate::vault::{Sealed, WrappedDataKey};

mod keyring;

pub use keyring::{MasterKey, MasterKeyring};

/// Length of an AES-GCM nonce in bytes (96 bits).
pub const NONCE_LEN: usize = 12;
/// Length of every key (master and data) in bytes (256 bits).
pub const KEY_LEN: usize = 32;

const SEAL_DOMAIN: &[u8] = b"socialcrm/vault/seal/v1";
const WRAP_DOMAIN: &[u8] = b"socialcrm/vault/wrap/v1";

/// A failure of the token vault's crypto. Messages never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The master keyring configuration could not be parsed.
    #[error("invalid master keyring: {reason}")]
    InvalidKeyring {
        /// What is wrong, naming the entry by position and id, never by its key.
        reason: String,
    },
    /// A data key is wrapped by a master key that is not in the keyring.
    #[error("data key is wrapped by master key `{id}`, which is not in the keyring")]
    UnknownMasterKey {
        /// The missing master key id.
        id: String,
    },
    /// The sealed value was made with another data key version than the one given to open it.
    #[error("sealed value uses data key version {sealed}, but version {given} was supplied")]
    WrongKeyVersion {
        /// The version recorded with the ciphertext.
        sealed: u32,
        /// The version the caller supplied.
        given: u32,
    },
    /// Authentication failed: the ciphertext or its context was altered.
    #[error(
        "ciphertext failed authentication: it was tampered with, moved to another row, or \
         opened with the wrong key"
    )]
    Tampered,
    /// The opened secret was expected to be text but is not UTF-8.
    #[error("decrypted secret is not valid utf-8")]
    NotUtf8,
}

/// A workspace's 256-bit data key, in clear in memory only. `Debug` never shows it.
pub struct DataKey(SecretBox<[u8; KEY_LEN]>);

impl DataKey {
    /// A fresh random data key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self(random_key())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.expose_secret()))
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        Self(SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| {
            k.copy_from_slice(self.0.expose_secret())
        }))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// What a sealed value is bound to. Opening with any other AAD fails, so a ciphertext copied to
/// another account's or workspace's row is useless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealAad {
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// The owning row: an account id for tokens, a webhook id for signing secrets.
    pub owner_id: Uuid,
    /// The data key version used.
    pub key_version: u32,
}

impl SealAad {
    /// The deterministic byte encoding: a domain label, the workspace id (16 bytes), the owner id
    /// (16 bytes) and the key version (4 bytes, big-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEAL_DOMAIN.len() + 36);
        out.extend_from_slice(SEAL_DOMAIN);
        out.extend_from_slice(&self.workspace_id.to_bytes());
        out.extend_from_slice(self.owner_id.as_bytes());
        out.extend_from_slice(&self.key_version.to_be_bytes());
        out
    }
}

/// Encrypts `plaintext` under `key`, bound to `aad`, with a fresh random nonce.
///
/// # Panics
/// Only for a plaintext over 64 GiB, the AES-GCM limit; vault secrets are a few kilobytes.
pub fn seal(key: &DataKey, plaintext: &[u8], aad: &SealAad) -> Sealed {
    let nonce = random_nonce();
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad.encode(),
            },
        )
        // Invariant: AES-GCM encryption only fails past 2^36 bytes of plaintext.
        .expect("vault plaintext within the AES-GCM size limit");
    Sealed {
        key_version: aad.key_version,
        nonce: nonce.to_vec(),
        ciphertext,
    }
}

/// Decrypts a sealed value, checking it is bound to `aad`.
///
/// # Errors
/// [`VaultError::WrongKeyVersion`] when `aad` names another key version than the value's, and
/// [`VaultError::Tampered`] when authentication fails (altered bytes, another row's AAD, or the
/// wrong data key).
pub fn open(
    key: &DataKey,
    sealed: &Sealed,
    aad: &SealAad,
) -> Result<SecretBox<Vec<u8>>, VaultError> {
    if sealed.key_version != aad.key_version {
        return Err(VaultError::WrongKeyVersion {
            sealed: sealed.key_version,
            given: aad.key_version,
        });
    }
    decrypt(
        &key.cipher(),
        &sealed.nonce,
        &sealed.ciphertext,
        &aad.encode(),
    )
    .map(|plain| SecretBox::new(Box::new(plain)))
}

/// Decrypts a sealed text secret (a token), as a [`SecretString`].
///
/// # Errors
/// As [`open`], plus [`VaultError::NotUtf8`] when the plaintext is not text.
pub fn open_string(
    key: &DataKey,
    sealed: &Sealed,
    aad: &SealAad,
) -> Result<SecretString, VaultError> {
    let plain = open(key, sealed, aad)?;
    let text = std::str::from_utf8(plain.expose_secret()).map_err(|_| VaultError::NotUtf8)?;
    Ok(SecretString::from(text))
}

/// Wraps a workspace's data key with the keyring's active master key.
pub fn wrap_data_key(
    keyring: &MasterKeyring,
    workspace_id: WorkspaceId,
    key_version: u32,
    key: &DataKey,
    now: Timestamp,
) -> WrappedDataKey {
    let master = keyring.active();
    let nonce = random_nonce();
    let aad = wrap_aad(workspace_id, key_version, &master.id);
    let ciphertext = master
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: key.0.expose_secret(),
                aad: &aad,
            },
        )
        // Invariant: a 32-byte key is far below the AES-GCM size limit.
        .expect("a 32-byte key is within the AES-GCM size limit");
    WrappedDataKey {
        workspace_id,
        key_version,
        master_key_id: master.id.clone(),
        nonce: nonce.to_vec(),
        ciphertext,
        created_at: now,
    }
}

/// Unwraps a stored data key with the master key it names.
///
/// # Errors
/// [`VaultError::UnknownMasterKey`] when its master key is not in the ring, and
/// [`VaultError::Tampered`] when authentication fails (altered row, wrong master key bytes).
pub fn unwrap_data_key(
    keyring: &MasterKeyring,
    wrapped: &WrappedDataKey,
) -> Result<DataKey, VaultError> {
    let master =
        keyring
            .get(&wrapped.master_key_id)
            .ok_or_else(|| VaultError::UnknownMasterKey {
                id: wrapped.master_key_id.clone(),
            })?;
    let aad = wrap_aad(wrapped.workspace_id, wrapped.key_version, &master.id);
    let plain = SecretBox::new(Box::new(decrypt(
        &master.cipher(),
        &wrapped.nonce,
        &wrapped.ciphertext,
        &aad,
    )?));
    if plain.expose_secret().len() != KEY_LEN {
        return Err(VaultError::Tampered);
    }
    Ok(DataKey(SecretBox::init_with_mut(
        |k: &mut [u8; KEY_LEN]| k.copy_from_slice(plain.expose_secret()),
    )))
}

/// Re-wraps a stored data key under the keyring's active master key, for master key rotation.
/// The data key itself, its version and `created_at` are unchanged, so no token needs
/// re-sealing. The keyring must still hold the old master key.
///
/// # Errors
/// As [`unwrap_data_key`].
pub fn rewrap(
    keyring: &MasterKeyring,
    wrapped: &WrappedDataKey,
) -> Result<WrappedDataKey, VaultError> {
    let key = unwrap_data_key(keyring, wrapped)?;
    Ok(wrap_data_key(
        keyring,
        wrapped.workspace_id,
        wrapped.key_version,
        &key,
        wrapped.created_at,
    ))
}

/// Whether a stored data key is wrapped by an older master key than the active one.
pub fn needs_rewrap(keyring: &MasterKeyring, wrapped: &WrappedDataKey) -> bool {
    wrapped.master_key_id != keyring.active().id
}

/// The last 4 characters of a secret, the most that may ever be shown of it. Secrets of 8
/// characters or fewer show nothing.
pub fn secret_hint(secret: &SecretString) -> String {
    let chars: Vec<char> = secret.expose_secret().chars().collect();
    if chars.len() <= 8 {
        return String::new();
    }
    chars[chars.len() - 4..].iter().collect()
}

fn wrap_aad(workspace_id: WorkspaceId, key_version: u32, master_key_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAP_DOMAIN.len() + 22 + master_key_id.len());
    out.extend_from_slice(WRAP_DOMAIN);
    out.extend_from_slice(&workspace_id.to_bytes());
    out.extend_from_slice(&key_version.to_be_bytes());
    // Ids are at most 64 bytes (checked on construction); the length prefix keeps the
    // encoding unambiguous.
    out.extend_from_slice(&(master_key_id.len() as u16).to_be_bytes());
    out.extend_from_slice(master_key_id.as_bytes());
    out
}

fn decrypt(
    cipher: &Aes256Gcm,
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, VaultError> {
    if nonce.len() != NONCE_LEN {
        return Err(VaultError::Tampered);
    }
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| VaultError::Tampered)
}

fn random_key() -> SecretBox<[u8; KEY_LEN]> {
    SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| OsRng.fill_bytes(k))
}

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    nonce
}

#[cfg(test)]
mod tests;
