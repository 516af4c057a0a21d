//! Idempotency records and schema bookkeeping on the embedded store, including the sweep that
//! stands in for ScyllaDB's TTLs.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use jiff::Timestamp;

use super::access::Lookup;
use super::tables::*;
use super::writer::{Outcome, Tx};
use super::{RedbStore, unexpected};
use crate::error::StoreResult;
use crate::layout::{encode, key};
use crate::row_codec::expiry_of;
use crate::store::MetaStore;
use crate::store_requests::{
    IdempotencyClaim, IdempotencyRecord, IdempotencyStore, StoredResponse,
};

/// The most expired rows one sweep removes, so a sweep never holds the writer for long; call
/// again while it returns this many.
const MAX_SWEEP: usize = 20_000;

/// The tables whose rows expire, with the tables that index them by another key.
const EXPIRING: &[&str] = &[
    IDEMPOTENCY,
    SESSIONS,
    SESSIONS_BY_USER,
    ACCOUNT_DUE,
    ACCOUNT_DUE_DAYS,
    ACCOUNT_PUBLISHES,
    DUE_BY_BUCKET,
    super::privacy::AUDIT_LOG,
    super::privacy::AUDIT_BY_ACTOR,
    super::privacy::EXPORTS,
    super::imports::IMPORTS,
    WEBHOOK_MESSAGES,
    WEBHOOK_DUE,
    WEBHOOK_ATTEMPTS,
    ANALYTICS_DUE,
    super::events::EVENT_LOG,
];

#[async_trait]
impl IdempotencyStore for RedbStore {
    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<IdempotencyClaim> {
        let k = key::text(key);
        let record = IdempotencyRecord {
            fingerprint: fingerprint.to_owned(),
            response: None,
            expires_at,
        };
        let outcome = self
            .write(Box::new(move |tx| {
                if let Some(existing) = tx.get_json::<IdempotencyRecord>(IDEMPOTENCY, &k)?
                    && existing.expires_at > now
                {
                    return Ok(Outcome::Claim(IdempotencyClaim::Existing(existing)));
                }
                tx.put(IDEMPOTENCY, k, encode(IDEMPOTENCY, &record)?);
                Ok(Outcome::Claim(IdempotencyClaim::Claimed))
            }))
            .await?;
        match outcome {
            Outcome::Claim(c) => Ok(c),
            _ => Err(unexpected()),
        }
    }

    async fn complete_idempotency(&self, key: &str, response: &StoredResponse) -> StoreResult<()> {
        let k = key::text(key);
        let response = response.clone();
        self.write_done(Box::new(move |tx| {
            // A record that expired or was released meanwhile stays gone.
            if let Some(mut record) = tx.get_json::<IdempotencyRecord>(IDEMPOTENCY, &k)? {
                record.response = Some(response);
                tx.put(IDEMPOTENCY, k, encode(IDEMPOTENCY, &record)?);
            }
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn release_idempotency(&self, key: &str) -> StoreResult<()> {
        let k = key::text(key);
        self.write_done(Box::new(move |tx| {
            tx.delete(IDEMPOTENCY, k);
            Ok(Outcome::Done)
        }))
        .await
    }
}

/// Up to [`MAX_SWEEP`] keys of expired rows, over every expiring table.
fn expired_keys(r: &impl Lookup, now: Timestamp) -> StoreResult<Vec<(&'static str, Vec<u8>)>> {
    let mut expired: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for &table in EXPIRING {
        if expired.len() >= MAX_SWEEP {
            break;
        }
        r.scan_from(table, &[], None, &mut |k, v| {
            if expiry_of(table, v)? <= now {
                expired.push((table, k.to_vec()));
            }
            Ok(expired.len() < MAX_SWEEP)
        })?;
    }
    Ok(expired)
}

#[async_trait]
impl MetaStore for RedbStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|r| r.get(SCHEMA_MIGRATIONS, &key::migration(1)).map(|_| ()))
            .await
    }

    async fn schema_version(&self) -> StoreResult<u32> {
        Ok(self.inner.version.load(Ordering::Acquire))
    }

    /// The expired rows are found on a read snapshot, off the writer (the scan reads every
    /// expiring table); the writer then deletes those still expired, so it is held only for
    /// the deletes, never for a scan of the whole store.
    async fn sweep_expired(&self, now: Timestamp) -> StoreResult<u64> {
        let candidates = self.read(move |r| expired_keys(r, now)).await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        let plan = move |tx: &mut Tx<'_, '_>| {
            let mut n = 0;
            for (table, k) in candidates {
                // Rewritten since the snapshot (a new expiry): keep it.
                let still_expired = tx
                    .get_row(table, &k, expiry_of)?
                    .is_some_and(|expires_at| expires_at <= now);
                if still_expired {
                    tx.delete(table, k);
                    n += 1;
                }
            }
            Ok(Outcome::Count(n))
        };
        match self.write(Box::new(plan)).await? {
            Outcome::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }
}
