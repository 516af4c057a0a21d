//! The one place the engine starts detached tasks. Actors are started through ractor; everything
//! else that must run in the background (the scheduler loop) goes through [`spawn`], so a review
//! of concurrency starts here.

use std::future::Future;

use tokio::task::JoinHandle;

/// Starts `future` on the current tokio runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}
