//! Store administration for the `socialcrm` CLI: `doctor` (inspect the schema version without
//! changing anything) and `compact` (reclaim the embedded file's free space).

use std::fmt;
use std::path::PathBuf;

use crate::embedded::RedbStore;
use crate::error::{StoreError, StoreResult};
use crate::migrations::SCHEMA_VERSION;
use crate::scylladb::{migrate as cluster, open_session};
use crate::store::MetaStore;
use crate::url::StoreUrl;

/// Where a store's schema stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The version the store is at (0 for a store that does not exist yet).
    pub version: u32,
    /// The version this binary needs.
    pub latest: u32,
}

/// What `compact` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactReport {
    /// The embedded file was rewritten.
    Embedded {
        /// The file.
        path: PathBuf,
        /// Its size before, in bytes.
        before_bytes: u64,
        /// Its size after, in bytes.
        after_bytes: u64,
    },
    /// ScyllaDB compacts its own SSTables; nothing was done.
    Cluster,
}

impl fmt::Display for CompactReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded {
                path,
                before_bytes,
                after_bytes,
            } => write!(
                f,
                "compacted {}: {before_bytes} -> {after_bytes} bytes ({} reclaimed)",
                path.display(),
                before_bytes.saturating_sub(*after_bytes)
            ),
            Self::Cluster => write!(f, "nothing to do: ScyllaDB compacts its own tables"),
        }
    }
}

async fn open_existing(path: PathBuf) -> StoreResult<RedbStore> {
    tokio::task::spawn_blocking(move || RedbStore::open(path))
        .await
        .map_err(|e| StoreError::Backend(format!("opening the store failed: {e}")))?
}

/// Reads the store's schema version without migrating or creating anything.
///
/// # Errors
/// [`StoreError::Corrupt`] for a damaged file, [`StoreError::Unavailable`] when the file is in
/// use or the cluster cannot be reached.
pub async fn inspect(url: &StoreUrl) -> StoreResult<SchemaStatus> {
    let version = match url {
        StoreUrl::Redb { path } => {
            if !path.exists() {
                0
            } else {
                let store = open_existing(path.clone()).await?;
                let version = store.schema_version().await?;
                store.close().await;
                version
            }
        }
        StoreUrl::Scylla { nodes, keyspace } => {
            let session = open_session(nodes).await?;
            cluster::current_version(&session, keyspace).await?
        }
    };
    Ok(SchemaStatus {
        version,
        latest: SCHEMA_VERSION,
    })
}

/// Rewrites the embedded file to reclaim freed pages (the file grows to about twice its live
/// data). The server must be stopped: the file can only be open once.
///
/// # Errors
/// [`StoreError::Unavailable`] when the file is missing or in use; storage failures.
pub async fn compact(url: &StoreUrl) -> StoreResult<CompactReport> {
    let StoreUrl::Redb { path } = url else {
        return Ok(CompactReport::Cluster);
    };
    let size = |p: &PathBuf| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", p.display())))
    };
    let before_bytes = size(path)?;
    let store = open_existing(path.clone()).await?;
    // Each pass may free pages a further pass can move; a few passes reach the fixed point.
    for _ in 0..4 {
        if !store.compact().await? {
            break;
        }
    }
    store.close().await;
    Ok(CompactReport::Embedded {
        path: path.clone(),
        before_bytes,
        after_bytes: size(path)?,
    })
}
