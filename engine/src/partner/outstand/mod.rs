//! The publishing partner's client (Outstand, or the sandbox stand-in at `{sandbox}/outstand/v1`).
//!
//! Sits between a delivery in `submitting` and the partner: [`OutstandClient::create_post`] sends
//! the delivery's idempotency key on every attempt and sorts every failure into "proven not
//! published" (retry), "token refused" (refresh) or "outcome unknown" (reconcile with
//! [`OutstandClient::find_by_idempotency_key`] / [`OutstandClient::get_post`], never re-post).

mod model;
mod publish;

use std::time::Duration;

use jiff::Timestamp;
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

pub use model::{
    AccountMetrics, AccountPostMetrics, Engagement, PartnerAccountStatus, PartnerPost,
    PartnerPostAccount, PostAnalytics,
};
pub use publish::{Accepted, MediaRef, PublishRequest};

use crate::partner::error::{PartnerError, PublishError};
use crate::partner::wire::{RateLimitInfo, boolean, error_body, retry_after};
use crate::partner::{PartnerHttp, describe_transport, endpoint, http_client};
use publish::{classify_refusal, not_accepted, publish_body};

/// A partner answer together with its rate-limit headers.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The decoded answer.
    pub value: T,
    /// The partner's rate-limit headers on this response.
    pub rate_limit: RateLimitInfo,
}

/// Whether the partner says it replayed an earlier acceptance of the same idempotency key.
fn replayed(headers: &reqwest::header::HeaderMap) -> bool {
    [
        "idempotency-replayed",
        "idempotency-replay",
        "idempotent-replayed",
    ]
    .iter()
    .any(|h| headers.get(*h).and_then(|v| v.to_str().ok()) == Some("true"))
}

/// Client of the publishing partner's REST API. Cheap to clone; holds the API key as a secret
/// that never reaches a log line or an error.
#[derive(Clone)]
pub struct OutstandClient {
    http: reqwest::Client,
    base_url: Url,
    api_key: SecretString,
    /// Bounds the calls in flight, and with them the open connections: a burst of due posts
    /// otherwise opens one connection per account, and connection set-up (the client's port
    /// search, the partner's accept and handshake) dwarfs the calls themselves.
    in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Partner calls in flight at once per client; the rest wait their turn (before anything is
/// sent, so waiting never makes an outcome unknown).
const MAX_IN_FLIGHT: usize = 128;

impl std::fmt::Debug for OutstandClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutstandClient")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl OutstandClient {
    /// Builds a client for `base_url` (`https://api.outstand.so/v1` or
    /// `{sandbox}/outstand/v1`). `timeout` bounds each whole call; connecting gets a shorter
    /// bound so a connect failure is always told apart from a lost answer.
    ///
    /// # Errors
    /// [`PartnerError::Config`] when the URL does not parse or the HTTP client cannot be built.
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        timeout: Duration,
    ) -> Result<Self, PartnerError> {
        Self::over(base_url, api_key, timeout, PartnerHttp::Negotiated)
    }

