//! Request extractors with problem+json rejections: [`ApiJson`] (strict JSON bodies that name
//! the offending field), [`ListParams`] (`?limit=&cursor=`) and [`parse_id`] for path ids.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldIssue};
use crate::state::AppState;

/// The largest `limit` a list accepts.
pub const MAX_LIMIT: usize = 200;
/// The `limit` used when none is given.
pub const DEFAULT_LIMIT: usize = 50;

/// A JSON request body. Unlike `axum::Json`, every rejection is a problem document naming what
/// was wrong and where: 415 without a JSON content type, 413 past the body limit, 400 for
/// malformed JSON (with line and column), 422 for an unknown field, a wrong type or a missing
/// field (with the JSON path).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected a body with `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit_bytes: state.config.max_body_bytes,
                }
            } else {
                ApiError::bad_request("unreadable_body", rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses `bytes` as `T`, mapping serde errors to problems.
///
/// # Errors
/// 400 `malformed_json` for syntax errors, 422 `invalid_body` for data errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            let message = format!(
                "malformed JSON at line {} column {}",
                inner.line(),
                inner.column()
            );
            return ApiError::BadRequest {
                code: "malformed_json",
                detail: format!("the body is not valid JSON: {inner}"),
                errors: vec![FieldIssue::new("body", message)],
            };
        }
        let message = strip_position(&inner.to_string());
        let field = field_of(&path, &message);
        ApiError::Unprocessable {
            code: "invalid_body",
            detail: format!("`{field}`: {message}"),
            errors: vec![FieldIssue::new(field, message)],
        }
    })?;
    de.end().map_err(|inner| ApiError::BadRequest {
        code: "malformed_json",
        detail: format!("the body is not valid JSON: {inner}"),
        errors: vec![FieldIssue::new(
            "body",
            format!(
                "trailing characters at line {} column {}",
                inner.line(),
                inner.column()
            ),
        )],
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 9"; the path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The JSON path of the problem. For a missing field the path is the enclosing object, so the
/// field's own name is appended (an unknown field's path already ends with it).
fn field_of(path: &str, message: &str) -> String {
    let base = if path == "." { "" } else { path };
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (base, named) {
        ("", Some(name)) => name.to_owned(),
        (base, Some(name)) => format!("{base}.{name}"),
        ("", None) => "body".to_owned(),
        (base, None) => base.to_owned(),
    }
}

/// `?limit=&cursor=` of a list endpoint. `limit` must be 1..=200 (default 50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// Items per page.
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().map(str::to_owned);
        let mut params = ListParams {
            limit: DEFAULT_LIMIT,
            cursor: None,
        };
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match name.as_ref() {
                "limit" => {
                    params.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| ApiError::BadRequest {
                            code: "invalid_query",
                            detail: format!("`limit` must be an integer from 1 to {MAX_LIMIT}"),
                            errors: vec![FieldIssue::new(
                                "limit",
                                format!(
                                    "`{}` is not an integer from 1 to {MAX_LIMIT}",
                                    value.chars().take(32).collect::<String>()
                                ),
                            )],
                        })?;
                }
                "cursor" if !value.is_empty() => params.cursor = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(params)
    }
}

impl ListParams {
    /// The store page request these parameters describe.
    pub fn page(&self) -> schema::PageRequest {
        schema::PageRequest {
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }

    /// Pages an in-memory list ordered by `id_of` (ids are UUIDv7 strings, so they sort by
    /// creation). The cursor is the last id returned.
    pub fn paginate<T>(
        &self,
        mut items: Vec<T>,
        id_of: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        items.sort_by_key(|item| id_of(item));
        if let Some(cursor) = &self.cursor {
            items.retain(|item| id_of(item).as_str() > cursor.as_str());
        }
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        let next = if more { items.last().map(&id_of) } else { None };
        (items, next)
    }
}

/// Parses a path id; an unparsable id is simply not found.
///
/// # Errors
/// 404 naming the kind of thing.
pub fn parse_id<T: FromStr>(raw: &str, kind: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("{kind} not found")))
}

/// Keeps `axum::Json` responses and problems in one handler signature.
pub type ApiResult<T> = Result<T, ApiError>;

/// Used by handlers returning `201 Created` with a JSON body.
pub fn created<T: serde::Serialize>(body: T) -> axum::response::Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
