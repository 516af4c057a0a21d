//! The audit log, export jobs and policy notices on ScyllaDB. An audit listing walks the day
//! partitions of its window in order, each read bounded by `(at_ns, id)` tuples and paged.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::Timestamp;
use scylla::serialize::value::SerializeValue;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, ScyllaStore, body_text, errors};
use crate::cursor::{self, PageBuilder};
use crate::error::StoreResult;
use crate::keys::KeyReader;
use crate::layout::{
    TTL_GRACE, check_scope, decode, nanos, nanos_saturating, page_limit, ttl_seconds,
};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};
use crate::store_privacy::{
    AuditEntry, AuditQuery, AuditStore, ExportJob, ExportOwner, ExportStore, Notice, NoticeStore,
    key, notice_year,
};

pub(crate) const APPEND_AUDIT: &str = "INSERT INTO audit_log (workspace_id, day, at_ns, id, body) \
     VALUES (?, ?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_AUDIT: &str = "SELECT at_ns, id, body FROM audit_log \
     WHERE workspace_id = ? AND day = ? AND (at_ns, id) > (?, ?) AND (at_ns, id) < (?, ?)";
pub(crate) const APPEND_AUDIT_OF_ACTOR: &str = "INSERT INTO audit_by_actor \
     (actor, day, at_ns, id, body) VALUES (?, ?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_AUDIT_OF_ACTOR: &str = "SELECT at_ns, id, body FROM audit_by_actor \
     WHERE actor = ? AND day = ? AND (at_ns, id) > (?, ?) AND (at_ns, id) < (?, ?)";
pub(crate) const PUT_EXPORT: &str =
    "INSERT INTO exports (owner, export_id, body) VALUES (?, ?, ?) USING TTL ?";
pub(crate) const GET_EXPORT: &str = "SELECT body FROM exports WHERE owner = ? AND export_id = ?";
pub(crate) const COUNT_AUDIT_DAY: &str = "SELECT id FROM audit_log \
     WHERE workspace_id = ? AND day = ? AND at_ns >= ? AND at_ns < ?";
pub(crate) const DELETE_AUDIT_DAY: &str = "DELETE FROM audit_log \
     WHERE workspace_id = ? AND day = ? AND at_ns >= ? AND at_ns < ?";
pub(crate) const COUNT_AUDIT_OF_ACTOR_DAY: &str = "SELECT id FROM audit_by_actor \
     WHERE actor = ? AND day = ? AND at_ns >= ? AND at_ns < ?";
pub(crate) const DELETE_AUDIT_OF_ACTOR_DAY: &str = "DELETE FROM audit_by_actor \
     WHERE actor = ? AND day = ? AND at_ns >= ? AND at_ns < ?";
pub(crate) const LIST_EXPORTS: &str =
    "SELECT export_id, body FROM exports WHERE owner = ? AND export_id > ?";
pub(crate) const DELETE_EXPORT: &str = "DELETE FROM exports WHERE owner = ? AND export_id = ?";
pub(crate) const PUT_NOTICE: &str = "INSERT INTO notices (year, notice_id, body) VALUES (?, ?, ?)";
pub(crate) const LIST_NOTICES: &str = "SELECT body FROM notices WHERE year = ?";

const NS_PER_DAY: i64 = 86_400_000_000_000;

impl ScyllaStore {
    /// One page of an audit partition family (`owner` is the partition key without the day).
    async fn audit_page<P>(
        &self,
        table: &'static str,
        st: &PreparedStatement,
        pk: P,
        prefix: Vec<u8>,
        query: &AuditQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEntry>>
    where
        P: SerializeValue + Clone + Send + Sync,
    {
        let (mut after_ns, mut after_id) = (nanos_saturating(query.effective_from()), Uuid::nil());
        if let Some(c) = &page.cursor {
            let k = cursor::decode(c, &prefix)?;
            let mut r = KeyReader::new(&k[prefix.len()..]);
            let _day = r.i64()?;
            after_ns = r.i64()?;
            after_id = r.uuid()?;
            r.end()?;
        }
        let to_ns = nanos_saturating(query.to);
        let limit = page_limit(page.limit);
        let mut builder = PageBuilder::new(limit);
        let size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let last_day = to_ns.div_euclid(NS_PER_DAY);
        let mut day = after_ns.div_euclid(NS_PER_DAY);
        // At most `MAX_AUDIT_WINDOW_DAYS` + 1 partitions: the window is cut to that length.
        'days: while day <= last_day {
            let values = (pk.clone(), day, after_ns, after_id, to_ns, Uuid::nil());
            let mut rows = self
                .stream::<(i64, Uuid, String)>(table, st, values, size)
                .await?;
            while let Some((at_ns, id, body)) = rows.try_next().await.map_err(errors::next_row)? {
                let entry: AuditEntry = decode(table, body.as_bytes())?;
                let keep = query.matches(&entry).then_some(entry);
                if !builder.offer(&key::audit(&prefix, at_ns, id), keep) {
                    break 'days;
                }
            }
            day += 1;
        }
        Ok(builder.finish())
    }
}

