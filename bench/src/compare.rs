//! Ratios of the engine's figures to its baselines: the bare-tokio timers (`timer-baseline.json`)
//! and BullMQ on Redis (`bullmq.json`, from `bench/peers/bullmq/run.sh`), for every report found.
//! A ratio is ours divided by theirs: below 1 is better for times and memory, above 1 is better
//! for throughput.

use std::path::Path;

use serde_json::{Value, json};

/// Reads the reports in `dir` and returns the comparison.
pub fn run(dir: &Path) -> anyhow::Result<Value> {
    let read = |name: &str| -> Value {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map_or(Value::Null, |v| v["result"].clone())
    };
    let spike = read("engine-spike.json");
    let steady = read("engine-steady.json");
    let density = read("engine-density.json");
    let restart = read("engine-restart.json");
    let tokio = read("timer-baseline.json");
    let bull = read("bullmq.json");
    let plain = &bull["runs"]["no_persistence"];
    let aof = &bull["runs"]["aof_everysec"];

    let spike_s = |v: &Value, path: &str| get(v, path).map(|ms| ms / 1000.0);
    let ours_drain = spike_s(&spike, "completion.last_durable_publish_after_last_due_ms");
    let ours_p50 = get(&spike, "lateness_durable_published.p50_ms");
    let ours_p99 = get(&spike, "lateness_durable_published.p99_ms");
    let ours_rate = get(
        &spike,
        "throughput.deliveries_per_sec_first_due_to_last_published",
    );
    let steady_p99 = get(&steady, "lateness_durable_published.p99_ms");
    let steady_max = get(&steady, "lateness_durable_published.max_ms");
    let rss = get(&density, "rss_bytes_at_ready");
    let ready = get(&restart, "process_start_to_ready_armed_secs");

    Ok(json!({
        "ratio_is": "ours / theirs (below 1 is better for times and memory, above 1 for throughput)",
        "spike": {
            "goal_drain_secs": 8.0,
            "ours_drain_secs": ours_drain,
            "ours_p50_ms": ours_p50,
            "ours_p99_ms": ours_p99,
            "vs_tokio_tasks": row(ours_drain, spike_s(&tokio, "spike.tasks.drained_after_last_due_ms")),
            "vs_tokio_delay_queue": row(ours_drain, spike_s(&tokio, "spike.delay_queue.drained_after_last_due_ms")),
            "vs_bullmq_no_persistence": row(ours_drain, spike_s(plain, "spike.drained_after_due_ms")),
            "vs_bullmq_aof_everysec": row(ours_drain, spike_s(aof, "spike.drained_after_due_ms")),
            "p50_vs_bullmq_no_persistence": row(ours_p50, get(plain, "spike.lateness.p50_ms")),
            "p50_vs_bullmq_aof_everysec": row(ours_p50, get(aof, "spike.lateness.p50_ms")),
        },
        "throughput": {
            "goal_per_sec": 10_000.0,
            "ours_per_sec": ours_rate,
            "vs_tokio_tasks": row(ours_rate, get(&tokio, "spike.tasks.timers_per_sec_first_due_to_drained")),
            "vs_bullmq_no_persistence": row(ours_rate, get(plain, "spike.jobs_per_sec")),
            "vs_bullmq_aof_everysec": row(ours_rate, get(aof, "spike.jobs_per_sec")),
        },
        "steady": {
            "goal_p99_ms": 50.0,
            "ours_p99_ms": steady_p99,
            "ours_max_ms": steady_max,
            "p99_vs_tokio_tasks": row(steady_p99, get(&tokio, "steady.tasks.lateness.p99_ms")),
            "p99_vs_tokio_delay_queue": row(steady_p99, get(&tokio, "steady.delay_queue.lateness.p99_ms")),
            "p99_vs_bullmq_no_persistence": row(steady_p99, get(plain, "steady.lateness.p99_ms")),
            "p99_vs_bullmq_aof_everysec": row(steady_p99, get(aof, "steady.lateness.p99_ms")),
            "max_vs_bullmq_no_persistence": row(steady_max, get(plain, "steady.lateness.max_ms")),
            "max_vs_bullmq_aof_everysec": row(steady_max, get(aof, "steady.lateness.max_ms")),
        },
        "density": {
            "goal_rss_bytes": (1u64 << 30) as f64,
            "ours_rss_bytes": rss,
            "vs_tokio_tasks_rss_delta": row(rss, get(&tokio, "density.tasks.rss_delta_bytes")),
            "vs_bullmq_redis_used_memory_peak_no_persistence": row(rss, get(plain, "density.redis_used_memory_peak_bytes")),
        },
        "restart": {
            "goal_secs": 10.0,
            "ours_secs": ready,
            "vs_tokio_arm_tasks": row(ready, get(&tokio, "density.tasks.arm_secs")),
            "vs_tokio_arm_delay_queue": row(ready, get(&tokio, "density.delay_queue.arm_secs")),
        },
    }))
}

fn row(ours: Option<f64>, theirs: Option<f64>) -> Value {
    let ratio = match (ours, theirs) {
        (Some(o), Some(t)) if t > 0.0 => Some(o / t),
        _ => None,
    };
    json!({ "theirs": theirs, "ratio": ratio })
}

/// The number at a dotted `path` in `v`.
fn get(v: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ratio_divides_ours_by_theirs_and_skips_missing_figures() {
        assert_eq!(row(Some(4.0), Some(2.0))["ratio"], 2.0);
        assert!(row(Some(4.0), None)["ratio"].is_null());
        assert!(row(None, Some(2.0))["ratio"].is_null());
    }

    #[test]
    fn test_get_follows_a_dotted_path() {
        let v = json!({"a": {"b": {"c": 3.5}}});
        assert_eq!(get(&v, "a.b.c"), Some(3.5));
        assert_eq!(get(&v, "a.x.c"), None);
    }
}
