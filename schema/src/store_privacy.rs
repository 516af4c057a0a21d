//! Storage for the privacy features: the audit and security log, data export jobs and policy
//! notices. Tables come from `schema/cql/0003_privacy.cql`:
//! - `audit_log((workspace_id, day), at_ns, id)` and `audit_by_actor((actor, day), at_ns, id)`,
//!   both expiring by TTL (the retention limit);
//! - `exports((owner), export_id)`, expiring by TTL;
//! - `notices((year), notice_id)`, one partition per year of publication.
//!
//! The audit entries and export jobs of an erased workspace or person are deleted by the purge
//! ([`AuditStore::delete_audit`], [`ExportStore::delete_export`]) long before their TTL.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{UserId, WorkspaceId};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::keys::KeyBuf;
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};

/// One recorded request: who did what, to what, from where, with which outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// A time-ordered (v7) id.
    pub id: Uuid,
    /// When the request was answered.
    pub at: Timestamp,
    /// The workspace acted in, when the request named one the caller may act in.
    pub workspace_id: Option<WorkspaceId>,
    /// `user:<id>`, `key:<id>` or `anonymous`.
    pub actor: String,
    /// Method and route template: `POST /v1/workspaces/{ws}/posts`.
    pub action: String,
    /// The ids named in the path, as `name=value` pairs in path order.
    pub target: Vec<String>,
    /// Client IP address.
    pub ip: Option<String>,
    /// User agent, with line breaks removed.
    pub user_agent: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// When the entry expires (the retention limit).
    pub expires_at: Timestamp,
}

/// Filters of an audit listing. Entries with `from <= at < to` are returned, oldest first;
/// expired entries (`expires_at <= now`) never are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Inclusive lower bound.
    pub from: Timestamp,
    /// Exclusive upper bound.
    pub to: Timestamp,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this text (`DELETE`, `POST /v1/workspaces/{ws}/posts`).
    pub action: Option<String>,
    /// The caller's clock, for expiry.
    pub now: Timestamp,
}

/// The longest audit window one query covers: a window reaching further back is cut to the
/// `MAX_AUDIT_WINDOW_DAYS` days before its end (longer than any retention limit).
pub const MAX_AUDIT_WINDOW_DAYS: i64 = 400;

/// The inclusive start of an audit window actually used: `from`, cut to
/// [`MAX_AUDIT_WINDOW_DAYS`] before `to` (reads and deletes alike).
pub(crate) fn window_start(from: Timestamp, to: Timestamp) -> Timestamp {
    let earliest = to
        .saturating_sub(jiff::SignedDuration::from_hours(MAX_AUDIT_WINDOW_DAYS * 24))
        .unwrap_or(Timestamp::MIN);
    from.max(earliest)
}

impl AuditQuery {
    /// The inclusive start actually used: `from`, cut to [`MAX_AUDIT_WINDOW_DAYS`] before `to`.
    pub fn effective_from(&self) -> Timestamp {
        window_start(self.from, self.to)
    }

    /// Whether an entry passes the filters.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        entry.expires_at > self.now
            && entry.at >= self.effective_from()
            && entry.at < self.to
            && self.actor.as_ref().is_none_or(|a| *a == entry.actor)
            && self
                .action
                .as_ref()
                .is_none_or(|a| entry.action.starts_with(a.as_str()))
    }
}

/// Whose data an export holds. The workspace form is only built from a [`WorkspaceScope`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExportOwner(String);

impl ExportOwner {
    /// A person's own export.
    pub fn user(id: UserId) -> Self {
        Self(format!("user:{id}"))
    }

    /// A workspace's export.
    pub fn workspace(scope: WorkspaceScope) -> Self {
        Self(format!("ws:{}", scope.workspace_id()))
    }

    /// The stored partition key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an export job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Queued or being written.
    Pending,
    /// The archive is ready to download.
    Ready,
    /// Writing the archive failed.
    Failed,
}

/// A data export job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    /// A time-ordered (v7) id.
    pub id: Uuid,
    /// Whose data.
    pub owner: ExportOwner,
    /// The principal that asked (`user:<id>`, `key:<id>`); only it may download.
    pub requested_by: String,
    /// Where the job is.
    pub status: ExportStatus,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
    /// The archive's size in bytes, once ready.
    pub num_bytes: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When the job and its archive expire.
    pub expires_at: Timestamp,
}

/// A policy notice shown in-app and sent by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// A time-ordered (v7) id.
    pub id: Uuid,
    /// Short title.
    pub title: String,
    /// The text.
    pub body: String,
    /// When the change takes effect.
    pub effective_at: Timestamp,
    /// Whether the change is material (announced at least 14 days ahead).
    pub material: bool,
    /// When it was published; its year is the partition.
    pub published_at: Timestamp,
    /// Who published it (`user:<id>` or `key:<id>`).
    pub published_by: String,
}

