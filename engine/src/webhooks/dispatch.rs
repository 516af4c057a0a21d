//! The dispatcher: scans the outbox's hour-bucketed due index, posts every due message with
//! Standard Webhooks headers, logs the attempt, and schedules the next one on
//! [`RETRY_SCHEDULE`] (with up to 10 % added jitter). A 2xx delivers; a 410 Gone, or a failure
//! after the last retry, fails the message and disables the endpoint, notifies the owner and
//! records the reason in the workspace's audit log.
//!
//! Index rows are never deleted: a row whose message has moved on is skipped. The first scan
//! after a start looks back three days, so pending attempts survive a restart. Later passes
//! read incrementally: each resumes after the last row the previous pass took and reads only
//! rows due by now, so a pass costs the rows that became due since. A row written due now can
//! sort before the resume point (its time was read before the previous pass ran); writers in
//! this process therefore hand their rows over directly ([`super::Shared::hand_over`]), and
//! every ten minutes a pass re-reads the current and previous hour from their start.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use schema::{
    AuditEntry, WebhookAttempt, WebhookDueRef, WebhookMessage, WebhookMessageState, WorkspaceScope,
    hour_bucket,
};
use secrecy::ExposeSecret;
use tenants::webhook_signature::sign_all;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::target::{TargetError, check_target, parse_target};
use super::{RETRY_SCHEDULE, Shared, WebhookHandle, WebhookNotice};
use crate::error::EngineError;
use crate::ssrf::SsrfGuard;

/// How far back the first scan after a start looks (hours).
const FIRST_LOOKBACK_HOURS: i64 = 72;
/// Due rows read per store call.
const PAGE: usize = 500;
/// Real time between full re-reads of the current and previous hour (a safety net for rows
/// another process wrote behind the resume point).
const FULL_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
/// The longest response body kept in the attempt log (characters).
const MAX_RESPONSE_CHARS: usize = 1024;

/// Runs passes on every tick, wake-up and scan interval until `cancel` fires.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut tick_rx: mpsc::Receiver<oneshot::Sender<()>>,
    cancel: CancellationToken,
) {
    let mut resume: Option<Resume> = None;
    loop {
        let done = tokio::select! {
            () = cancel.cancelled() => return,
            t = tick_rx.recv() => match t {
                Some(done) => Some(done),
                None => return,
            },
            () = shared.wake.notified() => None,
            () = tokio::time::sleep(shared.config.scan_interval) => None,
        };
        pass(&shared, &mut resume).await;
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

/// Where the next pass resumes reading the due index.
#[derive(Debug)]
struct Resume {
    /// The bucket being read.
    bucket: i64,
    /// The last row taken in it (`(due_at, message_id)`), if any.
    after: Option<(Timestamp, Uuid)>,
    /// Rows whose attempt could not be recorded (a store failure): tried again next pass.
    carry: Vec<WebhookDueRef>,
    /// When the last full re-read started.
    swept_at: Instant,
}

/// One pass: the rows handed over by this process, the rows left over by the last pass, and
/// the due-index rows after the resume point that are due now, each attempted once.
async fn pass(shared: &Arc<Shared>, resume: &mut Option<Resume>) {
    let now = shared.clock.now();
    let current = hour_bucket(now);
    let r = resume.get_or_insert_with(|| Resume {
        bucket: current - FIRST_LOOKBACK_HOURS,
        after: None,
        carry: Vec::new(),
        swept_at: Instant::now(),
    });
    if r.swept_at.elapsed() >= FULL_SWEEP_EVERY {
        r.bucket = r.bucket.min(current - 1);
        r.after = None;
        r.swept_at = Instant::now();
    }
    let mut due = std::mem::take(&mut r.carry);
    let fresh = std::mem::take(
        &mut *shared
            .fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    due.extend(fresh.into_iter().filter(|d| d.due_at <= now));
    'buckets: for bucket in r.bucket..=current {
        let mut after = if bucket == r.bucket { r.after } else { None };
        loop {
            match shared
                .store
                .webhook_due_between(bucket, after, now, PAGE)
                .await
            {
                Ok(rows) => {
                    let full = rows.len() >= PAGE;
                    if let Some(last) = rows.last() {
                        after = Some((last.due_at, last.message_id));
                    }
                    due.extend(rows);
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(bucket, error = %e, "webhook due scan failed");
                    (r.bucket, r.after) = (bucket, after);
                    break 'buckets;
                }
            }
        }
        (r.bucket, r.after) = (bucket, after);
    }
    let mut seen = HashSet::with_capacity(due.len());
    due.retain(|d| seen.insert(d.message_id));
    let results: Vec<(WebhookDueRef, bool)> = futures::stream::iter(due)
        .map(|d| async move { (d, attempt(shared.clone(), d, now).await) })
        .buffer_unordered(shared.config.max_in_flight.max(1))
        .collect()
        .await;
    r.carry = results
        .into_iter()
        .filter_map(|(d, ok)| (!ok).then_some(d))
        .collect();
}

/// Attempts one due row; `false` when it should be looked at again (a store failure).
async fn attempt(shared: Arc<Shared>, due: WebhookDueRef, now: Timestamp) -> bool {
    match try_attempt(&shared, due, now).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(workspace_id = %due.workspace_id, message_id = %due.message_id,
                error = %e, "webhook attempt could not be recorded");
            false
        }
    }
}

