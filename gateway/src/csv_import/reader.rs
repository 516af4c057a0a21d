//! The streaming reader: bytes in, one validated row at a time out, never the whole file in
//! memory. It reads any [`std::io::Read`] (a spooled upload, or a request body through
//! [`super::body::BodyReader`]) and:
//! - counts bytes and refuses the upload as soon as it passes `max_bytes`, and at the first
//!   row beyond `max_rows`;
//! - drops a UTF-8 BOM; accepts CRLF, LF and CR line ends and quoted cells with delimiters,
//!   quotes and line breaks inside;
//! - takes the delimiter from the options or sniffs `,`, `;` or tab from the header line;
//! - decodes each cell separately, so invalid UTF-8 is reported on its row and column;
//! - numbers rows as a spreadsheet shows them (blank lines count, multi-line cells do not);
//! - skips rows whose cells are all blank (trailing `,,,` lines from spreadsheets);
//! - refuses a second row with the same dedup key as an earlier one.

use std::collections::HashMap;
use std::io::{self, Chain, Cursor, Read};

use csv::ByteRecord;
use sha2::{Digest, Sha256};

use super::accounts::{AccountDirectory, split_list};
use super::columns::{ColumnMap, Field};
use super::row::{RowContext, validate_row};
use super::source::{LimitExceeded, LimitedReader, RowTracker, read_first_line, sniff_delimiter};
use super::{ImportError, ImportOptions, RowError, ValidRow};

/// The outcome of one data row: what to create, or every problem it has.
pub type ParsedRow = Result<ValidRow, Vec<RowError>>;

type Source<R> = RowTracker<Chain<Cursor<Vec<u8>>, LimitedReader<R>>>;

/// Streams the rows of one upload. Yields `Ok(row outcome)` per non-blank data row, or one
/// `Err` that ends the stream (limits, I/O, no rows).
pub struct RowReader<'a, R: Read> {
    csv: csv::Reader<Source<R>>,
    columns: ColumnMap,
    opts: &'a ImportOptions,
    accounts: &'a AccountDirectory,
    record: ByteRecord,
    last_row: u64,
    rows_read: u64,
    seen: HashMap<[u8; 32], u64>,
    finished: bool,
}

impl<R: Read> std::fmt::Debug for RowReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowReader")
            .field("last_row", &self.last_row)
            .field("rows_read", &self.rows_read)
            .finish_non_exhaustive()
    }
}

/// Opens an upload: reads the header and checks it and the options.
///
/// # Errors
/// [`ImportError::Empty`], [`ImportError::Header`] (every header problem),
/// [`ImportError::InvalidOption`] (default accounts that do not resolve),
/// [`ImportError::TooManyBytes`] or [`ImportError::Read`].
pub fn parse_rows<'a, R: Read>(
    reader: R,
    opts: &'a ImportOptions,
    accounts: &'a AccountDirectory,
) -> Result<RowReader<'a, R>, ImportError> {
    let mut limited = LimitedReader {
        inner: reader,
        read: 0,
        max: opts.max_bytes,
    };
    let prefix = read_first_line(&mut limited).map_err(|e| io_error(e, opts, 1))?;
    if prefix.is_empty() {
        return Err(ImportError::Empty);
    }
    let delimiter = opts.delimiter.unwrap_or_else(|| sniff_delimiter(&prefix));
    let tracker = RowTracker::new(Cursor::new(prefix).chain(limited), delimiter);
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(tracker);
    let mut record = ByteRecord::new();
    if !csv
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(e, opts, 1))?
    {
        return Err(ImportError::Empty);
    }
    let header_row = csv.get_mut().pop_start().unwrap_or(1);
    let mut headers = Vec::with_capacity(record.len());
    let mut errors = Vec::new();
    for (i, cell) in record.iter().enumerate() {
        match std::str::from_utf8(cell) {
            Ok(text) => headers.push(text.to_string()),
            Err(_) => {
                let lossy = String::from_utf8_lossy(cell);
                errors.push(RowError::new(
                    header_row,
                    None,
                    &lossy,
                    format!(
                        "header of column {} is not valid UTF-8 text; save the file as CSV UTF-8",
                        i + 1
                    ),
                ));
                headers.push(lossy.into_owned());
            }
        }
    }
    let columns = match ColumnMap::from_header(&headers, opts) {
        Ok(columns) if errors.is_empty() => columns,
        Ok(columns) => {
            errors.extend(columns.notices().iter().cloned());
            return Err(ImportError::Header(errors));
        }
        Err(more) => {
            errors.extend(more);
            return Err(ImportError::Header(errors));
        }
    };
    if let Some(default) = &opts.default_accounts {
        let problems: Vec<String> = split_list(default)
            .filter_map(|token| accounts.resolve(token, &[]).err())
            .collect();
        if !problems.is_empty() {
            return Err(ImportError::InvalidOption {
                name: "accounts",
                message: problems.join("; "),
            });
        }
    }
    Ok(RowReader {
        csv,
        columns,
        opts,
        accounts,
        record,
        last_row: header_row,
        rows_read: 0,
        seen: HashMap::new(),
        finished: false,
    })
}

