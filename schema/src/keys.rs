//! The data model's primary keys as ordered byte tuples.
//!
//! Every table of `schema/cql/` has a key layout here: (partition key, clustering keys...). The
//! embedded backend stores rows under exactly these bytes, so a CQL partition is a key-prefix
//! range; both backends build their paging cursors from them, so a cursor means the same thing
//! everywhere and carries its partition (a cursor from another workspace is refused).
//!
//! Encoding keeps byte order equal to value order: UUIDs as their 16 big-endian bytes (inverted
//! for descending clustering), integers big-endian with the sign bit flipped, strings with `0x00`
//! escaped as `0x00 0xff` and terminated by `0x00 0x01`.

use uuid::Uuid;

use crate::error::{StoreError, StoreResult};

/// Builds one ordered key.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyBuf(Vec<u8>);

impl KeyBuf {
    /// An empty key.
    pub(crate) fn new() -> Self {
        Self(Vec::with_capacity(48))
    }

    /// Appends a UUID in ascending order.
    pub(crate) fn uuid(mut self, id: Uuid) -> Self {
        self.0.extend_from_slice(id.as_bytes());
        self
    }

    /// Appends a UUID so that larger ids sort first (`CLUSTERING ORDER BY ... DESC`).
    pub(crate) fn uuid_desc(mut self, id: Uuid) -> Self {
        self.0.extend(id.as_bytes().iter().map(|b| !b));
        self
    }

    /// Appends a small unsigned integer (buckets, shards, versions).
    pub(crate) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a signed integer (days, hours, nanoseconds).
    pub(crate) fn i64(mut self, v: i64) -> Self {
        self.0
            .extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
        self
    }

    /// Appends a string, escaped and terminated so that a shorter string sorts first.
    pub(crate) fn str(mut self, s: &str) -> Self {
        for &b in s.as_bytes() {
            self.0.push(b);
            if b == 0 {
                self.0.push(0xff);
            }
        }
        self.0.extend_from_slice(&[0, 1]);
        self
    }

    /// The finished key bytes.
    pub(crate) fn done(self) -> Vec<u8> {
        self.0
    }
}

/// Reads the components of a key back, in the order they were written. Any mismatch is an
/// [`StoreError::InvalidCursor`]: keys are only ever decoded from cursors.
#[derive(Debug)]
pub(crate) struct KeyReader<'a> {
    rest: &'a [u8],
}

impl<'a> KeyReader<'a> {
    /// Reads from `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn take<const N: usize>(&mut self) -> StoreResult<[u8; N]> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(StoreError::InvalidCursor)?;
        self.rest = tail;
        Ok(*head)
    }

    /// Reads an ascending UUID.
    pub(crate) fn uuid(&mut self) -> StoreResult<Uuid> {
        Ok(Uuid::from_bytes(self.take::<16>()?))
    }

    /// Reads a descending UUID.
    pub(crate) fn uuid_desc(&mut self) -> StoreResult<Uuid> {
        Ok(Uuid::from_bytes(self.take::<16>()?.map(|b| !b)))
    }

    /// Reads a `u32`.
    pub(crate) fn u32(&mut self) -> StoreResult<u32> {
        Ok(u32::from_be_bytes(self.take::<4>()?))
    }

    /// Reads an `i64`.
    pub(crate) fn i64(&mut self) -> StoreResult<i64> {
        Ok((u64::from_be_bytes(self.take::<8>()?) ^ (1 << 63)) as i64)
    }

    /// Requires that the whole key was read.
    pub(crate) fn end(&self) -> StoreResult<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(StoreError::InvalidCursor)
        }
    }
}

/// The smallest key strictly greater than every key starting with `prefix`, or `None` when no
/// such key exists (the prefix is all `0xff`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn test_i64_order_is_byte_order(a: i64, b: i64) {
            let ka = KeyBuf::new().i64(a).done();
            let kb = KeyBuf::new().i64(b).done();
            prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            prop_assert_eq!(KeyReader::new(&ka).i64().ok(), Some(a));
        }

        #[test]
        fn test_string_tuples_sort_like_their_parts(a: String, b: String, x: u32, y: u32) {
            let ka = KeyBuf::new().str(&a).u32(x).done();
            let kb = KeyBuf::new().str(&b).u32(y).done();
            prop_assert_eq!((a.as_bytes(), x).cmp(&(b.as_bytes(), y)), ka.cmp(&kb));
        }

        #[test]
        fn test_desc_uuid_reverses_order(a: u128, b: u128) {
            let ka = KeyBuf::new().uuid_desc(Uuid::from_u128(a)).done();
            let kb = KeyBuf::new().uuid_desc(Uuid::from_u128(b)).done();
            prop_assert_eq!(b.cmp(&a), ka.cmp(&kb));
            prop_assert_eq!(KeyReader::new(&ka).uuid_desc().ok(), Some(Uuid::from_u128(a)));
        }
    }

    #[test]
    fn test_prefix_end_bounds_every_extension() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
