//! Spike and steady scenarios: deliveries due at given instants, each a real HTTP publish to the
//! sandbox partner on loopback with durable state transitions, on the system clock.
//!
//! Set-up (not timed against the goals): accounts with sandbox OAuth grants sealed in the vault,
//! one single-account post per delivery written to the store, then the engine starts and its
//! recovery pass activates the accounts, which load their windows and arm one timer each.
//!
//! Lateness of a delivery is measured twice: when the partner accepted the publish (the sandbox
//! ledger's `accepted_at`) and when the engine computed the durable `published` transition (the
//! stored delivery's `updated_at`, committed right after). Both minus `due_at`. The second is the
//! headline figure: it includes the publish and the transitions to `submitting` and `published`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use engine::EngineTuning;
use engine::partner::PartnerHttp;
use jiff::{SignedDuration, Timestamp};
use sandbox::{Sandbox, SandboxConfig};
use schema::{Store, WorkspaceScope};
use serde_json::{Value, json};
use tenants::{Delivery, DeliveryId, DeliveryState, PostId};
use tokio::task::JoinSet;

use crate::engine_env::{self, BenchAccount};
use crate::lateness::summary;
use crate::report::{cpu_secs, peak_rss_bytes};

/// The shape of a run: how many accounts and when each delivery is due.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Report name.
    pub scenario: &'static str,
    /// Accounts the deliveries are spread over (round robin).
    pub num_accounts: usize,
    /// Accounts per workspace.
    pub per_workspace: usize,
    /// Each delivery's due time, in microseconds after the first due second.
    pub offsets_us: Vec<i64>,
    /// Time between the end of set-up writes and the first due second.
    pub lead: Duration,
    /// How long after the last due time to wait for completion.
    pub max_wait: Duration,
    /// Which HTTP the engine speaks to the sandbox.
    pub partner_http: PartnerHttp,
}

/// `n` deliveries due at the same instant.
pub fn spike_offsets(n: usize) -> Vec<i64> {
    vec![0; n]
}

/// `rate` deliveries per second, evenly spaced, for `secs` seconds.
pub fn steady_offsets(rate: u64, secs: u64) -> Vec<i64> {
    let n = rate * secs;
    (0..n)
        .map(|i| (i * 1_000_000 / rate.max(1)) as i64)
        .collect()
}

