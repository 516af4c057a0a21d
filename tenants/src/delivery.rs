//! Deliveries: one post to one account, with a durable state machine.
//!
//! ```text
//! scheduled ──Submit──▶ submitting ──Publish──▶ published
//!   ▲  │  ▲                │  │  └──Fail────▶ failed
//!   │  │  └──RetryLater────┘  └──Unconfirm──▶ unconfirmed ──Publish/Fail/RetryLater──▶ …
//!   │  └──Hold──▶ held ──Release──▶ scheduled
//!   └──Reschedule            (scheduled | held) ──Cancel──▶ canceled
//! ```
//!
//! The complete graph (every other pair is refused):
//!
//! | from | events accepted (→ state) |
//! |---|---|
//! | scheduled | Submit → submitting; Hold → held; Reschedule → scheduled; Cancel → canceled; Fail → failed |
//! | submitting | Accepted → submitting; Publish → published; Unconfirm → unconfirmed; RetryLater → scheduled; Hold → held; Fail → failed |
//! | unconfirmed | Accepted → unconfirmed; Publish → published; Unconfirm → unconfirmed; RetryLater → scheduled; Fail → failed |
//! | held | Release → scheduled; Reschedule → scheduled; Hold → held; Cancel → canceled; Fail → failed |
//! | published, failed, canceled | nothing |
//!
//! Only `Submit` counts an attempt.
//!
//! `published`, `failed` and `canceled` are terminal. Every accepted event bumps `version`, which
//! the store uses for compare-and-set, so two writers can never both move the same delivery.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, DeliveryId, PostId, WorkspaceId};
use crate::platform::Platform;

/// Where a delivery is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for `due_at`.
    Scheduled,
    /// Claimed by an account actor; the partner is being (or was) called.
    Submitting,
    /// The platform has the post. Terminal.
    Published,
    /// Proven not published and not retryable. Terminal. Carries an error a person can act on.
    Failed,
    /// Sent, outcome unknown (timeout after sending, connection reset). Reconciled by asking the
    /// partner, never by posting again.
    Unconfirmed,
    /// Waiting for something a person or the clock must resolve: reconnect, restriction lifted,
    /// quota window. Carries a reason and, where known, `retry_at`.
    Held,
    /// Canceled by a person or by a disconnect. Terminal.
    Canceled,
}

impl DeliveryState {
    /// Whether no further event can move the delivery.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryState::Published | DeliveryState::Failed | DeliveryState::Canceled
        )
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Scheduled => "scheduled",
            DeliveryState::Submitting => "submitting",
            DeliveryState::Published => "published",
            DeliveryState::Failed => "failed",
            DeliveryState::Unconfirmed => "unconfirmed",
            DeliveryState::Held => "held",
            DeliveryState::Canceled => "canceled",
        }
    }
}

/// Why a delivery failed or is held: a stable machine code plus a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryError {
    /// Stable code, e.g. `rate_limited`, `account_needs_reconnect`, `partner_rejected`.
    pub code: String,
    /// Human explanation, with what to do about it.
    pub message: String,
}

impl DeliveryError {
    /// Builds an error from a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// One post to one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The delivery's id. Also its idempotency key towards the partner.
    pub id: DeliveryId,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// The post it delivers.
    pub post_id: PostId,
    /// The target account.
    pub account_id: AccountId,
    /// The target account's platform.
    pub platform: Platform,
    /// Current state.
    pub state: DeliveryState,
    /// Stable key sent to the partner on every attempt, so a retry can never publish twice.
    pub idempotency_key: String,
    /// How many times it was submitted.
    pub attempts: u32,
    /// When it should next be acted on: its scheduled time, or a retry or reconcile time.
    pub due_at: Timestamp,
    /// The partner's post id, once the partner accepted it.
    pub partner_post_id: Option<String>,
    /// The platform's post id, once published.
    pub platform_post_id: Option<String>,
    /// When it was published.
    pub published_at: Option<Timestamp>,
    /// The last error, or the reason it is held.
    pub last_error: Option<DeliveryError>,
    /// Bumped on every transition; the compare-and-set token.
    pub version: u64,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Something that happens to a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeliveryEvent {
    /// An actor claims a due delivery and is about to call the partner.
    Submit,
    /// The partner accepted the post (it may still be pending on the platform).
    Accepted {
        /// The partner's post id.
        partner_post_id: String,
    },
    /// The platform has the post.
    Publish {
        /// The platform's post id.
        platform_post_id: String,
        /// When it was published.
        published_at: Timestamp,
    },
    /// Proven not published, and not worth retrying.
    Fail(DeliveryError),
    /// Sent but the outcome is unknown; check again at `check_at`.
    Unconfirm {
        /// Why the outcome is unknown.
        error: DeliveryError,
        /// When to ask the partner.
        check_at: Timestamp,
    },
    /// Proven not published but retryable (429, 5xx before acceptance, connection refused).
    RetryLater {
        /// What went wrong.
        error: DeliveryError,
        /// When to try again, honouring any `Retry-After`.
        retry_at: Timestamp,
    },
    /// Claimed but never sent (an earlier send of the same burst learned it must wait): back
    /// to `scheduled` for `retry_at`, and the claim's attempt is given back.
    Withdraw {
        /// Why it was not sent.
        reason: DeliveryError,
        /// When to try again.
        retry_at: Timestamp,
    },
    /// Park the delivery until a condition clears.
    Hold {
        /// Why it is held.
        reason: DeliveryError,
        /// When it may run again, if known.
        retry_at: Option<Timestamp>,
    },
    /// The hold's condition cleared; due again at `due_at`.
    Release {
        /// When to run it.
        due_at: Timestamp,
    },
    /// Move a waiting delivery to a new time.
    Reschedule {
        /// The new time.
        due_at: Timestamp,
    },
    /// Cancel a delivery that has not been sent.
    Cancel {
        /// Why, e.g. `canceled_by_user`, `account_disconnected`.
        reason: DeliveryError,
    },
}

impl DeliveryEvent {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryEvent::Submit => "submit",
            DeliveryEvent::Accepted { .. } => "accepted",
            DeliveryEvent::Publish { .. } => "publish",
            DeliveryEvent::Fail(_) => "fail",
            DeliveryEvent::Unconfirm { .. } => "unconfirm",
            DeliveryEvent::RetryLater { .. } => "retry_later",
            DeliveryEvent::Withdraw { .. } => "withdraw",
            DeliveryEvent::Hold { .. } => "hold",
            DeliveryEvent::Release { .. } => "release",
            DeliveryEvent::Reschedule { .. } => "reschedule",
            DeliveryEvent::Cancel { .. } => "cancel",
        }
    }
}

