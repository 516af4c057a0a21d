//! `loadtest`: drives a running socialcrm gateway over HTTP at a fixed open-loop rate and reports
//! throughput and HDR latency percentiles as JSON. Latency is measured from each request's
//! intended send time, so a slow server cannot hide its queueing (no coordinated omission).
//!
//! Traffic only ever goes to loopback addresses: any other target is refused before sending.

mod baseline;
mod run;
mod setup;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// HTTP load generator for the socialcrm gateway.
#[derive(Debug, Parser)]
#[command(name = "loadtest")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario against a gateway.
    Run(run::RunArgs),
    /// Serve a bare axum handler returning a fixed JSON body, the baseline to compare against.
    Baseline {
        /// Address to listen on (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Write the bound address to this file once listening.
        #[arg(long)]
        addr_file: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Baseline { listen, addr_file } => baseline::serve(listen, addr_file).await,
        }
    })
}
