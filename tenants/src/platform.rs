//! The social networks the publishing partner serves. The per-network rules (limits, quotas,
//! token lifetimes) live in [`crate::rules`](mod@crate::rules) as data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A social network that accounts can be connected to and posts published on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// X (Twitter).
    X,
    /// LinkedIn.
    Linkedin,
    /// Instagram.
    Instagram,
    /// Threads.
    Threads,
    /// Bluesky.
    Bluesky,
    /// Facebook Pages.
    Facebook,
    /// TikTok.
    Tiktok,
    /// YouTube.
    Youtube,
    /// Pinterest.
    Pinterest,
    /// Google Business Profile.
    GoogleBusiness,
    /// Vimeo.
    Vimeo,
    /// Reddit.
    Reddit,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 12] = [
        Platform::X,
        Platform::Linkedin,
        Platform::Instagram,
        Platform::Threads,
        Platform::Bluesky,
        Platform::Facebook,
        Platform::Tiktok,
        Platform::Youtube,
        Platform::Pinterest,
        Platform::GoogleBusiness,
        Platform::Vimeo,
        Platform::Reddit,
    ];

    /// The wire name (`x`, `linkedin`, `google_business`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::X => "x",
            Platform::Linkedin => "linkedin",
            Platform::Instagram => "instagram",
            Platform::Threads => "threads",
            Platform::Bluesky => "bluesky",
            Platform::Facebook => "facebook",
            Platform::Tiktok => "tiktok",
            Platform::Youtube => "youtube",
            Platform::Pinterest => "pinterest",
            Platform::GoogleBusiness => "google_business",
            Platform::Vimeo => "vimeo",
            Platform::Reddit => "reddit",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name that is not one of [`Platform::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown platform `{0}`; expected one of x, linkedin, instagram, threads, bluesky, facebook, tiktok, youtube, pinterest, google_business, vimeo, reddit"
)]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        let found = match norm.as_str() {
            "twitter" => Some(Platform::X),
            "googlebusiness" | "gbp" | "google_business_profile" => Some(Platform::GoogleBusiness),
            other => Platform::ALL.into_iter().find(|p| p.as_str() == other),
        };
        found.ok_or_else(|| UnknownPlatform(s.chars().take(64).collect()))
    }
}
