//! Where an import's upload waits while its job runs: `<data_dir>/imports/<workspace>/<id>.csv`,
//! with the job's spec beside it (`<id>.json`: options, clock, author). Both are kept until the
//! job has saved its final report, so a job interrupted by a restart can be run again from them
//! ([`crate::import_resume`]). A job of this process holds its upload in [`HELD`], so a resume
//! pass never picks up a job that is still alive. (The embedded store is opened by one process
//! at a time, so the process is the unit that runs jobs.)

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{ImportId, UserId, WorkspaceId};
use tokio::io::AsyncWriteExt;

use crate::csv_import::{DateOrder, ImportMode, ImportOptions};
use crate::error::ApiError;
use crate::import_jobs::ImportLimits;

/// The uploads held by a [`SpooledUpload`] of this process.
static HELD: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Default::default);

/// Marks `path` held; `false` when it already is.
fn hold(path: &Path) -> bool {
    HELD.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(path.to_path_buf())
}

fn release(path: &Path) {
    HELD.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(path);
}

/// An upload spooled to a file and held by this process (see [`HELD`]). Until [`SpooledUpload::keep`] the
/// file is removed when this is dropped (an upload refused or broken off); after it, only
/// [`SpooledUpload::remove`] removes it, with its spec.
#[derive(Debug)]
pub struct SpooledUpload {
    path: PathBuf,
    /// Its size in bytes.
    pub num_bytes: u64,
    kept: bool,
}

impl SpooledUpload {
    /// The spooled file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the file (and its spec) when this value is dropped: the job owns them now.
    pub fn keep(&mut self) {
        self.kept = true;
    }

    /// Removes the upload and its spec: the job has saved its final report.
    pub fn remove(mut self) {
        self.kept = false;
    }

    /// Takes over an upload left by an earlier process. `None` when it is gone, or held by a
    /// job of this process.
    ///
    /// # Errors
    /// The file cannot be opened or locked.
    pub fn reopen(path: PathBuf) -> io::Result<Option<SpooledUpload>> {
        let num_bytes = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !hold(&path) {
            return Ok(None);
        }
        Ok(Some(SpooledUpload {
            path,
            num_bytes,
            kept: true,
        }))
    }
}

impl Drop for SpooledUpload {
    fn drop(&mut self) {
        if !self.kept {
            remove_files(&self.path);
        }
        release(&self.path);
    }
}

/// Removes an upload and its spec; already gone is fine.
pub fn remove_files(upload: &Path) {
    for path in [upload.to_path_buf(), spec_path(upload)] {
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "import spool not removed");
        }
    }
}

/// Streams an upload to `path`, refusing it (413) as soon as it grows past `max_bytes`.
///
/// # Errors
/// 413 past the limit (or the outer body limit), 400 for a body that broke off, 500 for a
/// file that cannot be written.
pub async fn spool_upload<S, E>(
    path: PathBuf,
    max_bytes: u64,
    body: S,
) -> Result<SpooledUpload, ApiError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let io = |e: io::Error| ApiError::Internal(format!("import spool: {e}"));
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    if !hold(&path) {
        return Err(ApiError::Internal(format!(
            "import spool {} is in use",
            path.display()
        )));
    }
    let mut spooled = SpooledUpload {
        path,
        num_bytes: 0,
        kept: false,
    };
    let file = tokio::fs::File::create(&spooled.path).await.map_err(io)?;
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, file);
    let too_large = || ApiError::PayloadTooLarge {
        limit_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
    };
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            if e.to_string().contains("length limit") {
                too_large()
            } else {
                ApiError::bad_request("unreadable_body", "the upload broke off before its end")
            }
        })?;
        spooled.num_bytes += chunk.len() as u64;
        if spooled.num_bytes > max_bytes {
            return Err(too_large());
        }
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    // A job resumed after a crash reads this file again.
    out.get_ref().sync_data().await.map_err(io)?;
    Ok(spooled)
}

/// The folder holding the spooled uploads of every workspace.
pub fn spool_root(data_dir: &Path) -> PathBuf {
    data_dir.join("imports")
}

/// Where the upload of import `id` is spooled.
pub fn spool_path(data_dir: &Path, workspace_id: WorkspaceId, id: ImportId) -> PathBuf {
    spool_root(data_dir)
        .join(workspace_id.to_string())
        .join(format!("{id}.csv"))
}

/// Where the spec of the upload at `upload` is kept.
pub fn spec_path(upload: &Path) -> PathBuf {
    upload.with_extension("json")
}

/// Everything needed to run an import again from its upload: the options as given, the clock
/// of the first run (so the same rows are valid and get the same dedup keys) and the author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The workspace imported into.
    pub workspace_id: WorkspaceId,
    /// Who imports (the posts' `created_by`).
    pub created_by: Option<UserId>,
    /// Validate only.
    pub dry_run: bool,
    /// All-or-nothing or valid rows.
    pub mode: ImportMode,
    /// `dmy` / `mdy`, if given.
    pub date_order: Option<DateOrder>,
    /// The delimiter, if given.
    pub delimiter: Option<u8>,
    /// The workspace's zone when the upload was accepted.
    pub default_timezone: String,
    /// `?accounts=`, if given.
    pub default_accounts: Option<String>,
    /// The clock when the upload was accepted.
    pub now: Timestamp,
}

impl JobSpec {
    /// The spec of an import with these options.
    pub fn new(
        workspace_id: WorkspaceId,
        created_by: Option<UserId>,
        opts: &ImportOptions,
    ) -> JobSpec {
        JobSpec {
            workspace_id,
            created_by,
            dry_run: opts.dry_run,
            mode: opts.mode,
            date_order: opts.date_order,
            delimiter: opts.delimiter,
            default_timezone: opts.default_timezone.clone(),
            default_accounts: opts.default_accounts.clone(),
            now: opts.now,
        }
    }

    /// The options to run it with, under the current limits.
    pub fn options(&self, limits: &ImportLimits) -> ImportOptions {
        let mut opts = ImportOptions::new(self.default_timezone.clone(), self.now);
        opts.dry_run = self.dry_run;
        opts.mode = self.mode;
        opts.date_order = self.date_order;
        opts.delimiter = self.delimiter;
        opts.default_accounts = self.default_accounts.clone();
        opts.max_bytes = limits.max_bytes;
        opts.max_rows = limits.max_rows;
        opts
    }

    /// Writes the spec beside `upload`, durably.
    ///
    /// # Errors
    /// The file cannot be written.
    pub async fn write(&self, upload: &Path) -> io::Result<()> {
        let body = serde_json::to_vec(self).map_err(io::Error::other)?;
        let path = spec_path(upload);
        let mut file = tokio::fs::File::create(&path).await?;
        file.write_all(&body).await?;
        file.sync_all().await
    }

    /// Reads the spec kept beside `upload`.
    ///
    /// # Errors
    /// The file is missing or unreadable.
    pub async fn read(upload: &Path) -> io::Result<JobSpec> {
        let body = tokio::fs::read(spec_path(upload)).await?;
        serde_json::from_slice(&body).map_err(io::Error::other)
    }
}
