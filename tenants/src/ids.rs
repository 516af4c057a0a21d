//! Typed identifiers. Every id is a UUIDv7 newtype, so ids sort by creation time and one kind of
//! id can never be passed where another is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The 16 big-endian bytes, used in ordered store keys.
            pub fn to_bytes(&self) -> [u8; 16] {
                *self.0.as_bytes()
            }

            /// Rebuilds an id from its 16 store-key bytes.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// The short name of this id kind, used in error messages (`workspace`, `post`...).
            pub const KIND: &'static str = $prefix;
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| IdError { kind: $prefix, value: s.chars().take(64).collect() })
            }
        }
    };
}

/// A string that is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id")]
pub struct IdError {
    /// The kind of id that was expected.
    pub kind: &'static str,
    /// The offending input, truncated to 64 characters.
    pub value: String,
}

id_type!(
    /// A workspace (tenant).
    WorkspaceId,
    "workspace"
);
id_type!(
    /// A person who signs in with Google or X.
    UserId,
    "user"
);
id_type!(
    /// A connected social account.
    AccountId,
    "account"
);
id_type!(
    /// A post: one piece of content aimed at one or more accounts.
    PostId,
    "post"
);
id_type!(
    /// A delivery: one post to one account.
    DeliveryId,
    "delivery"
);
id_type!(
    /// An API key (its metadata; the key itself is never stored).
    ApiKeyId,
    "api key"
);
id_type!(
    /// An uploaded media file.
    MediaId,
    "media"
);
id_type!(
    /// A CSV import job.
    ImportId,
    "import"
);
id_type!(
    /// An outbound webhook endpoint.
    WebhookId,
    "webhook"
);
id_type!(
    /// An event (outbound webhook payload, audit entry).
    EventId,
    "event"
);
id_type!(
    /// A data export job.
    ExportId,
    "export"
);
