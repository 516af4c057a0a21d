use super::*;

#[test]
fn test_every_platform_has_its_own_rules() {
    for platform in Platform::ALL {
        let r = platform.rules();
        assert_eq!(r.platform, platform);
        assert!(r.caption.max > 0, "{platform}");
        assert!(r.media.max_items >= r.media.min_items, "{platform}");
        assert!(!r.media.kinds.is_empty(), "{platform}");
        assert!(!r.quotas.is_empty(), "{platform} needs a publish quota");
        for q in r.quotas.iter().chain(r.app_quotas) {
            assert!(q.count > 0 && q.window_secs > 0, "{platform}");
        }
    }
}

#[test]
fn test_documented_figures() {
    assert_eq!(Platform::Instagram.rules().caption.max, 2_200);
    assert_eq!(Platform::Instagram.rules().quotas, &[per(25, DAY)]);
    assert_eq!(Platform::Threads.rules().quotas, &[per(250, DAY)]);
    assert_eq!(Platform::Bluesky.rules().quotas[0], per(1_666, HOUR));
    assert_eq!(Platform::Tiktok.rules().quotas[0], per(15, DAY));
    assert_eq!(Platform::X.rules().quotas, &[per(100, DAY)]);
    assert_eq!(Platform::X.rules().app_quotas, &[per(1_667, DAY)]);
    assert_eq!(Platform::Linkedin.rules().quotas, &[per(150, DAY)]);
    assert_eq!(Platform::Youtube.rules().quotas, &[per(100, DAY)]);
    assert_eq!(Platform::X.rules().media.max_items, 4);
    assert_eq!(Platform::Youtube.rules().media.kinds, &[MediaKind::Video]);
}

#[test]
fn test_refresh_styles_match_platform_semantics() {
    use RefreshStyle as R;
    let style = |p: Platform| p.rules().token.refresh;
    for p in [
        Platform::X,
        Platform::Tiktok,
        Platform::Pinterest,
        Platform::Bluesky,
    ] {
        assert_eq!(style(p), R::Rotating, "{p}");
    }
    for p in [Platform::Youtube, Platform::Linkedin] {
        assert_eq!(style(p), R::NonRotating, "{p}");
    }
    for p in [Platform::Instagram, Platform::Threads, Platform::Facebook] {
        assert_eq!(style(p), R::Exchange, "{p}");
        assert_eq!(p.rules().token.min_age_secs, DAY);
    }
    assert_eq!(Platform::X.rules().token.access_secs, Some(7_200));
    assert_eq!(Platform::Vimeo.rules().token.refresh, R::None);
}

#[test]
fn test_bluesky_counts_an_emoji_family_as_one() {
    let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
    assert_eq!(CaptionUnit::Graphemes.measure(family), 1);
    assert_eq!(CaptionUnit::Chars.measure(family), 5);
}

#[test]
fn test_threads_counts_emoji_as_their_bytes() {
    assert_eq!(CaptionUnit::EmojiBytes.measure("héllo"), 5);
    assert_eq!(CaptionUnit::EmojiBytes.measure("hi \u{1F600}"), 3 + 4);
}

#[test]
fn test_x_weights_links_cjk_and_emoji() {
    assert_eq!(CaptionUnit::XWeighted.measure("hello world"), 11);
    assert_eq!(
        CaptionUnit::XWeighted.measure("see https://example.com/a/very/long/path/indeed"),
        4 + 23
    );
    assert_eq!(CaptionUnit::XWeighted.measure("日本"), 4);
    assert_eq!(CaptionUnit::XWeighted.measure("\u{1F600}"), 2);
    assert_eq!(CaptionUnit::XWeighted.measure("a  b"), 4);
}

#[test]
fn test_media_kind_from_content_type_and_extension() {
    assert_eq!(
        MediaKind::from_content_type("image/gif"),
        Some(MediaKind::Gif)
    );
    assert_eq!(
        MediaKind::from_content_type("image/png"),
        Some(MediaKind::Image)
    );
    assert_eq!(
        MediaKind::from_content_type("video/mp4; codecs=avc1"),
        Some(MediaKind::Video)
    );
    assert_eq!(MediaKind::from_content_type("text/html"), None);
    assert_eq!(
        MediaKind::from_extension("https://cdn.example/a.JPG?x=1"),
        Some(MediaKind::Image)
    );
    assert_eq!(
        MediaKind::from_extension("clip.mov"),
        Some(MediaKind::Video)
    );
    assert_eq!(MediaKind::from_extension("noext"), None);
}
