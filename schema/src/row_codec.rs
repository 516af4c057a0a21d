//! Compact binary rows for the embedded store's hottest tables: `deliveries`, `posts` and the
//! two due indexes (`account_due`, `due_by_bucket`).
//!
//! Every publish reads and rewrites its delivery several times and reads and rewrites its post,
//! and the due-window scan and an account's activation decode every due row of their window. As JSON, those decodes (UUIDs as
//! hex text, timestamps as RFC 3339) were the largest share of the store's CPU after the B-tree
//! itself. Here a row is a tag byte, then fixed-width fields (UUIDs as 16 bytes, timestamps as
//! seconds and nanoseconds, integers little-endian) and length-prefixed text.
//!
//! Rows written before this format are JSON objects, whose first byte is `{`; every tag here is
//! below `{`, so [`decode_delivery`] and [`decode_due_row`] read both. Enums are stored by name
//! (platforms) or by a code fixed here (delivery states), never by declaration order.

use jiff::Timestamp;
use std::collections::BTreeMap;

use tenants::{
    AccountId, Delivery, DeliveryError, DeliveryId, DeliveryState, MediaId, Platform, Post, PostId,
    PostStatus, UserId, Variant, WorkspaceId,
};

use crate::error::{StoreError, StoreResult};
use crate::layout::{DueRow, decode};
use crate::store::DueRef;

/// The first byte of a binary `deliveries` row, format 1.
const DELIVERY_V1: u8 = 1;
/// The first byte of a binary due-index row, format 1.
const DUE_ROW_V1: u8 = 2;
/// The first byte of a binary `posts` row, format 1.
const POST_V1: u8 = 3;
/// The first byte of a row stored as JSON.
const JSON: u8 = b'{';

/// Encodes a delivery row.
pub(crate) fn encode_delivery(d: &Delivery) -> Vec<u8> {
    // Destructured whole, so a new field cannot be left out of the format unnoticed.
    let Delivery {
        id,
        workspace_id,
        post_id,
        account_id,
        platform,
        state,
        idempotency_key,
        attempts,
        due_at,
        partner_post_id,
        platform_post_id,
        published_at,
        last_error,
        version,
        updated_at,
    } = d;
    let mut w = Writer(Vec::with_capacity(192));
    w.u8(DELIVERY_V1);
    w.uuid(id.to_bytes());
    w.uuid(workspace_id.to_bytes());
    w.uuid(post_id.to_bytes());
    w.uuid(account_id.to_bytes());
    w.str(platform.as_str());
    w.u8(state_code(*state));
    w.str(idempotency_key);
    w.u32(*attempts);
    w.timestamp(*due_at);
    w.opt_str(partner_post_id.as_deref());
    w.opt_str(platform_post_id.as_deref());
    w.opt_timestamp(*published_at);
    match last_error {
        Some(e) => {
            w.u8(1);
            w.str(&e.code);
            w.str(&e.message);
        }
        None => w.u8(0),
    }
    w.u64(*version);
    w.timestamp(*updated_at);
    w.0
}

/// Decodes a delivery row, binary or JSON.
///
/// # Errors
/// [`StoreError::Decode`] when the bytes are neither.
pub(crate) fn decode_delivery(table: &'static str, bytes: &[u8]) -> StoreResult<Delivery> {
    decode_row(table, bytes, DELIVERY_V1, |r| {
        Ok(Delivery {
            id: DeliveryId::from_bytes(r.uuid()?),
            workspace_id: WorkspaceId::from_bytes(r.uuid()?),
            post_id: PostId::from_bytes(r.uuid()?),
            account_id: AccountId::from_bytes(r.uuid()?),
            platform: r.platform()?,
            state: r.state()?,
            idempotency_key: r.string()?,
            attempts: r.u32()?,
            due_at: r.timestamp()?,
            partner_post_id: r.opt_string()?,
            platform_post_id: r.opt_string()?,
            published_at: r.opt_timestamp()?,
            last_error: if r.flag()? {
                Some(DeliveryError {
                    code: r.string()?,
                    message: r.string()?,
                })
            } else {
                None
            },
            version: r.u64()?,
            updated_at: r.timestamp()?,
        })
    })
}

