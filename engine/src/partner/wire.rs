//! Tolerant reading of partner responses: JSON fields under camelCase or snake_case names, ids as
//! strings or numbers, instants as RFC 3339 or epoch numbers, error bodies in the shapes partners
//! use, and the rate-limit headers. Every client in [`crate::partner`] decodes through here, so a
//! partner renaming `postId` to `post_id` does not break publishing.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The longest partner-supplied text kept in an error, so a partner cannot flood logs.
const MAX_TEXT_CHARS: usize = 300;

/// A key's characters as compared: lowercase, without `_` and `-` (`platformPostId` ==
/// `platform_post_id`).
fn folded(key: &str) -> impl Iterator<Item = char> + '_ {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
}

/// Whether two keys are the same once folded (see [`folded`]), compared without allocating:
/// every absent optional field is looked for this way across the whole object.
fn same_key(a: &str, b: &str) -> bool {
    folded(a).eq(folded(b))
}

/// The first non-null field of `obj` whose name matches one of `names`, ignoring case and `_`.
pub(crate) fn field<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a Value> {
    let map = obj.as_object()?;
    for name in names {
        if let Some(v) = map.get(*name).filter(|v| !v.is_null()) {
            return Some(v);
        }
    }
    map.iter()
        .find(|(k, v)| !v.is_null() && names.iter().any(|n| same_key(k, n)))
        .map(|(_, v)| v)
}

/// A string or a number, as a string (ids come both ways).
pub(crate) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field as text (see [`as_text`]).
pub(crate) fn text(obj: &Value, names: &[&str]) -> Option<String> {
    field(obj, names).and_then(as_text)
}

/// A field as a non-negative integer: a number (floats truncated) or a numeric string.
pub(crate) fn uint(obj: &Value, names: &[&str]) -> Option<u64> {
    match field(obj, names)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A field as a float: a number or a numeric string.
pub(crate) fn float(obj: &Value, names: &[&str]) -> Option<f64> {
    match field(obj, names)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A field as a boolean: `true`/`false`, `1`/`0` or their string forms.
pub(crate) fn boolean(obj: &Value, names: &[&str]) -> Option<bool> {
    match field(obj, names)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An instant from RFC 3339 text, or epoch seconds or milliseconds (as a number or a string).
pub(crate) fn as_instant(v: &Value) -> Option<Timestamp> {
    let epoch = |n: i64| {
        // Anything past year 5138 in seconds is taken as milliseconds.
        if n.abs() >= 100_000_000_000 {
            Timestamp::from_millisecond(n).ok()
        } else {
            Timestamp::from_second(n).ok()
        }
    };
    match v {
        Value::String(s) => s
            .parse::<Timestamp>()
            .ok()
            .or_else(|| s.trim().parse::<i64>().ok().and_then(epoch)),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(epoch),
        _ => None,
    }
}

/// A field as an instant (see [`as_instant`]).
pub(crate) fn instant(obj: &Value, names: &[&str]) -> Option<Timestamp> {
    field(obj, names).and_then(as_instant)
}

/// The payload inside an envelope: the first of `names` present, else the body itself.
pub(crate) fn unwrap_envelope<'a>(body: &'a Value, names: &[&str]) -> &'a Value {
    names
        .iter()
        .find_map(|n| body.get(*n).filter(|v| !v.is_null()))
        .unwrap_or(body)
}

/// Cuts partner text to a bounded length.
pub(crate) fn bounded(text: &str) -> String {
    text.chars().take(MAX_TEXT_CHARS).collect()
}

/// What a partner said in an error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    /// The short error code (`invalid_grant`, `token_expired`, `Invalid payload`).
    pub code: Option<String>,
    /// The longer text, if any.
    pub message: Option<String>,
}

/// Reads an error body in any of the shapes partners use: `{"error":"x","message":"y"}`,
/// `{"error":"x","error_description":"y"}` (OAuth) or `{"error":{"code":"x","message":"y"}}`.
pub(crate) fn error_body(bytes: &[u8]) -> ErrorBody {
    let Ok(body) = serde_json::from_slice::<Value>(bytes) else {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        return ErrorBody {
            code: None,
            message: (!text.is_empty()).then(|| bounded(text)),
        };
    };
    let (code, message) = match field(&body, &["error"]) {
        Some(inner @ Value::Object(_)) => (
            text(inner, &["code", "type", "status"]),
            text(inner, &["message", "description"]),
        ),
        Some(v) => (
            as_text(v),
            text(&body, &["message", "error_description", "detail"]),
        ),
        None => (
            text(&body, &["code", "title"]),
            text(&body, &["message", "detail"]),
        ),
    };
    ErrorBody {
        code: code.map(|c| bounded(&c)),
        message: message.map(|m| bounded(&m)),
    }
}

