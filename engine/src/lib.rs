//! The socialcrm engine: a supervised actor tree (`Engine -> WorkspaceActor -> AccountActor`) that
//! owns schedules, rate limits and token refresh, and publishes deliveries exactly once in effect
//! through the publishing partner.

pub mod account;
mod accounts;
pub mod adapters;
pub mod api;
pub mod context;
pub mod engine;
pub mod error;
pub mod events;
pub mod observe;
pub mod outbound;
pub mod partner;
mod post_edits;
mod posts;
pub mod publish;
pub mod rate_limit;
pub mod reconcile;
pub mod runtime;
pub mod scheduler;
pub mod token_refresh;
pub mod vault;
pub mod workspace;

pub use api::*;
pub use error::{EngineError, FieldError};