struct Answer {
    status_code: Option<u16>,
    response: Option<String>,
    error: Option<String>,
    latency_ms: u64,
}

async fn try_attempt(
    shared: &Arc<Shared>,
    due: WebhookDueRef,
    now: Timestamp,
) -> Result<(), EngineError> {
    let scope = WorkspaceScope::authorized(due.workspace_id);
    let store = &shared.store;
    let Some(mut m) = store
        .get_webhook_message(scope, due.endpoint_id, due.message_id)
        .await?
    else {
        return Ok(());
    };
    if m.state != WebhookMessageState::Pending || m.next_attempt_at != Some(due.due_at) {
        return Ok(());
    }
    let endpoint = match store.get_webhook(scope, due.endpoint_id).await? {
        Some(e) if e.enabled => e,
        gone => {
            let why = if gone.is_some() {
                "endpoint disabled"
            } else {
                "endpoint deleted"
            };
            return finish(
                shared,
                scope,
                &mut m,
                now,
                WebhookMessageState::Failed,
                None,
                blank(why),
            )
            .await;
        }
    };
    let handle = WebhookHandle {
        shared: shared.clone(),
    };
    let secrets = handle.signing_secrets(scope, &endpoint).await?;
    let answer = post(shared, &endpoint.url, &m, &secrets, now).await;
    m.num_attempts += 1;
    let ok = answer.status_code.is_some_and(|c| (200..300).contains(&c));
    let gone = answer.status_code == Some(410);
    let exhausted = m.num_attempts as usize >= RETRY_SCHEDULE.len();
    let (state, next) = if ok {
        (WebhookMessageState::Delivered, None)
    } else if gone || exhausted {
        (WebhookMessageState::Failed, None)
    } else {
        (
            WebhookMessageState::Pending,
            Some(now + jittered(RETRY_SCHEDULE[m.num_attempts as usize])),
        )
    };
    finish(shared, scope, &mut m, now, state, next, answer).await?;
    if !ok && (gone || exhausted) {
        let reason = if gone {
            "the endpoint answered 410 Gone".to_owned()
        } else {
            format!("{} attempts over about 27 hours all failed", m.num_attempts)
        };
        disable(shared, scope, &endpoint.id, reason, now).await?;
    }
    Ok(())
}

fn blank(error: &str) -> Answer {
    Answer {
        status_code: None,
        response: None,
        error: Some(error.to_owned()),
        latency_ms: 0,
    }
}

fn jittered(delay: SignedDuration) -> SignedDuration {
    let extra = delay.as_millis() as f64 * 0.1 * rand::random::<f64>();
    delay + SignedDuration::from_millis(extra as i64)
}