/// Encodes a post row. The `external_id` comes right after the ids, so a writer that only
/// checks it ([`post_external_id`]) stops there.
pub(crate) fn encode_post(p: &Post) -> Vec<u8> {
    let Post {
        id,
        workspace_id,
        caption,
        variants,
        media_ids,
        media_urls,
        first_comment,
        account_ids,
        status,
        scheduled_at,
        timezone,
        external_id,
        created_by,
        created_at,
        updated_at,
    } = p;
    let mut w = Writer(Vec::with_capacity(160 + caption.len()));
    w.u8(POST_V1);
    w.uuid(id.to_bytes());
    w.uuid(workspace_id.to_bytes());
    w.opt_str(external_id.as_deref());
    w.str(caption);
    w.len(variants.len());
    for (platform, Variant { caption }) in variants {
        w.str(platform.as_str());
        w.opt_str(caption.as_deref());
    }
    w.len(media_ids.len());
    for m in media_ids {
        w.uuid(m.to_bytes());
    }
    w.len(media_urls.len());
    for u in media_urls {
        w.str(u);
    }
    w.opt_str(first_comment.as_deref());
    w.len(account_ids.len());
    for a in account_ids {
        w.uuid(a.to_bytes());
    }
    w.u8(post_status_code(*status));
    w.opt_timestamp(*scheduled_at);
    w.str(timezone);
    match created_by {
        Some(u) => {
            w.u8(1);
            w.uuid(u.to_bytes());
        }
        None => w.u8(0),
    }
    w.timestamp(*created_at);
    w.timestamp(*updated_at);
    w.0
}

/// Decodes a post row, binary or JSON.
///
/// # Errors
/// [`StoreError::Decode`] when the bytes are neither.
pub(crate) fn decode_post(table: &'static str, bytes: &[u8]) -> StoreResult<Post> {
    decode_row(table, bytes, POST_V1, |r| {
        let id = PostId::from_bytes(r.uuid()?);
        let workspace_id = WorkspaceId::from_bytes(r.uuid()?);
        let external_id = r.opt_string()?;
        let caption = r.string()?;
        let mut variants = BTreeMap::new();
        for _ in 0..r.len()? {
            let platform = r.platform()?;
            variants.insert(
                platform,
                Variant {
                    caption: r.opt_string()?,
                },
            );
        }
        let media_ids = (0..r.len()?)
            .map(|_| r.uuid().map(MediaId::from_bytes))
            .collect::<StoreResult<_>>()?;
        let media_urls = (0..r.len()?)
            .map(|_| r.string())
            .collect::<StoreResult<_>>()?;
        let first_comment = r.opt_string()?;
        let account_ids = (0..r.len()?)
            .map(|_| r.uuid().map(AccountId::from_bytes))
            .collect::<StoreResult<_>>()?;
        Ok(Post {
            id,
            workspace_id,
            caption,
            variants,
            media_ids,
            media_urls,
            first_comment,
            account_ids,
            status: r.post_status()?,
            scheduled_at: r.opt_timestamp()?,
            timezone: r.string()?,
            external_id,
            created_by: if r.flag()? {
                Some(UserId::from_bytes(r.uuid()?))
            } else {
                None
            },
            created_at: r.timestamp()?,
            updated_at: r.timestamp()?,
        })
    })
}

/// The `external_id` of a stored post, binary or JSON, without decoding the rest of a binary row.
///
/// # Errors
/// [`StoreError::Decode`] when the bytes are neither.
pub(crate) fn post_external_id(table: &'static str, bytes: &[u8]) -> StoreResult<Option<String>> {
    #[derive(serde::Deserialize)]
    struct ExternalIdOnly {
        external_id: Option<String>,
    }
    match bytes.first() {
        Some(&JSON) => decode::<ExternalIdOnly>(table, bytes).map(|p| p.external_id),
        Some(&POST_V1) => {
            let mut r = Reader::new(table, &bytes[1..]);
            r.uuid()?;
            r.uuid()?;
            r.opt_string()
        }
        _ => Err(unknown_format(table, bytes)),
    }
}

/// Encodes a due-index row.
pub(crate) fn encode_due_row(row: &DueRow) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(90));
    w.u8(DUE_ROW_V1);
    w.timestamp(row.due.due_at);
    w.uuid(row.due.delivery_id.to_bytes());
    w.uuid(row.due.workspace_id.to_bytes());
    w.uuid(row.due.account_id.to_bytes());
    w.uuid(row.due.post_id.to_bytes());
    w.timestamp(row.expires_at);
    w.0
}

/// Decodes a due-index row, binary or JSON.
///
/// # Errors
/// [`StoreError::Decode`] when the bytes are neither.
pub(crate) fn decode_due_row(table: &'static str, bytes: &[u8]) -> StoreResult<DueRow> {
    decode_row(table, bytes, DUE_ROW_V1, |r| {
        Ok(DueRow {
            due: DueRef {
                due_at: r.timestamp()?,
                delivery_id: DeliveryId::from_bytes(r.uuid()?),
                workspace_id: WorkspaceId::from_bytes(r.uuid()?),
                account_id: AccountId::from_bytes(r.uuid()?),
                post_id: PostId::from_bytes(r.uuid()?),
            },
            expires_at: r.timestamp()?,
        })
    })
}