impl<R: Read> RowReader<'_, R> {
    /// The header mapping.
    pub fn columns(&self) -> &ColumnMap {
        &self.columns
    }

    /// Row-1 notices about the header (unknown columns, whose values are ignored).
    pub fn header_notices(&self) -> &[RowError] {
        self.columns.notices()
    }

    /// Non-blank data rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    fn next_row(&mut self) -> Option<Result<ParsedRow, ImportError>> {
        loop {
            let next = self.last_row + 1;
            match self.csv.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.finished = true;
                    return (self.rows_read == 0).then_some(Err(ImportError::NoRows));
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(csv_error(e, self.opts, next)));
                }
            }
            let tracked = self.csv.get_mut().pop_start().unwrap_or(next);
            let row = tracked.max(next);
            self.last_row = row;
            if self
                .record
                .iter()
                .all(|c| c.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            self.rows_read += 1;
            if self.rows_read > self.opts.max_rows {
                self.finished = true;
                return Some(Err(ImportError::TooManyRows {
                    max_rows: self.opts.max_rows,
                    row,
                }));
            }
            return Some(Ok(self.check_row(row)));
        }
    }

    fn check_row(&mut self, row: u64) -> ParsedRow {
        let mut cells = Vec::with_capacity(self.record.len());
        let mut bad = Vec::new();
        for (i, cell) in self.record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(text) => cells.push(text.to_string()),
                Err(e) => {
                    let column = self.columns.header_at(i).to_string();
                    let lossy = String::from_utf8_lossy(cell).into_owned();
                    bad.push(RowError::new(
                        row,
                        Some(&column),
                        &lossy,
                        format!(
                            "not valid UTF-8 text (invalid byte at position {}); save the file as CSV UTF-8",
                            e.valid_up_to() + 1
                        ),
                    ));
                    cells.push(lossy);
                }
            }
        }
        let cx = RowContext {
            columns: &self.columns,
            opts: self.opts,
            accounts: self.accounts,
        };
        let result = validate_row(&cx, row, &cells);
        if !bad.is_empty() {
            // Checks on undecodable cells would only echo replacement characters.
            let mut errors = bad.clone();
            if let Err(others) = result {
                errors.extend(
                    others
                        .into_iter()
                        .filter(|e| !bad.iter().any(|b| b.column == e.column)),
                );
            }
            return Err(errors);
        }
        let valid = result?;
        let key: [u8; 32] = Sha256::digest(valid.dedup_key().as_bytes()).into();
        if let Some(first) = self.seen.get(&key) {
            let (field, what) = if valid.external_id.is_some() {
                (Field::ExternalId, "external_id as")
            } else {
                (Field::Caption, "content, accounts and time as")
            };
            let value = valid.external_id.as_deref().unwrap_or(&valid.caption);
            return Err(vec![RowError::new(
                row,
                Some(self.columns.name(field)),
                value,
                format!("same {what} row {first}; each post is imported once"),
            )]);
        }
        self.seen.insert(key, row);
        Ok(valid)
    }
}

impl<R: Read> Iterator for RowReader<'_, R> {
    type Item = Result<ParsedRow, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        self.next_row()
    }
}

fn io_error(e: io::Error, opts: &ImportOptions, row: u64) -> ImportError {
    if e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>()) {
        ImportError::TooManyBytes {
            max_bytes: opts.max_bytes,
            row,
        }
    } else {
        ImportError::Read { row, source: e }
    }
}

fn csv_error(e: csv::Error, opts: &ImportOptions, row: u64) -> ImportError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_error(io, opts, row),
        other => ImportError::Read {
            row,
            source: io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
        },
    }
}
