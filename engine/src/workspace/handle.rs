//! The workspace actor's messages and its typed handle.

use jiff::Timestamp;
use ractor::{ActorRef, RpcReplyPort};
use schema::DueRef;
use tenants::{AccountId, PostId};

/// What a workspace actor can be asked to do.
#[derive(Debug)]
pub enum WorkspaceMsg {
    /// Make sure the account's actor runs, loading due rows from `from`.
    Activate {
        /// The account.
        account_id: AccountId,
        /// Load due rows from here.
        from: Timestamp,
    },
    /// Deliveries were created or moved for an account.
    Schedule {
        /// The account.
        account_id: AccountId,
        /// Their due rows.
        refs: Vec<DueRef>,
    },
    /// A delivery of this post reached a terminal state: mark the post dirty; its status is
    /// recomputed in the next flush.
    PostChanged {
        /// The post.
        post_id: PostId,
    },
    /// Recompute and store the status of the posts marked dirty since the last flush (queued
    /// by the actor itself behind the `PostChanged` that marked them).
    FlushPosts,
    /// Wake every resident account actor (clock moved).
    WakeAll,
    /// The account record or tokens changed.
    AccountChanged {
        /// The account.
        account_id: AccountId,
    },
    /// Stop an account's actor (disconnect) and answer when it is gone.
    StopAccount {
        /// The account.
        account_id: AccountId,
        /// Answered once stopped.
        reply: RpcReplyPort<()>,
    },
    /// Restart a crashed account actor (sent by the supervisor after its backoff).
    Restart {
        /// The account.
        account_id: AccountId,
    },
    /// Fault hook for supervision tests: make the account actor panic.
    InjectPanic {
        /// The account.
        account_id: AccountId,
    },
    /// Stop every account actor (graceful shutdown), then answer.
    Drain {
        /// Answered once every child stopped or the deadline passed.
        reply: RpcReplyPort<()>,
    },
}

/// The typed API to one workspace actor.
#[derive(Debug, Clone)]
pub struct WorkspaceHandle {
    actor: ActorRef<WorkspaceMsg>,
}

impl WorkspaceHandle {
    /// Wraps an actor reference.
    pub fn new(actor: ActorRef<WorkspaceMsg>) -> Self {
        Self { actor }
    }

    /// The underlying actor.
    pub fn actor(&self) -> &ActorRef<WorkspaceMsg> {
        &self.actor
    }

    /// Sends a message; `false` if the actor is gone.
    pub fn send(&self, msg: WorkspaceMsg) -> bool {
        self.actor.cast(msg).is_ok()
    }

    /// Stops an account's actor and waits for it.
    pub async fn stop_account(&self, account_id: AccountId) -> bool {
        self.actor
            .call(
                |reply| WorkspaceMsg::StopAccount { account_id, reply },
                Some(std::time::Duration::from_secs(10)),
            )
            .await
            .is_ok()
    }
}
