//! HTTP routes, one handler group per file. Each file exposes `pub fn router() ->
//! Router<AppState>` with its paths spelled out in full (`/v1/workspaces/{ws}/members`), and is
//! merged here:
//! - [`public`] routes need no credentials (health, metrics, sign-in);
//! - [`v1`] routes sit behind authentication and idempotency (see `crate::app`).
//!
//! To add a handler group (accounts, posts, media):
//! 1. create `routes/<group>.rs` with `pub fn router() -> Router<AppState>`;
//! 2. take `WorkspaceAccess` as the first extractor of any `/v1/workspaces/{ws}/...` handler and
//!    call `access.require(Permission::...)` before acting; use `access.scope` for every store
//!    and engine call (never build a `WorkspaceScope` yourself);
//! 3. take bodies as `ApiJson<T>` with `#[serde(deny_unknown_fields)]`, lists as `ListParams`
//!    returning `{items, next_cursor}`, and return `ApiError` for failures;
//! 4. add `.merge(<group>::router())` to [`v1`] and the handlers to `crate::openapi::ApiDoc`.

pub mod account_connect;
pub mod accounts;
pub mod analytics;
pub mod audit;
pub mod exports;
pub mod health;
pub mod imports;
pub mod keys;
pub mod me;
pub mod media;
pub mod media_files;
pub mod members;
pub mod notices;
pub mod partner_webhook;
pub mod post_dto;
pub mod posts;
pub mod posts_export;
pub mod privacy;
pub mod webhooks;
pub mod workspaces;

use axum::Router;

use crate::state::AppState;

/// Routes that need no credentials.
pub fn public() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(crate::auth::signin::router())
        .merge(accounts::callback_router())
        .merge(media::public_router())
        .merge(partner_webhook::router())
}

/// Authenticated `/v1` routes.
pub fn v1() -> Router<AppState> {
    Router::new()
        .merge(me::router())
        .merge(keys::router())
        .merge(workspaces::router())
        .merge(members::router())
        .merge(accounts::router())
        .merge(posts::router())
        .merge(posts_export::router())
        .merge(imports::router())
        .merge(media::router())
        .merge(webhooks::router())
        .merge(analytics::router())
        .merge(audit::router())
        .merge(exports::router())
        .merge(privacy::router())
        .merge(notices::router())
}
