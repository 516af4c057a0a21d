//! Connected social accounts.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, WorkspaceId};
use crate::platform::Platform;

/// Whether an account can publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Tokens are valid; deliveries publish.
    Active,
    /// The platform refused our refresh (`invalid_grant`): a person must reconnect. Deliveries are
    /// held with a reason until then.
    NeedsReconnect,
    /// Disconnected by a person: tokens revoked and deleted, pending deliveries canceled.
    Disconnected,
    /// The account's worker crashed repeatedly and was stopped. Deliveries are held with a reason
    /// until a person reconnects the account (which makes it active again).
    Degraded,
}

/// A social account connected to a workspace. Tokens are not here: they live encrypted in the
/// token vault, keyed by the same workspace and account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectedAccount {
    /// Our id for the account.
    pub id: AccountId,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// The network.
    pub platform: Platform,
    /// The platform's user id.
    pub platform_user_id: String,
    /// The publishing partner's id for this account, used when publishing.
    pub partner_account_id: Option<String>,
    /// The handle, without `@`.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Whether it can publish.
    pub status: AccountStatus,
    /// Why the account is not active, for a person to act on.
    pub status_reason: Option<String>,
    /// When the current access token expires.
    pub access_expires_at: Option<Timestamp>,
    /// When the current refresh token expires, when the platform says.
    pub refresh_expires_at: Option<Timestamp>,
    /// The last 4 characters of the access token, for recognition. Never more.
    pub token_hint: Option<String>,
    /// When the account was connected.
    pub connected_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
