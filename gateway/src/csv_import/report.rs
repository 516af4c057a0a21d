//! The import report (the endpoint's response body) and the driver that runs an import through
//! a store-backed [`ImportSink`].
//!
//! [`run_import`] reads the upload twice, so that neither mode needs the rows in memory:
//! 1. validate every row, and ask the sink which rows were already imported; a dry run stops
//!    here, and so does an all-or-nothing import with an invalid row, or any refused upload
//!    (limits are hit in this pass, before anything is created);
//! 2. read again and create the valid rows not yet imported, in batches.
//!
//! The caller makes the upload re-readable (spooled to a temporary file, bounded by
//! `max_bytes`). The sink is blocking: run the import in `spawn_blocking` and bridge to the
//! async store with `Handle::block_on`.

use std::io::Read;

use serde::{Deserialize, Serialize};
use tenants::{ImportId, PostId};

use super::accounts::AccountDirectory;
use super::reader::parse_rows;
use super::{ImportError, ImportMode, ImportOptions, RowError, ValidRow};

/// Rows validated and looked up together (and the progress step).
pub const BATCH_ROWS: usize = 500;
/// Rows created together: one [`ImportSink::create`] call, a few store transactions.
pub const CREATE_BATCH_ROWS: usize = 4_000;
/// The most entries `errors` and `already_imported` list; counts go on beyond.
pub const MAX_REPORTED: usize = 1_000;

/// A store failure, kept for the log; the report only says that saving failed.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where valid rows go. Implemented over the store by the endpoint.
pub trait ImportSink {
    /// For each dedup key ([`ValidRow::dedup_key`], the `external_id` of imported posts), the
    /// post already holding it in this workspace.
    ///
    /// # Errors
    /// A store failure.
    fn find_imported(&mut self, keys: &[String]) -> Result<Vec<Option<PostId>>, SinkError>;

    /// Creates one post per row (none of them known to be imported) and says, row by row,
    /// what became of it. The store refuses a duplicate `external_id` itself, closing the race
    /// between two uploads of one file: a row another upload created meanwhile comes back as
    /// [`CreatedRow::AlreadyImported`].
    ///
    /// # Errors
    /// A store failure.
    fn create(&mut self, rows: &[ValidRow]) -> Result<Vec<CreatedRow>, SinkError>;

    /// Starts creating `rows` and may return before they are written, with the outcomes of
    /// rows submitted earlier (each with its row), so that reading the next rows overlaps
    /// with writing these. The default creates them now.
    ///
    /// # Errors
    /// A store failure.
    fn submit(&mut self, rows: Vec<ValidRow>) -> Result<Vec<(ValidRow, CreatedRow)>, SinkError> {
        let created = self.create(&rows)?;
        if created.len() != rows.len() {
            let message = format!("create answered {} of {} rows", created.len(), rows.len());
            return Err(message.into());
        }
        Ok(rows.into_iter().zip(created).collect())
    }

    /// Waits until every submitted row is written and returns the outcomes not returned yet.
    ///
    /// # Errors
    /// A store failure.
    fn drain(&mut self) -> Result<Vec<(ValidRow, CreatedRow)>, SinkError> {
        Ok(Vec::new())
    }

    /// Told every [`BATCH_ROWS`] rows how far the import is: `rows_read` data rows validated
    /// (all of them once creation starts) and `posts_created` so far. For a progress display;
    /// the default ignores it.
    fn progress(&mut self, rows_read: u64, posts_created: u64) {
        let _ = (rows_read, posts_created);
    }
}

/// What [`ImportSink::create`] did with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedRow {
    /// Its post was created.
    New(PostId),
    /// Its dedup key was already taken by this post (created by a concurrent upload).
    AlreadyImported(PostId),
}

