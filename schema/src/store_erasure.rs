//! Storage for disconnect and erasure: queued token revocations (`revoke_retries`), the erasure
//! ledger that proves a purge finished (`erasures`), and the bulk deletes the purge worker runs
//! (`purge_workspace`, `delete_user`). Tables are declared in `schema/cql/0002_erasure.cql`.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{AccountId, Platform, Sealed, UserId, WorkspaceId};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};

/// Which of an account's tokens a revocation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeTokenKind {
    /// The refresh token (revoking it ends the grant on most platforms).
    Refresh,
    /// The access token.
    Access,
}

impl RevokeTokenKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeTokenKind::Refresh => "refresh",
            RevokeTokenKind::Access => "access",
        }
    }
}

/// Where a queued revocation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeState {
    /// Not revoked yet; tried again at `next_attempt_at`.
    Pending,
    /// The platform confirmed the revocation.
    Succeeded,
    /// Every attempt failed; the token expires at the platform on its own.
    GaveUp,
    /// The workspace's data key was shredded first: nobody, us included, can use the token.
    Unrecoverable,
}

impl RevokeState {
    /// Whether the worker is done with it.
    pub fn is_terminal(self) -> bool {
        self != RevokeState::Pending
    }
}

/// A token revocation the platform did not confirm, kept until it does (or is given up on).
///
/// The token stays sealed under the workspace's data key with the account's AAD, exactly as in
/// `account_tokens`; shredding the workspace makes it unrecoverable. It is dropped (`None`)
/// once the revocation is settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRetry {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The account the token belonged to.
    pub account_id: AccountId,
    /// The platform to revoke at.
    pub platform: Platform,
    /// Which token.
    pub token_kind: RevokeTokenKind,
    /// The sealed token; `None` once settled.
    pub token: Option<Sealed>,
    /// Where it stands.
    pub state: RevokeState,
    /// Attempts made so far (the first, failed one included).
    pub attempts: u32,
    /// When to try next (meaningful while pending).
    pub next_attempt_at: Timestamp,
    /// The last failure, without secrets.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureSubject {
    /// A workspace and everything in it.
    Workspace,
    /// A person (and the workspaces only they belonged to).
    User,
}

/// The ledger row of one erasure: kept after the purge as proof that it ran and when. It holds
/// only the erased id, instants and counts, never erased content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    /// The erased workspace or user id.
    pub subject_id: Uuid,
    /// What it was.
    pub subject: ErasureSubject,
    /// When erasure was requested (it took effect then).
    pub requested_at: Timestamp,
    /// The latest instant the purge may finish by (the retention promise).
    pub purge_deadline: Timestamp,
    /// When the purge finished; `None` while it runs.
    pub completed_at: Option<Timestamp>,
    /// Stored rows removed.
    pub num_rows_purged: u64,
    /// Media files removed.
    pub num_files_purged: u64,
    /// Tokens revoked at the platform at once.
    pub num_tokens_revoked: u64,
    /// Revocations that failed at once (queued, then unrecoverable once shredded).
    pub num_revokes_failed: u64,
}

/// How far one `purge_workspace` call got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeProgress {
    /// Rows deleted by this call.
    pub num_deleted: u64,
    /// Whether nothing of the workspace is left (the workspace row included).
    pub done: bool,
}

/// Revocation retries, the erasure ledger and the purge deletes.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Inserts or replaces a revocation retry (one per account and token kind).
    async fn put_revoke_retry(&self, scope: WorkspaceScope, retry: &RevokeRetry)
    -> StoreResult<()>;
    /// The workspace's revocation retries, in (account, kind) order, paged.
    async fn list_revoke_retries(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<RevokeRetry>>;
    /// Inserts or replaces an erasure ledger row.
    async fn put_erasure(&self, record: &ErasureRecord) -> StoreResult<()>;
    /// Reads the ledger row of an erased workspace or user.
    async fn get_erasure(&self, subject_id: Uuid) -> StoreResult<Option<ErasureRecord>>;
    /// Deletes up to about `max_rows` rows of the workspace: posts, external ids, deliveries,
    /// due-index rows (both directions), accounts, tokens, revocation retries, media records,
    /// memberships (both directions), its data key, and last the workspace row itself. Call
    /// again until [`PurgeProgress::done`].
    async fn purge_workspace(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress>;
    /// Deletes a user row and its sign-in lookups (memberships, keys and sessions have their
    /// own deletes).
    async fn delete_user(&self, user_id: UserId) -> StoreResult<()>;
}

/// Key layouts of this module's tables.
pub(crate) mod key {
    use super::*;
    use crate::keys::KeyBuf;

    /// `revoke_retries((workspace_id), account_id, token_kind)`.
    pub(crate) fn revoke_retry(
        ws: WorkspaceId,
        account: AccountId,
        kind: RevokeTokenKind,
    ) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(account.as_uuid())
            .str(kind.as_str())
            .done()
    }
    /// `erasures((subject_id))`.
    pub(crate) fn erasure(subject: Uuid) -> Vec<u8> {
        KeyBuf::new().uuid(subject).done()
    }
}
