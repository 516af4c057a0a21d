//! CSV import end to end through `run_import`: modes, dry run, idempotent re-upload, the report's
//! wire shape, store failures, and the async body bridge.

mod csv_support;

use bytes::Bytes;
use csv_support::*;
use gateway::csv_import::{
    CreatedRow, ImportError, ImportMode, ImportOptions, ImportReport, ImportSink, ImportStatus,
    SinkError, ValidRow, body_channel, parse_rows, run_import,
};
use tenants::{ImportId, PostId};

fn run(name: &str, opts: &ImportOptions, sink: &mut MemorySink) -> ImportReport {
    let bytes = fixture(name);
    run_import(|| Ok(&bytes[..]), ImportId::new(), opts, &directory(), sink)
}

fn rows_of(report: &ImportReport) -> Vec<(u64, Option<String>)> {
    report
        .errors
        .iter()
        .map(|e| (e.row, e.column.clone()))
        .collect()
}

#[test]
fn test_all_or_nothing_creates_nothing_when_a_row_is_invalid() {
    let mut sink = MemorySink::default();
    let report = run("embedded.csv", &opts(), &mut sink);
    assert_eq!(report.status, ImportStatus::Failed);
    assert_eq!(
        (
            report.rows_total,
            report.rows_valid,
            report.rows_invalid,
            report.posts_created
        ),
        (4, 2, 2, 0)
    );
    assert_eq!(
        rows_of(&report),
        vec![
            (4, Some("accounts".into())),
            (6, Some("scheduled_at".into()))
        ]
    );
    assert!(sink.created.is_empty());
}

#[test]
fn test_valid_rows_mode_creates_the_valid_rows_and_reports_the_rest() {
    let mut opts = opts();
    opts.mode = ImportMode::ValidRows;
    let mut sink = MemorySink::default();
    let report = run("embedded.csv", &opts, &mut sink);
    assert_eq!(report.status, ImportStatus::Partial);
    assert_eq!(report.posts_created, 2);
    assert_eq!(report.errors.len(), 2);
    let created: Vec<u64> = sink.created.iter().map(|r| r.row).collect();
    assert_eq!(created, vec![2, 5]);
}

#[test]
fn test_dry_run_validates_and_creates_nothing() {
    let mut opts = opts();
    opts.dry_run = true;
    let mut sink = MemorySink::default();
    let report = run("canonical.csv", &opts, &mut sink);
    assert_eq!(report.status, ImportStatus::Succeeded);
    assert!(report.dry_run);
    assert_eq!(
        (report.rows_total, report.rows_valid, report.posts_created),
        (3, 3, 0)
    );
    assert!(sink.created.is_empty());
}

#[test]
fn test_uploading_the_same_file_again_creates_no_duplicates() {
    let mut sink = MemorySink::default();
    let first = run("canonical.csv", &opts(), &mut sink);
    assert_eq!(first.status, ImportStatus::Succeeded);
    assert_eq!(first.posts_created, 3);
    assert!(first.already_imported.is_empty());

    let second = run("canonical.csv", &opts(), &mut sink);
    assert_eq!(second.status, ImportStatus::Succeeded);
    assert_eq!((second.rows_valid, second.posts_created), (3, 0));
    let seen: Vec<(u64, &str)> = second
        .already_imported
        .iter()
        .map(|a| (a.row, a.key.as_str()))
        .collect();
    assert_eq!(seen[..2], [(2, "launch-1"), (3, "launch-2")]);
    assert_eq!(seen[2].0, 4);
    assert!(seen[2].1.starts_with("row:"), "{}", seen[2].1);
    assert_eq!(second.already_imported[0].post_id, sink.by_key["launch-1"]);
    assert_eq!(sink.created.len(), 3);
}

#[test]
fn test_row_with_an_imported_external_id_is_skipped_and_named() {
    let mut sink = MemorySink::default();
    run("canonical.csv", &opts(), &mut sink);
    let report = run("external_id_reuse.csv", &opts(), &mut sink);
    assert_eq!(report.status, ImportStatus::Succeeded);
    assert_eq!(report.posts_created, 1);
    assert_eq!(report.already_imported.len(), 1);
    assert_eq!(report.already_imported[0].row, 2);
    assert_eq!(report.already_imported[0].key, "launch-1");
    assert_eq!(
        sink.created.last().unwrap().external_id.as_deref(),
        Some("launch-3")
    );
}

#[test]
fn test_limit_refusal_creates_nothing_even_in_valid_rows_mode() {
    let mut opts = opts();
    opts.mode = ImportMode::ValidRows;
    opts.max_rows = 2;
    let mut sink = MemorySink::default();
    let report = run("canonical.csv", &opts, &mut sink);
    assert_eq!(report.status, ImportStatus::Failed);
    assert_eq!(report.posts_created, 0);
    assert_eq!(rows_of(&report), vec![(4, None)]);
    assert_eq!(
        report.errors[0].message,
        "the file has more than 2 rows (stopped at row 4)"
    );
    assert!(sink.created.is_empty());
}