/// Where an import stands. On the wire: `pending`, `running`, `completed` (succeeded or
/// partial: the counts and errors tell them apart) or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ImportStatus {
    /// Accepted, waiting for the job runner.
    #[serde(rename = "pending")]
    Queued,
    /// Being validated or created.
    #[serde(rename = "running")]
    Running,
    /// Every row valid: all were created (or would be, in a dry run), except those already
    /// imported.
    #[serde(rename = "completed")]
    Succeeded,
    /// Valid-rows mode: the valid rows were created (or would be), the invalid ones reported.
    /// Reads back as [`ImportStatus::Succeeded`], since both are `completed` on the wire.
    #[serde(rename(serialize = "completed", deserialize = "partial"))]
    Partial,
    /// Nothing was created: an invalid row in all-or-nothing mode, no valid row, or a refused
    /// upload.
    #[serde(rename = "failed")]
    Failed,
}

/// A valid row whose post already exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlreadyImported {
    /// The spreadsheet row.
    pub row: u64,
    /// Its dedup key.
    pub key: String,
    /// The existing post.
    #[schema(value_type = String)]
    pub post_id: PostId,
}

/// The response to an import: counts, and every problem with its row and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// The import's id.
    #[schema(value_type = String)]
    pub id: ImportId,
    /// Where it stands.
    pub status: ImportStatus,
    /// Whether this was only a validation.
    pub dry_run: bool,
    /// Non-blank data rows read.
    pub rows_total: u64,
    /// Rows that passed every check (already imported ones included).
    pub rows_valid: u64,
    /// Rows with at least one problem.
    pub rows_invalid: u64,
    /// Posts created by this import.
    pub posts_created: u64,
    /// Problems, by row then column (at most [`MAX_REPORTED`]). Row-1 entries about unknown
    /// columns are notices: they do not make the import fail.
    pub errors: Vec<RowError>,
    /// Valid rows skipped because their post exists (at most [`MAX_REPORTED`]).
    pub already_imported: Vec<AlreadyImported>,
}

impl ImportReport {
    /// An empty report for a running import.
    pub fn new(id: ImportId, dry_run: bool) -> Self {
        Self {
            id,
            status: ImportStatus::Running,
            dry_run,
            rows_total: 0,
            rows_valid: 0,
            rows_invalid: 0,
            posts_created: 0,
            errors: Vec::new(),
            already_imported: Vec::new(),
        }
    }

    fn push_errors(&mut self, errors: impl IntoIterator<Item = RowError>) {
        let room = MAX_REPORTED.saturating_sub(self.errors.len());
        self.errors.extend(errors.into_iter().take(room));
    }

    fn fail(mut self, error: &ImportError) -> Self {
        if let ImportError::Sink(cause) = error {
            tracing::error!(import_id = %self.id, error = %cause, "import could not save posts");
        }
        self.push_errors(error.row_errors());
        self.status = ImportStatus::Failed;
        self
    }
}

/// Runs an import: validates (pass 1), then creates (pass 2) unless it is a dry run or
/// all-or-nothing found an invalid row. `open` gives the upload from its start each time.
pub fn run_import<R: Read>(
    mut open: impl FnMut() -> std::io::Result<R>,
    id: ImportId,
    opts: &ImportOptions,
    accounts: &AccountDirectory,
    sink: &mut impl ImportSink,
) -> ImportReport {
    let mut report = ImportReport::new(id, opts.dry_run);
    let mut validate = Pass {
        create: false,
        look_up: true,
        num_already_imported: 0,
    };
    if let Err(e) = pass(&mut open, opts, accounts, sink, &mut report, &mut validate) {
        return report.fail(&e);
    }
    let blocked = report.rows_invalid > 0 && opts.mode == ImportMode::AllOrNothing;
    if report.rows_valid == 0 || blocked {
        report.status = ImportStatus::Failed;
        return report;
    }
    if !opts.dry_run {
        report.already_imported.clear();
        // When validation found no row imported before (the usual first upload), creating
        // skips the look-up: the store still refuses, inside its transaction, a key that a
        // concurrent upload took meanwhile, and says so row by row.
        let mut create = Pass {
            create: true,
            look_up: validate.num_already_imported > 0,
            num_already_imported: 0,
        };
        if let Err(e) = pass(&mut open, opts, accounts, sink, &mut report, &mut create) {
            return report.fail(&e);
        }
    }
    report.status = if report.rows_invalid == 0 {
        ImportStatus::Succeeded
    } else {
        ImportStatus::Partial
    };
    report
}

