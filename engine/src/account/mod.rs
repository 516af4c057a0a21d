//! The account actor: one per connected account. It owns the account's schedule (one timer for
//! the next due time), its rate limits and its token refresh, and runs the publish pipeline for
//! each due delivery, one at a time.
//!
//! Timers and the injectable clock: the actor computes every delay from `clock.now()` and arms
//! one real timer for it (capped at `max_timer`). When a test moves a `ManualClock`, it calls
//! [`crate::EngineHandle::tick`], which scans the due window and sends `Wake` to every resident
//! actor; the actor then acts on whatever is due on the engine clock.

mod handle;
mod state;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use jiff::Timestamp;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use schema::AccountScope;
use tracing::Instrument;

pub use handle::{AccountHandle, AccountMsg};
pub use state::AccountState;

use crate::context::Ctx;
use crate::rate_limit::AccountLimits;
use crate::workspace::WorkspaceHandle;

/// The account actor.
#[derive(Debug)]
pub struct AccountActor;

/// What an account actor starts from.
#[derive(Debug)]
pub struct AccountArgs {
    /// Shared context.
    pub ctx: Ctx,
    /// The account.
    pub scope: AccountScope,
    /// Load due rows from this instant (`UNIX_EPOCH` for recovery).
    pub load_from: Timestamp,
    /// The parent.
    pub workspace: WorkspaceHandle,
    /// Restarts so far.
    pub restarts: u32,
    /// Mailbox depth counter shared with the handle.
    pub depth: Arc<AtomicU64>,
}

/// Due rows read per page when loading the window.
const LOAD_PAGE: usize = 1000;

impl Actor for AccountActor {
    type Msg = AccountMsg;
    type State = (Ctx, AccountState);
    type Arguments = AccountArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<AccountMsg>,
        args: AccountArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let ctx = args.ctx;
        let account = ctx
            .store
            .get_account(args.scope)
            .await?
            .ok_or("account not found")?;
        let now = ctx.now();
        let mut state = AccountState {
            scope: args.scope,
            limits: AccountLimits::new(account.platform),
            account,
            workspace: args.workspace,
            pending: Default::default(),
            loaded_until: now,
            token: None,
            force_refresh: false,
            refresh_at: None,
            refresh_failures: 0,
            timer: None,
            wake_queued: false,
            last_active: now,
            transitions: Default::default(),
            restarts: args.restarts,
            depth: args.depth,
        };
        state.refresh_at = state
            .account
            .access_expires_at
            .map(|exp| ctx.credentials.next_refresh_at(exp, now));
        // Boxed, like the window load: ractor keeps the actor's task future (which would embed
        // this call's state) allocated for the actor's whole life.
        Box::pin(resume_quotas(&ctx, &mut state, now)).await?;
        Box::pin(load_window(&ctx, &mut state, args.load_from)).await?;
        tracing::debug!(workspace_id = %state.account.workspace_id, account_id = %state.account.id,
            num_pending = state.pending.len(), "account actor started");
        state.wake_queued = true;
        myself.cast(AccountMsg::Wake)?;
        Ok((ctx, state))
    }

    async fn handle(
        &self,
        myself: ActorRef<AccountMsg>,
        msg: AccountMsg,
        (ctx, state): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        handle::decrement(&state.depth);
        let span = tracing::info_span!("account", workspace_id = %state.account.workspace_id,
            account_id = %state.account.id);
        // Boxed: the publish pipeline's state machine is several kilobytes, and ractor keeps
        // each actor's loop future (which would otherwise embed it) allocated for the actor's
        // whole life. Boxed, it is allocated per message instead of per resident account.
        Box::pin(
            async {
                match msg {
                    AccountMsg::Wake => {
                        state.wake_queued = false;
                        on_wake(ctx, state, &myself).await?;
                    }
                    AccountMsg::Timer(id) => {
                        if state.timer.as_ref().is_some_and(|t| t.id() == id) {
                            state.timer = None;
                        }
                        on_wake(ctx, state, &myself).await?;
                    }
                    AccountMsg::Reload { from } => load_window(ctx, state, from).await?,
                    AccountMsg::Schedule(refs) => {
                        for r in &refs {
                            state.insert_due(r);
                        }
                    }
                    AccountMsg::AccountChanged => tokens::reload_account(ctx, state).await?,
                    AccountMsg::InjectPanic => panic!("injected fault in account actor"),
                }
                state.arm(ctx, &myself);
                if due_now(ctx, state) && !state.wake_queued {
                    state.wake_queued = true;
                    myself.cast(AccountMsg::Wake)?;
                }
                ctx.board.put_account(state.observable(ctx, true));
                Ok::<_, ActorProcessingErr>(())
            }
            .instrument(span),
        )
        .await?;
        maybe_passivate(ctx, state, &myself);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<AccountMsg>,
        (ctx, state): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.timer = None;
        ctx.board.put_account(state.observable(ctx, false));
        Ok(())
    }
}

