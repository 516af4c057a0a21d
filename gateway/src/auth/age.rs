//! The age gate. A person must declare a birth date before using the API; anyone under 16 is
//! refused, the refusal is recorded on the user (so a second declaration cannot undo it), and
//! their sessions are ended. Until a date is declared only `GET /v1/me` and `POST /v1/me/age`
//! answer; everything else is 403 `age_declaration_required`.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// The minimum age to use the service.
pub const MIN_AGE_YEARS: i16 = 16;

/// Body of `POST /v1/me/age`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeDeclaration {
    /// The person's birth date, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date, example = "1990-04-21")]
    pub birth_date: Date,
}

/// Answer of a successful declaration.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgeDeclared {
    /// Always true once accepted.
    pub age_declared: bool,
}

/// Whole years between `birth` and `today`.
pub fn age_on(birth: Date, today: Date) -> i16 {
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

fn today(state: &AppState) -> Date {
    state.clock.now().to_zoned(TimeZone::UTC).date()
}

fn too_young() -> ApiError {
    ApiError::forbidden(
        "age_requirement_not_met",
        format!("socialcrm may only be used by people aged {MIN_AGE_YEARS} or over"),
    )
}

/// Applies the gate to a request by `principal` for `method path`.
///
/// # Errors
/// 403 `age_declaration_required` before a declaration, 403 `age_requirement_not_met` for a
/// person who declared an age under the minimum.
pub fn gate(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    path: &str,
) -> Result<(), ApiError> {
    let Some(user) = &principal.user else {
        return Ok(());
    };
    match user.birth_date_declared {
        Some(birth) if age_on(birth, today(state)) < MIN_AGE_YEARS => Err(too_young()),
        Some(_) => Ok(()),
        None => {
            let exempt = (method == Method::GET && path == "/v1/me")
                || (method == Method::POST && path == "/v1/me/age");
            if exempt {
                Ok(())
            } else {
                Err(ApiError::forbidden(
                    "age_declaration_required",
                    "declare your birth date with `POST /v1/me/age` before using the API",
                ))
            }
        }
    }
}

/// Declares the signed-in person's birth date.
#[utoipa::path(
    post, path = "/v1/me/age", tag = "me",
    request_body = AgeDeclaration,
    responses(
        (status = 200, description = "Declaration accepted", body = AgeDeclared),
        (status = 403, description = "Under the minimum age: refused and recorded", body = crate::error::Problem),
        (status = 409, description = "Already declared", body = crate::error::Problem),
    )
)]
pub async fn declare_age(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<AgeDeclaration>,
) -> Result<Json<AgeDeclared>, ApiError> {
    let Some(mut user) = principal.user else {
        return Err(ApiError::forbidden(
            "not_a_person",
            "only a signed-in person can declare an age",
        ));
    };
    if user.birth_date_declared.is_some() {
        return Err(ApiError::Conflict {
            code: "age_already_declared",
            detail: "a birth date was already declared".to_owned(),
            retry_after_secs: None,
        });
    }
    let today = today(&state);
    if body.birth_date > today {
        return Err(ApiError::invalid_field(
            "birth_date",
            "must not be in the future",
        ));
    }
    user.birth_date_declared = Some(body.birth_date);
    state.store.put_user(&user).await?;
    if age_on(body.birth_date, today) < MIN_AGE_YEARS {
        tracing::info!(user_id = %user.id, "age gate refused a person under the minimum age");
        state.store.delete_sessions_of_user(user.id).await?;
        return Err(too_young());
    }
    Ok(Json(AgeDeclared { age_declared: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_age_counts_whole_years_only_after_the_birthday() {
        let birth = jiff::civil::date(2010, 6, 15);
        assert_eq!(age_on(birth, jiff::civil::date(2026, 6, 14)), 15);
        assert_eq!(age_on(birth, jiff::civil::date(2026, 6, 15)), 16);
    }
}
