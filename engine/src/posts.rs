//! Post commands on [`EngineHandle`]: create (single and batch), edit, cancel, delete, publish
//! now, read. Each writes the store first and then tells the account actors about deliveries
//! that fall in their window.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schema::{DueRef, WorkspaceScope};
use tenants::{
    AccountId, AccountStatus, Delivery, DeliveryEvent, DeliveryId, DeliveryState, FieldError, Post,
    PostId,
};

use crate::api::{EngineHandle, NewPost, PostView};
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::post_batch::ImportedPost;
use crate::workspace::WorkspaceMsg;

fn not_found(id: PostId) -> EngineError {
    EngineError::NotFound {
        kind: "post",
        id: id.to_string(),
    }
}

impl EngineHandle {
    /// Creates a post and its deliveries (none for a draft), then schedules them.
    ///
    /// # Errors
    /// [`EngineError::Validation`] for bad content, time or accounts; [`EngineError::NotFound`]
    /// for an unknown workspace.
    pub async fn create_post(
        &self,
        scope: WorkspaceScope,
        new: NewPost,
    ) -> Result<PostView, EngineError> {
        let mut views = self.create_posts(scope, vec![new]).await?;
        views
            .pop()
            .ok_or_else(|| EngineError::Unavailable("post not created".into()))
    }

    /// Creates many posts, each with its deliveries, in one store batch (see
    /// [`EngineHandle::import_posts`]).
    ///
    /// # Errors
    /// As [`EngineHandle::create_post`] (nothing is created when a post is invalid);
    /// [`EngineError::Conflict`] when another post of the workspace holds an `external_id`
    /// (the other posts are created).
    pub async fn create_posts(
        &self,
        scope: WorkspaceScope,
        new: Vec<NewPost>,
    ) -> Result<Vec<PostView>, EngineError> {
        let mut views = Vec::with_capacity(new.len());
        for imported in self.import_posts(scope, new).await? {
            match imported {
                ImportedPost::Created(view) => views.push(*view),
                ImportedPost::Existing(id) => {
                    return Err(EngineError::Conflict(format!(
                        "post {id} already has this external_id"
                    )));
                }
            }
        }
        Ok(views)
    }

