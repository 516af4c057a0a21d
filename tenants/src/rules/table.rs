//! The per-platform figures, one constant per platform, each with its sources and the reason
//! for the figure chosen where sources disagree. Read through [`super::rules`].

use super::{
    CaptionRule, CaptionUnit, DAY, HOUR, MINUTE, MediaKind, MediaRule, PlatformRules, RefreshStyle,
    TokenRule, per,
};
use crate::platform::Platform;

const ALL_KINDS: &[MediaKind] = &[MediaKind::Image, MediaKind::Video, MediaKind::Gif];
const IMAGE_VIDEO: &[MediaKind] = &[MediaKind::Image, MediaKind::Video];
const VIDEO_ONLY: &[MediaKind] = &[MediaKind::Video];

const fn chars(max: usize) -> CaptionRule {
    CaptionRule {
        max,
        unit: CaptionUnit::Chars,
        max_bytes: None,
    }
}

const fn token(
    access_secs: Option<u64>,
    refresh_secs: Option<u64>,
    refresh: RefreshStyle,
) -> TokenRule {
    TokenRule {
        access_secs,
        refresh_secs,
        refresh,
        min_age_secs: 0,
    }
}

/// A Meta long-lived token: 60 days, exchanged for a new one once at least 24 h old.
const META_LONG_LIVED: TokenRule = TokenRule {
    access_secs: Some(60 * DAY),
    refresh_secs: None,
    refresh: RefreshStyle::Exchange,
    min_age_secs: DAY,
};

/// X: 280 weighted characters (4,000 for Premium accounts; the lower figure is used since the
/// tier is not known). 4 images, or 1 video, or 1 GIF, never mixed. `POST /2/tweets` on the
/// Basic tier: 100 per 24 h per user and 1,667 per 24 h per app. OAuth 2.0 access tokens last
/// 2 h; refresh tokens rotate.
pub(super) const X: PlatformRules = PlatformRules {
    platform: Platform::X,
    caption: CaptionRule {
        max: 280,
        unit: CaptionUnit::XWeighted,
        max_bytes: None,
    },
    media: MediaRule {
        min_items: 0,
        max_items: 4,
        kinds: ALL_KINDS,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(100, DAY)],
    app_quotas: &[per(1_667, DAY)],
    token: token(Some(2 * HOUR), None, RefreshStyle::Rotating),
};

/// LinkedIn: 3,000 characters. Images, or 1 video alone; 9 images at most (the API's
/// multi-image post takes up to 20, the conservative figure of the web composer is used).
/// Posting limits are unpublished; 150 posts per day per member (Ayrshare) is used. Access tokens
/// last 60 days; refresh tokens (approved partners only) do not rotate and end 365 days after the
/// first grant.
pub(super) const LINKEDIN: PlatformRules = PlatformRules {
    platform: Platform::Linkedin,
    caption: chars(3_000),
    media: MediaRule {
        min_items: 0,
        max_items: 9,
        kinds: ALL_KINDS,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(150, DAY)],
    app_quotas: &[],
    token: token(Some(60 * DAY), Some(365 * DAY), RefreshStyle::NonRotating),
};

/// Instagram: 2,200 characters; 1 to 10 images or videos, mixed in a carousel; no GIFs, no
/// text-only posts. Quota 25 published posts per rolling 24 h (Meta, 2023). Meta's current
/// `content_publishing_limit` example and Ayrshare say 50: the conservative 25 is used until the
/// live quota endpoint is read. Long-lived tokens last 60 days and are exchanged.
pub(super) const INSTAGRAM: PlatformRules = PlatformRules {
    platform: Platform::Instagram,
    caption: chars(2_200),
    media: MediaRule {
        min_items: 1,
        max_items: 10,
        kinds: IMAGE_VIDEO,
        max_videos: 10,
        video_alone: false,
    },
    quotas: &[per(25, DAY)],
    app_quotas: &[],
    token: META_LONG_LIVED,
};

/// Threads: 500 characters, an emoji counting as its UTF-8 bytes; carousels of up to 10 images
/// or videos (third-party figure; used as the conservative one). 250 published posts per 24 h.
/// Long-lived tokens last 60 days and are exchanged.
pub(super) const THREADS: PlatformRules = PlatformRules {
    platform: Platform::Threads,
    caption: CaptionRule {
        max: 500,
        unit: CaptionUnit::EmojiBytes,
        max_bytes: None,
    },
    media: MediaRule {
        min_items: 0,
        max_items: 10,
        kinds: IMAGE_VIDEO,
        max_videos: 10,
        video_alone: false,
    },
    quotas: &[per(250, DAY)],
    app_quotas: &[],
    token: META_LONG_LIVED,
};

/// Bluesky: 300 graphemes and 3,000 bytes; 4 images or 1 video (GIFs are sent as video).
/// 5,000 points per hour and 35,000 per day at 3 points per created record: 1,666 posts per hour
/// and 11,666 per day. Sessions last about 2 h and refresh tokens rotate; their lifetime is read
/// from the JWT.
pub(super) const BLUESKY: PlatformRules = PlatformRules {
    platform: Platform::Bluesky,
    caption: CaptionRule {
        max: 300,
        unit: CaptionUnit::Graphemes,
        max_bytes: Some(3_000),
    },
    media: MediaRule {
        min_items: 0,
        max_items: 4,
        kinds: ALL_KINDS,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(1_666, HOUR), per(11_666, DAY)],
    app_quotas: &[],
    token: token(Some(2 * HOUR), None, RefreshStyle::Rotating),
};

