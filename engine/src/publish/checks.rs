//! The checks a due delivery passes before it may be claimed: the workspace is not restricted,
//! the account is active and linked, the post exists, the token is fresh and the limits admit
//! it. A delivery that may not go now is held, failed or canceled here with its reason; held
//! ones are released and reconciled ones asked about.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use tenants::{
    AccountStatus, Delivery, DeliveryError, DeliveryEvent, DeliveryId, DeliveryState, Post, PostId,
};

use super::{Due, finish, notify_post, transition};
use crate::account::AccountState;
use crate::context::Ctx;
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::outbound::PublishRequest;

/// A delivery that passed every check and may be claimed and sent.
pub(super) struct Ready {
    pub(super) due_at: Timestamp,
    pub(super) d: Delivery,
    pub(super) req: PublishRequest,
}

/// Whether the workspace's processing is restricted, read at most once per burst: every delivery
/// of a burst belongs to the same workspace.
#[derive(Debug, Default)]
pub(super) struct Restriction(Option<bool>);

impl Restriction {
    async fn get(&mut self, ctx: &Ctx, state: &AccountState) -> Result<bool, EngineError> {
        if let Some(known) = self.0 {
            return Ok(known);
        }
        let ws = ctx.store.get_workspace(state.scope.workspace()).await?;
        let known = ws.is_none_or(|w| w.processing_restricted || w.deletion_requested_at.is_some());
        self.0 = Some(known);
        Ok(known)
    }
}

/// What a burst of due deliveries reads before its checks, in two store calls (one read
/// transaction each on the embedded store): the deliveries, and the posts they belong to.
pub(super) struct BurstReads {
    /// One answer per due delivery, in order (`None`: deleted since it was queued).
    pub(super) deliveries: Vec<Option<Delivery>>,
    /// The posts that still exist.
    pub(super) posts: HashMap<PostId, Post>,
}

/// Reads what the checks of `due` need.
pub(super) async fn read_burst(
    ctx: &Ctx,
    state: &AccountState,
    due: &[Due],
) -> Result<BurstReads, EngineError> {
    let scope = state.scope.workspace();
    let ids: Vec<(PostId, DeliveryId)> = due.iter().map(|(_, id, post)| (*post, *id)).collect();
    let mut seen = HashSet::with_capacity(due.len());
    let post_ids: Vec<PostId> = due
        .iter()
        .map(|(_, _, post)| *post)
        .filter(|post| seen.insert(*post))
        .collect();
    let (deliveries, posts) = tokio::try_join!(
        ctx.store.get_deliveries(scope, &ids),
        ctx.store.get_posts(scope, &post_ids),
    )?;
    let posts = post_ids
        .into_iter()
        .zip(posts)
        .filter_map(|(id, post)| Some((id, post?)))
        .collect();
    Ok(BurstReads { deliveries, posts })
}

