//! The engine's error type: what a caller (the gateway) can map to an HTTP status.

pub use tenants::FieldError;

/// Errors a caller of [`crate::EngineHandle`] can map to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The addressed thing does not exist in the caller's workspace (404).
    #[error("{kind} {id} not found")]
    NotFound {
        /// What kind of thing (`post`, `account`, `workspace`).
        kind: &'static str,
        /// The id as given.
        id: String,
    },
    /// The request is invalid; every offending field is listed (422).
    #[error("invalid request: {} field error(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// The request conflicts with the current state, e.g. a delivery already left `scheduled` (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The engine or an actor is not available: starting, shutting down or restarting (503).
    #[error("engine unavailable: {0}")]
    Unavailable(String),
    /// The store failed (500).
    #[error(transparent)]
    Store(#[from] schema::StoreError),
    /// The token vault failed (500). Never carries secret material.
    #[error("token vault error: {0}")]
    Vault(String),
}