/// Facebook Pages: 63,206 characters; 10 photos or 1 video alone. Pages have no published post
/// cap (Graph API calls are limited per business use case instead); 50 per 24 h, the figure Meta
/// shows for Instagram's live quota, is used as a conservative ceiling. Long-lived user tokens
/// last 60 days and are exchanged (page tokens derived from them do not expire).
pub(super) const FACEBOOK: PlatformRules = PlatformRules {
    platform: Platform::Facebook,
    caption: chars(63_206),
    media: MediaRule {
        min_items: 0,
        max_items: 10,
        kinds: ALL_KINDS,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(50, DAY)],
    app_quotas: &[],
    token: META_LONG_LIVED,
};

/// TikTok: 2,000 characters (Postiz; TikTok's API allows 2,200 for video titles, the lower
/// figure is used); 1 video, or up to 35 photos. The daily per-creator cap is unpublished;
/// integrators report 15 to 25, so 15 per 24 h is used, together with the documented 6 direct
/// post requests per minute per user. Access tokens: 2 h (older docs: 24 h) and refresh tokens
/// 180 days (older docs: 365), the shorter figures are used; refresh tokens rotate.
pub(super) const TIKTOK: PlatformRules = PlatformRules {
    platform: Platform::Tiktok,
    caption: chars(2_000),
    media: MediaRule {
        min_items: 1,
        max_items: 35,
        kinds: IMAGE_VIDEO,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(15, DAY), per(6, MINUTE)],
    app_quotas: &[],
    token: token(Some(2 * HOUR), Some(180 * DAY), RefreshStyle::Rotating),
};

/// YouTube: 5,000-character description; exactly 1 video. `videos.insert` has its own bucket of
/// 100 calls per day per project (current quota doc), applied per channel and per app; the older
/// doc charged 1,600 of 10,000 daily units per upload, which only applies to projects still on
/// unit quotas. Google access tokens last 1 h; refresh tokens do not rotate.
pub(super) const YOUTUBE: PlatformRules = PlatformRules {
    platform: Platform::Youtube,
    caption: chars(5_000),
    media: MediaRule {
        min_items: 1,
        max_items: 1,
        kinds: VIDEO_ONLY,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(100, DAY)],
    app_quotas: &[per(100, DAY)],
    token: token(Some(HOUR), None, RefreshStyle::NonRotating),
};

/// Pinterest: 500-character description; one image or video per pin, or a carousel of up to 5
/// images that share dimensions. No daily pin cap is published (API limits are per minute); 50
/// pins per 24 h is used as a conservative ceiling. Access tokens last about 30 days; with
/// continuous refresh the refresh token rotates (60-day sliding window reported; legacy tokens
/// last about 365 days, the shorter figure is used).
pub(super) const PINTEREST: PlatformRules = PlatformRules {
    platform: Platform::Pinterest,
    caption: chars(500),
    media: MediaRule {
        min_items: 1,
        max_items: 5,
        kinds: IMAGE_VIDEO,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(50, DAY)],
    app_quotas: &[],
    token: token(Some(30 * DAY), Some(60 * DAY), RefreshStyle::Rotating),
};

/// Google Business Profile: local post summary of 1,500 characters; one photo or video. The
/// Business Profile APIs allow 10 edits per minute per profile; with no published daily cap,
/// 20 posts per 24 h is used. Google access tokens last 1 h; refresh tokens do not rotate.
pub(super) const GOOGLE_BUSINESS: PlatformRules = PlatformRules {
    platform: Platform::GoogleBusiness,
    caption: chars(1_500),
    media: MediaRule {
        min_items: 0,
        max_items: 1,
        kinds: IMAGE_VIDEO,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(20, DAY), per(10, MINUTE)],
    app_quotas: &[],
    token: token(Some(HOUR), None, RefreshStyle::NonRotating),
};

/// Vimeo: the caption becomes the video description, kept to 5,000 characters (no published
/// limit; matches YouTube); exactly 1 video. Upload quotas depend on the plan; 10 uploads per
/// 24 h, the free tier's daily cap, is used. Vimeo access tokens do not expire.
pub(super) const VIMEO: PlatformRules = PlatformRules {
    platform: Platform::Vimeo,
    caption: chars(5_000),
    media: MediaRule {
        min_items: 1,
        max_items: 1,
        kinds: VIDEO_ONLY,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(10, DAY)],
    app_quotas: &[],
    token: token(None, None, RefreshStyle::None),
};

/// Reddit: the caption becomes the post title, limited to 300 characters (bodies allow 40,000;
/// the title limit is the binding one); a gallery of up to 20 images, or 1 video alone. The API
/// allows 100 requests per minute per OAuth client; posting pace is limited per account by
/// karma, so 10 posts per 24 h is used. Access tokens last 1 h; permanent refresh tokens are
/// kept (any refresh token returned is still persisted).
pub(super) const REDDIT: PlatformRules = PlatformRules {
    platform: Platform::Reddit,
    caption: chars(300),
    media: MediaRule {
        min_items: 0,
        max_items: 20,
        kinds: ALL_KINDS,
        max_videos: 1,
        video_alone: true,
    },
    quotas: &[per(10, DAY)],
    app_quotas: &[per(100, MINUTE)],
    token: token(Some(HOUR), None, RefreshStyle::NonRotating),
};
