//! Writing benchmark reports: pretty JSON with the machine's core count and the time of the run.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

/// Writes `body` wrapped with run metadata to `path`, and prints it.
pub fn write(path: &Path, body: &Value) -> anyhow::Result<()> {
    let report = json!({
        "generated_at": jiff::Timestamp::now().to_string(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "result": body,
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{text}");
    Ok(())
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), or 0 where unknown.
pub fn peak_rss_bytes() -> u64 {
    status_kib("VmHWM:")
}

/// Current resident set size of this process in bytes (Linux `VmRSS`), or 0 where unknown.
pub fn rss_bytes() -> u64 {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU time this process has used so far (user + system, all threads), in seconds, from
/// `/proc/self/stat`; 0 where unknown. Linux reports it in `USER_HZ` ticks, which is 100.
pub fn cpu_secs() -> f64 {
    const USER_HZ: f64 = 100.0;
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = &s[s.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) as f64 / USER_HZ)
        })
        .unwrap_or(0.0)
}
