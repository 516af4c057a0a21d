//! What the publishing partner (Outstand) sends back, decoded tolerantly from its JSON: posts with
//! their per-account status, account metrics and post analytics. Token-bearing fields the partner
//! may echo (such as `network_data`) are never decoded, so they can never be stored or logged.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::partner::wire::{as_text, boolean, field, float, instant, text, uint, unwrap_envelope};

/// A post as the partner sees it: the source of truth for reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerPost {
    /// The partner's opaque post id; stored verbatim, never constructed.
    pub id: String,
    /// The partner organization.
    pub org_id: Option<String>,
    /// Set when the first account published.
    pub published_at: Option<Timestamp>,
    /// The scheduled time, `None` for immediate posts.
    pub scheduled_at: Option<Timestamp>,
    /// When the partner created it.
    pub created_at: Option<Timestamp>,
    /// Whether it is a draft.
    pub is_draft: bool,
    /// One entry per targeted account.
    pub social_accounts: Vec<PartnerPostAccount>,
    /// The idempotency key it was created with, when the partner echoes it.
    pub idempotency_key: Option<String>,
}

impl PartnerPost {
    /// The entry for one partner account id, if the partner kept it (unresolvable accounts can be
    /// dropped silently).
    pub fn account(&self, partner_account_id: &str) -> Option<&PartnerPostAccount> {
        self.social_accounts
            .iter()
            .find(|a| a.id == partner_account_id)
    }

    /// Decodes a post object (already out of its envelope).
    pub(crate) fn from_json(v: &Value) -> Option<Self> {
        let id = text(v, &["id", "postId"])?;
        let social_accounts = field(v, &["socialAccounts", "accounts"])
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(PartnerPostAccount::from_json).collect())
            .unwrap_or_default();
        Some(Self {
            id,
            org_id: text(v, &["orgId"]),
            published_at: instant(v, &["publishedAt"]),
            scheduled_at: instant(v, &["scheduledAt"]),
            created_at: instant(v, &["createdAt"]),
            is_draft: boolean(v, &["isDraft"]).unwrap_or(false),
            social_accounts,
            idempotency_key: text(v, &["idempotencyKey"]),
        })
    }

    /// Decodes a `{post}` / `{data}` envelope or a bare post.
    pub(crate) fn from_envelope(body: &Value) -> Option<Self> {
        Self::from_json(unwrap_envelope(body, &["post", "data"]))
    }

    /// Decodes a `{posts}` / `{data}` list envelope.
    pub(crate) fn list_from_envelope(body: &Value) -> Option<Vec<Self>> {
        let list = ["posts", "data"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_array))
            .or_else(|| body.as_array())?;
        Some(list.iter().filter_map(Self::from_json).collect())
    }
}

/// The partner's state of one account's publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerAccountStatus {
    /// Queued at the partner, not yet on the platform.
    Pending,
    /// Live on the platform.
    Published,
    /// The platform refused it; see `error`.
    Failed,
    /// Removed after publishing.
    Deleted,
    /// A status this client does not know, kept verbatim.
    Other(String),
}

impl PartnerAccountStatus {
    fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" | "queued" | "scheduled" | "processing" => Self::Pending,
            "published" | "success" | "posted" => Self::Published,
            "failed" | "error" => Self::Failed,
            "deleted" => Self::Deleted,
            _ => Self::Other(s.chars().take(64).collect()),
        }
    }
}

/// One account's entry in a [`PartnerPost`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPostAccount {
    /// The partner account id.
    pub id: String,
    /// The network (`x`, `instagram`...).
    pub network: Option<String>,
    /// The handle.
    pub username: Option<String>,
    /// Where the publication stands.
    pub status: PartnerAccountStatus,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The platform's id for the published post.
    pub platform_post_id: Option<String>,
    /// The platform's URL for the published post.
    pub platform_post_url: Option<String>,
    /// When it went live.
    pub published_at: Option<Timestamp>,
}

impl PartnerPostAccount {
    fn from_json(v: &Value) -> Option<Self> {
        let id = match v {
            Value::Object(_) => text(v, &["id", "accountId", "socialAccountId"])?,
            other => as_text(other)?,
        };
        let error = field(v, &["error"]).and_then(|e| match e {
            Value::Object(_) => text(e, &["message", "code"]),
            other => as_text(other),
        });
        Some(Self {
            id,
            network: text(v, &["network", "platform"]),
            username: text(v, &["username"]),
            status: text(v, &["status"])
                .map(|s| PartnerAccountStatus::parse(&s))
                .unwrap_or(PartnerAccountStatus::Pending),
            error,
            platform_post_id: text(v, &["platformPostId"]),
            platform_post_url: text(v, &["platformPostUrl"]),
            published_at: instant(v, &["publishedAt"]),
        })
    }
}

