//! Post edits on [`EngineHandle`]: edit while nothing has been sent, cancel what has not been
//! sent, delete drafts, publish now. Every delivery move is a compare-and-set, so an edit racing
//! the account actor's claim gets a conflict instead of a silent overwrite.

use std::collections::BTreeMap;

use schema::{DueRef, WorkspaceScope};
use tenants::{
    AccountId, DeliveryError, DeliveryEvent, DeliveryState, FieldError, PostId, PostStatus,
    post_status_from,
};

use crate::api::{EngineHandle, PostPatch, PostView};
use crate::error::EngineError;
use crate::events::EventKind;
use crate::posts::{due_ref, new_deliveries};

fn not_found(id: PostId) -> EngineError {
    EngineError::NotFound {
        kind: "post",
        id: id.to_string(),
    }
}

impl EngineHandle {
    /// Edits a post while every delivery is still `scheduled` or `held`.
    ///
    /// # Errors
    /// [`EngineError::Conflict`] once a delivery left scheduled/held; [`EngineError::NotFound`].
    pub async fn update_post(
        &self,
        scope: WorkspaceScope,
        id: PostId,
        patch: PostPatch,
    ) -> Result<PostView, EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let mut view = self.get_post(scope, id).await?;
        if view
            .deliveries
            .iter()
            .any(|d| !matches!(d.state, DeliveryState::Scheduled | DeliveryState::Held))
        {
            return Err(EngineError::Conflict(
                "the post is already being published and can no longer be edited".into(),
            ));
        }
        let now = ctx.now();
        let post = &mut view.post;
        let content_changed = patch.caption.is_some()
            || patch.media_ids.is_some()
            || patch.media_urls.is_some()
            || patch.variants.is_some();
        if let Some(c) = patch.caption {
            post.caption = c;
        }
        if let Some(m) = patch.media_ids {
            post.media_ids = m;
        }
        if let Some(u) = patch.media_urls {
            post.media_urls = u;
        }
        if let Some(v) = patch.variants {
            post.variants = v;
        }
        if let Some(fc) = patch.first_comment {
            post.first_comment = fc;
        }
        if let Some(input) = &patch.schedule {
            let ws = ctx
                .store
                .get_workspace(scope)
                .await?
                .ok_or_else(|| not_found(id))?;
            let at = tenants::resolve(input, &ws.timezone).map_err(|e| {
                EngineError::Validation(vec![FieldError::new("schedule", e.to_string())])
            })?;
            post.scheduled_at = Some(at);
        }
        if content_changed {
            let errors = crate::posts::content_errors(ctx, scope, post).await?;
            if !errors.is_empty() {
                return Err(EngineError::Validation(errors));
            }
        }
        let to_scheduled =
            patch.status == Some(PostStatus::Scheduled) && post.status == PostStatus::Draft;
        post.updated_at = now;
        let mut due: BTreeMap<AccountId, Vec<DueRef>> = BTreeMap::new();
        if to_scheduled {
            post.status = PostStatus::Scheduled;
            let mut accounts = Vec::new();
            for a in &post.account_ids {
                if let Some(acc) = ctx.store.get_account(scope.account(*a)).await? {
                    accounts.push(acc);
                }
            }
            let deliveries = new_deliveries(post, &accounts, post.scheduled_at.unwrap_or(now), now);
            ctx.store.create_post(scope, post, &deliveries).await?;
            if !deliveries.is_empty() {
                self.emit_post_event(scope, id, EventKind::PostScheduled)
                    .await;
            }
            view.deliveries = deliveries;
        } else {
            ctx.store.update_post(scope, post).await?;
            if let (Some(at), Some(_)) = (post.scheduled_at, &patch.schedule) {
                let mut moved = Vec::new();
                for d in &view.deliveries {
                    moved.push(
                        self.move_delivery(scope, d, DeliveryEvent::Reschedule { due_at: at })
                            .await?,
                    );
                }
                if !moved.is_empty() {
                    self.emit_post_event(scope, id, EventKind::PostScheduled)
                        .await;
                }
                view.deliveries = moved;
            }
        }
        for d in &view.deliveries {
            due.entry(d.account_id).or_default().push(due_ref(d));
        }
        self.schedule(scope, due).await;
        Ok(view)
    }

    /// Cancels every delivery that has not been sent; the post's status follows.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown post.
    pub async fn cancel_post(
        &self,
        scope: WorkspaceScope,
        id: PostId,
    ) -> Result<PostView, EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let mut view = self.get_post(scope, id).await?;
        let reason = DeliveryError::new("canceled_by_user", "the post was canceled");
        let mut out = Vec::new();
        let mut num_canceled = 0;
        for d in &view.deliveries {
            if matches!(d.state, DeliveryState::Scheduled | DeliveryState::Held) {
                num_canceled += 1;
                out.push(
                    self.move_delivery(
                        scope,
                        d,
                        DeliveryEvent::Cancel {
                            reason: reason.clone(),
                        },
                    )
                    .await?,
                );
            } else {
                out.push(d.clone());
            }
        }
        view.deliveries = out;
        let states: Vec<_> = view.deliveries.iter().map(|d| d.state).collect();
        view.post.status = if states.is_empty() {
            PostStatus::Canceled
        } else {
            post_status_from(&states)
        };
        view.post.updated_at = ctx.now();
        ctx.store.update_post(scope, &view.post).await?;
        if num_canceled > 0 {
            self.emit_post_event(scope, id, EventKind::PostCanceled)
                .await;
        }
        Ok(view)
    }

    /// Deletes a draft; cancels a scheduled post.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown post.
    pub async fn delete_post(&self, scope: WorkspaceScope, id: PostId) -> Result<(), EngineError> {
        let view = self.get_post(scope, id).await?;
        if view.post.status == PostStatus::Draft {
            self.inner.ctx.store.delete_post(scope, id).await?;
        } else {
            self.cancel_post(scope, id).await?;
        }
        Ok(())
    }

    /// Makes every scheduled delivery due now (a draft is scheduled for now).
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown post.
    pub async fn publish_now(
        &self,
        scope: WorkspaceScope,
        id: PostId,
    ) -> Result<PostView, EngineError> {
        self.ensure_ready()?;
        let now = self.inner.ctx.now();
        let view = self.get_post(scope, id).await?;
        if view.post.status == PostStatus::Draft {
            let patch = PostPatch {
                schedule: Some(tenants::ScheduleInput::At(now)),
                status: Some(PostStatus::Scheduled),
                ..PostPatch::default()
            };
            return self.update_post(scope, id, patch).await;
        }
        let mut due: BTreeMap<AccountId, Vec<DueRef>> = BTreeMap::new();
        let mut out = Vec::new();
        for d in &view.deliveries {
            let d = if d.state == DeliveryState::Scheduled && d.due_at > now {
                self.move_delivery(scope, d, DeliveryEvent::Reschedule { due_at: now })
                    .await?
            } else {
                d.clone()
            };
            due.entry(d.account_id).or_default().push(due_ref(&d));
            out.push(d);
        }
        self.schedule(scope, due).await;
        Ok(PostView {
            post: view.post,
            deliveries: out,
        })
    }
}
