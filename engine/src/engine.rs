//! The root supervisor: starts one workspace actor per workspace on demand, restarts a crashed
//! one, and drains them top-down on shutdown.

use std::collections::HashMap;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use schema::WorkspaceScope;
use tenants::WorkspaceId;

use crate::context::Ctx;
use crate::error::EngineError;
use crate::workspace::{WorkspaceActor, WorkspaceHandle, WorkspaceMsg};

/// The root actor.
#[derive(Debug)]
pub struct EngineActor;

/// What the root holds.
#[derive(Debug)]
pub struct EngineState {
    ctx: Ctx,
    workspaces: HashMap<WorkspaceId, WorkspaceHandle>,
    by_actor: HashMap<ActorId, WorkspaceId>,
}

/// What the root can be asked.
#[derive(Debug)]
pub enum EngineMsg {
    /// The workspace's actor, started if needed (`None` if the workspace does not exist).
    Workspace {
        /// The workspace.
        scope: WorkspaceScope,
        /// The answer.
        reply: RpcReplyPort<Option<WorkspaceHandle>>,
    },
    /// Every resident workspace actor.
    Resident {
        /// The answer.
        reply: RpcReplyPort<Vec<WorkspaceHandle>>,
    },
    /// Stop a workspace's actor (erasure) and answer once it is gone.
    StopWorkspace {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// Answered once stopped.
        reply: RpcReplyPort<()>,
    },
    /// Drain every workspace (top-down), then answer.
    Drain {
        /// Answered when done or at the deadline.
        reply: RpcReplyPort<()>,
    },
}

impl Actor for EngineActor {
    type Msg = EngineMsg;
    type State = EngineState;
    type Arguments = Ctx;

    async fn pre_start(
        &self,
        _myself: ActorRef<EngineMsg>,
        ctx: Ctx,
    ) -> Result<EngineState, ActorProcessingErr> {
        Ok(EngineState {
            ctx,
            workspaces: HashMap::new(),
            by_actor: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<EngineMsg>,
        msg: EngineMsg,
        state: &mut EngineState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EngineMsg::Workspace { scope, reply } => {
                let handle = workspace(&myself, state, scope).await;
                let _ = reply.send(handle);
            }
            EngineMsg::Resident { reply } => {
                let _ = reply.send(state.workspaces.values().cloned().collect());
            }
            EngineMsg::StopWorkspace {
                workspace_id,
                reply,
            } => {
                if let Some(h) = state.workspaces.remove(&workspace_id) {
                    state.by_actor.remove(&h.actor().get_id());
                    let deadline = state.ctx.tuning.shutdown_deadline;
                    let _ = h
                        .actor()
                        .stop_and_wait(Some("erased".into()), Some(deadline))
                        .await;
                    state.ctx.board.set_workspace(workspace_id, false);
                }
                let _ = reply.send(());
            }
            EngineMsg::Drain { reply } => {
                let deadline = state.ctx.tuning.shutdown_deadline;
                let drains = state.workspaces.drain().map(|(_, h)| async move {
                    let _ = h
                        .actor()
                        .call(|reply| WorkspaceMsg::Drain { reply }, Some(deadline))
                        .await;
                    let _ = h
                        .actor()
                        .stop_and_wait(Some("shutdown".into()), Some(deadline))
                        .await;
                });
                futures::future::join_all(drains).await;
                state.by_actor.clear();
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<EngineMsg>,
        evt: SupervisionEvent,
        state: &mut EngineState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorTerminated(cell, _, _)
            | SupervisionEvent::ActorFailed(cell, _) => {
                if let Some(id) = state.by_actor.remove(&cell.get_id()) {
                    // Started again on its next use; its accounts reload from the store.
                    state.workspaces.remove(&id);
                    state.ctx.board.set_workspace(id, false);
                    tracing::warn!(workspace_id = %id, "workspace actor stopped");
                }
            }
            _ => {}
        }
        Ok(())
    }
}

async fn workspace(
    myself: &ActorRef<EngineMsg>,
    state: &mut EngineState,
    scope: WorkspaceScope,
) -> Option<WorkspaceHandle> {
    let id = scope.workspace_id();
    if let Some(h) = state.workspaces.get(&id) {
        return Some(h.clone());
    }
    match state.ctx.store.get_workspace(scope).await {
        // An erased workspace is gone at once, even before the purge removes its rows.
        Ok(Some(w)) if w.deletion_requested_at.is_none() => {}
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(workspace_id = %id, error = %e, "cannot read workspace");
            return None;
        }
    }
    let (actor, _) = Actor::spawn_linked(
        None,
        WorkspaceActor,
        (state.ctx.clone(), scope),
        myself.get_cell(),
    )
    .await
    .map_err(|e| tracing::warn!(workspace_id = %id, error = %e, "workspace actor did not start"))
    .ok()?;
    let handle = WorkspaceHandle::new(actor);
    state.by_actor.insert(handle.actor().get_id(), id);
    state.workspaces.insert(id, handle.clone());
    Some(handle)
}

/// The typed API to the root actor.
#[derive(Debug, Clone)]
pub struct RootHandle {
    actor: ActorRef<EngineMsg>,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl RootHandle {
    /// Wraps the root actor.
    pub fn new(actor: ActorRef<EngineMsg>) -> Self {
        Self { actor }
    }

    /// The root actor.
    pub fn actor(&self) -> &ActorRef<EngineMsg> {
        &self.actor
    }

    /// The workspace's actor, started if needed.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown workspace, [`EngineError::Unavailable`] when the
    /// root is down.
    pub async fn workspace(&self, scope: WorkspaceScope) -> Result<WorkspaceHandle, EngineError> {
        let answer = self
            .actor
            .call(
                |reply| EngineMsg::Workspace { scope, reply },
                Some(CALL_TIMEOUT),
            )
            .await
            .map_err(|e| EngineError::Unavailable(format!("engine root: {e}")))?;
        match answer {
            ractor::rpc::CallResult::Success(Some(h)) => Ok(h),
            ractor::rpc::CallResult::Success(None) => Err(EngineError::NotFound {
                kind: "workspace",
                id: scope.workspace_id().to_string(),
            }),
            _ => Err(EngineError::Unavailable(
                "engine root did not answer".into(),
            )),
        }
    }

    /// Stops a workspace's actor (and its accounts') and waits for it.
    pub async fn stop_workspace(&self, workspace_id: WorkspaceId) {
        let _ = self
            .actor
            .call(
                |reply| EngineMsg::StopWorkspace {
                    workspace_id,
                    reply,
                },
                Some(CALL_TIMEOUT),
            )
            .await;
    }

    /// Every resident workspace actor.
    pub async fn resident(&self) -> Vec<WorkspaceHandle> {
        match self
            .actor
            .call(|reply| EngineMsg::Resident { reply }, Some(CALL_TIMEOUT))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(v)) => v,
            _ => Vec::new(),
        }
    }
}
