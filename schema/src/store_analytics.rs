//! Analytics in the store: metric samples pulled from the partner, as a time series partitioned
//! by account and month (clustered by time), a per-post view of the same samples, and the
//! time-bucketed index of pull jobs the engine's analytics worker scans.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{AccountId, Platform, PostId, WorkspaceId};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{Page, PageRequest};
use crate::store_erasure::PurgeProgress;

/// Normalised metrics. A metric the platform does not report is `None`, never 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Times shown.
    pub impressions: Option<u64>,
    /// Distinct viewers.
    pub reach: Option<u64>,
    /// Likes (reactions).
    pub likes: Option<u64>,
    /// Comments (replies).
    pub comments: Option<u64>,
    /// Shares (reposts, quotes).
    pub shares: Option<u64>,
    /// Saves (bookmarks).
    pub saves: Option<u64>,
    /// Link clicks.
    pub clicks: Option<u64>,
    /// Video views.
    pub video_views: Option<u64>,
    /// Followers at the time of the sample (account samples).
    pub followers: Option<u64>,
}

/// One pull's result for an account (`post_id` `None`) or for one of its posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The account.
    pub account_id: AccountId,
    /// The post, for post samples.
    pub post_id: Option<PostId>,
    /// The account's network.
    pub platform: Platform,
    /// When the sample was taken (engine clock).
    pub at: Timestamp,
    /// The normalised values.
    pub metrics: Metrics,
    /// Everything platform-specific, as the partner sent it.
    pub raw: BTreeMap<String, serde_json::Value>,
}

/// What a pull job fetches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalyticsJobKind {
    /// The account's daily metrics.
    AccountDaily,
    /// A published post's analytics, `offset` (`1h`, `24h`, `7d`) after publishing.
    Post {
        /// Our post.
        post_id: PostId,
        /// The partner's post id.
        partner_post_id: String,
        /// Which pull of the schedule this is.
        offset: String,
    },
}

/// A scheduled pull. Index rows are not deleted when the job runs (the worker skips jobs whose
/// sample exists); they expire, or go with an erased workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsJob {
    /// The job id (UUIDv7).
    pub id: Uuid,
    /// When to pull.
    pub due_at: Timestamp,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The account.
    pub account_id: AccountId,
    /// What to pull.
    pub kind: AnalyticsJobKind,
}

/// Metric samples and the pull schedule.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Inserts or replaces a sample (keyed by account, time and post); a post sample is also
    /// written to the post's series in the same batch.
    async fn put_metric_sample(
        &self,
        scope: AccountScope,
        sample: &MetricSample,
    ) -> StoreResult<()>;
    /// The account's samples (account and post samples) with `from <= at < to`, in time
    /// order, reading only the months in range.
    async fn list_account_metrics(
        &self,
        scope: AccountScope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<MetricSample>>;
    /// A post's samples, oldest first.
    async fn list_post_metrics(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
    ) -> StoreResult<Vec<MetricSample>>;
    /// Schedules a pull: its row in the hour-bucketed index and in the workspace's job list,
    /// in one batch.
    async fn put_analytics_job(&self, job: &AnalyticsJob) -> StoreResult<()>;
    /// The pulls due in one hour bucket, in due order, paged.
    async fn analytics_due_in_bucket(
        &self,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<AnalyticsJob>>;
    /// Deletes up to about `max_rows` of an erased workspace's pull jobs: each job's row in the
    /// hour-bucketed index and in the workspace's own job list (written beside it by
    /// [`AnalyticsStore::put_analytics_job`]). Call again until [`PurgeProgress::done`];
    /// idempotent.
    async fn purge_analytics_jobs(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress>;
    /// Deletes up to about `max_rows` of an erased workspace's metric samples (the account
    /// series and the per-post series). Call again until [`PurgeProgress::done`]; idempotent.
    /// Pull jobs go with [`AnalyticsStore::purge_analytics_jobs`].
    async fn purge_metrics(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress>;
}

/// The month bucket of an instant (`year * 12 + month - 1`, UTC), the time part of metric
/// partition keys.
pub fn month_bucket(at: Timestamp) -> i32 {
    let d = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

/// The ordered keys of the analytics tables (shared by both backends' cursors).
pub(crate) mod key {
    use tenants::{AccountId, PostId, WorkspaceId};
    use uuid::Uuid;

    use crate::keys::KeyBuf;

    /// The partition prefix of `metric_samples((workspace_id, account_id, month))`.
    pub(crate) fn samples_part(ws: WorkspaceId, account: AccountId, month: i32) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(account.as_uuid())
            .i64(i64::from(month))
            .done()
    }
    /// `metric_samples(..., at_ns, post_id)`; account samples use the nil post id.
    pub(crate) fn sample(
        ws: WorkspaceId,
        account: AccountId,
        month: i32,
        at_ns: i64,
        post: Option<PostId>,
    ) -> Vec<u8> {
        let mut k = samples_part(ws, account, month);
        k.extend(
            KeyBuf::new()
                .i64(at_ns)
                .uuid(post.map_or(Uuid::nil(), |p| p.as_uuid()))
                .done(),
        );
        k
    }
    /// The partition prefix of `post_metric_samples((workspace_id, post_id))`.
    pub(crate) fn post_part(ws: WorkspaceId, post: PostId) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).uuid(post.as_uuid()).done()
    }
    /// `post_metric_samples(..., at_ns, account_id)`.
    pub(crate) fn post_sample(
        ws: WorkspaceId,
        post: PostId,
        at_ns: i64,
        account: AccountId,
    ) -> Vec<u8> {
        let mut k = post_part(ws, post);
        k.extend(KeyBuf::new().i64(at_ns).uuid(account.as_uuid()).done());
        k
    }
    /// The partition prefix of `analytics_due((hour))`.
    pub(crate) fn due_part(hour: i64) -> Vec<u8> {
        KeyBuf::new().i64(hour).done()
    }
    /// The partition prefix of `analytics_jobs_by_workspace((workspace_id))`.
    pub(crate) fn jobs_of_ws_part(ws: WorkspaceId) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).done()
    }
    /// `analytics_jobs_by_workspace((workspace_id), hour, due_at_ns, job_id)`.
    pub(crate) fn job_of_ws(ws: WorkspaceId, hour: i64, due_ns: i64, job: Uuid) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .i64(hour)
            .i64(due_ns)
            .uuid(job)
            .done()
    }
    /// `analytics_due((hour), due_at_ns, job_id)`.
    pub(crate) fn due(hour: i64, due_ns: i64, job: Uuid) -> Vec<u8> {
        KeyBuf::new().i64(hour).i64(due_ns).uuid(job).done()
    }
}
