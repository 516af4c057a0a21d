//! The embedded store: one redb file, zero setup. The default for single-node installs, tests
//! and demos.
//!
//! Every CQL table of `schema/cql/` is a redb table of the same name keyed by the ordered bytes
//! of its (partition key, clustering keys...) tuple, so a CQL partition is a key-prefix range and
//! both backends share one data model. Values are JSON.
//!
//! Writes go through one writer thread that group-commits (see [`writer`]); reads run
//! concurrently on MVCC read transactions inside `spawn_blocking`, so async callers never block
//! the runtime. TTLs are emulated: expiring rows carry `expires_at`, reads filter on it and
//! [`crate::MetaStore::sweep_expired`] removes them.

mod access;
mod accounts;
mod analytics;
mod deliveries;
mod erasure;
mod events;
mod imports;
mod meta;
mod posts;
mod privacy;
mod tables;
mod users;
mod webhooks;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;

use redb::{Database, DatabaseError, StorageError};

use self::access::{Lookup, Reader};
use self::tables::{SCHEMA_MIGRATIONS, db_err, def};
pub use self::writer::WriteStats;
use self::writer::{Outcome, Plan, Writer};
use crate::error::{StoreError, StoreResult};
use crate::keys::KeyReader;
use crate::migrations::{MIGRATIONS, MigrateReport, SCHEMA_VERSION};

/// The embedded store over one redb file.
///
/// The file grows to about twice the live data: redb is copy-on-write and keeps freed pages for
/// reuse rather than shrinking the file. `socialcrm compact` (which calls
/// [`RedbStore::compact`]) reclaims the space.
///
/// Cloning is cheap and shares the same file and writer.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<RwLock<Database>>,
    writer: Writer,
    writer_thread: Option<JoinHandle<()>>,
    path: PathBuf,
    version: AtomicU32,
}

