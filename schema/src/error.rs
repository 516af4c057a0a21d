//! Store errors, shared by every backend.

/// What can go wrong in a store call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store URL could not be understood.
    #[error("invalid store url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store file or cluster could not be opened or reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store file is damaged or not a socialcrm store.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// The store's schema is older or newer than this binary understands.
    #[error(
        "store schema is at version {found}, this binary needs {expected}; run `socialcrm migrate`"
    )]
    SchemaVersion {
        /// What the store holds.
        found: u32,
        /// What the binary expects.
        expected: u32,
    },
    /// The backend timed out; the write may or may not have been applied.
    #[error("store timed out: {0}")]
    Timeout(String),
    /// The backend is overloaded; retry later.
    #[error("store overloaded: {0}")]
    Overloaded(String),
    /// A row already exists where the call required none.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A stored row could not be decoded.
    #[error("could not decode stored {table} row: {reason}")]
    Decode {
        /// The table.
        table: &'static str,
        /// The decode error.
        reason: String,
    },
    /// A cursor given by a caller is not one this store issued.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A row handed to a scoped call belongs to another workspace or account than the scope.
    #[error("{table} row is outside the caller's scope")]
    OutOfScope {
        /// The table the row was meant for.
        table: &'static str,
    },
    /// Any other backend failure.
    #[error("store backend error: {0}")]
    Backend(String),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
