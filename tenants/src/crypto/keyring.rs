//! The operator's master keys: parsing the keyring configuration (`id1:base64,id2:base64`),
//! generating keys, and choosing the active one. Master keys only wrap workspace data keys; see
//! [`crate::crypto`].

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::Key;
use aes_gcm::aead::KeyInit;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::{KEY_LEN, VaultError, random_key};

const MAX_KEY_ID_LEN: usize = 64;

/// A 256-bit master key with its id. Wraps workspace data keys; `Debug` shows only the id.
pub struct MasterKey {
    /// The key id, stored with every data key it wraps (letters, digits, `-`, `_`, `.`).
    pub id: String,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// A master key from raw bytes.
    ///
    /// # Errors
    /// [`VaultError::InvalidKeyring`] when the id is empty, longer than 64 characters, or holds
    /// characters other than letters, digits, `-`, `_` and `.`.
    pub fn new(id: &str, key: SecretBox<[u8; KEY_LEN]>) -> Result<Self, VaultError> {
        check_key_id(id)?;
        Ok(Self {
            id: id.to_string(),
            key,
        })
    }

    /// A fresh random master key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`VaultError::InvalidKeyring`] when the id is not valid (see [`MasterKey::new`]).
    pub fn generate(id: &str) -> Result<Self, VaultError> {
        Self::new(id, random_key())
    }

    /// The key as a keyring entry, `id:base64key`, for an operator to store in configuration.
    pub fn to_config_entry(&self) -> SecretString {
        let encoded = STANDARD.encode(self.key.expose_secret());
        SecretString::from(format!("{}:{encoded}", self.id))
    }

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.key.expose_secret()))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// The operator's master keys. The last one is active (wraps new data keys); the others only
/// unwrap data keys not yet rewrapped.
pub struct MasterKeyring {
    keys: Vec<MasterKey>,
}

impl MasterKeyring {
    /// Parses `id1:base64key,id2:base64key`; the last entry is the active key. Keys are 32
    /// bytes in standard or URL-safe base64. Whitespace around entries is ignored.
    ///
    /// # Errors
    /// [`VaultError::InvalidKeyring`] when the string is empty, an entry lacks `id:`, a key is
    /// not base64 or not 32 bytes, or an id repeats. The message names the entry, never the key.
    pub fn parse(config: &str) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        for (index, entry) in config.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let position = index + 1;
            let Some((id, encoded)) = entry.split_once(':') else {
                return Err(invalid(format!(
                    "entry {position} is not in the form id:base64key"
                )));
            };
            let id = id.trim();
            if check_key_id(id).is_err() {
                return Err(invalid(format!(
                    "entry {position} has an invalid id: ids are 1-{MAX_KEY_ID_LEN} letters, \
                     digits, `-`, `_` or `.`"
                )));
            }
            let key = decode_key(encoded.trim()).ok_or_else(|| {
                invalid(format!(
                    "key `{id}` (entry {position}) is not {KEY_LEN} bytes of base64"
                ))
            })?;
            keys.push(MasterKey::new(id, key)?);
        }
        Self::from_keys(keys)
    }

    /// A keyring from keys, the last being active.
    ///
    /// # Errors
    /// [`VaultError::InvalidKeyring`] when `keys` is empty or two keys share an id.
    pub fn from_keys(keys: Vec<MasterKey>) -> Result<Self, VaultError> {
        if keys.is_empty() {
            return Err(invalid("no master key configured".to_string()));
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(invalid(format!("master key id `{}` appears twice", key.id)));
            }
        }
        Ok(Self { keys })
    }

    /// A keyring holding one fresh random key.
    ///
    /// # Errors
    /// [`VaultError::InvalidKeyring`] when the id is not valid (see [`MasterKey::new`]).
    pub fn generate(id: &str) -> Result<Self, VaultError> {
        Self::from_keys(vec![MasterKey::generate(id)?])
    }

    /// Adds `key` as the new active key, for rotation.
    ///
    /// # Errors
    /// [`VaultError::InvalidKeyring`] when its id is already in the ring.
    pub fn push(&mut self, key: MasterKey) -> Result<(), VaultError> {
        if self.get(&key.id).is_some() {
            return Err(invalid(format!("master key id `{}` appears twice", key.id)));
        }
        self.keys.push(key);
        Ok(())
    }

    /// The active key, which wraps every new or rewrapped data key.
    pub fn active(&self) -> &MasterKey {
        // Invariant: every constructor refuses an empty ring and nothing removes keys.
        &self.keys[self.keys.len() - 1]
    }

    /// The key with this id, if present.
    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The ids of all keys, oldest first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The whole ring as configuration (`id1:key1,id2:key2`), for an operator to store.
    pub fn to_config(&self) -> SecretString {
        let entries: Vec<String> = self
            .keys
            .iter()
            .map(|k| k.to_config_entry().expose_secret().to_string())
            .collect();
        SecretString::from(entries.join(","))
    }
}

impl fmt::Debug for MasterKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeyring")
            .field("ids", &self.ids())
            .field("active", &self.active().id)
            .finish()
    }
}

fn decode_key(encoded: &str) -> Option<SecretBox<[u8; KEY_LEN]>> {
    let bytes = STANDARD
        .decode(encoded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')))
        .ok()?;
    let bytes = SecretBox::new(Box::new(bytes));
    if bytes.expose_secret().len() != KEY_LEN {
        return None;
    }
    Some(SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| {
        k.copy_from_slice(bytes.expose_secret())
    }))
}

fn check_key_id(id: &str) -> Result<(), VaultError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        // The id is not echoed: a key pasted in the wrong place must not reach a log.
        Err(invalid(format!(
            "master key id must be 1-{MAX_KEY_ID_LEN} letters, digits, `-`, `_` or `.`"
        )))
    }
}

fn invalid(reason: String) -> VaultError {
    VaultError::InvalidKeyring { reason }
}
