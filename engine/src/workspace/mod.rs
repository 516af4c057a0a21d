//! The workspace actor: one per workspace. It supervises the workspace's account actors (starting
//! them on activation, restarting crashed ones with backoff, marking repeat offenders degraded)
//! and serialises post status updates, so the post's overall status always follows its
//! deliveries.

mod handle;
mod supervise;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use jiff::Timestamp;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use schema::WorkspaceScope;
use tenants::{AccountId, AccountStatus, PostId, PostStatus, post_status_from};

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
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        msg: WorkspaceMsg,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkspaceMsg::Activate { account_id, from } => {
                if let Some(h) = state.accounts.get(&account_id) {
                    h.send(AccountMsg::Reload { from });
                } else {
                    start_account(&myself, state, account_id, from).await;
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
                    start_account(&myself, state, account_id, from).await;
                }
            }
            WorkspaceMsg::PostChanged { post_id } => {
                if let Err(e) = update_post_status(&state.ctx, state.scope, post_id).await {
                    tracing::warn!(workspace_id = %state.scope.workspace_id(), post_id = %post_id, error = %e,
                        "post status update failed");
                }
            }
            WorkspaceMsg::WakeAll => {
                for h in state.accounts.values() {
                    h.wake();
                }
            }
            WorkspaceMsg::AccountChanged { account_id } => {
                if let Some(h) = state.accounts.get(&account_id) {
                    h.send(AccountMsg::AccountChanged);
                } else {
                    start_account(&myself, state, account_id, Timestamp::UNIX_EPOCH).await;
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
                    start_account(&myself, state, account_id, Timestamp::UNIX_EPOCH).await;
                }
            }
            WorkspaceMsg::InjectPanic { account_id } => {
                if let Some(h) = state.accounts.get(&account_id) {
                    h.send(AccountMsg::InjectPanic);
                }
            }
            WorkspaceMsg::Drain { reply } => {
                drain(state).await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        evt: SupervisionEvent,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
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
                on_account_crash(&myself, state, account_id, &err.to_string());
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WorkspaceMsg>,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        drain(state).await;
        state
            .ctx
            .board
            .set_workspace(state.scope.workspace_id(), false);
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

fn on_account_crash(
    myself: &ActorRef<WorkspaceMsg>,
    state: &mut WorkspaceState,
    account_id: AccountId,
    err: &str,
) {
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
        }
        RestartDecision::Degrade => {
            ctx.board.update_account(account_id, |a| {
                a.degraded = true;
                a.resident = false;
            });
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

/// Recomputes a post's status from its deliveries, stores it when it changed and emits the
/// matching event once.
async fn update_post_status(
    ctx: &Ctx,
    scope: WorkspaceScope,
    post_id: PostId,
) -> Result<(), crate::EngineError> {
    let Some(mut post) = ctx.store.get_post(scope, post_id).await? else {
        return Ok(());
    };
    if post.status == PostStatus::Draft {
        return Ok(());
    }
    let deliveries = ctx.store.list_deliveries_of_post(scope, post_id).await?;
    let states: Vec<_> = deliveries.iter().map(|d| d.state).collect();
    let status = post_status_from(&states);
    if status == post.status {
        return Ok(());
    }
    post.status = status;
    post.updated_at = ctx.now();
    ctx.store.update_post(scope, &post).await?;
    let kind = match status {
        PostStatus::Published => EventKind::PostPublished,
        PostStatus::PartiallyPublished => EventKind::PostPartiallyPublished,
        PostStatus::Failed => EventKind::PostFailed,
        _ => return Ok(()),
    };
    let reason = deliveries
        .iter()
        .filter_map(|d| {
            d.last_error
                .as_ref()
                .filter(|_| d.state == tenants::DeliveryState::Failed)
        })
        .map(|e| format!("{}: {}", e.code, e.message))
        .next();
    ctx.emit(EngineEvent {
        kind,
        workspace_id: scope.workspace_id(),
        post_id: Some(post_id),
        account_id: None,
        reason,
        at: ctx.now(),
    });
    Ok(())
}
