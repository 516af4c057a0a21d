//! Validation of user input against the platform rules ([`crate::rules`](mod@crate::rules)) and the product's own
//! limits. The gateway and the CSV import call these before anything is stored, and report every
//! problem at once as [`FieldError`]s, so a person can fix a post in one pass.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::platform::Platform;
use crate::post::Variant;
use crate::rules::MediaKind;

/// The longest workspace name, in characters.
pub const WORKSPACE_NAME_MAX: usize = 100;

/// One invalid field of a request, with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field path, e.g. `caption`, `variants.x.caption` or `media_ids`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A value that breaks a platform rule or a product limit. Messages name the platform and the
/// limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The caption is longer than the platform allows, measured the platform's way.
    #[error("caption is {length} {unit}; {platform} allows at most {max}")]
    CaptionTooLong {
        /// The platform.
        platform: Platform,
        /// The caption's length in `unit`.
        length: usize,
        /// The limit.
        max: usize,
        /// What was counted (`characters`, `weighted characters`...).
        unit: &'static str,
    },
    /// The caption exceeds the platform's byte cap.
    #[error("caption is {bytes} bytes; {platform} allows at most {max} bytes")]
    CaptionTooManyBytes {
        /// The platform.
        platform: Platform,
        /// The caption's UTF-8 length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// More attachments than the platform allows.
    #[error("{count} media attached; {platform} allows at most {max}")]
    TooManyMedia {
        /// The platform.
        platform: Platform,
        /// Attachments given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Fewer attachments than the platform needs (no text-only posts there).
    #[error("{count} media attached; {platform} needs at least {min}")]
    TooFewMedia {
        /// The platform.
        platform: Platform,
        /// Attachments given.
        count: usize,
        /// The minimum.
        min: usize,
    },
    /// A kind of media the platform does not take.
    #[error("{platform} does not accept {kind} media")]
    MediaKindNotAllowed {
        /// The platform.
        platform: Platform,
        /// The refused kind.
        kind: &'static str,
    },
    /// More videos than the platform allows in one post.
    #[error("{count} videos attached; {platform} allows at most {max} per post")]
    TooManyVideos {
        /// The platform.
        platform: Platform,
        /// Videos given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A video or GIF combined with other media where the platform wants it alone.
    #[error("{platform} does not allow a video or gif together with other media")]
    VideoNotAlone {
        /// The platform.
        platform: Platform,
    },
    /// Neither a caption nor media: nothing to publish.
    #[error("a post to {platform} needs a caption or media")]
    NothingToPublish {
        /// The platform.
        platform: Platform,
    },
    /// A required text field is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// A text field is longer than the product allows.
    #[error("{field} is {length} characters; at most {max} are allowed")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// Its length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A list has more entries than the product allows.
    #[error("{field} has {count} entries; at most {max} are allowed")]
    TooMany {
        /// The field's name.
        field: &'static str,
        /// Entries given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A text field holds control characters (other than line breaks and tabs where allowed).
    #[error("{field} must not contain control characters")]
    ControlCharacters {
        /// The field's name.
        field: &'static str,
    },
}

/// Checks a caption against `platform`'s limit, counted the platform's way (graphemes on
/// Bluesky, weighted characters on X, emoji bytes on Threads).
///
/// # Errors
/// [`ValidationError::CaptionTooLong`] or [`ValidationError::CaptionTooManyBytes`], naming the
/// platform and its limit.
pub fn validate_caption(platform: Platform, caption: &str) -> Result<(), ValidationError> {
    let rule = platform.rules().caption;
    let length = rule.unit.measure(caption);
    if length > rule.max {
        return Err(ValidationError::CaptionTooLong {
            platform,
            length,
            max: rule.max,
            unit: rule.unit.noun(),
        });
    }
    match rule.max_bytes {
        Some(max) if caption.len() > max => Err(ValidationError::CaptionTooManyBytes {
            platform,
            bytes: caption.len(),
            max,
        }),
        _ => Ok(()),
    }
}

/// Checks the number of attachments against `platform`'s minimum and maximum.
///
/// # Errors
/// [`ValidationError::TooManyMedia`] or [`ValidationError::TooFewMedia`].
pub fn validate_media_count(platform: Platform, count: usize) -> Result<(), ValidationError> {
    let rule = platform.rules().media;
    if count > rule.max_items {
        return Err(ValidationError::TooManyMedia {
            platform,
            count,
            max: rule.max_items,
        });
    }
    if count < rule.min_items {
        return Err(ValidationError::TooFewMedia {
            platform,
            count,
            min: rule.min_items,
        });
    }
    Ok(())
}

/// Checks attachments (their kinds, in order) against `platform`: count, accepted kinds, the
/// number of videos, and whether a video or GIF must stand alone.
///
/// # Errors
/// The first rule broken, as a [`ValidationError`].
pub fn validate_media(platform: Platform, media: &[MediaKind]) -> Result<(), ValidationError> {
    validate_media_count(platform, media.len())?;
    let rule = platform.rules().media;
    if let Some(kind) = media.iter().find(|k| !rule.kinds.contains(k)) {
        return Err(ValidationError::MediaKindNotAllowed {
            platform,
            kind: kind.as_str(),
        });
    }
    let videos = media.iter().filter(|k| **k == MediaKind::Video).count();
    if videos > rule.max_videos {
        return Err(ValidationError::TooManyVideos {
            platform,
            count: videos,
            max: rule.max_videos,
        });
    }
    let moving = media
        .iter()
        .any(|k| matches!(k, MediaKind::Video | MediaKind::Gif));
    if rule.video_alone && moving && media.len() > 1 {
        return Err(ValidationError::VideoNotAlone { platform });
    }
    Ok(())
}

/// Validates a post's content for every target platform and returns every problem found, each
/// with its field path: `caption` (the shared caption), `variants.<platform>.caption` (a
/// per-platform override) or `media_ids`. An empty list means the post is valid.
///
/// `media` lists the kinds of the attached media, in order. Each platform is checked once even
/// if several target accounts share it.
pub fn validate_post_content(
    caption: &str,
    variants: &BTreeMap<Platform, Variant>,
    media: &[MediaKind],
    platforms: &[Platform],
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for &platform in platforms {
        if seen.contains(&platform) {
            continue;
        }
        seen.push(platform);
        let variant = variants.get(&platform).and_then(|v| v.caption.as_deref());
        let (field, text) = match variant {
            Some(text) => (format!("variants.{platform}.caption"), text),
            None => ("caption".to_string(), caption),
        };
        if text.trim().is_empty() && media.is_empty() {
            push(
                &mut errors,
                &field,
                ValidationError::NothingToPublish { platform },
            );
        }
        if let Err(e) = validate_caption(platform, text) {
            push(&mut errors, &field, e);
        }
        if let Err(e) = validate_media(platform, media) {
            push(&mut errors, "media_ids", e);
        }
    }
    errors
}

fn push(errors: &mut Vec<FieldError>, field: &str, error: ValidationError) {
    let candidate = FieldError::new(field, error.to_string());
    if !errors.contains(&candidate) {
        errors.push(candidate);
    }
}

/// Checks a workspace name: not blank, at most [`WORKSPACE_NAME_MAX`] characters after trimming,
/// no control characters.
///
/// # Errors
/// [`ValidationError::Empty`], [`ValidationError::TooLong`] or
/// [`ValidationError::ControlCharacters`].
pub fn validate_workspace_name(name: &str) -> Result<(), ValidationError> {
    validate_text("name", name, WORKSPACE_NAME_MAX, false)?;
    if name.trim().is_empty() {
        return Err(ValidationError::Empty { field: "name" });
    }
    Ok(())
}

/// Checks a free-text field: at most `max` characters after trimming, and no control characters
/// (line breaks and tabs are allowed when `multiline`).
///
/// # Errors
/// [`ValidationError::TooLong`] or [`ValidationError::ControlCharacters`].
pub fn validate_text(
    field: &'static str,
    value: &str,
    max: usize,
    multiline: bool,
) -> Result<(), ValidationError> {
    let length = value.trim().chars().count();
    if length > max {
        return Err(ValidationError::TooLong { field, length, max });
    }
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        return Err(ValidationError::ControlCharacters { field });
    }
    Ok(())
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
