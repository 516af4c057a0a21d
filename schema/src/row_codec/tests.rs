use proptest::prelude::*;

use tenants::{DeliveryState, Platform, PostStatus};

use super::wire::{post_status_of, state_of};
use super::*;

fn timestamp() -> impl Strategy<Value = Timestamp> {
    let (lo, hi) = (
        Timestamp::MIN.as_nanosecond(),
        Timestamp::MAX.as_nanosecond(),
    );
    (lo..=hi).prop_map(|ns| Timestamp::from_nanosecond(ns).expect("in range"))
}

fn state() -> impl Strategy<Value = DeliveryState> {
    (1u8..=7).prop_map(|c| state_of(c).expect("a known code"))
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
        ),
        (0..Platform::ALL.len(), state(), ".{0,40}", any::<u32>()),
        (
            timestamp(),
            proptest::option::of(".{0,24}"),
            proptest::option::of(".{0,24}"),
        ),
        (
            proptest::option::of(timestamp()),
            proptest::option::of((".{0,16}", ".{0,80}")),
            any::<u64>(),
            timestamp(),
        ),
    )
        .prop_map(|(ids, head, mid, tail)| Delivery {
            id: DeliveryId::from_bytes(ids.0),
            workspace_id: WorkspaceId::from_bytes(ids.1),
            post_id: PostId::from_bytes(ids.2),
            account_id: AccountId::from_bytes(ids.3),
            platform: Platform::ALL[head.0],
            state: head.1,
            idempotency_key: head.2,
            attempts: head.3,
            due_at: mid.0,
            partner_post_id: mid.1,
            platform_post_id: mid.2,
            published_at: tail.0,
            last_error: tail
                .1
                .map(|(code, message)| DeliveryError { code, message }),
            version: tail.2,
            updated_at: tail.3,
        })
}

fn due_row() -> impl Strategy<Value = DueRow> {
    (timestamp(), any::<[[u8; 16]; 4]>(), timestamp()).prop_map(|(due_at, ids, expires_at)| {
        DueRow {
            due: DueRef {
                due_at,
                delivery_id: DeliveryId::from_bytes(ids[0]),
                workspace_id: WorkspaceId::from_bytes(ids[1]),
                account_id: AccountId::from_bytes(ids[2]),
                post_id: PostId::from_bytes(ids[3]),
            },
            expires_at,
        }
    })
}

fn post() -> impl Strategy<Value = Post> {
    (
        (any::<[u8; 16]>(), any::<[u8; 16]>(), ".{0,200}"),
        (
            proptest::collection::btree_map(
                (0..Platform::ALL.len()).prop_map(|i| Platform::ALL[i]),
                proptest::option::of(".{0,40}"),
                0..4,
            ),
            proptest::collection::vec(any::<[u8; 16]>(), 0..4),
            proptest::collection::vec(".{0,40}", 0..4),
            proptest::option::of(".{0,40}"),
            proptest::collection::vec(any::<[u8; 16]>(), 0..5),
        ),
        (
            1u8..=7,
            proptest::option::of(timestamp()),
            "[A-Za-z/_]{0,30}",
            proptest::option::of(".{0,30}"),
            proptest::option::of(any::<[u8; 16]>()),
            timestamp(),
            timestamp(),
        ),
    )
        .prop_map(|(head, lists, tail)| Post {
            id: PostId::from_bytes(head.0),
            workspace_id: WorkspaceId::from_bytes(head.1),
            caption: head.2,
            variants: lists
                .0
                .into_iter()
                .map(|(p, caption)| (p, Variant { caption }))
                .collect(),
            media_ids: lists.1.into_iter().map(MediaId::from_bytes).collect(),
            media_urls: lists.2,
            first_comment: lists.3,
            account_ids: lists.4.into_iter().map(AccountId::from_bytes).collect(),
            status: post_status_of(tail.0).expect("a known code"),
            scheduled_at: tail.1,
            timezone: tail.2,
            external_id: tail.3,
            created_by: tail.4.map(UserId::from_bytes),
            created_at: tail.5,
            updated_at: tail.6,
        })
}

