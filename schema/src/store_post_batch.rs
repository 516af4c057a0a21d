//! Batched post creation, for CSV imports: many posts with their deliveries in one store call
//! ([`crate::PostStore::create_posts`]), each refused when another post of the workspace
//! already holds its `external_id`, so two uploads of one file racing each other create every
//! post once.

use serde::{Deserialize, Serialize};
use tenants::{Delivery, Post, PostId};

/// One post to create, with all its deliveries (none for a draft).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostWithDeliveries {
    /// The post.
    pub post: Post,
    /// Its deliveries, each naming `post.id`.
    pub deliveries: Vec<Delivery>,
}

/// What became of one post handed to [`crate::PostStore::create_posts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostCreation {
    /// The post, its deliveries and their due-index rows were written.
    Created,
    /// Nothing was written: another post of the workspace already holds the `external_id`
    /// (stored before, or earlier in the same call).
    Duplicate {
        /// The post holding the `external_id`.
        existing: PostId,
    },
}
