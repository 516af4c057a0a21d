//! CSV import end to end: a generated file of N rows over 200 accounts in 20 time zones,
//! uploaded to `POST /v1/workspaces/{ws}/imports` of an in-process gateway (embedded store,
//! engine, sandbox partners, all on loopback), first as a dry run, then for real, timed until
//! the job reports `completed`. Each size runs in its own workspace; peak RSS (`VmHWM`) is read
//! after each size, smallest first, so a flat peak shows memory does not grow with the file.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gateway::{AppState, GatewayConfig};
use jiff::{SignedDuration, Timestamp};
use sandbox::{Sandbox, SandboxConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use tenants::{SharedClock, SystemClock};

const CLIENT_ID: &str = "socialcrm-bench";
const CLIENT_SECRET: &str = "socialcrm-bench-secret";
const NUM_ACCOUNTS: usize = 200;
const ZONES: [&str; 20] = [
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Athens",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Toronto",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "Asia/Seoul",
];

/// Writes `rows` rows to `path`: account `i % 200`, zone `i % 20`, local times spread over the
/// coming months. Streamed to disk, so the benchmark's own memory does not grow with the file.
fn generate(path: &Path, rows: usize, handles: &[String], start: Timestamp) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"scheduled_at,timezone,accounts,caption,media_urls,first_comment,platforms,status,external_id\n")?;
    for i in 0..rows {
        let zone = ZONES[i % ZONES.len()];
        let at = start + SignedDuration::from_mins(i64::try_from(i)? * 7);
        let local = at.to_zoned(jiff::tz::TimeZone::get(zone)?).datetime();
        let local = local.strftime("%Y-%m-%dT%H:%M");
        let handle = &handles[i % handles.len()];
        writeln!(
            out,
            "{local},{zone},{handle},Bulk post number {i} for the launch,,,,scheduled,"
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// The file as a request body, read in 64 KiB chunks as it is sent.
async fn file_body(path: &Path) -> anyhow::Result<reqwest::Body> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let chunks = futures::stream::try_unfold(file, |mut file| async move {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = file.read(&mut chunk).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        chunk.truncate(n);
        Ok(Some((chunk, file)))
    });
    Ok(reqwest::Body::wrap_stream(chunks))
}

struct Bed {
    base: String,
    key: String,
    http: reqwest::Client,
    shutdown_tx: tokio::sync::oneshot::Sender<()>,
    engine: engine::Engine,
    sandbox: Sandbox,
    redb: schema::RedbStore,
    dir: tempfile::TempDir,
}

async fn call(
    bed: &Bed,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = bed
        .http
        .request(method, format!("{}{path}", bed.base))
        .bearer_auth(&bed.key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{path}: {status} {body}");
    }
    Ok(body)
}

async fn start() -> anyhow::Result<Bed> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock: SharedClock = Arc::new(SystemClock);
    let sandbox = Sandbox::spawn(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SandboxConfig::default(),
    )
    .await?;
    let sandbox_url = sandbox.base_url();
    let dir = tempfile::tempdir()?;
    let redb = schema::RedbStore::open(dir.path().join("store.redb"))?;
    redb.migrate().await?;
    let store: Arc<dyn schema::Store> = Arc::new(redb.clone());
    let config = engine::EngineConfig {
        outstand_base_url: format!("{sandbox_url}/outstand/v1"),
        outstand_api_key: SecretString::from(SandboxConfig::default().outstand_api_key),
        oauth_base_urls: tenants::Platform::ALL
            .iter()
            .map(|p| (*p, format!("{sandbox_url}/oauth/{p}")))
            .collect(),
        oauth_client_id: CLIENT_ID.to_owned(),
        oauth_client_secret: SecretString::from(CLIENT_SECRET),
        master_keys: tenants::MasterKeyring::generate("mk-bench")?,
        tuning: Default::default(),
        event_sink: None,
        partner_timeout: Duration::from_secs(5),
        partner_http: engine::partner::PartnerHttp::H2c,
    };
    let engine = engine::Engine::start(config, store.clone(), clock.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut gw = GatewayConfig::new(base.clone(), SecretString::from("bench-cookie-secret"));
    gw.oauth_base_url = format!("{sandbox_url}/oauth");
    gw.oauth_client_id = CLIENT_ID.to_owned();
    gw.oauth_client_secret = SecretString::from(CLIENT_SECRET);
    gw.data_dir = dir.path().join("data");
    gw.rate_limit.per_key_per_minute = 100_000;
    gw.rate_limit.per_key_burst = 10_000;
    gw.rate_limit.per_workspace_per_minute = 100_000;
    gw.rate_limit.per_workspace_burst = 10_000;
    let key = format!("sk_bench_{}", uuid::Uuid::now_v7().simple());
    store
        .put_api_key(&tenants::ApiKeyMeta {
            id: tenants::ApiKeyId::new(),
            name: "bench".to_owned(),
            owner: None,
            key_hash: gateway::auth::sha256_hex(key.as_bytes()),
            last4: key[key.len() - 4..].to_owned(),
            workspace_ids: None,
            scopes: Vec::new(),
            instance_admin: true,
            created_at: Timestamp::now(),
            last_used_at: None,
        })
        .await?;
    let state = AppState::new(gw, store, Some(engine.handle()), clock)?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway::serve(listener, state, async move {
        let _ = shutdown_rx.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()?;
    Ok(Bed {
        base,
        key,
        http,
        shutdown_tx,
        engine,
        sandbox,
        redb,
        dir,
    })
}

/// A workspace with 200 accounts (half X, half LinkedIn); returns its id and the handles.
async fn workspace(bed: &Bed, name: &str) -> anyhow::Result<(String, Vec<String>)> {
    let body = json!({"name": name, "timezone": "Europe/Paris"});
    let ws = call(bed, reqwest::Method::POST, "/v1/workspaces", Some(body)).await?["id"]
        .as_str()
        .context("workspace id")?
        .to_owned();
    let mut handles = Vec::with_capacity(NUM_ACCOUNTS);
    for i in 0..NUM_ACCOUNTS {
        let platform = if i % 2 == 0 { "x" } else { "linkedin" };
        let path = format!("/v1/workspaces/{ws}/accounts/connect");
        let started = call(
            bed,
            reqwest::Method::POST,
            &path,
            Some(json!({"platform": platform})),
        )
        .await?;
        let url = started["authorization_url"]
            .as_str()
            .context("authorization_url")?;
        let account: Value = bed
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        handles.push(format!(
            "{platform}:@{}",
            account["username"].as_str().context("username")?
        ));
    }
    Ok((ws, handles))
}

/// Uploads and waits for the import's end; returns the final document and the seconds taken.
async fn import(bed: &Bed, ws: &str, csv: &Path, dry_run: bool) -> anyhow::Result<(Value, f64)> {
    let started = Instant::now();
    let url = format!("{}/v1/workspaces/{ws}/imports?dry_run={dry_run}", bed.base);
    let response = bed
        .http
        .post(url)
        .bearer_auth(&bed.key)
        .header("content-type", "text/csv")
        .header("content-length", std::fs::metadata(csv)?.len())
        .body(file_body(csv).await?)
        .send()
        .await?;
    let mut doc: Value = response.error_for_status()?.json().await?;
    let path = format!(
        "/v1/workspaces/{ws}/imports/{}",
        doc["id"].as_str().context("id")?
    );
    while matches!(doc["status"].as_str(), Some("pending" | "running")) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        doc = call(bed, reqwest::Method::GET, &path, None).await?;
    }
    Ok((doc, started.elapsed().as_secs_f64()))
}

/// Runs every size, smallest first, and returns the JSON report.
pub async fn run(sizes: &[usize]) -> anyhow::Result<Value> {
    let bed = start().await?;
    let start_at = Timestamp::now() + SignedDuration::from_hours(24 * 30);
    let mut runs = Vec::new();
    for &rows in sizes {
        let (ws, handles) = workspace(&bed, &format!("Import {rows}")).await?;
        let csv = bed.dir.path().join(format!("import-{rows}.csv"));
        let file_bytes = generate(&csv, rows, &handles, start_at)?;
        let (dry, dry_secs) = import(&bed, &ws, &csv, true).await?;
        let peak_after_dry_run = crate::report::peak_rss_bytes();
        let before = bed.redb.write_stats();
        let (real, real_secs) = import(&bed, &ws, &csv, false).await?;
        let after = bed.redb.write_stats();
        if real["posts_created"].as_u64() != Some(rows as u64) {
            bail!(
                "{rows} rows: the import did not create every post: {}",
                json!({
                    "status": real["status"], "posts_created": real["posts_created"], "errors": real["errors"].as_array().map(|e| e.iter().take(3).cloned().collect::<Vec<_>>())
                })
            );
        }
        std::fs::remove_file(&csv)?;
        runs.push(json!({
            "rows": rows,
            "file_bytes": file_bytes,
            "dry_run_seconds": dry_secs,
            "dry_run_status": dry["status"],
            "import_seconds": real_secs,
            "rows_per_second": rows as f64 / real_secs,
            "posts_created": real["posts_created"],
            "store_commits_during_import": after.num_batches - before.num_batches,
            "store_writes_during_import": after.num_ops - before.num_ops,
            "peak_rss_bytes_after_dry_run": peak_after_dry_run,
            "peak_rss_bytes_after_import": crate::report::peak_rss_bytes(),
        }));
    }
    let _ = bed.shutdown_tx.send(());
    bed.engine.shutdown().await;
    bed.sandbox.shutdown().await;
    Ok(json!({
        "scenario": "csv-import",
        "goal_import_seconds_100k": 5.0,
        "accounts": NUM_ACCOUNTS,
        "time_zones": ZONES.len(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "runs": runs,
    }))
}

/// Runs and writes the report to `out`.
///
/// # Errors
/// A failed set-up or import, or an unwritable report.
pub async fn run_to(sizes: &[usize], out: &Path) -> anyhow::Result<()> {
    let report = run(sizes).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    crate::report::write(out, &report)
}
