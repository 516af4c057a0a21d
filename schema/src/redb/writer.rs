//! The embedded store's single writer thread, with group commit.
//!
//! Callers send a [`Plan`] over a bounded channel with a oneshot reply. The writer drains up to
//! [`MAX_BATCH`] queued plans into one durable write transaction: one fsync per batch, however
//! many callers. A plan first reads (it sees the writes of the plans before it in the batch) and
//! decides; its writes are buffered in [`Tx`] and applied only if the plan returns `Ok`, so an
//! op that fails validation or loses a compare-and-set leaves no trace and does not poison the
//! others. Replies are sent only after the commit is durable. Because every plan runs on this one
//! thread, a compare-and-set checked inside a plan is race-free.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;

use redb::{Database, Durability, Table, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::tables::{db_err, def};
use crate::error::{StoreError, StoreResult};
use crate::store::CasOutcome;
use crate::store_requests::IdempotencyClaim;

/// The most plans committed in one transaction.
pub(crate) const MAX_BATCH: usize = 1024;

/// How many plans may wait for the writer before senders are slowed down.
const QUEUE_DEPTH: usize = 4096;

/// What a plan reports back to its caller.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Nothing to report.
    Done,
    /// An idempotency claim result.
    Claim(IdempotencyClaim),
    /// A count (rows swept).
    Count(u64),
    /// Migration versions applied.
    Versions(Vec<u32>),
    /// The data key stored after an insert-if-absent.
    DataKey(Box<tenants::WrappedDataKey>),
    /// How far a workspace purge got.
    Purge(crate::store_erasure::PurgeProgress),
    /// One outcome per post of a batched creation.
    Posts(Vec<crate::store_post_batch::PostCreation>),
    /// An id the plan made (a logged event's).
    Id(uuid::Uuid),
    /// Ids the plan made, in order.
    Ids(Vec<uuid::Uuid>),
    /// One compare-and-set result per move, in order.
    Cases(Vec<CasOutcome>),
}

/// One write operation: reads through the [`Tx`], buffers its writes there, returns its outcome.
pub(crate) type Plan = Box<dyn FnOnce(&mut Tx<'_, '_>) -> StoreResult<Outcome> + Send>;

enum Write {
    Put(&'static str, Vec<u8>, Vec<u8>),
    Delete(&'static str, Vec<u8>),
    Create(&'static str),
}

/// A table of the store as the writer opens it: byte keys to byte values.
pub(crate) type RawTable<'txn> = Table<'txn, &'static [u8], &'static [u8]>;

/// The batch's open tables. Opening a table in a write transaction (a lookup in the table
/// tree) and closing it again (which writes its root back) costs more than a small read or
/// insert, and a batch of a thousand plans reads and writes a handful of tables thousands of
/// times; so each table is opened once per batch and closed before the commit.
pub(crate) struct Tables<'txn> {
    txn: &'txn WriteTransaction,
    open: Vec<(&'static str, RawTable<'txn>)>,
}

impl<'txn> Tables<'txn> {
    fn new(txn: &'txn WriteTransaction) -> Self {
        Self {
            txn,
            open: Vec::new(),
        }
    }

    /// The open table `name`, opened (or created) on first use.
    pub(crate) fn table(&mut self, name: &'static str) -> StoreResult<&mut RawTable<'txn>> {
        let at = match self.open.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                let t = self.txn.open_table(def(name)).map_err(db_err)?;
                self.open.push((name, t));
                self.open.len() - 1
            }
        };
        Ok(&mut self.open[at].1)
    }
}

/// A plan's view of the batch transaction: reads go to the batch's tables, writes are buffered.
pub(crate) struct Tx<'a, 'txn> {
    tables: &'a RefCell<Tables<'txn>>,
    writes: Vec<Write>,
}

impl<'txn> Tx<'_, 'txn> {
    /// The batch's open tables, for reads (see [`super::access::Lookup`]).
    pub(crate) fn tables(&self) -> std::cell::RefMut<'_, Tables<'txn>> {
        self.tables.borrow_mut()
    }

