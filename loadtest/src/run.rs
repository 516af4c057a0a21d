//! The open-loop run: requests are sent on a fixed schedule whatever the server does, and each
//! latency is counted from the request's intended send time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::setup::{self, Fixture};

/// Flags of `loadtest run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Gateway base URL (loopback only).
    #[arg(long)]
    pub url: String,
    /// API key (not needed for the baseline scenario).
    #[arg(long, default_value = "")]
    pub key: String,
    /// `create-post` (POST /posts with 3 accounts), `mix` (60% create, 20% list, 20% get) or
    /// `baseline` (GET / on a bare server).
    #[arg(long, default_value = "create-post")]
    pub scenario: String,
    /// Requests per second. Ignored with --find-peak.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds per step.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Step the rate up (doubling from --rate) until the server cannot keep up, then run once at
    /// 50% of the peak and report that step's latencies.
    #[arg(long)]
    pub find_peak: bool,
    /// Accounts each created post targets.
    #[arg(long, default_value_t = 3)]
    pub accounts: usize,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench/reports/loadtest.json")]
    pub out: PathBuf,
}

/// Refuses any URL whose host is not a loopback address or `localhost`.
pub fn ensure_loopback(raw: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(raw).with_context(|| format!("invalid URL {raw}"))?;
    let ok = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if !ok {
        bail!("refusing to send load to {raw}: only loopback targets are allowed");
    }
    Ok(())
}

struct Step {
    target_rate: u64,
    sent: u64,
    ok: u64,
    errors: u64,
    seconds: f64,
    hist: Histogram<u64>,
}

impl Step {
    fn achieved(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn to_json(&self) -> Value {
        let q = |p: f64| self.hist.value_at_quantile(p) as f64 / 1000.0;
        json!({
            "target_rate": self.target_rate,
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "seconds": self.seconds,
            "throughput_per_sec": self.achieved(),
            "latency_ms": { "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "p999": q(0.999), "max": self.hist.max() as f64 / 1000.0 },
        })
    }
}

/// Runs the scenario and writes the report.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    ensure_loopback(&args.url)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = args.url.trim_end_matches('/').to_owned();
    let fixture = if args.scenario == "baseline" {
        None
    } else {
        Some(setup::prepare(&client, &base, &args.key, args.accounts).await?)
    };
    let fixture = Arc::new(fixture);
    let mut steps = Vec::new();
    let mut peak = 0.0f64;
    if args.find_peak {
        let mut rate = args.rate;
        loop {
            let step = one_step(&client, &base, &args, &fixture, rate).await?;
            let achieved = step.achieved();
            peak = peak.max(achieved);
            let keeping_up = achieved >= 0.9 * rate as f64 && step.errors * 100 <= step.sent;
            steps.push(step.to_json());
            if !keeping_up || rate >= 64_000 {
                break;
            }
            rate *= 2;
        }
        let half = ((peak / 2.0) as u64).max(1);
        let step = one_step(&client, &base, &args, &fixture, half).await?;
        let report = json!({ "scenario": args.scenario, "peak_throughput_per_sec": peak, "steps": steps, "at_half_peak": step.to_json() });
        return write(&args.out, &report);
    }
    let step = one_step(&client, &base, &args, &fixture, args.rate).await?;
    write(
        &args.out,
        &json!({ "scenario": args.scenario, "step": step.to_json() }),
    )
}

fn write(path: &PathBuf, report: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, &text)?;
    println!("{text}");
    Ok(())
}

async fn one_step(
    client: &reqwest::Client,
    base: &str,
    args: &RunArgs,
    fixture: &Arc<Option<Fixture>>,
    rate: u64,
) -> anyhow::Result<Step> {
    let total = rate * args.duration_secs;
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let created: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let intended = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(intended.into()).await;
        let request = build_request(client, base, args, fixture, &created, i).await;
        let (hist, ok, errors, created) =
            (hist.clone(), ok.clone(), errors.clone(), created.clone());
        tasks.spawn(async move {
            let result = request.send().await;
            let micros = intended.elapsed().as_micros() as u64;
            match result {
                Ok(resp) if resp.status().is_success() => {
                    ok.fetch_add(1, Ordering::Relaxed);
                    if resp.status() == reqwest::StatusCode::CREATED {
                        if let Ok(v) = resp.json::<Value>().await {
                            if let Some(id) = v["id"].as_str() {
                                created.lock().await.push(id.to_owned());
                            }
                        }
                    }
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = hist.lock().await.record(micros.max(1));
        });
        while let Some(done) = tasks.try_join_next() {
            done?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let hist = hist.lock().await.clone();
    Ok(Step {
        target_rate: rate,
        sent: total,
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        seconds,
        hist,
    })
}

async fn build_request(
    client: &reqwest::Client,
    base: &str,
    args: &RunArgs,
    fixture: &Arc<Option<Fixture>>,
    created: &Arc<Mutex<Vec<String>>>,
    i: u64,
) -> reqwest::RequestBuilder {
    let Some(fx) = fixture.as_ref() else {
        return client.get(format!("{base}/"));
    };
    let ws = &fx.workspace_id;
    let kind = if args.scenario == "mix" { i % 10 } else { 0 };
    let request = match kind {
        6 | 7 => client.get(format!("{base}/v1/workspaces/{ws}/posts?limit=20")),
        8 | 9 => {
            let last = created.lock().await.last().cloned();
            match last {
                Some(id) => client.get(format!("{base}/v1/workspaces/{ws}/posts/{id}")),
                None => client.get(format!("{base}/v1/workspaces/{ws}/posts?limit=1")),
            }
        }
        _ => {
            let at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 7);
            client
                .post(format!("{base}/v1/workspaces/{ws}/posts"))
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .json(&json!({
                    "caption": format!("load test post {i}"),
                    "account_ids": fx.account_ids,
                    "scheduled_at": at.to_string(),
                }))
        }
    };
    request.bearer_auth(&args.key)
}
