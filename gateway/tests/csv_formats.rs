//! CSV import: every accepted file shape (canonical, Hootsuite, Sprout, Ayrshare, aliases,
//! `;` and tab delimiters, BOM + CRLF, multi-line quoted cells, trailing blank lines, unknown
//! columns, invalid UTF-8, neutralised formulas), each from a fixture file.

mod csv_support;

use csv_support::*;
use gateway::csv_import::{DateOrder, ImportError};
use tenants::{Platform, PostStatus};

#[test]
fn test_canonical_file_imports_every_field() {
    let out = parse("canonical.csv");
    assert!(out.fatal.is_none(), "{:?}", out.fatal);
    assert_eq!(out.problems(), vec![]);
    assert_eq!(out.notices, vec![]);
    assert_eq!(out.rows(), vec![2, 3, 4]);

    let first = &out.valid[0];
    assert_eq!(first.scheduled_at, Some(ts("2026-07-01T09:00:00Z")));
    assert_eq!(first.timezone, "Europe/Paris");
    assert_eq!(first.account_ids, vec![id(X)]);
    assert_eq!(first.platforms, vec![Platform::X]);
    assert_eq!(first.caption, "Launch day!");
    assert_eq!(first.media_urls, vec!["https://cdn.example.com/a.jpg"]);
    assert_eq!(first.first_comment, None);
    assert_eq!(first.status, PostStatus::Scheduled);
    assert_eq!(first.external_id.as_deref(), Some("launch-1"));
    assert_eq!(first.dedup_key(), "launch-1");
    // Without an external_id the key leads with the UTC time, so rows in date order sort
    // together in the store's index.
    let mut anonymous = first.clone();
    anonymous.external_id = None;
    assert_eq!(
        anonymous.dedup_key(),
        format!("row:20260701T090000Z:{}", anonymous.fingerprint)
    );

    let second = &out.valid[1];
    // 09:00 in New York in July is 13:00 UTC.
    assert_eq!(second.scheduled_at, Some(ts("2026-07-02T13:00:00Z")));
    assert_eq!(second.timezone, "America/New_York");
    assert_eq!(second.account_ids, vec![id(X), id(LI)]);
    assert_eq!(second.platforms, vec![Platform::X, Platform::Linkedin]);
    assert_eq!(second.first_comment.as_deref(), Some("First!"));

    let draft = &out.valid[2];
    assert_eq!(draft.status, PostStatus::Draft);
    assert_eq!(draft.scheduled_at, None);
    assert_eq!(draft.account_ids, vec![id(IG), id(LI)]);
    assert_eq!(
        draft.media_urls,
        vec![
            "https://cdn.example.com/b.jpg",
            "https://cdn.example.com/c.png"
        ]
    );
    assert_eq!(draft.external_id, None);
    assert_eq!(
        draft.dedup_key(),
        format!("row:draft:{}", draft.fingerprint)
    );
    assert_eq!(draft.fingerprint.len(), 64);
}

#[test]
fn test_hootsuite_date_time_message_link_with_accounts_for_the_file() {
    let mut opts = opts();
    opts.default_accounts = Some("@acme_li".into());
    let out = parse_with("hootsuite.csv", &opts);
    assert_eq!(out.problems(), vec![]);
    assert_eq!(
        out.captions(),
        vec![
            "Merry Christmas from Acme https://acme.example.com/xmas",
            "Summer sale starts now"
        ]
    );
    // Local times in the workspace zone (Paris): CET in December, CEST in July.
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2026-12-25T08:00:00Z")));
    assert_eq!(out.valid[1].scheduled_at, Some(ts("2026-07-15T16:30:00Z")));
    assert_eq!(out.valid[0].account_ids, vec![id(LI)]);
}

#[test]
fn test_hootsuite_file_without_accounts_is_refused_at_the_header() {
    let out = parse("hootsuite.csv");
    let Some(ImportError::Header(errors)) = out.fatal else {
        panic!("expected a header error, got {:?}", out.fatal);
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].row, 1);
    assert_eq!(
        errors[0].message,
        "missing column accounts (account ids or @usernames); add it, or choose the accounts \
         for the whole file with ?accounts="
    );
}

