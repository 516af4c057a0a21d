//! Paging cursors: the URL-safe base64 of the last key a page returned (see [`crate::keys`]).
//! A cursor is only accepted under the partition it was issued for. [`PageBuilder`] holds the
//! one paging rule both backends follow.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{StoreError, StoreResult};
use crate::layout::MAX_SCAN_PER_PAGE;
use crate::store::Page;

/// The cursor of a page whose last row has `key`.
pub(crate) fn encode(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The key a cursor stands for. It must lie strictly inside `prefix`.
///
/// # Errors
/// [`StoreError::InvalidCursor`] for anything this store did not issue for this partition.
pub(crate) fn decode(cursor: &str, prefix: &[u8]) -> StoreResult<Vec<u8>> {
    let key = URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| StoreError::InvalidCursor)?;
    if key.len() > prefix.len() && key.starts_with(prefix) {
        Ok(key)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

/// Builds one page from rows offered in partition order.
///
/// A page holds at most `limit` items. The scan peeks one row past a full page, so the last page
/// has no cursor; a filtered scan stops after [`MAX_SCAN_PER_PAGE`] rows and returns a short page
/// with a cursor, so a sparse filter never reads a whole partition in one call.
#[derive(Debug)]
pub(crate) struct PageBuilder<T> {
    limit: usize,
    items: Vec<T>,
    last_key: Option<Vec<u8>>,
    scanned: usize,
    more: bool,
}

impl<T> PageBuilder<T> {
    /// An empty page of at most `limit` items.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            items: Vec::new(),
            last_key: None,
            scanned: 0,
            more: false,
        }
    }

    /// Offers the next row (its key, and the item if it passes the filter). Returns `false`
    /// when the scan should stop.
    pub(crate) fn offer(&mut self, key: &[u8], item: Option<T>) -> bool {
        if self.items.len() >= self.limit {
            self.more = true;
            return false;
        }
        self.scanned += 1;
        self.last_key = Some(key.to_vec());
        self.items.extend(item);
        if self.scanned >= MAX_SCAN_PER_PAGE && self.items.len() < self.limit {
            self.more = true;
            return false;
        }
        true
    }

    /// The finished page.
    pub(crate) fn finish(self) -> Page<T> {
        let next_cursor = if self.more {
            self.last_key.as_deref().map(encode)
        } else {
            None
        };
        Page {
            items: self.items,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cursor_round_trips_inside_its_partition() {
        let c = encode(&[1, 2, 3]);
        assert_eq!(decode(&c, &[1]).ok(), Some(vec![1, 2, 3]));
    }

    #[test]
    fn test_cursor_from_another_partition_is_refused() {
        let c = encode(&[2, 2, 3]);
        assert!(matches!(decode(&c, &[1]), Err(StoreError::InvalidCursor)));
        assert!(matches!(
            decode("%%%", &[1]),
            Err(StoreError::InvalidCursor)
        ));
    }
}
