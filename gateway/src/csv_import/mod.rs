//! Bulk scheduling by CSV: the streaming parser, per-row validation, the import report and the
//! export writer behind `POST /v1/workspaces/{ws}/imports` and
//! `GET /v1/workspaces/{ws}/posts/export.csv`.
//!
//! Flow: upload bytes -> [`reader::RowReader`] (BOM, delimiter, limits, one record at a time)
//! -> [`columns::ColumnMap`] (header and aliases) -> [`row::validate_row`] (dates, accounts,
//! platform limits, media URLs) -> [`ValidRow`] or [`RowError`]s -> [`report::run_import`]
//! (dry run, all-or-nothing, de-duplication, creation through an [`report::ImportSink`]).
//!
//! Rules a person relies on:
//! - Row numbers are spreadsheet rows: the header is row 1, a blank line is a row, a quoted
//!   cell spanning several lines is one row.
//! - Lists (`accounts`, `platforms`) are separated by `|`, `;` or `,`. `media_urls` are
//!   separated by `|`, whitespace, or by `,`/`;` directly followed by `http://` or `https://`,
//!   so commas inside a URL (image CDN transformations) survive.
//! - Formula neutralisation: on export any cell that starts with `=`, `+`, `-`, `@`, tab or CR,
//!   possibly after some `'`, gets one more leading `'`. On import a cell made of one or more
//!   `'` followed by one of those characters loses exactly one `'`. Other cells starting with
//!   `'` are kept as they are, so export then import is lossless.
//! - Idempotency: every valid row has a [`ValidRow::dedup_key`]: its `external_id`, else
//!   `row:<UTC time>:<fingerprint of the normalised row>` (`row:draft:<fingerprint>` without a
//!   time). The time leads so that a file in date order (a content calendar) adds its keys at
//!   one end of the store's index instead of all over it. The same file uploaded twice gives
//!   the same keys, and two rows of one file with the same key are refused; the store (through
//!   [`report::ImportSink`]) says which keys already exist in the workspace.
//! - Row 0 in an error means "not a row of the file" (a query option, the store).

pub mod accounts;
pub mod body;
pub mod columns;
pub mod datetime;
pub mod export;
pub mod media;
pub mod reader;
pub mod report;
pub mod row;
mod source;
pub mod ssrf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tenants::{AccountId, Platform, Post, PostId, PostStatus, UserId, WorkspaceId};

pub use accounts::{AccountDirectory, AccountEntry};
pub use body::{BodyReader, BodySender, body_channel};
pub use columns::{CANONICAL_COLUMNS, ColumnMap, Field};
pub use datetime::{DateOrder, parse_datetime};
pub use export::{ExportError, ExportWriter, neutralise, strip_neutralisation};
pub use reader::{ParsedRow, RowReader, parse_rows};
pub use report::{
    AlreadyImported, CreatedRow, ImportReport, ImportSink, ImportStatus, SinkError, run_import,
};
pub use source::sniff_delimiter;
pub use ssrf::{MediaUrlError, check_media_url};

/// The largest upload accepted by default: 50 MB.
pub const DEFAULT_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// The most data rows accepted by default.
pub const DEFAULT_MAX_ROWS: u64 = 200_000;
/// How many characters of an offending value an error echoes.
pub const MAX_ECHOED_CHARS: usize = 100;

/// What to do when some rows are invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Create nothing unless every row is valid.
    #[default]
    AllOrNothing,
    /// Create the valid rows and report the others.
    ValidRows,
}

/// Everything an import needs besides the bytes and the workspace's accounts.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Validate and report only; create nothing.
    pub dry_run: bool,
    /// All-or-nothing or valid rows only.
    pub mode: ImportMode,
    /// How to read `03/04/2026`; `None` rejects dates whose day/month order is ambiguous.
    pub date_order: Option<DateOrder>,
    /// The field delimiter; `None` sniffs `,`, `;` or tab from the header line.
    pub delimiter: Option<u8>,
    /// The zone of local times given without a `timezone` (the workspace's zone).
    pub default_timezone: String,
    /// Accounts for rows that name none (`?accounts=`), in the `accounts` column's syntax.
    pub default_accounts: Option<String>,
    /// The current time: times at or before it are in the past.
    pub now: Timestamp,
    /// The most data rows; the upload is refused at the first row beyond it.
    pub max_rows: u64,
    /// The most bytes; the upload is refused as soon as it grows beyond it.
    pub max_bytes: u64,
}

