//! The analytics share of an erasure: a [`PurgeHook`] that deletes an erased workspace's pull
//! jobs and metric samples (account and post series). The engine runs it in every purge pass on
//! its own.

use std::sync::Arc;

use async_trait::async_trait;
use schema::{Store, WorkspaceScope};

use crate::error::EngineError;
use crate::purge::PurgeHook;

/// Rows deleted per store call.
const ROWS_PER_CALL: usize = 1000;

/// Deletes an erased workspace's pull jobs and metric samples.
#[derive(Clone)]
pub struct AnalyticsPurge {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for AnalyticsPurge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsPurge").finish_non_exhaustive()
    }
}

impl AnalyticsPurge {
    /// A purger over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl PurgeHook for AnalyticsPurge {
    fn name(&self) -> &'static str {
        "analytics"
    }

    async fn purge_workspace(&self, scope: WorkspaceScope) -> Result<u64, EngineError> {
        let mut num = 0;
        loop {
            let progress = self
                .store
                .purge_analytics_jobs(scope, ROWS_PER_CALL)
                .await?;
            num += progress.num_deleted;
            if progress.done {
                break;
            }
        }
        loop {
            let progress = self.store.purge_metrics(scope, ROWS_PER_CALL).await?;
            num += progress.num_deleted;
            if progress.done {
                return Ok(num);
            }
        }
    }
}
