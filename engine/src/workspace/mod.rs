//! The workspace actor: one per workspace. It supervises the workspace's account actors (starting
//! them on activation, restarting crashed ones with backoff, marking repeat offenders degraded)
//! and serialises post status updates, so the post's overall status always follows its
//! deliveries.

mod degraded;
mod handle;
mod post_status;
mod supervise;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use jiff::Timestamp;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use schema::WorkspaceScope;
use tenants::{AccountId, AccountStatus};
use tracing::Instrument as _;

pub use degraded::degraded_reason;
pub use handle::{WorkspaceHandle, WorkspaceMsg};
pub use supervise::{RestartDecision, RestartLog};

use crate::account::{AccountActor, AccountArgs, AccountHandle, AccountMsg};
use crate::context::Ctx;
use crate::events::{EngineEvent, EventKind};

/// The workspace actor.
#[derive(Debug)]
pub struct WorkspaceActor;

/// What a workspace actor holds.
#[derive(Debug)]
pub struct WorkspaceState {
    ctx: Ctx,
    scope: WorkspaceScope,
    accounts: HashMap<AccountId, AccountHandle>,
    by_actor: HashMap<ActorId, AccountId>,
    restarts: HashMap<AccountId, RestartLog>,
    dirty_posts: post_status::DirtyPosts,
}

impl Actor for WorkspaceActor {
    type Msg = WorkspaceMsg;
    type State = WorkspaceState;
    type Arguments = (Ctx, WorkspaceScope);

