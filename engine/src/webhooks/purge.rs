//! The webhook subsystem's share of an erasure: a [`PurgeHook`] that deletes an erased
//! workspace's endpoints, outbox, due-index rows of pending messages and attempt log, and the
//! routes of its partner account ids. The engine runs it in every purge pass on its own
//! (webhooks are engine-owned), before the workspace's own rows go.

use std::sync::Arc;

use async_trait::async_trait;
use schema::{PageRequest, Store, WorkspaceScope};

use crate::error::EngineError;
use crate::purge::PurgeHook;

/// Rows deleted per store call.
const ROWS_PER_CALL: usize = 1000;

/// Deletes an erased workspace's webhook rows.
#[derive(Clone)]
pub struct WebhookPurge {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for WebhookPurge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookPurge").finish_non_exhaustive()
    }
}

impl WebhookPurge {
    /// A purger over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Deletes the partner-account routes that point into the workspace; runs while its
    /// accounts still exist (hooks run before the workspace's own rows are purged).
    async fn purge_partner_refs(&self, scope: WorkspaceScope) -> Result<u64, EngineError> {
        let mut num = 0;
        let mut page = PageRequest::first(500);
        loop {
            let accounts = self.store.list_accounts(scope, page.clone()).await?;
            for partner_id in accounts
                .items
                .iter()
                .filter_map(|a| a.partner_account_id.as_deref())
            {
                let route = self.store.get_partner_account_ref(partner_id).await?;
                // The same partner account may since route to another workspace: leave it.
                if route.is_some_and(|(ws, _)| ws == scope.workspace_id()) {
                    self.store.delete_partner_account_ref(partner_id).await?;
                    num += 1;
                }
            }
            match accounts.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(num),
            }
        }
    }
}

#[async_trait]
impl PurgeHook for WebhookPurge {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    async fn purge_workspace(&self, scope: WorkspaceScope) -> Result<u64, EngineError> {
        let mut num = self.purge_partner_refs(scope).await?;
        loop {
            let progress = self.store.purge_webhooks(scope, ROWS_PER_CALL).await?;
            num += progress.num_deleted;
            if progress.done {
                return Ok(num);
            }
        }
    }
}