/// When a rate-limit window resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitReset {
    /// An absolute instant (the header carried epoch seconds).
    At(Timestamp),
    /// A delay from when the response was received (the header carried seconds to wait).
    After(Duration),
}

/// The partner's rate-limit headers on one response, so the account's limiter can adapt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `X-RateLimit-Limit`: requests allowed in the window.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`: requests left in the window.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`: when the window resets.
    pub reset: Option<RateLimitReset>,
}

impl RateLimitInfo {
    /// Reads the `X-RateLimit-*` headers; absent or unreadable headers stay `None`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|n| n.is_finite() && *n >= 0.0)
        };
        let reset = num("x-ratelimit-reset").map(|n| {
            // Values that look like epoch seconds are instants; small values are a delay.
            if n >= 1_000_000_000.0 {
                Timestamp::from_second(n as i64)
                    .map(RateLimitReset::At)
                    .unwrap_or(RateLimitReset::After(Duration::ZERO))
            } else {
                RateLimitReset::After(Duration::from_secs_f64(n))
            }
        });
        Self {
            limit: num("x-ratelimit-limit").map(|n| n as u64),
            remaining: num("x-ratelimit-remaining").map(|n| n as u64),
            reset,
        }
    }

    /// When the window resets, given when the response was received.
    pub fn reset_at(&self, received_at: Timestamp) -> Option<Timestamp> {
        match self.reset? {
            RateLimitReset::At(at) => Some(at),
            RateLimitReset::After(d) => jiff::SignedDuration::try_from(d)
                .ok()
                .and_then(|d| received_at.checked_add(d).ok()),
        }
    }

    /// Whether the partner said no request is left in the current window.
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// Reads `Retry-After`: delay seconds, or an HTTP date measured against the response's own
/// `Date` header (so no local clock is consulted).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let parse = |s: &str| jiff::fmt::rfc2822::parse(s).ok().map(|z| z.timestamp());
    let at = parse(raw)?;
    let date = parse(headers.get("date")?.to_str().ok()?)?;
    let wait = at.duration_since(date);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    #[test]
    fn test_fields_match_across_camel_and_snake_case() {
        let v = json!({"platform_post_id": 12345, "publishedAt": "2026-01-02T03:04:05Z"});
        assert_eq!(text(&v, &["platformPostId"]).as_deref(), Some("12345"));
        assert_eq!(
            instant(&v, &["published_at"]),
            Some("2026-01-02T03:04:05Z".parse().expect("valid"))
        );
    }

    #[test]
    fn test_instants_accept_epoch_seconds_and_millis() {
        let v = json!({"a": 1_704_067_200, "b": 1_704_067_200_000_i64, "c": "1704067200"});
        let want = Timestamp::from_second(1_704_067_200).expect("valid");
        assert_eq!(instant(&v, &["a"]), Some(want));
        assert_eq!(instant(&v, &["b"]), Some(want));
        assert_eq!(instant(&v, &["c"]), Some(want));
    }

    #[test]
    fn test_error_bodies_in_every_shape_give_code_and_message() {
        let outstand = error_body(br#"{"success":false,"error":"token_expired","message":"m"}"#);
        assert_eq!(outstand.code.as_deref(), Some("token_expired"));
        assert_eq!(outstand.message.as_deref(), Some("m"));
        let oauth = error_body(br#"{"error":"invalid_grant","error_description":"reused"}"#);
        assert_eq!(oauth.code.as_deref(), Some("invalid_grant"));
        assert_eq!(oauth.message.as_deref(), Some("reused"));
        let nested = error_body(br#"{"error":{"code":190,"message":"expired"}}"#);
        assert_eq!(nested.code.as_deref(), Some("190"));
        let html = error_body(b"<html>bad gateway</html>");
        assert_eq!(html.code, None);
        assert!(html.message.is_some());
    }

    #[test]
    fn test_rate_limit_headers_are_read_as_delay_or_instant() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("100"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("30"));
        let info = RateLimitInfo::from_headers(&h);
        assert_eq!(info.limit, Some(100));
        assert!(info.is_exhausted());
        let now = Timestamp::from_second(1_000).expect("valid");
        assert_eq!(
            info.reset_at(now),
            Some(Timestamp::from_second(1_030).expect("valid"))
        );
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1800000000"));
        let info = RateLimitInfo::from_headers(&h);
        assert_eq!(
            info.reset_at(now),
            Some(Timestamp::from_second(1_800_000_000).expect("valid"))
        );
    }

    #[test]
    fn test_retry_after_accepts_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:30 GMT"),
        );
        h.insert(
            "date",
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
    }
}