#[test]
fn test_sprout_day_first_with_date_order() {
    let mut opts = opts();
    opts.default_accounts = Some("@acme_li".into());
    opts.date_order = Some(DateOrder::Dmy);
    let out = parse_with("sprout.csv", &opts);
    assert_eq!(out.problems(), vec![]);
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2026-12-25T13:00:00Z")));
    assert_eq!(
        out.valid[0].media_urls,
        vec!["https://cdn.example.com/s1.jpg"]
    );
    // 3 August 2026, 08:15 in Paris (CEST).
    assert_eq!(out.valid[1].scheduled_at, Some(ts("2026-08-03T06:15:00Z")));
    assert_eq!(
        out.valid[1].caption,
        "Sprout post two https://acme.example.com"
    );
}

#[test]
fn test_sprout_ambiguous_date_without_date_order_is_reported_on_its_row() {
    let mut opts = opts();
    opts.default_accounts = Some("@acme_li".into());
    let out = parse_with("sprout.csv", &opts);
    assert_eq!(out.rows(), vec![2]);
    assert_eq!(
        out.problems(),
        vec![problem(
            3,
            "date",
            "`03/08/2026` is ambiguous: 3 August 2026 (day first) or March 8 2026 (month \
             first); set date_order=dmy or date_order=mdy"
        )]
    );
    assert_eq!(out.errors[0].value, "03/08/2026 08:15");
}

#[test]
fn test_ayrshare_platforms_pick_the_workspace_accounts() {
    let out = parse("ayrshare.csv");
    assert_eq!(out.problems(), vec![]);
    assert_eq!(out.valid[0].caption, "Hello from Ayrshare");
    assert_eq!(out.valid[0].account_ids, vec![id(X), id(LI)]);
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2026-07-01T12:00:00Z")));
    assert_eq!(out.valid[1].account_ids, vec![id(IG)]);
    // A comma inside a URL (an image CDN transformation) does not split it.
    assert_eq!(
        out.valid[1].media_urls,
        vec![
            "https://cdn.example.com/c1.jpg",
            "https://res.cloudinary.com/demo/image/upload/w_100,h_100/c2.jpg"
        ]
    );
}

#[test]
fn test_aliases_are_case_and_space_insensitive() {
    let out = parse("aliases.csv");
    assert_eq!(out.problems(), vec![]);
    let row = &out.valid[0];
    assert_eq!(row.scheduled_at, Some(ts("2026-09-01T01:00:00Z")));
    assert_eq!(row.timezone, "Asia/Tokyo");
    assert_eq!(row.account_ids, vec![id(X)]);
    assert_eq!(row.caption, "Aliased headers work");
    assert_eq!(row.first_comment.as_deref(), Some("Thanks for reading"));
    assert_eq!(row.external_id.as_deref(), Some("ref-1"));
}

#[test]
fn test_semicolon_delimiter_is_sniffed() {
    let out = parse("semicolon.csv");
    assert_eq!(out.problems(), vec![]);
    assert_eq!(
        out.captions(),
        vec!["Prices: 1,50 € and 2,00 €", "Semicolons; inside quotes"]
    );
    assert_eq!(out.valid[1].account_ids, vec![id(X), id(LI)]);
}

#[test]
fn test_tab_delimiter_is_sniffed_and_can_be_given() {
    for delimiter in [None, Some(b'\t')] {
        let mut opts = opts();
        opts.delimiter = delimiter;
        let out = parse_with("tab.csv", &opts);
        assert_eq!(out.problems(), vec![]);
        assert_eq!(
            out.captions(),
            vec![
                "Tabbed, with commas, and \"quotes\"",
                "Quoted\tcell with a tab"
            ]
        );
    }
}

