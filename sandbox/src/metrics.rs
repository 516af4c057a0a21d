//! Deterministic analytics for the Outstand stand-in. Numbers derive from a hash of the account
//! or platform post id and from how long ago (by the sandbox clock) the account connected or the
//! post went out, so they are stable between runs and grow as time passes.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::posts::Published;
use crate::tokens::after;

/// Views stop growing a week after publishing.
const GROWTH_CAP_MINUTES: i64 = 7 * 24 * 60;

fn seed(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

fn whole_minutes(d: SignedDuration) -> u64 {
    u64::try_from(d.as_mins().clamp(0, GROWTH_CAP_MINUTES)).unwrap_or(0)
}

/// One post's numbers at `at`.
#[derive(Default, Clone, Copy)]
struct PostNumbers {
    views: u64,
    impressions: u64,
    reach: u64,
    likes: u64,
    comments: u64,
    shares: u64,
    reposts: u64,
    quotes: u64,
    saves: u64,
    profile_visits: u64,
    follows: u64,
}

impl PostNumbers {
    fn of(copy: &Published, at: Timestamp) -> Self {
        let s = seed(&copy.platform_post_id);
        let minutes = whole_minutes(at.duration_since(copy.published_at));
        let views = minutes * (2 + s % 8);
        let likes = views / (15 + s % 10);
        Self {
            views,
            impressions: views + views / 3,
            reach: views * 3 / 4,
            likes,
            comments: likes / 5,
            shares: likes / 10,
            reposts: likes / 12,
            quotes: likes / 30,
            saves: likes / 8,
            profile_visits: views / 50,
            follows: views / 200,
        }
    }

    fn engagement_rate(&self) -> f64 {
        if self.impressions == 0 {
            return 0.0;
        }
        let engaged = (self.likes + self.comments + self.shares) as f64;
        (engaged / self.impressions as f64 * 10_000.0).round() / 10_000.0
    }
}

/// `GET /social-accounts/{id}/metrics`, or `None` for an unknown account.
pub(crate) fn account_metrics(
    state: &AppState,
    id: &str,
    since: Option<i64>,
    until: Option<i64>,
    now: Timestamp,
) -> Option<Value> {
    let user = state.tokens().user(id)?.clone();
    let until = until
        .and_then(|s| Timestamp::from_second(s).ok())
        .map_or(now, |u| u.min(now));
    let since = since
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or_else(|| after(until, -30 * 24 * 3600));
    let copies = state.posts().published_on(id, until);
    let s = seed(id);
    let hours =
        u64::try_from(until.duration_since(user.connected_at).as_hours().max(0)).unwrap_or(0);
    let mut total = PostNumbers::default();
    for copy in copies.iter().filter(|c| c.published_at >= since) {
        let n = PostNumbers::of(copy, until);
        total.views += n.views;
        total.likes += n.likes;
        total.comments += n.comments;
        total.shares += n.shares;
        total.reposts += n.reposts;
        total.quotes += n.quotes;
    }
    Some(json!({
        "success": true,
        "data": {
            "account_id": id,
            "network": user.platform.as_str(),
            "followers_count": 100 + s % 900 + hours * (1 + s % 5),
            "following_count": 50 + s % 200,
            "posts_count": copies.len(),
            "engagement": {
                "views": total.views, "likes": total.likes, "comments": total.comments,
                "shares": total.shares, "reposts": total.reposts, "quotes": total.quotes,
            },
            "platform_specific": {},
            "period": {
                "since": since.as_second(),
                "until": until.as_second(),
                "note": "sandbox snapshot derived from the account id and elapsed time",
            },
            "fetched_at": now.to_string(),
        },
    }))
}

/// `GET /posts/{id}/analytics`, or `None` for an unknown post. Accounts the post has not been
/// published to yet are left out (not measurable), as the real API does.
pub(crate) fn post_analytics(state: &AppState, id: &str, now: Timestamp) -> Option<Value> {
    let copies = state.posts().published_copies(id, now)?;
    let mut total = PostNumbers::default();
    let mut rate_sum = 0.0;
    let by_account: Vec<Value> = copies
        .iter()
        .map(|copy| {
            let n = PostNumbers::of(copy, now);
            total.likes += n.likes;
            total.comments += n.comments;
            total.shares += n.shares;
            total.views += n.views;
            total.impressions += n.impressions;
            total.reach += n.reach;
            rate_sum += n.engagement_rate();
            json!({
                "social_account": {
                    "id": copy.target.id,
                    "network": copy.target.network.as_str(),
                    "username": copy.target.username,
                },
                "metrics": {
                    "likes": n.likes, "comments": n.comments, "shares": n.shares,
                    "views": n.views, "impressions": n.impressions, "reach": n.reach,
                    "engagement_rate": n.engagement_rate(),
                },
                "platform_specific": {
                    "saves": n.saves, "profile_visits": n.profile_visits, "follows": n.follows,
                },
            })
        })
        .collect();
    let average = if copies.is_empty() {
        0.0
    } else {
        rate_sum / copies.len() as f64
    };
    Some(json!({
        "success": true,
        "aggregated_metrics": {
            "total_likes": total.likes, "total_comments": total.comments,
            "total_shares": total.shares, "total_views": total.views,
            "total_impressions": total.impressions, "total_reach": total.reach,
            "average_engagement_rate": (average * 10_000.0).round() / 10_000.0,
        },
        "metrics_by_account": by_account,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posts::Target;
    use tenants::Platform;

    #[test]
    fn test_post_numbers_grow_with_time_and_are_deterministic() {
        let copy = Published {
            target: Target {
                id: "acct_x_1".to_owned(),
                network: Platform::X,
                username: "x_user_1".to_owned(),
                name: "X".to_owned(),
            },
            platform_post_id: "1790000000000000001".to_owned(),
            published_at: Timestamp::UNIX_EPOCH,
        };
        let early = PostNumbers::of(&copy, after(Timestamp::UNIX_EPOCH, 3600));
        let later = PostNumbers::of(&copy, after(Timestamp::UNIX_EPOCH, 7200));
        assert!(early.views > 0);
        assert!(later.views > early.views);
        assert_eq!(
            PostNumbers::of(&copy, after(Timestamp::UNIX_EPOCH, 3600)).views,
            early.views
        );
    }
}
