//! Analytics on the embedded store: the metric time series by (account, month), the per-post
//! series, and the hour-bucketed pull jobs (with an emulated expiry).

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tenants::PostId;

use super::RedbStore;
use super::access::Lookup;
use super::events::ANALYTICS_JOBS_BY_WORKSPACE;
use super::tables::{ANALYTICS_DUE, METRIC_PARTITIONS, METRIC_SAMPLES, POST_METRIC_SAMPLES};
use super::writer::Outcome;
use crate::error::StoreResult;
use crate::keys::KeyReader;
use crate::layout::{check_scope, decode, encode, nanos, nanos_saturating};
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{Page, PageRequest, hour_bucket};
use crate::store_analytics::{AnalyticsJob, AnalyticsStore, MetricSample, key, month_bucket};
use crate::store_erasure::PurgeProgress;

/// How long a pull job's index row is kept after it is due.
const JOB_RETENTION: SignedDuration = SignedDuration::from_hours(30 * 24);

#[derive(Debug, Serialize, Deserialize)]
struct TimedJob {
    #[serde(flatten)]
    job: AnalyticsJob,
    expires_at: Timestamp,
}

#[async_trait]
impl AnalyticsStore for RedbStore {
    async fn put_metric_sample(
        &self,
        scope: AccountScope,
        sample: &MetricSample,
    ) -> StoreResult<()> {
        check_scope(METRIC_SAMPLES, scope.workspace_id(), sample.workspace_id)?;
        if scope.account_id() != sample.account_id {
            return Err(crate::error::StoreError::OutOfScope {
                table: METRIC_SAMPLES,
            });
        }
        let (ws, account) = (scope.workspace_id(), scope.account_id());
        let at_ns = nanos(sample.at)?;
        let month = month_bucket(sample.at);
        let k = key::sample(ws, account, month, at_ns, sample.post_id);
        let partition = key::samples_part(ws, account, month);
        let v = encode(METRIC_SAMPLES, sample)?;
        let post = sample
            .post_id
            .map(|p| (key::post_sample(ws, p, at_ns, account), v.clone()));
        self.write_done(Box::new(move |tx| {
            tx.put(METRIC_PARTITIONS, partition, Vec::new());
            tx.put(METRIC_SAMPLES, k, v);
            if let Some((pk, pv)) = post {
                tx.put(POST_METRIC_SAMPLES, pk, pv);
            }
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_account_metrics(
        &self,
        scope: AccountScope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<MetricSample>> {
        let (ws, account) = (scope.workspace_id(), scope.account_id());
        let (lo_ns, hi_ns) = (nanos_saturating(from), nanos_saturating(to));
        if lo_ns >= hi_ns {
            return Ok(Vec::new());
        }
        let months = month_bucket(from)..=month_bucket(to);
        self.read(move |r| {
            let mut out = Vec::new();
            for month in months {
                let lo = key::sample(ws, account, month, lo_ns, None);
                let hi = key::sample(ws, account, month, hi_ns, None);
                r.range(METRIC_SAMPLES, &lo, &hi, |_, v| {
                    out.push(decode(METRIC_SAMPLES, v)?);
                    Ok(true)
                })?;
            }
            Ok(out)
        })
        .await
    }

    async fn list_post_metrics(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
    ) -> StoreResult<Vec<MetricSample>> {
        let prefix = key::post_part(scope.workspace_id(), post_id);
        self.read(move |r| r.all(POST_METRIC_SAMPLES, &prefix))
            .await
    }

    async fn put_analytics_job(&self, job: &AnalyticsJob) -> StoreResult<()> {
        let (hour, due_ns) = (hour_bucket(job.due_at), nanos(job.due_at)?);
        let k = key::due(hour, due_ns, job.id);
        let wk = key::job_of_ws(job.workspace_id, hour, due_ns, job.id);
        let expires_at = Timestamp::now().max(job.due_at) + JOB_RETENTION;
        let v = encode(
            ANALYTICS_DUE,
            &TimedJob {
                job: job.clone(),
                expires_at,
            },
        )?;
        let wv = encode(ANALYTICS_JOBS_BY_WORKSPACE, &expires_at)?;
        self.write_done(Box::new(move |tx| {
            tx.put(ANALYTICS_DUE, k, v);
            tx.put(ANALYTICS_JOBS_BY_WORKSPACE, wk, wv);
            Ok(Outcome::Done)
        }))
        .await
    }

    /// One write plan: the workspace's job list gives the keys of its index rows.
    async fn purge_analytics_jobs(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let prefix = key::jobs_of_ws_part(scope.workspace_id());
        let budget = max_rows.max(1);
        self.purge_rows(budget, move |tx, doomed| {
            tx.scan_from(ANALYTICS_JOBS_BY_WORKSPACE, &prefix, None, &mut |k, _| {
                let mut r = KeyReader::new(&k[prefix.len()..]);
                let (hour, due_ns, job) = (r.i64()?, r.i64()?, r.uuid()?);
                doomed.push((ANALYTICS_DUE, key::due(hour, due_ns, job)));
                doomed.push((ANALYTICS_JOBS_BY_WORKSPACE, k.to_vec()));
                Ok(doomed.len() < budget)
            })?;
            Ok(())
        })
        .await
    }

    async fn analytics_due_in_bucket(
        &self,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<AnalyticsJob>> {
        let prefix = key::due_part(bucket);
        let now = Timestamp::now();
        self.read(move |r| {
            r.page(ANALYTICS_DUE, &prefix, &page, |_, v| {
                let t: TimedJob = decode(ANALYTICS_DUE, v)?;
                Ok((t.expires_at > now).then_some(t.job))
            })
        })
        .await
    }

    /// One write plan over both series and the partition index, found by the workspace key
    /// prefix.
    async fn purge_metrics(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let prefix = crate::layout::key::ws(scope.workspace_id());
        let budget = max_rows.max(1);
        self.purge_rows(budget, move |tx, doomed| {
            // The partition index goes last, as on ScyllaDB.
            for table in [POST_METRIC_SAMPLES, METRIC_SAMPLES, METRIC_PARTITIONS] {
                if doomed.len() < budget {
                    tx.scan_from(table, &prefix, None, &mut |k, _| {
                        doomed.push((table, k.to_vec()));
                        Ok(doomed.len() < budget)
                    })?;
                }
            }
            Ok(())
        })
        .await
    }
}
