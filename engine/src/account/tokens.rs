//! Token refresh, owned by the account actor: ahead of expiry (the credentials port adds jitter),
//! one at a time (the actor handles one message at a time), persisted before use (the port seals
//! and stores the new tokens before returning them). `invalid_grant` marks the account
//! `needs_reconnect`; transient errors retry with backoff and never disconnect.

use crate::error::EngineError;
use jiff::Timestamp;
use secrecy::SecretString;
use tenants::{AccountStatus, DeliveryError};

use crate::account::AccountState;
use crate::context::Ctx;
use crate::events::{EngineEvent, EventKind};
use crate::outbound::RefreshResult;

/// Why a publish cannot get a token now.
#[derive(Debug, Clone)]
pub enum TokenHold {
    /// A person must reconnect the account.
    NeedsReconnect(DeliveryError),
    /// Try again at the given time.
    RetryAt(DeliveryError, Timestamp),
}

/// Refreshes the token now (timer-driven or forced).
pub async fn refresh_now(ctx: &Ctx, state: &mut AccountState) -> Result<(), EngineError> {
    let now = ctx.now();
    if state.account.status != AccountStatus::Active {
        state.refresh_at = None;
        return Ok(());
    }
    match ctx.credentials.refresh(state.scope, &state.account).await {
        RefreshResult::Refreshed(token) => {
            state.refresh_failures = 0;
            state.force_refresh = false;
            state.refresh_at = token
                .expires_at
                .map(|exp| ctx.credentials.next_refresh_at(exp, now));
            state.account.access_expires_at = token.expires_at;
            state.token = Some(token);
            tracing::info!(account_id = %state.account.id, "access token refreshed");
        }
        RefreshResult::NeedsReconnect(reason) => mark_needs_reconnect(ctx, state, &reason).await?,
        RefreshResult::Transient(reason) => {
            state.refresh_failures += 1;
            let retry = ctx.backoff(state.refresh_failures);
            state.refresh_at = Some(now + retry);
            tracing::warn!(account_id = %state.account.id, reason = %reason,
                failures = state.refresh_failures, "token refresh failed; will retry");
        }
    }
    Ok(())
}

/// Returns a token that is valid for at least the refresh margin, refreshing first if needed.
pub async fn ensure_token(
    ctx: &Ctx,
    state: &mut AccountState,
) -> Result<Result<SecretString, TokenHold>, EngineError> {
    let now = ctx.now();
    if state.token.is_none() {
        state.token = ctx.credentials.access_token(state.scope).await?;
    }
    let Some(token) = &state.token else {
        mark_needs_reconnect(ctx, state, "no tokens are stored for this account").await?;
        return Ok(Err(reconnect_hold(state)));
    };
    let expiring = token
        .expires_at
        .is_some_and(|exp| exp - ctx.tuning.refresh_margin <= now);
    if expiring || state.force_refresh {
        refresh_now(ctx, state).await?;
        if state.account.status == AccountStatus::NeedsReconnect {
            return Ok(Err(reconnect_hold(state)));
        }
    }
    let usable = state
        .token
        .as_ref()
        .filter(|t| {
            t.expires_at
                .is_none_or(|exp| exp > now + jiff::SignedDuration::from_secs(30))
        })
        .filter(|_| !state.force_refresh);
    match usable {
        Some(t) => Ok(Ok(t.token.clone())),
        None => {
            let at = state.refresh_at.unwrap_or(now + ctx.backoff(1));
            let reason = DeliveryError::new(
                "token_refresh_pending",
                "the account's access token could not be refreshed yet; retrying automatically",
            );
            Ok(Err(TokenHold::RetryAt(reason, at)))
        }
    }
}

/// The hold reason for an account that needs reconnecting.
pub fn reconnect_hold(state: &AccountState) -> TokenHold {
    let why = state
        .account
        .status_reason
        .clone()
        .unwrap_or_else(|| "the platform refused the account's authorization".into());
    TokenHold::NeedsReconnect(DeliveryError::new(
        "account_needs_reconnect",
        format!("{why}; reconnect the account to publish"),
    ))
}

/// Marks the account `needs_reconnect`, persists it and emits the event. Its deliveries are held
/// as they come due.
pub async fn mark_needs_reconnect(
    ctx: &Ctx,
    state: &mut AccountState,
    reason: &str,
) -> Result<(), EngineError> {
    let now = ctx.now();
    state.account.status = AccountStatus::NeedsReconnect;
    state.account.status_reason = Some(format!("authorization expired or revoked ({reason})"));
    state.account.updated_at = now;
    state.token = None;
    state.refresh_at = None;
    ctx.store
        .put_account(state.scope.workspace(), &state.account)
        .await?;
    tracing::warn!(account_id = %state.account.id, "account needs reconnect");
    ctx.emit_logged(EngineEvent {
        kind: EventKind::AccountNeedsReconnect,
        workspace_id: state.account.workspace_id,
        post_id: None,
        account_id: Some(state.account.id),
        reason: state.account.status_reason.clone(),
        at: now,
    })
    .await;
    // Make every delivery in the window due now, so each is held with the reason at once.
    let held: Vec<_> = std::mem::take(&mut state.pending).into_iter().collect();
    for ((_, id), post_id) in held {
        state.pending.insert((now, id), post_id);
    }
    Ok(())
}

/// Reloads the account and its token after a reconnect, and releases deliveries held for it.
pub async fn reload_account(ctx: &Ctx, state: &mut AccountState) -> Result<(), EngineError> {
    let Some(account) = ctx.store.get_account(state.scope).await? else {
        return Ok(());
    };
    let now = ctx.now();
    let reconnected =
        state.account.status != AccountStatus::Active && account.status == AccountStatus::Active;
    state.refresh_at = account
        .access_expires_at
        .map(|exp| ctx.credentials.next_refresh_at(exp, now));
    state.account = account;
    state.token = None;
    state.force_refresh = false;
    if reconnected {
        // Held deliveries keep their old due rows; reload from the start to pick them up.
        let from = Timestamp::UNIX_EPOCH;
        let rows = ctx
            .store
            .account_due(state.scope, from, now + ctx.tuning.window, 10_000)
            .await?;
        for r in &rows {
            state.insert_due(r);
        }
    }
    Ok(())
}
