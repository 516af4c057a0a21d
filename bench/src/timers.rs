//! The bare-tokio baseline: the same timers the engine arms, with no actors, store or partner.
//! Spike: `n` timers due at one instant; steady: `rate` per second for `secs` seconds; density:
//! `m` timers armed an hour out (arm time and memory). Each shape runs twice: one sleeping task
//! per timer (what one timer per account actor amounts to) and one `tokio_util` `DelayQueue`.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::time::DelayQueue;

use crate::lateness::summary;
use crate::report::{peak_rss_bytes, rss_bytes};

/// Runs every shape and returns the report body.
pub async fn run(
    spike: usize,
    rate: u64,
    secs: u64,
    density: usize,
    lead: Duration,
) -> anyhow::Result<Value> {
    let spike_due: Vec<Duration> = vec![Duration::ZERO; spike];
    let steady_due: Vec<Duration> = (0..rate * secs)
        .map(|i| Duration::from_micros(i * 1_000_000 / rate.max(1)))
        .collect();
    let spike_tasks = tasks(&spike_due, lead).await?;
    let spike_queue = queue(&spike_due, lead).await;
    let steady_tasks = tasks(&steady_due, lead).await?;
    let steady_queue = queue(&steady_due, lead).await;
    let density_tasks = density_tasks(density).await;
    let density_queue = density_queue(density);
    Ok(json!({
        "scenario": "timer-baseline",
        "spike": { "timers": spike, "tasks": spike_tasks, "delay_queue": spike_queue },
        "steady": { "rate_per_sec": rate, "secs": secs, "tasks": steady_tasks, "delay_queue": steady_queue },
        "density": { "timers": density, "tasks": density_tasks, "delay_queue": density_queue },
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

/// One task per timer, each sleeping until `start + lead + offset`, reporting its lateness.
async fn tasks(offsets: &[Duration], lead: Duration) -> anyhow::Result<Value> {
    let armed_at = Instant::now();
    let start = armed_at + lead;
    let mut set = JoinSet::new();
    for &off in offsets {
        let due = start + off;
        set.spawn(async move {
            tokio::time::sleep_until(due).await;
            Instant::now().duration_since(due).as_micros() as i64
        });
    }
    let arm_secs = armed_at.elapsed().as_secs_f64();
    let mut late = Vec::with_capacity(offsets.len());
    while let Some(res) = set.join_next().await {
        late.push(res?);
    }
    Ok(shape_report(late, start, offsets, arm_secs))
}

/// One `DelayQueue` holding every timer, drained by one task.
async fn queue(offsets: &[Duration], lead: Duration) -> Value {
    let armed_at = Instant::now();
    let start = armed_at + lead;
    let mut q = DelayQueue::with_capacity(offsets.len());
    for &off in offsets {
        q.insert_at(start + off, start + off);
    }
    let arm_secs = armed_at.elapsed().as_secs_f64();
    let mut late = Vec::with_capacity(offsets.len());
    while let Some(expired) = q.next().await {
        let due = expired.into_inner();
        late.push(Instant::now().duration_since(due).as_micros() as i64);
    }
    shape_report(late, start, offsets, arm_secs)
}

fn shape_report(late: Vec<i64>, start: Instant, offsets: &[Duration], arm_secs: f64) -> Value {
    let last_due = start + offsets.iter().copied().max().unwrap_or_default();
    let drained_after_last_due_ms = Instant::now().duration_since(last_due).as_secs_f64() * 1e3;
    let n = late.len();
    json!({
        "arm_secs": arm_secs,
        "drained_after_last_due_ms": drained_after_last_due_ms,
        "timers_per_sec_first_due_to_drained":
            n as f64 / Instant::now().duration_since(start).as_secs_f64().max(1e-9),
        "lateness": summary(late),
    })
}

/// `m` sleeping tasks an hour out: time to arm them and the memory they hold.
async fn density_tasks(m: usize) -> Value {
    let before = rss_bytes();
    let started = Instant::now();
    let due = Instant::now() + Duration::from_secs(3600);
    let mut set = JoinSet::new();
    for _ in 0..m {
        set.spawn(tokio::time::sleep_until(due));
    }
    // Let every task run once so its timer is registered with the driver.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let arm_secs = started.elapsed().as_secs_f64();
    let rss = rss_bytes();
    set.abort_all();
    while set.join_next().await.is_some() {}
    json!({
        "arm_secs": arm_secs,
        "rss_delta_bytes": rss.saturating_sub(before),
        "bytes_per_timer": rss.saturating_sub(before) as f64 / m.max(1) as f64,
    })
}

/// `m` entries in one `DelayQueue` an hour out.
fn density_queue(m: usize) -> Value {
    let before = rss_bytes();
    let started = Instant::now();
    let due = Instant::now() + Duration::from_secs(3600);
    let mut q = DelayQueue::with_capacity(m);
    for i in 0..m {
        q.insert_at(i, due);
    }
    let arm_secs = started.elapsed().as_secs_f64();
    let rss = rss_bytes();
    drop(q);
    json!({
        "arm_secs": arm_secs,
        "rss_delta_bytes": rss.saturating_sub(before),
        "bytes_per_timer": rss.saturating_sub(before) as f64 / m.max(1) as f64,
    })
}
