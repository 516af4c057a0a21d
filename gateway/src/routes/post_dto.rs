//! The wire shapes of posts: request bodies (parsed strictly, ids checked for shape only) and
//! the post view with its deliveries. Times are RFC 3339 in UTC, echoed with the IANA `timezone`
//! the post was scheduled in and the same instant as local time in that zone.

use std::collections::BTreeMap;

use engine::PostView;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use tenants::{
    AccountId, Delivery, DeliveryState, MediaId, Platform, PostId, PostStatus, ScheduleInput,
    Variant,
};
use utoipa::ToSchema;

use crate::error::{ApiError, FieldIssue};

/// The statuses a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestedStatus {
    /// Keep it as a draft: nothing is published.
    Draft,
    /// Publish at `scheduled_at` (or now, without one).
    Scheduled,
}

impl From<RequestedStatus> for PostStatus {
    fn from(s: RequestedStatus) -> Self {
        match s {
            RequestedStatus::Draft => PostStatus::Draft,
            RequestedStatus::Scheduled => PostStatus::Scheduled,
        }
    }
}

/// Body of `POST .../posts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    /// The caption, checked against every target platform's rules.
    pub caption: String,
    /// The accounts to publish to; each becomes a delivery.
    pub account_ids: Vec<String>,
    /// An RFC 3339 instant (`2026-12-01T08:00:00Z`) or `{"local": "2026-12-01T09:00",
    /// "timezone": "Europe/Paris"}`. Omitted with status `scheduled`: publish now. A local time
    /// in a daylight saving gap is refused; in a fold, the earlier instant is used.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub scheduled_at: Option<ScheduleInput>,
    /// Uploaded media to attach.
    #[serde(default)]
    pub media_ids: Vec<String>,
    /// Per-platform overrides: `{"linkedin": {"caption": "..."}}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variants: BTreeMap<Platform, Variant>,
    /// `draft` or `scheduled` (default).
    #[serde(default)]
    pub status: Option<RequestedStatus>,
    /// A first comment, where the platform allows one.
    #[serde(default)]
    pub first_comment: Option<String>,
}

/// Body of `PATCH .../posts/{post_id}`; absent fields are unchanged.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPost {
    /// New caption.
    pub caption: Option<String>,
    /// New time (same forms as on create).
    #[schema(value_type = Option<Object>)]
    pub scheduled_at: Option<ScheduleInput>,
    /// New media.
    pub media_ids: Option<Vec<String>>,
    /// New per-platform overrides.
    #[schema(value_type = Option<Object>)]
    pub variants: Option<BTreeMap<Platform, Variant>>,
    /// New first comment; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    pub first_comment: Option<Option<String>>,
    /// `scheduled` schedules a draft.
    pub status: Option<RequestedStatus>,
}

/// Tells `null` (present, `Some(None)`) from absent (`None`, via `default`).
fn present<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

/// Parses a list of ids, naming each bad one `field[i]` with `message`: a malformed id reads
/// exactly like an unknown one.
///
/// # Errors
/// 422 listing every malformed id.
pub fn parse_ids<T: std::str::FromStr>(
    field: &str,
    raw: &[String],
    message: &str,
) -> Result<Vec<T>, ApiError> {
    let mut ids = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        match r.parse() {
            Ok(id) => ids.push(id),
            Err(_) => errors.push(FieldIssue::new(format!("{field}[{i}]"), message)),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(unprocessable(errors))
    }
}