    async fn pre_start(
        &self,
        _myself: ActorRef<WorkspaceMsg>,
        (ctx, scope): (Ctx, WorkspaceScope),
    ) -> Result<WorkspaceState, ActorProcessingErr> {
        ctx.board.set_workspace(scope.workspace_id(), true);
        Ok(WorkspaceState {
            ctx,
            scope,
            accounts: HashMap::new(),
            by_actor: HashMap::new(),
            restarts: HashMap::new(),
            dirty_posts: Default::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        msg: WorkspaceMsg,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        let span = tracing::info_span!("workspace", workspace_id = %state.scope.workspace_id());
        // Boxed so the actor's long-lived loop future does not embed this state machine.
        Box::pin(handle_msg(&myself, msg, state).instrument(span)).await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        evt: SupervisionEvent,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        let span = tracing::info_span!("workspace", workspace_id = %state.scope.workspace_id());
        Box::pin(on_supervision(&myself, evt, state).instrument(span)).await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WorkspaceMsg>,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        Box::pin(async {
            drain(state).await;
            state.dirty_posts.flush_all(&state.ctx, state.scope).await;
        })
        .await;
        state
            .ctx
            .board
            .set_workspace(state.scope.workspace_id(), false);
        Ok(())
    }
}

async fn handle_msg(
    myself: &ActorRef<WorkspaceMsg>,
    msg: WorkspaceMsg,
    state: &mut WorkspaceState,
) -> Result<(), ActorProcessingErr> {
    {
        match msg {
            WorkspaceMsg::Activate { account_id, from } => {
                if let Some(h) = state.accounts.get(&account_id) {
                    h.send(AccountMsg::Reload { from });
                } else {
                    start_account(myself, state, account_id, from).await;
                }
            }
            WorkspaceMsg::Schedule { account_id, refs } => {
                let resident = state
                    .accounts
                    .get(&account_id)
                    .is_some_and(|h| h.send(AccountMsg::Schedule(refs.clone())));
                if !resident {
                    let from = refs
                        .iter()
                        .map(|r| r.due_at)
                        .min()
                        .unwrap_or(Timestamp::UNIX_EPOCH);
                    start_account(myself, state, account_id, from).await;
                }
            }
            WorkspaceMsg::PostChanged { post_id } => {
                // The flush goes behind the changes already queued, so they share it.
                if state.dirty_posts.mark(post_id) {
                    myself.cast(WorkspaceMsg::FlushPosts)?;
                }
            }
            WorkspaceMsg::FlushPosts => {
                if state.dirty_posts.flush(&state.ctx, state.scope).await {
                    myself.cast(WorkspaceMsg::FlushPosts)?;
                }
            }
            WorkspaceMsg::WakeAll => {
                for h in state.accounts.values() {
                    h.wake();
                }
            }
            WorkspaceMsg::AccountChanged { account_id } => {
                // A reconnect is the person's answer to a degraded account: try it afresh.
                state.restarts.remove(&account_id);
                if let Some(h) = state.accounts.get(&account_id) {
                    h.send(AccountMsg::AccountChanged);
                } else {
                    start_account(myself, state, account_id, Timestamp::UNIX_EPOCH).await;
                }
            }
            WorkspaceMsg::StopAccount { account_id, reply } => {
                if let Some(h) = state.accounts.remove(&account_id) {
                    state.by_actor.remove(&h.actor().get_id());
                    let _ = h
                        .actor()
                        .stop_and_wait(
                            Some("stopped".into()),
                            Some(state.ctx.tuning.shutdown_deadline),
                        )
                        .await;
                }
                let _ = reply.send(());
            }
            WorkspaceMsg::Restart { account_id } => {
                if !state.accounts.contains_key(&account_id) {
                    start_account(myself, state, account_id, Timestamp::UNIX_EPOCH).await;
                }
            }
            WorkspaceMsg::InjectPanic { account_id } => {
                if let Some(h) = state.accounts.get(&account_id) {
                    h.send(AccountMsg::InjectPanic);
                }
            }
            WorkspaceMsg::Drain { reply } => {
                drain(state).await;
                state.dirty_posts.flush_all(&state.ctx, state.scope).await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

async fn on_supervision(
    myself: &ActorRef<WorkspaceMsg>,
    evt: SupervisionEvent,
    state: &mut WorkspaceState,
) -> Result<(), ActorProcessingErr> {
    {
        match evt {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(id) = state.by_actor.remove(&cell.get_id()) {
                    state.accounts.remove(&id);
                }
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(account_id) = state.by_actor.remove(&cell.get_id()) else {
                    return Ok(());
                };
                state.accounts.remove(&account_id);
                let err = err.to_string();
                if on_account_crash(myself, state, account_id, &err) {
                    let scope = state.scope.account(account_id);
                    if let Err(e) = degraded::persist(&state.ctx, scope, &err).await {
                        tracing::error!(account_id = %account_id, error = %e,
                            "could not persist the degraded account");
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

async fn drain(state: &mut WorkspaceState) {
    let deadline = state.ctx.tuning.shutdown_deadline;
    let stops = state.accounts.drain().map(|(_, h)| async move {
        let _ = h
            .actor()
            .stop_and_wait(Some("shutdown".into()), Some(deadline))
            .await;
    });
    futures::future::join_all(stops).await;
    state.by_actor.clear();
}

/// Applies the restart policy to a crash; `true` when the account was given up on (degraded).
fn on_account_crash(
    myself: &ActorRef<WorkspaceMsg>,
    state: &mut WorkspaceState,
    account_id: AccountId,
    err: &str,
) -> bool {
    let ctx = &state.ctx;
    let t = &ctx.tuning;
    let log = state.restarts.entry(account_id).or_default();
    let decision = log.on_crash(
        Instant::now(),
        t.restart_max,
        t.restart_window,
        t.restart_backoff,
    );
    tracing::error!(workspace_id = %state.scope.workspace_id(), account_id = %account_id, error = %err,
        ?decision, "account actor crashed");
    match decision {
        RestartDecision::Restart {
            after,
            num_restarts,
        } => {
            ctx.board
                .num_restarts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ctx.board.update_account(account_id, |a| {
                a.restarts = num_restarts;
                a.resident = false;
            });
            // The timer task runs detached; its handle is not needed.
            drop(myself.send_after(after, move || WorkspaceMsg::Restart { account_id }));
            false
        }
        RestartDecision::Degrade => {
            // The event goes out before the observable state flips, so anyone who sees the
            // account degraded also finds the event that says why.
            ctx.emit(EngineEvent {
                kind: EventKind::AccountDegraded,
                workspace_id: state.scope.workspace_id(),
                post_id: None,
                account_id: Some(account_id),
                reason: Some(format!(
                    "the account's worker crashed repeatedly and was stopped: {err}"
                )),
                at: ctx.now(),
            });
            ctx.board.update_account(account_id, |a| {
                a.degraded = true;
                a.resident = false;
            });
            true
        }
    }
}

async fn start_account(
    myself: &ActorRef<WorkspaceMsg>,
    state: &mut WorkspaceState,
    account_id: AccountId,
    from: Timestamp,
) {
    let log = state.restarts.get(&account_id);
    if log.is_some_and(|l| l.degraded) {
        return;
    }
    let scope = state.scope.account(account_id);
    match state.ctx.store.get_account(scope).await {
        Ok(Some(a)) if a.status != AccountStatus::Disconnected => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(account_id = %account_id, error = %e, "cannot read account; not started");
            return;
        }
    }
    let depth = Arc::new(AtomicU64::new(0));
    let args = AccountArgs {
        ctx: state.ctx.clone(),
        scope,
        load_from: from,
        workspace: WorkspaceHandle::new(myself.clone()),
        restarts: log.map_or(0, |l| l.total),
        depth: depth.clone(),
    };
    match Actor::spawn_linked(None, AccountActor, args, myself.get_cell()).await {
        Ok((actor, _join)) => {
            state.by_actor.insert(actor.get_id(), account_id);
            state
                .accounts
                .insert(account_id, AccountHandle::new(actor, depth));
        }
        Err(e) => {
            tracing::warn!(account_id = %account_id, error = %e, "account actor did not start")
        }
    }
}