/// What one read of the upload does.
struct Pass {
    /// Create the rows (else validate and count them).
    create: bool,
    /// Ask the sink which rows exist before creating them.
    look_up: bool,
    /// Valid rows the look-up found imported already.
    num_already_imported: u64,
}

/// One read of the upload. Validating records counts and errors; creating only creates (the
/// bytes, options and clock are the same, so the rows are too).
fn pass<R: Read>(
    open: &mut impl FnMut() -> std::io::Result<R>,
    opts: &ImportOptions,
    accounts: &AccountDirectory,
    sink: &mut impl ImportSink,
    report: &mut ImportReport,
    this: &mut Pass,
) -> Result<(), ImportError> {
    let create = this.create;
    let source = open().map_err(|source| ImportError::Read { row: 1, source })?;
    let mut rows = parse_rows(source, opts, accounts)?;
    if !create {
        report.push_errors(rows.header_notices().to_vec());
    }
    let batch_rows = if create {
        CREATE_BATCH_ROWS
    } else {
        BATCH_ROWS
    };
    let mut batch = Vec::with_capacity(batch_rows);
    let mut num_seen: usize = 0;
    while let Some(parsed) = rows.next() {
        num_seen += 1;
        if num_seen % BATCH_ROWS == 0 {
            let rows_read = if create {
                report.rows_total
            } else {
                rows.rows_read()
            };
            sink.progress(rows_read, report.posts_created);
        }
        match parsed? {
            Ok(row) => {
                batch.push(row);
                if batch.len() == batch_rows {
                    flush(sink, report, &mut batch, this)?;
                }
            }
            Err(errors) if !create => {
                report.rows_invalid += 1;
                report.push_errors(errors);
            }
            Err(_) => {}
        }
    }
    flush(sink, report, &mut batch, this)?;
    if create {
        record_created(report, sink.drain().map_err(ImportError::Sink)?);
        report.already_imported.sort_by_key(|a| a.row);
    } else {
        report.rows_total = rows.rows_read();
    }
    sink.progress(report.rows_total, report.posts_created);
    Ok(())
}

fn flush(
    sink: &mut impl ImportSink,
    report: &mut ImportReport,
    batch: &mut Vec<ValidRow>,
    this: &mut Pass,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let create = this.create;
    let existing = if this.look_up {
        let keys: Vec<String> = batch.iter().map(ValidRow::dedup_key).collect();
        let existing = sink.find_imported(&keys).map_err(ImportError::Sink)?;
        if existing.len() != keys.len() {
            let message = format!(
                "find_imported answered {} of {} keys",
                existing.len(),
                keys.len()
            );
            return Err(ImportError::Sink(message.into()));
        }
        existing
    } else {
        vec![None; batch.len()]
    };
    let mut fresh = Vec::with_capacity(batch.len());
    for (row, found) in batch.drain(..).zip(existing) {
        if !create {
            report.rows_valid += 1;
        }
        match found {
            Some(post_id) => {
                this.num_already_imported += 1;
                let key = row.dedup_key();
                if report.already_imported.len() < MAX_REPORTED {
                    report.already_imported.push(AlreadyImported {
                        row: row.row,
                        key,
                        post_id,
                    });
                }
            }
            None => fresh.push(row),
        }
    }
    if create && !fresh.is_empty() {
        let done = sink.submit(fresh).map_err(ImportError::Sink)?;
        record_created(report, done);
    }
    Ok(())
}

/// Counts created posts and lists rows another upload created meanwhile.
fn record_created(report: &mut ImportReport, done: Vec<(ValidRow, CreatedRow)>) {
    for (row, outcome) in done {
        match outcome {
            CreatedRow::New(_) => report.posts_created += 1,
            CreatedRow::AlreadyImported(post_id) => {
                if report.already_imported.len() < MAX_REPORTED {
                    report.already_imported.push(AlreadyImported {
                        row: row.row,
                        key: row.dedup_key(),
                        post_id,
                    });
                }
            }
        }
    }
}
