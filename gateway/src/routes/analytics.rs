//! Analytics read from the stored time series: `GET .../posts/{id}/analytics` (every pull of
//! the post, per account), `GET .../accounts/{id}/analytics?from=&to=&granularity=day|week|month`
//! (account samples summed per period) and `GET .../analytics/summary?from=&to=` (totals and top
//! posts per platform). A metric the platform does not report is `null`, never 0.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use schema::{MetricSample, Metrics, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenants::{AccountId, PostId};

use crate::auth::WorkspaceAccess;
use crate::error::ApiError;
use crate::extract::parse_id;
use crate::state::AppState;

/// The analytics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspaces/{ws}/posts/{id}/analytics",
            get(post_analytics),
        )
        .route(
            "/v1/workspaces/{ws}/accounts/{id}/analytics",
            get(account_analytics),
        )
        .route("/v1/workspaces/{ws}/analytics/summary", get(summary))
}

/// `?from=&to=&granularity=`.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    /// Start (RFC 3339), default 30 days before `to`.
    pub from: Option<String>,
    /// End (RFC 3339, exclusive), default now.
    pub to: Option<String>,
    /// `day` (default), `week` or `month`.
    pub granularity: Option<String>,
}

fn range(state: &AppState, q: &RangeQuery) -> Result<(Timestamp, Timestamp), ApiError> {
    let parse = |name: &str, raw: &Option<String>| -> Result<Option<Timestamp>, ApiError> {
        raw.as_deref()
            .map(|s| s.parse::<Timestamp>())
            .transpose()
            .map_err(|_| ApiError::invalid_field(name, "not an RFC 3339 time"))
    };
    let to = parse("to", &q.to)?.unwrap_or_else(|| state.clock.now());
    let from = parse("from", &q.from)?.unwrap_or(to - SignedDuration::from_hours(30 * 24));
    if from >= to {
        return Err(ApiError::invalid_field("from", "must be before `to`"));
    }
    Ok((from, to))
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

/// Sums engagement over samples; `followers` is the latest known value.
fn total<'a>(samples: impl IntoIterator<Item = &'a MetricSample>) -> Metrics {
    samples.into_iter().fold(Metrics::default(), |t, s| {
        let m = &s.metrics;
        Metrics {
            impressions: add(t.impressions, m.impressions),
            reach: add(t.reach, m.reach),
            likes: add(t.likes, m.likes),
            comments: add(t.comments, m.comments),
            shares: add(t.shares, m.shares),
            saves: add(t.saves, m.saves),
            clicks: add(t.clicks, m.clicks),
            video_views: add(t.video_views, m.video_views),
            followers: m.followers.or(t.followers),
        }
    })
}

fn sample_view(s: &MetricSample) -> Value {
    json!({"account_id": s.account_id, "post_id": s.post_id, "platform": s.platform,
           "at": s.at.to_string(), "metrics": s.metrics, "raw": s.raw})
}

fn period_start(at: Timestamp, granularity: &str) -> String {
    let date = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    match granularity {
        "month" => date.first_of_month().to_string(),
        "week" => {
            let back = i64::from(date.weekday().to_monday_zero_offset());
            (date - jiff::Span::new().days(back)).to_string()
        }
        _ => date.to_string(),
    }
}

/// Every pull of a post's metrics, oldest first, and the latest per account.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/posts/{id}/analytics", tag = "analytics",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Post id")),
    responses(
        (status = 200, description = "`{post_id, latest, samples}`: every pull, oldest first, and the latest per account; a metric the platform does not report is null", body = Object),
        (status = 404, body = crate::error::Problem)))]
pub async fn post_analytics(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let post_id: PostId = parse_id(&ids.1, "post")?;
    if state.store.get_post(access.scope, post_id).await?.is_none() {
        return Err(ApiError::NotFound("post not found".into()));
    }
    let samples = state.store.list_post_metrics(access.scope, post_id).await?;
    let mut latest: BTreeMap<AccountId, &MetricSample> = BTreeMap::new();
    for s in &samples {
        latest.insert(s.account_id, s);
    }
    Ok(Json(json!({
        "post_id": post_id,
        "latest": latest.values().map(|s| sample_view(s)).collect::<Vec<_>>(),
        "samples": samples.iter().map(sample_view).collect::<Vec<_>>(),
    })))
}

