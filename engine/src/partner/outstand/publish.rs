//! The publish call's wire shapes: the request for one post to one account, its JSON body, and
//! the sorting of a refusal into the cases the publish pipeline tells apart.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::partner::error::PublishError;
use crate::partner::outstand::PartnerPost;
use crate::partner::wire::{ErrorBody, RateLimitInfo, retry_after};

/// Error codes with which the partner refuses the platform access token (not our API key).
const TOKEN_CODES: [&str; 4] = [
    "token_expired",
    "token_invalid",
    "invalid_token",
    "expired_token",
];

/// A media file attached to a post, by public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The public URL the platform downloads from.
    pub url: String,
    /// The file name (`[A-Za-z0-9._-]` keeps platform downloads safe).
    pub filename: String,
}

/// One publication of one post to one account.
#[derive(Debug, Clone)]
pub struct PublishRequest<'a> {
    /// The delivery's stable key, sent on every attempt so a retry can never double-publish.
    pub idempotency_key: String,
    /// The caption.
    pub content: String,
    /// The partner's id of the target account.
    pub partner_account_id: String,
    /// Media, in order.
    pub media: Vec<MediaRef>,
    /// Published as a reply to the post, when set.
    pub first_comment: Option<String>,
    /// The account's current platform access token, handed to the partner for this publish.
    pub access_token: &'a SecretString,
}

/// A post the partner accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The post as the partner returned it.
    pub post: PartnerPost,
    /// Whether the partner replayed an earlier acceptance of the same idempotency key.
    pub replayed: bool,
    /// The partner's rate-limit headers on this response.
    pub rate_limit: RateLimitInfo,
}

/// The wire body of a publish: the caption as the root container, the first comment as a reply,
/// and the account's platform token in `credentials`. Typed, so it is serialized straight to the
/// request bytes.
#[derive(Serialize)]
pub(super) struct PublishBody<'a> {
    content: &'a str,
    accounts: [&'a str; 1],
    #[serde(rename = "scheduledAt")]
    scheduled_at: Option<&'a str>,
    containers: Vec<ContainerBody<'a>>,
    credentials: [CredentialBody<'a>; 1],
}

#[derive(Serialize)]
struct ContainerBody<'a> {
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    media: Option<Vec<MediaBody<'a>>>,
}

#[derive(Serialize)]
struct MediaBody<'a> {
    url: &'a str,
    filename: &'a str,
}

#[derive(Serialize)]
struct CredentialBody<'a> {
    account: &'a str,
    access_token: &'a str,
}

pub(super) fn publish_body<'a>(req: &'a PublishRequest<'_>) -> PublishBody<'a> {
    let media = req
        .media
        .iter()
        .map(|m| MediaBody {
            url: &m.url,
            filename: &m.filename,
        })
        .collect();
    let mut containers = vec![ContainerBody {
        content: &req.content,
        media: Some(media),
    }];
    if let Some(comment) = req
        .first_comment
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        containers.push(ContainerBody {
            content: comment,
            media: None,
        });
    }
    PublishBody {
        content: &req.content,
        accounts: [&req.partner_account_id],
        scheduled_at: None,
        containers,
        credentials: [CredentialBody {
            account: &req.partner_account_id,
            access_token: req.access_token.expose_secret(),
        }],
    }
}

pub(super) fn not_accepted(retryable: bool, code: &str, message: String) -> PublishError {
    PublishError::NotAccepted {
        retryable,
        retry_after: None,
        code: code.to_owned(),
        message,
    }
}

