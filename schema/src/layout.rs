//! The data model shared by both backends: every table's name and key layout, the scan buckets
//! of the "all rows" tables, the due-index time buckets, TTL rules and row codecs.
//!
//! `schema/cql/0001_init.cql` declares the same tables; the embedded store keeps each row under
//! the key built here, and the ScyllaDB store builds its cursors from the same keys.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenants::{AccountId, Delivery, Post, Provider, WorkspaceId};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::keys::KeyBuf;
use crate::store::{DueRef, PostFilter, hour_bucket, shard_of};

/// How many partitions each "all rows" table (`users_all`, `workspaces_all`, `api_keys`,
/// `data_keys_all`) is spread over. A full listing walks the buckets in order.
pub(crate) const NUM_SCAN_BUCKETS: u32 = 16;

/// Due-index rows are kept this long after they fall due (or after they are written, when
/// already due), then expire. Long enough for a delivery held until its account is reconnected.
pub(crate) const DUE_INDEX_RETENTION: SignedDuration = SignedDuration::from_hours(180 * 24);
/// How long an account's publishes are kept for its quota: longer than any platform's window.
pub(crate) const PUBLISH_LOG_RETENTION: SignedDuration = SignedDuration::from_hours(48);

/// Expiring rows are kept this much longer by ScyllaDB than their logical expiry, so that reads
/// filtered on the caller's `now` see the same rows on both backends.
pub(crate) const TTL_GRACE: SignedDuration = SignedDuration::from_hours(24);

/// The largest page any list call returns.
pub(crate) const MAX_PAGE: usize = 1000;

/// How many rows a filtered listing inspects at most for one page before it returns a short page
/// with a cursor, so a sparse filter cannot turn one request into a full partition scan.
pub(crate) const MAX_SCAN_PER_PAGE: usize = 5000;

/// The partition of `schema_migrations` that records this schema's versions.
pub(crate) const MIGRATIONS_SCOPE: &str = "socialcrm";

/// The owner key of instance keys, which have no owning user.
pub(crate) const NO_OWNER: Uuid = Uuid::nil();

/// Clamps a requested page size to `1..=MAX_PAGE`.
pub(crate) fn page_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}

/// The scan bucket of an id: its last byte, which is random in a UUIDv7.
pub(crate) fn scan_bucket(id: Uuid) -> u32 {
    u32::from(id.as_bytes()[15]) % NUM_SCAN_BUCKETS
}

/// The stable name of a provider, as stored in `users_by_subject`.
pub(crate) fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Google => "google",
        Provider::X => "x",
    }
}

/// Nanoseconds since the epoch, the stored form of `due_at` and `expires_at` columns.
///
/// # Errors
/// [`StoreError::Backend`] for instants outside 1677..2262, which no schedule uses.
pub(crate) fn nanos(at: Timestamp) -> StoreResult<i64> {
    i64::try_from(at.as_nanosecond())
        .map_err(|_| StoreError::Backend(format!("timestamp {at} is out of the storable range")))
}

/// The instant of a stored nanosecond count.
///
/// # Errors
/// [`StoreError::Decode`] when the count is not a valid instant.
pub(crate) fn from_nanos(table: &'static str, ns: i64) -> StoreResult<Timestamp> {
    Timestamp::from_nanosecond(i128::from(ns)).map_err(|e| StoreError::Decode {
        table,
        reason: e.to_string(),
    })
}

/// The day bucket of an instant (days since the epoch), the time part of `account_due`.
pub(crate) fn day_bucket(at: Timestamp) -> i64 {
    at.as_second().div_euclid(86_400)
}

/// When a due-index row written now for `due_at` expires.
pub(crate) fn due_expires_at(due_at: Timestamp, now: Timestamp) -> Timestamp {
    due_at
        .max(now)
        .saturating_add(DUE_INDEX_RETENTION)
        .unwrap_or(Timestamp::MAX)
}