    /// Buffers an insert-or-replace.
    pub(crate) fn put(&mut self, table: &'static str, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write::Put(table, key, value));
    }

    /// Buffers a delete.
    pub(crate) fn delete(&mut self, table: &'static str, key: Vec<u8>) {
        self.writes.push(Write::Delete(table, key));
    }

    /// Buffers the creation of a table (migrations).
    pub(crate) fn create(&mut self, table: &'static str) {
        self.writes.push(Write::Create(table));
    }
}

type Reply<T> = oneshot::Sender<StoreResult<T>>;

enum Job {
    Op(Plan, Reply<Outcome>),
    Compact(Reply<bool>),
    Stop(oneshot::Sender<()>),
}

/// Counters of the writer's work, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Write transactions committed (one per batch).
    pub num_batches: u64,
    /// Write operations committed in them.
    pub num_ops: u64,
    /// Write operations waiting for the writer right now.
    pub num_queued: usize,
}

#[derive(Debug, Default)]
struct Counters {
    num_batches: AtomicU64,
    num_ops: AtomicU64,
}

/// The handle to the writer thread. The thread stops when the last handle is dropped or on
/// [`Writer::stop`].
#[derive(Clone)]
pub(crate) struct Writer {
    jobs_tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer thread over `db`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the thread cannot be started.
    pub(crate) fn spawn(db: Arc<RwLock<Database>>) -> StoreResult<(Self, JoinHandle<()>)> {
        let (jobs_tx, jobs_rx) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                let stopped = run(&db, &thread_counters, jobs_rx);
                // Release the file before telling the caller it may be reopened.
                drop(db);
                if let Some(done) = stopped {
                    let _ = done.send(());
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store writer: {e}")))?;
        Ok((Self { jobs_tx, counters }, thread))
    }

    /// Closes this handle's end of the queue: once every handle is closed or dropped, the
    /// writer commits what is queued and stops.
    pub(crate) fn close_queue(&mut self) {
        let (closed, _) = mpsc::channel(1);
        self.jobs_tx = closed;
    }

    /// What the writer has committed so far.
    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            num_batches: self.counters.num_batches.load(Ordering::Relaxed),
            num_ops: self.counters.num_ops.load(Ordering::Relaxed),
            num_queued: self.queued(),
        }
    }

    /// How many jobs wait in the queue.
    fn queued(&self) -> usize {
        QUEUE_DEPTH - self.jobs_tx.capacity()
    }

    /// Stops the writer after the writes queued before this call, and waits until it has
    /// released the database.
    pub(crate) async fn stop(&self) {
        let (done, rx) = oneshot::channel();
        if self.jobs_tx.send(Job::Stop(done)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Runs `plan` in the next batch and waits until its batch is durable.
    ///
    /// # Errors
    /// The plan's own error, or the batch's storage error.
    pub(crate) async fn submit(&self, plan: Plan) -> StoreResult<Outcome> {
        let (reply, rx) = oneshot::channel();
        self.jobs_tx
            .send(Job::Op(plan, reply))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Compacts the file between batches.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when reads are open or compaction fails.
    pub(crate) async fn compact(&self) -> StoreResult<bool> {
        let (reply, rx) = oneshot::channel();
        self.jobs_tx
            .send(Job::Compact(reply))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store writer has stopped".into())
}

/// Runs batches until every handle is gone (`None`) or a stop is asked (its reply).
fn run(
    db: &RwLock<Database>,
    counters: &Counters,
    mut jobs_rx: mpsc::Receiver<Job>,
) -> Option<oneshot::Sender<()>> {
    while let Some(job) = jobs_rx.blocking_recv() {
        let mut batch = Vec::new();
        let mut compact = None;
        match job {
            Job::Op(plan, reply) => batch.push((plan, reply)),
            Job::Compact(reply) => compact = Some(reply),
            Job::Stop(done) => return Some(done),
        }
        let mut stop = None;
        while compact.is_none() && stop.is_none() && batch.len() < MAX_BATCH {
            match jobs_rx.try_recv() {
                Ok(Job::Op(plan, reply)) => batch.push((plan, reply)),
                Ok(Job::Compact(reply)) => compact = Some(reply),
                Ok(Job::Stop(done)) => stop = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit_batch(db, counters, batch);
        }
        if stop.is_some() {
            return stop;
        }
        if let Some(reply) = compact {
            let mut db = db.write().unwrap_or_else(PoisonError::into_inner);
            let result = db.compact().map_err(|e| match e {
                redb::CompactionError::TransactionInProgress => {
                    StoreError::Backend("cannot compact while reads are in progress; retry".into())
                }
                other => db_err(other),
            });
            // The caller may have given up waiting; the compaction happened either way.
            let _ = reply.send(result);
        }
    }
    None
}

/// Runs one batch in one transaction, counts it, then answers every caller.
fn commit_batch(db: &RwLock<Database>, counters: &Counters, batch: Vec<(Plan, Reply<Outcome>)>) {
    let db = db.read().unwrap_or_else(PoisonError::into_inner);
    let mut txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => {
            let e = db_err(e);
            for (_, reply) in batch {
                let _ = reply.send(Err(e.clone()));
            }
            return;
        }
    };
    txn.set_durability(Durability::Immediate);
    // Each commit also saves the allocator state (and commits in two phases), so reopening
    // after a crash takes milliseconds instead of a walk of the whole file (seconds per GB).
    txn.set_quick_repair(true);
    // `None` marks an op whose result depends on the commit.
    let mut results: Vec<(Reply<Outcome>, Option<StoreResult<Outcome>>)> =
        Vec::with_capacity(batch.len());
    let mut pending: Vec<Outcome> = Vec::new();
    let mut fatal: Option<StoreError> = None;
    let tables = RefCell::new(Tables::new(&txn));
    for (plan, reply) in batch {
        if fatal.is_some() {
            results.push((reply, None));
            continue;
        }
        let mut tx = Tx {
            tables: &tables,
            writes: Vec::new(),
        };
        let planned = catch_unwind(AssertUnwindSafe(|| plan(&mut tx)))
            .unwrap_or_else(|_| Err(StoreError::Backend("store write operation panicked".into())));
        match planned {
            Ok(outcome) => match apply(&mut tables.borrow_mut(), tx.writes) {
                Ok(()) => {
                    pending.push(outcome);
                    results.push((reply, None));
                }
                Err(e) => {
                    fatal = Some(e);
                    results.push((reply, None));
                }
            },
            Err(e) => results.push((reply, Some(Err(e)))),
        }
    }
    // Every table must be closed (its root written back) before the commit.
    drop(tables);
    let committed = match fatal {
        Some(e) => {
            let _ = txn.abort();
            Err(e)
        }
        None => txn.commit().map_err(db_err),
    };
    if committed.is_ok() && !pending.is_empty() {
        counters.num_batches.fetch_add(1, Ordering::Relaxed);
        counters
            .num_ops
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
    }
    let mut pending = pending.into_iter();
    for (reply, result) in results {
        let result = match (result, &committed) {
            (Some(own), _) => own,
            (None, Ok(())) => pending
                .next()
                .ok_or_else(|| StoreError::Backend("lost write outcome".into())),
            (None, Err(e)) => Err(e.clone()),
        };
        // A caller that stopped waiting still had its write applied (or not) with the batch.
        let _ = reply.send(result);
    }
}

/// Applies a plan's buffered writes, in order, to the batch's tables.
fn apply(tables: &mut Tables<'_>, writes: Vec<Write>) -> StoreResult<()> {
    for w in writes {
        match w {
            Write::Put(name, key, value) => {
                tables
                    .table(name)?
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(db_err)?;
            }
            Write::Delete(name, key) => {
                tables.table(name)?.remove(key.as_slice()).map_err(db_err)?;
            }
            Write::Create(name) => {
                tables.table(name)?;
            }
        }
    }
    Ok(())
}
