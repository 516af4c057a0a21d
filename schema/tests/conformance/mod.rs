//! The one conformance suite every store backend must pass. Each case takes a migrated store and
//! uses fresh ids, so cases can share one store (ScyllaDB keyspace) and run in any order.
//!
//! `for_each_case!(callback)` expands `callback!(case, ...)` with every case name, so each backend's
//! test file generates its tests from the same list.

#![allow(dead_code)]

mod erasure;
mod events;
pub mod fixtures;
mod identity;
mod imports;
mod post_batch;
mod posts;
mod privacy;
mod privacy_purge;
mod races;
mod tenancy;
mod webhooks;

use std::sync::Arc;

use schema::{Page, PageRequest, Store, StoreResult};

pub use erasure::*;
pub use events::*;
pub use identity::*;
pub use imports::*;
pub use post_batch::*;
pub use posts::*;
pub use privacy::*;
pub use privacy_purge::*;
pub use races::*;
pub use tenancy::*;
pub use webhooks::*;

/// The store under test.
pub type DynStore = Arc<dyn Store>;

/// Calls `$callback!` with the name of every case.
#[macro_export]
macro_rules! for_each_case {
    ($callback:ident) => {
        $callback!(
            test_meta_reports_current_schema,
            test_users_crud_and_subject_lookup,
            test_users_listing_pages_through_everyone,
            test_workspaces_and_memberships_crud,
            test_api_keys_crud_touch_count,
            test_accounts_tokens_data_keys_media_crud,
            test_sessions_expire_and_delete,
            test_posts_newest_first_with_cursor,
            test_posts_filters,
            test_posts_external_id_update_and_delete,
            test_posts_and_deliveries_read_several_at_once,
            test_create_posts_writes_each_external_id_once,
            test_create_posts_race_has_one_winner_per_external_id,
            test_account_due_in_due_order_across_days,
            test_due_in_bucket_pages_in_due_order,
            test_transition_compare_and_set,
            test_transition_many_settles_each_move_on_its_own,
            test_transition_race_has_one_winner,
            test_account_publishes_list_what_became_published,
            test_idempotency_claim_complete_release,
            test_idempotency_claim_race_has_one_winner,
            test_idempotency_expired_record_is_not_returned,
            test_create_data_key_keeps_the_first,
            test_scope_isolation_on_every_read,
            test_scoped_writes_refuse_foreign_rows,
            test_cursors_are_bound_to_their_partition,
            test_revoke_retries_upsert_and_page_by_workspace,
            test_purge_workspace_leaves_nothing_and_spares_others,
            test_erasure_ledger_and_user_delete,
            test_audit_entries_list_in_time_order_across_days_with_filters,
            test_audit_entries_without_workspace_go_to_the_actor,
            test_export_jobs_and_notices_round_trip,
            test_deleting_audit_removes_the_window_and_spares_others,
            test_export_jobs_list_in_id_order_and_delete_one_by_one,
            test_import_jobs_update_list_newest_first_and_expire,
            test_webhook_endpoints_outbox_and_attempts,
            test_metric_samples_by_month_and_post_keep_nulls,
            test_purge_webhooks_and_metrics_leaves_nothing_and_spares_others,
            test_event_log_reads_a_bucket_in_id_order_after_a_cursor,
            test_event_log_appends_a_batch_with_an_id_each,
            test_event_cursors_round_trip_per_consumer,
            test_post_update_and_its_event_commit_together,
            test_post_updates_and_their_events_commit_in_one_call,
            test_webhook_due_between_reads_only_rows_after_the_resume_point,
            test_purge_analytics_jobs_deletes_the_erased_workspaces_jobs_only
        );
    };
}

/// Collects every item by walking pages of `limit` until the cursor runs out.
pub async fn walk<T, F, Fut>(limit: usize, mut next: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Page<T>>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page = next(PageRequest {
            cursor: cursor.clone(),
            limit,
        })
        .await
        .expect("page");
        assert!(page.items.len() <= limit, "page larger than its limit");
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("paging did not terminate");
}
