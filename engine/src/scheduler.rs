//! Activation: the scheduler wakes only the account actors that have work in the next window, so
//! idle accounts cost nothing in memory. It scans the due index (`due_by_bucket`) shard by shard
//! (one node owns all shards on the embedded store) over the hour buckets of
//! `[now - sweep_lookback, now + window)`, and tells each workspace actor to activate the
//! accounts found. At start-up a recovery pass activates every account with any due, non-terminal
//! delivery, including ones a crash left in `submitting`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use futures::{StreamExt as _, TryStreamExt as _};
use jiff::Timestamp;
use schema::{AccountScope, DueRef, NUM_SHARDS, PageRequest, WorkspaceScope, hour_bucket};
use tenants::{AccountId, AccountStatus, DeliveryId, WorkspaceId};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::context::Ctx;
use crate::engine::RootHandle;
use crate::error::EngineError;
use crate::workspace::WorkspaceMsg;

const PAGE: usize = 1000;

/// The scheduler's memory of due rows already handed to an actor, so an idle account is not
/// woken again for the same row.
#[derive(Debug, Default)]
pub struct Scheduler {
    seen: HashMap<DeliveryId, Timestamp>,
}

impl Scheduler {
    /// Scans the due window once and activates the accounts with new due rows. Returns how many
    /// accounts were activated.
    ///
    /// # Errors
    /// Store failures.
    pub async fn scan(&mut self, ctx: &Ctx, root: &RootHandle) -> Result<usize, EngineError> {
        let now = ctx.now();
        let from = now - ctx.tuning.sweep_lookback;
        let to = now + ctx.tuning.window;
        self.seen.retain(|_, at| *at >= from);
        let mut wake: BTreeMap<WorkspaceId, BTreeMap<AccountId, Timestamp>> = BTreeMap::new();
        for_each_due_row(ctx, from, to, |r| {
            if r.due_at >= to || self.seen.insert(r.delivery_id, r.due_at) == Some(r.due_at) {
                return;
            }
            let earliest = wake
                .entry(r.workspace_id)
                .or_default()
                .entry(r.account_id)
                .or_insert(r.due_at);
            *earliest = (*earliest).min(r.due_at);
        })
        .await?;
        ctx.board.num_scans.fetch_add(1, Ordering::Relaxed);
        let mut num = 0;
        for (ws, accounts) in wake {
            let Ok(handle) = root.workspace(WorkspaceScope::authorized(ws)).await else {
                continue;
            };
            for (account_id, earliest) in accounts {
                num += 1;
                handle.send(WorkspaceMsg::Activate {
                    account_id,
                    from: earliest.min(from),
                });
            }
        }
        Ok(num)
    }
}

/// Calls `f` with every live due row in `[from, to]` (both ends included), over every shard's
/// hour buckets, a page at a time.
///
/// # Errors
/// Store failures.
pub(crate) async fn for_each_due_row(
    ctx: &Ctx,
    from: Timestamp,
    to: Timestamp,
    mut f: impl FnMut(&DueRef),
) -> Result<(), EngineError> {
    for shard in 0..NUM_SHARDS {
        for bucket in hour_bucket(from)..=hour_bucket(to) {
            let mut page = PageRequest::first(PAGE);
            loop {
                let rows = ctx.store.due_in_bucket(shard, bucket, page.clone()).await?;
                rows.items
                    .iter()
                    .filter(|r| r.due_at >= from && r.due_at <= to)
                    .for_each(&mut f);
                match rows.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    Ok(())
}

/// Account reads of the recovery pass in flight at once.
const RECOVERY_CONCURRENCY: usize = 64;

/// The start-up recovery pass: activates every account of every workspace that has a due row in
/// `[epoch, now + window)`. The actor then loads and acts on what is really due and not terminal.
/// Workspaces are taken a page at a time; their account lists and each account's due check are
/// read concurrently (at most [`RECOVERY_CONCURRENCY`] reads in flight), since one read at a
/// time would make start-up as long as the number of accounts times a read.
///
/// # Errors
/// Store failures.
pub async fn recover(ctx: &Ctx, root: &RootHandle) -> Result<usize, EngineError> {
    let to = ctx.now() + ctx.tuning.window;
    let mut num = 0;
    let mut page = PageRequest::first(PAGE);
    loop {
        let workspaces = ctx.store.list_all_workspaces(page.clone()).await?;
        let scopes = workspaces
            .items
            .iter()
            .map(|w| WorkspaceScope::authorized(w.id));
        let accounts: Vec<Vec<AccountScope>> = futures::stream::iter(scopes)
            .map(|scope| accounts_to_check(ctx, scope))
            .buffered(RECOVERY_CONCURRENCY)
            .try_collect()
            .await?;
        let due: Vec<Option<AccountScope>> = futures::stream::iter(accounts.into_iter().flatten())
            .map(|scope| async move {
                let due = ctx
                    .store
                    .account_due(scope, Timestamp::UNIX_EPOCH, to, 1)
                    .await?;
                Ok::<_, EngineError>((!due.is_empty()).then_some(scope))
            })
            .buffered(RECOVERY_CONCURRENCY)
            .try_collect()
            .await?;
        let mut handle = None;
        for scope in due.into_iter().flatten() {
            let ws = scope.workspace();
            if handle.as_ref().is_none_or(|(at, _)| *at != ws) {
                handle = Some((ws, root.workspace(ws).await.ok()));
            }
            if let Some((_, Some(h))) = &handle {
                num += 1;
                h.send(WorkspaceMsg::Activate {
                    account_id: scope.account_id(),
                    from: Timestamp::UNIX_EPOCH,
                });
            }
        }
        match workspaces.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    tracing::info!(num_accounts = num, "recovery pass activated accounts");
    Ok(num)
}

/// The workspace's accounts that are not disconnected, every page.
async fn accounts_to_check(
    ctx: &Ctx,
    scope: WorkspaceScope,
) -> Result<Vec<AccountScope>, EngineError> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(PAGE);
    loop {
        let accounts = ctx.store.list_accounts(scope, page.clone()).await?;
        out.extend(
            accounts
                .items
                .iter()
                .filter(|a| a.status != AccountStatus::Disconnected)
                .map(|a| scope.account(a.id)),
        );
        match accounts.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Runs the periodic sweep until `cancel`: every `scan_interval`, and at once for each request on
/// `scan_rx` (answered when that scan is done). The loop owns the scheduler, so scans never overlap
/// and no lock is needed.
pub fn run(
    ctx: Ctx,
    root: RootHandle,
    mut scan_rx: mpsc::Receiver<oneshot::Sender<()>>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    crate::runtime::spawn(async move {
        let mut scheduler = Scheduler::default();
        loop {
            let done_tx = tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(ctx.tuning.scan_interval) => None,
                req = scan_rx.recv() => match req {
                    Some(done_tx) => Some(done_tx),
                    None => break,
                },
            };
            if let Err(e) = scheduler.scan(&ctx, &root).await {
                tracing::warn!(error = %e, "due-window scan failed");
            }
            if let Some(done_tx) = done_tx {
                let _ = done_tx.send(());
            }
        }
    })
}
