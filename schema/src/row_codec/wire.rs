//! The binary rows' primitives: a writer and a bounds-checked reader of fixed-width fields and
//! length-prefixed text, and the stored codes of the state enums.

use jiff::Timestamp;
use tenants::{DeliveryState, Platform, PostStatus};

use crate::error::{StoreError, StoreResult};

/// A delivery state's stored code. Exhaustive, so a new state cannot be stored before it has
/// a code (and [`state_of`] a branch for it).
pub(super) fn state_code(state: DeliveryState) -> u8 {
    match state {
        DeliveryState::Scheduled => 1,
        DeliveryState::Submitting => 2,
        DeliveryState::Published => 3,
        DeliveryState::Failed => 4,
        DeliveryState::Unconfirmed => 5,
        DeliveryState::Held => 6,
        DeliveryState::Canceled => 7,
    }
}

pub(super) fn state_of(code: u8) -> Option<DeliveryState> {
    Some(match code {
        1 => DeliveryState::Scheduled,
        2 => DeliveryState::Submitting,
        3 => DeliveryState::Published,
        4 => DeliveryState::Failed,
        5 => DeliveryState::Unconfirmed,
        6 => DeliveryState::Held,
        7 => DeliveryState::Canceled,
        _ => return None,
    })
}

/// A post status's stored code; exhaustive like [`state_code`].
pub(super) fn post_status_code(status: PostStatus) -> u8 {
    match status {
        PostStatus::Draft => 1,
        PostStatus::Scheduled => 2,
        PostStatus::Publishing => 3,
        PostStatus::Published => 4,
        PostStatus::PartiallyPublished => 5,
        PostStatus::Failed => 6,
        PostStatus::Canceled => 7,
    }
}

pub(super) fn post_status_of(code: u8) -> Option<PostStatus> {
    Some(match code {
        1 => PostStatus::Draft,
        2 => PostStatus::Scheduled,
        3 => PostStatus::Publishing,
        4 => PostStatus::Published,
        5 => PostStatus::PartiallyPublished,
        6 => PostStatus::Failed,
        7 => PostStatus::Canceled,
        _ => return None,
    })
}

pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn uuid(&mut self, bytes: [u8; 16]) {
        self.0.extend_from_slice(&bytes);
    }

    /// Seconds and nanoseconds: every `Timestamp` exactly.
    pub(super) fn timestamp(&mut self, at: Timestamp) {
        self.0.extend_from_slice(&at.as_second().to_le_bytes());
        self.0
            .extend_from_slice(&at.subsec_nanosecond().to_le_bytes());
    }

    /// A length or a count: bounded far below 4 Gi in these rows (post bodies are limited to
    /// megabytes before they are stored).
    pub(super) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    pub(super) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    /// An optional value: a presence flag, then the value written by `put`.
    pub(super) fn opt<T>(&mut self, v: Option<T>, put: impl FnOnce(&mut Self, T)) {
        match v {
            Some(v) => {
                self.u8(1);
                put(self, v);
            }
            None => self.u8(0),
        }
    }

    pub(super) fn opt_timestamp(&mut self, at: Option<Timestamp>) {
        self.opt(at, Self::timestamp);
    }

    pub(super) fn opt_str(&mut self, s: Option<&str>) {
        self.opt(s, Self::str);
    }
}

pub(super) struct Reader<'a> {
    table: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(table: &'static str, rest: &'a [u8]) -> Self {
        Self { table, rest }
    }

    pub(super) fn err(&self, what: &str) -> StoreError {
        StoreError::Decode {
            table: self.table,
            reason: format!("binary row: {what}"),
        }
    }

    pub(super) fn take<const N: usize>(&mut self) -> StoreResult<[u8; N]> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.err("cut short"))?;
        self.rest = tail;
        Ok(*head)
    }

    pub(super) fn bytes(&mut self, len: usize) -> StoreResult<&'a [u8]> {
        if self.rest.len() < len {
            return Err(self.err("cut short"));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> StoreResult<u8> {
        Ok(self.take::<1>()?[0])
    }

    /// An optional value written by [`Writer::opt`], read by `read`.
    pub(super) fn opt<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(self.err("bad presence flag")),
        }
    }

    pub(super) fn u32(&mut self) -> StoreResult<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    pub(super) fn u64(&mut self) -> StoreResult<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    pub(super) fn uuid(&mut self) -> StoreResult<[u8; 16]> {
        self.take()
    }

    pub(super) fn timestamp(&mut self) -> StoreResult<Timestamp> {
        let secs = i64::from_le_bytes(self.take()?);
        let nanos = i32::from_le_bytes(self.take()?);
        Timestamp::new(secs, nanos).map_err(|_| self.err("timestamp out of range"))
    }

    /// A count of items that follow; never more than the bytes left could hold, so a damaged
    /// count cannot make a reader allocate for it.
    pub(super) fn len(&mut self) -> StoreResult<usize> {
        let n = self.u32()? as usize;
        if n > self.rest.len() {
            return Err(self.err("count past the end"));
        }
        Ok(n)
    }

    pub(super) fn opt_timestamp(&mut self) -> StoreResult<Option<Timestamp>> {
        self.opt(Self::timestamp)
    }

    pub(super) fn str(&mut self) -> StoreResult<&'a str> {
        let len = self.len()?;
        let bytes = self.bytes(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.err("text is not UTF-8"))
    }

    pub(super) fn string(&mut self) -> StoreResult<String> {
        self.str().map(str::to_owned)
    }

    pub(super) fn opt_string(&mut self) -> StoreResult<Option<String>> {
        self.opt(Self::string)
    }

    pub(super) fn platform(&mut self) -> StoreResult<Platform> {
        let name = self.str()?;
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| self.err("unknown platform"))
    }

    pub(super) fn post_status(&mut self) -> StoreResult<PostStatus> {
        let code = self.u8()?;
        post_status_of(code).ok_or_else(|| self.err("unknown post status"))
    }

    pub(super) fn state(&mut self) -> StoreResult<DeliveryState> {
        let code = self.u8()?;
        state_of(code).ok_or_else(|| self.err("unknown delivery state"))
    }

    pub(super) fn end(&self) -> StoreResult<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
    }
}
