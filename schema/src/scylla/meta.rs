//! Idempotency claims (`IF NOT EXISTS`, the other lightweight transaction) and schema
//! bookkeeping on ScyllaDB. Expired rows are removed by their TTL.

use async_trait::async_trait;
use jiff::Timestamp;
use scylla::value::Row;

use super::deliveries::lwt_applied;
use super::{ScyllaStore, body_text};
use crate::error::{StoreError, StoreResult};
use crate::layout::{MIGRATIONS_SCOPE, TTL_GRACE, decode, from_nanos, nanos, ttl_seconds};
use crate::store::MetaStore;
use crate::store_requests::{
    IdempotencyClaim, IdempotencyRecord, IdempotencyStore, StoredResponse,
};

pub(crate) const CLAIM_IDEMPOTENCY: &str = "INSERT INTO idempotency (key, fingerprint, expires_at_ns) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?";
pub(crate) const TAKE_OVER_IDEMPOTENCY: &str = "UPDATE idempotency USING TTL ? \
    SET fingerprint = ?, expires_at_ns = ?, response = null WHERE key = ? IF expires_at_ns = ?";
pub(crate) const GET_IDEMPOTENCY: &str =
    "SELECT fingerprint, expires_at_ns, response FROM idempotency WHERE key = ?";
pub(crate) const PUT_IDEMPOTENCY: &str = "INSERT INTO idempotency (key, fingerprint, expires_at_ns, response) VALUES (?, ?, ?, ?) USING TTL ?";
pub(crate) const DELETE_IDEMPOTENCY: &str = "DELETE FROM idempotency WHERE key = ?";
pub(crate) const PING: &str = "SELECT release_version FROM system.local WHERE key = 'local'";
pub(crate) const SCHEMA_VERSION: &str =
    "SELECT version FROM schema_migrations WHERE scope = ? LIMIT 1";

/// How often a claim retries when the record it saw changed under it.
const CLAIM_ATTEMPTS: usize = 4;

type IdempotencyRow = (Option<String>, Option<i64>, Option<String>);

fn record(row: IdempotencyRow) -> StoreResult<(IdempotencyRecord, i64)> {
    let (fingerprint, expires_ns, response) = row;
    let expires_ns = expires_ns.unwrap_or(i64::MIN);
    let response: Option<StoredResponse> = response
        .map(|r| decode("idempotency", r.as_bytes()))
        .transpose()?;
    let rec = IdempotencyRecord {
        fingerprint: fingerprint.unwrap_or_default(),
        response,
        expires_at: from_nanos("idempotency", expires_ns.max(0))?,
    };
    Ok((rec, expires_ns))
}

#[async_trait]
impl IdempotencyStore for ScyllaStore {
    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<IdempotencyClaim> {
        let (expires_ns, ttl) = (nanos(expires_at)?, ttl_seconds(expires_at, now, TTL_GRACE));
        for _ in 0..CLAIM_ATTEMPTS {
            let inserted = self
                .one::<Row>(
                    "idempotency",
                    &self.st.claim_idempotency,
                    (key, fingerprint, expires_ns, ttl),
                )
                .await?;
            if lwt_applied(inserted.as_ref()) {
                return Ok(IdempotencyClaim::Claimed);
            }
            let Some(row) = self
                .one::<IdempotencyRow>("idempotency", &self.st.get_idempotency_serial, (key,))
                .await?
            else {
                continue; // expired or released in between: try to insert again
            };
            let (existing, stored_ns) = record(row)?;
            if existing.expires_at > now {
                return Ok(IdempotencyClaim::Existing(existing));
            }
            let values = (ttl, fingerprint, expires_ns, key, stored_ns);
            let taken = self
                .one::<Row>("idempotency", &self.st.take_over_idempotency, values)
                .await?;
            if lwt_applied(taken.as_ref()) {
                return Ok(IdempotencyClaim::Claimed);
            }
        }
        Err(StoreError::Timeout(format!(
            "idempotency key kept changing during {CLAIM_ATTEMPTS} claim attempts"
        )))
    }

    async fn complete_idempotency(&self, key: &str, response: &StoredResponse) -> StoreResult<()> {
        // A record that expired or was released meanwhile stays gone.
        let Some(row) = self
            .one::<IdempotencyRow>("idempotency", &self.st.get_idempotency, (key,))
            .await?
        else {
            return Ok(());
        };
        let (rec, expires_ns) = record(row)?;
        let ttl = ttl_seconds(rec.expires_at, Timestamp::now(), TTL_GRACE);
        let values = (
            key,
            rec.fingerprint,
            expires_ns,
            body_text("idempotency", response)?,
            ttl,
        );
        self.write(&self.st.put_idempotency, values).await
    }

    async fn release_idempotency(&self, key: &str) -> StoreResult<()> {
        self.write(&self.st.delete_idempotency, (key,)).await
    }
}

#[async_trait]
impl MetaStore for ScyllaStore {
    async fn ping(&self) -> StoreResult<()> {
        self.one::<(Option<String>,)>("system.local", &self.st.ping, ())
            .await
            .map(|_| ())
    }

    async fn schema_version(&self) -> StoreResult<u32> {
        let row = self
            .one::<(i32,)>(
                "schema_migrations",
                &self.st.schema_version,
                (MIGRATIONS_SCOPE,),
            )
            .await?;
        Ok(row.map_or(0, |(v,)| u32::try_from(v).unwrap_or(0)))
    }

    /// ScyllaDB removes expired rows through their TTL: nothing to sweep.
    async fn sweep_expired(&self, _now: Timestamp) -> StoreResult<u64> {
        Ok(0)
    }
}
