//! Analytics on ScyllaDB: the metric time series by (account, month), the per-post series, and
//! the hour-bucketed pull jobs (TTL; deleted with an erased workspace through its job list).

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};
use tenants::PostId;
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, ScyllaStore, body_text, errors, part};
use crate::cursor::PageBuilder;
use crate::error::{StoreError, StoreResult};
use crate::layout::{check_scope, decode, nanos, nanos_saturating, page_limit};
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{Page, PageRequest, hour_bucket};
use crate::store_analytics::{AnalyticsJob, AnalyticsStore, MetricSample, key, month_bucket};
use crate::store_erasure::PurgeProgress;

pub(crate) const PUT_METRIC_SAMPLE: &str = "INSERT INTO metric_samples \
    (workspace_id, account_id, month, at_ns, post_id, body) VALUES (?, ?, ?, ?, ?, ?)";
pub(crate) const LIST_METRIC_SAMPLES: &str = "SELECT body FROM metric_samples \
    WHERE workspace_id = ? AND account_id = ? AND month = ? AND at_ns >= ? AND at_ns < ?";
pub(crate) const PUT_POST_METRIC_SAMPLE: &str = "INSERT INTO post_metric_samples \
    (workspace_id, post_id, at_ns, account_id, body) VALUES (?, ?, ?, ?, ?)";
pub(crate) const LIST_POST_METRIC_SAMPLES: &str =
    "SELECT body FROM post_metric_samples WHERE workspace_id = ? AND post_id = ?";
pub(crate) const PUT_ANALYTICS_JOB: &str = "INSERT INTO analytics_due \
    (hour, due_at_ns, job_id, body) VALUES (?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_ANALYTICS_DUE: &str = "SELECT due_at_ns, job_id, body FROM analytics_due \
    WHERE hour = ? AND (due_at_ns, job_id) > (?, ?)";
pub(crate) const PUT_ANALYTICS_JOB_OF_WS: &str = "INSERT INTO analytics_jobs_by_workspace \
    (workspace_id, hour, due_at_ns, job_id) VALUES (?, ?, ?, ?) USING TTL ?";
pub(crate) const LIST_ANALYTICS_JOBS_OF_WS: &str = "SELECT hour, due_at_ns, job_id \
    FROM analytics_jobs_by_workspace WHERE workspace_id = ? LIMIT ?";
pub(crate) const DELETE_ANALYTICS_JOB: &str =
    "DELETE FROM analytics_due WHERE hour = ? AND due_at_ns = ? AND job_id = ?";
pub(crate) const DELETE_ANALYTICS_JOB_OF_WS: &str = "DELETE FROM analytics_jobs_by_workspace \
    WHERE workspace_id = ? AND hour = ? AND due_at_ns = ? AND job_id = ?";
pub(crate) const PUT_METRIC_PARTITION: &str =
    "INSERT INTO metric_partitions (workspace_id, account_id, month) VALUES (?, ?, ?)";
pub(crate) const LIST_METRIC_PARTITIONS: &str =
    "SELECT account_id, month FROM metric_partitions WHERE workspace_id = ?";
pub(crate) const PURGE_METRIC_POSTS: &str = "SELECT post_id FROM metric_samples \
    WHERE workspace_id = ? AND account_id = ? AND month = ?";
pub(crate) const DELETE_METRIC_SAMPLES: &str =
    "DELETE FROM metric_samples WHERE workspace_id = ? AND account_id = ? AND month = ?";
pub(crate) const DELETE_POST_METRIC_SAMPLES: &str =
    "DELETE FROM post_metric_samples WHERE workspace_id = ? AND post_id = ?";
pub(crate) const DELETE_METRIC_PARTITION: &str =
    "DELETE FROM metric_partitions WHERE workspace_id = ? AND account_id = ? AND month = ?";

/// How long a pull job's index row is kept after it is due.
const JOB_RETENTION: SignedDuration = SignedDuration::from_hours(30 * 24);

#[async_trait]
impl AnalyticsStore for ScyllaStore {
    async fn put_metric_sample(
        &self,
        scope: AccountScope,
        sample: &MetricSample,
    ) -> StoreResult<()> {
        check_scope("metric_samples", scope.workspace_id(), sample.workspace_id)?;
        if scope.account_id() != sample.account_id {
            return Err(StoreError::OutOfScope {
                table: "metric_samples",
            });
        }
        let (ws, account) = (scope.workspace_id().as_uuid(), scope.account_id().as_uuid());
        let at_ns = nanos(sample.at)?;
        let body = body_text("metric_samples", sample)?;
        let post = sample.post_id.map_or(Uuid::nil(), |p| p.as_uuid());
        let month = month_bucket(sample.at);
        let mut parts = vec![part(&self.st.put_metric_partition, (ws, account, month))];
        parts.push(part(
            &self.st.put_metric_sample,
            (
                ws,
                account,
                month_bucket(sample.at),
                at_ns,
                post,
                body.clone(),
            ),
        ));
        if sample.post_id.is_some() {
            parts.push(part(
                &self.st.put_post_metric_sample,
                (ws, post, at_ns, account, body),
            ));
        }
        self.batch(parts).await
    }

