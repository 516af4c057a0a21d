//! Batched post creation ([`EngineHandle::import_posts`], behind CSV imports and
//! [`EngineHandle::create_posts`]): every post of a batch is validated against accounts read
//! once per batch, then all of them are written in one store call
//! ([`schema::PostStore::create_posts`], one durable commit on the embedded store), and the
//! account actors are told about the deliveries in their window.

use std::collections::{BTreeMap, HashMap};

use schema::{DueRef, PostCreation, PostWithDeliveries, WorkspaceScope};
use tenants::{AccountId, AccountStatus, ConnectedAccount, FieldError, Post, PostId, PostStatus};

use crate::api::{EngineHandle, NewPost, PostView};
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::posts::{due_ref, media_kinds, new_deliveries};

/// What became of one post handed to [`EngineHandle::import_posts`].
#[derive(Debug, Clone, PartialEq)]
pub enum ImportedPost {
    /// Created, with its deliveries.
    Created(Box<PostView>),
    /// Not created: this post of the workspace already holds the `external_id`.
    Existing(PostId),
}

/// Reads each distinct account of the batch once, all reads in flight together.
async fn read_accounts(
    handle: &EngineHandle,
    scope: WorkspaceScope,
    new: &[NewPost],
) -> Result<HashMap<AccountId, Option<ConnectedAccount>>, EngineError> {
    let mut ids: Vec<AccountId> = new
        .iter()
        .flat_map(|n| n.account_ids.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let store = &handle.inner.ctx.store;
    let reads = ids.iter().map(|id| store.get_account(scope.account(*id)));
    let found = futures::future::try_join_all(reads).await?;
    Ok(ids.into_iter().zip(found).collect())
}

impl EngineHandle {
    /// Creates many posts with their deliveries (CSV import): the accounts are read once per
    /// call and every post is written in one store batch. A post whose `external_id` another
    /// post of the workspace already holds (stored before, created meanwhile by a concurrent
    /// import, or earlier in `new`) is not created; its outcome names the holder. One outcome
    /// per post, in order.
    ///
    /// # Errors
    /// [`EngineError::Validation`] for the first post with bad content, time or accounts
    /// (nothing is created then); [`EngineError::NotFound`] for an unknown workspace; store
    /// failures.
    pub async fn import_posts(
        &self,
        scope: WorkspaceScope,
        new: Vec<NewPost>,
    ) -> Result<Vec<ImportedPost>, EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let ws = ctx
            .store
            .get_workspace(scope)
            .await?
            .filter(|w| w.deletion_requested_at.is_none())
            .ok_or_else(|| EngineError::NotFound {
                kind: "workspace",
                id: scope.workspace_id().to_string(),
            })?;
        let accounts = read_accounts(self, scope, &new).await?;
        let mut rows = Vec::with_capacity(new.len());
        for n in new {
            let now = ctx.now();
            let mut errors = Vec::new();
            if !matches!(n.status, PostStatus::Draft | PostStatus::Scheduled) {
                errors.push(FieldError::new(
                    "status",
                    "a new post must be draft or scheduled",
                ));
            }
            if n.status == PostStatus::Scheduled && n.account_ids.is_empty() {
                errors.push(FieldError::new(
                    "account_ids",
                    "choose at least one account",
                ));
            }
            let mut targets = Vec::with_capacity(n.account_ids.len());
            for (i, id) in n.account_ids.iter().enumerate() {
                match accounts.get(id) {
                    Some(Some(a)) if a.status != AccountStatus::Disconnected => {
                        targets.push(a.clone());
                    }
                    _ => errors.push(FieldError::new(
                        format!("account_ids[{i}]"),
                        "no connected account with this id",
                    )),
                }
            }
            let platforms: Vec<_> = targets.iter().map(|a| a.platform).collect();
            let media = media_kinds(ctx, scope, &n.media_ids, &n.media_urls, &mut errors).await?;
            errors.extend(tenants::validate_post_content(
                &n.caption,
                &n.variants,
                &media,
                &platforms,
            ));
            let (due_at, timezone) = match &n.schedule {
                None => (None, ws.timezone.clone()),
                Some(input) => match tenants::resolve(input, &ws.timezone) {
                    Ok(at) => {
                        let tz = match input {
                            tenants::ScheduleInput::Local { timezone, .. }
                                if !timezone.is_empty() =>
                            {
                                timezone.clone()
                            }
                            _ => ws.timezone.clone(),
                        };
                        (Some(at), tz)
                    }
                    Err(e) => {
                        errors.push(FieldError::new("schedule", e.to_string()));
                        (None, ws.timezone.clone())
                    }
                },
            };
            if !errors.is_empty() {
                return Err(EngineError::Validation(errors));
            }
            let post = Post {
                id: PostId::new(),
                workspace_id: scope.workspace_id(),
                caption: n.caption,
                variants: n.variants,
                media_ids: n.media_ids,
                media_urls: n.media_urls,
                first_comment: n.first_comment,
                account_ids: n.account_ids,
                status: n.status,
                scheduled_at: due_at,
                timezone,
                external_id: n.external_id,
                created_by: n.created_by,
                created_at: now,
                updated_at: now,
            };
            let deliveries = if post.status == PostStatus::Scheduled {
                new_deliveries(&post, &targets, due_at.unwrap_or(now), now)
            } else {
                Vec::new()
            };
            rows.push(PostWithDeliveries { post, deliveries });
        }
        let created = ctx.store.create_posts(scope, &rows).await?;
        if created.len() != rows.len() {
            return Err(EngineError::Unavailable(format!(
                "the store answered {} of {} posts",
                created.len(),
                rows.len()
            )));
        }
        let mut due: BTreeMap<AccountId, Vec<DueRef>> = BTreeMap::new();
        let mut out = Vec::with_capacity(rows.len());
        let mut scheduled = Vec::new();
        for (row, outcome) in rows.into_iter().zip(created) {
            let PostWithDeliveries { post, deliveries } = row;
            match outcome {
                PostCreation::Duplicate { existing } => out.push(ImportedPost::Existing(existing)),
                PostCreation::Created => {
                    if !deliveries.is_empty() {
                        scheduled.push(EngineEvent {
                            kind: EventKind::PostScheduled,
                            workspace_id: scope.workspace_id(),
                            post_id: Some(post.id),
                            account_id: None,
                            reason: None,
                            at: ctx.now(),
                        });
                    }
                    for d in &deliveries {
                        due.entry(d.account_id).or_default().push(due_ref(d));
                    }
                    out.push(ImportedPost::Created(Box::new(PostView {
                        post,
                        deliveries,
                    })));
                }
            }
        }
        // Logged in one store call (one commit on the embedded store), not one per post.
        self.inner.ctx.emit_logged_many(scheduled).await;
        self.schedule(scope, due).await;
        Ok(out)
    }
}
