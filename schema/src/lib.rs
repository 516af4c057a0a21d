//! Persistence for socialcrm: the `Store` traits, written per access pattern, and two backends:
//! embedded (redb, one file, the default) and ScyllaDB. One conformance suite runs against both.
//!
//! The tables are declared once in `schema/cql/` and keyed the same way in both backends
//! (see [`migrations`] and the crate-private `layout` module).

pub mod admin;
mod cursor;
#[path = "redb/mod.rs"]
pub mod embedded;
pub mod error;
mod keys;
mod layout;
pub mod migrations;
mod row_codec;
pub mod scope;
#[path = "scylla/mod.rs"]
pub mod scylladb;
pub mod store;
pub mod store_analytics;
pub mod store_deliveries;
pub mod store_erasure;
pub mod store_events;
pub mod store_imports;
pub mod store_post_batch;
pub mod store_privacy;
pub mod store_requests;
pub mod store_webhooks;
pub mod url;

pub use admin::{CompactReport, SchemaStatus, compact, inspect};
pub use embedded::RedbStore;
pub use error::{StoreError, StoreResult};
pub use migrations::{MigrateReport, SCHEMA_VERSION};
pub use scope::{AccountScope, WorkspaceScope};
pub use scylladb::ScyllaStore;
pub use store::*;
pub use store_analytics::*;
pub use store_deliveries::*;
pub use store_erasure::*;
pub use store_events::*;
pub use store_imports::*;
pub use store_post_batch::*;
pub use store_privacy::*;
pub use store_requests::*;
pub use store_webhooks::*;
pub use url::{StoreUrl, migrate, open_store};
