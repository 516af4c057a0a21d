//! Shared set-up for the CSV import tests: a workspace's accounts with fixed ids, options with a
//! fixed clock, fixture loading, and an in-memory store behind `ImportSink`.
#![allow(dead_code)]

use std::collections::HashMap;

use gateway::csv_import::{
    AccountDirectory, CreatedRow, ImportError, ImportOptions, ImportSink, RowError, SinkError,
    ValidRow, parse_rows,
};
use jiff::Timestamp;
use tenants::{AccountId, Platform, PostId};

pub const X: &str = "01900000-0000-7000-8000-000000000001";
pub const IG: &str = "01900000-0000-7000-8000-000000000002";
pub const LI: &str = "01900000-0000-7000-8000-000000000003";
pub const BSKY: &str = "01900000-0000-7000-8000-000000000004";
/// An account of another workspace: absent from [`directory`].
pub const FOREIGN: &str = "01900000-0000-7000-8000-0000000000ff";

pub fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

/// The workspace's accounts: @acme_x, @acme_ig, @acme_li, @acme.bsky.social.
pub fn directory() -> AccountDirectory {
    let mut dir = AccountDirectory::new();
    dir.insert(id(X), Platform::X, "acme_x");
    dir.insert(id(IG), Platform::Instagram, "acme_ig");
    dir.insert(id(LI), Platform::Linkedin, "acme_li");
    dir.insert(id(BSKY), Platform::Bluesky, "acme.bsky.social");
    dir
}

pub fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Options as the endpoint builds them for a workspace in Europe/Paris.
pub fn opts() -> ImportOptions {
    ImportOptions::new("Europe/Paris", now())
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/csv/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Everything a parse of one upload produced.
#[derive(Debug)]
pub struct Outcome {
    pub valid: Vec<ValidRow>,
    pub errors: Vec<RowError>,
    pub notices: Vec<RowError>,
    pub fatal: Option<ImportError>,
}

impl Outcome {
    /// `(row, column, message)` of every row error, in order.
    pub fn problems(&self) -> Vec<(u64, Option<String>, String)> {
        self.errors
            .iter()
            .map(|e| (e.row, e.column.clone(), e.message.clone()))
            .collect()
    }

    pub fn rows(&self) -> Vec<u64> {
        self.valid.iter().map(|r| r.row).collect()
    }

    pub fn captions(&self) -> Vec<&str> {
        self.valid.iter().map(|r| r.caption.as_str()).collect()
    }
}

pub fn problem(row: u64, column: &str, message: &str) -> (u64, Option<String>, String) {
    (row, Some(column.to_string()), message.to_string())
}

pub fn parse_bytes(bytes: &[u8], opts: &ImportOptions, dir: &AccountDirectory) -> Outcome {
    let mut out = Outcome {
        valid: Vec::new(),
        errors: Vec::new(),
        notices: Vec::new(),
        fatal: None,
    };
    let rows = match parse_rows(bytes, opts, dir) {
        Ok(rows) => rows,
        Err(e) => {
            out.fatal = Some(e);
            return out;
        }
    };
    out.notices = rows.header_notices().to_vec();
    for item in rows {
        match item {
            Ok(Ok(row)) => out.valid.push(row),
            Ok(Err(errors)) => out.errors.extend(errors),
            Err(e) => out.fatal = Some(e),
        }
    }
    out
}

pub fn parse_with(name: &str, opts: &ImportOptions) -> Outcome {
    parse_bytes(&fixture(name), opts, &directory())
}

pub fn parse(name: &str) -> Outcome {
    parse_with(name, &opts())
}

/// An in-memory store of imported posts, keyed by dedup key.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub by_key: HashMap<String, PostId>,
    pub created: Vec<ValidRow>,
    pub lookups: usize,
}

impl ImportSink for MemorySink {
    fn find_imported(&mut self, keys: &[String]) -> Result<Vec<Option<PostId>>, SinkError> {
        self.lookups += 1;
        Ok(keys.iter().map(|k| self.by_key.get(k).copied()).collect())
    }

    fn create(&mut self, rows: &[ValidRow]) -> Result<Vec<CreatedRow>, SinkError> {
        let mut out = Vec::new();
        for row in rows {
            if let Some(existing) = self.by_key.get(&row.dedup_key()) {
                out.push(CreatedRow::AlreadyImported(*existing));
                continue;
            }
            let id = PostId::new();
            self.by_key.insert(row.dedup_key(), id);
            self.created.push(row.clone());
            out.push(CreatedRow::New(id));
        }
        Ok(out)
    }
}
