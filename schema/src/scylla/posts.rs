//! Posts on ScyllaDB: the post row, its external-id lookup, and its deliveries with their
//! due-index rows, written as logged batches.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::Timestamp;
use scylla::value::Row;
use tenants::{Delivery, Post, PostId};
use uuid::Uuid;

use super::deliveries::lwt_applied;
use super::{DEFAULT_PAGE_SIZE, Part, ScyllaStore, body_text, errors, part};
use crate::cursor::{self, PageBuilder};
use crate::error::{StoreError, StoreResult};
use crate::keys::KeyReader;
use crate::layout::{check_scope, decode, key, page_limit, post_matches};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest, PostFilter, PostStore};
use crate::store_post_batch::{PostCreation, PostWithDeliveries};

/// Posts of one `create_posts` call written at once.
const CREATE_CONCURRENCY: usize = 32;

pub(crate) const PUT_POST: &str =
    "INSERT INTO posts (workspace_id, post_id, body) VALUES (?, ?, ?)";
pub(crate) const GET_POST: &str = "SELECT body FROM posts WHERE workspace_id = ? AND post_id = ?";
pub(crate) const DELETE_POST: &str = "DELETE FROM posts WHERE workspace_id = ? AND post_id = ?";
pub(crate) const LIST_POSTS: &str =
    "SELECT post_id, body FROM posts WHERE workspace_id = ? AND post_id < ?";
pub(crate) const PUT_EXTERNAL_ID: &str =
    "INSERT INTO posts_by_external_id (workspace_id, external_id, post_id) VALUES (?, ?, ?)";
pub(crate) const CLAIM_EXTERNAL_ID: &str = "INSERT INTO posts_by_external_id \
    (workspace_id, external_id, post_id) VALUES (?, ?, ?) IF NOT EXISTS";
pub(crate) const GET_EXTERNAL_ID: &str =
    "SELECT post_id FROM posts_by_external_id WHERE workspace_id = ? AND external_id = ?";
pub(crate) const DELETE_EXTERNAL_ID: &str =
    "DELETE FROM posts_by_external_id WHERE workspace_id = ? AND external_id = ?";
pub(crate) const PUT_DELIVERY: &str = "INSERT INTO deliveries \
    (workspace_id, post_id, delivery_id, account_id, state, version, body) VALUES (?, ?, ?, ?, ?, ?, ?)";
pub(crate) const DELETE_DELIVERIES_OF_POST: &str =
    "DELETE FROM deliveries WHERE workspace_id = ? AND post_id = ?";

impl ScyllaStore {
    /// Claims the post's `external_id` with a lightweight transaction, then writes the post
    /// (deliveries and due-index rows first, as in `create_post`). A lost claim writes nothing
    /// and names the holder. A crash between the claim and the batch leaves the id claimed
    /// by a post that does not exist; re-importing then reports the row as already imported.
    async fn create_claimed(
        &self,
        p: &PostWithDeliveries,
        now: Timestamp,
    ) -> StoreResult<PostCreation> {
        let (ws, id) = (p.post.workspace_id.as_uuid(), p.post.id.as_uuid());
        if let Some(ext) = &p.post.external_id {
            let claim = (ws, ext.clone(), id);
            let claimed = self
                .one::<Row>("posts_by_external_id", &self.st.claim_external_id, claim)
                .await?;
            if !lwt_applied(claimed.as_ref()) {
                let holder = self
                    .one::<(Uuid,)>(
                        "posts_by_external_id",
                        &self.st.get_external_id_serial,
                        (ws, ext.clone()),
                    )
                    .await?
                    .map(|(h,)| PostId(h));
                if let Some(existing) = holder.filter(|h| *h != p.post.id) {
                    return Ok(PostCreation::Duplicate { existing });
                }
            }
        }
        let mut parts = Vec::new();
        for d in &p.deliveries {
            parts.push(self.delivery_part(d)?);
            parts.extend(self.index_parts(d, now)?);
        }
        parts.push(part(
            &self.st.put_post,
            (ws, id, body_text("posts", &p.post)?),
        ));
        self.batch(parts).await?;
        Ok(PostCreation::Created)
    }

    fn post_parts(&self, post: &Post) -> StoreResult<Vec<Part<'_>>> {
        let (ws, id) = (post.workspace_id.as_uuid(), post.id.as_uuid());
        let mut parts = vec![part(&self.st.put_post, (ws, id, body_text("posts", post)?))];
        if let Some(ext) = &post.external_id {
            parts.push(part(&self.st.put_external_id, (ws, ext.clone(), id)));
        }
        Ok(parts)
    }

    pub(crate) fn delivery_part(&self, d: &Delivery) -> StoreResult<Part<'_>> {
        let values = (
            d.workspace_id.as_uuid(),
            d.post_id.as_uuid(),
            d.id.as_uuid(),
            d.account_id.as_uuid(),
            d.state.as_str(),
            version_i64(d.version)?,
            body_text("deliveries", d)?,
        );
        Ok(part(&self.st.put_delivery, values))
    }
}

/// A delivery version as the `bigint` column stores it.
pub(crate) fn version_i64(version: u64) -> StoreResult<i64> {
    i64::try_from(version).map_err(|_| StoreError::Backend("delivery version overflow".into()))
}

