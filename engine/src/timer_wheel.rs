//! One timer task for every account actor.
//!
//! An account actor arms one timer at a time (its next due time). A tokio task per timer, as
//! `ActorRef::send_after` starts, costs a task and a sleep per resident account; here a single
//! task keeps every armed timer in one [`DelayQueue`] (tens of bytes each) and sends
//! [`AccountMsg::Timer`] to the actor when it expires. Dropping the [`ArmedTimer`] an arm
//! returns cancels it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;

use crate::account::AccountMsg;

enum Command {
    Arm {
        id: u64,
        deadline: Instant,
        target: ActorRef<AccountMsg>,
    },
    Cancel(u64),
}

/// The handle to the timer task; cheap to clone. The task ends when the last handle and every
/// [`ArmedTimer`] are dropped.
#[derive(Clone)]
pub struct TimerWheel {
    commands: mpsc::UnboundedSender<Command>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerWheel").finish_non_exhaustive()
    }
}

/// One armed timer; dropping it cancels the timer if it has not fired.
#[derive(Debug)]
pub struct ArmedTimer {
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl ArmedTimer {
    /// The id the expiry message carries.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for ArmedTimer {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Cancel(self.id));
    }
}

impl TimerWheel {
    /// Starts the timer task on the current runtime.
    pub fn start() -> TimerWheel {
        let (commands, rx) = mpsc::unbounded_channel();
        crate::runtime::spawn(run(rx));
        TimerWheel {
            commands,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Sends [`AccountMsg::Timer`] with the returned timer's id to `target` after `delay`.
    pub fn arm(&self, target: &ActorRef<AccountMsg>, delay: Duration) -> ArmedTimer {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.commands.send(Command::Arm {
            id,
            deadline: Instant::now() + delay,
            target: target.clone(),
        });
        ArmedTimer {
            id,
            commands: self.commands.clone(),
        }
    }
}

async fn run(mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut queue: DelayQueue<(u64, ActorRef<AccountMsg>)> = DelayQueue::new();
    let mut keys: HashMap<u64, Key> = HashMap::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Arm { id, deadline, target }) => {
                    keys.insert(id, queue.insert_at((id, target), deadline));
                }
                Some(Command::Cancel(id)) => {
                    if let Some(key) = keys.remove(&id) {
                        queue.remove(&key);
                    }
                }
                None => return,
            },
            Some(expired) = std::future::poll_fn(|cx| queue.poll_expired(cx)) => {
                let (id, target) = expired.into_inner();
                keys.remove(&id);
                // The actor may be gone (passivated, stopped): nothing to wake then.
                let _ = target.cast(AccountMsg::Timer(id));
            }
        }
        if keys.is_empty() && keys.capacity() > 1024 {
            keys.shrink_to_fit();
        }
    }
}
