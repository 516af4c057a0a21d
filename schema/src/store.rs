//! The `Store` traits: one method per access pattern, each mapped by every backend to one query
//! (or one batch) on a table from `schema/cql/`. Every tenant-owned call takes a
//! [`WorkspaceScope`] or [`AccountScope`].

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{
    AccountId, ApiKeyId, ApiKeyMeta, ConnectedAccount, Delivery, MediaId, MediaMeta, Membership,
    Post, PostId, PostStatus, Provider, StoredTokens, User, UserId, Workspace, WrappedDataKey,
};

use crate::error::StoreResult;
use crate::scope::{AccountScope, WorkspaceScope};
pub use crate::store_deliveries::{CasOutcome, DeliveryStore, DueRef};
use crate::store_requests::{IdempotencyStore, SessionStore};

/// The number of shards the account space is split into. A node owns a set of shards; the due
/// index is partitioned by (shard, hour) so a node scans only its own.
pub const NUM_SHARDS: u16 = 64;

/// The shard an account belongs to: stable for the account's lifetime.
pub fn shard_of(account_id: AccountId) -> u16 {
    let b = account_id.to_bytes();
    // The low bytes of a UUIDv7 are random, so they spread accounts evenly.
    (u16::from_be_bytes([b[14], b[15]])) % NUM_SHARDS
}

/// The hour bucket of an instant (seconds since the epoch / 3600), the time part of due-index
/// partition keys.
pub fn hour_bucket(at: Timestamp) -> i64 {
    at.as_second().div_euclid(3600)
}

/// A page request: an opaque cursor from the previous page and a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The `next_cursor` of the previous page, or `None` for the first page.
    pub cursor: Option<String>,
    /// At most this many items (backends cap it at 1000).
    pub limit: usize,
}

impl PageRequest {
    /// The first page with `limit` items.
    pub fn first(limit: usize) -> Self {
        Self {
            cursor: None,
            limit,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the access pattern's order.
    pub items: Vec<T>,
    /// Pass this back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Filters for listing posts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostFilter {
    /// Only posts with this status.
    pub status: Option<PostStatus>,
    /// Only posts scheduled at or after this instant.
    pub from: Option<Timestamp>,
    /// Only posts scheduled before this instant.
    pub to: Option<Timestamp>,
    /// Only posts targeting this account.
    pub account_id: Option<AccountId>,
}

/// People and their sign-in identities.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts or replaces a user, and its (provider, subject) lookup row.
    async fn put_user(&self, user: &User) -> StoreResult<()>;
    /// Reads a user by id.
    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// Finds the user with this provider identity.
    async fn find_user_by_subject(
        &self,
        provider: Provider,
        subject: &str,
    ) -> StoreResult<Option<User>>;
    /// Every user, paged (notices, admin).
    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>>;
}

/// Workspaces and memberships.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates a workspace with its first member in one batch.
    async fn create_workspace(&self, workspace: &Workspace, owner: &Membership) -> StoreResult<()>;
    /// Reads the scoped workspace.
    async fn get_workspace(&self, scope: WorkspaceScope) -> StoreResult<Option<Workspace>>;
    /// Replaces the scoped workspace's record.
    async fn update_workspace(
        &self,
        scope: WorkspaceScope,
        workspace: &Workspace,
    ) -> StoreResult<()>;
    /// Every workspace, paged (engine start-up, purge worker).
    async fn list_all_workspaces(&self, page: PageRequest) -> StoreResult<Page<Workspace>>;
    /// Inserts or replaces a membership (both lookup directions).
    async fn put_membership(
        &self,
        scope: WorkspaceScope,
        membership: &Membership,
    ) -> StoreResult<()>;
    /// Removes a membership.
    async fn delete_membership(&self, scope: WorkspaceScope, user_id: UserId) -> StoreResult<()>;
    /// A user's membership of the scoped workspace.
    async fn get_membership(
        &self,
        scope: WorkspaceScope,
        user_id: UserId,
    ) -> StoreResult<Option<Membership>>;
    /// The scoped workspace's members, paged.
    async fn list_members(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<Membership>>;
    /// The workspaces a user belongs to.
    async fn list_memberships_of_user(&self, user_id: UserId) -> StoreResult<Vec<Membership>>;
}

/// API key metadata (hashes only).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key's metadata.
    async fn put_api_key(&self, key: &ApiKeyMeta) -> StoreResult<()>;
    /// Looks a key up by the SHA-256 hex of the presented secret.
    async fn get_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyMeta>>;
    /// Reads a key by id.
    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyMeta>>;
    /// Keys owned by `owner` (`None`: instance keys with no owner).
    async fn list_api_keys(&self, owner: Option<UserId>) -> StoreResult<Vec<ApiKeyMeta>>;
    /// Deletes a key (it stops authenticating at once).
    async fn delete_api_key(&self, id: ApiKeyId) -> StoreResult<()>;
    /// Records the last use of a key.
    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()>;
    /// How many keys exist (to decide on a bootstrap key).
    async fn count_api_keys(&self) -> StoreResult<u64>;
}

