//! Posts: one piece of content aimed at one or more accounts. Each target becomes a
//! [`crate::delivery::Delivery`].

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::delivery::DeliveryState;
use crate::ids::{AccountId, MediaId, PostId, UserId, WorkspaceId};
use crate::platform::Platform;

/// The lifecycle of a post as a whole, derived from its deliveries once it is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Not scheduled; no deliveries run.
    Draft,
    /// Waiting for its time.
    Scheduled,
    /// At least one delivery is being submitted or awaits confirmation.
    Publishing,
    /// Every delivery published.
    Published,
    /// Some deliveries published, others failed or were canceled.
    PartiallyPublished,
    /// No delivery published and none can any more.
    Failed,
    /// Canceled before anything published.
    Canceled,
}

/// A per-platform override of the post's content.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Caption used on this platform instead of the post's caption.
    pub caption: Option<String>,
}

/// A post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// The post's id.
    pub id: PostId,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// The caption.
    pub caption: String,
    /// Per-platform overrides.
    pub variants: BTreeMap<Platform, Variant>,
    /// Attached media.
    pub media_ids: Vec<MediaId>,
    /// Public media URLs given directly (CSV import).
    pub media_urls: Vec<String>,
    /// A first comment to publish under the post, where the platform allows.
    pub first_comment: Option<String>,
    /// The accounts the post goes to.
    pub account_ids: Vec<AccountId>,
    /// Overall status.
    pub status: PostStatus,
    /// When it is due, in UTC. `None` for a draft without a time.
    pub scheduled_at: Option<Timestamp>,
    /// The IANA zone the user scheduled in, echoed back with times.
    pub timezone: String,
    /// The caller's own id for the post (CSV `external_id`), unique per workspace.
    pub external_id: Option<String>,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Post {
    /// The caption to publish on `platform`: its variant's, or the post's own.
    pub fn caption_for(&self, platform: Platform) -> &str {
        self.variants
            .get(&platform)
            .and_then(|v| v.caption.as_deref())
            .unwrap_or(&self.caption)
    }
}

/// Derives a scheduled post's overall status from the states of its deliveries.
///
/// Drafts are not derived: the caller keeps `Draft` as is.
pub fn post_status_from(states: &[DeliveryState]) -> PostStatus {
    use DeliveryState as D;
    if states.is_empty() {
        return PostStatus::Scheduled;
    }
    let published = states.iter().filter(|s| **s == D::Published).count();
    let canceled = states.iter().filter(|s| **s == D::Canceled).count();
    let failed = states.iter().filter(|s| **s == D::Failed).count();
    let terminal = published + canceled + failed;
    if terminal < states.len() {
        let in_flight = states
            .iter()
            .any(|s| matches!(s, D::Submitting | D::Unconfirmed));
        return if in_flight || published > 0 {
            PostStatus::Publishing
        } else {
            PostStatus::Scheduled
        };
    }
    match (published, failed, canceled) {
        (p, 0, 0) if p == states.len() => PostStatus::Published,
        (0, 0, _) => PostStatus::Canceled,
        (0, _, _) => PostStatus::Failed,
        _ => PostStatus::PartiallyPublished,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryState as D;

    #[test]
    fn test_all_published_is_published() {
        assert_eq!(
            post_status_from(&[D::Published, D::Published]),
            PostStatus::Published
        );
    }

    #[test]
    fn test_some_published_some_failed_is_partially_published() {
        assert_eq!(
            post_status_from(&[D::Published, D::Failed]),
            PostStatus::PartiallyPublished
        );
        assert_eq!(
            post_status_from(&[D::Published, D::Canceled]),
            PostStatus::PartiallyPublished
        );
    }

    #[test]
    fn test_nothing_published_and_a_failure_is_failed() {
        assert_eq!(
            post_status_from(&[D::Failed, D::Canceled]),
            PostStatus::Failed
        );
        assert_eq!(post_status_from(&[D::Failed]), PostStatus::Failed);
    }

    #[test]
    fn test_all_canceled_is_canceled() {
        assert_eq!(
            post_status_from(&[D::Canceled, D::Canceled]),
            PostStatus::Canceled
        );
    }

    #[test]
    fn test_in_flight_or_partly_done_is_publishing() {
        assert_eq!(
            post_status_from(&[D::Scheduled, D::Submitting]),
            PostStatus::Publishing
        );
        assert_eq!(
            post_status_from(&[D::Unconfirmed, D::Published]),
            PostStatus::Publishing
        );
        assert_eq!(
            post_status_from(&[D::Published, D::Scheduled]),
            PostStatus::Publishing
        );
    }

    #[test]
    fn test_waiting_deliveries_are_scheduled() {
        assert_eq!(post_status_from(&[]), PostStatus::Scheduled);
        assert_eq!(
            post_status_from(&[D::Scheduled, D::Held]),
            PostStatus::Scheduled
        );
        assert_eq!(
            post_status_from(&[D::Held, D::Failed]),
            PostStatus::Scheduled
        );
    }

    #[test]
    fn test_caption_for_prefers_variant() {
        let mut variants = BTreeMap::new();
        variants.insert(
            Platform::X,
            Variant {
                caption: Some("short".into()),
            },
        );
        let now: Timestamp = "2026-05-01T00:00:00Z".parse().unwrap();
        let post = Post {
            id: PostId::new(),
            workspace_id: WorkspaceId::new(),
            caption: "long caption".into(),
            variants,
            media_ids: vec![],
            media_urls: vec![],
            first_comment: None,
            account_ids: vec![],
            status: PostStatus::Draft,
            scheduled_at: None,
            timezone: "UTC".into(),
            external_id: None,
            created_by: None,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(post.caption_for(Platform::X), "short");
        assert_eq!(post.caption_for(Platform::Linkedin), "long caption");
    }
}
