//! ScyllaDB migrations: creates the keyspace, then runs each CQL file of `schema/cql/` that the
//! keyspace has not recorded in `schema_migrations`, waiting for schema agreement after every
//! DDL statement so all nodes see a table before it is used.

use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};

use super::{errors, open_session};
use crate::error::{StoreError, StoreResult};
use crate::layout::MIGRATIONS_SCOPE;
use crate::migrations::{MIGRATIONS, MigrateReport, statements};

/// Reads the recorded versions. Runs once per connect or migrate, on a table of a few rows.
const SELECT_VERSIONS: &str = "SELECT version FROM {ks}.schema_migrations WHERE scope = ? LIMIT 1";
/// Records an applied migration.
const INSERT_VERSION: &str = "INSERT INTO {ks}.schema_migrations (scope, version, applied_at) VALUES (?, ?, toTimestamp(now()))";

/// Checks a keyspace name: CQL identifiers of letters, digits and `_`, at most 48 characters.
///
/// # Errors
/// [`StoreError::InvalidUrl`] otherwise.
pub fn check_keyspace(keyspace: &str) -> StoreResult<()> {
    let ok = !keyspace.is_empty()
        && keyspace.len() <= 48
        && keyspace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && keyspace
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidUrl {
            url: keyspace.to_owned(),
            reason: "a keyspace is a letter followed by up to 47 letters, digits or `_`".into(),
        })
    }
}

/// The highest migration recorded in `keyspace` (0 when the keyspace or table is missing).
///
/// # Errors
/// Driver errors other than "no such keyspace/table".
pub(crate) async fn current_version(session: &Session, keyspace: &str) -> StoreResult<u32> {
    check_keyspace(keyspace)?;
    let cql = SELECT_VERSIONS.replace("{ks}", keyspace);
    let result = match session.query_unpaged(cql, (MIGRATIONS_SCOPE,)).await {
        Ok(r) => r,
        Err(ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Invalid,
            _,
        ))) => return Ok(0),
        Err(e) => return Err(errors::execution(e)),
    };
    let rows = result
        .into_rows_result()
        .map_err(|e| errors::shape("schema_migrations", e))?;
    let mut version = 0u32;
    for row in rows
        .rows::<(i32,)>()
        .map_err(|e| errors::shape("schema_migrations", e))?
    {
        let (v,) = row.map_err(|e| errors::shape("schema_migrations", e))?;
        version = version.max(u32::try_from(v).unwrap_or(0));
    }
    Ok(version)
}

/// Creates `keyspace` if needed (replication factor: the number of nodes, at most 3) and
/// applies every pending migration in order.
///
/// # Errors
/// [`StoreError::Unavailable`] when the cluster cannot be reached or does not agree on the
/// schema; driver errors for a statement the cluster refuses.
pub async fn migrate(nodes: &[String], keyspace: &str) -> StoreResult<MigrateReport> {
    check_keyspace(keyspace)?;
    let session = open_session(nodes).await?;
    create_keyspace(&session, keyspace).await?;
    let current = current_version(&session, keyspace).await?;
    session
        .use_keyspace(keyspace, false)
        .await
        .map_err(errors::use_keyspace)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        for statement in statements(m.cql) {
            session
                .query_unpaged(statement, ())
                .await
                .map_err(errors::execution)?;
            session
                .await_schema_agreement()
                .await
                .map_err(errors::agreement)?;
        }
        let version = i32::try_from(m.version)
            .map_err(|_| StoreError::Backend("migration version overflow".into()))?;
        let insert = INSERT_VERSION.replace("{ks}", keyspace);
        session
            .query_unpaged(insert, (MIGRATIONS_SCOPE, version))
            .await
            .map_err(errors::execution)?;
        tracing::info!(
            keyspace,
            version = m.version,
            name = m.name,
            "applied migration"
        );
        applied.push(m.version);
    }
    let version = applied.last().copied().unwrap_or(current);
    Ok(MigrateReport { applied, version })
}

async fn create_keyspace(session: &Session, keyspace: &str) -> StoreResult<()> {
    let num_nodes = session.get_cluster_state().get_nodes_info().len();
    let rf = num_nodes.clamp(1, 3);
    let base = format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'NetworkTopologyStrategy', 'replication_factor': {rf}}}"
    );
    // Lightweight transactions need vnode-based replication on ScyllaDB releases where tablets
    // do not support them yet; servers that do not know the option get the plain statement.
    let with_vnodes = format!("{base} AND tablets = {{'enabled': false}}");
    if session.query_unpaged(with_vnodes, ()).await.is_err() {
        session
            .query_unpaged(base, ())
            .await
            .map_err(errors::execution)?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(errors::agreement)?;
    Ok(())
}