impl Drop for Inner {
    /// Waits for the writer to commit what is queued and release the file, so the file can be
    /// reopened as soon as the last clone is dropped. This blocks for at most one batch.
    fn drop(&mut self) {
        self.writer.close_queue();
        if let Some(thread) = self.writer_thread.take() {
            // A writer that panicked has nothing left to release.
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// The store's own page cache (reads and the write buffer). redb's default is 1 GiB, which a
/// large store fills and keeps resident; past this the operating system's page cache serves
/// reads at the cost of a copy, and RSS stays bounded whatever the store's size. With the binary
/// rows of `row_codec` a page holds two to three times the deliveries it held as JSON, so 32 MiB
/// serves a 100k-delivery publish spike as fast as 48 MiB did, and 100k resident accounts keep
/// 16 MiB more headroom under their 1 GiB goal.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The most keyed rows a batch read fetches on the caller's thread (an account's burst); larger
/// batches go to the blocking pool.
const MAX_SHORT_BATCH: usize = 32;

impl RedbStore {
    /// Opens the store file at `path`, creating it and its parent directories when missing.
    /// The schema is not changed: call [`RedbStore::migrate`] before use.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the file is damaged or not a store file;
    /// [`StoreError::Unavailable`] if the path cannot be created or written, or the file is open
    /// in another process; [`StoreError::SchemaVersion`] if the file is newer than this binary.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| open_err(&path, e))?;
        let version = stored_version(&db)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaVersion {
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        let db = Arc::new(RwLock::new(db));
        let (writer, writer_thread) = Writer::spawn(db.clone())?;
        tracing::debug!(path = %path.display(), version, "opened embedded store");
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                writer,
                writer_thread: Some(writer_thread),
                path,
                version: AtomicU32::new(version),
            }),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Applies every migration the file does not have yet, in order, each in one durable
    /// transaction with its `schema_migrations` row.
    ///
    /// # Errors
    /// Storage failures, as for any write.
    pub async fn migrate(&self) -> StoreResult<MigrateReport> {
        let plan: Plan = Box::new(|tx| {
            let mut current = 0;
            // Opening the table inside the write transaction creates it on a new file.
            let part = crate::layout::key::migrations_part();
            tx.scan_from(SCHEMA_MIGRATIONS, &part, None, &mut |k, _| {
                current = current.max(KeyReader::new(&k[part.len()..]).u32()?);
                Ok(true)
            })?;
            let mut applied = Vec::new();
            for m in MIGRATIONS.iter().filter(|m| m.version > current) {
                for table in tables::tables_of(m.version) {
                    tx.create(table);
                }
                let row = serde_json::json!({ "version": m.version, "applied_at": jiff::Timestamp::now() });
                tx.put(
                    SCHEMA_MIGRATIONS,
                    crate::layout::key::migration(m.version),
                    crate::layout::encode(SCHEMA_MIGRATIONS, &row)?,
                );
                applied.push(m.version);
            }
            Ok(Outcome::Versions(applied))
        });
        let Outcome::Versions(applied) = self.inner.writer.submit(plan).await? else {
            return Err(unexpected());
        };
        let version = applied
            .last()
            .copied()
            .unwrap_or(self.inner.version.load(Ordering::Acquire));
        self.inner.version.store(version, Ordering::Release);
        if !applied.is_empty() {
            tracing::info!(?applied, version, "migrated embedded store");
        }
        Ok(MigrateReport { applied, version })
    }

    /// Rewrites the file to reclaim the space of freed pages. Runs between write batches; fails
    /// while read transactions are open.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when reads are in progress or compaction fails.
    pub async fn compact(&self) -> StoreResult<bool> {
        self.inner.writer.compact().await
    }

    /// How many write batches and ops the writer has committed: with concurrent writers there
    /// are fewer batches than ops (group commit).
    pub fn write_stats(&self) -> WriteStats {
        self.inner.writer.stats()
    }

    /// Stops the writer once the writes already queued are committed, and releases the file
    /// when the last clone of this store is dropped (at once, if this was the only one). Writes
    /// through other clones fail afterwards.
    pub async fn close(self) {
        self.inner.writer.stop().await;
    }

    /// Runs `f` on a read transaction on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> StoreResult<T> + Send + 'static,
    {
        self.ensure_migrated()?;
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .begin_read()
                .map_err(db_err)?;
            f(&Reader::new(txn))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store read task failed: {e}")))?
    }

    /// Runs a short read `f` (a point lookup, or a range bounded by a limit or one page) on a read
    /// transaction right here, without the blocking pool's thread hand-off: on the hot paths
    /// such a read costs microseconds, less than waking a blocking thread. Unbounded scans stay
    /// on [`Self::read`]. Falls back to [`Self::read`] while a compaction holds the
    /// database, so an async worker never waits for it.
    async fn read_point<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> StoreResult<T> + Send + 'static,
    {
        self.ensure_migrated()?;
        let txn = match self.inner.db.try_read() {
            Ok(db) => Some(db.begin_read()),
            Err(std::sync::TryLockError::Poisoned(db)) => Some(db.into_inner().begin_read()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        match txn {
            Some(txn) => f(&Reader::new(txn.map_err(db_err)?)),
            None => self.read(f).await,
        }
    }

    /// Runs `f`, which reads `n` rows by key, as a short read ([`Self::read_point`]) when `n`
    /// is small, else on the blocking pool ([`Self::read`]).
    async fn read_batch<T, F>(&self, n: usize, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> StoreResult<T> + Send + 'static,
    {
        if n <= MAX_SHORT_BATCH {
            self.read_point(f).await
        } else {
            self.read(f).await
        }
    }

    /// Reads the rows of `table` at `keys` in one transaction and decodes them with `decode`,
    /// one answer per key, in order.
    async fn get_many<T>(
        &self,
        table: &'static str,
        keys: Vec<Vec<u8>>,
        decode: access::Decode<T>,
    ) -> StoreResult<Vec<Option<T>>>
    where
        T: Send + 'static,
    {
        self.read_batch(keys.len(), move |r| {
            keys.iter().map(|k| r.get_row(table, k, decode)).collect()
        })
        .await
    }

    /// Runs `plan` in the writer's next batch.
    async fn write(&self, plan: Plan) -> StoreResult<Outcome> {
        self.ensure_migrated()?;
        self.inner.writer.submit(plan).await
    }

    /// Runs a plan that reports nothing.
    async fn write_done(&self, plan: Plan) -> StoreResult<()> {
        self.write(plan).await.map(|_| ())
    }

    /// One bounded purge step: `collect` lists up to `budget` rows to delete (it sees the
    /// batch's transaction), then they are deleted in the same plan. `done` when fewer than
    /// `budget` were found.
    async fn purge_rows<F>(
        &self,
        budget: usize,
        collect: F,
    ) -> StoreResult<crate::store_erasure::PurgeProgress>
    where
        F: FnOnce(&mut writer::Tx<'_, '_>, &mut Vec<(&'static str, Vec<u8>)>) -> StoreResult<()>
            + Send
            + 'static,
    {
        let budget = budget.max(1);
        let outcome = self
            .write(Box::new(move |tx| {
                let mut doomed: Vec<(&'static str, Vec<u8>)> = Vec::new();
                collect(tx, &mut doomed)?;
                let progress = crate::store_erasure::PurgeProgress {
                    num_deleted: doomed.len() as u64,
                    done: doomed.len() < budget,
                };
                for (table, k) in doomed {
                    tx.delete(table, k);
                }
                Ok(Outcome::Purge(progress))
            }))
            .await?;
        match outcome {
            Outcome::Purge(p) => Ok(p),
            _ => Err(unexpected()),
        }
    }

    fn ensure_migrated(&self) -> StoreResult<()> {
        let found = self.inner.version.load(Ordering::Acquire);
        if found == SCHEMA_VERSION {
            Ok(())
        } else {
            Err(StoreError::SchemaVersion {
                found,
                expected: SCHEMA_VERSION,
            })
        }
    }
}

fn unexpected() -> StoreError {
    StoreError::Backend("store writer returned an unexpected outcome".into())
}

fn open_err(path: &Path, e: DatabaseError) -> StoreError {
    let at = path.display();
    match e {
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            StoreError::Corrupt(format!("{at} is not a socialcrm store file"))
        }
        DatabaseError::Storage(StorageError::Corrupted(m)) => {
            StoreError::Corrupt(format!("{at}: {m}"))
        }
        DatabaseError::RepairAborted => StoreError::Corrupt(format!("{at}: repair was aborted")),
        DatabaseError::UpgradeRequired(v) => StoreError::Corrupt(format!(
            "{at}: file format {v} is not supported by this binary"
        )),
        DatabaseError::DatabaseAlreadyOpen => {
            StoreError::Unavailable(format!("{at} is already open in another process"))
        }
        DatabaseError::Storage(StorageError::Io(io)) => {
            StoreError::Unavailable(format!("cannot open {at}: {io}"))
        }
        other => StoreError::Unavailable(format!("cannot open {at}: {other}")),
    }
}

/// The highest migration recorded in the file (0 for a new file).
fn stored_version(db: &Database) -> StoreResult<u32> {
    let txn = db.begin_read().map_err(db_err)?;
    let table = match txn.open_table(def(SCHEMA_MIGRATIONS)) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(db_err(e)),
    };
    let mut version = 0;
    let part = crate::layout::key::migrations_part();
    tables::scan_in(&table, &part, None, |k, _| {
        version = version.max(KeyReader::new(&k[part.len()..]).u32()?);
        Ok(true)
    })?;
    Ok(version)
}
