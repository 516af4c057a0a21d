//! The delivery part of the `Store` traits: reads by post and by due time, the due index's rows,
//! and compare-and-set transitions.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{AccountId, Delivery, DeliveryId, PostId, WorkspaceId};

use crate::error::StoreResult;
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{Page, PageRequest};

/// A row of the due index: a delivery that needs attention at `due_at`.
///
/// Index rows are never deleted when a delivery moves on (that would be a delete-based queue);
/// readers load the delivery and skip rows whose `due_at` or state no longer match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueRef {
    /// When the delivery is due.
    pub due_at: Timestamp,
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its account.
    pub account_id: AccountId,
    /// Its post.
    pub post_id: PostId,
}

/// The outcome of a compare-and-set on a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum CasOutcome {
    /// The write was applied.
    Applied,
    /// Someone else moved the delivery first; this is what is stored now (`None` if it is gone).
    Conflict(Option<Box<Delivery>>),
}

/// Deliveries: reads by post and by due time, and compare-and-set transitions.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Reads one delivery.
    async fn get_delivery(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>>;
    /// A post's deliveries, in id order.
    async fn list_deliveries_of_post(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
    ) -> StoreResult<Vec<Delivery>>;
    /// Reads several deliveries, given as (post, delivery) ids, one answer per pair, in order.
    /// The default runs [`DeliveryStore::get_delivery`] for each, all at once; the embedded
    /// store reads them in one transaction.
    ///
    /// # Errors
    /// Backend failures.
    async fn get_deliveries(
        &self,
        scope: WorkspaceScope,
        ids: &[(PostId, DeliveryId)],
    ) -> StoreResult<Vec<Option<Delivery>>> {
        futures::future::try_join_all(
            ids.iter()
                .map(|(post_id, id)| self.get_delivery(scope, *post_id, *id)),
        )
        .await
    }
    /// The deliveries of several posts, one list per post, in order. The default runs
    /// [`DeliveryStore::list_deliveries_of_post`] for each, all at once; the embedded store
    /// reads them in one transaction.
    ///
    /// # Errors
    /// Backend failures.
    async fn list_deliveries_of_posts(
        &self,
        scope: WorkspaceScope,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<Vec<Delivery>>> {
        futures::future::try_join_all(
            post_ids
                .iter()
                .map(|id| self.list_deliveries_of_post(scope, *id)),
        )
        .await
    }
    /// The account's due-index rows with `from <= due_at < to`, in due order, at most `limit`.
    async fn account_due(
        &self,
        scope: AccountScope,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<DueRef>>;
    /// When the account's deliveries became `published`, from `since` on, oldest first: what
    /// its platform quota has used. Written by [`DeliveryStore::transition`] into `published`
    /// and kept 48 hours, longer than any platform's quota window.
    async fn account_publishes(
        &self,
        scope: AccountScope,
        since: Timestamp,
    ) -> StoreResult<Vec<Timestamp>>;
    /// The due-index rows of one (shard, hour bucket), in due order, paged.
    async fn due_in_bucket(
        &self,
        shard: u16,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<DueRef>>;
    /// Replaces `next` if the stored delivery still has `expected_version`; on success also
    /// writes a due-index row for `next.due_at` when `next` is not terminal.
    async fn transition(
        &self,
        scope: AccountScope,
        expected_version: u64,
        next: &Delivery,
    ) -> StoreResult<CasOutcome>;
    /// [`DeliveryStore::transition`] for several distinct deliveries of one account, each on
    /// its own expected version; one outcome per move, in order. Each compare-and-set wins or
    /// loses on its own. A backend may commit them together: the embedded store does, so an
    /// account that publishes a burst pays one commit for it instead of one per delivery.
    async fn transition_many(
        &self,
        scope: AccountScope,
        moves: &[(u64, Delivery)],
    ) -> Vec<StoreResult<CasOutcome>> {
        futures::future::join_all(
            moves
                .iter()
                .map(|(expected, next)| self.transition(scope, *expected, next)),
        )
        .await
    }
}