/// An account's metrics per day, week or month.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/accounts/{id}/analytics", tag = "analytics",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Account id"),
        ("from" = Option<String>, Query, description = "Start (RFC 3339); default 30 days before `to`"),
        ("to" = Option<String>, Query, description = "End (RFC 3339, exclusive); default now"),
        ("granularity" = Option<String>, Query, description = "`day` (default), `week` or `month`")),
    responses(
        (status = 200, description = "`{account_id, from, to, granularity, items: [{period_start, num_samples, metrics}]}`", body = Object),
        (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn account_analytics(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Path(ids): Path<(String, String)>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    let account_id: AccountId = parse_id(&ids.1, "account")?;
    let granularity = q.granularity.as_deref().unwrap_or("day");
    if !matches!(granularity, "day" | "week" | "month") {
        return Err(ApiError::invalid_field(
            "granularity",
            "use day, week or month",
        ));
    }
    let (from, to) = range(&state, &q)?;
    let scope = access.scope.account(account_id);
    if state.store.get_account(scope).await?.is_none() {
        return Err(ApiError::NotFound("account not found".into()));
    }
    let samples = state.store.list_account_metrics(scope, from, to).await?;
    let mut periods: BTreeMap<String, Vec<&MetricSample>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.post_id.is_none()) {
        periods
            .entry(period_start(s.at, granularity))
            .or_default()
            .push(s);
    }
    let items: Vec<Value> = periods
        .into_iter()
        .map(|(start, list)| json!({"period_start": start, "num_samples": list.len(), "metrics": total(list)}))
        .collect();
    Ok(Json(
        json!({"account_id": account_id, "from": from.to_string(), "to": to.to_string(),
        "granularity": granularity, "items": items}),
    ))
}

/// Per platform: totals of the account samples in range and the top posts by engagement.
#[derive(Debug, Serialize)]
struct PlatformSummary {
    totals: Metrics,
    top_posts: Vec<Value>,
}

/// Totals and top posts per platform over a range.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/analytics/summary", tag = "analytics",
    params(("ws" = String, Path, description = "Workspace id"),
        ("from" = Option<String>, Query, description = "Start (RFC 3339); default 30 days before `to`"),
        ("to" = Option<String>, Query, description = "End (RFC 3339, exclusive); default now")),
    responses(
        (status = 200, description = "`{from, to, platforms: {<platform>: {totals, top_posts}}}`", body = Object),
        (status = 422, body = crate::error::Problem)))]
pub async fn summary(
    State(state): State<AppState>,
    access: WorkspaceAccess,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = range(&state, &q)?;
    let mut samples = Vec::new();
    let mut page = PageRequest::first(200);
    loop {
        let accounts = state
            .store
            .list_accounts(access.scope, page.clone())
            .await?;
        for a in &accounts.items {
            let scope = access.scope.account(a.id);
            samples.extend(state.store.list_account_metrics(scope, from, to).await?);
        }
        match accounts.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let mut out: BTreeMap<String, PlatformSummary> = BTreeMap::new();
    let platforms: Vec<String> = samples.iter().map(|s| s.platform.to_string()).collect();
    for p in platforms {
        let of = |s: &&MetricSample| s.platform.to_string() == p;
        let totals = total(samples.iter().filter(of).filter(|s| s.post_id.is_none()));
        let mut latest: BTreeMap<(PostId, AccountId), &MetricSample> = BTreeMap::new();
        for s in samples.iter().filter(of) {
            if let Some(post) = s.post_id {
                latest.insert((post, s.account_id), s);
            }
        }
        let score = |s: &MetricSample| {
            let m = &s.metrics;
            [m.likes, m.comments, m.shares, m.saves]
                .iter()
                .flatten()
                .sum::<u64>()
        };
        let mut top: Vec<&MetricSample> = latest.into_values().collect();
        top.sort_by_key(|s| std::cmp::Reverse(score(s)));
        top.truncate(5);
        let top_posts = top.into_iter().map(sample_view).collect();
        out.insert(p, PlatformSummary { totals, top_posts });
    }
    Ok(Json(
        json!({"from": from.to_string(), "to": to.to_string(), "platforms": out}),
    ))
}
