//! The embedded store's tables: one redb table per CQL table of `schema/cql/`, same name, keyed
//! by the ordered bytes of [`crate::layout::key`] and holding JSON values; plus reads and scans
//! shared by read transactions and the writer.

use std::ops::Bound;

use redb::{ReadableTable, TableDefinition};

use crate::error::{StoreError, StoreResult};
use crate::keys::prefix_end;

/// A redb table of ordered byte keys and JSON values.
pub(crate) type Tbl = TableDefinition<'static, &'static [u8], &'static [u8]>;

pub(crate) const SCHEMA_MIGRATIONS: &str = "schema_migrations";
pub(crate) const USERS: &str = "users";
pub(crate) const USERS_BY_SUBJECT: &str = "users_by_subject";
pub(crate) const USERS_ALL: &str = "users_all";
pub(crate) const WORKSPACES: &str = "workspaces";
pub(crate) const WORKSPACES_ALL: &str = "workspaces_all";
pub(crate) const MEMBERSHIPS_BY_WORKSPACE: &str = "memberships_by_workspace";
pub(crate) const MEMBERSHIPS_BY_USER: &str = "memberships_by_user";
pub(crate) const API_KEYS: &str = "api_keys";
pub(crate) const API_KEYS_BY_HASH: &str = "api_keys_by_hash";
pub(crate) const API_KEYS_BY_OWNER: &str = "api_keys_by_owner";
pub(crate) const ACCOUNTS: &str = "accounts";
pub(crate) const ACCOUNT_TOKENS: &str = "account_tokens";
pub(crate) const DATA_KEYS: &str = "data_keys";
pub(crate) const DATA_KEYS_ALL: &str = "data_keys_all";
pub(crate) const POSTS: &str = "posts";
pub(crate) const POSTS_BY_EXTERNAL_ID: &str = "posts_by_external_id";
pub(crate) const DELIVERIES: &str = "deliveries";
pub(crate) const ACCOUNT_DUE: &str = "account_due";
pub(crate) const ACCOUNT_DUE_DAYS: &str = "account_due_days";
pub(crate) const ACCOUNT_PUBLISHES: &str = "account_publishes";
pub(crate) const DUE_BY_BUCKET: &str = "due_by_bucket";
pub(crate) const IDEMPOTENCY: &str = "idempotency";
pub(crate) const SESSIONS: &str = "sessions";
pub(crate) const SESSIONS_BY_USER: &str = "sessions_by_user";
pub(crate) const MEDIA: &str = "media";
pub(crate) const WEBHOOK_ENDPOINTS: &str = "webhook_endpoints";
pub(crate) const WEBHOOK_MESSAGES: &str = "webhook_messages";
pub(crate) const WEBHOOK_DUE: &str = "webhook_due";
pub(crate) const WEBHOOK_ATTEMPTS: &str = "webhook_attempts";
pub(crate) const METRIC_SAMPLES: &str = "metric_samples";
pub(crate) const POST_METRIC_SAMPLES: &str = "post_metric_samples";
pub(crate) const ANALYTICS_DUE: &str = "analytics_due";
pub(crate) const PARTNER_ACCOUNT_REFS: &str = "partner_account_refs";
pub(crate) const METRIC_PARTITIONS: &str = "metric_partitions";

