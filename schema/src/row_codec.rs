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
    AccountId, Delivery, DeliveryError, DeliveryId, MediaId, Post, PostId, UserId, Variant,
    WorkspaceId,
};

use crate::error::{StoreError, StoreResult};
use crate::layout::{DueRow, decode};
use crate::store::DueRef;

mod wire;

use wire::{Reader, Writer, post_status_code, state_code};

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
    w.opt(last_error.as_ref(), |w, e| {
        w.str(&e.code);
        w.str(&e.message);
    });
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
            last_error: r.opt(|r| {
                Ok(DeliveryError {
                    code: r.string()?,
                    message: r.string()?,
                })
            })?,
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
    w.opt(*created_by, |w, u| w.uuid(u.to_bytes()));
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
            created_by: r.opt(|r| r.uuid().map(UserId::from_bytes))?,
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

#[cfg(test)]
mod tests;
