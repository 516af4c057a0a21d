//! Macro benchmarks for socialcrm. Each subcommand runs one scenario on this machine and writes a
//! JSON report (default under `bench/reports/`). Figures are recorded in `bench/README.md`.

mod compare;
mod csv_import;
mod engine_boot;
mod engine_env;
mod engine_sched;
mod lateness;
mod report;
mod storage;
mod timers;
mod webhooks;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

/// socialcrm benchmarks.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

/// Sizes shared by the density and restart scenarios.
#[derive(Debug, clap::Args)]
struct PopulationArgs {
    /// Accounts.
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// Pending deliveries.
    #[arg(long, default_value_t = 1_000_000)]
    deliveries: usize,
    /// Accounts per workspace.
    #[arg(long, default_value_t = 10)]
    per_workspace: usize,
    /// First due time, minutes after the load.
    #[arg(long, default_value_t = 10)]
    due_from_mins: u64,
    /// Last due time, minutes after the load.
    #[arg(long, default_value_t = 50)]
    due_to_mins: u64,
    /// Keep (or reuse) the loaded store in this directory instead of a temp dir.
    #[arg(long)]
    store_dir: Option<PathBuf>,
    /// How long the booting engine may take to arm every timer.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// CSV import end to end through the HTTP endpoint: 100k rows, 200 accounts, 20 zones.
    CsvImport {
        /// Row counts to run (peak RSS is compared across them).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        rows: Vec<usize>,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/csv_import.json")]
        out: PathBuf,
    },
    /// Embedded store: deliveries written per second and due-window reads per second.
    Storage {
        /// How many deliveries to write.
        #[arg(long, default_value_t = 200_000)]
        deliveries: usize,
        /// How many accounts they spread over.
        #[arg(long, default_value_t = 2_000)]
        accounts: usize,
        /// Concurrent writers (posts in flight at once).
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/storage.json")]
        out: PathBuf,
    },
    /// Engine memory with every account resident: RSS and resident actors after boot.
    EngineDensity {
        #[command(flatten)]
        population: PopulationArgs,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/engine-density.json")]
        out: PathBuf,
    },
    /// Engine restart: process start to ready with every timer armed, on a loaded store.
    EngineRestart {
        #[command(flatten)]
        population: PopulationArgs,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/engine-restart.json")]
        out: PathBuf,
    },
    /// Engine spike: deliveries due at the same second, published to the sandbox.
    EngineSpike {
        /// Deliveries due at the same second.
        #[arg(long, default_value_t = 100_000)]
        deliveries: usize,
        /// Accounts they spread over (each publishes its own one at a time).
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// Accounts per workspace.
        #[arg(long, default_value_t = 10)]
        per_workspace: usize,
        /// Seconds from the end of account set-up to the due second.
        #[arg(long, default_value_t = 60)]
        lead_secs: u64,
        /// Seconds to wait after the due second.
        #[arg(long, default_value_t = 180)]
        max_wait_secs: u64,
        /// Which HTTP the engine speaks to the sandbox.
        #[arg(long, value_enum, default_value_t = Transport::H2c)]
        partner_http: Transport,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/engine-spike.json")]
        out: PathBuf,
    },
    /// Engine steady rate: deliveries due evenly at `rate` per second.
    EngineSteady {
        /// Deliveries per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Seconds of schedule.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Accounts they spread over.
        #[arg(long, default_value_t = 2_000)]
        accounts: usize,
        /// Accounts per workspace.
        #[arg(long, default_value_t = 10)]
        per_workspace: usize,
        /// Seconds from the end of account set-up to the first due time.
        #[arg(long, default_value_t = 30)]
        lead_secs: u64,
        /// Seconds to wait after the last due time.
        #[arg(long, default_value_t = 60)]
        max_wait_secs: u64,
        /// Which HTTP the engine speaks to the sandbox.
        #[arg(long, value_enum, default_value_t = Transport::H2c)]
        partner_http: Transport,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/engine-steady.json")]
        out: PathBuf,
    },
    /// Bare tokio timers in the same shapes (spike, steady, density), as the baseline.
    TimerBaseline {
        /// Timers due at one instant.
        #[arg(long, default_value_t = 100_000)]
        spike: usize,
        /// Steady timers per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Seconds of steady schedule.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Timers armed for the density shape.
        #[arg(long, default_value_t = 1_000_000)]
        density: usize,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/timer-baseline.json")]
        out: PathBuf,
    },
    /// Webhook fan-out: events through the real dispatcher (redb outbox) to loopback receivers.
    WebhookFanout {
        /// Events published.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Loopback receivers (one endpoint each).
        #[arg(long, default_value_t = 10)]
        receivers: usize,
        /// Send every event to every receiver instead of spreading events over them.
        #[arg(long)]
        fanout_all: bool,
        /// Dispatcher attempts in flight.
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
        /// Seconds to wait for the last delivery after publishing.
        #[arg(long, default_value_t = 600)]
        max_wait_secs: u64,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/reports/webhook_fanout.json")]
        out: PathBuf,
    },
    /// Ratios of the engine reports to the tokio and BullMQ baselines found in `dir`.
    Compare {
        /// Where the reports are.
        #[arg(long, default_value = "bench/reports")]
        dir: PathBuf,
    },
    /// Internal: boots the engine on a loaded store and prints one JSON line (density/restart).
    #[command(hide = true)]
    EngineBoot {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        accounts: usize,
        #[arg(long)]
        deliveries: usize,
        #[arg(long)]
        timeout_secs: u64,
    },
}