/// The publish-log row of `d`, which just became `published`: when it was published (`now`
/// when the delivery does not say) and when the row expires.
pub(crate) fn publish_log_times(d: &Delivery, now: Timestamp) -> (Timestamp, Timestamp) {
    let at = d.published_at.unwrap_or(now);
    let expires_at = at
        .checked_add(PUBLISH_LOG_RETENTION)
        .unwrap_or(Timestamp::MAX);
    (at, expires_at)
}

/// When the `account_due_days` row of `day` written now expires: never before any due row of
/// that day.
pub(crate) fn day_expires_at(day: i64, now: Timestamp) -> Timestamp {
    let day_end =
        Timestamp::from_second((day + 1).saturating_mul(86_400)).unwrap_or(Timestamp::MAX);
    due_expires_at(day_end, now)
}

/// A due-index row as the embedded store keeps it: the reference plus its emulated expiry.
/// Written in the binary format of `row_codec`; the JSON form below is how rows written before
/// it read back.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(from = "DueRowWire", into = "DueRowWire")]
pub(crate) struct DueRow {
    /// The reference.
    pub(crate) due: DueRef,
    /// When the row stops being returned.
    pub(crate) expires_at: Timestamp,
}

/// [`DueRow`] as stored: the reference's fields and the expiry side by side in one object.
/// Spelled out rather than `#[serde(flatten)]`, which writes the same JSON but decodes through a
/// buffered, much slower path; the due-window scan decodes every row of the window.
#[derive(Serialize, serde::Deserialize)]
struct DueRowWire {
    due_at: Timestamp,
    delivery_id: tenants::DeliveryId,
    workspace_id: tenants::WorkspaceId,
    account_id: tenants::AccountId,
    post_id: tenants::PostId,
    expires_at: Timestamp,
}

impl From<DueRowWire> for DueRow {
    fn from(w: DueRowWire) -> Self {
        Self {
            due: DueRef {
                due_at: w.due_at,
                delivery_id: w.delivery_id,
                workspace_id: w.workspace_id,
                account_id: w.account_id,
                post_id: w.post_id,
            },
            expires_at: w.expires_at,
        }
    }
}

impl From<DueRow> for DueRowWire {
    fn from(r: DueRow) -> Self {
        Self {
            due_at: r.due.due_at,
            delivery_id: r.due.delivery_id,
            workspace_id: r.due.workspace_id,
            account_id: r.due.account_id,
            post_id: r.due.post_id,
            expires_at: r.expires_at,
        }
    }
}

/// An expiring row of the embedded store whose only payload is its expiry.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct Expiring {
    /// When the row stops being returned.
    pub(crate) expires_at: Timestamp,
}

/// Nanoseconds since the epoch for a range bound, saturating outside the storable range.
pub(crate) fn nanos_saturating(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap_or(if at.as_second() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A ScyllaDB TTL in seconds for a row that logically expires at `expires_at`, seen from `now`,
/// plus `grace`, never less than one second (0 would mean "never").
pub(crate) fn ttl_seconds(expires_at: Timestamp, now: Timestamp, grace: SignedDuration) -> i32 {
    let left = expires_at.duration_since(now).max(SignedDuration::ZERO) + grace;
    i32::try_from(left.as_secs()).unwrap_or(i32::MAX).max(1)
}

/// The due-index reference of a delivery.
pub(crate) fn due_ref(d: &Delivery) -> DueRef {
    DueRef {
        due_at: d.due_at,
        delivery_id: d.id,
        workspace_id: d.workspace_id,
        account_id: d.account_id,
        post_id: d.post_id,
    }
}

/// Whether a post passes a listing filter.
pub(crate) fn post_matches(filter: &PostFilter, post: &Post) -> bool {
    if filter.status.is_some_and(|s| s != post.status) {
        return false;
    }
    if let Some(account_id) = filter.account_id
        && !post.account_ids.contains(&account_id)
    {
        return false;
    }
    if filter.from.is_some() || filter.to.is_some() {
        let Some(at) = post.scheduled_at else {
            return false;
        };
        if filter.from.is_some_and(|from| at < from) || filter.to.is_some_and(|to| at >= to) {
            return false;
        }
    }
    true
}

/// Serialises a stored value.
///
/// # Errors
/// [`StoreError::Backend`] if the value cannot be serialised (never for the domain types).
pub(crate) fn encode<T: Serialize>(table: &'static str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("encoding {table} row: {e}")))
}

/// Deserialises a stored value.
///
/// # Errors
/// [`StoreError::Decode`] when the bytes are not a valid row of `table`.
pub(crate) fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        table,
        reason: e.to_string(),
    })
}

