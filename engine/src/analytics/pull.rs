//! One pull: reads the partner's metrics for an account or a post and stores the normalised
//! sample. A metric the partner does not give stays `None` (never 0); everything else the
//! partner sends goes into the sample's raw map.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use schema::{AnalyticsJob, AnalyticsJobKind, MetricSample, Metrics, WorkspaceScope};
use serde_json::{Value, json};

use super::{Worker, put_job};
use crate::error::EngineError;
use crate::partner::{AccountMetrics, AccountPostMetrics};

fn partner_err(e: impl std::fmt::Debug) -> EngineError {
    EngineError::Unavailable(format!("partner analytics: {e:?}"))
}

/// Sums the values that are present; `None` when none is.
fn sum(values: &[Option<u64>]) -> Option<u64> {
    values
        .iter()
        .flatten()
        .copied()
        .reduce(|a, b| a.saturating_add(b))
}

fn account_sample(m: AccountMetrics) -> (Metrics, BTreeMap<String, Value>) {
    let e = &m.engagement;
    let metrics = Metrics {
        likes: e.likes,
        comments: e.comments,
        shares: sum(&[e.shares, e.reposts, e.quotes]),
        video_views: e.views,
        followers: m.followers_count,
        ..Metrics::default()
    };
    let mut raw = BTreeMap::new();
    raw.insert("following_count".into(), json!(m.following_count));
    raw.insert("posts_count".into(), json!(m.posts_count));
    raw.insert("reposts".into(), json!(e.reposts));
    raw.insert("quotes".into(), json!(e.quotes));
    if let Value::Object(map) = m.platform_specific {
        raw.extend(map);
    }
    (metrics, raw)
}

fn post_sample(m: &AccountPostMetrics) -> (Metrics, BTreeMap<String, Value>) {
    let metrics = Metrics {
        impressions: m.impressions,
        reach: m.reach,
        likes: m.likes,
        comments: m.comments,
        shares: m.shares,
        video_views: m.views,
        ..Metrics::default()
    };
    let raw = BTreeMap::from([("engagement_rate".to_owned(), json!(m.engagement_rate))]);
    (metrics, raw)
}

/// Runs one job (skipping it when its sample exists, the workspace is restricted, or the
/// account is gone).
pub(crate) async fn run_job(
    w: &Worker,
    job: &AnalyticsJob,
    now: Timestamp,
) -> Result<(), EngineError> {
    let scope = WorkspaceScope::authorized(job.workspace_id);
    let account_scope = scope.account(job.account_id);
    let Some(workspace) = w.store.get_workspace(scope).await? else {
        return Ok(());
    };
    if workspace.processing_restricted || workspace.deletion_requested_at.is_some() {
        return Ok(());
    }
    let Some(account) = w.store.get_account(account_scope).await? else {
        return Ok(());
    };
    let Some(partner_account) = account.partner_account_id.clone() else {
        return Ok(());
    };
    let (post_id, metrics, raw) = match &job.kind {
        AnalyticsJobKind::AccountDaily => {
            let taken = w
                .store
                .list_account_metrics(
                    account_scope,
                    job.due_at,
                    job.due_at + SignedDuration::from_nanos(1),
                )
                .await?;
            if taken.iter().any(|s| s.post_id.is_none()) {
                return Ok(());
            }
            let since = job.due_at - SignedDuration::from_hours(24);
            let reply = w
                .client
                .account_metrics(&partner_account, Some(since), Some(job.due_at))
                .await
                .map_err(partner_err)?;
            let next = job.due_at.max(now) + SignedDuration::from_hours(24);
            put_job(
                w,
                next,
                job.workspace_id,
                job.account_id,
                AnalyticsJobKind::AccountDaily,
            )
            .await?;
            let (m, raw) = account_sample(reply.value);
            (None, m, raw)
        }
        AnalyticsJobKind::Post {
            post_id,
            partner_post_id,
            offset,
        } => {
            let taken = w.store.list_post_metrics(scope, *post_id).await?;
            if taken
                .iter()
                .any(|s| s.at == job.due_at && s.account_id == job.account_id)
            {
                return Ok(());
            }
            let reply = w
                .client
                .post_analytics(partner_post_id)
                .await
                .map_err(partner_err)?;
            let Some(mine) = pick(&reply.value.by_account, &partner_account) else {
                // Not measurable (yet): no sample rather than zeros.
                return Ok(());
            };
            let (m, mut raw) = post_sample(mine);
            raw.insert("offset".into(), json!(offset));
            (Some(*post_id), m, raw)
        }
    };
    let sample = MetricSample {
        workspace_id: job.workspace_id,
        account_id: job.account_id,
        post_id,
        platform: account.platform,
        at: job.due_at,
        metrics,
        raw,
    };
    w.store.put_metric_sample(account_scope, &sample).await?;
    Ok(())
}

fn pick<'a>(
    list: &'a [AccountPostMetrics],
    partner_account: &str,
) -> Option<&'a AccountPostMetrics> {
    list.iter()
        .find(|m| m.account_id.as_deref() == Some(partner_account))
        .or_else(|| (list.len() == 1 && list[0].account_id.is_none()).then(|| &list[0]))
}
