//! Per-platform rules as data: caption limits and how they are counted, media limits, publish
//! quotas, and token lifetimes with their refresh style. Validation ([`crate::validation`]) reads
//! the caption and media rules; the engine's account actors read the quotas (rate limiting) and
//! the token rules (refresh scheduling).
//!
//! Figures come from the platforms' documentation and peer research. Numbers drift: where sources
//! disagree the conservative figure is used and the alternative is named beside it. Token
//! lifetimes here are fallbacks only: the engine prefers `expires_in` from each token response.

use unicode_segmentation::UnicodeSegmentation;

use crate::platform::Platform;

mod table;

use table::{
    BLUESKY, FACEBOOK, GOOGLE_BUSINESS, INSTAGRAM, LINKEDIN, PINTEREST, REDDIT, THREADS, TIKTOK,
    VIMEO, X, YOUTUBE,
};

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// How a platform counts the length of a caption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionUnit {
    /// Unicode scalar values (what most platforms call characters).
    Chars,
    /// User-perceived characters (extended grapheme clusters): an emoji family counts once.
    Graphemes,
    /// X's weighted count: Latin and common punctuation count 1, other characters (CJK, emoji
    /// sequences) count 2, and every link counts 23 whatever its length.
    XWeighted,
    /// Characters, except that an emoji counts as its UTF-8 length in bytes (Threads).
    EmojiBytes,
}

impl CaptionUnit {
    /// The length of `text` in this unit.
    pub fn measure(self, text: &str) -> usize {
        match self {
            CaptionUnit::Chars => text.chars().count(),
            CaptionUnit::Graphemes => text.graphemes(true).count(),
            CaptionUnit::XWeighted => x_weighted_len(text),
            CaptionUnit::EmojiBytes => text
                .chars()
                .map(|c| if is_emoji(c) { c.len_utf8() } else { 1 })
                .sum(),
        }
    }

    /// The unit's name in messages (`characters`, `graphemes`...).
    pub fn noun(self) -> &'static str {
        match self {
            CaptionUnit::Chars | CaptionUnit::EmojiBytes => "characters",
            CaptionUnit::Graphemes => "characters (graphemes)",
            CaptionUnit::XWeighted => "weighted characters",
        }
    }
}

/// The caption limit of a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptionRule {
    /// The most the caption may measure, in `unit`.
    pub max: usize,
    /// How the caption is measured.
    pub unit: CaptionUnit,
    /// A further cap in UTF-8 bytes, where the platform has one.
    pub max_bytes: Option<usize>,
}

/// A kind of media attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A still image (JPEG, PNG, WebP).
    Image,
    /// A video.
    Video,
    /// An animated GIF.
    Gif,
}

impl MediaKind {
    /// The kind for a MIME type (`image/png`, `video/mp4`, `image/gif`), if it is media.
    pub fn from_content_type(content_type: &str) -> Option<MediaKind> {
        let mime = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match mime.as_str() {
            "image/gif" => Some(MediaKind::Gif),
            m if m.starts_with("image/") => Some(MediaKind::Image),
            m if m.starts_with("video/") => Some(MediaKind::Video),
            _ => None,
        }
    }

    /// The kind guessed from a file name or URL path extension, if it is a known one.
    pub fn from_extension(path: &str) -> Option<MediaKind> {
        let path = path.split(['?', '#']).next()?;
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "gif" => Some(MediaKind::Gif),
            "jpg" | "jpeg" | "png" | "webp" | "heic" => Some(MediaKind::Image),
            "mp4" | "mov" | "m4v" | "webm" => Some(MediaKind::Video),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Gif => "gif",
        }
    }
}

/// What media a post may carry on a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRule {
    /// The fewest attachments (1 where the platform has no text-only posts).
    pub min_items: usize,
    /// The most attachments.
    pub max_items: usize,
    /// The kinds accepted.
    pub kinds: &'static [MediaKind],
    /// The most videos in one post.
    pub max_videos: usize,
    /// Whether a video or GIF must be the only attachment (no mixing with images).
    pub video_alone: bool,
}