    /// Reads a post with its deliveries.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown post, or one of an erased workspace.
    pub async fn get_post(
        &self,
        scope: WorkspaceScope,
        id: PostId,
    ) -> Result<PostView, EngineError> {
        let ctx = &self.inner.ctx;
        let live = ctx.store.get_workspace(scope).await?;
        if live.is_none_or(|w| w.deletion_requested_at.is_some()) {
            return Err(not_found(id));
        }
        let post = ctx
            .store
            .get_post(scope, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let deliveries = ctx.store.list_deliveries_of_post(scope, id).await?;
        Ok(PostView { post, deliveries })
    }

    pub(crate) async fn move_delivery(
        &self,
        scope: WorkspaceScope,
        d: &Delivery,
        event: DeliveryEvent,
    ) -> Result<Delivery, EngineError> {
        let ctx = &self.inner.ctx;
        let next = d
            .apply(&event, ctx.now())
            .map_err(|e| EngineError::Conflict(e.to_string()))?;
        match ctx
            .store
            .transition(scope.account(d.account_id), d.version, &next)
            .await?
        {
            schema::CasOutcome::Applied => Ok(next),
            schema::CasOutcome::Conflict(_) => Err(EngineError::Conflict(
                "a delivery changed meanwhile; read the post and try again".into(),
            )),
        }
    }

    /// Emits a post event (`post.scheduled`, `post.canceled`) once its store write succeeded,
    /// logging it durably first.
    pub(crate) async fn emit_post_event(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
        kind: EventKind,
    ) {
        let ctx = &self.inner.ctx;
        ctx.emit_logged(EngineEvent {
            kind,
            workspace_id: scope.workspace_id(),
            post_id: Some(post_id),
            account_id: None,
            reason: None,
            at: ctx.now(),
        })
        .await;
    }

    /// Tells the account actors about deliveries in their window.
    pub(crate) async fn schedule(
        &self,
        scope: WorkspaceScope,
        due: BTreeMap<AccountId, Vec<DueRef>>,
    ) {
        let horizon = self.inner.ctx.now() + self.inner.ctx.tuning.window;
        let due: Vec<_> = due
            .into_iter()
            .map(|(a, refs)| {
                (
                    a,
                    refs.into_iter()
                        .filter(|r| r.due_at < horizon)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, refs)| !refs.is_empty())
            .collect();
        if due.is_empty() {
            return;
        }
        let Ok(ws) = self.inner.root.workspace(scope).await else {
            return;
        };
        for (account_id, refs) in due {
            ws.send(WorkspaceMsg::Schedule { account_id, refs });
        }
    }
}

pub(crate) fn new_deliveries(
    post: &Post,
    accounts: &[tenants::ConnectedAccount],
    due_at: Timestamp,
    now: Timestamp,
) -> Vec<Delivery> {
    accounts
        .iter()
        .map(|a| {
            let id = DeliveryId::new();
            Delivery {
                id,
                workspace_id: post.workspace_id,
                post_id: post.id,
                account_id: a.id,
                platform: a.platform,
                state: DeliveryState::Scheduled,
                idempotency_key: id.to_string(),
                attempts: 0,
                due_at,
                partner_post_id: None,
                platform_post_id: None,
                published_at: None,
                last_error: None,
                version: 0,
                updated_at: now,
            }
        })
        .collect()
}

pub(crate) fn due_ref(d: &Delivery) -> DueRef {
    DueRef {
        due_at: d.due_at,
        delivery_id: d.id,
        workspace_id: d.workspace_id,
        account_id: d.account_id,
        post_id: d.post_id,
    }
}

/// The media kinds a post carries: one per public URL (its extension, an image when unknown);
/// uploaded media (`media_ids`) must exist in the workspace, and count by their content type
/// when no URL is given (the gateway sends one URL per uploaded media).
pub(crate) async fn media_kinds(
    ctx: &crate::context::Ctx,
    scope: WorkspaceScope,
    media_ids: &[tenants::MediaId],
    media_urls: &[String],
    errors: &mut Vec<FieldError>,
) -> Result<Vec<tenants::rules::MediaKind>, EngineError> {
    use tenants::rules::MediaKind;
    let mut from_ids = Vec::new();
    for (i, id) in media_ids.iter().enumerate() {
        match ctx.store.get_media(scope, *id).await? {
            Some(m) => from_ids.push(MediaKind::from_content_type(&m.content_type)),
            None => errors.push(FieldError::new(
                format!("media_ids[{i}]"),
                "no media with this id",
            )),
        }
    }
    if media_urls.is_empty() {
        return Ok(from_ids.into_iter().flatten().collect());
    }
    Ok(media_urls
        .iter()
        .map(|u| MediaKind::from_extension(u).unwrap_or(MediaKind::Image))
        .collect())
}

/// Re-validates an edited post's content against its accounts' platforms.
///
/// # Errors
/// Store failures.
pub(crate) async fn content_errors(
    ctx: &crate::context::Ctx,
    scope: WorkspaceScope,
    post: &Post,
) -> Result<Vec<FieldError>, EngineError> {
    let mut errors = Vec::new();
    let mut platforms = Vec::new();
    for a in &post.account_ids {
        if let Some(acc) = ctx.store.get_account(scope.account(*a)).await?
            && acc.status != AccountStatus::Disconnected
        {
            platforms.push(acc.platform);
        }
    }
    let media = media_kinds(ctx, scope, &post.media_ids, &post.media_urls, &mut errors).await?;
    errors.extend(tenants::validate_post_content(
        &post.caption,
        &post.variants,
        &media,
        &platforms,
    ));
    Ok(errors)
}