#[test]
fn test_unknown_columns_are_notices_that_do_not_block_the_import() {
    let mut opts = opts();
    opts.default_accounts = Some("@acme_li".into());
    let mut sink = MemorySink::default();
    let report = run("unknown_columns.csv", &opts, &mut sink);
    assert_eq!(report.status, ImportStatus::Succeeded);
    assert_eq!(report.posts_created, 1);
    assert_eq!(
        rows_of(&report),
        vec![(1, Some("tags".into())), (1, Some("Notes".into()))]
    );
}

#[test]
fn test_header_problems_fail_the_import_with_row_one_errors() {
    let mut sink = MemorySink::default();
    let report = run("bad_header.csv", &opts(), &mut sink);
    assert_eq!(report.status, ImportStatus::Failed);
    assert_eq!(
        rows_of(&report),
        vec![(1, Some("Text".into())), (1, None), (1, None)]
    );
    assert_eq!(sink.lookups, 0);
}

#[test]
fn test_report_has_the_documented_wire_shape() {
    let mut opts = opts();
    opts.mode = ImportMode::ValidRows;
    let mut sink = MemorySink::default();
    let report = run("embedded.csv", &opts, &mut sink);
    let json = serde_json::to_value(&report).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "already_imported",
            "dry_run",
            "errors",
            "id",
            "posts_created",
            "rows_invalid",
            "rows_total",
            "rows_valid",
            "status"
        ]
    );
    assert_eq!(json["status"], "completed");
    assert_eq!(
        json["errors"][0],
        serde_json::json!({
            "row": 4,
            "column": "accounts",
            "value": "@nobody",
            "message": "unknown account `@nobody`: no account with that username is connected \
                        to this workspace"
        })
    );
}

struct FailingSink;

impl ImportSink for FailingSink {
    fn find_imported(&mut self, keys: &[String]) -> Result<Vec<Option<PostId>>, SinkError> {
        Ok(vec![None; keys.len()])
    }

    fn create(&mut self, _rows: &[ValidRow]) -> Result<Vec<CreatedRow>, SinkError> {
        Err("connection refused by 10.0.0.7:9042".into())
    }
}

#[test]
fn test_store_failure_fails_the_import_without_leaking_the_cause() {
    let bytes = fixture("canonical.csv");
    let report = run_import(
        || Ok(&bytes[..]),
        ImportId::new(),
        &opts(),
        &directory(),
        &mut FailingSink,
    );
    assert_eq!(report.status, ImportStatus::Failed);
    assert_eq!(report.posts_created, 0);
    assert_eq!(rows_of(&report), vec![(0, None)]);
    assert_eq!(report.errors[0].message, "the posts could not be saved");
}

#[tokio::test]
async fn test_async_body_is_parsed_while_it_streams() {
    let bytes = fixture("embedded.csv");
    let (tx, rx) = body_channel(2);
    let parser = tokio::task::spawn_blocking(move || {
        let (opts, dir) = (opts(), directory());
        let rows = parse_rows(rx, &opts, &dir).unwrap();
        rows.map(|r| r.unwrap().map(|v| v.row).map_err(|e| e[0].row))
            .collect::<Vec<_>>()
    });
    let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(5)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    tx.forward(futures::stream::iter(chunks)).await.unwrap();
    assert_eq!(parser.await.unwrap(), vec![Ok(2), Err(4), Ok(5), Err(6)]);
}

#[tokio::test]
async fn test_parser_stopping_early_stops_the_body() {
    let (tx, rx) = body_channel(2);
    let parser = tokio::task::spawn_blocking(move || {
        let mut opts = opts();
        opts.max_rows = 10;
        let dir = directory();
        let rows = parse_rows(rx, &opts, &dir).unwrap();
        rows.filter_map(Result::err)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    });
    let header = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
        b"scheduled_at,accounts,caption\n",
    ))]);
    let rows = futures::stream::repeat_with(|| {
        Ok(Bytes::from_static(b"2026-07-01T09:00:00Z,@acme_x,Again\n"))
    });
    let sent = tx.forward(futures::StreamExt::chain(header, rows)).await;
    assert_eq!(sent.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    assert_eq!(
        parser.await.unwrap(),
        vec!["the file has more than 10 rows (stopped at row 12)"]
    );
}

#[tokio::test]
async fn test_body_stream_error_reaches_the_parser_with_its_row() {
    let (tx, rx) = body_channel(2);
    let parser = tokio::task::spawn_blocking(move || {
        let (opts, dir) = (opts(), directory());
        let rows = parse_rows(rx, &opts, &dir).unwrap();
        rows.filter_map(Result::err).collect::<Vec<_>>()
    });
    let body = futures::stream::iter([
        Ok(Bytes::from_static(b"scheduled_at,accounts,caption\n")),
        Err("connection reset"),
    ]);
    tx.forward(body).await.unwrap();
    let errors = parser.await.unwrap();
    assert!(
        matches!(errors.as_slice(), [ImportError::Read { row: 2, .. }]),
        "{errors:?}"
    );
}
