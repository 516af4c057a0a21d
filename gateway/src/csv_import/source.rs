//! What sits between the upload and the CSV parser: the byte limit, the first-line peek for
//! delimiter sniffing, and the tracker that numbers rows the way a spreadsheet shows them.

use std::collections::VecDeque;
use std::io::{self, Read};

/// The longest header line looked at to sniff the delimiter.
const SNIFF_LIMIT: usize = 64 * 1024;

/// The payload of the I/O error raised when the byte limit is passed.
#[derive(Debug, thiserror::Error)]
#[error("byte limit exceeded")]
pub(super) struct LimitExceeded;

/// Counts bytes and fails once more than `max` have been read.
pub(super) struct LimitedReader<R> {
    pub(super) inner: R,
    pub(super) read: u64,
    pub(super) max: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max {
            return Err(io::Error::other(LimitExceeded));
        }
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    RecordStart,
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Follows the bytes the CSV parser is fed with the same quoting rules, to learn the
/// spreadsheet row each non-blank record starts on (the parser skips blank lines and counts
/// line breaks inside quoted cells, so its own line numbers are not rows).
pub(super) struct RowTracker<R> {
    inner: R,
    delimiter: u8,
    state: Scan,
    after_cr: bool,
    row: u64,
    starts: VecDeque<u64>,
}

impl<R> RowTracker<R> {
    /// Tracks `inner`, split by `delimiter`; the first line is row 1.
    pub(super) fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner,
            delimiter,
            state: Scan::RecordStart,
            after_cr: false,
            row: 1,
            starts: VecDeque::new(),
        }
    }

    /// The row of the next record the parser yields, in order.
    pub(super) fn pop_start(&mut self) -> Option<u64> {
        self.starts.pop_front()
    }

    fn scan(&mut self, byte: u8) {
        let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
        let line_end = byte == b'\r' || byte == b'\n';
        match self.state {
            Scan::RecordStart if byte == b'\n' && after_cr => self.after_cr = false,
            Scan::RecordStart if line_end => self.row += 1,
            Scan::RecordStart => {
                self.starts.push_back(self.row);
                self.state = Scan::FieldStart;
                self.scan_field_byte(byte);
            }
            Scan::Quoted => {
                if byte == b'"' {
                    self.state = Scan::QuoteInQuoted;
                }
            }
            Scan::QuoteInQuoted if byte == b'"' => self.state = Scan::Quoted,
            Scan::FieldStart | Scan::Unquoted | Scan::QuoteInQuoted => self.scan_field_byte(byte),
        }
    }

    fn scan_field_byte(&mut self, byte: u8) {
        self.state = match byte {
            b'\r' | b'\n' => {
                self.row += 1;
                Scan::RecordStart
            }
            b'"' if self.state == Scan::FieldStart => Scan::Quoted,
            b if b == self.delimiter => Scan::FieldStart,
            _ => Scan::Unquoted,
        };
    }
}

impl<R: Read> Read for RowTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            self.scan(byte);
        }
        Ok(n)
    }
}

/// Reads up to the first line break (or [`SNIFF_LIMIT`] bytes, or the end).
pub(super) fn read_first_line<R: Read>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::new();
    let mut chunk = [0u8; 4096];
    while prefix.len() < SNIFF_LIMIT {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        prefix.extend_from_slice(&chunk[..n]);
        if chunk[..n].contains(&b'\n') {
            break;
        }
    }
    Ok(prefix)
}

/// The delimiter of the header line: the most frequent of `,`, `;` and tab outside quotes
/// (comma on a tie or when none appears).
pub fn sniff_delimiter(prefix: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in prefix {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}