/// The audit and security log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry: to the workspace's partition when `scope` is given (its id must match
    /// `entry.workspace_id`), else to the actor's partition. Expires at `entry.expires_at`.
    ///
    /// # Errors
    /// [`crate::StoreError::OutOfScope`] when the entry names another workspace; backend failures.
    async fn append_audit(
        &self,
        scope: Option<WorkspaceScope>,
        entry: &AuditEntry,
    ) -> StoreResult<()>;
    /// The scoped workspace's entries matching `query`, oldest first, paged.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidCursor`] for a cursor of another partition; backend failures.
    async fn list_audit(
        &self,
        scope: WorkspaceScope,
        query: &AuditQuery,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>>;
    /// The entries without a workspace recorded for `actor` (sign-ins, own profile, keys),
    /// oldest first, paged.
    ///
    /// # Errors
    /// As [`AuditStore::list_audit`].
    async fn list_audit_of_actor(
        &self,
        actor: &str,
        query: &AuditQuery,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>>;
    /// Deletes every entry of the scoped workspace recorded at `from <= at < to`, expired ones
    /// included; returns how many were still stored. A window longer than
    /// [`MAX_AUDIT_WINDOW_DAYS`] is cut to the days before `to`. The purge of an erased
    /// workspace calls it with a window covering the retention limit. Idempotent.
    ///
    /// # Errors
    /// Backend failures (entries already deleted stay deleted; call again).
    async fn delete_audit(
        &self,
        scope: WorkspaceScope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64>;
    /// Deletes every entry without a workspace recorded for `actor` at `from <= at < to`
    /// (the erasure of a person); returns how many were still stored. Idempotent.
    ///
    /// # Errors
    /// As [`AuditStore::delete_audit`].
    async fn delete_audit_of_actor(
        &self,
        actor: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64>;
}

/// Data export jobs.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// Inserts or replaces a job; it expires at `job.expires_at`.
    ///
    /// # Errors
    /// Backend failures.
    async fn put_export(&self, job: &ExportJob) -> StoreResult<()>;
    /// Reads a job of `owner`; expired jobs are not returned.
    ///
    /// # Errors
    /// Backend failures.
    async fn get_export(
        &self,
        owner: &ExportOwner,
        id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<ExportJob>>;
    /// Every stored job of `owner`, oldest first, paged, whatever its status or expiry (the
    /// purge needs each id to delete its archive; a job past `expires_at` is listed while the
    /// backend still holds it).
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidCursor`] for a cursor of another owner; backend failures.
    async fn list_exports(
        &self,
        owner: &ExportOwner,
        page: PageRequest,
    ) -> StoreResult<Page<ExportJob>>;
    /// Deletes one job of `owner`; deleting a missing job is not an error.
    ///
    /// # Errors
    /// Backend failures.
    async fn delete_export(&self, owner: &ExportOwner, id: Uuid) -> StoreResult<()>;
}

/// Policy notices.
#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Stores a notice in the partition of its publication year.
    ///
    /// # Errors
    /// Backend failures.
    async fn put_notice(&self, notice: &Notice) -> StoreResult<()>;
    /// The notices published in `year`, oldest first.
    ///
    /// # Errors
    /// Backend failures.
    async fn list_notices(&self, year: i16) -> StoreResult<Vec<Notice>>;
}

/// The year partition of a notice.
pub fn notice_year(at: Timestamp) -> i16 {
    at.to_zoned(jiff::tz::TimeZone::UTC).year()
}

/// Key layouts of the privacy tables (see `crate::layout::key`).
pub(crate) mod key {
    use super::*;

    /// The partition prefix of a workspace's audit log, or of an actor's.
    pub(crate) fn audit_owner(scope: Option<WorkspaceId>, actor: &str) -> Vec<u8> {
        match scope {
            Some(ws) => KeyBuf::new().uuid(ws.as_uuid()).done(),
            None => KeyBuf::new().str(actor).done(),
        }
    }

    /// `audit_log((workspace_id, day), at_ns, id)` / `audit_by_actor((actor, day), at_ns, id)`
    /// under `owner` (from [`audit_owner`]).
    pub(crate) fn audit(owner: &[u8], at_ns: i64, id: Uuid) -> Vec<u8> {
        let day = at_ns.div_euclid(86_400_000_000_000);
        let tail = KeyBuf::new().i64(day).i64(at_ns).uuid(id).done();
        [owner, tail.as_slice()].concat()
    }

    /// A range bound of an audit partition walk: the first key at or after `at_ns`.
    pub(crate) fn audit_bound(owner: &[u8], at_ns: i64) -> Vec<u8> {
        audit(owner, at_ns, Uuid::nil())
    }

    /// `exports((owner), export_id)`.
    pub(crate) fn export(owner: &ExportOwner, id: Uuid) -> Vec<u8> {
        KeyBuf::new().str(owner.as_str()).uuid(id).done()
    }

    /// The partition of one owner's export jobs.
    pub(crate) fn exports_part(owner: &ExportOwner) -> Vec<u8> {
        KeyBuf::new().str(owner.as_str()).done()
    }

    /// `notices((year), notice_id)`.
    pub(crate) fn notice(year: i16, id: Uuid) -> Vec<u8> {
        KeyBuf::new().i64(i64::from(year)).uuid(id).done()
    }

    /// The partition of one year's notices.
    pub(crate) fn notices_part(year: i16) -> Vec<u8> {
        KeyBuf::new().i64(i64::from(year)).done()
    }
}
