//! A workspace's persona: the brand voice the AI assistant writes in. Set by people through the
//! gateway, stored per workspace, read by the engine when it asks the AI provider for drafts, and
//! purged with the workspace.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::validation::{FieldError, ValidationError, validate_text};

/// The longest `tone`, in characters.
pub const TONE_MAX: usize = 200;
/// The longest `audience`, in characters.
pub const AUDIENCE_MAX: usize = 500;
/// The longest `style_notes`, in characters.
pub const STYLE_NOTES_MAX: usize = 2_000;
/// The most example posts.
pub const EXAMPLE_POSTS_MAX: usize = 10;
/// The longest example post, in characters.
pub const EXAMPLE_POST_MAX: usize = 3_000;

/// The brand voice of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persona {
    /// The tone, e.g. "warm, witty, never sarcastic".
    pub tone: String,
    /// Who the posts speak to.
    pub audience: String,
    /// Free-form guidance: words to use or avoid, emoji and hashtag habits.
    pub style_notes: String,
    /// Posts that show the voice well.
    #[serde(default)]
    pub example_posts: Vec<String>,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Persona {
    /// Every problem with the persona's lengths and characters, each with its field path
    /// (`tone`, `audience`, `style_notes`, `example_posts`, `example_posts[2]`). Empty when valid.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut check = |field: String, result: Result<(), ValidationError>| {
            if let Err(e) = result {
                errors.push(FieldError::new(field, e.to_string()));
            }
        };
        check(
            "tone".into(),
            validate_text("tone", &self.tone, TONE_MAX, false),
        );
        check(
            "audience".into(),
            validate_text("audience", &self.audience, AUDIENCE_MAX, true),
        );
        check(
            "style_notes".into(),
            validate_text("style_notes", &self.style_notes, STYLE_NOTES_MAX, true),
        );
        if self.example_posts.len() > EXAMPLE_POSTS_MAX {
            check(
                "example_posts".into(),
                Err(ValidationError::TooMany {
                    field: "example_posts",
                    count: self.example_posts.len(),
                    max: EXAMPLE_POSTS_MAX,
                }),
            );
        }
        for (i, post) in self.example_posts.iter().enumerate() {
            let result = if post.trim().is_empty() {
                Err(ValidationError::Empty {
                    field: "example post",
                })
            } else {
                validate_text("example post", post, EXAMPLE_POST_MAX, true)
            };
            check(format!("example_posts[{i}]"), result);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persona() -> Persona {
        Persona {
            tone: "warm and direct".into(),
            audience: "independent coffee shops".into(),
            style_notes: "No hashtags.\nOne emoji at most.".into(),
            example_posts: vec!["Fresh beans are in.\nCome by!".into()],
            updated_at: "2026-05-01T12:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn test_reasonable_persona_is_valid() {
        assert_eq!(persona().validate(), vec![]);
    }

    #[test]
    fn test_every_overlong_field_is_reported_with_its_path() {
        let mut p = persona();
        p.tone = "t".repeat(TONE_MAX + 1);
        p.style_notes = "s".repeat(STYLE_NOTES_MAX + 1);
        p.example_posts = vec!["ok".into(), " ".into(), "e".repeat(EXAMPLE_POST_MAX + 1)];
        let errors = p.validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "tone",
                "style_notes",
                "example_posts[1]",
                "example_posts[2]"
            ]
        );
        assert_eq!(
            errors[0].message,
            "tone is 201 characters; at most 200 are allowed"
        );
        assert_eq!(
            errors[1].message,
            "style_notes is 2001 characters; at most 2000 are allowed"
        );
        assert_eq!(errors[2].message, "example post must not be empty");
    }

    #[test]
    fn test_too_many_examples_and_control_characters_are_refused() {
        let mut p = persona();
        p.tone = "calm\nbut firm".into();
        p.example_posts = vec!["post".into(); EXAMPLE_POSTS_MAX + 1];
        let errors = p.validate();
        assert_eq!(
            errors,
            vec![
                FieldError::new("tone", "tone must not contain control characters"),
                FieldError::new(
                    "example_posts",
                    "example_posts has 11 entries; at most 10 are allowed"
                ),
            ]
        );
    }

    #[test]
    fn test_persona_round_trips_through_json() {
        let p = persona();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Persona>(&json).unwrap(), p);
    }
}