async fn post(
    shared: &Shared,
    url: &str,
    m: &WebhookMessage,
    secrets: &[secrecy::SecretString],
    now: Timestamp,
) -> Answer {
    let target = match parse_target(url) {
        Ok(t) => t,
        Err(e) => return blank(&e.to_string()),
    };
    // A public host name is sent through a client pinned to the addresses just checked, so a
    // second lookup cannot be answered with an internal address (DNS rebinding). Literal IPs
    // and development targets use the shared pooled client.
    let pinned = matches!(target.host(), Some(url::Host::Domain(_))) && !shared.allow_private();
    let client = if pinned {
        let guard = SsrfGuard::new(false);
        match guard
            .pinned_client(&target, shared.config.attempt_timeout)
            .await
        {
            Ok(c) => c,
            Err(e) => return blank(&TargetError::from(e).to_string()),
        }
    } else {
        if let Err(e) = check_target(&target, shared.allow_private()).await {
            return blank(&e.to_string());
        }
        shared.http.clone()
    };
    let ts = now.as_second();
    let keys: Vec<&str> = secrets.iter().map(|s| s.expose_secret()).collect();
    let signature = match sign_all(&keys, &m.event_id, ts, m.payload.as_bytes()) {
        Ok(s) => s,
        Err(e) => return blank(&e.to_string()),
    };
    let started = Instant::now();
    let sent = client
        .post(target)
        .header("user-agent", "socialcrm-webhooks/1")
        .header("content-type", "application/json")
        .header("webhook-id", &m.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(m.payload.clone())
        .send()
        .await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            Answer {
                status_code: Some(status),
                response: Some(text.chars().take(MAX_RESPONSE_CHARS).collect()),
                error: None,
                latency_ms,
            }
        }
        Err(e) => {
            let error = if e.is_timeout() {
                "timed out".to_owned()
            } else {
                "connection failed".to_owned()
            };
            Answer {
                status_code: None,
                response: None,
                error: Some(error),
                latency_ms,
            }
        }
    }
}

async fn finish(
    shared: &Shared,
    scope: WorkspaceScope,
    m: &mut WebhookMessage,
    now: Timestamp,
    state: WebhookMessageState,
    next: Option<Timestamp>,
    answer: Answer,
) -> Result<(), EngineError> {
    let log = WebhookAttempt {
        id: Uuid::now_v7(),
        message_id: m.id,
        endpoint_id: m.endpoint_id,
        event_id: m.event_id.clone(),
        event_type: m.event_type.clone(),
        attempt: m.num_attempts,
        at: now,
        status_code: answer.status_code,
        latency_ms: answer.latency_ms,
        response: answer.response,
        error: answer.error,
        next_retry_at: next,
    };
    shared.store.put_webhook_attempt(scope, &log).await?;
    m.state = state;
    m.next_attempt_at = next;
    m.updated_at = now;
    shared.store.put_webhook_message(scope, m).await?;
    Ok(())
}

async fn disable(
    shared: &Shared,
    scope: WorkspaceScope,
    id: &tenants::WebhookId,
    reason: String,
    now: Timestamp,
) -> Result<(), EngineError> {
    let Some(mut e) = shared.store.get_webhook(scope, *id).await? else {
        return Ok(());
    };
    if !e.enabled {
        return Ok(());
    }
    e.enabled = false;
    e.disabled_reason = Some(reason.clone());
    e.updated_at = now;
    shared.store.put_webhook(scope, &e).await?;
    tracing::warn!(workspace_id = %scope.workspace_id(), endpoint_id = %id, reason, "webhook endpoint disabled");
    let entry = AuditEntry {
        id: Uuid::now_v7(),
        at: now,
        workspace_id: Some(scope.workspace_id()),
        actor: "system:webhooks".into(),
        action: "webhook.disabled".into(),
        target: vec![format!("webhook={id}"), format!("reason={reason}")],
        ip: None,
        user_agent: None,
        status: 0,
        expires_at: now + SignedDuration::from_hours(400 * 24),
    };
    shared.store.append_audit(Some(scope), &entry).await?;
    let _ = shared.notices_tx.send(WebhookNotice {
        workspace_id: scope.workspace_id(),
        endpoint_id: *id,
        reason,
    });
    Ok(())
}
