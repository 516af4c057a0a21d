//! CSV import jobs on the embedded store. Rows carry their `expires_at`, which the sweep reads
//! (standing in for ScyllaDB's TTL) and reads filter on.

use async_trait::async_trait;
use jiff::Timestamp;
use tenants::ImportId;

use super::RedbStore;
use super::access::Lookup;
use super::writer::Outcome;
use crate::error::StoreResult;
use crate::layout::{check_scope, decode, encode};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};
use crate::store_imports::{ImportRecord, ImportStore, key};

/// `imports`: import jobs by workspace, newest first.
pub(crate) const IMPORTS: &str = "imports";

/// The tables of migration 5.
pub(crate) const TABLES: &[&str] = &[IMPORTS];

#[async_trait]
impl ImportStore for RedbStore {
    async fn put_import(&self, scope: WorkspaceScope, record: &ImportRecord) -> StoreResult<()> {
        check_scope(IMPORTS, scope.workspace_id(), record.workspace_id)?;
        let k = key::import(record.workspace_id, record.id);
        let body = encode(IMPORTS, record)?;
        self.write_done(Box::new(move |tx| {
            tx.put(IMPORTS, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_import(
        &self,
        scope: WorkspaceScope,
        id: ImportId,
        now: Timestamp,
    ) -> StoreResult<Option<ImportRecord>> {
        let k = key::import(scope.workspace_id(), id);
        let record: Option<ImportRecord> = self.read(move |r| r.get_json(IMPORTS, &k)).await?;
        Ok(record.filter(|r| r.expires_at > now))
    }

    async fn list_imports(
        &self,
        scope: WorkspaceScope,
        now: Timestamp,
        page: PageRequest,
    ) -> StoreResult<Page<ImportRecord>> {
        let prefix = key::imports_part(scope.workspace_id());
        self.read(move |r| {
            r.page(IMPORTS, &prefix, &page, |_, v| {
                let record: ImportRecord = decode(IMPORTS, v)?;
                Ok((record.expires_at > now).then_some(record))
            })
        })
        .await
    }
}
