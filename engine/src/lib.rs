//! The socialcrm engine: a supervised actor tree (`Engine -> WorkspaceActor -> AccountActor`) that
//! owns schedules, rate limits and token refresh, and publishes deliveries exactly once in effect
//! through the publishing partner.

pub mod account;
mod accounts;
pub mod adapters;
pub mod analytics;
pub mod api;
pub mod context;
pub mod engine;
pub mod error;
pub mod event_log;
pub mod events;
pub mod notify;
pub mod observe;
pub mod outbound;
pub mod partner;
pub mod pending;
mod post_batch;
mod post_edits;
mod posts;
pub mod privacy;
pub mod publish;
pub mod purge;
pub mod rate_limit;
pub mod reconcile;
pub mod revoke;
pub mod runtime;
pub mod scheduler;
pub mod ssrf;
pub mod status_recovery;
pub mod timer_wheel;
pub mod token_refresh;
pub mod vault;
pub mod webhooks;
pub mod workspace;

pub use api::*;
pub use error::{EngineError, FieldError};
pub use post_batch::ImportedPost;