/// An event that is not legal in the delivery's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {event} a delivery that is {from}")]
pub struct IllegalTransition {
    /// The state it was in.
    pub from: &'static str,
    /// The refused event.
    pub event: &'static str,
}

impl Delivery {
    /// Returns the delivery after `event`, with `version` bumped and `updated_at = now`, or
    /// refuses an event that is illegal in the current state. Terminal states refuse everything.
    ///
    /// # Errors
    /// [`IllegalTransition`] when the event is not allowed from the current state.
    pub fn apply(
        &self,
        event: &DeliveryEvent,
        now: Timestamp,
    ) -> Result<Delivery, IllegalTransition> {
        use DeliveryEvent as E;
        use DeliveryState as S;
        let refuse = || IllegalTransition {
            from: self.state.as_str(),
            event: event.name(),
        };
        let mut next = self.clone();
        match (self.state, event) {
            (S::Scheduled, E::Submit) => {
                next.state = S::Submitting;
                next.attempts += 1;
            }
            (S::Submitting | S::Unconfirmed, E::Accepted { partner_post_id }) => {
                next.partner_post_id = Some(partner_post_id.clone());
            }
            (
                S::Submitting | S::Unconfirmed,
                E::Publish {
                    platform_post_id,
                    published_at,
                },
            ) => {
                next.state = S::Published;
                next.platform_post_id = Some(platform_post_id.clone());
                next.published_at = Some(*published_at);
                next.last_error = None;
            }
            (S::Scheduled | S::Submitting | S::Unconfirmed | S::Held, E::Fail(error)) => {
                next.state = S::Failed;
                next.last_error = Some(error.clone());
            }
            (S::Submitting | S::Unconfirmed, E::Unconfirm { error, check_at }) => {
                next.state = S::Unconfirmed;
                next.last_error = Some(error.clone());
                next.due_at = *check_at;
            }
            (S::Submitting | S::Unconfirmed, E::RetryLater { error, retry_at }) => {
                next.state = S::Scheduled;
                next.last_error = Some(error.clone());
                next.due_at = *retry_at;
            }
            (S::Submitting, E::Withdraw { reason, retry_at }) => {
                next.state = S::Scheduled;
                next.attempts = next.attempts.saturating_sub(1);
                next.last_error = Some(reason.clone());
                next.due_at = *retry_at;
            }
            (S::Scheduled | S::Submitting | S::Held, E::Hold { reason, retry_at }) => {
                next.state = S::Held;
                next.last_error = Some(reason.clone());
                if let Some(at) = retry_at {
                    next.due_at = *at;
                }
            }
            (S::Held, E::Release { due_at }) => {
                next.state = S::Scheduled;
                next.due_at = *due_at;
            }
            (S::Scheduled | S::Held, E::Reschedule { due_at }) => {
                next.state = S::Scheduled;
                next.due_at = *due_at;
            }
            (S::Scheduled | S::Held, E::Cancel { reason }) => {
                next.state = S::Canceled;
                next.last_error = Some(reason.clone());
            }
            _ => return Err(refuse()),
        }
        next.version += 1;
        next.updated_at = now;
        Ok(next)
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
