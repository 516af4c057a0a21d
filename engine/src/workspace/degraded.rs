//! A degraded account: its actor crashed more often than the restart policy allows and is left
//! stopped. The state is persisted on the account (`degraded`, with a reason a person can act
//! on) and its scheduled deliveries are held with `account_degraded`, so nothing waits silently
//! as `scheduled`. Reconnecting the account makes it active again and releases the holds.

use schema::AccountScope;
use tenants::{AccountStatus, DeliveryError};

use crate::context::Ctx;
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};
use crate::pending::{PendingMove, move_pending};

/// The hold reason of a degraded account's deliveries.
pub fn degraded_reason() -> DeliveryError {
    DeliveryError::new(
        "account_degraded",
        "the account's publishing worker failed repeatedly and was stopped; reconnect the \
         account to resume publishing (held posts then publish)",
    )
}

/// Marks the account degraded and holds its scheduled deliveries.
///
/// # Errors
/// Store failures.
pub async fn persist(ctx: &Ctx, scope: AccountScope, crash: &str) -> Result<(), EngineError> {
    let Some(mut account) = ctx.store.get_account(scope).await? else {
        return Ok(());
    };
    if account.status == AccountStatus::Disconnected {
        return Ok(());
    }
    let now = ctx.now();
    account.status = AccountStatus::Degraded;
    account.status_reason = Some(format!(
        "its publishing worker crashed repeatedly ({crash}); reconnect the account to resume"
    ));
    account.updated_at = now;
    ctx.store.put_account(scope.workspace(), &account).await?;
    let reason = degraded_reason();
    let posts = move_pending(ctx, scope, PendingMove::Hold, &reason).await?;
    for post_id in posts {
        ctx.emit(EngineEvent {
            kind: EventKind::PostHeld,
            workspace_id: scope.workspace_id(),
            post_id: Some(post_id),
            account_id: Some(scope.account_id()),
            reason: Some(format!("{}: {}", reason.code, reason.message)),
            at: now,
        });
    }
    Ok(())
}