/// Requires a row's owner to match the scope it is written under.
///
/// # Errors
/// [`StoreError::OutOfScope`] when it does not.
pub(crate) fn check_scope(
    table: &'static str,
    scope: WorkspaceId,
    row: WorkspaceId,
) -> StoreResult<()> {
    if scope == row {
        Ok(())
    } else {
        Err(StoreError::OutOfScope { table })
    }
}

/// Checks that `next` belongs to the account scope it is written under.
pub(crate) fn check_delivery_scope(
    scope: crate::scope::AccountScope,
    next: &Delivery,
) -> StoreResult<()> {
    check_scope("deliveries", scope.workspace_id(), next.workspace_id)?;
    if scope.account_id() == next.account_id {
        Ok(())
    } else {
        Err(StoreError::OutOfScope {
            table: "deliveries",
        })
    }
}

/// Key layouts, one function per table: `(partition key, clustering keys...)`. A `*_part`
/// function returns the partition prefix.
pub(crate) mod key {
    use super::*;

    /// `users((user_id))`.
    pub(crate) fn users(user: Uuid) -> Vec<u8> {
        KeyBuf::new().uuid(user).done()
    }
    /// `users_by_subject((provider, subject))`.
    pub(crate) fn users_by_subject(provider: Provider, subject: &str) -> Vec<u8> {
        KeyBuf::new()
            .str(provider_name(provider))
            .str(subject)
            .done()
    }
    /// `users_all((bucket), user_id)`, also `workspaces_all`, `api_keys`, `data_keys_all`.
    pub(crate) fn bucketed(id: Uuid) -> Vec<u8> {
        KeyBuf::new().u32(scan_bucket(id)).uuid(id).done()
    }
    /// `workspaces((workspace_id))`, `data_keys((workspace_id))`, and every workspace partition.
    pub(crate) fn ws(ws: WorkspaceId) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).done()
    }
    /// `(a, b)` for two ids: memberships (both directions), accounts, account_tokens, media,
    /// api_keys_by_owner.
    pub(crate) fn pair(a: Uuid, b: Uuid) -> Vec<u8> {
        KeyBuf::new().uuid(a).uuid(b).done()
    }
    /// A single string key: `api_keys_by_hash`, `idempotency`, `sessions`.
    pub(crate) fn text(s: &str) -> Vec<u8> {
        KeyBuf::new().str(s).done()
    }
    /// `sessions_by_user((user_id), id_hash)`.
    pub(crate) fn session_of_user(user: Uuid, id_hash: &str) -> Vec<u8> {
        KeyBuf::new().uuid(user).str(id_hash).done()
    }
    /// `posts((workspace_id), post_id DESC)`.
    pub(crate) fn post(ws: WorkspaceId, post: Uuid) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).uuid_desc(post).done()
    }
    /// `posts_by_external_id((workspace_id, external_id))`.
    pub(crate) fn post_by_external_id(ws: WorkspaceId, external_id: &str) -> Vec<u8> {
        KeyBuf::new().uuid(ws.as_uuid()).str(external_id).done()
    }
    /// `deliveries((workspace_id, post_id), delivery_id)`.
    pub(crate) fn delivery(ws: WorkspaceId, post: Uuid, delivery: Uuid) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(post)
            .uuid(delivery)
            .done()
    }
    /// `account_due((workspace_id, account_id, day), due_at_ns, delivery_id)`, cut after the
    /// first `due_at_ns` when `delivery` is `None` (a range bound).
    pub(crate) fn account_due(
        ws: WorkspaceId,
        account: AccountId,
        due_ns: i64,
        delivery: Option<Uuid>,
    ) -> Vec<u8> {
        let day = due_ns.div_euclid(86_400_000_000_000);
        let k = KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(account.as_uuid())
            .i64(day)
            .i64(due_ns);
        match delivery {
            Some(d) => k.uuid(d).done(),
            None => k.done(),
        }
    }
    /// `account_publishes((workspace_id, account_id), published_at_ns, delivery_id)`, cut
    /// after `published_ns` when `delivery` is `None` (a range bound).
    pub(crate) fn account_publish(
        ws: WorkspaceId,
        account: AccountId,
        published_ns: i64,
        delivery: Option<Uuid>,
    ) -> Vec<u8> {
        let k = KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(account.as_uuid())
            .i64(published_ns);
        match delivery {
            Some(d) => k.uuid(d).done(),
            None => k.done(),
        }
    }
    /// `account_due_days((workspace_id, account_id), day)`.
    pub(crate) fn account_due_day(ws: WorkspaceId, account: AccountId, day: i64) -> Vec<u8> {
        KeyBuf::new()
            .uuid(ws.as_uuid())
            .uuid(account.as_uuid())
            .i64(day)
            .done()
    }
    /// `due_by_bucket((shard, hour), due_at_ns, delivery_id)`.
    pub(crate) fn due_by_bucket(
        account: AccountId,
        due_at: Timestamp,
        due_ns: i64,
        delivery: Uuid,
    ) -> Vec<u8> {
        due_bucket_part(shard_of(account), hour_bucket(due_at))
            .into_iter()
            .chain(KeyBuf::new().i64(due_ns).uuid(delivery).done())
            .collect()
    }
    /// The partition prefix of `due_by_bucket`.
    pub(crate) fn due_bucket_part(shard: u16, hour: i64) -> Vec<u8> {
        KeyBuf::new().u32(u32::from(shard)).i64(hour).done()
    }
    /// `schema_migrations((scope), version)`.
    pub(crate) fn migration(version: u32) -> Vec<u8> {
        KeyBuf::new().str(MIGRATIONS_SCOPE).u32(version).done()
    }
    /// The one partition of `schema_migrations`.
    pub(crate) fn migrations_part() -> Vec<u8> {
        KeyBuf::new().str(MIGRATIONS_SCOPE).done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape `#[serde(flatten)]` wrote before [`DueRowWire`]: rows stored as JSON (before
    /// the binary rows of `row_codec`) must read back in either shape.
    #[derive(Serialize)]
    struct FlattenedDueRow {
        #[serde(flatten)]
        due: DueRef,
        expires_at: Timestamp,
    }

    #[test]
    fn test_due_rows_keep_their_stored_shape() {
        let due = DueRef {
            due_at: Timestamp::from_second(1_800_000_000).expect("valid"),
            delivery_id: tenants::DeliveryId::new(),
            workspace_id: tenants::WorkspaceId::new(),
            account_id: tenants::AccountId::new(),
            post_id: tenants::PostId::new(),
        };
        let expires_at = Timestamp::from_second(1_800_086_400).expect("valid");
        let stored = serde_json::to_string(&FlattenedDueRow { due, expires_at }).expect("encode");
        let row: DueRow = serde_json::from_str(&stored).expect("an old row decodes");
        assert_eq!(row.due, due);
        assert_eq!(row.expires_at, expires_at);
        assert_eq!(serde_json::to_string(&row).expect("encode"), stored);
    }
}
