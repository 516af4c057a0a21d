//! The `socialcrm` binary: loads settings, sets up telemetry and runs one subcommand.

mod cli;
mod commands;
mod config;
mod telemetry;

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// jemalloc: the engine allocates and frees small objects from many threads at a high rate
/// (about a fifth of the CPU in a publish spike went to glibc's allocator), and jemalloc keeps
/// that cheaper with a resident size no larger.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut loaded = match config::load(cli.config.as_deref(), &env) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    cli.apply_globals(&mut loaded.settings);
    if let Command::Serve(args) = &cli.command {
        args.apply(&mut loaded.settings);
    }
    telemetry::init(loaded.settings.log_format, &loaded.settings.log_filter);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let settings = loaded.settings;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(_) => commands::serve::run(settings).await,
            Command::Migrate => commands::migrate::run(&settings).await,
            Command::Doctor => commands::doctor::run(&settings).await,
            Command::Compact => commands::migrate::compact(&settings).await,
            Command::Keys { action } => commands::keys::run(&settings, action).await,
            Command::Import(args) => commands::import::run(&settings, args).await,
            Command::Export { workspace, out } => {
                commands::export::run(&settings, &workspace, out).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
