//! The command line: global flags and one subcommand per job.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Settings};

/// socialcrm: plan, schedule and publish social posts for many accounts, exactly once.
#[derive(Debug, Parser)]
#[command(name = "socialcrm", version, about)]
pub struct Cli {
    /// Settings file (TOML). Defaults to ./socialcrm.toml when it exists.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Store URL: redb://./data/socialcrm.redb or scylla://host1:9042,host2:9042/keyspace.
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway and the engine (sandbox partners in-process when no credentials are set).
    Serve(ServeArgs),
    /// Bring the store to the latest schema. Safe to run again.
    Migrate,
    /// Check config, store reachability and schema version, and say what is wrong.
    Doctor,
    /// Reclaim space in the embedded store file.
    Compact,
    /// Write a machine-readable archive (ZIP of JSON files with a manifest) of one workspace.
    Export {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// Where to write the archive.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Import posts from a CSV file (over HTTP with --server, else against the configured store).
    Import(crate::commands::import::ImportArgs),
    /// Manage API keys.
    Keys {
        /// The key operation.
        #[command(subcommand)]
        action: KeysAction,
    },
}

/// `serve` flags. Each overrides the file and environment.
#[derive(Debug, clap::Args, Default)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Address for the in-process sandbox partners.
    #[arg(long)]
    pub sandbox_listen: Option<SocketAddr>,
    /// Use an already-running socialcrm-sandbox for every partner.
    #[arg(long)]
    pub sandbox_url: Option<String>,
    /// Install this exact admin API key when the store has none (env SOCIALCRM_BOOTSTRAP_KEY).
    #[arg(long)]
    pub bootstrap_key: Option<String>,
    /// Allow webhook and media targets on private or loopback addresses.
    #[arg(long)]
    pub allow_private_targets: bool,
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create an instance admin API key and print it once.
    Create {
        /// A name to recognise the key by.
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// Add a new master key, rewrap every workspace data key under it and retire the old one.
    /// Safe to re-run; an interrupted rotation resumes.
    Rotate {
        /// Seconds to wait after adding the new key, so running servers (which re-read the key
        /// file every 30 s) wrap new workspaces' data keys under it before the old one is
        /// retired. 0 skips the wait once every server was sent SIGHUP.
        #[arg(long, default_value_t = 35)]
        settle_secs: u64,
    },
}

impl Cli {
    /// Applies the global flags over loaded settings.
    pub fn apply_globals(&self, settings: &mut Settings) {
        if let Some(format) = self.log_format {
            settings.log_format = format;
        }
        if let Some(store) = &self.store {
            settings.store = store.clone();
        }
    }
}

impl ServeArgs {
    /// Applies the serve flags over loaded settings.
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(listen) = self.listen {
            settings.listen = listen;
        }
        if let Some(addr) = self.sandbox_listen {
            settings.sandbox_listen = addr;
        }
        if let Some(url) = &self.sandbox_url {
            settings.sandbox_url = Some(url.clone());
        }
        if let Some(key) = &self.bootstrap_key {
            settings.bootstrap_key = Some(key.clone().into());
        }
        if self.allow_private_targets {
            settings.allow_private_targets = true;
        }
    }
}
