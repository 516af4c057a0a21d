//! Posts on the embedded store: the post row, its external-id lookup, and its deliveries with
//! their due-index rows written in the same transaction.

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
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest, PostFilter, PostStore};

/// Buffers the due-index rows of `d` (`account_due`, its day directory, `due_by_bucket`).
/// Terminal deliveries are not indexed.
pub(super) fn index_delivery(tx: &mut Tx<'_>, d: &Delivery, now: Timestamp) -> StoreResult<()> {
    if d.state.is_terminal() {
        return Ok(());
    }
    let due_ns = nanos(d.due_at)?;
    let row = DueRow {
        due: due_ref(d),
        expires_at: due_expires_at(d.due_at, now),
    };
    let body = encode(ACCOUNT_DUE, &row)?;
    let id = d.id.as_uuid();
    tx.put(
        ACCOUNT_DUE,
        key::account_due(d.workspace_id, d.account_id, due_ns, Some(id)),
        body.clone(),
    );
    tx.put(
        DUE_BY_BUCKET,
        key::due_by_bucket(d.account_id, d.due_at, due_ns, id),
        body,
    );
    let day = day_bucket(d.due_at);
    let day_row = Expiring {
        expires_at: day_expires_at(day, now),
    };
    tx.put(
        ACCOUNT_DUE_DAYS,
        key::account_due_day(d.workspace_id, d.account_id, day),
        encode(ACCOUNT_DUE_DAYS, &day_row)?,
    );
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

#[async_trait]
impl PostStore for RedbStore {
    async fn create_post(
        &self,
        scope: WorkspaceScope,
        post: &Post,
        deliveries: &[Delivery],
    ) -> StoreResult<()> {
        check_deliveries(scope, post, deliveries)?;
        let (post, deliveries) = (post.clone(), deliveries.to_vec());
        let now = Timestamp::now();
        self.write_done(Box::new(move |tx| {
            let ws = post.workspace_id;
            tx.put(
                POSTS,
                key::post(ws, post.id.as_uuid()),
                encode(POSTS, &post)?,
            );
            if let Some(ext) = &post.external_id {
                tx.put(
                    POSTS_BY_EXTERNAL_ID,
                    key::post_by_external_id(ws, ext),
                    external_id_value(&post)?,
                );
            }
            for d in &deliveries {
                let k = key::delivery(ws, post.id.as_uuid(), d.id.as_uuid());
                tx.put(DELIVERIES, k, encode(DELIVERIES, d)?);
                index_delivery(tx, d, now)?;
            }
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn update_post(&self, scope: WorkspaceScope, post: &Post) -> StoreResult<()> {
        check_scope(POSTS, scope.workspace_id(), post.workspace_id)?;
        let post = post.clone();
        self.write_done(Box::new(move |tx| {
            let ws = post.workspace_id;
            let k = key::post(ws, post.id.as_uuid());
            if let Some(old) = tx.get_json::<Post>(POSTS, &k)?
                && let Some(old_ext) = old
                    .external_id
                    .filter(|e| Some(e) != post.external_id.as_ref())
            {
                tx.delete(POSTS_BY_EXTERNAL_ID, key::post_by_external_id(ws, &old_ext));
            }
            tx.put(POSTS, k, encode(POSTS, &post)?);
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
        self.read(move |r| r.get_json(POSTS, &k)).await
    }

    async fn delete_post(&self, scope: WorkspaceScope, id: PostId) -> StoreResult<()> {
        let ws = scope.workspace_id();
        self.write_done(Box::new(move |tx| {
            let k = key::post(ws, id.as_uuid());
            if let Some(ext) = tx.get_json::<Post>(POSTS, &k)?.and_then(|p| p.external_id) {
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
                let post: Post = decode(POSTS, v)?;
                Ok(post_matches(&filter, &post).then_some(post))
            })
        })
        .await
    }

    async fn find_post_by_external_id(
        &self,
        scope: WorkspaceScope,
        external_id: &str,
    ) -> StoreResult<Option<PostId>> {
        let k = key::post_by_external_id(scope.workspace_id(), external_id);
        self.read(move |r| r.get_json(POSTS_BY_EXTERNAL_ID, &k))
            .await
    }
}
