//! Deliveries on ScyllaDB: reads by post and by due time, and the compare-and-set transition
//! (`IF version = ?`), the one lightweight transaction on deliveries.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};
use scylla::value::{CqlValue, Row};
use tenants::{AccountId, Delivery, DeliveryId, DeliveryState, PostId, WorkspaceId};
use uuid::Uuid;

use super::posts::version_i64;
use super::{DEFAULT_PAGE_SIZE, Part, ScyllaStore, body_text, errors, part};
use crate::cursor::PageBuilder;
use crate::error::StoreResult;
use crate::layout::{
    check_delivery_scope, day_bucket, day_expires_at, due_expires_at, from_nanos, key, nanos,
    nanos_saturating, page_limit, publish_log_times, ttl_seconds,
};
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{CasOutcome, DeliveryStore, DueRef, Page, PageRequest, hour_bucket, shard_of};

pub(crate) const GET_DELIVERY: &str =
    "SELECT body FROM deliveries WHERE workspace_id = ? AND post_id = ? AND delivery_id = ?";
pub(crate) const LIST_DELIVERIES: &str =
    "SELECT body FROM deliveries WHERE workspace_id = ? AND post_id = ?";
pub(crate) const CAS_DELIVERY: &str = "UPDATE deliveries SET body = ?, state = ?, version = ? \
    WHERE workspace_id = ? AND post_id = ? AND delivery_id = ? IF version = ? AND account_id = ?";
pub(crate) const PUT_ACCOUNT_DUE: &str = "INSERT INTO account_due \
    (workspace_id, account_id, day, due_at_ns, delivery_id, post_id) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?";
pub(crate) const PUT_ACCOUNT_DUE_DAY: &str =
    "INSERT INTO account_due_days (workspace_id, account_id, day) VALUES (?, ?, ?) USING TTL ?";
pub(crate) const PUT_DUE_BY_BUCKET: &str = "INSERT INTO due_by_bucket \
    (shard, hour, due_at_ns, delivery_id, workspace_id, account_id, post_id) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_DUE_DAYS: &str = "SELECT day FROM account_due_days WHERE workspace_id = ? AND account_id = ? AND day >= ? AND day <= ?";
pub(crate) const LIST_ACCOUNT_DUE: &str = "SELECT due_at_ns, delivery_id, post_id FROM account_due \
    WHERE workspace_id = ? AND account_id = ? AND day = ? AND due_at_ns >= ? AND due_at_ns < ? LIMIT ?";
pub(crate) const PUT_ACCOUNT_PUBLISH: &str = "INSERT INTO account_publishes \
    (workspace_id, account_id, published_at_ns, delivery_id) VALUES (?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_ACCOUNT_PUBLISHES: &str = "SELECT published_at_ns FROM account_publishes \
    WHERE workspace_id = ? AND account_id = ? AND published_at_ns >= ?";
pub(crate) const LIST_DUE_IN_BUCKET: &str = "SELECT due_at_ns, delivery_id, workspace_id, account_id, post_id \
    FROM due_by_bucket WHERE shard = ? AND hour = ? AND (due_at_ns, delivery_id) > (?, ?)";

impl ScyllaStore {
    /// The due-index rows of `d`, with TTLs matching the embedded store's expiry. Terminal
    /// deliveries are not indexed.
    pub(crate) fn index_parts(&self, d: &Delivery, now: Timestamp) -> StoreResult<Vec<Part<'_>>> {
        if d.state.is_terminal() {
            return Ok(Vec::new());
        }
        let (ws, account, id, post) = (
            d.workspace_id.as_uuid(),
            d.account_id.as_uuid(),
            d.id.as_uuid(),
            d.post_id.as_uuid(),
        );
        let (due_ns, day) = (nanos(d.due_at)?, day_bucket(d.due_at));
        let ttl = ttl_seconds(due_expires_at(d.due_at, now), now, SignedDuration::ZERO);
        let day_ttl = ttl_seconds(day_expires_at(day, now), now, SignedDuration::ZERO);
        let shard = i32::from(shard_of(d.account_id));
        Ok(vec![
            part(
                &self.st.put_account_due,
                (ws, account, day, due_ns, id, post, ttl),
            ),
            part(&self.st.put_account_due_day, (ws, account, day, day_ttl)),
            part(
                &self.st.put_due_by_bucket,
                (
                    shard,
                    hour_bucket(d.due_at),
                    due_ns,
                    id,
                    ws,
                    account,
                    post,
                    ttl,
                ),
            ),
        ])
    }
}

