//! `POST /posts`: validation, `Idempotency-Key` replay, platform-token checks, acceptance into
//! the ledger, and the dropped-connection fault after acceptance.

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::gate::gate;
use super::{failure, invalid};
use crate::Shared;
use crate::idempotency::fingerprint;
use crate::posts::{FAIL_MARKER, KeyLookup, NewPost, Target};
use crate::server::Connection;
use crate::tokens::{TokenProblem, after};

#[derive(Deserialize)]
struct CreatePost {
    content: Option<String>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(rename = "scheduledAt")]
    scheduled_at: Option<String>,
    containers: Option<Vec<ContainerIn>>,
    #[serde(default)]
    credentials: Vec<Credential>,
}

#[derive(Deserialize)]
struct ContainerIn {
    content: Option<String>,
    #[serde(default)]
    media: Vec<Value>,
}

#[derive(Deserialize)]
struct Credential {
    account: String,
    access_token: String,
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, Response> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(String::new());
    };
    let key = value
        .to_str()
        .map_err(|_| invalid("Idempotency-Key", "must be ASCII"))?;
    // RFC 8941 string form (`"..."`) and the bare token form are both accepted.
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.len() > 255 {
        return Err(invalid("Idempotency-Key", "must be 1 to 255 characters"));
    }
    Ok(key.to_owned())
}