/// Decodes a row stored as JSON, or in the binary format `tag` with `read`, which must consume
/// the whole row.
fn decode_row<T: serde::de::DeserializeOwned>(
    table: &'static str,
    bytes: &[u8],
    tag: u8,
    read: impl FnOnce(&mut Reader<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    match bytes.split_first() {
        Some((&JSON, _)) => decode(table, bytes),
        Some((&t, rest)) if t == tag => {
            let mut r = Reader::new(table, rest);
            let row = read(&mut r)?;
            r.end()?;
            Ok(row)
        }
        _ => Err(unknown_format(table, bytes)),
    }
}

/// When an expiring row stops being returned: a binary due row's expiry, or the `expires_at` of
/// a JSON row (every expiring row has one).
///
/// # Errors
/// [`StoreError::Decode`] when the row has no readable expiry.
pub(crate) fn expiry_of(table: &'static str, bytes: &[u8]) -> StoreResult<Timestamp> {
    if bytes.first() == Some(&DUE_ROW_V1) {
        return decode_due_row(table, bytes).map(|row| row.expires_at);
    }
    decode::<crate::layout::Expiring>(table, bytes).map(|row| row.expires_at)
}

fn unknown_format(table: &'static str, bytes: &[u8]) -> StoreError {
    StoreError::Decode {
        table,
        reason: match bytes.first() {
            Some(tag) => format!("unknown row format {tag:#04x}"),
            None => "empty row".into(),
        },
    }
}

/// A delivery state's stored code. Exhaustive, so a new state cannot be stored before it has
/// a code (and [`state_of`] a branch for it).
fn state_code(state: DeliveryState) -> u8 {
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

fn state_of(code: u8) -> Option<DeliveryState> {
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
fn post_status_code(status: PostStatus) -> u8 {
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

fn post_status_of(code: u8) -> Option<PostStatus> {
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

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn uuid(&mut self, bytes: [u8; 16]) {
        self.0.extend_from_slice(&bytes);
    }

    /// Seconds and nanoseconds: every `Timestamp` exactly.
    fn timestamp(&mut self, at: Timestamp) {
        self.0.extend_from_slice(&at.as_second().to_le_bytes());
        self.0
            .extend_from_slice(&at.subsec_nanosecond().to_le_bytes());
    }

    /// A length or a count: bounded far below 4 Gi in these rows (post bodies are limited to
    /// megabytes before they are stored).
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_timestamp(&mut self, at: Option<Timestamp>) {
        match at {
            Some(at) => {
                self.u8(1);
                self.timestamp(at);
            }
            None => self.u8(0),
        }
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
}

struct Reader<'a> {
    table: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(table: &'static str, rest: &'a [u8]) -> Self {
        Self { table, rest }
    }

    fn err(&self, what: &str) -> StoreError {
        StoreError::Decode {
            table: self.table,
            reason: format!("binary row: {what}"),
        }
    }

    fn take<const N: usize>(&mut self) -> StoreResult<[u8; N]> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.err("cut short"))?;
        self.rest = tail;
        Ok(*head)
    }

    fn bytes(&mut self, len: usize) -> StoreResult<&'a [u8]> {
        if self.rest.len() < len {
            return Err(self.err("cut short"));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> StoreResult<u8> {
        Ok(self.take::<1>()?[0])
    }

    fn flag(&mut self) -> StoreResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.err("bad presence flag")),
        }
    }

    fn u32(&mut self) -> StoreResult<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    fn u64(&mut self) -> StoreResult<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    fn uuid(&mut self) -> StoreResult<[u8; 16]> {
        self.take()
    }

    fn timestamp(&mut self) -> StoreResult<Timestamp> {
        let secs = i64::from_le_bytes(self.take()?);
        let nanos = i32::from_le_bytes(self.take()?);
        Timestamp::new(secs, nanos).map_err(|_| self.err("timestamp out of range"))
    }

    /// A count of items that follow; never more than the bytes left could hold, so a damaged
    /// count cannot make a reader allocate for it.
    fn len(&mut self) -> StoreResult<usize> {
        let n = self.u32()? as usize;
        if n > self.rest.len() {
            return Err(self.err("count past the end"));
        }
        Ok(n)
    }

    fn opt_timestamp(&mut self) -> StoreResult<Option<Timestamp>> {
        if self.flag()? {
            self.timestamp().map(Some)
        } else {
            Ok(None)
        }
    }

    fn str(&mut self) -> StoreResult<&'a str> {
        let len = self.len()?;
        let bytes = self.bytes(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.err("text is not UTF-8"))
    }

    fn string(&mut self) -> StoreResult<String> {
        self.str().map(str::to_owned)
    }

    fn opt_string(&mut self) -> StoreResult<Option<String>> {
        if self.flag()? {
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }

    fn platform(&mut self) -> StoreResult<Platform> {
        let name = self.str()?;
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| self.err("unknown platform"))
    }

    fn post_status(&mut self) -> StoreResult<PostStatus> {
        let code = self.u8()?;
        post_status_of(code).ok_or_else(|| self.err("unknown post status"))
    }

    fn state(&mut self) -> StoreResult<DeliveryState> {
        let code = self.u8()?;
        state_of(code).ok_or_else(|| self.err("unknown delivery state"))
    }

    fn end(&self) -> StoreResult<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests;