/// Acts on a due delivery read by [`read_burst`] as far as needs no partner publish (holds,
/// releases, reconciliation). `Some` when it is ready to be claimed and sent.
pub(super) async fn prepare(
    ctx: &Ctx,
    state: &mut AccountState,
    restriction: &mut Restriction,
    posts: &HashMap<PostId, Post>,
    d: Option<Delivery>,
) -> Result<Option<Ready>, EngineError> {
    let Some(d) = d else {
        return Ok(None);
    };
    let now = ctx.now();
    if d.state.is_terminal() || d.account_id != state.scope.account_id() {
        return Ok(None);
    }
    if d.due_at > now {
        state.requeue(d.due_at, d.id, d.post_id);
        return Ok(None);
    }
    match d.state {
        DeliveryState::Scheduled => check(ctx, state, restriction, posts, d).await,
        DeliveryState::Held => release(ctx, state, restriction, posts, d).await,
        DeliveryState::Submitting | DeliveryState::Unconfirmed => {
            crate::reconcile::reconcile(ctx, state, d).await?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Releases a held delivery whose condition may have cleared, then checks it.
async fn release(
    ctx: &Ctx,
    state: &mut AccountState,
    restriction: &mut Restriction,
    posts: &HashMap<PostId, Post>,
    d: Delivery,
) -> Result<Option<Ready>, EngineError> {
    let code = d.last_error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
    if matches!(code, "account_needs_reconnect" | "account_degraded")
        && state.account.status != AccountStatus::Active
    {
        return Ok(None);
    }
    if code == "processing_restricted" && restriction.get(ctx, state).await? {
        return Ok(None);
    }
    let now = ctx.now();
    match transition(ctx, state, &d, DeliveryEvent::Release { due_at: now }).await? {
        Some(next) => check(ctx, state, restriction, posts, next).await,
        None => Ok(None),
    }
}

/// Runs the checks (workspace, account, post, token, limits); a delivery that may not go now
/// is held, failed or canceled here with its reason.
async fn check(
    ctx: &Ctx,
    state: &mut AccountState,
    restriction: &mut Restriction,
    posts: &HashMap<PostId, Post>,
    d: Delivery,
) -> Result<Option<Ready>, EngineError> {
    if restriction.get(ctx, state).await? {
        let reason = DeliveryError::new(
            "processing_restricted",
            "processing is restricted for this workspace; lift the restriction to publish",
        );
        return hold(ctx, state, &d, reason, None).await;
    }
    match state.account.status {
        AccountStatus::Active => {}
        AccountStatus::NeedsReconnect => {
            let crate::account::tokens::TokenHold::NeedsReconnect(reason) =
                crate::account::tokens::reconnect_hold(state)
            else {
                return Ok(None);
            };
            return hold(ctx, state, &d, reason, None).await;
        }
        AccountStatus::Degraded => {
            let reason = crate::workspace::degraded_reason();
            return hold(ctx, state, &d, reason, None).await;
        }
        AccountStatus::Disconnected => {
            let reason = DeliveryError::new("account_disconnected", "the account was disconnected");
            transition(ctx, state, &d, DeliveryEvent::Cancel { reason }).await?;
            notify_post(state, &d);
            return Ok(None);
        }
    }
    let Some(post) = posts.get(&d.post_id) else {
        let reason = DeliveryError::new(
            "post_missing",
            "the post was deleted before it could publish",
        );
        return fail(ctx, state, &d, reason).await;
    };
    let Some(partner_account_id) = state.account.partner_account_id.clone() else {
        let reason = DeliveryError::new(
            "account_not_linked",
            "the account has no publishing partner id; reconnect the account",
        );
        return fail(ctx, state, &d, reason).await;
    };
    let token = match crate::account::tokens::ensure_token(ctx, state).await? {
        Ok(t) => t,
        Err(crate::account::tokens::TokenHold::NeedsReconnect(reason)) => {
            return hold(ctx, state, &d, reason, None).await;
        }
        Err(crate::account::tokens::TokenHold::RetryAt(reason, at)) => {
            return hold(ctx, state, &d, reason, Some(at)).await;
        }
    };
    let now = ctx.now();
    if let Err(hit) = state.limits.admit(&ctx.app_limits, d.platform, now) {
        let reason = DeliveryError::new(
            hit.code(),
            format!(
                "publishing limit reached; it publishes automatically at {}",
                hit.until()
            ),
        );
        let until = hit.until();
        return hold(ctx, state, &d, reason, Some(until)).await;
    }
    let req = PublishRequest {
        idempotency_key: d.idempotency_key.clone(),
        partner_account_id,
        caption: post.caption_for(d.platform).to_owned(),
        media_urls: post.media_urls.clone(),
        access_token: token,
    };
    Ok(Some(Ready {
        due_at: d.due_at,
        d,
        req,
    }))
}

/// Fails a delivery that can never publish, with its reason: nothing is left to claim.
async fn fail(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    reason: DeliveryError,
) -> Result<Option<Ready>, EngineError> {
    finish(ctx, state, d, DeliveryEvent::Fail(reason)).await?;
    Ok(None)
}

/// Puts a delivery on hold with a reason: nothing is left to claim.
async fn hold(
    ctx: &Ctx,
    state: &mut AccountState,
    d: &Delivery,
    reason: DeliveryError,
    retry_at: Option<Timestamp>,
) -> Result<Option<Ready>, EngineError> {
    let code = reason.code.clone();
    let already =
        d.state == DeliveryState::Held && d.last_error.as_ref().is_some_and(|e| e.code == code);
    let event = DeliveryEvent::Hold {
        reason: reason.clone(),
        retry_at,
    };
    if let Some(next) = transition(ctx, state, d, event).await? {
        if let Some(at) = retry_at {
            state.requeue(at, next.id, next.post_id);
        }
        if !already {
            ctx.emit(EngineEvent {
                kind: EventKind::PostHeld,
                workspace_id: d.workspace_id,
                post_id: Some(d.post_id),
                account_id: Some(d.account_id),
                reason: Some(format!("{}: {}", reason.code, reason.message)),
                at: ctx.now(),
            });
        }
    }
    Ok(None)
}