impl ImportOptions {
    /// Options with the defaults: all-or-nothing, not a dry run, sniffed delimiter, no date
    /// order, 50 MB and 200,000 rows.
    pub fn new(default_timezone: impl Into<String>, now: Timestamp) -> Self {
        Self {
            dry_run: false,
            mode: ImportMode::AllOrNothing,
            date_order: None,
            delimiter: None,
            default_timezone: default_timezone.into(),
            default_accounts: None,
            now,
            max_rows: DEFAULT_MAX_ROWS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// The query string of the import endpoint (`?dry_run=true&mode=valid_rows&date_order=dmy
/// &delimiter=;&accounts=@acme`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Validate only.
    #[serde(default)]
    pub dry_run: bool,
    /// `all_or_nothing` (default) or `valid_rows`.
    #[serde(default)]
    pub mode: ImportMode,
    /// `dmy` or `mdy`.
    pub date_order: Option<DateOrder>,
    /// `,`, `;`, `|`, a tab, or the words `comma`, `semicolon`, `pipe`, `tab`.
    pub delimiter: Option<String>,
    /// Accounts for rows without any.
    pub accounts: Option<String>,
}

impl ImportQuery {
    /// Builds the options, with the workspace's zone, the current time and the limits.
    ///
    /// # Errors
    /// [`ImportError::InvalidOption`] for a delimiter that is not one of those accepted.
    pub fn into_options(
        self,
        default_timezone: impl Into<String>,
        now: Timestamp,
    ) -> Result<ImportOptions, ImportError> {
        let delimiter = match self.delimiter.as_deref() {
            None | Some("") => None,
            Some("," | "comma") => Some(b','),
            Some(";" | "semicolon") => Some(b';'),
            Some("\t" | "tab") => Some(b'\t'),
            Some("|" | "pipe") => Some(b'|'),
            Some(other) => {
                return Err(ImportError::InvalidOption {
                    name: "delimiter",
                    message: format!(
                        "`{}` is not a delimiter; use comma, semicolon, tab or pipe",
                        echo(other)
                    ),
                });
            }
        };
        let mut opts = ImportOptions::new(default_timezone, now);
        opts.dry_run = self.dry_run;
        opts.mode = self.mode;
        opts.date_order = self.date_order;
        opts.delimiter = delimiter;
        opts.default_accounts = self.accounts.filter(|a| !a.trim().is_empty());
        Ok(opts)
    }
}

/// One problem a person can fix, located as a spreadsheet shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// The spreadsheet row: the header is row 1.
    pub row: u64,
    /// The column as its header is written in the file (or the canonical name when the value
    /// came from elsewhere); `None` for a problem with the whole row or file.
    pub column: Option<String>,
    /// The offending value, at most [`MAX_ECHOED_CHARS`] characters, control characters
    /// replaced: shown, never evaluated.
    pub value: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl RowError {
    /// Builds an error, making `value` safe to echo.
    pub fn new(
        row: u64,
        column: Option<&str>,
        value: &str,
        message: impl Into<String>,
    ) -> RowError {
        RowError {
            row,
            column: column.map(str::to_string),
            value: echo(value),
            message: message.into(),
        }
    }
}

/// Truncates to [`MAX_ECHOED_CHARS`] characters (with `…`) and replaces control characters, so
/// a value can be shown back in a report.
pub fn echo(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(MAX_ECHOED_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if value.chars().nth(MAX_ECHOED_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// A row that passed every check: everything needed to create its post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidRow {
    /// The spreadsheet row.
    pub row: u64,
    /// The caption (with a `link` column's URL appended).
    pub caption: String,
    /// The target accounts, in file order, without repeats.
    pub account_ids: Vec<AccountId>,
    /// The platforms of those accounts, in first-seen order.
    pub platforms: Vec<Platform>,
    /// When it is due; `None` only for a draft without a time.
    pub scheduled_at: Option<Timestamp>,
    /// The IANA zone it was scheduled in.
    pub timezone: String,
    /// Public media URLs, checked but never fetched.
    pub media_urls: Vec<String>,
    /// The first comment, if any.
    pub first_comment: Option<String>,
    /// [`PostStatus::Draft`] or [`PostStatus::Scheduled`].
    pub status: PostStatus,
    /// The caller's id for the post.
    pub external_id: Option<String>,
    /// SHA-256 (hex) of the normalised row: same content, same fingerprint.
    pub fingerprint: String,
}

impl ValidRow {
    /// The key that makes re-importing this row a no-op: the row's `external_id` when it has
    /// one, else `row:<YYYYMMDDTHHMMSSZ>:<fingerprint>` (`row:draft:<fingerprint>` for a draft
    /// without a time). The fingerprint covers the time too; the time is repeated in front
    /// only so that rows in date order get neighbouring keys. Store it as the post's
    /// `external_id` (as [`ValidRow::into_post`] does) and look it up before creating.
    pub fn dedup_key(&self) -> String {
        match (&self.external_id, self.scheduled_at) {
            (Some(id), _) => id.clone(),
            (None, Some(at)) => {
                format!("row:{}:{}", at.strftime("%Y%m%dT%H%M%SZ"), self.fingerprint)
            }
            (None, None) => format!("row:draft:{}", self.fingerprint),
        }
    }

    /// The post this row creates, with [`ValidRow::dedup_key`] as its `external_id`, so a
    /// re-upload (or an export re-imported here) finds it.
    pub fn into_post(
        self,
        workspace_id: WorkspaceId,
        created_by: Option<UserId>,
        now: Timestamp,
    ) -> Post {
        let external_id = Some(self.dedup_key());
        Post {
            id: PostId::new(),
            workspace_id,
            caption: self.caption,
            variants: Default::default(),
            media_ids: Vec::new(),
            media_urls: self.media_urls,
            first_comment: self.first_comment,
            account_ids: self.account_ids,
            status: self.status,
            scheduled_at: self.scheduled_at,
            timezone: self.timezone,
            external_id,
            created_by,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Why an import stopped before its end. Row problems are [`RowError`]s, not this.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Nothing at all was uploaded.
    #[error("the file is empty; its first row must be a header such as {}", CANONICAL_COLUMNS.join(","))]
    Empty,
    /// A header and no data rows.
    #[error("the file has a header but no rows to import")]
    NoRows,
    /// The header cannot be used (missing or repeated columns, invalid UTF-8); each problem is
    /// listed.
    #[error("the header row cannot be used: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Header(Vec<RowError>),
    /// The upload grew beyond the byte limit.
    #[error("the file is larger than {max_bytes} bytes (stopped at row {row})")]
    TooManyBytes {
        /// The limit.
        max_bytes: u64,
        /// The row being read when the limit was passed.
        row: u64,
    },
    /// The upload has more data rows than allowed.
    #[error("the file has more than {max_rows} rows (stopped at row {row})")]
    TooManyRows {
        /// The limit.
        max_rows: u64,
        /// The first row beyond it.
        row: u64,
    },
    /// Reading the upload failed.
    #[error("the upload could not be read at row {row}: {source}")]
    Read {
        /// The row being read.
        row: u64,
        /// The cause.
        source: std::io::Error,
    },
    /// A query option is invalid.
    #[error("{name}: {message}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store refused to look up or create posts.
    #[error("the posts could not be saved")]
    Sink(#[source] SinkError),
}

impl ImportError {
    /// The error as report entries a person sees.
    pub fn row_errors(&self) -> Vec<RowError> {
        match self {
            ImportError::Header(errors) => errors.clone(),
            ImportError::TooManyBytes { row, .. } | ImportError::TooManyRows { row, .. } => {
                vec![RowError::new(*row, None, "", self.to_string())]
            }
            ImportError::Read { row, .. } => vec![RowError::new(
                *row,
                None,
                "",
                format!("the upload could not be read at row {row}"),
            )],
            ImportError::InvalidOption { name, message } => {
                vec![RowError::new(0, Some(name), "", message.clone())]
            }
            ImportError::Empty | ImportError::NoRows => {
                vec![RowError::new(1, None, "", self.to_string())]
            }
            ImportError::Sink(_) => vec![RowError::new(0, None, "", self.to_string())],
        }
    }
}
