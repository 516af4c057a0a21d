//! Policy notices: `POST /v1/admin/notices` (instance administrators) publishes a change of the
//! privacy policy or terms; a material change must take effect at least 14 days after it is
//! published (by the injected clock); every person with an email address is also mailed (through
//! the engine's notifier, when SMTP is configured). `GET /v1/notices` shows current and upcoming
//! notices in-app to everyone signed in.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use schema::{Notice, notice_year};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, created};
use crate::state::AppState;

/// The least notice a material change gets.
pub const MATERIAL_NOTICE: SignedDuration = SignedDuration::from_hours(14 * 24);

/// How long after taking effect a notice is still shown.
const SHOWN_AFTER_EFFECT: SignedDuration = SignedDuration::from_hours(30 * 24);

/// The notice routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/notices", post(publish_notice))
        .route("/v1/notices", get(list_notices))
}

fn default_material() -> bool {
    true
}

/// Body of `POST /v1/admin/notices`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    /// Short title, 1 to 200 characters.
    pub title: String,
    /// The text, 1 to 20000 characters.
    pub body: String,
    /// When the change takes effect (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub effective_at: Timestamp,
    /// Whether the change is material (default true): then it must be at least 14 days ahead.
    #[serde(default = "default_material")]
    pub material: bool,
}

/// A notice as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeView {
    /// Notice id.
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// When the change takes effect.
    #[schema(value_type = String, format = DateTime)]
    pub effective_at: Timestamp,
    /// Whether the change is material.
    pub material: bool,
    /// When it was published.
    #[schema(value_type = String, format = DateTime)]
    pub published_at: Timestamp,
}

impl From<Notice> for NoticeView {
    fn from(n: Notice) -> Self {
        Self {
            id: n.id.to_string(),
            title: n.title,
            body: n.body,
            effective_at: n.effective_at,
            material: n.material,
            published_at: n.published_at,
        }
    }
}

/// Current notices.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeList {
    /// By effective date.
    pub items: Vec<NoticeView>,
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    let len = value.chars().count();
    if len == 0 || len > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Publishes a notice to every user.
#[utoipa::path(
    post, path = "/v1/admin/notices", tag = "privacy",
    request_body = NewNotice,
    responses(
        (status = 201, body = NoticeView),
        (status = 403, body = crate::error::Problem),
        (status = 422, description = "A material change less than 14 days ahead", body = crate::error::Problem),
    )
)]
pub async fn publish_notice(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(new): ApiJson<NewNotice>,
) -> Result<axum::response::Response, ApiError> {
    if !principal.is_instance_admin() {
        return Err(ApiError::forbidden(
            "instance_admin_required",
            "only an instance administrator may publish notices",
        ));
    }
    let now = state.clock.now();
    let title = text("title", &new.title, 200)?;
    let body = text("body", &new.body, 20_000)?;
    let earliest = now
        .saturating_add(MATERIAL_NOTICE)
        .unwrap_or(Timestamp::MAX);
    if new.material && new.effective_at < earliest {
        return Err(ApiError::invalid_field(
            "effective_at",
            format!(
                "a material change must be announced at least 14 days before it takes effect \
                 (on or after {earliest})"
            ),
        ));
    }
    let notice = Notice {
        id: Uuid::now_v7(),
        title,
        body,
        effective_at: new.effective_at,
        material: new.material,
        published_at: now,
        published_by: principal.id(),
    };
    state.store.put_notice(&notice).await?;
    tracing::info!(notice_id = %notice.id, material = notice.material, "notice published");
    if let Some(engine) = &state.engine {
        let email = engine::Notification::PolicyNotice {
            to: engine::Recipient::AllUsers,
            title: notice.title.clone(),
            body: notice.body.clone(),
            effective_at: notice.effective_at,
        };
        // The in-app notice stands; a full mail queue is logged, not an error of the request.
        if let Err(e) = engine.notify(email) {
            tracing::warn!(notice_id = %notice.id, error = %e, "notice email not queued");
        }
    }
    Ok(created(NoticeView::from(notice)))
}

/// Notices that take effect soon or did so in the last 30 days.
#[utoipa::path(
    get, path = "/v1/notices", tag = "privacy",
    responses((status = 200, body = NoticeList), (status = 401, body = crate::error::Problem))
)]
pub async fn list_notices(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<NoticeList>, ApiError> {
    let now = state.clock.now();
    let year = notice_year(now);
    let mut notices = state.store.list_notices(year - 1).await?;
    notices.extend(state.store.list_notices(year).await?);
    let shown_from = now
        .saturating_sub(SHOWN_AFTER_EFFECT)
        .unwrap_or(Timestamp::MIN);
    notices.retain(|n| n.effective_at >= shown_from && n.published_at <= now);
    notices.sort_by_key(|n| (n.effective_at, n.id));
    Ok(Json(NoticeList {
        items: notices.into_iter().map(NoticeView::from).collect(),
    }))
}