/// Connected accounts and their sealed tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts or replaces an account of the scoped workspace.
    async fn put_account(
        &self,
        scope: WorkspaceScope,
        account: &ConnectedAccount,
    ) -> StoreResult<()>;
    /// Reads an account.
    async fn get_account(&self, scope: AccountScope) -> StoreResult<Option<ConnectedAccount>>;
    /// The workspace's accounts, paged by id.
    async fn list_accounts(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<ConnectedAccount>>;
    /// Writes an account's sealed tokens.
    async fn put_tokens(&self, scope: AccountScope, tokens: &StoredTokens) -> StoreResult<()>;
    /// Reads an account's sealed tokens.
    async fn get_tokens(&self, scope: AccountScope) -> StoreResult<Option<StoredTokens>>;
    /// Deletes an account's tokens.
    async fn delete_tokens(&self, scope: AccountScope) -> StoreResult<()>;
}

/// Wrapped per-workspace data keys.
#[async_trait]
pub trait KeyringStore: Send + Sync {
    /// Writes the workspace's wrapped data key.
    async fn put_data_key(&self, scope: WorkspaceScope, key: &WrappedDataKey) -> StoreResult<()>;
    /// Stores `key` only if the workspace has no data key yet, and returns the key stored
    /// afterwards: `key` itself, or the one a concurrent creator stored first. Two nodes
    /// creating a workspace's first key at once therefore agree on one key (ScyllaDB: a
    /// lightweight transaction, `IF NOT EXISTS`; embedded: checked inside the single writer).
    async fn create_data_key(
        &self,
        scope: WorkspaceScope,
        key: &WrappedDataKey,
    ) -> StoreResult<WrappedDataKey>;
    /// Reads it.
    async fn get_data_key(&self, scope: WorkspaceScope) -> StoreResult<Option<WrappedDataKey>>;
    /// Deletes it: every token sealed under it becomes unrecoverable (crypto-shredding).
    async fn delete_data_key(&self, scope: WorkspaceScope) -> StoreResult<()>;
    /// Every wrapped data key, paged (master key rotation).
    async fn list_data_keys(&self, page: PageRequest) -> StoreResult<Page<WrappedDataKey>>;
}