fn check_deliveries(
    scope: WorkspaceScope,
    post: &Post,
    deliveries: &[Delivery],
) -> StoreResult<()> {
    check_scope("posts", scope.workspace_id(), post.workspace_id)?;
    for d in deliveries {
        check_scope("deliveries", scope.workspace_id(), d.workspace_id)?;
        if d.post_id != post.id {
            return Err(StoreError::OutOfScope {
                table: "deliveries",
            });
        }
    }
    Ok(())
}

#[async_trait]
impl PostStore for ScyllaStore {
    /// One logged batch when it fits in [`super::MAX_BATCH`] statements. A larger fan-out is
    /// split into batches with the post row last, so a post is never visible before all its
    /// deliveries and their due-index rows are written. The `external_id` is claimed first
    /// (see [`PostStore::create_posts`]).
    async fn create_post(
        &self,
        scope: WorkspaceScope,
        post: &Post,
        deliveries: &[Delivery],
    ) -> StoreResult<()> {
        check_deliveries(scope, post, deliveries)?;
        let one = PostWithDeliveries {
            post: post.clone(),
            deliveries: deliveries.to_vec(),
        };
        match self.create_claimed(&one, Timestamp::now()).await? {
            PostCreation::Created => Ok(()),
            PostCreation::Duplicate { .. } => Err(StoreError::AlreadyExists(format!(
                "a post with this external_id ({})",
                post.external_id.as_deref().unwrap_or_default()
            ))),
        }
    }

    /// One claim and one batch per post, [`CREATE_CONCURRENCY`] posts at a time.
    async fn create_posts(
        &self,
        scope: WorkspaceScope,
        posts: &[PostWithDeliveries],
    ) -> StoreResult<Vec<PostCreation>> {
        for p in posts {
            check_deliveries(scope, &p.post, &p.deliveries)?;
        }
        let now = Timestamp::now();
        let mut out = Vec::with_capacity(posts.len());
        for chunk in posts.chunks(CREATE_CONCURRENCY) {
            let mut running = Vec::with_capacity(chunk.len());
            for p in chunk {
                running.push(self.create_claimed(p, now));
            }
            out.extend(futures::future::try_join_all(running).await?);
        }
        Ok(out)
    }

    async fn update_post(&self, scope: WorkspaceScope, post: &Post) -> StoreResult<()> {
        check_scope("posts", scope.workspace_id(), post.workspace_id)?;
        let mut parts = Vec::new();
        if let Some(old) = self.get_post(scope, post.id).await?
            && let Some(old_ext) = old
                .external_id
                .filter(|e| Some(e) != post.external_id.as_ref())
        {
            parts.push(part(
                &self.st.delete_external_id,
                (post.workspace_id.as_uuid(), old_ext),
            ));
        }
        parts.extend(self.post_parts(post)?);
        self.batch(parts).await
    }

    async fn get_post(&self, scope: WorkspaceScope, id: PostId) -> StoreResult<Option<Post>> {
        self.body(
            "posts",
            &self.st.get_post,
            (scope.workspace_id().as_uuid(), id.as_uuid()),
        )
        .await
    }

    /// Due-index rows of the deliveries stay until they expire: readers skip rows whose
    /// delivery is gone.
    async fn delete_post(&self, scope: WorkspaceScope, id: PostId) -> StoreResult<()> {
        let (ws, post_id) = (scope.workspace_id().as_uuid(), id.as_uuid());
        let mut parts = vec![
            part(&self.st.delete_deliveries_of_post, (ws, post_id)),
            part(&self.st.delete_post, (ws, post_id)),
        ];
        if let Some(ext) = self.get_post(scope, id).await?.and_then(|p| p.external_id) {
            parts.push(part(&self.st.delete_external_id, (ws, ext)));
        }
        self.batch(parts).await
    }

    async fn list_posts(
        &self,
        scope: WorkspaceScope,
        filter: &PostFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Post>> {
        let ws = scope.workspace_id();
        let prefix = key::ws(ws);
        let before = match &page.cursor {
            Some(c) => {
                let k = cursor::decode(c, &prefix)?;
                let mut r = KeyReader::new(&k[prefix.len()..]);
                let id = r.uuid_desc()?;
                r.end()?;
                id
            }
            None => Uuid::max(),
        };
        let limit = page_limit(page.limit);
        let unfiltered = *filter == PostFilter::default();
        let size = if unfiltered {
            i32::try_from(limit + 1).unwrap_or(i32::MAX)
        } else {
            DEFAULT_PAGE_SIZE
        };
        let mut rows = self
            .stream::<(Uuid, String)>("posts", &self.st.list_posts, (ws.as_uuid(), before), size)
            .await?;
        let mut out = PageBuilder::new(limit);
        while let Some((id, body)) = rows.try_next().await.map_err(errors::next_row)? {
            let post: Post = decode("posts", body.as_bytes())?;
            if !out.offer(
                &key::post(ws, id),
                post_matches(filter, &post).then_some(post),
            ) {
                break;
            }
        }
        Ok(out.finish())
    }

    async fn find_post_by_external_id(
        &self,
        scope: WorkspaceScope,
        external_id: &str,
    ) -> StoreResult<Option<PostId>> {
        let values = (scope.workspace_id().as_uuid(), external_id);
        let row = self
            .one::<(Uuid,)>("posts_by_external_id", &self.st.get_external_id, values)
            .await?;
        Ok(row.map(|(id,)| PostId(id)))
    }
}
