//! The token vault's stored shapes. Every OAuth token and webhook secret is stored as a [`Sealed`]
//! value: AES-256-GCM under the workspace's data key, with AAD binding the workspace, the owner
//! (account or webhook) and the key version. Data keys are stored wrapped by a master key.
//!
//! The crypto itself lives in [`crate::crypto`].

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::WorkspaceId;

/// A ciphertext with what is needed to open it (given the right data key and AAD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The data key version that sealed it.
    pub key_version: u32,
    /// The 96-bit nonce, fresh for every encryption.
    pub nonce: Vec<u8>,
    /// Ciphertext with the 128-bit GCM tag appended.
    pub ciphertext: Vec<u8>,
}

/// A workspace's data key, wrapped (encrypted) by a master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedDataKey {
    /// The workspace the key belongs to (bound in the AAD).
    pub workspace_id: WorkspaceId,
    /// The data key's version; bumps when the data key itself is replaced.
    pub key_version: u32,
    /// The id of the master key that wraps it.
    pub master_key_id: String,
    /// Nonce of the wrapping.
    pub nonce: Vec<u8>,
    /// The wrapped 256-bit key plus tag.
    pub ciphertext: Vec<u8>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An account's OAuth tokens as stored: sealed, never in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    /// The sealed access token.
    pub access_token: Sealed,
    /// The sealed refresh token, if the platform issued one.
    pub refresh_token: Option<Sealed>,
    /// When the access token expires.
    pub access_expires_at: Option<Timestamp>,
    /// When the refresh token expires, if the platform says.
    pub refresh_expires_at: Option<Timestamp>,
    /// Granted scopes, space separated.
    pub scope: Option<String>,
    /// Last refresh or grant.
    pub updated_at: Timestamp,
}
