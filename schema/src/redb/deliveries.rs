//! Deliveries on the embedded store: reads by post and by due time, and the compare-and-set
//! transition, checked inside the single writer so exactly one of two racing writers wins.

use async_trait::async_trait;
use jiff::Timestamp;
use tenants::{Delivery, DeliveryId, DeliveryState, PostId};

use super::RedbStore;
use super::access::Lookup;
use super::posts::index_delivery;
use super::tables::*;
use super::writer::Outcome;
use crate::error::StoreResult;
use crate::keys::KeyReader;
use crate::layout::{
    Expiring, check_delivery_scope, encode, from_nanos, key, nanos_saturating, publish_log_times,
};
use crate::row_codec::{decode_delivery, decode_due_row, encode_delivery};
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{CasOutcome, DeliveryStore, DueRef, Page, PageRequest};

#[async_trait]
impl DeliveryStore for RedbStore {
    async fn get_delivery(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>> {
        let k = key::delivery(scope.workspace_id(), post_id.as_uuid(), id.as_uuid());
        self.read_point(move |r| r.get_row(DELIVERIES, &k, decode_delivery))
            .await
    }

    async fn list_deliveries_of_post(
        &self,
        scope: WorkspaceScope,
        post_id: PostId,
    ) -> StoreResult<Vec<Delivery>> {
        let prefix = key::pair(scope.workspace_id().as_uuid(), post_id.as_uuid());
        // One row per account the post targets: a short read.
        self.read_point(move |r| r.all_rows(DELIVERIES, &prefix, decode_delivery))
            .await
    }

    async fn get_deliveries(
        &self,
        scope: WorkspaceScope,
        ids: &[(PostId, DeliveryId)],
    ) -> StoreResult<Vec<Option<Delivery>>> {
        let ws = scope.workspace_id();
        let keys: Vec<Vec<u8>> = ids
            .iter()
            .map(|(post_id, id)| key::delivery(ws, post_id.as_uuid(), id.as_uuid()))
            .collect();
        self.get_many(DELIVERIES, keys, decode_delivery).await
    }

    async fn list_deliveries_of_posts(
        &self,
        scope: WorkspaceScope,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<Vec<Delivery>>> {
        let ws = scope.workspace_id().as_uuid();
        let prefixes: Vec<Vec<u8>> = post_ids
            .iter()
            .map(|id| key::pair(ws, id.as_uuid()))
            .collect();
        self.read_batch(prefixes.len(), move |r| {
            prefixes
                .iter()
                .map(|p| r.all_rows(DELIVERIES, p, decode_delivery))
                .collect()
        })
        .await
    }

    async fn account_due(
        &self,
        scope: AccountScope,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<DueRef>> {
        let (ws, account) = (scope.workspace_id(), scope.account_id());
        let lo = key::account_due(ws, account, nanos_saturating(from), None);
        let hi = key::account_due(ws, account, nanos_saturating(to), None);
        let now = Timestamp::now();
        self.read_point(move |r| {
            let mut out = Vec::new();
            if limit == 0 || lo >= hi {
                return Ok(out);
            }
            r.range(ACCOUNT_DUE, &lo, &hi, |_, v| {
                let row = decode_due_row(ACCOUNT_DUE, v)?;
                if row.expires_at > now {
                    out.push(row.due);
                }
                Ok(out.len() < limit)
            })?;
            Ok(out)
        })
        .await
    }

    async fn account_publishes(
        &self,
        scope: AccountScope,
        since: Timestamp,
    ) -> StoreResult<Vec<Timestamp>> {
        let (ws, account) = (scope.workspace_id(), scope.account_id());
        let lo = key::account_publish(ws, account, nanos_saturating(since), None);
        // The key ends with the publish time (8 bytes) after the account's prefix.
        let prefix_len = lo.len() - 8;
        let hi = key::account_publish(ws, account, i64::MAX, None);
        self.read_point(move |r| {
            let mut out = Vec::new();
            r.range(ACCOUNT_PUBLISHES, &lo, &hi, |k, _| {
                let ns = KeyReader::new(&k[prefix_len..]).i64()?;
                out.push(from_nanos(ACCOUNT_PUBLISHES, ns)?);
                Ok(true)
            })?;
            Ok(out)
        })
        .await
    }

    async fn due_in_bucket(
        &self,
        shard: u16,
        bucket: i64,
        page: PageRequest,
    ) -> StoreResult<Page<DueRef>> {
        let prefix = key::due_bucket_part(shard, bucket);
        let now = Timestamp::now();
        self.read(move |r| {
            r.page(DUE_BY_BUCKET, &prefix, &page, |_, v| {
                let row = decode_due_row(DUE_BY_BUCKET, v)?;
                Ok((row.expires_at > now).then_some(row.due))
            })
        })
        .await
    }

    /// One move of [`Self::transition_many`]: the compare-and-set and the index rows of `next`
    /// commit in one transaction ([`cas_in`]).
    async fn transition(
        &self,
        scope: AccountScope,
        expected_version: u64,
        next: &Delivery,
    ) -> StoreResult<CasOutcome> {
        self.transition_many(scope, &[(expected_version, next.clone())])
            .await
            .pop()
            .unwrap_or_else(|| Err(super::unexpected()))
    }

    /// All the moves run in one plan, so they share one commit (and one fsync); a move that
    /// loses its compare-and-set leaves the others applied.
    async fn transition_many(
        &self,
        scope: AccountScope,
        moves: &[(u64, Delivery)],
    ) -> Vec<StoreResult<CasOutcome>> {
        if let Some(e) = moves
            .iter()
            .find_map(|(_, next)| check_delivery_scope(scope, next).err())
        {
            return moves.iter().map(|_| Err(e.clone())).collect();
        }
        let moves = moves.to_vec();
        let num_moves = moves.len();
        let now = Timestamp::now();
        let outcome = self
            .write(Box::new(move |tx| {
                let mut seen = std::collections::HashSet::with_capacity(moves.len());
                let mut outcomes = Vec::with_capacity(moves.len());
                for (expected, next) in &moves {
                    // A plan's reads do not see its own buffered writes, so a second move of the
                    // same delivery would be checked against a stale version: refuse it.
                    let outcome = if seen.insert(next.id) {
                        cas_in(tx, *expected, next, now)?
                    } else {
                        CasOutcome::Conflict(None)
                    };
                    outcomes.push(outcome);
                }
                Ok(Outcome::Cases(outcomes))
            }))
            .await;
        match outcome {
            Ok(Outcome::Cases(outcomes)) => outcomes.into_iter().map(Ok).collect(),
            Ok(_) => (0..num_moves).map(|_| Err(super::unexpected())).collect(),
            Err(e) => (0..num_moves).map(|_| Err(e.clone())).collect(),
        }
    }
}

/// One compare-and-set inside a plan: replaces the stored delivery with `next` if it still has
/// `expected` as its version, with its index rows and, on becoming `published`, its publish-log
/// row, so a moved delivery is never left unindexed. The index rows are rewritten only when they
/// would change: a new due time, or a row that has used up more than half its retention (a
/// transition that keeps the due time, `scheduled -> submitting` say, would otherwise rewrite
/// three identical rows on the hottest write path). Readers skip index rows that no longer match.
fn cas_in(
    tx: &mut super::writer::Tx<'_, '_>,
    expected: u64,
    next: &Delivery,
    now: Timestamp,
) -> StoreResult<CasOutcome> {
    let k = key::delivery(next.workspace_id, next.post_id.as_uuid(), next.id.as_uuid());
    let Some(raw) = tx.get(DELIVERIES, &k)? else {
        return Ok(CasOutcome::Conflict(None));
    };
    // Decoded whole: a binary row is cheap to decode, and a lost race reports the stored row.
    let cur = decode_delivery(DELIVERIES, &raw)?;
    if cur.account_id != next.account_id {
        return Ok(CasOutcome::Conflict(None));
    }
    if cur.version != expected {
        return Ok(CasOutcome::Conflict(Some(Box::new(cur))));
    }
    // A terminal delivery has no index rows to keep fresh.
    if !next.state.is_terminal() && !index_is_fresh(tx, &cur, next, now)? {
        index_delivery(tx, next, now)?;
    }
    if next.state == DeliveryState::Published && cur.state != DeliveryState::Published {
        log_publish(tx, next, now)?;
    }
    tx.put(DELIVERIES, k, encode_delivery(next));
    Ok(CasOutcome::Applied)
}

/// Buffers the `account_publishes` row of a delivery that just became `published`.
fn log_publish(
    tx: &mut super::writer::Tx<'_, '_>,
    d: &Delivery,
    now: Timestamp,
) -> StoreResult<()> {
    let (at, expires_at) = publish_log_times(d, now);
    let row = Expiring { expires_at };
    tx.put(
        ACCOUNT_PUBLISHES,
        key::account_publish(
            d.workspace_id,
            d.account_id,
            nanos_saturating(at),
            Some(d.id.as_uuid()),
        ),
        encode(ACCOUNT_PUBLISHES, &row)?,
    );
    Ok(())
}

/// Whether `cur`'s index rows already serve `next`: same due time, `cur` still indexed, and its
/// row good for at least half the retention.
fn index_is_fresh(
    tx: &super::writer::Tx<'_, '_>,
    cur: &Delivery,
    next: &Delivery,
    now: Timestamp,
) -> StoreResult<bool> {
    if cur.due_at != next.due_at || cur.state.is_terminal() {
        return Ok(false);
    }
    let k = key::account_due(
        next.workspace_id,
        cur.account_id,
        crate::layout::nanos(cur.due_at)?,
        Some(next.id.as_uuid()),
    );
    let row = tx.get_row(ACCOUNT_DUE, &k, decode_due_row)?;
    let half = crate::layout::DUE_INDEX_RETENTION / 2;
    Ok(row.is_some_and(|r| {
        now.checked_add(half)
            .is_ok_and(|needed| r.expires_at >= needed)
    }))
}