/// Posts and their deliveries.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Writes a post with all its deliveries and their due-index rows in one batch.
    ///
    /// # Errors
    /// [`crate::StoreError::AlreadyExists`] when another post of the workspace holds the
    /// post's `external_id`; [`crate::StoreError::OutOfScope`]; backend failures.
    async fn create_post(
        &self,
        scope: WorkspaceScope,
        post: &Post,
        deliveries: &[Delivery],
    ) -> StoreResult<()>;
    /// Writes many posts, each with its deliveries and their due-index rows, as few durable
    /// writes as the backend allows (one transaction on the embedded store). A post whose
    /// `external_id` another post of the workspace already holds is skipped atomically with
    /// that check: its outcome is [`crate::PostCreation::Duplicate`]. One outcome per post, in
    /// order. [`PostStore::create_post`] refuses such a post the same way.
    ///
    /// # Errors
    /// [`crate::StoreError::OutOfScope`] when a post or delivery names another workspace (or a
    /// delivery another post); backend failures (posts may then be partly written).
    async fn create_posts(
        &self,
        scope: WorkspaceScope,
        posts: &[crate::PostWithDeliveries],
    ) -> StoreResult<Vec<crate::PostCreation>>;
    /// Replaces a post's record (edits, status changes).
    async fn update_post(&self, scope: WorkspaceScope, post: &Post) -> StoreResult<()>;
    /// Reads a post.
    async fn get_post(&self, scope: WorkspaceScope, id: PostId) -> StoreResult<Option<Post>>;
    /// Reads several posts, one answer per id, in order. The default runs
    /// [`PostStore::get_post`] for each, all at once; the embedded store reads them in one
    /// transaction.
    ///
    /// # Errors
    /// Backend failures.
    async fn get_posts(
        &self,
        scope: WorkspaceScope,
        ids: &[PostId],
    ) -> StoreResult<Vec<Option<Post>>> {
        futures::future::try_join_all(ids.iter().map(|id| self.get_post(scope, *id))).await
    }
    /// Deletes a draft post and its deliveries.
    async fn delete_post(&self, scope: WorkspaceScope, id: PostId) -> StoreResult<()>;
    /// The workspace's posts matching `filter`, newest first, paged.
    async fn list_posts(
        &self,
        scope: WorkspaceScope,
        filter: &PostFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Post>>;
    /// Finds the posts created with these `external_id`s, one answer per id, in order. The
    /// default runs [`PostStore::find_post_by_external_id`] for each, all at once; the embedded
    /// store reads them in one transaction.
    ///
    /// # Errors
    /// Backend failures.
    async fn find_posts_by_external_ids(
        &self,
        scope: WorkspaceScope,
        external_ids: &[String],
    ) -> StoreResult<Vec<Option<PostId>>> {
        let mut lookups = Vec::with_capacity(external_ids.len());
        for ext in external_ids {
            lookups.push(self.find_post_by_external_id(scope, ext));
        }
        futures::future::try_join_all(lookups).await
    }
    /// Finds the post created with this `external_id`.
    async fn find_post_by_external_id(
        &self,
        scope: WorkspaceScope,
        external_id: &str,
    ) -> StoreResult<Option<PostId>>;
}

/// Uploaded media metadata.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores a media record.
    async fn put_media(&self, scope: WorkspaceScope, media: &MediaMeta) -> StoreResult<()>;
    /// Reads a media record.
    async fn get_media(&self, scope: WorkspaceScope, id: MediaId)
    -> StoreResult<Option<MediaMeta>>;
    /// Deletes a media record.
    async fn delete_media(&self, scope: WorkspaceScope, id: MediaId) -> StoreResult<()>;
    /// The workspace's media, paged by id.
    async fn list_media(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<MediaMeta>>;
}

/// Schema bookkeeping.
#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Whether the store answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// The schema version the store is at (0 for an empty store).
    async fn schema_version(&self) -> StoreResult<u32>;
    /// Removes expired TTL rows; returns how many were removed. A no-op where the backend
    /// expires rows itself.
    async fn sweep_expired(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Everything a socialcrm node needs from storage.
pub trait Store:
    UserStore
    + WorkspaceStore
    + KeyStore
    + AccountStore
    + KeyringStore
    + PostStore
    + DeliveryStore
    + IdempotencyStore
    + SessionStore
    + MediaStore
    + MetaStore
    + crate::store_erasure::ErasureStore
    + crate::store_imports::ImportStore
    + crate::store_privacy::AuditStore
    + crate::store_privacy::ExportStore
    + crate::store_privacy::NoticeStore
    + crate::store_webhooks::WebhookStore
    + crate::store_analytics::AnalyticsStore
    + crate::store_events::EventLogStore
{
}

impl<T> Store for T where
    T: UserStore
        + WorkspaceStore
        + KeyStore
        + AccountStore
        + KeyringStore
        + PostStore
        + DeliveryStore
        + IdempotencyStore
        + SessionStore
        + MediaStore
        + MetaStore
        + crate::store_erasure::ErasureStore
        + crate::store_imports::ImportStore
        + crate::store_privacy::AuditStore
        + crate::store_privacy::ExportStore
        + crate::store_privacy::NoticeStore
        + crate::store_webhooks::WebhookStore
        + crate::store_analytics::AnalyticsStore
        + crate::store_events::EventLogStore
{
}
