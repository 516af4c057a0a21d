//! Storage benchmark on the embedded store: how fast deliveries are written (posts with their
//! delivery and due-index rows, group-committed durably), how fast an account's due window and a
//! shard's due bucket are read, and how fast compare-and-set transitions go.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use schema::{PageRequest, Store, StoreUrl, WorkspaceScope};
use serde_json::{Value, json};
use tenants::{
    AccountId, AccountStatus, ConnectedAccount, DeliveryEvent, DeliveryId, Membership, Platform,
    PostId, Role, UserId, Workspace, WorkspaceId,
};
use tokio::task::JoinSet;

use crate::engine_env::post_with_delivery;
use crate::report::peak_rss_bytes;

const NUM_WORKSPACES: usize = 10;

/// Runs the scenario and returns the report body.
pub async fn run(deliveries: usize, accounts: usize, concurrency: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.redb");
    let url = StoreUrl::parse(&format!("redb://{}", path.display()))?;
    schema::migrate(&url).await?;
    let store = schema::open_store(&url).await?;
    let now = Timestamp::now();

    let workspaces: Vec<WorkspaceId> = (0..NUM_WORKSPACES).map(|_| WorkspaceId::new()).collect();
    for ws in &workspaces {
        let workspace = Workspace {
            id: *ws,
            name: "bench".into(),
            timezone: "UTC".into(),
            created_at: now,
            deletion_requested_at: None,
            processing_restricted: false,
        };
        let owner = Membership {
            workspace_id: *ws,
            user_id: UserId::new(),
            role: Role::Owner,
            created_at: now,
        };
        store.create_workspace(&workspace, &owner).await?;
    }
    let account_ids: Vec<(WorkspaceId, AccountId)> = (0..accounts)
        .map(|i| (workspaces[i % NUM_WORKSPACES], AccountId::new()))
        .collect();
    for (ws, id) in &account_ids {
        store
            .put_account(WorkspaceScope::authorized(*ws), &account(*ws, *id, now))
            .await?;
    }

    // Writes: one post with one delivery each, `concurrency` in flight, due over the next 7 days.
    let started = Instant::now();
    let mut set = JoinSet::new();
    let mut written = Vec::with_capacity(deliveries);
    for i in 0..deliveries {
        let (ws, acc) = account_ids[i % account_ids.len()];
        let due_at =
            now + SignedDuration::from_secs(60 + (i as i64 * 7 * 86_400) / deliveries as i64);
        let (post, delivery) = post_with_delivery(ws, acc, Platform::Instagram, due_at, now);
        written.push((ws, acc, post.id, delivery.id));
        let store = Arc::clone(&store);
        set.spawn(async move {
            store
                .create_post(WorkspaceScope::authorized(ws), &post, &[delivery])
                .await
        });
        if set.len() >= concurrency {
            set.join_next().await.context("writer task")???;
        }
    }
    while let Some(res) = set.join_next().await {
        res??;
    }
    let write_secs = started.elapsed().as_secs_f64();

    // Due-window reads: the next 24 h of one account, at random.
    let reads = 20_000.min(deliveries * 4);
    let started = Instant::now();
    let mut rows_read = 0usize;
    for i in 0..reads {
        let (ws, acc) = account_ids[(i * 7919) % account_ids.len()];
        let scope = WorkspaceScope::authorized(ws).account(acc);
        let due = store
            .account_due(scope, now, now + SignedDuration::from_hours(24), 100)
            .await?;
        rows_read += due.len();
    }
    let read_secs = started.elapsed().as_secs_f64();

    // Bucket scan: every shard's next-hour bucket, paged, as the scheduler does.
    let started = Instant::now();
    let mut bucket_rows = 0usize;
    let first = schema::hour_bucket(now);
    for bucket in first..first + 24 {
        for shard in 0..schema::NUM_SHARDS {
            let mut page = PageRequest::first(1000);
            loop {
                let got = store.due_in_bucket(shard, bucket, page.clone()).await?;
                bucket_rows += got.items.len();
                match got.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    let bucket_secs = started.elapsed().as_secs_f64();

    // Compare-and-set transitions, concurrently.
    let cas_count = 20_000.min(deliveries);
    let started = Instant::now();
    let mut set = JoinSet::new();
    for (ws, acc, post_id, id) in written.iter().take(cas_count).copied() {
        let store = Arc::clone(&store);
        set.spawn(async move { submit(&*store, ws, acc, post_id, id).await });
        if set.len() >= concurrency {
            set.join_next().await.context("cas task")???;
        }
    }
    while let Some(res) = set.join_next().await {
        res??;
    }
    let cas_secs = started.elapsed().as_secs_f64();
    let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    Ok(json!({
        "scenario": "storage",
        "backend": "redb",
        "deliveries": deliveries,
        "accounts": accounts,
        "concurrency": concurrency,
        "write": { "seconds": write_secs, "deliveries_per_sec": deliveries as f64 / write_secs },
        "account_due_reads": { "reads": reads, "rows": rows_read, "seconds": read_secs, "reads_per_sec": reads as f64 / read_secs },
        "bucket_scan": { "buckets": 24 * schema::NUM_SHARDS as usize, "rows": bucket_rows, "seconds": bucket_secs, "rows_per_sec": bucket_rows as f64 / bucket_secs },
        "cas_transitions": { "count": cas_count, "seconds": cas_secs, "per_sec": cas_count as f64 / cas_secs },
        "file_bytes": file_bytes,
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

async fn submit(
    store: &dyn Store,
    ws: WorkspaceId,
    acc: AccountId,
    post_id: PostId,
    id: DeliveryId,
) -> anyhow::Result<()> {
    let scope = WorkspaceScope::authorized(ws);
    let current = store
        .get_delivery(scope, post_id, id)
        .await?
        .context("delivery written by the benchmark is missing")?;
    let next = current.apply(&DeliveryEvent::Submit, Timestamp::now())?;
    let outcome = store
        .transition(scope.account(acc), current.version, &next)
        .await?;
    anyhow::ensure!(
        outcome == schema::CasOutcome::Applied,
        "uncontended transition lost"
    );
    Ok(())
}

fn account(ws: WorkspaceId, id: AccountId, now: Timestamp) -> ConnectedAccount {
    ConnectedAccount {
        id,
        workspace_id: ws,
        platform: Platform::Instagram,
        platform_user_id: id.to_string(),
        partner_account_id: Some(id.to_string()),
        username: format!("bench_{id}"),
        display_name: "Bench".into(),
        avatar_url: None,
        status: AccountStatus::Active,
        status_reason: None,
        access_expires_at: None,
        refresh_expires_at: None,
        token_hint: None,
        connected_at: now,
        updated_at: now,
    }
}