/// Engagement counters; `None` where the platform does not report one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    /// Views.
    pub views: Option<u64>,
    /// Likes.
    pub likes: Option<u64>,
    /// Comments or replies.
    pub comments: Option<u64>,
    /// Shares.
    pub shares: Option<u64>,
    /// Reposts.
    pub reposts: Option<u64>,
    /// Quotes.
    pub quotes: Option<u64>,
}

/// An account's metrics over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountMetrics {
    /// The partner account id.
    pub account_id: Option<String>,
    /// The network.
    pub network: Option<String>,
    /// Followers.
    pub followers_count: Option<u64>,
    /// Accounts followed.
    pub following_count: Option<u64>,
    /// Posts on the account.
    pub posts_count: Option<u64>,
    /// Engagement within the period.
    pub engagement: Engagement,
    /// Start of the period.
    pub since: Option<Timestamp>,
    /// End of the period.
    pub until: Option<Timestamp>,
    /// When the partner fetched the numbers.
    pub fetched_at: Option<Timestamp>,
    /// Network-specific extras, verbatim.
    pub platform_specific: Value,
}

impl AccountMetrics {
    pub(crate) fn from_envelope(body: &Value) -> Self {
        let v = unwrap_envelope(body, &["data", "metrics"]);
        let e = field(v, &["engagement"]).unwrap_or(&Value::Null);
        let period = field(v, &["period"]).unwrap_or(&Value::Null);
        Self {
            account_id: text(v, &["accountId", "id"]),
            network: text(v, &["network"]),
            followers_count: uint(v, &["followersCount", "followers"]),
            following_count: uint(v, &["followingCount", "following"]),
            posts_count: uint(v, &["postsCount", "posts"]),
            engagement: Engagement {
                views: uint(e, &["views"]),
                likes: uint(e, &["likes"]),
                comments: uint(e, &["comments", "replies"]),
                shares: uint(e, &["shares"]),
                reposts: uint(e, &["reposts"]),
                quotes: uint(e, &["quotes"]),
            },
            since: instant(period, &["since"]),
            until: instant(period, &["until"]),
            fetched_at: instant(v, &["fetchedAt"]),
            platform_specific: field(v, &["platformSpecific"])
                .cloned()
                .unwrap_or(Value::Null),
        }
    }
}

/// One account's numbers for a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountPostMetrics {
    /// The partner account id.
    pub account_id: Option<String>,
    /// The network.
    pub network: Option<String>,
    /// The handle.
    pub username: Option<String>,
    /// Likes.
    pub likes: Option<u64>,
    /// Comments.
    pub comments: Option<u64>,
    /// Shares.
    pub shares: Option<u64>,
    /// Views.
    pub views: Option<u64>,
    /// Impressions.
    pub impressions: Option<u64>,
    /// Reach.
    pub reach: Option<u64>,
    /// Engagement rate.
    pub engagement_rate: Option<f64>,
}

/// A post's analytics. An empty `by_account` means "not measurable" (post deleted, account
/// disconnected, numbers not populated yet), which is not the same as zeros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostAnalytics {
    /// Total likes over all accounts.
    pub total_likes: Option<u64>,
    /// Total comments.
    pub total_comments: Option<u64>,
    /// Total shares.
    pub total_shares: Option<u64>,
    /// Total views.
    pub total_views: Option<u64>,
    /// Total impressions.
    pub total_impressions: Option<u64>,
    /// Total reach.
    pub total_reach: Option<u64>,
    /// Average engagement rate.
    pub average_engagement_rate: Option<f64>,
    /// Per-account numbers.
    pub by_account: Vec<AccountPostMetrics>,
}

impl PostAnalytics {
    pub(crate) fn from_envelope(body: &Value) -> Self {
        let v = unwrap_envelope(body, &["data", "analytics"]);
        let agg = field(v, &["aggregatedMetrics", "aggregated"]).unwrap_or(&Value::Null);
        let by_account = field(v, &["metricsByAccount", "byAccount"])
            .and_then(Value::as_array)
            .map(|list| list.iter().map(Self::account).collect())
            .unwrap_or_default();
        Self {
            total_likes: uint(agg, &["totalLikes"]),
            total_comments: uint(agg, &["totalComments"]),
            total_shares: uint(agg, &["totalShares"]),
            total_views: uint(agg, &["totalViews"]),
            total_impressions: uint(agg, &["totalImpressions"]),
            total_reach: uint(agg, &["totalReach"]),
            average_engagement_rate: float(agg, &["averageEngagementRate"]),
            by_account,
        }
    }