#[test]
fn test_wrong_explicit_delimiter_reads_one_column_and_says_what_is_missing() {
    let mut opts = opts();
    opts.delimiter = Some(b',');
    let out = parse_with("semicolon.csv", &opts);
    let Some(ImportError::Header(errors)) = out.fatal else {
        panic!("expected a header error, got {:?}", out.fatal);
    };
    assert_eq!(
        errors[0].message,
        "missing column scheduled_at (or date and time)"
    );
}

#[test]
fn test_bom_and_crlf_are_handled() {
    let out = parse("bom_crlf.csv");
    assert_eq!(out.captions(), vec!["BOM and CRLF", "Line one\r\nLine two"]);
    assert_eq!(out.rows(), vec![2, 3]);
    assert_eq!(
        out.problems(),
        vec![problem(
            4,
            "accounts",
            "unknown account `@nobody`: no account with that username is connected to this \
             workspace"
        )]
    );
}

#[test]
fn test_multiline_cells_and_blank_lines_keep_spreadsheet_row_numbers() {
    let out = parse("embedded.csv");
    assert_eq!(
        out.captions(),
        vec![
            "Multi\nline, with \"quotes\" and commas",
            "Another\ntwo-line"
        ]
    );
    assert_eq!(out.rows(), vec![2, 5]);
    assert_eq!(
        out.problems(),
        vec![
            problem(
                4,
                "accounts",
                "unknown account `@nobody`: no account with that username is connected to this \
                 workspace"
            ),
            problem(
                6,
                "scheduled_at",
                "2025-01-01T00:00:00Z is in the past; scheduled posts must be in the future"
            ),
        ]
    );
}

#[test]
fn test_trailing_blank_and_empty_rows_are_ignored() {
    let out = parse("trailing_empty.csv");
    assert!(out.fatal.is_none(), "{:?}", out.fatal);
    assert_eq!(out.problems(), vec![]);
    assert_eq!(out.captions(), vec!["Only row"]);
}

#[test]
fn test_unknown_columns_are_reported_not_dropped_silently() {
    let mut opts = opts();
    opts.default_accounts = Some("@acme_li".into());
    let out = parse_with("unknown_columns.csv", &opts);
    assert_eq!(out.problems(), vec![]);
    assert_eq!(out.captions(), vec!["With unknown columns"]);
    let notices: Vec<_> = out
        .notices
        .iter()
        .map(|n| (n.row, n.column.clone(), n.value.clone()))
        .collect();
    assert_eq!(
        notices,
        vec![
            (1, Some("tags".to_string()), "tags".to_string()),
            (1, Some("Notes".to_string()), "Notes".to_string()),
        ]
    );
    assert!(
        out.notices[0]
            .message
            .starts_with("unknown column `tags` is ignored: its values are not imported"),
        "{}",
        out.notices[0].message
    );
}

#[test]
fn test_invalid_utf8_is_reported_on_its_row_and_column() {
    let out = parse("invalid_utf8.csv");
    assert_eq!(out.captions(), vec!["Fine row", "Fine again"]);
    assert_eq!(
        out.problems(),
        vec![problem(
            3,
            "caption",
            "not valid UTF-8 text (invalid byte at position 4); save the file as CSV UTF-8"
        )]
    );
    assert_eq!(out.errors[0].value, "Caf\u{fffd} in Latin-1");
}

#[test]
fn test_neutralised_cells_are_restored_on_import() {
    let out = parse("formulas.csv");
    assert_eq!(out.problems(), vec![]);
    assert_eq!(out.valid[0].account_ids, vec![id(X)]);
    assert_eq!(out.valid[0].caption, "=HYPERLINK(\"http://evil.example\")");
    assert_eq!(
        out.valid[0].first_comment.as_deref(),
        Some("-5 degrees today")
    );
    assert_eq!(out.valid[1].caption, "'just a quote");
    assert_eq!(
        out.valid[1].first_comment.as_deref(),
        Some("'+kept one quote")
    );
}