/// The tables created by migration `version` (the tables its CQL file declares).
pub(crate) fn tables_of(version: u32) -> &'static [&'static str] {
    match version {
        1 => &[
            SCHEMA_MIGRATIONS,
            USERS,
            USERS_BY_SUBJECT,
            USERS_ALL,
            WORKSPACES,
            WORKSPACES_ALL,
            MEMBERSHIPS_BY_WORKSPACE,
            MEMBERSHIPS_BY_USER,
            API_KEYS,
            API_KEYS_BY_HASH,
            API_KEYS_BY_OWNER,
            ACCOUNTS,
            ACCOUNT_TOKENS,
            DATA_KEYS,
            DATA_KEYS_ALL,
            POSTS,
            POSTS_BY_EXTERNAL_ID,
            DELIVERIES,
            ACCOUNT_DUE,
            ACCOUNT_DUE_DAYS,
            DUE_BY_BUCKET,
            IDEMPOTENCY,
            SESSIONS,
            SESSIONS_BY_USER,
            MEDIA,
        ],
        4 => &[
            WEBHOOK_ENDPOINTS,
            WEBHOOK_MESSAGES,
            WEBHOOK_DUE,
            WEBHOOK_ATTEMPTS,
            PARTNER_ACCOUNT_REFS,
            METRIC_SAMPLES,
            POST_METRIC_SAMPLES,
            ANALYTICS_DUE,
            METRIC_PARTITIONS,
        ],
        5 => super::imports::TABLES,
        6 => super::events::TABLES,
        7 => &[ACCOUNT_PUBLISHES],
        3 => super::privacy::TABLES,
        2 => super::erasure::TABLES,
        _ => &[],
    }
}

/// The definition of a table by name.
pub(crate) const fn def(name: &'static str) -> Tbl {
    TableDefinition::new(name)
}

/// Maps any redb failure to a store error: I/O is `Unavailable`, damage is `Corrupt`, a missing
/// table means the store was never migrated.
pub(crate) fn db_err(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Io(e) => StoreError::Unavailable(format!("embedded store i/o: {e}")),
        redb::Error::PreviousIo => {
            StoreError::Unavailable("embedded store had an i/o error; reopen it".into())
        }
        redb::Error::Corrupted(m) => StoreError::Corrupt(m),
        redb::Error::TableDoesNotExist(_) => StoreError::SchemaVersion {
            found: 0,
            expected: crate::migrations::SCHEMA_VERSION,
        },
        redb::Error::DatabaseAlreadyOpen => {
            StoreError::Unavailable("the store file is already open in another process".into())
        }
        other => StoreError::Backend(other.to_string()),
    }
}

/// Reads one value.
pub(crate) fn get_in<T>(table: &T, key: &[u8]) -> StoreResult<Option<Vec<u8>>>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    Ok(table.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
}

/// Visits the rows of the partition `prefix` in key order, starting after `after` (a key inside
/// the partition) when given, until `visit` returns `false`.
pub(crate) fn scan_in<T>(
    table: &T,
    prefix: &[u8],
    after: Option<&[u8]>,
    mut visit: impl FnMut(&[u8], &[u8]) -> StoreResult<bool>,
) -> StoreResult<()>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let start = match after {
        Some(k) => Bound::Excluded(k),
        None => Bound::Included(prefix),
    };
    let end_key = prefix_end(prefix);
    let end = match &end_key {
        Some(k) => Bound::Excluded(k.as_slice()),
        None => Bound::Unbounded,
    };
    for row in table.range::<&[u8]>((start, end)).map_err(db_err)? {
        let (k, v) = row.map_err(db_err)?;
        if !visit(k.value(), v.value())? {
            break;
        }
    }
    Ok(())
}

/// Visits the rows with `from <= key < to`, in key order, until `visit` returns `false`.
pub(crate) fn range_in<T>(
    table: &T,
    from: &[u8],
    to: &[u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> StoreResult<bool>,
) -> StoreResult<()>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    for row in table.range::<&[u8]>(from..to).map_err(db_err)? {
        let (k, v) = row.map_err(db_err)?;
        if !visit(k.value(), v.value())? {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::{MIGRATIONS, created_tables};

    #[test]
    fn test_embedded_tables_match_the_cql_files() {
        for m in MIGRATIONS {
            let mut cql = created_tables(m.cql);
            let mut ours: Vec<String> = tables_of(m.version)
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            cql.sort();
            ours.sort();
            assert_eq!(ours, cql, "{}", m.name);
        }
    }
}