proptest! {
    #[test]
    fn test_every_post_reads_back_as_written(p in post()) {
        let bytes = encode_post(&p);
        prop_assert_eq!(post_external_id("posts", &bytes).expect("decodes"), p.external_id.clone());
        prop_assert_eq!(decode_post("posts", &bytes).expect("decodes"), p);
    }

    #[test]
    fn test_a_post_row_cut_short_is_an_error_not_a_panic(p in post(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_post(&p);
        let len = cut.index(bytes.len());
        prop_assert!(decode_post("posts", &bytes[..len]).is_err());
    }

    #[test]
    fn test_posts_written_as_json_still_read(p in post()) {
        let json = serde_json::to_vec(&p).expect("encode");
        prop_assert_eq!(post_external_id("posts", &json).expect("decodes"), p.external_id.clone());
        prop_assert_eq!(decode_post("posts", &json).expect("decodes"), p);
    }

    #[test]
    fn test_every_delivery_reads_back_as_written(d in delivery()) {
        let bytes = encode_delivery(&d);
        prop_assert_eq!(decode_delivery("deliveries", &bytes).expect("decodes"), d);
    }

    #[test]
    fn test_every_due_row_reads_back_as_written(row in due_row()) {
        let bytes = encode_due_row(&row);
        let back = decode_due_row("account_due", &bytes).expect("decodes");
        prop_assert_eq!(back.due, row.due);
        prop_assert_eq!(back.expires_at, row.expires_at);
        prop_assert_eq!(expiry_of("account_due", &bytes).expect("an expiry"), row.expires_at);
    }

    #[test]
    fn test_a_delivery_row_cut_short_is_an_error_not_a_panic(d in delivery(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_delivery(&d);
        let len = cut.index(bytes.len());
        prop_assert!(decode_delivery("deliveries", &bytes[..len]).is_err());
    }

    #[test]
    fn test_rows_written_as_json_still_read(d in delivery(), row in due_row()) {
        let json = serde_json::to_vec(&d).expect("encode");
        prop_assert_eq!(decode_delivery("deliveries", &json).expect("decodes"), d);
        let json = serde_json::to_vec(&row).expect("encode");
        let back = decode_due_row("due_by_bucket", &json).expect("decodes");
        prop_assert_eq!(back.due, row.due);
        prop_assert_eq!(expiry_of("due_by_bucket", &json).expect("an expiry"), row.expires_at);
    }
}

/// Every value has a code of its own, and the code reads back as the value.
fn assert_codes_round_trip<T: Copy + PartialEq + std::fmt::Debug>(
    all: &[T],
    code: fn(T) -> u8,
    of: fn(u8) -> Option<T>,
) {
    let mut codes: Vec<u8> = all.iter().map(|v| code(*v)).collect();
    for (v, c) in all.iter().zip(&codes) {
        assert_eq!(of(*c), Some(*v));
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len(), "two values share a code");
}

#[test]
fn test_every_state_and_post_status_has_its_own_code() {
    use DeliveryState as D;
    use PostStatus as P;
    let states = [
        D::Scheduled,
        D::Submitting,
        D::Published,
        D::Failed,
        D::Unconfirmed,
        D::Held,
        D::Canceled,
    ];
    assert_codes_round_trip(&states, state_code, state_of);
    let statuses = [
        P::Draft,
        P::Scheduled,
        P::Publishing,
        P::Published,
        P::PartiallyPublished,
        P::Failed,
        P::Canceled,
    ];
    assert_codes_round_trip(&statuses, post_status_code, post_status_of);
}

#[test]
fn test_no_row_tag_looks_like_json() {
    let tags = [DELIVERY_V1, DUE_ROW_V1, POST_V1];
    assert!(tags.iter().all(|t| *t != JSON && !t.is_ascii_whitespace()));
    let mut distinct = tags.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), tags.len());
}

#[test]
fn test_a_damaged_count_is_refused_before_anything_is_allocated() {
    let mut bytes = vec![POST_V1];
    bytes.extend_from_slice(&[0; 32]);
    bytes.push(0); // no external id
    bytes.extend_from_slice(&0u32.to_le_bytes()); // empty caption
    bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // four billion variants
    let err = decode_post("posts", &bytes).expect_err("refused");
    assert!(err.to_string().contains("count past the end"), "{err}");
}

#[test]
fn test_unknown_formats_and_trailing_bytes_are_refused() {
    let d = Delivery {
        id: DeliveryId::new(),
        workspace_id: WorkspaceId::new(),
        post_id: PostId::new(),
        account_id: AccountId::new(),
        platform: Platform::Linkedin,
        state: DeliveryState::Scheduled,
        idempotency_key: "k".into(),
        attempts: 0,
        due_at: Timestamp::UNIX_EPOCH,
        partner_post_id: None,
        platform_post_id: None,
        published_at: None,
        last_error: None,
        version: 1,
        updated_at: Timestamp::UNIX_EPOCH,
    };
    let mut bytes = encode_delivery(&d);
    assert_ne!(bytes.first(), Some(&JSON));
    bytes.push(0);
    assert!(decode_delivery("deliveries", &bytes).is_err());
    assert!(decode_delivery("deliveries", &[9, 9]).is_err());
    assert!(decode_delivery("deliveries", &[]).is_err());
    assert!(decode_due_row("account_due", &[DELIVERY_V1]).is_err());
}