fn due_now(ctx: &Ctx, state: &AccountState) -> bool {
    let now = ctx.now();
    state.pending.keys().next().is_some_and(|k| k.0 <= now)
        || state.refresh_at.is_some_and(|at| at <= now)
}

/// Acts on what is due: a token refresh, then at most [`crate::publish::MAX_BURST`]
/// deliveries, so other messages interleave between bursts.
async fn on_wake(
    ctx: &Ctx,
    state: &mut AccountState,
    myself: &ActorRef<AccountMsg>,
) -> Result<(), ActorProcessingErr> {
    let now = ctx.now();
    if now >= state.loaded_until - ctx.tuning.window / 2 {
        load_window(ctx, state, state.loaded_until).await?;
    }
    if state.refresh_at.is_some_and(|at| at <= now) {
        tokens::refresh_now(ctx, state).await?;
        state.last_active = now;
    }
    let due = state.pop_due(now, crate::publish::MAX_BURST);
    if !due.is_empty() {
        state.last_active = now;
        crate::publish::process(ctx, state, due).await;
    }
    let _ = myself;
    Ok(())
}

/// Counts the publishes still inside the platform's quota windows (made before this actor
/// started: a restart, a crash, passivation) against its quotas.
async fn resume_quotas(
    ctx: &Ctx,
    state: &mut AccountState,
    now: Timestamp,
) -> Result<(), ActorProcessingErr> {
    let Some(since) = state.limits.counted_since(now) else {
        return Ok(());
    };
    let published = ctx.store.account_publishes(state.scope, since).await?;
    state.limits.seed(&published);
    Ok(())
}

/// Loads due rows from `from` to the end of the window.
async fn load_window(
    ctx: &Ctx,
    state: &mut AccountState,
    from: Timestamp,
) -> Result<(), ActorProcessingErr> {
    let to = ctx.now() + ctx.tuning.window;
    let mut cursor = from;
    state.loaded_until = state.loaded_until.max(to);
    loop {
        let rows = ctx
            .store
            .account_due(state.scope, cursor, to, LOAD_PAGE)
            .await?;
        let full = rows.len() == LOAD_PAGE;
        let last = rows.last().map(|r| r.due_at);
        for r in &rows {
            state.insert_due(r);
        }
        match last {
            Some(at) if full => {
                // Rows sharing the last instant are reread; the map de-duplicates them.
                cursor = if at > cursor {
                    at
                } else {
                    at + jiff::SignedDuration::from_micros(1)
                };
            }
            _ => break,
        }
    }
    Ok(())
}

fn maybe_passivate(ctx: &Ctx, state: &AccountState, myself: &ActorRef<AccountMsg>) {
    let now = ctx.now();
    let idle = now.duration_since(state.last_active) >= ctx.tuning.passivate_after;
    if idle && state.pending.is_empty() && !state.wake_queued {
        tracing::debug!(account_id = %state.account.id, "passivating idle account actor");
        myself.stop(Some("passivated".into()));
    }
}