    /// [`OutstandClient::new`] speaking `http` ([`PartnerHttp::H2c`] to a sandbox stand-in).
    ///
    /// # Errors
    /// As [`OutstandClient::new`].
    pub fn over(
        base_url: &str,
        api_key: SecretString,
        timeout: Duration,
        http: PartnerHttp,
    ) -> Result<Self, PartnerError> {
        let base_url = Url::parse(base_url)
            .map_err(|e| PartnerError::Config(format!("base url `{base_url}`: {e}")))?;
        let http = http_client(timeout, http).map_err(PartnerError::Config)?;
        Ok(Self {
            http,
            base_url,
            api_key,
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// A turn to call the partner; held until the answer is read.
    async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed, so this only fails if it were.
        self.in_flight.acquire().await.ok()
    }

    /// Publishes one post to one account now.
    ///
    /// # Errors
    /// [`PublishError::NotAccepted`] when the partner proved it published nothing (`retryable`
    /// for 429, 5xx and connections never made); [`PublishError::TokenRejected`] when the
    /// platform token was refused; [`PublishError::Unknown`] when the request left but no
    /// usable answer came back.
    pub async fn create_post(&self, req: &PublishRequest<'_>) -> Result<Accepted, PublishError> {
        let url =
            endpoint(&self.base_url, &["posts"]).map_err(|e| not_accepted(false, "config", e))?;
        let _turn = self.turn().await;
        let sent = self
            .authed(Method::POST, url)
            .header("Idempotency-Key", &req.idempotency_key)
            .json(&publish_body(req))
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if e.is_builder() => {
                return Err(not_accepted(false, "request", describe_transport(&e)));
            }
            Err(e) if e.is_connect() => {
                return Err(not_accepted(true, "connect", describe_transport(&e)));
            }
            Err(e) => {
                return Err(PublishError::Unknown {
                    message: format!("no answer after sending: {}", describe_transport(&e)),
                });
            }
        };
        let status = resp.status();
        let rate_limit = RateLimitInfo::from_headers(resp.headers());
        let replayed = replayed(resp.headers());
        // A refusal is sorted by its headers too (Retry-After); an acceptance needs no copy.
        let refusal_headers = (!status.is_success()).then(|| resp.headers().clone());
        let body = resp.bytes().await;
        if let Some(headers) = refusal_headers {
            let err = error_body(body.as_deref().unwrap_or_default());
            return Err(classify_refusal(status, &headers, err));
        }
        let body = body.map_err(|e| PublishError::Unknown {
            message: format!(
                "accepted but the answer was cut: {}",
                describe_transport(&e)
            ),
        })?;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let post = parsed
            .as_ref()
            .filter(|v| boolean(v, &["success"]) != Some(false))
            .and_then(PartnerPost::from_envelope)
            .ok_or_else(|| PublishError::Unknown {
                message: format!("status {status} but the post could not be read"),
            })?;
        Ok(Accepted {
            post,
            replayed,
            rate_limit,
        })
    }

    /// Reads a post: the source of truth for reconciliation.
    ///
    /// # Errors
    /// [`PartnerError::NotFound`] for an unknown id; others as [`PartnerError`] describes.
    pub async fn get_post(&self, id: &str) -> Result<Reply<PartnerPost>, PartnerError> {
        let (body, rate_limit) = self.call(Method::GET, &["posts", id], &[]).await?;
        let value = PartnerPost::from_envelope(&body)
            .ok_or_else(|| PartnerError::Decode("post without an id".into()))?;
        Ok(Reply { value, rate_limit })
    }

    /// Finds the post created with an idempotency key, for reconciling a delivery whose post id
    /// never came back. `None` means the partner never accepted it.
    ///
    /// # Errors
    /// [`PartnerError::Decode`] when the partner ignored the key filter (several posts came back
    /// and none names the key); others as [`PartnerError`] describes.
    pub async fn find_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Reply<Option<PartnerPost>>, PartnerError> {
        let query = [("idempotency_key", key.to_owned())];
        let (body, rate_limit) = self.call(Method::GET, &["posts"], &query).await?;
        let posts = PartnerPost::list_from_envelope(&body)
            .ok_or_else(|| PartnerError::Decode("post list without `posts` or `data`".into()))?;
        let exact = posts
            .iter()
            .find(|p| p.idempotency_key.as_deref() == Some(key));
        let unlabelled: Vec<&PartnerPost> = posts
            .iter()
            .filter(|p| p.idempotency_key.is_none())
            .collect();
        let value = match (exact, unlabelled.as_slice()) {
            (Some(p), _) => Some(p.clone()),
            (None, []) => None,
            (None, [only]) => Some((*only).clone()),
            (None, _) => {
                return Err(PartnerError::Decode(
                    "several posts came back for one idempotency key".into(),
                ));
            }
        };
        Ok(Reply { value, rate_limit })
    }

    /// Cancels a pending post.
    ///
    /// # Errors
    /// [`PartnerError::NotFound`] when the partner does not know the post; others as
    /// [`PartnerError`] describes.
    pub async fn delete_post(&self, id: &str) -> Result<Reply<()>, PartnerError> {
        let (_, rate_limit) = self.call(Method::DELETE, &["posts", id], &[]).await?;
        Ok(Reply {
            value: (),
            rate_limit,
        })
    }

    /// An account's metrics between `since` and `until` (the partner defaults to 30 days).
    ///
    /// # Errors
    /// As [`PartnerError`] describes.
    pub async fn account_metrics(
        &self,
        partner_account_id: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Reply<AccountMetrics>, PartnerError> {
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(("since", since.as_second().to_string()));
        }
        if let Some(until) = until {
            query.push(("until", until.as_second().to_string()));
        }
        let path = ["social-accounts", partner_account_id, "metrics"];
        let (body, rate_limit) = self.call(Method::GET, &path, &query).await?;
        Ok(Reply {
            value: AccountMetrics::from_envelope(&body),
            rate_limit,
        })
    }

    /// A post's per-account analytics.
    ///
    /// # Errors
    /// As [`PartnerError`] describes.
    pub async fn post_analytics(&self, id: &str) -> Result<Reply<PostAnalytics>, PartnerError> {
        let (body, rate_limit) = self
            .call(Method::GET, &["posts", id, "analytics"], &[])
            .await?;
        Ok(Reply {
            value: PostAnalytics::from_envelope(&body),
            rate_limit,
        })
    }

    fn authed(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(self.api_key.expose_secret())
    }

    /// One read or cancel call: status mapped to [`PartnerError`], body parsed as JSON (an empty
    /// body reads as `null`).
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<(Value, RateLimitInfo), PartnerError> {
        let url = endpoint(&self.base_url, path).map_err(PartnerError::Config)?;
        let _turn = self.turn().await;
        let resp = self
            .authed(method, url)
            .query(query)
            .send()
            .await
            .map_err(|e| PartnerError::Unavailable(describe_transport(&e)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let rate_limit = RateLimitInfo::from_headers(&headers);
        let body = resp
            .bytes()
            .await
            .map_err(|e| PartnerError::Unavailable(describe_transport(&e)))?;
        if !status.is_success() {
            let err = error_body(&body);
            let code = err
                .code
                .unwrap_or_else(|| format!("http_{}", status.as_u16()));
            return Err(match status {
                StatusCode::UNAUTHORIZED => PartnerError::Unauthorized,
                StatusCode::NOT_FOUND => PartnerError::NotFound,
                StatusCode::TOO_MANY_REQUESTS => PartnerError::RateLimited {
                    retry_after: retry_after(&headers),
                },
                s if s.is_server_error() => {
                    PartnerError::Unavailable(format!("status {}: {code}", s.as_u16()))
                }
                s => PartnerError::Rejected {
                    status: s.as_u16(),
                    code,
                    message: err.message,
                },
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok((Value::Null, rate_limit));
        }
        let value = serde_json::from_slice(&body)
            .map_err(|e| PartnerError::Decode(format!("not json: {e}")))?;
        Ok((value, rate_limit))
    }
}