/// A publish quota: at most `count` posts per rolling window of `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Posts allowed in the window.
    pub count: u32,
    /// The window length in seconds.
    pub window_secs: u64,
}

const fn per(count: u32, window_secs: u64) -> Quota {
    Quota { count, window_secs }
}

/// How an access token is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStyle {
    /// A refresh token grant returns a new refresh token and the old one stops working: the new
    /// one must be persisted before use.
    Rotating,
    /// A refresh token grant keeps the same refresh token (it may still expire).
    NonRotating,
    /// No refresh token: a still-valid long-lived token is exchanged for a fresh one.
    Exchange,
    /// Tokens do not expire and are never refreshed.
    None,
}

/// Token lifetimes (fallbacks when a response omits them) and refresh semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRule {
    /// Access token lifetime in seconds; `None` when it does not expire.
    pub access_secs: Option<u64>,
    /// Refresh token lifetime in seconds, when known and fixed.
    pub refresh_secs: Option<u64>,
    /// How the token is renewed.
    pub refresh: RefreshStyle,
    /// How old a token must be before the platform lets it be exchanged or refreshed.
    pub min_age_secs: u64,
}

/// Everything the engine must respect for one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformRules {
    /// The platform.
    pub platform: Platform,
    /// Caption limit.
    pub caption: CaptionRule,
    /// Media limits.
    pub media: MediaRule,
    /// Publish quotas per connected account; every window applies at once.
    pub quotas: &'static [Quota],
    /// Publish quotas per app (our OAuth client), shared by all accounts; every window applies.
    pub app_quotas: &'static [Quota],
    /// Token lifetimes and refresh semantics.
    pub token: TokenRule,
}

impl Platform {
    /// This platform's rules.
    pub fn rules(self) -> &'static PlatformRules {
        rules(self)
    }
}

/// The rules of `platform`.
pub fn rules(platform: Platform) -> &'static PlatformRules {
    match platform {
        Platform::X => &X,
        Platform::Linkedin => &LINKEDIN,
        Platform::Instagram => &INSTAGRAM,
        Platform::Threads => &THREADS,
        Platform::Bluesky => &BLUESKY,
        Platform::Facebook => &FACEBOOK,
        Platform::Tiktok => &TIKTOK,
        Platform::Youtube => &YOUTUBE,
        Platform::Pinterest => &PINTEREST,
        Platform::GoogleBusiness => &GOOGLE_BUSINESS,
        Platform::Vimeo => &VIMEO,
        Platform::Reddit => &REDDIT,
    }
}

/// X's weighted length (twitter-text v3): code points in the light ranges weigh 1, other
/// graphemes (CJK, emoji sequences) weigh 2, and each `http(s)://` link weighs 23.
fn x_weighted_len(text: &str) -> usize {
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let space_end = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        total += x_weight(&rest[..space_end]);
        rest = &rest[space_end..];
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..word_end];
        let head = word.get(..8).unwrap_or(word).to_ascii_lowercase();
        total += if head.starts_with("http://") || head.starts_with("https://") {
            23
        } else {
            x_weight(word)
        };
        rest = &rest[word_end..];
    }
    total
}

fn x_weight(text: &str) -> usize {
    text.graphemes(true)
        .map(|g| {
            if g.chars().all(is_x_light) {
                g.chars().count()
            } else {
                2
            }
        })
        .sum()
}

fn is_x_light(c: char) -> bool {
    matches!(u32::from(c), 0..=4351 | 8192..=8205 | 8208..=8223 | 8242..=8247)
}

/// Emoji and their joiners/selectors: the pictographic blocks, dingbats and misc symbols.
fn is_emoji(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x200D | 0xFE0F | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests;
