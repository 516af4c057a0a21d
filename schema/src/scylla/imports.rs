//! CSV import jobs on ScyllaDB: one partition per workspace, newest first, expiring by TTL.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::Timestamp;
use tenants::ImportId;
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, ScyllaStore, body_text, errors};
use crate::cursor::{self, PageBuilder};
use crate::error::StoreResult;
use crate::keys::KeyReader;
use crate::layout::{TTL_GRACE, check_scope, decode, page_limit, ttl_seconds};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};
use crate::store_imports::{ImportRecord, ImportStore, key};

pub(crate) const PUT_IMPORT: &str =
    "INSERT INTO imports (workspace_id, import_id, body) VALUES (?, ?, ?) USING TTL ?";
pub(crate) const GET_IMPORT: &str =
    "SELECT body FROM imports WHERE workspace_id = ? AND import_id = ?";
pub(crate) const LIST_IMPORTS: &str =
    "SELECT import_id, body FROM imports WHERE workspace_id = ? AND import_id < ?";

#[async_trait]
impl ImportStore for ScyllaStore {
    async fn put_import(&self, scope: WorkspaceScope, record: &ImportRecord) -> StoreResult<()> {
        check_scope("imports", scope.workspace_id(), record.workspace_id)?;
        let ttl = ttl_seconds(record.expires_at, record.updated_at, TTL_GRACE);
        let values = (
            record.workspace_id.as_uuid(),
            record.id.as_uuid(),
            body_text("imports", record)?,
            ttl,
        );
        self.write(&self.st.put_import, values).await
    }

    async fn get_import(
        &self,
        scope: WorkspaceScope,
        id: ImportId,
        now: Timestamp,
    ) -> StoreResult<Option<ImportRecord>> {
        let values = (scope.workspace_id().as_uuid(), id.as_uuid());
        let record: Option<ImportRecord> =
            self.body("imports", &self.st.get_import, values).await?;
        Ok(record.filter(|r| r.expires_at > now))
    }

    async fn list_imports(
        &self,
        scope: WorkspaceScope,
        now: Timestamp,
        page: PageRequest,
    ) -> StoreResult<Page<ImportRecord>> {
        let ws = scope.workspace_id();
        let prefix = key::imports_part(ws);
        let before = match &page.cursor {
            Some(c) => {
                let k = cursor::decode(c, &prefix)?;
                let mut r = KeyReader::new(&k[prefix.len()..]);
                let id = r.uuid_desc()?;
                r.end()?;
                id
            }
            None => Uuid::max(),
        };
        let limit = page_limit(page.limit);
        let size = i32::try_from(limit + 1).unwrap_or(DEFAULT_PAGE_SIZE);
        let mut rows = self
            .stream::<(Uuid, String)>(
                "imports",
                &self.st.list_imports,
                (ws.as_uuid(), before),
                size,
            )
            .await?;
        let mut out = PageBuilder::new(limit);
        while let Some((id, body)) = rows.try_next().await.map_err(errors::next_row)? {
            let record: ImportRecord = decode("imports", body.as_bytes())?;
            let keep = (record.expires_at > now).then_some(record);
            if !out.offer(&key::import(ws, ImportId(id)), keep) {
                break;
            }
        }
        Ok(out.finish())
    }
}
