//! Reads shared by read transactions and the writer's plans: point reads, partition scans and
//! pages, all over [`Lookup`].

use std::cell::RefCell;
use std::rc::Rc;

use redb::{ReadOnlyTable, ReadTransaction};
use serde::de::DeserializeOwned;

use super::tables::{db_err, def, get_in, range_in, scan_in};
use super::writer::Tx;
use crate::cursor::{self, PageBuilder};
use crate::error::StoreResult;
use crate::layout::{decode, page_limit};
use crate::store::{Page, PageRequest};

/// A row visitor: gets each (key, value) and says whether to go on.
pub(crate) type Visit<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> StoreResult<bool>;

/// A table's row decoder: JSON ([`decode`]) or one of [`crate::row_codec`]'s.
pub(crate) type Decode<T> = fn(&'static str, &[u8]) -> StoreResult<T>;

/// Something rows can be read from: a read transaction or the writer's batch.
pub(crate) trait Lookup {
    /// Reads one value.
    fn get(&self, table: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// Visits the partition `prefix` in key order after `after`, until `visit` returns `false`.
    fn scan_from(
        &self,
        table: &'static str,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: Visit<'_>,
    ) -> StoreResult<()>;

    /// Reads and decodes one JSON value.
    fn get_json<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: &[u8],
    ) -> StoreResult<Option<T>> {
        self.get_row(table, key, decode)
    }

    /// Reads one value and decodes it with `decode` (a table's own row format).
    fn get_row<T>(
        &self,
        table: &'static str,
        key: &[u8],
        decode: Decode<T>,
    ) -> StoreResult<Option<T>> {
        self.get(table, key)?.map(|v| decode(table, &v)).transpose()
    }

    /// Decodes every JSON row of a partition, in key order.
    fn all<T: DeserializeOwned>(&self, table: &'static str, prefix: &[u8]) -> StoreResult<Vec<T>> {
        self.all_rows(table, prefix, decode)
    }

    /// Decodes every row of a partition with `decode`, in key order.
    fn all_rows<T>(
        &self,
        table: &'static str,
        prefix: &[u8],
        decode: Decode<T>,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        self.scan_from(table, prefix, None, &mut |_, v| {
            out.push(decode(table, v)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// One page of a partition; `pick` decodes a row and applies any filter.
    fn page<T>(
        &self,
        table: &'static str,
        prefix: &[u8],
        req: &PageRequest,
        mut pick: impl FnMut(&[u8], &[u8]) -> StoreResult<Option<T>>,
    ) -> StoreResult<Page<T>> {
        let after = req
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, prefix))
            .transpose()?;
        let mut page = PageBuilder::new(page_limit(req.limit));
        self.scan_from(table, prefix, after.as_deref(), &mut |k, v| {
            let item = pick(k, v)?;
            Ok(page.offer(k, item))
        })?;
        Ok(page.finish())
    }
}

/// A table of the store as a read transaction opens it.
type RawReadTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// A read transaction (a consistent snapshot), with the tables it has opened: a batch read
/// (an account's burst, a post-status flush) reads one table many times, and opening it is a
/// lookup in the table tree each time.
pub(crate) struct Reader {
    txn: ReadTransaction,
    open: RefCell<Vec<(&'static str, Rc<RawReadTable>)>>,
}

impl Reader {
    /// Wraps a read transaction.
    pub(crate) fn new(txn: ReadTransaction) -> Self {
        Self {
            txn,
            open: RefCell::new(Vec::new()),
        }
    }

    /// The table `name`, opened on first use.
    fn table(&self, name: &'static str) -> StoreResult<Rc<RawReadTable>> {
        if let Some((_, t)) = self.open.borrow().iter().find(|(n, _)| *n == name) {
            return Ok(t.clone());
        }
        let t = Rc::new(self.txn.open_table(def(name)).map_err(db_err)?);
        self.open.borrow_mut().push((name, t.clone()));
        Ok(t)
    }

    /// Visits `from <= key < to` in key order (ranges that span partitions of one table).
    pub(crate) fn range(
        &self,
        table: &'static str,
        from: &[u8],
        to: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        range_in(&*self.table(table)?, from, to, visit)
    }
}

impl Lookup for Reader {
    fn get(&self, table: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        get_in(&*self.table(table)?, key)
    }

    fn scan_from(
        &self,
        table: &'static str,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: Visit<'_>,
    ) -> StoreResult<()> {
        scan_in(&*self.table(table)?, prefix, after, visit)
    }
}

/// Reads through the batch's open tables: a scan's visitor must not read through the same `Tx`
/// (the tables are borrowed for the scan).
impl Lookup for Tx<'_, '_> {
    fn get(&self, table: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        get_in(self.tables().table(table)?, key)
    }

    fn scan_from(
        &self,
        table: &'static str,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: Visit<'_>,
    ) -> StoreResult<()> {
        scan_in(self.tables().table(table)?, prefix, after, visit)
    }
}
