//! `socialcrm export --workspace <id> --out file.zip`: an operator's machine-readable archive of
//! everything stored about one workspace (JSON files with a manifest, media files included,
//! tokens never), written with a progress bar.

use std::path::PathBuf;

use anyhow::Context;
use gateway::export::{ExportScope, write_workspace_export};
use indicatif::{ProgressBar, ProgressStyle};
use schema::{StoreUrl, WorkspaceScope};
use tenants::WorkspaceId;

use crate::config::Settings;

/// Writes the archive of `workspace` to `out`.
pub async fn run(settings: &Settings, workspace: &str, out: PathBuf) -> anyhow::Result<()> {
    let workspace: WorkspaceId = workspace.parse()?;
    let url = StoreUrl::parse(&settings.store)?;
    let store = schema::open_store(&url).await?;
    // An operator command run on the server acts with instance authority.
    let scope = WorkspaceScope::authorized(workspace);
    store
        .get_workspace(scope)
        .await?
        .filter(|w| w.deletion_requested_at.is_none())
        .with_context(|| format!("no workspace {workspace}"))?;
    let file = std::io::BufWriter::new(
        std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?,
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let export_scope = ExportScope::Workspace {
        scope,
        media_dir: Some(settings.data_dir.join("media")),
    };
    let summary = write_workspace_export(store.as_ref(), &export_scope, file, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .map_err(|e| anyhow::anyhow!("export failed: {e}"))?;
    bar.finish_with_message(format!("{} files", summary.manifest.files.len()));
    println!("wrote {}", out.display());
    Ok(())
}