impl ScyllaStore {
    /// Deletes `from <= at_ns < to` in each day partition of one audit partition family: rows
    /// are counted first (for the purge report), then removed with one range delete per day
    /// that holds any.
    async fn delete_audit_days<P>(
        &self,
        table: &'static str,
        (count, delete): (&PreparedStatement, &PreparedStatement),
        pk: P,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64>
    where
        P: SerializeValue + Clone + Send + Sync,
    {
        let from_ns = nanos_saturating(crate::store_privacy::window_start(from, to));
        let to_ns = nanos_saturating(to);
        if from_ns >= to_ns {
            return Ok(0);
        }
        let mut total = 0;
        // At most `MAX_AUDIT_WINDOW_DAYS` + 1 partitions: the window is cut to that length.
        for day in from_ns.div_euclid(NS_PER_DAY)..=(to_ns - 1).div_euclid(NS_PER_DAY) {
            let values = (pk.clone(), day, from_ns, to_ns);
            let mut rows = self
                .stream::<(Uuid,)>(table, count, values.clone(), DEFAULT_PAGE_SIZE)
                .await?;
            let mut num = 0u64;
            while rows.try_next().await.map_err(errors::next_row)?.is_some() {
                num += 1;
            }
            if num > 0 {
                self.write(delete, values).await?;
                total += num;
            }
        }
        Ok(total)
    }
}

#[async_trait]
impl AuditStore for ScyllaStore {
    async fn append_audit(
        &self,
        scope: Option<WorkspaceScope>,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let at_ns = nanos(entry.at)?;
        let day = at_ns.div_euclid(NS_PER_DAY);
        let ttl = ttl_seconds(entry.expires_at, entry.at, TTL_GRACE);
        match scope {
            Some(s) => {
                let row = entry.workspace_id.unwrap_or_default();
                check_scope("audit_log", s.workspace_id(), row)?;
                let body = body_text("audit_log", entry)?;
                let values = (s.workspace_id().as_uuid(), day, at_ns, entry.id, body, ttl);
                self.write(&self.st.append_audit, values).await
            }
            None => {
                let body = body_text("audit_by_actor", entry)?;
                let values = (entry.actor.clone(), day, at_ns, entry.id, body, ttl);
                self.write(&self.st.append_audit_of_actor, values).await
            }
        }
    }

    async fn list_audit(
        &self,
        scope: WorkspaceScope,
        query: &AuditQuery,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        let ws = scope.workspace_id();
        let prefix = key::audit_owner(Some(ws), "");
        self.audit_page(
            "audit_log",
            &self.st.list_audit,
            ws.as_uuid(),
            prefix,
            query,
            &page,
        )
        .await
    }

    async fn list_audit_of_actor(
        &self,
        actor: &str,
        query: &AuditQuery,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        let prefix = key::audit_owner(None, actor);
        self.audit_page(
            "audit_by_actor",
            &self.st.list_audit_of_actor,
            actor.to_owned(),
            prefix,
            query,
            &page,
        )
        .await
    }

    async fn delete_audit(
        &self,
        scope: WorkspaceScope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64> {
        let st = (&self.st.count_audit_day, &self.st.delete_audit_day);
        let ws = scope.workspace_id().as_uuid();
        self.delete_audit_days("audit_log", st, ws, from, to).await
    }

    async fn delete_audit_of_actor(
        &self,
        actor: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<u64> {
        let st = (
            &self.st.count_audit_of_actor_day,
            &self.st.delete_audit_of_actor_day,
        );
        self.delete_audit_days("audit_by_actor", st, actor.to_owned(), from, to)
            .await
    }
}

#[async_trait]
impl ExportStore for ScyllaStore {
    async fn put_export(&self, job: &ExportJob) -> StoreResult<()> {
        let ttl = ttl_seconds(job.expires_at, job.created_at, TTL_GRACE);
        let values = (
            job.owner.as_str().to_owned(),
            job.id,
            body_text("exports", job)?,
            ttl,
        );
        self.write(&self.st.put_export, values).await
    }

    async fn get_export(
        &self,
        owner: &ExportOwner,
        id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<ExportJob>> {
        let job: Option<ExportJob> = self
            .body("exports", &self.st.get_export, (owner.as_str(), id))
            .await?;
        Ok(job.filter(|j| j.expires_at > now))
    }

    async fn list_exports(
        &self,
        owner: &ExportOwner,
        page: PageRequest,
    ) -> StoreResult<Page<ExportJob>> {
        let prefix = key::exports_part(owner);
        let after = match &page.cursor {
            Some(c) => {
                let k = cursor::decode(c, &prefix)?;
                let mut r = KeyReader::new(&k[prefix.len()..]);
                let id = r.uuid()?;
                r.end()?;
                id
            }
            None => Uuid::nil(),
        };
        let limit = page_limit(page.limit);
        let mut builder = PageBuilder::new(limit);
        let size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let values = (owner.as_str().to_owned(), after);
        let mut rows = self
            .stream::<(Uuid, String)>("exports", &self.st.list_exports, values, size)
            .await?;
        while let Some((id, body)) = rows.try_next().await.map_err(errors::next_row)? {
            let job: ExportJob = decode("exports", body.as_bytes())?;
            if !builder.offer(&key::export(owner, id), Some(job)) {
                break;
            }
        }
        Ok(builder.finish())
    }

    async fn delete_export(&self, owner: &ExportOwner, id: Uuid) -> StoreResult<()> {
        let values = (owner.as_str().to_owned(), id);
        self.write(&self.st.delete_export, values).await
    }
}

#[async_trait]
impl NoticeStore for ScyllaStore {
    async fn put_notice(&self, notice: &Notice) -> StoreResult<()> {
        let year = i32::from(notice_year(notice.published_at));
        let values = (year, notice.id, body_text("notices", notice)?);
        self.write(&self.st.put_notice, values).await
    }

    async fn list_notices(&self, year: i16) -> StoreResult<Vec<Notice>> {
        self.bodies("notices", &self.st.list_notices, (i32::from(year),))
            .await
    }
}
