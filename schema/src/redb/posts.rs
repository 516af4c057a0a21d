//! Posts on the embedded store: the post row, its external-id lookup, and its deliveries with
//! their due-index rows written in the same transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use tenants::{Delivery, Post, PostId};

use super::RedbStore;
use super::access::Lookup;
use super::tables::*;
use super::writer::{Outcome, Tx};
use crate::error::{StoreError, StoreResult};
use crate::layout::{
    DueRow, Expiring, check_scope, day_bucket, day_expires_at, decode, due_expires_at, due_ref,
    encode, key, nanos, post_matches,
};
use crate::row_codec::{self, decode_post, encode_delivery, encode_due_row, post_external_id};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest, PostFilter, PostStore};
use crate::store_post_batch::{PostCreation, PostWithDeliveries};

/// One row to put: table, key, value.
type Row = (&'static str, Vec<u8>, Vec<u8>);

/// The due-index rows of `d` (`account_due`, its day directory, `due_by_bucket`); none for a
/// terminal delivery.
fn index_rows(d: &Delivery, now: Timestamp) -> StoreResult<Vec<Row>> {
    if d.state.is_terminal() {
        return Ok(Vec::new());
    }
    let due_ns = nanos(d.due_at)?;
    let row = DueRow {
        due: due_ref(d),
        expires_at: due_expires_at(d.due_at, now),
    };
    let body = encode_due_row(&row);
    let id = d.id.as_uuid();
    let day = day_bucket(d.due_at);
    let day_row = Expiring {
        expires_at: day_expires_at(day, now),
    };
    Ok(vec![
        (
            ACCOUNT_DUE,
            key::account_due(d.workspace_id, d.account_id, due_ns, Some(id)),
            body.clone(),
        ),
        (
            DUE_BY_BUCKET,
            key::due_by_bucket(d.account_id, d.due_at, due_ns, id),
            body,
        ),
        (
            ACCOUNT_DUE_DAYS,
            key::account_due_day(d.workspace_id, d.account_id, day),
            encode(ACCOUNT_DUE_DAYS, &day_row)?,
        ),
    ])
}

/// Buffers the due-index rows of `d` (`account_due`, its day directory, `due_by_bucket`).
/// Terminal deliveries are not indexed.
pub(super) fn index_delivery(tx: &mut Tx<'_, '_>, d: &Delivery, now: Timestamp) -> StoreResult<()> {
    for (table, k, v) in index_rows(d, now)? {
        tx.put(table, k, v);
    }
    Ok(())
}

fn check_deliveries(
    scope: WorkspaceScope,
    post: &Post,
    deliveries: &[Delivery],
) -> StoreResult<()> {
    check_scope(POSTS, scope.workspace_id(), post.workspace_id)?;
    for d in deliveries {
        check_scope(DELIVERIES, scope.workspace_id(), d.workspace_id)?;
        if d.post_id != post.id {
            return Err(StoreError::OutOfScope { table: DELIVERIES });
        }
    }
    Ok(())
}

fn external_id_value(post: &Post) -> StoreResult<Vec<u8>> {
    encode(POSTS_BY_EXTERNAL_ID, &post.id)
}

/// A post's rows, encoded before they reach the writer thread, which then only checks the
/// `external_id` and inserts.
struct EncodedPost {
    id: PostId,
    /// The `posts_by_external_id` key, when the post has an external id.
    external_key: Option<Vec<u8>>,
    rows: Vec<Row>,
}

/// The post row, its external-id row, its deliveries and their due-index rows.
fn encode_post(post: &Post, deliveries: &[Delivery], now: Timestamp) -> StoreResult<EncodedPost> {
    let ws = post.workspace_id;
    let mut rows = Vec::with_capacity(2 + deliveries.len() * 4);
    rows.push((
        POSTS,
        key::post(ws, post.id.as_uuid()),
        row_codec::encode_post(post),
    ));
    let external_key = post
        .external_id
        .as_ref()
        .map(|ext| key::post_by_external_id(ws, ext));
    if let Some(k) = &external_key {
        rows.push((POSTS_BY_EXTERNAL_ID, k.clone(), external_id_value(post)?));
    }
    for d in deliveries {
        let k = key::delivery(ws, post.id.as_uuid(), d.id.as_uuid());
        rows.push((DELIVERIES, k, encode_delivery(d)));
        rows.extend(index_rows(d, now)?);
    }
    Ok(EncodedPost {
        id: post.id,
        external_key,
        rows,
    })
}

/// Writes each post unless another post holds its `external_id`: in the store (the check runs
/// inside the write transaction, so two racing imports cannot both pass it) or earlier in
/// `posts` (this plan's writes are only buffered, hence `claimed`).
fn put_posts(tx: &mut Tx<'_, '_>, posts: Vec<EncodedPost>) -> StoreResult<Vec<PostCreation>> {
    let mut claimed: HashMap<Vec<u8>, PostId> = HashMap::new();
    let mut out = Vec::with_capacity(posts.len());
    for p in posts {
        if let Some(k) = p.external_key {
            let holder = match claimed.get(&k) {
                Some(id) => Some(*id),
                None => tx.get_json::<PostId>(POSTS_BY_EXTERNAL_ID, &k)?,
            };
            if let Some(existing) = holder.filter(|id| *id != p.id) {
                out.push(PostCreation::Duplicate { existing });
                continue;
            }
            claimed.insert(k, p.id);
        }
        for (table, k, v) in p.rows {
            tx.put(table, k, v);
        }
        out.push(PostCreation::Created);
    }
    Ok(out)
}

#[async_trait]
impl PostStore for RedbStore {
    async fn create_post(
        &self,
        scope: WorkspaceScope,
        post: &Post,
        deliveries: &[Delivery],
    ) -> StoreResult<()> {
        let one = [PostWithDeliveries {
            post: post.clone(),
            deliveries: deliveries.to_vec(),
        }];
        match self.create_posts(scope, &one).await?.first() {
            Some(PostCreation::Created) => Ok(()),
            Some(PostCreation::Duplicate { .. }) => Err(StoreError::AlreadyExists(format!(
                "a post with this external_id ({})",
                post.external_id.as_deref().unwrap_or_default()
            ))),
            None => Err(super::unexpected()),
        }
    }

    async fn create_posts(
        &self,
        scope: WorkspaceScope,
        posts: &[PostWithDeliveries],
    ) -> StoreResult<Vec<PostCreation>> {
        for p in posts {
            check_deliveries(scope, &p.post, &p.deliveries)?;
        }
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let encoded = posts
            .iter()
            .map(|p| encode_post(&p.post, &p.deliveries, now))
            .collect::<StoreResult<Vec<_>>>()?;
        let outcome = self
            .write(Box::new(move |tx| {
                put_posts(tx, encoded).map(Outcome::Posts)
            }))
            .await?;
        match outcome {
            Outcome::Posts(created) => Ok(created),
            _ => Err(super::unexpected()),
        }
    }

    async fn update_post(&self, scope: WorkspaceScope, post: &Post) -> StoreResult<()> {
        check_scope(POSTS, scope.workspace_id(), post.workspace_id)?;
        let post = post.clone();
        self.write_done(Box::new(move |tx| {
            let ws = post.workspace_id;
            let k = key::post(ws, post.id.as_uuid());
            if let Some(old_ext) = tx
                .get_row(POSTS, &k, post_external_id)?
                .flatten()
                .filter(|e| Some(e) != post.external_id.as_ref())
            {
                tx.delete(POSTS_BY_EXTERNAL_ID, key::post_by_external_id(ws, &old_ext));
            }
            tx.put(POSTS, k, row_codec::encode_post(&post));
            if let Some(ext) = &post.external_id {
                tx.put(
                    POSTS_BY_EXTERNAL_ID,
                    key::post_by_external_id(ws, ext),
                    external_id_value(&post)?,
                );
            }
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_post(&self, scope: WorkspaceScope, id: PostId) -> StoreResult<Option<Post>> {
        let k = key::post(scope.workspace_id(), id.as_uuid());
        self.read_point(move |r| r.get_row(POSTS, &k, decode_post))
            .await
    }

    async fn get_posts(
        &self,
        scope: WorkspaceScope,
        ids: &[PostId],
    ) -> StoreResult<Vec<Option<Post>>> {
        let ws = scope.workspace_id();
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| key::post(ws, id.as_uuid())).collect();
        self.get_many(POSTS, keys, decode_post).await
    }

    async fn delete_post(&self, scope: WorkspaceScope, id: PostId) -> StoreResult<()> {
        let ws = scope.workspace_id();
        self.write_done(Box::new(move |tx| {
            let k = key::post(ws, id.as_uuid());
            if let Some(ext) = tx.get_row(POSTS, &k, post_external_id)?.flatten() {
                tx.delete(POSTS_BY_EXTERNAL_ID, key::post_by_external_id(ws, &ext));
            }
            tx.delete(POSTS, k);
            // Due-index rows of the deliveries stay until they expire: readers skip rows whose
            // delivery is gone.
            let mut rows = Vec::new();
            tx.scan_from(
                DELIVERIES,
                &key::pair(ws.as_uuid(), id.as_uuid()),
                None,
                &mut |k, _| {
                    rows.push(k.to_vec());
                    Ok(true)
                },
            )?;
            for k in rows {
                tx.delete(DELIVERIES, k);
            }
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_posts(
        &self,
        scope: WorkspaceScope,
        filter: &PostFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Post>> {
        let prefix = key::ws(scope.workspace_id());
        let filter = filter.clone();
        self.read(move |r| {
            r.page(POSTS, &prefix, &page, |_, v| {
                let post = decode_post(POSTS, v)?;
                Ok(post_matches(&filter, &post).then_some(post))
            })
        })
        .await
    }

    async fn find_posts_by_external_ids(
        &self,
        scope: WorkspaceScope,
        external_ids: &[String],
    ) -> StoreResult<Vec<Option<PostId>>> {
        let ws = scope.workspace_id();
        let keys: Vec<Vec<u8>> = external_ids
            .iter()
            .map(|ext| key::post_by_external_id(ws, ext))
            .collect();
        self.get_many(POSTS_BY_EXTERNAL_ID, keys, decode).await
    }

    async fn find_post_by_external_id(
        &self,
        scope: WorkspaceScope,
        external_id: &str,
    ) -> StoreResult<Option<PostId>> {
        let k = key::post_by_external_id(scope.workspace_id(), external_id);
        self.read_point(move |r| r.get_json(POSTS_BY_EXTERNAL_ID, &k))
            .await
    }
}
