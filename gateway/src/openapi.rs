//! The OpenAPI 3.1 document (utoipa), served at `GET /openapi.json`, and the Swagger UI at
//! `GET /docs`, whose assets are compiled into the binary so the docs work offline.

use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;
use crate::{auth, error, routes};

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "socialcrm",
        description = "Schedule and publish posts to social networks. Authenticate with \
            `Authorization: Bearer <api key>` or the session cookie from Google/X sign-in \
            (state-changing cookie requests must send `X-CSRF-Token`). Errors are RFC 9457 \
            problem+json. POST and PATCH accept `Idempotency-Key` (24 h). Lists take \
            `limit` (1-200) and `cursor` and return `{items, next_cursor}`. Every response \
            carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`."
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        auth::signin::start,
        auth::signin::callback,
        auth::signin::logout,
        routes::me::get_me,
        routes::me::patch_me,
        auth::age::declare_age,
        routes::keys::create_key,
        routes::keys::list_keys,
        routes::keys::delete_key,
        routes::workspaces::create_workspace,
        routes::workspaces::list_workspaces,
        routes::workspaces::get_workspace,
        routes::workspaces::patch_workspace,
        routes::members::list_members,
        routes::members::add_member,
        routes::members::change_role,
        routes::members::remove_member,
        routes::accounts::connect_account,
        routes::accounts::connect_callback,
        routes::accounts::list_accounts,
        routes::accounts::get_account,
        routes::accounts::disconnect_account,
        routes::posts::create_post,
        routes::posts::list_posts,
        routes::posts::get_post,
        routes::posts::patch_post,
        routes::posts::delete_post,
        routes::posts::publish_post,
        routes::posts::cancel_post,
        routes::posts_export::export_posts_csv,
        routes::imports::create_import,
        routes::imports::list_imports,
        routes::imports::get_import,
        routes::media::upload_media,
        routes::media::list_media,
        routes::media::get_media,
        routes::media::media_content,
        routes::media::delete_media,
        routes::media::public_media,
        routes::audit::list_audit,
        routes::exports::export_me,
        routes::exports::get_my_export,
        routes::exports::download_my_export,
        routes::exports::export_workspace,
        routes::exports::get_workspace_export,
        routes::exports::download_workspace_export,
        routes::privacy::restrict,
        routes::privacy::unrestrict,
        routes::privacy::erase_workspace,
        routes::privacy::erase_me,
        routes::privacy::set_marketing_consent,
        routes::notices::publish_notice,
        routes::notices::list_notices,
        routes::webhooks::create_webhook,
        routes::webhooks::list_webhooks,
        routes::webhooks::get_webhook,
        routes::webhooks::patch_webhook,
        routes::webhooks::delete_webhook,
        routes::webhooks::rotate_secret,
        routes::webhooks::test_webhook,
        routes::webhooks::list_deliveries,
        routes::webhooks::resend_delivery,
        routes::partner_webhook::outstand_webhook,
        routes::analytics::post_analytics,
        routes::analytics::account_analytics,
        routes::analytics::summary,
    ),
    components(schemas(error::Problem, error::FieldIssue)),
    modifiers(&Security),
    tags(
        (name = "ops", description = "Health, readiness and metrics"),
        (name = "auth", description = "Google and X sign-in, sessions"),
        (name = "me", description = "The signed-in person"),
        (name = "api-keys", description = "API keys"),
        (name = "workspaces", description = "Workspaces (tenants)"),
        (name = "members", description = "Workspace members and roles"),
        (name = "accounts", description = "Connected social accounts (platform OAuth hand-off)"),
        (name = "posts", description = "Posts and their per-account deliveries"),
        (name = "media", description = "Uploaded images and videos"),
        (name = "imports", description = "Bulk scheduling from CSV files"),
        (name = "privacy", description = "Audit log, export, restriction, erasure, consent, policy notices"),
        (name = "webhooks", description = "Outbound webhook endpoints, deliveries and resends"),
        (name = "partner", description = "Inbound webhooks from the publishing partner"),
        (name = "analytics", description = "Post and account metrics pulled from the partner"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_...")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
        openapi.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new("api_key", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
    }
}

/// `GET /openapi.json` and the Swagger UI under `/docs`.
pub fn router() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
