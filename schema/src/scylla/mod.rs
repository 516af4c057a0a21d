//! The ScyllaDB store, for high-volume installs and several nodes.
//!
//! Tables come from `schema/cql/` (see [`migrate`]). Every statement is prepared once at
//! [`ScyllaStore::connect`] and kept in [`statements::Statements`]; each CQL string sits beside
//! the method that runs it. Every read binds its whole partition key and multi-row reads are
//! paged. Lightweight transactions are used only for delivery transitions (`IF version = ?`) and
//! idempotency claims (`IF NOT EXISTS`). Expiring rows carry a TTL.

mod accounts;
mod analytics;
mod deliveries;
mod erasure;
pub(crate) mod errors;
mod events;
mod imports;
mod meta;
pub mod migrate;
mod posts;
mod privacy;
mod statements;
mod users;
mod webhooks;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use scylla::client::pager::TypedRowStream;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use serde::de::DeserializeOwned;

use self::statements::Statements;
use crate::error::{StoreError, StoreResult};
use crate::layout::decode;
use crate::migrations::SCHEMA_VERSION;

/// One statement of a batch with its values.
pub(crate) type Part<'a> = (&'a PreparedStatement, Box<dyn SerializeRow + Send + Sync>);

/// The most statements sent in one batch; longer writes are split (see `create_post`).
pub(crate) const MAX_BATCH: usize = 64;

/// Rows fetched per page when a read has no tighter bound.
pub(crate) const DEFAULT_PAGE_SIZE: i32 = 500;

/// The ScyllaDB store. Cloning is cheap and shares the session and the prepared statements.
#[derive(Clone)]
pub struct ScyllaStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    keyspace: String,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("keyspace", &self.keyspace)
            .finish_non_exhaustive()
    }
}

impl ScyllaStore {
    /// Connects to the cluster through `nodes` (`host:port`), checks that `keyspace` is at this
    /// binary's schema version and prepares every statement.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when no node answers; [`StoreError::SchemaVersion`] when the
    /// keyspace needs `socialcrm migrate`; [`StoreError::InvalidUrl`] for a bad keyspace name.
    pub async fn connect(nodes: &[String], keyspace: &str) -> StoreResult<Self> {
        let session = open_session(nodes).await?;
        let found = migrate::current_version(&session, keyspace).await?;
        if found != SCHEMA_VERSION {
            return Err(StoreError::SchemaVersion {
                found,
                expected: SCHEMA_VERSION,
            });
        }
        session
            .use_keyspace(keyspace, false)
            .await
            .map_err(errors::use_keyspace)?;
        let st = Statements::prepare(&session).await?;
        tracing::info!(keyspace, num_nodes = nodes.len(), "connected to ScyllaDB");
        Ok(Self {
            session: Arc::new(session),
            st: Arc::new(st),
            keyspace: keyspace.to_owned(),
        })
    }

    /// The keyspace this store uses.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    async fn exec(
        &self,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<QueryResult> {
        self.session
            .execute_unpaged(st, values)
            .await
            .map_err(errors::execution)
    }

    async fn write(&self, st: &PreparedStatement, values: impl SerializeRow) -> StoreResult<()> {
        self.exec(st, values).await.map(|_| ())
    }

    /// Runs writes as logged batches of at most [`MAX_BATCH`] statements, in order.
    async fn batch(&self, parts: Vec<Part<'_>>) -> StoreResult<()> {
        let mut parts = parts.into_iter().peekable();
        while parts.peek().is_some() {
            let mut batch = Batch::new(BatchType::Logged);
            let mut values = Vec::new();
            for (st, v) in parts.by_ref().take(MAX_BATCH) {
                batch.append_statement(st.clone());
                values.push(v);
            }
            self.session
                .batch(&batch, values)
                .await
                .map_err(errors::execution)?;
        }
        Ok(())
    }

    /// A point read of at most one row (one partition, full primary key).
    async fn one<R>(
        &self,
        table: &'static str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<Option<R>>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let rows = self
            .exec(st, values)
            .await?
            .into_rows_result()
            .map_err(|e| errors::shape(table, e))?;
        rows.maybe_first_row::<R>()
            .map_err(|e| errors::shape(table, e))
    }

    /// A paged read: rows are fetched `page_size` at a time as the stream is consumed, so a
    /// caller that stops early reads at most one page more than it uses.
    async fn stream<R>(
        &self,
        table: &'static str,
        st: &PreparedStatement,
        values: impl SerializeRow,
        page_size: i32,
    ) -> StoreResult<TypedRowStream<R>>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let mut st = st.clone();
        st.set_page_size(page_size.clamp(1, DEFAULT_PAGE_SIZE));
        let pager = self
            .session
            .execute_iter(st, values)
            .await
            .map_err(errors::pager)?;
        pager
            .rows_stream::<R>()
            .map_err(|e| errors::shape(table, e))
    }

    /// Reads and decodes the `body` of one row.
    async fn body<T: DeserializeOwned>(
        &self,
        table: &'static str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<Option<T>> {
        match self.one::<(String,)>(table, st, values).await? {
            Some((body,)) => decode(table, body.as_bytes()).map(Some),
            None => Ok(None),
        }
    }

    /// Reads and decodes the `body` of every row of a partition, paged.
    async fn bodies<T: DeserializeOwned>(
        &self,
        table: &'static str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> StoreResult<Vec<T>> {
        let mut rows = self
            .stream::<(String,)>(table, st, values, DEFAULT_PAGE_SIZE)
            .await?;
        let mut out = Vec::new();
        while let Some((body,)) = rows.try_next().await.map_err(errors::next_row)? {
            out.push(decode(table, body.as_bytes())?);
        }
        Ok(out)
    }
}

/// Opens a session to the cluster (no keyspace).
///
/// # Errors
/// [`StoreError::Unavailable`] when no node answers.
pub(crate) async fn open_session(nodes: &[String]) -> StoreResult<Session> {
    if nodes.is_empty() {
        return Err(StoreError::Unavailable("no ScyllaDB node given".into()));
    }
    SessionBuilder::new()
        .known_nodes(nodes)
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
        .map_err(errors::session)
}

/// Boxes bound values for a batch part.
/// Where a page of a due index resumes: after the cursor's `(due_at_ns, id)`, or before everything
/// on the first page. The delivery, webhook and analytics due indexes share this key shape.
pub(crate) fn due_cursor(cursor: Option<&str>, prefix: &[u8]) -> StoreResult<(i64, uuid::Uuid)> {
    let Some(c) = cursor else {
        return Ok((i64::MIN, uuid::Uuid::nil()));
    };
    let k = crate::cursor::decode(c, prefix)?;
    let mut r = crate::keys::KeyReader::new(&k[prefix.len()..]);
    let after = (r.i64()?, r.uuid()?);
    r.end()?;
    Ok(after)
}

pub(crate) fn part<'a, V: SerializeRow + Send + Sync + 'static>(
    st: &'a PreparedStatement,
    values: V,
) -> Part<'a> {
    (st, Box::new(values))
}

/// A JSON body as a CQL text value.
pub(crate) fn body_text<T: serde::Serialize>(
    table: &'static str,
    value: &T,
) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Backend(format!("encoding {table} row: {e}")))
}
