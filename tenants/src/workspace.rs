//! People, workspaces (tenants), memberships and API key metadata.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{ApiKeyId, UserId, WorkspaceId};

/// The identity provider a person signed in with. There are no passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Google OpenID Connect.
    Google,
    /// X OAuth 2.0 with PKCE.
    X,
}

/// A person. Only what the identity provider tells us is kept: never a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Which provider they signed in with.
    pub provider: Provider,
    /// The provider's stable subject (`sub`), the key of the identity.
    pub subject: String,
    /// Email address, when the provider shares one.
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// When the user first signed in.
    pub created_at: Timestamp,
    /// The birth date the user declared (age gate), as `YYYY-MM-DD`.
    pub birth_date_declared: Option<jiff::civil::Date>,
    /// Whether the user consented to marketing email, and when that was recorded.
    pub marketing_consent: bool,
    /// When `marketing_consent` was last set.
    pub marketing_consent_at: Option<Timestamp>,
    /// Whether this user is an instance administrator.
    pub instance_admin: bool,
    /// Set when the user asked to be erased; the user is then gone from the API.
    pub deletion_requested_at: Option<Timestamp>,
}

/// A workspace: the tenant that owns accounts, posts and everything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// The workspace's id.
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// IANA time zone used as the default for local times (`Europe/Paris`).
    pub timezone: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Set when erasure was requested: from then on the workspace is gone from the API and the
    /// purge worker removes its data.
    pub deletion_requested_at: Option<Timestamp>,
    /// While true, nothing is published, and no AI or analytics calls are made.
    pub processing_restricted: bool,
}

/// A member's role in a workspace, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control, including erasure and export.
    Owner,
    /// Manage members, accounts and posts.
    Admin,
    /// Create and edit posts.
    Editor,
    /// Read only.
    Viewer,
}

impl Role {
    /// Whether this role may create, edit or cancel posts.
    pub fn can_write_posts(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Editor)
    }

    /// Whether this role may manage accounts, members, webhooks and settings.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A user's membership of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The member.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub created_at: Timestamp,
}

/// What an API key may do. A key with no scopes listed may do everything its owner may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read anything in the allowed workspaces.
    Read,
    /// Create, edit and cancel posts, upload media, import CSV.
    PostsWrite,
    /// Connect and disconnect accounts.
    AccountsWrite,
    /// Manage webhooks.
    WebhooksWrite,
    /// Manage workspaces, members and keys.
    Admin,
}

/// The stored metadata of an API key. The key itself is shown once and only its SHA-256 hash is
/// kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyMeta {
    /// The key's id.
    pub id: ApiKeyId,
    /// A name to recognise it by.
    pub name: String,
    /// The user the key acts for, or `None` for the instance bootstrap key.
    pub owner: Option<UserId>,
    /// Lowercase hex SHA-256 of the full key.
    pub key_hash: String,
    /// The last 4 characters of the key, for recognition.
    pub last4: String,
    /// The workspaces it may touch; `None` means every workspace its owner belongs to.
    pub workspace_ids: Option<Vec<WorkspaceId>>,
    /// The actions it may take; empty means all.
    pub scopes: Vec<Scope>,
    /// Whether it is an instance administrator key.
    pub instance_admin: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last time it authenticated a request.
    pub last_used_at: Option<Timestamp>,
}

/// A signed-in person's browser session. Only the SHA-256 of the session id is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Lowercase hex SHA-256 of the session id held in the cookie.
    pub id_hash: String,
    /// Who is signed in.
    pub user_id: UserId,
    /// The CSRF token that state-changing cookie requests must echo.
    pub csrf_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When the session stops being valid.
    pub expires_at: Timestamp,
    /// IP address at sign-in, for the security log.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
}

/// An uploaded media file's metadata. The bytes live in the media store (a directory under the
/// data dir by default), addressed by workspace and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaMeta {
    /// The media id.
    pub id: crate::ids::MediaId,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// MIME type, e.g. `image/jpeg`.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Original file name, if given.
    pub filename: Option<String>,
    /// Upload time.
    pub created_at: Timestamp,
}
