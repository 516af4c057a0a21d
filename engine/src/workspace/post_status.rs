//! Post status upkeep for the workspace actor. Account actors report a delivery that reached a
//! terminal state with `PostChanged`; the workspace marks the post dirty and queues one
//! `FlushPosts` behind the messages already in its mailbox, so every change reported meanwhile is
//! written in the same flush. A flush reads the dirty posts and their deliveries in two store
//! calls (one read transaction each on the embedded store), recomputes them and writes the
//! changed ones, each with the event reporting it, in one more (one commit). Flushes never
//! overlap (the actor runs one at a time), so a post's status is never overwritten by an older
//! computation.

use std::collections::HashSet;

use schema::WorkspaceScope;
use tenants::{Delivery, Post, PostId, PostStatus, post_status_from};

use crate::context::Ctx;
use crate::events::{EngineEvent, EventKind};

/// The most posts recomputed in one flush; the rest wait for the next one.
const MAX_FLUSH: usize = 512;

/// Posts whose status must be recomputed, and whether a flush is already queued.
#[derive(Debug, Default)]
pub struct DirtyPosts {
    posts: HashSet<PostId>,
    flush_queued: bool,
}

impl DirtyPosts {
    /// Marks a post dirty. `true` when the caller must queue a flush (none is queued yet).
    pub fn mark(&mut self, post_id: PostId) -> bool {
        self.posts.insert(post_id);
        !std::mem::replace(&mut self.flush_queued, true)
    }

    /// Recomputes up to [`MAX_FLUSH`] dirty posts. `true` when some are left and another flush
    /// must be queued (then it counts as queued).
    pub async fn flush(&mut self, ctx: &Ctx, scope: WorkspaceScope) -> bool {
        self.flush_queued = false;
        let batch: Vec<PostId> = if self.posts.len() <= MAX_FLUSH {
            self.posts.drain().collect()
        } else {
            let some: Vec<PostId> = self.posts.iter().take(MAX_FLUSH).copied().collect();
            for id in &some {
                self.posts.remove(id);
            }
            some
        };
        let read = tokio::try_join!(
            ctx.store.get_posts(scope, &batch),
            ctx.store.list_deliveries_of_posts(scope, &batch),
        );
        let (posts, deliveries) = match read {
            Ok(read) => read,
            Err(e) => {
                for post_id in &batch {
                    warn_failed(scope, *post_id, &e);
                }
                self.flush_queued = !self.posts.is_empty();
                return self.flush_queued;
            }
        };
        let mut logged = Vec::with_capacity(batch.len());
        let mut unlogged = Vec::new();
        for (post, deliveries) in posts.into_iter().zip(deliveries) {
            let Some(Change { post, event }) =
                post.and_then(|p| recompute(ctx, scope, p, &deliveries))
            else {
                continue;
            };
            match event {
                Some(e) => logged.push((post, e)),
                None => unlogged.push(post),
            }
        }
        // Concurrent, so the embedded store's writer commits them together rather than one
        // durable commit after the other (a multi-account post turns `publishing` this way).
        let written = futures::future::join_all(
            unlogged
                .iter()
                .map(|post| ctx.store.update_post(scope, post)),
        );
        let ((), written) = tokio::join!(write_logged(ctx, scope, logged), written);
        for (post, outcome) in unlogged.iter().zip(written) {
            if let Err(e) = outcome {
                warn_failed(scope, post.id, &e);
            }
        }
        self.flush_queued = !self.posts.is_empty();
        self.flush_queued
    }

    /// Flushes everything still dirty (shutdown).
    pub async fn flush_all(&mut self, ctx: &Ctx, scope: WorkspaceScope) {
        while self.flush(ctx, scope).await {}
        self.flush_queued = false;
    }
}

/// A post whose status changed, and the event reporting it (none for a change webhooks do not
/// report).
struct Change {
    post: Post,
    event: Option<EngineEvent>,
}

fn warn_failed(scope: WorkspaceScope, post_id: PostId, e: &dyn std::fmt::Display) {
    tracing::warn!(workspace_id = %scope.workspace_id(), post_id = %post_id, error = %e,
        "post status update failed");
}

/// Recomputes a post's status from its deliveries; `Some` when it changed.
fn recompute(
    ctx: &Ctx,
    scope: WorkspaceScope,
    mut post: Post,
    deliveries: &[Delivery],
) -> Option<Change> {
    if post.status == PostStatus::Draft {
        return None;
    }
    let states: Vec<_> = deliveries.iter().map(|d| d.state).collect();
    let status = post_status_from(&states);
    if status == post.status {
        return None;
    }
    post.status = status;
    post.updated_at = ctx.now();
    let kind = match status {
        PostStatus::Published => EventKind::PostPublished,
        PostStatus::PartiallyPublished => EventKind::PostPartiallyPublished,
        PostStatus::Failed => EventKind::PostFailed,
        PostStatus::Canceled => EventKind::PostCanceled,
        _ => return Some(Change { post, event: None }),
    };
    let reason = deliveries
        .iter()
        .filter_map(|d| {
            d.last_error
                .as_ref()
                .filter(|_| d.state == tenants::DeliveryState::Failed)
        })
        .map(|e| format!("{}: {}", e.code, e.message))
        .next();
    let event = EngineEvent {
        kind,
        workspace_id: scope.workspace_id(),
        post_id: Some(post.id),
        account_id: None,
        reason,
        at: post.updated_at,
    };
    Some(Change {
        post,
        event: Some(event),
    })
}

/// Stores the new statuses with the events reporting them, each status and its event together
/// (a crash cannot keep one without the other), then emits the events that were stored.
async fn write_logged(ctx: &Ctx, scope: WorkspaceScope, changes: Vec<(Post, EngineEvent)>) {
    if changes.is_empty() {
        return;
    }
    let rows: Vec<_> = changes
        .iter()
        .map(|(post, e)| (post.clone(), crate::event_log::logged(e)))
        .collect();
    let stored = ctx.store.update_posts_logged(scope, &rows).await;
    for ((post, event), outcome) in changes.into_iter().zip(stored) {
        match outcome {
            Ok(_) => ctx.emit(event),
            Err(e) => warn_failed(scope, post.id, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_changes_reported_before_a_flush_share_one_flush() {
        let mut dirty = DirtyPosts::default();
        let (a, b) = (PostId::new(), PostId::new());
        assert!(dirty.mark(a), "the first change queues a flush");
        assert!(!dirty.mark(b), "a second post joins the queued flush");
        assert!(!dirty.mark(a), "a repeated post is recomputed once");
        assert_eq!(dirty.posts.len(), 2);
    }
}