    fn account(v: &Value) -> AccountPostMetrics {
        let acct = field(v, &["socialAccount", "account"]).unwrap_or(&Value::Null);
        let m = field(v, &["metrics"]).unwrap_or(&Value::Null);
        AccountPostMetrics {
            account_id: text(acct, &["id"]),
            network: text(acct, &["network"]),
            username: text(acct, &["username"]),
            likes: uint(m, &["likes"]),
            comments: uint(m, &["comments"]),
            shares: uint(m, &["shares"]),
            views: uint(m, &["views"]),
            impressions: uint(m, &["impressions"]),
            reach: uint(m, &["reach"]),
            engagement_rate: float(m, &["engagementRate"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_post_decodes_from_camel_case_post_envelope() {
        let body = json!({"success":true,"post":{"id":"9dyJS","orgId":"abc","publishedAt":null,
            "scheduledAt":null,"isDraft":false,"createdAt":"2026-01-01T00:00:00Z",
            "socialAccounts":[{"id":"acc1","network":"x","username":"u","status":"published",
            "error":null,"platformPostId":"123","publishedAt":"2026-01-01T00:00:02Z",
            "network_data":{"access_token":"secret"}}]}});
        let post = PartnerPost::from_envelope(&body).expect("post");
        assert_eq!(post.id, "9dyJS");
        let acct = post.account("acc1").expect("account kept");
        assert_eq!(acct.status, PartnerAccountStatus::Published);
        assert_eq!(acct.platform_post_id.as_deref(), Some("123"));
        assert!(!format!("{post:?}").contains("secret"));
    }

    #[test]
    fn test_post_decodes_from_snake_case_data_envelope_with_numeric_ids() {
        let body = json!({"success":true,"data":{"id":42,"org_id":7,"is_draft":0,
            "social_accounts":[{"account_id":99,"status":"failed","error":{"message":"too long"}}]}});
        let post = PartnerPost::from_envelope(&body).expect("post");
        assert_eq!(post.id, "42");
        assert_eq!(post.org_id.as_deref(), Some("7"));
        let acct = post.account("99").expect("account");
        assert_eq!(acct.status, PartnerAccountStatus::Failed);
        assert_eq!(acct.error.as_deref(), Some("too long"));
    }

    #[test]
    fn test_post_list_reads_posts_or_data_key() {
        let a = json!({"success":true,"posts":[{"id":"a"}],"pagination":{"total":1}});
        let b = json!({"success":true,"data":[{"id":"b"},{"no_id":true}]});
        assert_eq!(
            PartnerPost::list_from_envelope(&a).expect("list")[0].id,
            "a"
        );
        assert_eq!(PartnerPost::list_from_envelope(&b).expect("list").len(), 1);
        assert!(PartnerPost::list_from_envelope(&json!({"success":true})).is_none());
    }

    #[test]
    fn test_metrics_and_analytics_decode_documented_shapes() {
        let m = AccountMetrics::from_envelope(&json!({"success":true,"data":{"account_id":"9dyJS",
            "network":"tiktok","followers_count":10000,"engagement":{"views":15000,"likes":500},
            "period":{"since":1704067200,"until":1706745600},"fetched_at":"2025-01-15T10:30:00Z"}}));
        assert_eq!(m.followers_count, Some(10000));
        assert_eq!(m.engagement.views, Some(15000));
        assert_eq!(
            m.since,
            Some(Timestamp::from_second(1_704_067_200).expect("valid"))
        );
        let a = PostAnalytics::from_envelope(&json!({"aggregated_metrics":{"total_likes":3,
            "average_engagement_rate":0.5},"metrics_by_account":[{"social_account":{"id":"x1",
            "network":"instagram"},"metrics":{"likes":3,"engagement_rate":0.5}}]}));
        assert_eq!(a.total_likes, Some(3));
        assert_eq!(a.by_account[0].account_id.as_deref(), Some("x1"));
        assert_eq!(a.by_account[0].engagement_rate, Some(0.5));
    }
}
