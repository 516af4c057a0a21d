//! The audit log, export jobs and policy notices on the embedded store. Audit partitions are
//! (owner, day); since the day is derived from `at_ns`, one key range walks a time window across
//! days in time order.

use async_trait::async_trait;
use jiff::Timestamp;
use uuid::Uuid;

use super::RedbStore;
use super::access::Lookup;
use super::writer::Outcome;
use crate::cursor::{self, PageBuilder};
use crate::error::StoreResult;
use crate::layout::{check_scope, decode, encode, nanos, nanos_saturating, page_limit};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};
use crate::store_privacy::{
    AuditEntry, AuditQuery, AuditStore, ExportJob, ExportOwner, ExportStore, Notice, NoticeStore,
    key, notice_year,
};

/// `audit_log`: a workspace's entries.
pub(crate) const AUDIT_LOG: &str = "audit_log";
/// `audit_by_actor`: entries without a workspace, by actor.
pub(crate) const AUDIT_BY_ACTOR: &str = "audit_by_actor";
/// `exports`: export jobs.
pub(crate) const EXPORTS: &str = "exports";
/// `notices`: policy notices by year.
pub(crate) const NOTICES: &str = "notices";

/// The tables of migration 3.
pub(crate) const TABLES: &[&str] = &[AUDIT_LOG, AUDIT_BY_ACTOR, EXPORTS, NOTICES];

/// The most rows one delete plan removes, so a purge never holds the writer for long.
const MAX_DELETES_PER_PLAN: usize = 5000;

impl RedbStore {
    async fn audit_page(
        &self,
        table: &'static str,
        owner: Vec<u8>,
        query: &AuditQuery,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        let start = match &page.cursor {
            Some(c) => {
                let mut k = cursor::decode(c, &owner)?;
                // Just past the cursor's key.
                k.push(0);
                k
            }
            None => key::audit_bound(&owner, nanos_saturating(query.effective_from())),
        };
        let end = key::audit_bound(&owner, nanos_saturating(query.to));
        let query = query.clone();
        let limit = page_limit(page.limit);
        self.read(move |r| {
            let mut builder = PageBuilder::new(limit);
            if start < end {
                r.range(table, &start, &end, |k, v| {
                    let entry: AuditEntry = decode(table, v)?;
                    let keep = query.matches(&entry).then_some(entry);
                    Ok(builder.offer(k, keep))
                })?;
            }
            Ok(builder.finish())
        })
        .await
    }

    /// Deletes the keys `from <= key < to` of one audit partition family, in plans of at most
    /// [`MAX_DELETES_PER_PLAN`] rows; returns how many were deleted.
    async fn delete_audit_range(
        &self,
        table: &'static str,
        owner: Vec<u8>,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64> {
        let from = crate::store_privacy::window_start(from, to);
        let start = key::audit_bound(&owner, nanos_saturating(from));
        let end = key::audit_bound(&owner, nanos_saturating(to));
        if start >= end {
            return Ok(0);
        }
        let mut total = 0;
        loop {
            let (owner, start, end) = (owner.clone(), start.clone(), end.clone());
            let outcome = self
                .write(Box::new(move |tx| {
                    let mut doomed = Vec::new();
                    // `start` itself (a nil id) is never a stored key: ids are v7.
                    tx.scan_from(table, &owner, Some(&start), &mut |k, _| {
                        if k >= end.as_slice() {
                            return Ok(false);
                        }
                        if k >= start.as_slice() {
                            doomed.push(k.to_vec());
                        }
                        Ok(doomed.len() < MAX_DELETES_PER_PLAN)
                    })?;
                    let n = doomed.len() as u64;
                    for k in doomed {
                        tx.delete(table, k);
                    }
                    Ok(Outcome::Count(n))
                }))
                .await?;
            let Outcome::Count(n) = outcome else {
                return Err(super::unexpected());
            };
            total += n;
            if n < MAX_DELETES_PER_PLAN as u64 {
                break;
            }
        }
        Ok(total)
    }
}

#[async_trait]
impl AuditStore for RedbStore {
    async fn append_audit(
        &self,
        scope: Option<WorkspaceScope>,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let (table, ws) = match scope {
            Some(s) => {
                let row = entry.workspace_id.unwrap_or_default();
                check_scope(AUDIT_LOG, s.workspace_id(), row)?;
                (AUDIT_LOG, Some(s.workspace_id()))
            }
            None => (AUDIT_BY_ACTOR, None),
        };
        let owner = key::audit_owner(ws, &entry.actor);
        let k = key::audit(&owner, nanos(entry.at)?, entry.id);
        let body = encode(table, entry)?;
        self.write_done(Box::new(move |tx| {
            tx.put(table, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_audit(
        &self,
        scope: WorkspaceScope,
        query: &AuditQuery,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        let owner = key::audit_owner(Some(scope.workspace_id()), "");
        self.audit_page(AUDIT_LOG, owner, query, page).await
    }

    async fn list_audit_of_actor(
        &self,
        actor: &str,
        query: &AuditQuery,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        let owner = key::audit_owner(None, actor);
        self.audit_page(AUDIT_BY_ACTOR, owner, query, page).await
    }

    async fn delete_audit(
        &self,
        scope: WorkspaceScope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64> {
        let owner = key::audit_owner(Some(scope.workspace_id()), "");
        self.delete_audit_range(AUDIT_LOG, owner, from, to).await
    }

    async fn delete_audit_of_actor(
        &self,
        actor: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64> {
        let owner = key::audit_owner(None, actor);
        self.delete_audit_range(AUDIT_BY_ACTOR, owner, from, to)
            .await
    }
}

#[async_trait]
impl ExportStore for RedbStore {
    async fn put_export(&self, job: &ExportJob) -> StoreResult<()> {
        let k = key::export(&job.owner, job.id);
        let body = encode(EXPORTS, job)?;
        self.write_done(Box::new(move |tx| {
            tx.put(EXPORTS, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_export(
        &self,
        owner: &ExportOwner,
        id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<ExportJob>> {
        let k = key::export(owner, id);
        let job: Option<ExportJob> = self.read(move |r| r.get_json(EXPORTS, &k)).await?;
        Ok(job.filter(|j| j.expires_at > now))
    }

    async fn list_exports(
        &self,
        owner: &ExportOwner,
        page: PageRequest,
    ) -> StoreResult<Page<ExportJob>> {
        let part = key::exports_part(owner);
        self.read(move |r| r.page(EXPORTS, &part, &page, |_, v| decode(EXPORTS, v).map(Some)))
            .await
    }

    async fn delete_export(&self, owner: &ExportOwner, id: Uuid) -> StoreResult<()> {
        let k = key::export(owner, id);
        self.write_done(Box::new(move |tx| {
            tx.delete(EXPORTS, k);
            Ok(Outcome::Done)
        }))
        .await
    }
}

#[async_trait]
impl NoticeStore for RedbStore {
    async fn put_notice(&self, notice: &Notice) -> StoreResult<()> {
        let k = key::notice(notice_year(notice.published_at), notice.id);
        let body = encode(NOTICES, notice)?;
        self.write_done(Box::new(move |tx| {
            tx.put(NOTICES, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_notices(&self, year: i16) -> StoreResult<Vec<Notice>> {
        let part = key::notices_part(year);
        self.read(move |r| r.all(NOTICES, &part)).await
    }
}