/// Sorts a non-2xx publish answer. A status line proves the partner answered; only a key
/// mismatch (422 on a reused idempotency key) leaves the outcome open, since the first request
/// with that key may have been accepted.
pub(super) fn classify_refusal(
    status: StatusCode,
    headers: &HeaderMap,
    err: ErrorBody,
) -> PublishError {
    let code = err
        .code
        .clone()
        .unwrap_or_else(|| format!("http_{}", status.as_u16()));
    let message = err.message.clone().unwrap_or_else(|| code.clone());
    let mentions = |needle: &str| {
        code.to_ascii_lowercase().contains(needle) || message.to_ascii_lowercase().contains(needle)
    };
    // A refused platform token names itself; a refused API key ("Unauthorized", "invalid api
    // token") must not be mistaken for one, or every account would be sent to refresh.
    let platform_token = TOKEN_CODES.contains(&code.to_ascii_lowercase().as_str())
        || mentions("access token")
        || mentions("access_token");
    if status == StatusCode::UNAUTHORIZED && platform_token {
        return PublishError::TokenRejected { code };
    }
    if status == StatusCode::UNPROCESSABLE_ENTITY && mentions("idempotenc") {
        return PublishError::Unknown {
            message: format!("the idempotency key was already used with another body: {message}"),
        };
    }
    let retryable = status.is_server_error()
        || matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT
        );
    let message = if status == StatusCode::UNAUTHORIZED {
        "the publishing partner refused the api key".to_owned()
    } else {
        message
    };
    PublishError::NotAccepted {
        retryable,
        retry_after: retry_after(headers),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::Value;
    use std::time::Duration;

    fn body(code: &str) -> ErrorBody {
        ErrorBody {
            code: Some(code.into()),
            message: None,
        }
    }

    #[test]
    fn test_refusals_sort_into_the_cases_the_pipeline_handles() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        let limited = classify_refusal(StatusCode::TOO_MANY_REQUESTS, &h, body("rate_limited"));
        assert!(limited.is_retryable());
        assert!(
            matches!(limited, PublishError::NotAccepted { retry_after: Some(d), .. } if d == Duration::from_secs(2))
        );
        let none = HeaderMap::new();
        assert!(
            classify_refusal(StatusCode::BAD_GATEWAY, &none, ErrorBody::default()).is_retryable()
        );
        assert!(
            !classify_refusal(StatusCode::BAD_REQUEST, &none, body("Invalid payload"))
                .is_retryable()
        );
        assert_eq!(
            classify_refusal(StatusCode::UNAUTHORIZED, &none, body("token_expired")),
            PublishError::TokenRejected {
                code: "token_expired".into()
            }
        );
        let api = classify_refusal(StatusCode::UNAUTHORIZED, &none, body("Invalid API token"));
        assert!(
            matches!(api, PublishError::NotAccepted { .. }),
            "got {api:?}"
        );
        let key = classify_refusal(StatusCode::UNAUTHORIZED, &none, body("Unauthorized"));
        assert!(matches!(
            key,
            PublishError::NotAccepted {
                retryable: false,
                ..
            }
        ));
        let reused = classify_refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            &none,
            body("idempotency_key_reused"),
        );
        assert!(matches!(reused, PublishError::Unknown { .. }));
    }

    #[test]
    fn test_publish_body_carries_caption_media_comment_and_credentials() {
        let token = SecretString::from("tok-123");
        let req = PublishRequest {
            idempotency_key: "k".into(),
            content: "hello".into(),
            partner_account_id: "acc".into(),
            media: vec![MediaRef {
                url: "https://m/a.jpg".into(),
                filename: "a.jpg".into(),
            }],
            first_comment: Some("first!".into()),
            access_token: &token,
        };
        let b = serde_json::to_value(publish_body(&req)).unwrap();
        assert_eq!(b["scheduledAt"], Value::Null);
        assert!(b["containers"][1].get("media").is_none());
        assert_eq!(b["accounts"][0], "acc");
        assert_eq!(b["containers"][0]["media"][0]["filename"], "a.jpg");
        assert_eq!(b["containers"][1]["content"], "first!");
        assert_eq!(b["credentials"][0]["access_token"], "tok-123");
        assert!(!format!("{req:?}").contains("tok-123"));
    }
}
