use std::collections::BTreeMap;

use super::*;
use crate::rules::MediaKind::{Gif, Image, Video};

fn variants(pairs: &[(Platform, &str)]) -> BTreeMap<Platform, Variant> {
    pairs
        .iter()
        .map(|(p, c)| {
            (
                *p,
                Variant {
                    caption: Some(c.to_string()),
                },
            )
        })
        .collect()
}

#[test]
fn test_caption_over_instagram_limit_names_platform_and_limit() {
    let caption = "a".repeat(2_301);
    let err = validate_caption(Platform::Instagram, &caption).unwrap_err();
    assert_eq!(
        err.to_string(),
        "caption is 2301 characters; instagram allows at most 2200"
    );
    assert!(validate_caption(Platform::Instagram, &"a".repeat(2_200)).is_ok());
}

#[test]
fn test_bluesky_caption_counts_graphemes_and_bytes() {
    let emoji_family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
    assert!(validate_caption(Platform::Bluesky, &emoji_family.repeat(150)).is_ok());
    let err = validate_caption(Platform::Bluesky, &"é".repeat(301)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "caption is 301 characters (graphemes); bluesky allows at most 300"
    );
    // 200 families are 200 graphemes but 3,600 bytes.
    let err = validate_caption(Platform::Bluesky, &emoji_family.repeat(200)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "caption is 3600 bytes; bluesky allows at most 3000 bytes"
    );
}

#[test]
fn test_x_caption_uses_weighted_count() {
    assert!(validate_caption(Platform::X, &"a".repeat(280)).is_ok());
    let err = validate_caption(Platform::X, &"日".repeat(141)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "caption is 282 weighted characters; x allows at most 280"
    );
}

#[test]
fn test_media_count_limits_name_platform() {
    assert_eq!(
        validate_media_count(Platform::X, 5)
            .unwrap_err()
            .to_string(),
        "5 media attached; x allows at most 4"
    );
    assert_eq!(
        validate_media_count(Platform::Youtube, 0)
            .unwrap_err()
            .to_string(),
        "0 media attached; youtube needs at least 1"
    );
    assert!(validate_media_count(Platform::Linkedin, 0).is_ok());
}

#[test]
fn test_media_kind_and_mixing_rules() {
    assert_eq!(
        validate_media(Platform::Instagram, &[Gif])
            .unwrap_err()
            .to_string(),
        "instagram does not accept gif media"
    );
    assert_eq!(
        validate_media(Platform::X, &[Image, Video])
            .unwrap_err()
            .to_string(),
        "x does not allow a video or gif together with other media"
    );
    assert!(validate_media(Platform::Instagram, &[Image, Video, Image]).is_ok());
    assert!(validate_media(Platform::X, &[Image, Image, Image, Image]).is_ok());
    assert_eq!(
        validate_media(Platform::Youtube, &[Image])
            .unwrap_err()
            .to_string(),
        "youtube does not accept image media"
    );
}

#[test]
fn test_post_content_collects_every_error_with_field_paths() {
    let long = "a".repeat(2_500);
    let errors = validate_post_content(
        &long,
        &variants(&[(Platform::X, &"b".repeat(300))]),
        &[Image, Image, Image, Image, Image],
        &[
            Platform::Instagram,
            Platform::X,
            Platform::Linkedin,
            Platform::X,
        ],
    );
    let fields: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (
                "caption",
                "caption is 2500 characters; instagram allows at most 2200"
            ),
            (
                "variants.x.caption",
                "caption is 300 weighted characters; x allows at most 280"
            ),
            ("media_ids", "5 media attached; x allows at most 4"),
        ]
    );
}

#[test]
fn test_variant_caption_replaces_shared_caption() {
    let errors = validate_post_content(
        &"a".repeat(400),
        &variants(&[(Platform::X, "short")]),
        &[],
        &[Platform::X, Platform::Linkedin],
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn test_empty_post_is_refused() {
    let errors = validate_post_content("  ", &BTreeMap::new(), &[], &[Platform::Linkedin]);
    assert_eq!(
        errors,
        vec![FieldError::new(
            "caption",
            "a post to linkedin needs a caption or media"
        )]
    );
}

#[test]
fn test_workspace_name_rules() {
    assert!(validate_workspace_name("Acme Agency").is_ok());
    assert_eq!(
        validate_workspace_name("   ").unwrap_err().to_string(),
        "name must not be empty"
    );
    assert_eq!(
        validate_workspace_name(&"x".repeat(101))
            .unwrap_err()
            .to_string(),
        "name is 101 characters; at most 100 are allowed"
    );
    assert_eq!(
        validate_workspace_name("bad\u{0007}name")
            .unwrap_err()
            .to_string(),
        "name must not contain control characters"
    );
}