    async fn list_account_metrics(
        &self,
        scope: AccountScope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<MetricSample>> {
        let (ws, account) = (scope.workspace_id().as_uuid(), scope.account_id().as_uuid());
        let (lo, hi) = (nanos_saturating(from), nanos_saturating(to));
        let mut out = Vec::new();
        if lo >= hi {
            return Ok(out);
        }
        for month in month_bucket(from)..=month_bucket(to) {
            let mut part: Vec<MetricSample> = self
                .bodies(
                    "metric_samples",
                    &self.st.list_metric_samples,
                    (ws, account, month, lo, hi),
                )
                .await?;
            out.append(&mut part);
        }
        Ok(out)
    }

    async fn list_post_metrics(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
    ) -> StoreResult<Vec<MetricSample>> {
        let values = (scope.workspace_id().as_uuid(), post_id.as_uuid());
        self.bodies(
            "post_metric_samples",
            &self.st.list_post_metric_samples,
            values,
        )
        .await
    }

    async fn put_analytics_job(&self, job: &AnalyticsJob) -> StoreResult<()> {
        let now = Timestamp::now();
        let left = job.due_at.duration_since(now).max(SignedDuration::ZERO) + JOB_RETENTION;
        let ttl = i32::try_from(left.as_secs()).unwrap_or(i32::MAX).max(1);
        let (hour, due_ns) = (hour_bucket(job.due_at), nanos(job.due_at)?);
        let parts = vec![
            part(
                &self.st.put_analytics_job,
                (hour, due_ns, job.id, body_text("analytics_due", job)?, ttl),
            ),
            part(
                &self.st.put_analytics_job_of_ws,
                (job.workspace_id.as_uuid(), hour, due_ns, job.id, ttl),
            ),
        ];
        self.batch(parts).await
    }

    /// Reads up to `max_rows` of the workspace's job list, then deletes each job's index row
    /// and list row in logged batches (the list row last, so a crash midway is finished by the
    /// next call).
    async fn purge_analytics_jobs(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let ws = scope.workspace_id().as_uuid();
        let budget = max_rows.max(2) / 2;
        let limit = i32::try_from(budget).unwrap_or(i32::MAX);
        let mut jobs = Vec::new();
        let mut rows = self
            .stream::<(i64, i64, Uuid)>(
                "analytics_jobs_by_workspace",
                &self.st.list_analytics_jobs_of_ws,
                (ws, limit),
                limit.min(DEFAULT_PAGE_SIZE),
            )
            .await?;
        while let Some(row) = rows.try_next().await.map_err(errors::next_row)? {
            jobs.push(row);
        }
        let done = jobs.len() < budget;
        let mut parts = Vec::new();
        for &(hour, due_ns, job) in &jobs {
            parts.push(part(&self.st.delete_analytics_job, (hour, due_ns, job)));
            parts.push(part(
                &self.st.delete_analytics_job_of_ws,
                (ws, hour, due_ns, job),
            ));
        }
        self.batch(parts).await?;
        Ok(PurgeProgress {
            num_deleted: 2 * jobs.len() as u64,
            done,
        })
    }

    async fn analytics_due_in_bucket(
        &self,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<AnalyticsJob>> {
        let prefix = key::due_part(bucket);
        let (after_ns, after_id) = super::due_cursor(page.cursor.as_deref(), &prefix)?;
        let limit = page_limit(page.limit);
        let size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let mut rows = self
            .stream::<(i64, Uuid, String)>(
                "analytics_due",
                &self.st.list_analytics_due,
                (bucket, after_ns, after_id),
                size,
            )
            .await?;
        let mut out = PageBuilder::new(limit);
        while let Some((due_ns, id, body)) = rows.try_next().await.map_err(errors::next_row)? {
            let job: AnalyticsJob = decode("analytics_due", body.as_bytes())?;
            if !out.offer(&key::due(bucket, due_ns, id), Some(job)) {
                break;
            }
        }
        Ok(out.finish())
    }

    /// Partition by partition, found through `metric_partitions`: the post series of every post
    /// sampled there, the account-month partition, then its index row (last, so a crash midway
    /// is finished by the next call).
    async fn purge_metrics(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let ws = scope.workspace_id().as_uuid();
        let mut months = Vec::new();
        let mut rows = self
            .stream::<(Uuid, i32)>(
                "metric_partitions",
                &self.st.list_metric_partitions,
                (ws,),
                DEFAULT_PAGE_SIZE,
            )
            .await?;
        while let Some(row) = rows.try_next().await.map_err(errors::next_row)? {
            months.push(row);
        }
        let mut num_deleted = 0u64;
        for (account, month) in months {
            if num_deleted >= max_rows.max(1) as u64 {
                return Ok(PurgeProgress {
                    num_deleted,
                    done: false,
                });
            }
            let mut posts = std::collections::BTreeSet::new();
            let mut rows = self
                .stream::<(Uuid,)>(
                    "metric_samples",
                    &self.st.purge_metric_posts,
                    (ws, account, month),
                    DEFAULT_PAGE_SIZE,
                )
                .await?;
            while let Some((post,)) = rows.try_next().await.map_err(errors::next_row)? {
                num_deleted += 1;
                if !post.is_nil() {
                    posts.insert(post);
                }
            }
            let mut parts: Vec<_> = posts
                .into_iter()
                .map(|p| part(&self.st.delete_post_metric_samples, (ws, p)))
                .collect();
            parts.push(part(&self.st.delete_metric_samples, (ws, account, month)));
            self.batch(parts).await?;
            self.write(&self.st.delete_metric_partition, (ws, account, month))
                .await?;
            num_deleted += 1;
        }
        Ok(PurgeProgress {
            num_deleted,
            done: true,
        })
    }
}
