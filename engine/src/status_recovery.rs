//! Start-up recovery of post statuses. A delivery's terminal transition is durable, but the
//! post's status (and its `post.published` / `post.failed`... event, logged in the same commit as
//! the status) is recomputed afterwards by the workspace actor, from an in-memory mark. A crash
//! in between would leave the post's status, and its webhook, behind for good. At start-up this
//! pass reads the due index over the last day (up to now) and asks each workspace to recompute
//! the posts found there; a post whose status is already right is not written again and emits
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use schema::WorkspaceScope;
use tenants::{PostId, WorkspaceId};

use crate::context::Ctx;
use crate::engine::RootHandle;
use crate::error::EngineError;
use crate::workspace::WorkspaceMsg;

/// How far back the pass looks (at least the periodic sweep's lookback).
const LOOKBACK: SignedDuration = SignedDuration::from_hours(24);

/// Asks every workspace to recompute the status of each post with a delivery due in the last
/// day. Returns how many posts were queued.
///
/// # Errors
/// Store failures.
pub async fn recover_post_statuses(ctx: &Ctx, root: &RootHandle) -> Result<usize, EngineError> {
    let now = ctx.now();
    let from = now - LOOKBACK.max(ctx.tuning.sweep_lookback);
    let mut posts: BTreeMap<WorkspaceId, BTreeSet<PostId>> = BTreeMap::new();
    crate::scheduler::for_each_due_row(ctx, from, now, |r| {
        posts.entry(r.workspace_id).or_default().insert(r.post_id);
    })
    .await?;
    let mut num = 0;
    for (ws, ids) in posts {
        let Ok(handle) = root.workspace(WorkspaceScope::authorized(ws)).await else {
            continue;
        };
        for post_id in ids {
            num += 1;
            handle.send(WorkspaceMsg::PostChanged { post_id });
        }
    }
    tracing::info!(num_posts = num, "post status recovery queued posts");
    Ok(num)
}
