//! Density and restart: a store holding many accounts with many pending deliveries, and a fresh
//! engine process booting on it. The parent bulk-loads the store (or reuses one it loaded
//! before), then starts `bench engine-boot` as a child process, which opens the store, starts the
//! engine (the recovery pass activates every account with work in its window) and waits until
//! every account actor is resident with its window loaded and its timer armed. The child reports
//! its time from process start to that point and its memory, so neither includes the bulk load.
//!
//! Deliveries are due evenly between `due_from_mins` and `due_to_mins` after the load; with the
//! default 10..50 min they all sit inside the engine's 60-minute activation window, the worst
//! case for memory (every account resident). Nothing is due while the child runs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use engine::EngineTuning;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::engine_env;
use crate::report::{peak_rss_bytes, rss_bytes};

/// What to load.
#[derive(Debug, Clone)]
pub struct Population {
    /// Accounts.
    pub num_accounts: usize,
    /// Pending deliveries, spread round robin over the accounts.
    pub num_deliveries: usize,
    /// Accounts per workspace.
    pub per_workspace: usize,
    /// First due time, minutes after the load.
    pub due_from_mins: u64,
    /// Last due time, minutes after the load.
    pub due_to_mins: u64,
}

const STORE_FILE: &str = "store.redb";
const MARKER_FILE: &str = "population.json";

/// Loads the store into `dir` unless it already holds this population; returns the load report.
pub async fn ensure_population(dir: &Path, p: &Population) -> anyhow::Result<Value> {
    let marker = dir.join(MARKER_FILE);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let loaded: Value = serde_json::from_str(&text)?;
        let same = loaded["accounts"] == p.num_accounts && loaded["deliveries"] == p.num_deliveries;
        let first_due: Option<Timestamp> =
            loaded["first_due"].as_str().and_then(|s| s.parse().ok());
        if same && first_due.is_some_and(|t| t > Timestamp::now() + SignedDuration::from_mins(3)) {
            return Ok(json!({ "reused": true, "load": loaded }));
        }
        anyhow::bail!(
            "{} holds another or a stale population; use an empty dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let store = engine_env::open_store(&dir.join(STORE_FILE)).await?;
    let started = Instant::now();
    let accounts =
        engine_env::provision_accounts(&store, p.num_accounts, p.per_workspace, None).await?;
    let accounts_secs = started.elapsed().as_secs_f64();
    let now = Timestamp::now();
    let from_us = (p.due_from_mins * 60_000_000) as i64;
    let span_us = (p.due_to_mins.saturating_sub(p.due_from_mins) * 60_000_000) as i64;
    let n = p.num_deliveries.max(1) as i64;
    let due: Vec<Timestamp> = (0..n)
        .map(|i| now + SignedDuration::from_micros(from_us + span_us * i / n))
        .collect();
    let started = Instant::now();
    engine_env::write_deliveries(&store, &accounts, &due).await?;
    let deliveries_secs = started.elapsed().as_secs_f64();
    drop(store);
    let file_bytes = std::fs::metadata(dir.join(STORE_FILE)).map_or(0, |m| m.len());
    let loaded = json!({
        "accounts": p.num_accounts,
        "deliveries": p.num_deliveries,
        "workspaces": p.num_accounts.div_ceil(p.per_workspace.max(1)),
        "first_due": due.first().map(|t| t.to_string()),
        "last_due": due.last().map(|t| t.to_string()),
        "load_accounts_secs": accounts_secs,
        "load_deliveries_secs": deliveries_secs,
        "deliveries_per_sec": p.num_deliveries as f64 / deliveries_secs.max(1e-9),
        "store_file_bytes": file_bytes,
    });
    std::fs::write(&marker, serde_json::to_string_pretty(&loaded)?)?;
    Ok(json!({ "reused": false, "load": loaded }))
}

/// Loads (or reuses) the population, boots a child engine process on it and returns both reports.
pub async fn run(
    dir: Option<PathBuf>,
    p: &Population,
    timeout: Duration,
) -> anyhow::Result<(Value, Value)> {
    let temp;
    let dir = match dir {
        Some(d) => d,
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let load = ensure_population(&dir, p).await?;
    let num_active = p.num_accounts.min(p.num_deliveries);
    let exe = std::env::current_exe()?;
    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .arg("engine-boot")
        .arg("--store")
        .arg(dir.join(STORE_FILE))
        .arg("--accounts")
        .arg(num_active.to_string())
        .arg("--deliveries")
        .arg(p.num_deliveries.to_string())
        .arg("--timeout-secs")
        .arg(timeout.as_secs().to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(timeout + Duration::from_secs(30), lines.next_line())
        .await
        .context("the booting engine did not report in time")??
        .context("the booting engine exited without a report")?;
    let spawn_to_report_secs = spawned.elapsed().as_secs_f64();
    let boot: Value = serde_json::from_str(&line)?;
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let mut boot = boot;
    boot["parent_spawn_to_report_secs"] = json!(spawn_to_report_secs);
    Ok((load, boot))
}

/// The child side: boots the engine on `store_path` and prints one JSON line when every
/// `num_accounts` actor is armed with `num_deliveries` loaded, then exits without draining
/// (an abrupt stop, as a crash would be; the store is untouched).
pub async fn boot(
    process_start: Instant,
    store_path: &Path,
    num_accounts: usize,
    num_deliveries: usize,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let started = Instant::now();
    let store = engine_env::open_store(store_path).await?;
    let open_secs = started.elapsed().as_secs_f64();
    let rss_before_engine = rss_bytes();
    let vault = engine_env::vault(&store)?;
    let started = Instant::now();
    // Nothing is due while the child runs, so the partner is never called.
    let engine = engine_env::start_engine(
        Arc::clone(&store),
        vault,
        "http://127.0.0.1:9",
        EngineTuning::default(),
        engine::partner::PartnerHttp::H2c,
    )
    .await?;
    let recovery_secs = started.elapsed().as_secs_f64();
    let handle = engine.handle();
    let armed = engine_env::wait_armed(&handle, num_accounts, num_deliveries, timeout).await;
    let ready_secs = process_start.elapsed().as_secs_f64();
    let rss = rss_bytes();
    let seen = handle.observe_totals();
    let num_pending = seen.num_pending;
    let num_armed = seen.num_timers_armed;
    let num_resident = seen.num_accounts_resident;
    Ok(json!({
        "all_armed": armed.is_some(),
        "process_start_to_ready_armed_secs": ready_secs,
        "open_store_secs": open_secs,
        "engine_start_recovery_pass_secs": recovery_secs,
        "engine_start_to_armed_secs": armed.map(|d| d.as_secs_f64()),
        "num_accounts_resident": num_resident,
        "num_workspaces_resident": seen.num_workspaces_resident,
        "num_actors_resident": num_resident + seen.num_workspaces_resident + 1,
        "num_timers_armed": num_armed,
        "num_deliveries_in_windows": num_pending,
        "rss_bytes_at_ready": rss,
        "rss_bytes_before_engine": rss_before_engine,
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_bytes_per_resident_account": (rss.saturating_sub(rss_before_engine)) as f64
            / num_resident.max(1) as f64,
    }))
}