/// A `200` with a JSON body serialized once, when the post was accepted.
fn accepted(body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn replay(stored: Bytes) -> Response {
    let mut response = accepted(stored);
    response
        .headers_mut()
        .insert("idempotency-replayed", HeaderValue::from_static("true"));
    response
}

/// Checks the request shape; returns the containers to store and the parsed schedule.
fn validate(req: &CreatePost, now: Timestamp) -> Result<(Value, Option<Timestamp>), Response> {
    if req.accounts.is_empty() {
        return Err(invalid(
            "accounts",
            "Array must contain at least 1 element(s)",
        ));
    }
    let scheduled_at = match req.scheduled_at.as_deref() {
        None => None,
        Some(text) => {
            let at: Timestamp = text
                .parse()
                .map_err(|_| invalid("scheduledAt", "Invalid ISO-8601 date-time"))?;
            if at > after(now, 30 * 24 * 3600) {
                return Err(invalid("scheduledAt", "Must be at most 30 days ahead"));
            }
            Some(at)
        }
    };
    let containers: Vec<Value> = match (&req.containers, &req.content) {
        (Some(containers), _) if !containers.is_empty() => containers
            .iter()
            .map(|c| json!({"id": crate::tokens::random_secret("ctr"), "content": c.content, "media": c.media}))
            .collect(),
        (_, Some(content)) => vec![json!({"id": crate::tokens::random_secret("ctr"), "content": content, "media": []})],
        _ => return Err(invalid("content", "Either content or containers is required")),
    };
    for account in &req.accounts {
        if !req.credentials.iter().any(|c| &c.account == account) {
            return Err(invalid(
                "credentials",
                &format!("Missing access token for account {account}"),
            ));
        }
    }
    Ok((Value::Array(containers), scheduled_at))
}

/// Resolves every account through its platform access token, or refuses the publish.
fn check_credentials(
    state: &Shared,
    req: &CreatePost,
    now: Timestamp,
) -> Result<Vec<Target>, Response> {
    let mut targets: Vec<Target> = Vec::new();
    let tokens = state.tokens();
    for account in &req.accounts {
        if targets.iter().any(|t| &t.id == account) {
            continue;
        }
        let credential = req.credentials.iter().find(|c| &c.account == account);
        let token = credential
            .map(|c| c.access_token.as_str())
            .unwrap_or_default();
        match tokens.check_access(token, account, now) {
            Ok(user) => targets.push(Target {
                id: user.id.clone(),
                network: user.platform,
                username: user.username.clone(),
                name: user.name.clone(),
            }),
            Err(problem) => {
                drop(tokens);
                let (error, message) = match problem {
                    TokenProblem::Expired => {
                        state.bump(|s| s.rejected_token_expired += 1);
                        (
                            "token_expired",
                            format!("access token for account {account} has expired"),
                        )
                    }
                    TokenProblem::Invalid => {
                        state.bump(|s| s.rejected_token_invalid += 1);
                        (
                            "token_invalid",
                            format!("access token for account {account} is not valid"),
                        )
                    }
                };
                return Err(failure(
                    StatusCode::UNAUTHORIZED,
                    error,
                    Some(message),
                    None,
                ));
            }
        }
    }
    Ok(targets)
}

pub(super) async fn create_post(
    State(state): State<Shared>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.now();
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return failure(StatusCode::BAD_REQUEST, "Invalid JSON", None, None);
    };
    let fingerprint = fingerprint(&body);
    let request: CreatePost = match serde_json::from_value(body) {
        Ok(request) => request,
        Err(error) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "Invalid payload",
                Some(error.to_string()),
                None,
            );
        }
    };
    if let Err(response) = gate(&state, &request.accounts, now) {
        return response;
    }
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let lookup = |state: &Shared| {
        if key.is_empty() {
            return None;
        }
        match state.posts().lookup_key(&key, &fingerprint, now) {
            KeyLookup::Fresh => None,
            KeyLookup::Replay(stored) => {
                state.bump(|s| s.publishes_replayed += 1);
                Some(replay(stored))
            }
            KeyLookup::Conflict => {
                state.bump(|s| s.idempotency_conflicts += 1);
                let message = "Idempotency-Key was already used with a different request body";
                Some(failure(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Idempotency key reused",
                    Some(message.to_owned()),
                    None,
                ))
            }
        }
    };
    if let Some(response) = lookup(&state) {
        return response;
    }
    let (containers, scheduled_at) = match validate(&request, now) {
        Ok(valid) => valid,
        Err(response) => return response,
    };
    let targets = match check_credentials(&state, &request, now) {
        Ok(targets) => targets,
        Err(response) => return response,
    };
    let content_fails = request
        .content
        .as_deref()
        .is_some_and(|c| c.contains(FAIL_MARKER))
        || request.containers.iter().flatten().any(|c| {
            c.content
                .as_deref()
                .is_some_and(|c| c.contains(FAIL_MARKER))
        });
    let new = NewPost {
        idempotency_key: key.clone(),
        fingerprint: fingerprint.clone(),
        content_fails,
        scheduled_at,
        containers,
        targets,
        publish_delay_ms: state.faults().publish_delay_ms,
    };
    let (response, entries) = {
        let mut posts = state.posts();
        // Checked again under the same lock as the insert: a concurrent request with this key
        // may have been accepted while the credentials were being checked.
        if !key.is_empty() && !matches!(posts.lookup_key(&key, &fingerprint, now), KeyLookup::Fresh)
        {
            drop(posts);
            return lookup(&state).unwrap_or_else(|| {
                failure(StatusCode::CONFLICT, "Idempotency key in use", None, None)
            });
        }
        posts.accept(new, now)
    };
    {
        let mut ledger = state.ledger();
        for entry in entries {
            ledger.record(entry);
        }
    }
    state.bump(|s| s.publishes_accepted += 1);
    if state.faults().drop_after_accept() {
        state.bump(|s| s.dropped_after_accept += 1);
        return lost(&connection, version);
    }
    accepted(response)
}

/// The answer to an accepted publish, lost on the way. Over HTTP/1.1 the connection breaks.
/// Over HTTP/2 only this request's stream is reset: the connection carries other requests, which
/// a real lost answer would not take down with it.
fn lost(connection: &Connection, version: Version) -> Response {
    tracing::info!(remote = %connection.remote, ?version, "losing the answer of an accepted publish");
    if version == Version::HTTP_2 {
        // hyper resets the stream when the body fails.
        let cut = futures::stream::once(async {
            Err::<Bytes, _>(std::io::Error::other("answer lost after acceptance"))
        });
        return (StatusCode::OK, Body::from_stream(cut)).into_response();
    }
    connection.cut();
    accepted(Bytes::new())
}
