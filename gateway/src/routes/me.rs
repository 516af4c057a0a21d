//! The signed-in person: `GET /v1/me`, `PATCH /v1/me` (name, email, avatar, marketing consent)
//! and the age
//! declaration `POST /v1/me/age` (see `crate::auth::age`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{Scope, User};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::auth::age::declare_age;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// The `/v1/me` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(get_me).patch(patch_me))
        .route("/v1/me/age", post(declare_age))
}

/// A person, as they see themselves.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    /// User id.
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email, when known.
    pub email: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// `google` or `x`.
    pub provider: String,
    /// First sign-in (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Whether a birth date has been declared (required before anything else).
    pub age_declared: bool,
    /// Whether marketing email may be sent (false unless given).
    pub marketing_consent: bool,
}

impl From<&User> for MeView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            name: user.name.clone(),
            email: user.email.clone(),
            avatar_url: user.avatar_url.clone(),
            provider: match user.provider {
                tenants::Provider::Google => "google".to_owned(),
                tenants::Provider::X => "x".to_owned(),
            },
            created_at: user.created_at,
            age_declared: user.birth_date_declared.is_some(),
            marketing_consent: user.marketing_consent,
        }
    }
}

/// Body of `PATCH /v1/me`; absent fields are unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// Display name, 1 to 100 characters.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Avatar URL (`https://`).
    pub avatar_url: Option<String>,
    /// Consent to marketing email; the time is recorded.
    pub marketing_consent: Option<bool>,
}

fn person(principal: Principal) -> Result<User, ApiError> {
    principal.user.ok_or_else(|| {
        ApiError::forbidden(
            "not_a_person",
            "this API key belongs to the instance, not to a person",
        )
    })
}

/// Who am I.
#[utoipa::path(
    get, path = "/v1/me", tag = "me",
    responses((status = 200, body = MeView), (status = 401, body = crate::error::Problem))
)]
pub async fn get_me(principal: Principal) -> Result<Json<MeView>, ApiError> {
    Ok(Json(MeView::from(&person(principal)?)))
}

/// Checks a display name.
///
/// # Errors
/// 422 naming `field`.
pub fn valid_name(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            "must be 1 to 100 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email.to_owned())
    } else {
        Err(ApiError::invalid_field(
            "email",
            "must be an email address such as ana@example.com",
        ))
    }
}

fn valid_avatar(url: &str) -> Result<String, ApiError> {
    match url::Url::parse(url.trim()) {
        Ok(parsed) if parsed.scheme() == "https" && url.len() <= 2048 => Ok(parsed.into()),
        _ => Err(ApiError::invalid_field(
            "avatar_url",
            "must be an https URL of at most 2048 characters",
        )),
    }
}

/// Updates my name, email, avatar or marketing consent.
#[utoipa::path(
    patch, path = "/v1/me", tag = "me",
    request_body = MePatch,
    responses((status = 200, body = MeView), (status = 422, body = crate::error::Problem))
)]
pub async fn patch_me(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(patch): ApiJson<MePatch>,
) -> Result<Json<MeView>, ApiError> {
    principal.require_scope(Scope::Admin)?;
    let mut user = person(principal)?;
    if let Some(name) = &patch.name {
        user.name = valid_name("name", name)?;
    }
    if let Some(email) = &patch.email {
        user.email = Some(valid_email(email)?);
    }
    if let Some(avatar) = &patch.avatar_url {
        user.avatar_url = Some(valid_avatar(avatar)?);
    }
    if let Some(consent) = patch.marketing_consent {
        user.marketing_consent = consent;
        user.marketing_consent_at = Some(state.clock.now());
    }
    state.store.put_user(&user).await?;
    Ok(Json(MeView::from(&user)))
}
