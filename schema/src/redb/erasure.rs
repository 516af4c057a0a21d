//! Revocation retries, the erasure ledger and the purge deletes on the embedded store. A purge
//! call is one write plan: it walks the workspace's partitions (every workspace-keyed table is a
//! key-prefix range), buffers up to `max_rows` deletes, and removes the workspace row last, in
//! the call that finds nothing else left.

use async_trait::async_trait;
use tenants::{Membership, User, UserId, WorkspaceId};
use uuid::Uuid;

use super::RedbStore;
use super::access::Lookup;
use super::tables::*;
use super::writer::{Outcome, Tx};
use crate::error::StoreResult;
use crate::layout::{check_scope, decode, encode, key, nanos};
use crate::row_codec::decode_due_row;
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest};
use crate::store_erasure::{ErasureRecord, ErasureStore, PurgeProgress, RevokeRetry, key as ekey};

/// `revoke_retries`: token revocations the platform has not confirmed.
pub(crate) const REVOKE_RETRIES: &str = "revoke_retries";
/// `erasures`: the erasure ledger.
pub(crate) const ERASURES: &str = "erasures";

/// The tables of migration 2.
pub(crate) const TABLES: &[&str] = &[REVOKE_RETRIES, ERASURES];

/// Workspace-partitioned tables whose rows need no companion delete.
const PLAIN: &[&str] = &[
    POSTS,
    POSTS_BY_EXTERNAL_ID,
    DELIVERIES,
    ACCOUNT_DUE_DAYS,
    ACCOUNT_PUBLISHES,
    ACCOUNT_TOKENS,
    ACCOUNTS,
    REVOKE_RETRIES,
    MEDIA,
];

/// Buffers up to `budget` deletes of the workspace's rows; returns how many and whether the
/// workspace is now empty (then its data key and workspace rows are deleted too).
fn plan_purge(tx: &mut Tx<'_, '_>, ws: WorkspaceId, budget: usize) -> StoreResult<PurgeProgress> {
    let prefix = key::ws(ws);
    let mut doomed: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for table in PLAIN {
        tx.scan_from(table, &prefix, None, &mut |k, _| {
            doomed.push((table, k.to_vec()));
            Ok(doomed.len() < budget)
        })?;
    }
    if doomed.len() < budget {
        tx.scan_from(ACCOUNT_DUE, &prefix, None, &mut |k, v| {
            let row = decode_due_row(ACCOUNT_DUE, v)?;
            let due = row.due;
            let bucket_key = key::due_by_bucket(
                due.account_id,
                due.due_at,
                nanos(due.due_at)?,
                due.delivery_id.as_uuid(),
            );
            doomed.push((DUE_BY_BUCKET, bucket_key));
            doomed.push((ACCOUNT_DUE, k.to_vec()));
            Ok(doomed.len() < budget)
        })?;
    }
    if doomed.len() < budget {
        tx.scan_from(MEMBERSHIPS_BY_WORKSPACE, &prefix, None, &mut |k, v| {
            let m: Membership = decode(MEMBERSHIPS_BY_WORKSPACE, v)?;
            doomed.push((
                MEMBERSHIPS_BY_USER,
                key::pair(m.user_id.as_uuid(), ws.as_uuid()),
            ));
            doomed.push((MEMBERSHIPS_BY_WORKSPACE, k.to_vec()));
            Ok(doomed.len() < budget)
        })?;
    }
    let done = doomed.len() < budget;
    if done {
        doomed.push((DATA_KEYS, key::ws(ws)));
        doomed.push((DATA_KEYS_ALL, key::bucketed(ws.as_uuid())));
        doomed.push((WORKSPACES, key::ws(ws)));
        doomed.push((WORKSPACES_ALL, key::bucketed(ws.as_uuid())));
    }
    let num_deleted = doomed.len() as u64;
    for (table, k) in doomed {
        tx.delete(table, k);
    }
    Ok(PurgeProgress { num_deleted, done })
}

#[async_trait]
impl ErasureStore for RedbStore {
    async fn put_revoke_retry(
        &self,
        scope: WorkspaceScope,
        retry: &RevokeRetry,
    ) -> StoreResult<()> {
        check_scope(REVOKE_RETRIES, scope.workspace_id(), retry.workspace_id)?;
        let k = ekey::revoke_retry(retry.workspace_id, retry.account_id, retry.token_kind);
        let body = encode(REVOKE_RETRIES, retry)?;
        self.write_done(Box::new(move |tx| {
            tx.put(REVOKE_RETRIES, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_revoke_retries(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<RevokeRetry>> {
        let prefix = key::ws(scope.workspace_id());
        self.read(move |r| {
            r.page(REVOKE_RETRIES, &prefix, &page, |_, v| {
                decode(REVOKE_RETRIES, v).map(Some)
            })
        })
        .await
    }

    async fn put_erasure(&self, record: &ErasureRecord) -> StoreResult<()> {
        let k = ekey::erasure(record.subject_id);
        let body = encode(ERASURES, record)?;
        self.write_done(Box::new(move |tx| {
            tx.put(ERASURES, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_erasure(&self, subject_id: Uuid) -> StoreResult<Option<ErasureRecord>> {
        self.read(move |r| r.get_json(ERASURES, &ekey::erasure(subject_id)))
            .await
    }

    async fn purge_workspace(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let ws = scope.workspace_id();
        let budget = max_rows.max(1);
        let outcome = self
            .write(Box::new(move |tx| {
                plan_purge(tx, ws, budget).map(Outcome::Purge)
            }))
            .await?;
        match outcome {
            Outcome::Purge(p) => Ok(p),
            _ => Err(super::unexpected()),
        }
    }

    async fn delete_user(&self, user_id: UserId) -> StoreResult<()> {
        let id = user_id.as_uuid();
        self.write_done(Box::new(move |tx| {
            if let Some(user) = tx.get_json::<User>(USERS, &key::users(id))? {
                tx.delete(
                    USERS_BY_SUBJECT,
                    key::users_by_subject(user.provider, &user.subject),
                );
            }
            tx.delete(USERS, key::users(id));
            tx.delete(USERS_ALL, key::bucketed(id));
            Ok(Outcome::Done)
        }))
        .await
    }
}
