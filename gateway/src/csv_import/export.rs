//! The posts export (`GET /v1/workspaces/{ws}/posts/export.csv`): the canonical columns, one
//! post per row, in a form the importer reads back into the same posts, in this workspace or
//! another one with the same handles.
//!
//! - A UTF-8 BOM and CRLF line ends, so spreadsheets open it as UTF-8.
//! - `scheduled_at` is RFC 3339 with the offset of the post's zone; `timezone` is that zone.
//! - `accounts` are `platform:@username` (an account no longer connected is written as its id,
//!   which will not resolve elsewhere).
//! - Formula injection: any cell starting with `=`, `+`, `-`, `@`, tab or CR, possibly after
//!   some `'`, gets one more leading `'` ([`neutralise`]); the importer removes exactly one
//!   ([`strip_neutralisation`]).
//! - Not carried: per-platform caption variants and uploaded media (only `media_urls`).

use std::borrow::Cow;
use std::io::Write;

use tenants::{Platform, Post, PostStatus};

use super::CANONICAL_COLUMNS;
use super::accounts::AccountDirectory;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The CSV writer or the output failed.
    #[error("the export could not be written: {0}")]
    Write(#[from] csv::Error),
    /// The output failed.
    #[error("the export could not be written: {0}")]
    Io(#[from] std::io::Error),
}

const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn starts_with_trigger_after_quotes(cell: &str) -> bool {
    cell.trim_start_matches('\'').starts_with(TRIGGERS)
}

/// Makes a cell inert in spreadsheets: a cell that starts with `=`, `+`, `-`, `@`, tab or CR,
/// possibly after some `'`, gets one more leading `'`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if starts_with_trigger_after_quotes(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Undoes [`neutralise`]: a cell of one or more `'` followed by `=`, `+`, `-`, `@`, tab or CR
/// loses exactly one `'`. Every other cell, including `'hello`, is returned unchanged.
pub fn strip_neutralisation(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_with_trigger_after_quotes(rest) => rest,
        _ => cell,
    }
}

/// Writes posts as canonical CSV.
pub struct ExportWriter<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter").finish_non_exhaustive()
    }
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export: writes the BOM and the header.
    ///
    /// # Errors
    /// [`ExportError`] when `out` fails.
    pub fn new(mut out: W) -> Result<Self, ExportError> {
        out.write_all("\u{feff}".as_bytes())?;
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        csv.write_record(CANONICAL_COLUMNS)?;
        Ok(Self { csv })
    }

    /// Writes one post. `accounts` names its accounts (the exporting workspace's directory).
    ///
    /// # Errors
    /// [`ExportError`] when the output fails.
    pub fn write_post(
        &mut self,
        post: &Post,
        accounts: &AccountDirectory,
    ) -> Result<(), ExportError> {
        let scheduled_at = post
            .scheduled_at
            .map(|ts| match tenants::parse_timezone(&post.timezone) {
                Ok(tz) => ts.display_with_offset(tz.to_offset(ts)).to_string(),
                Err(_) => ts.to_string(),
            })
            .unwrap_or_default();
        let names: Vec<String> = post
            .account_ids
            .iter()
            .map(|id| accounts.export_name(*id))
            .collect();
        let mut platforms: Vec<Platform> = Vec::new();
        for id in &post.account_ids {
            if let Some(e) = accounts.get(*id)
                && !platforms.contains(&e.platform)
            {
                platforms.push(e.platform);
            }
        }
        let platforms: Vec<&str> = platforms.iter().map(|p| p.as_str()).collect();
        let status = status_name(post.status);
        let cells = [
            scheduled_at.as_str(),
            post.timezone.as_str(),
            &names.join("|"),
            post.caption.as_str(),
            &post.media_urls.join("|"),
            post.first_comment.as_deref().unwrap_or(""),
            &platforms.join("|"),
            status,
            post.external_id.as_deref().unwrap_or(""),
        ];
        self.csv
            .write_record(cells.iter().map(|c| neutralise(c).into_owned()))?;
        Ok(())
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// [`ExportError`] when the final flush fails.
    pub fn into_inner(self) -> Result<W, ExportError> {
        self.csv
            .into_inner()
            .map_err(|e| ExportError::Io(std::io::Error::other(e.error().to_string())))
    }
}

fn status_name(status: PostStatus) -> &'static str {
    match status {
        PostStatus::Draft => "draft",
        PostStatus::Scheduled => "scheduled",
        PostStatus::Publishing => "publishing",
        PostStatus::Published => "published",
        PostStatus::PartiallyPublished => "partially_published",
        PostStatus::Failed => "failed",
        PostStatus::Canceled => "canceled",
    }
}

/// Writes `posts` to `out` as one export.
///
/// # Errors
/// [`ExportError`] when `out` fails.
pub fn export_posts<'a, W: Write>(
    out: W,
    posts: impl IntoIterator<Item = &'a Post>,
    accounts: &AccountDirectory,
) -> Result<W, ExportError> {
    let mut writer = ExportWriter::new(out)?;
    for post in posts {
        writer.write_post(post, accounts)?;
    }
    writer.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_formula_cells_are_neutralised_and_restored() {
        for (cell, exported) in [
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+1", "'+1"),
            ("-5 degrees", "'-5 degrees"),
            ("@acme", "'@acme"),
            ("\tindent", "'\tindent"),
            ("\rx", "'\rx"),
            ("'=already", "''=already"),
            ("'quoted", "'quoted"),
            ("plain", "plain"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), exported, "{cell:?}");
            assert_eq!(strip_neutralisation(exported), cell, "{exported:?}");
        }
    }
}
