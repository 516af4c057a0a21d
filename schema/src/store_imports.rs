//! Storage for CSV import jobs, so an import's progress and report survive a restart. Table
//! from `schema/cql/0005_imports.cql`: `imports((workspace_id), import_id DESC)`, expiring by
//! TTL (30 days by default), newest first.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tenants::{ImportId, WorkspaceId};

use crate::error::StoreResult;
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};

/// How long an import job is kept after its last change, by default.
pub const IMPORT_RETENTION: SignedDuration = SignedDuration::from_hours(30 * 24);

/// One import job: where it stands and its report, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The import's id (UUIDv7, so newer imports sort first).
    pub id: ImportId,
    /// The workspace imported into.
    pub workspace_id: WorkspaceId,
    /// The report document (JSON text), opaque to the store.
    pub report: String,
    /// Data rows read so far, for progress while the job runs.
    pub rows_processed: u64,
    /// When the import was accepted.
    pub created_at: Timestamp,
    /// Its last change.
    pub updated_at: Timestamp,
    /// When the job expires and is no longer returned.
    pub expires_at: Timestamp,
}

/// CSV import jobs of a workspace.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Inserts or replaces a job; it expires at `record.expires_at`.
    ///
    /// # Errors
    /// [`crate::StoreError::OutOfScope`] when the record names another workspace; backend
    /// failures.
    async fn put_import(&self, scope: WorkspaceScope, record: &ImportRecord) -> StoreResult<()>;
    /// Reads a job of the scoped workspace; expired jobs are not returned.
    ///
    /// # Errors
    /// Backend failures.
    async fn get_import(
        &self,
        scope: WorkspaceScope,
        id: ImportId,
        now: Timestamp,
    ) -> StoreResult<Option<ImportRecord>>;
    /// The scoped workspace's jobs, newest first, paged; expired jobs are skipped.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidCursor`] for a cursor of another partition; backend failures.
    async fn list_imports(
        &self,
        scope: WorkspaceScope,
        now: Timestamp,
        page: PageRequest,
    ) -> StoreResult<Page<ImportRecord>>;
}

/// Key layouts of the imports table (shared by both backends' cursors).
pub(crate) mod key {
    use tenants::{ImportId, WorkspaceId};

    use crate::keys::KeyBuf;

    /// `imports((workspace_id), import_id DESC)`.
    pub(crate) fn import(ws: WorkspaceId, id: ImportId) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid_desc(id.as_uuid())
            .done()
    }

    /// The partition prefix of a workspace's imports.
    pub(crate) fn imports_part(ws: WorkspaceId) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).done()
    }
}