/// The allocator the `socialcrm` binary runs with (`ops/src/main.rs`), so the figures are the
/// product's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let process_start = Instant::now();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.scenario {
            Scenario::CsvImport { rows, out } => csv_import::run_to(&rows, &out).await,
            Scenario::Storage {
                deliveries,
                accounts,
                concurrency,
                out,
            } => {
                let report = storage::run(deliveries, accounts, concurrency).await?;
                report::write(&out, &report)
            }
            Scenario::EngineDensity { population, out } => {
                let (load, boot) = boot(&population).await?;
                let body = json!({
                    "scenario": "engine-density",
                    "goal_rss_bytes": 1u64 << 30,
                    "rss_bytes_at_ready": boot["rss_bytes_at_ready"],
                    "peak_rss_bytes": boot["peak_rss_bytes"],
                    "num_actors_resident": boot["num_actors_resident"],
                    "num_accounts_resident": boot["num_accounts_resident"],
                    "boot": boot,
                    "population": load,
                });
                report::write(&out, &body)
            }
            Scenario::EngineRestart { population, out } => {
                let (load, boot) = boot(&population).await?;
                let body = json!({
                    "scenario": "engine-restart",
                    "goal_secs": 10,
                    "process_start_to_ready_armed_secs": boot["process_start_to_ready_armed_secs"],
                    "boot": boot,
                    "population": load,
                });
                report::write(&out, &body)
            }
            Scenario::EngineSpike {
                deliveries,
                accounts,
                per_workspace,
                lead_secs,
                max_wait_secs,
                partner_http,
                out,
            } => {
                let shape = engine_sched::Shape {
                    scenario: "engine-spike",
                    num_accounts: accounts,
                    per_workspace,
                    offsets_us: engine_sched::spike_offsets(deliveries),
                    lead: Duration::from_secs(lead_secs),
                    max_wait: Duration::from_secs(max_wait_secs),
                    partner_http: partner_http.into(),
                };
                report::write(&out, &engine_sched::run(shape).await?)
            }
            Scenario::EngineSteady {
                rate,
                secs,
                accounts,
                per_workspace,
                lead_secs,
                max_wait_secs,
                partner_http,
                out,
            } => {
                let shape = engine_sched::Shape {
                    scenario: "engine-steady",
                    num_accounts: accounts,
                    per_workspace,
                    offsets_us: engine_sched::steady_offsets(rate, secs),
                    lead: Duration::from_secs(lead_secs),
                    max_wait: Duration::from_secs(max_wait_secs),
                    partner_http: partner_http.into(),
                };
                let mut body = engine_sched::run(shape).await?;
                body["rate_per_sec"] = json!(rate);
                report::write(&out, &body)
            }
            Scenario::TimerBaseline {
                spike,
                rate,
                secs,
                density,
                out,
            } => {
                let lead = Duration::from_secs(2);
                let body = timers::run(spike, rate, secs, density, lead).await?;
                report::write(&out, &body)
            }
            Scenario::WebhookFanout {
                events,
                receivers,
                fanout_all,
                in_flight,
                max_wait_secs,
                out,
            } => {
                let shape = webhooks::Shape {
                    num_events: events,
                    num_receivers: receivers,
                    fanout_all,
                    max_in_flight: in_flight,
                    max_wait: Duration::from_secs(max_wait_secs),
                };
                report::write(&out, &webhooks::run(shape).await?)
            }
            Scenario::Compare { dir } => {
                let body = compare::run(&dir)?;
                report::write(&dir.join("compare.json"), &body)
            }
            Scenario::EngineBoot {
                store,
                accounts,
                deliveries,
                timeout_secs,
            } => {
                let timeout = Duration::from_secs(timeout_secs);
                let body =
                    engine_boot::boot(process_start, &store, accounts, deliveries, timeout).await?;
                println!("{}", serde_json::to_string(&body)?);
                // Exit at once: an abrupt stop, so the parent is not kept waiting on a drain.
                std::process::exit(0)
            }
        }
    })
}

async fn boot(p: &PopulationArgs) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
    let population = engine_boot::Population {
        num_accounts: p.accounts,
        num_deliveries: p.deliveries,
        per_workspace: p.per_workspace,
        due_from_mins: p.due_from_mins,
        due_to_mins: p.due_to_mins,
    };
    let timeout = Duration::from_secs(p.timeout_secs);
    engine_boot::run(p.store_dir.clone(), &population, timeout).await
}

/// The engine's HTTP to the sandbox partner.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Transport {
    /// HTTP/2 over plain TCP, as sandbox mode runs it.
    H2c,
    /// HTTP/1.1, a connection per call in flight.
    Http1,
}

impl From<Transport> for engine::partner::PartnerHttp {
    fn from(t: Transport) -> Self {
        match t {
            Transport::H2c => Self::H2c,
            Transport::Http1 => Self::Negotiated,
        }
    }
}
