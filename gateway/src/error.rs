//! The gateway's error type and its single mapping to HTTP: every failure leaves the gateway as
//! an RFC 9457 `application/problem+json` body. Internal causes are logged, never sent.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::EngineError;
use schema::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The problem+json media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input, named by where it is (`name`, `workspace_ids[1]`, `body`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldIssue {
    /// Where the problem is: a JSON path into the body, or a query parameter name.
    pub field: String,
    /// What is wrong there.
    pub message: String,
}

impl FieldIssue {
    /// Builds an issue.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:socialcrm:problem:<code>`, stable for programs to match on.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short human summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// The offending inputs, when the problem is about input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldIssue>>,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or credentials that do not authenticate (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed to do this (403).
    #[error("{detail}")]
    Forbidden {
        /// Stable problem code.
        code: &'static str,
        /// Human explanation.
        detail: String,
    },
    /// Nothing at this address for this caller; another tenant's id looks exactly the same (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed: bad JSON, bad query parameter, bad header (400).
    #[error("{detail}")]
    BadRequest {
        /// Stable problem code.
        code: &'static str,
        /// Human explanation.
        detail: String,
        /// The offending inputs.
        errors: Vec<FieldIssue>,
    },
    /// The request is well formed but its content is invalid (422).
    #[error("{detail}")]
    Unprocessable {
        /// Stable problem code.
        code: &'static str,
        /// Human explanation.
        detail: String,
        /// The offending inputs.
        errors: Vec<FieldIssue>,
    },
    /// The request conflicts with the current state (409).
    #[error("{detail}")]
    Conflict {
        /// Stable problem code.
        code: &'static str,
        /// Human explanation.
        detail: String,
        /// When retrying makes sense, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// The body is larger than the configured limit (413).
    #[error("request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// The body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many requests for this credential or workspace (429).
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request would be accepted.
        retry_after_secs: u64,
    },
    /// A dependency (store, engine, sign-in provider) is unavailable (503 or 502).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected backend failure (500). The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 without field details.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 422 naming one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let issue = FieldIssue::new(field, message);
        Self::Unprocessable {
            code: "validation_failed",
            detail: format!("`{}`: {}", issue.field, issue.message),
            errors: vec![issue],
        }
    }

    /// A 403 with a code.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            detail: detail.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
            ),
            Self::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code, "Forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code, "Bad request"),
            Self::Unprocessable { code, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "Unprocessable content",
            ),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code, "Conflict"),
            Self::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

/// Builds a problem response with an arbitrary status (used for fallbacks).
fn problem_response(
    status: StatusCode,
    code: &str,
    title: &str,
    detail: String,
    errors: Option<Vec<FieldIssue>>,
) -> Response {
    let problem = Problem {
        problem_type: format!("urn:socialcrm:problem:{code}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        errors,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let detail = match &self {
            Self::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            Self::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "dependency unavailable");
                "the service is temporarily unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        let errors = match &self {
            Self::BadRequest { errors, .. } | Self::Unprocessable { errors, .. }
                if !errors.is_empty() =>
            {
                Some(errors.clone())
            }
            _ => None,
        };
        let mut response = problem_response(status, code, title, detail, errors);
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::Conflict {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, Self::Unauthenticated(_)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidCursor => Self::BadRequest {
                code: "invalid_cursor",
                detail: "`cursor` is not a cursor this API issued".to_owned(),
                errors: vec![FieldIssue::new("cursor", "not a cursor this API issued")],
            },
            StoreError::Unavailable(_) | StoreError::Timeout(_) | StoreError::Overloaded(_) => {
                Self::Unavailable(err.to_string())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::NotFound { kind, .. } => Self::NotFound(format!("{kind} not found")),
            EngineError::Validation(fields) => Self::Unprocessable {
                code: "validation_failed",
                detail: fields
                    .iter()
                    .map(|f| format!("`{}`: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors: fields
                    .into_iter()
                    .map(|f| FieldIssue::new(f.field, f.message))
                    .collect(),
            },
            EngineError::Conflict(detail) => Self::Conflict {
                code: "conflict",
                detail,
                retry_after_secs: None,
            },
            EngineError::Unavailable(cause) => Self::Unavailable(cause),
            EngineError::Store(store) => Self::from(store),
            EngineError::Vault(cause) => Self::Internal(format!("vault: {cause}")),
        }
    }
}

/// Middleware that turns every error response not already in problem+json (axum's own 404/405,
/// tower-http's 413, a panic's 500) into a problem document, so clients see one error shape.
pub async fn problem_fallback(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Problem documents, and JSON bodies a handler chose on purpose (`/readyz`), stay as sent.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no route matches this path".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this path does not accept this method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than the limit".to_owned(),
        ),
        s if s.is_server_error() => ("internal", "an internal error occurred".to_owned()),
        _ => (
            "http_error",
            format!("request failed with status {}", status.as_u16()),
        ),
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let mut fresh = problem_response(status, code, title, detail, None);
    // Keep headers that matter to clients (Allow, Retry-After, rate-limit headers).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}
