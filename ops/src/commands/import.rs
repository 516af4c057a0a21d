//! `socialcrm import FILE --workspace <id>`: bulk scheduling from a CSV file through the
//! import endpoint (`POST /v1/workspaces/{ws}/imports`), with a progress bar (rows per second)
//! and the table of row errors at the end. Exits non-zero when any row failed.
//!
//! - `--server URL --key KEY` uploads to a running gateway.
//! - Without `--server`, it runs against the configured store: a temporary admin key is
//!   installed, this binary's `serve` is started on a free loopback port (the embedded store
//!   is opened by one process at a time), the file is uploaded to it, then the server is
//!   stopped and the key removed. Same code path, same rules, same report.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use schema::StoreUrl;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::config::Settings;

/// `import` flags.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The workspace to import into.
    #[arg(long)]
    pub workspace: String,
    /// Validate only; create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `all_or_nothing` (default) or `valid_rows`.
    #[arg(long, default_value = "all_or_nothing")]
    pub mode: String,
    /// `dmy` or `mdy`, for dates such as 03/04/2026.
    #[arg(long)]
    pub date_order: Option<String>,
    /// A running gateway to upload to, e.g. http://127.0.0.1:8080.
    #[arg(long, requires = "key")]
    pub server: Option<String>,
    /// The API key for `--server` (env SOCIALCRM_API_KEY).
    #[arg(long, env = "SOCIALCRM_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Runs the import and prints its report.
///
/// # Errors
/// An unreadable file, an unreachable gateway, a refused upload, or any row that failed.
pub async fn run(settings: &Settings, args: ImportArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Fail before starting anything when the file cannot be read.
    tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let report = match (&args.server, &args.key) {
        (Some(server), Some(key)) => upload(server, key, &args).await?,
        _ => run_local(settings, &args).await?,
    };
    print_report(&report);
    let failed = report["rows_invalid"].as_u64().unwrap_or(0);
    match report["status"].as_str() {
        Some("failed") => bail!("the import failed: nothing was created"),
        _ if failed > 0 => bail!("{failed} rows failed"),
        _ => Ok(()),
    }
}

/// The file as a request body read in chunks as it is sent (never whole in memory), with
/// the bytes sent shown on `bar`.
async fn file_body(path: &Path, bar: &ProgressBar) -> anyhow::Result<(reqwest::Body, u64)> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let num_bytes = file.metadata().await?.len();
    let bar = bar.clone();
    let chunks = futures::stream::try_unfold((file, 0u64), move |(mut file, sent)| {
        let bar = bar.clone();
        async move {
            let mut chunk = vec![0u8; UPLOAD_CHUNK_BYTES];
            let n = file.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            chunk.truncate(n);
            let sent = sent + n as u64;
            bar.set_message(format!("uploading {} KiB", sent / 1024));
            Ok(Some((chunk, (file, sent))))
        }
    });
    Ok((reqwest::Body::wrap_stream(chunks), num_bytes))
}

/// Bytes read from the file per chunk of the upload.
const UPLOAD_CHUNK_BYTES: usize = 64 * 1024;

/// Uploads the file and follows the job to its end.
async fn upload(server: &str, key: &str, args: &ImportArgs) -> anyhow::Result<Value> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let base = server.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/v1/workspaces/{}/imports", args.workspace))
        .context("invalid --server")?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("dry_run", if args.dry_run { "true" } else { "false" });
        q.append_pair("mode", &args.mode);
        if let Some(order) = &args.date_order {
            q.append_pair("date_order", order);
        }
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {msg} {pos} rows ({per_sec}, {elapsed})",
    )?);
    bar.set_message("uploading");
    bar.enable_steady_tick(Duration::from_millis(120));
    let (body, num_bytes) = file_body(&args.file, &bar).await?;
    let response = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "text/csv")
        // Declared, so an oversized file is refused before it is sent.
        .header("content-length", num_bytes)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let mut doc: Value = response
        .json()
        .await
        .context("the gateway's answer is not JSON")?;
    if !(status.is_success()) {
        bar.finish_and_clear();
        bail!(
            "the upload was refused ({status}): {}",
            doc["detail"].as_str().unwrap_or("no detail")
        );
    }
    let path = format!(
        "{base}/v1/workspaces/{}/imports/{}",
        args.workspace,
        doc["id"].as_str().unwrap_or_default()
    );
    bar.set_message("importing");
    let started = Instant::now();
    while matches!(doc["status"].as_str(), Some("pending" | "running")) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        doc = http
            .get(&path)
            .bearer_auth(key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        bar.set_position(doc["rows_processed"].as_u64().unwrap_or(0));
    }
    bar.set_position(doc["rows_processed"].as_u64().unwrap_or(0));
    bar.finish_with_message(format!("done in {:.1?}", started.elapsed()));
    Ok(doc)
}

/// Serves the configured store from a child `socialcrm serve` on a free loopback port for the
/// time of one upload.
async fn run_local(settings: &Settings, args: &ImportArgs) -> anyhow::Result<Value> {
    let url = StoreUrl::parse(&settings.store)?;
    schema::migrate(&url).await?;
    let key = {
        let store = schema::open_store(&url).await?;
        super::keys::new_admin_key(&store, "cli-import", None).await?
        // The store closes here, so the server can open it.
    };
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--store")
        .arg(&settings.store)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start a local gateway")?;
    let base = format!("http://127.0.0.1:{port}");
    let outcome = async {
        wait_ready(&base).await?;
        upload(&base, key.expose_secret(), args).await
    }
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    remove_key(&url, &key).await;
    outcome
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the local gateway did not become ready within 30 s")
}

async fn remove_key(url: &StoreUrl, key: &SecretString) {
    let removed = async {
        let store = schema::open_store(url).await?;
        let hash = gateway::auth::sha256_hex(key.expose_secret().as_bytes());
        if let Some(meta) = store.get_api_key_by_hash(&hash).await? {
            store.delete_api_key(meta.id).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = removed.await {
        eprintln!("warning: the temporary import key could not be removed: {e:#}");
    }
}

/// Prints the counts, then one line per row error.
fn print_report(doc: &Value) {
    let n = |k: &str| doc[k].as_u64().unwrap_or(0);
    println!(
        "import {}: {}{} — {} rows, {} valid, {} invalid, {} posts created, {} already imported",
        doc["id"].as_str().unwrap_or("?"),
        doc["status"].as_str().unwrap_or("?"),
        if doc["dry_run"] == true {
            " (dry run)"
        } else {
            ""
        },
        n("rows_total"),
        n("rows_valid"),
        n("rows_invalid"),
        n("posts_created"),
        doc["already_imported"].as_array().map_or(0, Vec::len),
    );
    let errors = doc["errors"].as_array().cloned().unwrap_or_default();
    if errors.is_empty() {
        return;
    }
    println!("{:>7}  {:<14}  {:<24}  message", "row", "column", "value");
    for e in &errors {
        let value: String = e["value"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(24)
            .collect();
        println!(
            "{:>7}  {:<14}  {:<24}  {}",
            e["row"].as_u64().unwrap_or(0),
            e["column"].as_str().unwrap_or("-"),
            value,
            e["message"].as_str().unwrap_or_default()
        );
    }
}
