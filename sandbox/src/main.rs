//! `socialcrm-sandbox`: runs every partner stand-in as its own process, so a test can kill the
//! engine while the partner (and its ledger) lives on. Serves until SIGTERM or Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use sandbox::{Faults, Sandbox, SandboxConfig};

/// Local stand-ins for Outstand, platform OAuth and Google/X sign-in.
#[derive(Debug, Parser)]
#[command(name = "socialcrm-sandbox", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7890")]
    listen: SocketAddr,
    /// Lifetime of platform access tokens, in seconds.
    #[arg(long, default_value_t = 7200)]
    token_lifetime_secs: i64,
    /// Lifetime of platform refresh tokens, in seconds.
    #[arg(long, default_value_t = 180 * 24 * 3600)]
    refresh_lifetime_secs: i64,
    /// How long a post stays pending before it is published, in milliseconds.
    #[arg(long, default_value_t = 0)]
    publish_delay_ms: u64,
    /// The Outstand API key to accept.
    #[arg(
        long,
        env = "SOCIALCRM_SANDBOX_OUTSTAND_KEY",
        default_value = "sandbox-outstand-key",
        hide_env_values = true
    )]
    outstand_api_key: String,
    /// Initial faults as JSON, e.g. `{"error_rate":0.1}`.
    #[arg(long)]
    faults: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let faults: Faults = match &args.faults {
        Some(json) => serde_json::from_str(json)?,
        None => Faults::default(),
    };
    let config = SandboxConfig {
        faults,
        token_lifetime_secs: args.token_lifetime_secs,
        refresh_lifetime_secs: args.refresh_lifetime_secs,
        outstand_api_key: args.outstand_api_key,
        publish_delay_ms: args.publish_delay_ms,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::spawn(args.listen, config).await?;
    // The URL on stdout is what a parent process waits for.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", sandbox.base_url())?;
    stdout.flush()?;
    wait_for_signal().await?;
    tracing::info!("shutting down");
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