#[async_trait]
impl DeliveryStore for ScyllaStore {
    async fn get_delivery(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>> {
        let values = (
            scope.workspace_id().as_uuid(),
            post_id.as_uuid(),
            id.as_uuid(),
        );
        self.body("deliveries", &self.st.get_delivery, values).await
    }

    async fn list_deliveries_of_post(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
    ) -> StoreResult<Vec<Delivery>> {
        let values = (scope.workspace_id().as_uuid(), post_id.as_uuid());
        self.bodies("deliveries", &self.st.list_deliveries, values)
            .await
    }

    /// Reads the account's day directory, then only the non-empty days in range.
    async fn account_due(
        &self,
        scope: AccountScope,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<DueRef>> {
        let (ws, account) = (scope.workspace_id(), scope.account_id());
        let (lo, hi) = (nanos_saturating(from), nanos_saturating(to));
        let mut out = Vec::new();
        if limit == 0 || lo >= hi {
            return Ok(out);
        }
        let (first_day, last_day) = (
            lo.div_euclid(86_400_000_000_000),
            (hi - 1).div_euclid(86_400_000_000_000),
        );
        let day_values = (ws.as_uuid(), account.as_uuid(), first_day, last_day);
        let mut days = self
            .stream::<(i64,)>(
                "account_due_days",
                &self.st.list_due_days,
                day_values,
                DEFAULT_PAGE_SIZE,
            )
            .await?;
        let mut day_list = Vec::new();
        while let Some((day,)) = days.try_next().await.map_err(errors::next_row)? {
            day_list.push(day);
        }
        for day in day_list {
            let want = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let values = (ws.as_uuid(), account.as_uuid(), day, lo, hi, want);
            let mut rows = self
                .stream::<(i64, Uuid, Uuid)>("account_due", &self.st.list_account_due, values, want)
                .await?;
            while let Some((due_ns, delivery, post)) =
                rows.try_next().await.map_err(errors::next_row)?
            {
                out.push(due_row(ws, account, due_ns, delivery, post)?);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn account_publishes(
        &self,
        scope: AccountScope,
        since: Timestamp,
    ) -> StoreResult<Vec<Timestamp>> {
        let values = (
            scope.workspace_id().as_uuid(),
            scope.account_id().as_uuid(),
            nanos_saturating(since),
        );
        let mut rows = self
            .stream::<(i64,)>(
                "account_publishes",
                &self.st.list_account_publishes,
                values,
                DEFAULT_PAGE_SIZE,
            )
            .await?;
        let mut out = Vec::new();
        while let Some((ns,)) = rows.try_next().await.map_err(errors::next_row)? {
            out.push(from_nanos("account_publishes", ns)?);
        }
        Ok(out)
    }

    async fn due_in_bucket(
        &self,
        shard: u16,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<DueRef>> {
        let prefix = key::due_bucket_part(shard, bucket);
        let (after_ns, after_id) = super::due_cursor(page.cursor.as_deref(), &prefix)?;
        let limit = page_limit(page.limit);
        let size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let values = (i32::from(shard), bucket, after_ns, after_id);
        let mut rows = self
            .stream::<(i64, Uuid, Uuid, Uuid, Uuid)>(
                "due_by_bucket",
                &self.st.list_due_in_bucket,
                values,
                size,
            )
            .await?;
        let mut out = PageBuilder::new(limit);
        while let Some((due_ns, delivery, ws, account, post)) =
            rows.try_next().await.map_err(errors::next_row)?
        {
            let r = due_row(WorkspaceId(ws), AccountId(account), due_ns, delivery, post)?;
            if !out.offer(
                &key::due_by_bucket(r.account_id, r.due_at, due_ns, delivery),
                Some(r),
            ) {
                break;
            }
        }
        Ok(out.finish())
    }

    /// Writes the due-index rows for `next` first (whether or not the LWT applies), so a crash
    /// between the two never leaves a moved delivery unindexed; readers skip index rows that
    /// no longer match their delivery. On a lost race the current row is re-read at SERIAL
    /// consistency.
    async fn transition(
        &self,
        scope: AccountScope,
        expected_version: u64,
        next: &Delivery,
    ) -> StoreResult<CasOutcome> {
        check_delivery_scope(scope, next)?;
        self.batch(self.index_parts(next, Timestamp::now())?)
            .await?;
        let (ws, post, id) = (
            next.workspace_id.as_uuid(),
            next.post_id.as_uuid(),
            next.id.as_uuid(),
        );
        let values = (
            body_text("deliveries", next)?,
            next.state.as_str(),
            version_i64(next.version)?,
            ws,
            post,
            id,
            version_i64(expected_version)?,
            next.account_id.as_uuid(),
        );
        let applied = self
            .one::<Row>("deliveries", &self.st.cas_delivery, values)
            .await?;
        if lwt_applied(applied.as_ref()) {
            // After the LWT, not in it (LWTs cannot batch across partitions): a crash between
            // the two leaves this publish out of the account's quota count.
            if next.state == DeliveryState::Published {
                let now = Timestamp::now();
                let (at, expires) = publish_log_times(next, now);
                let values = (
                    ws,
                    next.account_id.as_uuid(),
                    nanos_saturating(at),
                    id,
                    ttl_seconds(expires, now, SignedDuration::ZERO),
                );
                self.write(&self.st.put_account_publish, values).await?;
            }
            return Ok(CasOutcome::Applied);
        }
        let current: Option<Delivery> = self
            .body("deliveries", &self.st.get_delivery_serial, (ws, post, id))
            .await?;
        Ok(match current {
            Some(cur) if cur.account_id == next.account_id => {
                CasOutcome::Conflict(Some(Box::new(cur)))
            }
            _ => CasOutcome::Conflict(None),
        })
    }
}

/// Whether an LWT result row says `[applied] = true`.
pub(crate) fn lwt_applied(row: Option<&Row>) -> bool {
    matches!(
        row.and_then(|r| r.columns.first()),
        Some(Some(CqlValue::Boolean(true)))
    )
}

fn due_row(
    ws: WorkspaceId,
    account: AccountId,
    due_ns: i64,
    delivery: Uuid,
    post: Uuid,
) -> StoreResult<DueRef> {
    Ok(DueRef {
        due_at: from_nanos("account_due", due_ns)?,
        delivery_id: DeliveryId(delivery),
        workspace_id: ws,
        account_id: account,
        post_id: PostId(post),
    })
}