/// Runs the shape and returns the report body.
pub async fn run(shape: Shape) -> anyhow::Result<Value> {
    anyhow::ensure!(!shape.offsets_us.is_empty(), "no deliveries to schedule");
    let dir = tempfile::tempdir()?;
    let redb = engine_env::open_redb(&dir.path().join("store.redb")).await?;
    let store: Arc<dyn Store> = Arc::new(redb.clone());
    let sandbox = Sandbox::spawn("127.0.0.1:0".parse()?, SandboxConfig::default()).await?;
    let base = sandbox.base_url();
    let vault = engine_env::vault(&store)?;
    let oauth = engine_env::oauth_client(&base, Duration::from_secs(30))?;

    let started = Instant::now();
    let accounts = engine_env::provision_accounts(
        &store,
        shape.num_accounts,
        shape.per_workspace,
        Some((&vault, &oauth)),
    )
    .await?;
    let provision_secs = started.elapsed().as_secs_f64();

    let t0 = next_second(Timestamp::now() + SignedDuration::try_from(shape.lead)?)?;
    let due: Vec<Timestamp> = shape
        .offsets_us
        .iter()
        .map(|us| t0 + SignedDuration::from_micros(*us))
        .collect();
    let started = Instant::now();
    let written = engine_env::write_deliveries(&store, &accounts, &due).await?;
    let write_secs = started.elapsed().as_secs_f64();

    let writes_before = redb.write_stats();
    let started = Instant::now();
    let engine = engine_env::start_engine(
        store.clone(),
        vault,
        &base,
        EngineTuning::default(),
        shape.partner_http,
    )
    .await?;
    let handle = engine.handle();
    let until_due = Duration::try_from(t0.duration_since(Timestamp::now())).unwrap_or_default();
    let num_active = shape.num_accounts.min(due.len());
    let armed = engine_env::wait_armed(&handle, num_active, due.len(), until_due).await;
    let armed_secs = started.elapsed().as_secs_f64();
    let armed_before_due = armed.is_some() && Timestamp::now() < t0;
    if !armed_before_due {
        eprintln!(
            "warning: not all timers were armed before the first due time; raise --lead-secs"
        );
    }

    let last_due = due.iter().copied().max().unwrap_or(t0);
    let n = due.len() as u64;
    // CPU time is counted from the first due time, so the idle lead does not dilute it.
    let mut cpu_at_first_due = None;
    let deadline = last_due + SignedDuration::try_from(shape.max_wait)?;
    let mut all_accepted_at = None;
    let mut all_published_at = None;
    let mut last_observe = Instant::now();
    while Timestamp::now() < deadline {
        if cpu_at_first_due.is_none() && Timestamp::now() >= t0 {
            cpu_at_first_due = Some(cpu_secs());
        }
        let accepted = sandbox.stats().publishes_accepted;
        if accepted >= n && all_accepted_at.is_none() {
            all_accepted_at = Some(Timestamp::now());
        }
        if all_accepted_at.is_some() && last_observe.elapsed() >= Duration::from_millis(100) {
            last_observe = Instant::now();
            let published: u64 = handle
                .observe()
                .accounts
                .iter()
                .filter_map(|a| a.transitions_by_state.get("published"))
                .sum();
            if published >= n {
                all_published_at = Some(Timestamp::now());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_used = cpu_at_first_due.map(|at| cpu_secs() - at);
    let observed = handle.observe();
    engine.shutdown().await;
    let writes = redb.write_stats();

    let ledger: HashMap<String, Timestamp> = sandbox
        .ledger()
        .into_iter()
        .map(|e| (e.idempotency_key, e.accepted_at))
        .collect();
    let duplicates = sandbox.duplicates();
    let stats = sandbox.stats();
    sandbox.shutdown().await;
    let deliveries = read_back(&store, &written).await?;

    let mut by_state: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut durable = Vec::with_capacity(deliveries.len());
    let mut accepted = Vec::with_capacity(deliveries.len());
    let mut last_published = None::<Timestamp>;
    for d in &deliveries {
        *by_state.entry(d.state.as_str()).or_default() += 1;
        if d.state == DeliveryState::Published {
            durable.push(d.updated_at.duration_since(d.due_at).as_micros() as i64);
            last_published = Some(last_published.map_or(d.updated_at, |l| l.max(d.updated_at)));
        }
        if let Some(at) = ledger.get(&d.idempotency_key) {
            accepted.push(at.duration_since(d.due_at).as_micros() as i64);
        }
    }
    let num_published = by_state.get("published").copied().unwrap_or(0);
    let after_last_due =
        |t: Option<Timestamp>| t.map(|t| t.duration_since(last_due).as_millis() as f64);
    let span_secs = last_published
        .map(|l| l.duration_since(t0).as_secs_f64())
        .filter(|s| *s > 0.0);
    Ok(json!({
        "scenario": shape.scenario,
        "backend": "redb",
        "clock": "system",
        "partner": "sandbox over loopback HTTP (rate-limit hint not fed back)",
        "partner_http": match shape.partner_http {
            PartnerHttp::H2c => "h2c",
            PartnerHttp::Negotiated => "http/1.1",
        },
        "accounts": shape.num_accounts,
        "workspaces": shape.num_accounts.div_ceil(shape.per_workspace.max(1)),
        "deliveries": n,
        "shape_secs": last_due.duration_since(t0).as_secs_f64(),
        "setup": {
            "provision_accounts_secs": provision_secs,
            "write_deliveries_secs": write_secs,
            "engine_start_to_armed_secs": armed_secs,
            "armed_before_due": armed_before_due,
        },
        "completion": {
            "num_published_durably": num_published,
            "all_published": num_published as u64 == n,
            "last_durable_publish_after_last_due_ms": after_last_due(last_published),
            "ledger_complete_after_last_due_ms": after_last_due(all_accepted_at),
            "observed_complete_after_last_due_ms": after_last_due(all_published_at),
        },
        "lateness_durable_published": summary(durable),
        "lateness_partner_accepted": summary(accepted),
        "throughput": {
            "deliveries_per_sec_first_due_to_last_published":
                span_secs.map(|s| num_published as f64 / s),
        },
        // From the first due time to every publish observed: engine, store and sandbox
        // together, at most `cores` seconds per second.
        "cpu": {
            "secs": cpu_used,
            "ms_per_delivery": cpu_used.filter(|_| n > 0).map(|c| c * 1000.0 / n as f64),
        },
        "store_states": by_state,
        // From engine start to shutdown: what the engine wrote, and in how many commits.
        "store_writes": {
            "commits": writes.num_batches - writes_before.num_batches,
            "ops": writes.num_ops - writes_before.num_ops,
        },
        "ledger_duplicates": duplicates,
        "sandbox_stats": {
            "publishes_accepted": stats.publishes_accepted,
            "publishes_replayed": stats.publishes_replayed,
            "rejected_token_invalid": stats.rejected_token_invalid,
            "rejected_token_expired": stats.rejected_token_expired,
        },
        "engine": {
            "num_accounts_resident_at_end": observed.num_accounts_resident,
            "num_workspaces_resident_at_end": observed.num_workspaces_resident,
            "num_restarts": observed.num_restarts,
        },
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

/// The first whole second strictly after `at`.
fn next_second(at: Timestamp) -> anyhow::Result<Timestamp> {
    Ok(Timestamp::from_second(at.as_second() + 1)?)
}

/// Reads every written delivery back from the store.
async fn read_back(
    store: &Arc<dyn Store>,
    written: &[(BenchAccount, PostId, DeliveryId, Timestamp)],
) -> anyhow::Result<Vec<Delivery>> {
    let mut out = Vec::with_capacity(written.len());
    let mut set = JoinSet::new();
    for &(a, post_id, id, _) in written {
        let store = Arc::clone(store);
        set.spawn(async move {
            let scope = WorkspaceScope::authorized(a.workspace_id);
            store.get_delivery(scope, post_id, id).await
        });
        if set.len() >= 256 {
            out.extend(set.join_next().await.context("read task")???);
        }
    }
    while let Some(res) = set.join_next().await {
        out.extend(res??);
    }
    Ok(out)
}