/// A 422 `validation_failed` listing `errors`.
pub fn unprocessable(errors: Vec<FieldIssue>) -> ApiError {
    ApiError::Unprocessable {
        code: "validation_failed",
        detail: errors
            .iter()
            .map(|e| format!("`{}`: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        errors,
    }
}

/// The engine names the time `schedule`; on the wire it is `scheduled_at`.
pub fn wire_fields(err: ApiError) -> ApiError {
    match err {
        ApiError::Unprocessable { code, errors, .. } => {
            let errors: Vec<_> = errors
                .into_iter()
                .map(|e| match e.field.as_str() {
                    "schedule" => FieldIssue::new("scheduled_at", e.message),
                    _ => e,
                })
                .collect();
            match unprocessable(errors) {
                ApiError::Unprocessable { detail, errors, .. } => ApiError::Unprocessable {
                    code,
                    detail,
                    errors,
                },
                other => other,
            }
        }
        other => other,
    }
}

/// Why a delivery failed or is held.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryErrorView {
    /// Stable code (`rate_limited`, `account_needs_reconnect`, ...).
    pub code: String,
    /// What happened and what to do about it.
    pub message: String,
}

/// One post to one account.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Delivery id.
    #[schema(value_type = String, format = Uuid)]
    pub id: tenants::DeliveryId,
    /// The target account.
    #[schema(value_type = String, format = Uuid)]
    pub account_id: AccountId,
    /// Its network.
    #[schema(value_type = String)]
    pub platform: Platform,
    /// `scheduled`, `submitting`, `published`, `failed`, `unconfirmed`, `held` or `canceled`.
    #[schema(value_type = String)]
    pub status: DeliveryState,
    /// The platform's post id, once published.
    pub platform_post_id: Option<String>,
    /// When it was published (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<Timestamp>,
    /// When it is next acted on (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// Submissions so far.
    pub attempts: u32,
    /// Why it failed or is held; `null` otherwise.
    pub error: Option<DeliveryErrorView>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id,
            account_id: d.account_id,
            platform: d.platform,
            status: d.state,
            platform_post_id: d.platform_post_id.clone(),
            published_at: d.published_at,
            due_at: d.due_at,
            attempts: d.attempts,
            error: d.last_error.as_ref().map(|e| DeliveryErrorView {
                code: e.code.clone(),
                message: e.message.clone(),
            }),
        }
    }
}

/// A post with its deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostOut {
    /// Post id.
    #[schema(value_type = String, format = Uuid)]
    pub id: PostId,
    /// `draft`, `scheduled`, `publishing`, `published`, `partially_published`, `failed` or
    /// `canceled`.
    #[schema(value_type = String)]
    pub status: PostStatus,
    /// The caption.
    pub caption: String,
    /// Per-platform overrides.
    #[schema(value_type = Object)]
    pub variants: BTreeMap<Platform, Variant>,
    /// The target accounts.
    #[schema(value_type = Vec<String>)]
    pub account_ids: Vec<AccountId>,
    /// Attached media.
    #[schema(value_type = Vec<String>)]
    pub media_ids: Vec<MediaId>,
    /// The first comment.
    pub first_comment: Option<String>,
    /// When it is due (RFC 3339, UTC); `null` for a draft without a time.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_at: Option<Timestamp>,
    /// The same instant as local time in `timezone`, with its offset.
    pub scheduled_at_local: Option<String>,
    /// The IANA zone the post was scheduled in.
    pub timezone: String,
    /// Creation time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// One delivery per target account (none for a draft).
    pub deliveries: Vec<DeliveryView>,
}

impl From<&PostView> for PostOut {
    fn from(v: &PostView) -> Self {
        let p = &v.post;
        let local = p.scheduled_at.and_then(|at| {
            let tz = jiff::tz::TimeZone::get(&p.timezone).ok()?;
            Some(at.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
        });
        Self {
            id: p.id,
            status: p.status,
            caption: p.caption.clone(),
            variants: p.variants.clone(),
            account_ids: p.account_ids.clone(),
            media_ids: p.media_ids.clone(),
            first_comment: p.first_comment.clone(),
            scheduled_at: p.scheduled_at,
            scheduled_at_local: local,
            timezone: p.timezone.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            deliveries: v.deliveries.iter().map(DeliveryView::from).collect(),
        }
    }
}

/// A page of posts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostList {
    /// The posts, with their deliveries.
    pub items: Vec<PostOut>,
    /// Cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}
