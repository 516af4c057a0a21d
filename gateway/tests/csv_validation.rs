//! CSV import: per-row validation as a person sees it (exact rows, columns and messages), header
//! problems, and the byte and row limits, each from a fixture file.

mod csv_support;

use std::io::Read;

use csv_support::*;
use gateway::csv_import::{DateOrder, ImportError, ImportOptions, parse_rows};
use tenants::{AccountId, Platform, PostStatus};

const UNKNOWN_NOBODY: &str =
    "unknown account `@nobody`: no account with that username is connected to this workspace";

#[test]
fn test_ambiguous_dates_are_rejected_without_date_order() {
    let out = parse("ambiguous_dates.csv");
    assert_eq!(
        out.problems(),
        vec![problem(
            2,
            "scheduled_at",
            "`03/04/2027` is ambiguous: 3 April 2027 (day first) or March 4 2027 (month first); \
             set date_order=dmy or date_order=mdy"
        )]
    );
    assert_eq!(out.errors[0].value, "03/04/2027 09:00");
    assert_eq!(out.rows(), vec![3, 4]);
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2026-12-25T08:00:00Z")));
    assert_eq!(out.valid[1].scheduled_at, Some(ts("2026-12-25T08:00:00Z")));
}

#[test]
fn test_date_order_settles_ambiguous_dates_and_is_applied_strictly() {
    let mut opts = opts();
    opts.date_order = Some(DateOrder::Dmy);
    let out = parse_with("ambiguous_dates.csv", &opts);
    assert_eq!(out.rows(), vec![2, 3]);
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2027-04-03T07:00:00Z")));
    assert_eq!(
        out.problems(),
        vec![problem(
            4,
            "scheduled_at",
            "`12/25/2026` is not a valid day/month/year date (date_order=dmy)"
        )]
    );

    opts.date_order = Some(DateOrder::Mdy);
    let out = parse_with("ambiguous_dates.csv", &opts);
    assert_eq!(out.rows(), vec![2, 4]);
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2027-03-04T08:00:00Z")));
    assert_eq!(
        out.problems(),
        vec![problem(
            3,
            "scheduled_at",
            "`25/12/2026` is not a valid month/day/year date (date_order=mdy)"
        )]
    );
}

#[test]
fn test_dst_gap_is_named_and_fold_takes_the_earlier_instant() {
    let out = parse("dst_gap.csv");
    assert_eq!(
        out.problems(),
        vec![
            problem(
                2,
                "scheduled_at",
                "2027-03-28T02:30 does not exist in Europe/Paris: clocks jump from 02:00 to \
                 03:00 (daylight saving gap)"
            ),
            problem(
                3,
                "scheduled_at",
                "2027-03-14T02:15 does not exist in America/New_York: clocks jump from 02:00 to \
                 03:00 (daylight saving gap)"
            ),
        ]
    );
    assert_eq!(out.rows(), vec![4]);
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2027-10-31T00:30:00Z")));
}

#[test]
fn test_dst_gap_with_separate_time_column_points_at_the_time() {
    let mut opts = opts();
    opts.default_accounts = Some("@acme_x".into());
    let out = parse_with("dst_gap_split.csv", &opts);
    assert_eq!(
        out.problems(),
        vec![problem(
            2,
            "Time",
            "2027-03-28T02:30 does not exist in Europe/Paris: clocks jump from 02:00 to 03:00 \
             (daylight saving gap)"
        )]
    );
    assert_eq!(out.errors[0].value, "03/28/2027 02:30");
}

#[test]
fn test_past_times_are_rejected_except_for_drafts() {
    let out = parse("past_time.csv");
    assert_eq!(
        out.problems(),
        vec![
            problem(
                2,
                "scheduled_at",
                "2026-05-31T23:59:59Z is in the past; scheduled posts must be in the future"
            ),
            problem(
                3,
                "scheduled_at",
                "2026-06-01T00:00:00Z is in the past; scheduled posts must be in the future"
            ),
        ]
    );
    assert_eq!(out.rows(), vec![4, 5]);
    assert_eq!(out.valid[0].status, PostStatus::Draft);
    assert_eq!(out.valid[0].scheduled_at, Some(ts("2026-01-01T08:00:00Z")));
}

#[test]
fn test_unknown_and_foreign_accounts_are_reported_each() {
    let out = parse("unknown_account.csv");
    assert_eq!(out.valid.len(), 0);
    assert_eq!(
        out.problems(),
        vec![
            problem(2, "accounts", UNKNOWN_NOBODY),
            problem(
                3,
                "accounts",
                &format!("unknown account `{FOREIGN}`: not connected to this workspace")
            ),
            problem(
                4,
                "accounts",
                "unknown account `@ghost`: no account with that username is connected to this \
                 workspace"
            ),
            problem(
                4,
                "accounts",
                "unknown account `01900000-0000-7000-8000-0000000000fe`: not connected to this \
                 workspace"
            ),
            problem(
                5,
                "accounts",
                "no account given; list account ids or @usernames"
            ),
        ]
    );
    assert_eq!(out.errors[2].value, "@ghost");
}

#[test]
fn test_a_handle_on_several_platforms_must_be_qualified() {
    let mut dir = directory();
    let (acme_x, acme_ig) = (AccountId::new(), AccountId::new());
    dir.insert(acme_x, Platform::X, "acme");
    dir.insert(acme_ig, Platform::Instagram, "acme");
    let out = parse_bytes(&fixture("shared_handle.csv"), &opts(), &dir);
    assert_eq!(
        out.problems(),
        vec![
            problem(
                2,
                "accounts",
                "`@acme` matches accounts on several platforms; write one of x:@acme, \
                 instagram:@acme"
            ),
            problem(
                5,
                "accounts",
                "`@acme_li` is a linkedin account, but platforms lists only x"
            ),
        ]
    );
    assert_eq!(out.valid[0].account_ids, vec![acme_ig]);
    assert_eq!(out.valid[1].account_ids, vec![acme_x]);
}

#[test]
fn test_caption_over_a_platform_limit_names_platform_and_limit() {
    let out = parse("caption_too_long.csv");
    assert_eq!(
        out.problems(),
        vec![
            problem(
                2,
                "caption",
                "caption is 281 weighted characters; x allows at most 280"
            ),
            problem(
                3,
                "caption",
                "caption is 2201 characters; instagram allows at most 2200"
            ),
            problem(
                4,
                "caption",
                "caption is 3001 characters; linkedin allows at most 3000"
            ),
            problem(
                5,
                "caption",
                "caption is 300 weighted characters; x allows at most 280"
            ),
            problem(
                6,
                "caption",
                "caption is 301 characters (graphemes); bluesky allows at most 300"
            ),
        ]
    );
    assert_eq!(out.rows(), vec![7]);
    // The echoed value is cut at 100 characters.
    assert_eq!(out.errors[0].value, format!("{}…", "a".repeat(100)));
}

#[test]
fn test_media_count_and_mix_per_platform() {
    let out = parse("too_many_media.csv");
    assert_eq!(
        out.problems(),
        vec![
            problem(2, "media_urls", "5 media attached; x allows at most 4"),
            problem(
                3,
                "media_urls",
                "11 media attached; instagram allows at most 10"
            ),
            problem(
                4,
                "media_urls",
                "x does not allow a video or gif together with other media"
            ),
            problem(
                5,
                "media_urls",
                "0 media attached; instagram needs at least 1"
            ),
        ]
    );
    assert_eq!(out.rows(), vec![6]);
    assert_eq!(out.valid[0].media_urls.len(), 4);
}

#[test]
fn test_private_loopback_and_malformed_media_urls_are_refused_without_fetching() {
    let out = parse("private_media.csv");
    let private = |url: &str, ip: &str| {
        format!(
            "{url}: URL points at a private, loopback or reserved address ({ip}); media must be public"
        )
    };
    assert_eq!(
        out.problems(),
        vec![
            problem(
                2,
                "media_urls",
                &private("http://127.0.0.1/a.jpg", "127.0.0.1")
            ),
            problem(
                3,
                "media_urls",
                &private(
                    "http://169.254.169.254/latest/meta-data/",
                    "169.254.169.254"
                )
            ),
            problem(
                4,
                "media_urls",
                "http://localhost:8080/x.png: URL points at a local host name (localhost); media \
                 must be on a public host"
            ),
            problem(5, "media_urls", &private("http://[::1]/a.jpg", "::1")),
            problem(
                6,
                "media_urls",
                &private("http://10.0.0.5/a.jpg", "10.0.0.5")
            ),
            problem(7, "media_urls", "not-a-url: not a valid URL"),
            problem(
                8,
                "media_urls",
                "ftp://cdn.example.com/a.jpg: only http and https URLs are accepted, not ftp"
            ),
            problem(
                9,
                "media_urls",
                &private("http://2130706433/a.jpg", "127.0.0.1")
            ),
        ]
    );
    assert_eq!(out.errors[2].value, "http://localhost:8080/x.png");
    assert!(out.valid.is_empty());
}

#[test]
fn test_every_problem_of_a_row_is_reported() {
    let out = parse("bad_values.csv");
    let unknown_platform = "unknown platform `myspace`; expected one of x, linkedin, instagram, \
        threads, bluesky, facebook, tiktok, youtube, pinterest, google_business, vimeo, reddit";
    let unknown_zone = "unknown time zone `Mars/Olympus`; use an IANA name such as \
        Europe/Paris, America/New_York or UTC";
    let not_a_date = "`tomorrow` is not a date and time; use 2026-12-01T09:00:00Z, 2026-12-01 \
        09:00, 25/12/2026 09:00 or 12/25/2026 09:00";
    let nothing = "caption is empty and there is no media: nothing to publish";
    assert_eq!(
        out.problems(),
        vec![
            problem(2, "timezone", unknown_zone),
            problem(3, "status", "status must be draft or scheduled"),
            problem(4, "platforms", unknown_platform),
            problem(5, "scheduled_at", not_a_date),
            problem(
                6,
                "scheduled_at",
                "`2026-07-01` has no time of day; add one, e.g. `2026-07-01 09:00`"
            ),
            problem(
                7,
                "scheduled_at",
                "a scheduled post needs a date and time; leave it empty only with status draft"
            ),
            problem(8, "caption", nothing),
            problem(9, "status", "status must be draft or scheduled"),
            problem(9, "platforms", unknown_platform),
            problem(
                9,
                "accounts",
                "unknown account `@ghost`: no account with that username is connected to this \
                 workspace"
            ),
            problem(9, "timezone", unknown_zone),
            problem(9, "scheduled_at", not_a_date),
            problem(9, "caption", nothing),
        ]
    );
}

#[test]
fn test_duplicate_rows_in_one_file_are_refused() {
    let out = parse("duplicates.csv");
    assert_eq!(out.rows(), vec![2, 4]);
    assert_eq!(
        out.problems(),
        vec![
            problem(
                3,
                "external_id",
                "same external_id as row 2; each post is imported once"
            ),
            problem(
                5,
                "caption",
                "same content, accounts and time as row 4; each post is imported once"
            ),
        ]
    );
}

#[test]
fn test_header_problems_are_all_reported_at_once() {
    let out = parse("bad_header.csv");
    let Some(ImportError::Header(errors)) = out.fatal else {
        panic!("expected a header error, got {:?}", out.fatal);
    };
    let seen: Vec<_> = errors
        .iter()
        .map(|e| (e.row, e.column.clone(), e.message.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            problem(
                1,
                "Text",
                "columns `caption` and `Text` both give the caption; keep one"
            ),
            (
                1,
                None,
                "missing column scheduled_at (or date and time)".into()
            ),
            (
                1,
                None,
                "missing column accounts (account ids or @usernames); add it, or choose the \
                 accounts for the whole file with ?accounts="
                    .into()
            ),
        ]
    );
}

#[test]
fn test_empty_file_and_header_only_file_are_refused() {
    assert!(matches!(parse("empty.csv").fatal, Some(ImportError::Empty)));
    let out = parse("header_only.csv");
    assert!(
        matches!(out.fatal, Some(ImportError::NoRows)),
        "{:?}",
        out.fatal
    );
    assert_eq!(
        out.fatal.unwrap().to_string(),
        "the file has a header but no rows to import"
    );
}

#[test]
fn test_default_accounts_that_do_not_resolve_are_refused_up_front() {
    let mut opts = opts();
    opts.default_accounts = Some("@acme_li|@nobody".into());
    let out = parse_with("hootsuite.csv", &opts);
    let Some(ImportError::InvalidOption { name, message }) = out.fatal else {
        panic!("expected an option error, got {:?}", out.fatal);
    };
    assert_eq!(name, "accounts");
    assert_eq!(message, UNKNOWN_NOBODY);
}

#[test]
fn test_row_limit_stops_at_the_first_row_beyond_it() {
    let mut opts = opts();
    opts.max_rows = 2;
    let out = parse_with("canonical.csv", &opts);
    assert_eq!(out.rows(), vec![2, 3]);
    let Some(e @ ImportError::TooManyRows { .. }) = out.fatal else {
        panic!("expected the row limit, got {:?}", out.fatal);
    };
    assert_eq!(
        e.to_string(),
        "the file has more than 2 rows (stopped at row 4)"
    );
}

#[test]
fn test_byte_limit_is_enforced_on_the_header_too() {
    let mut opts = opts();
    opts.max_bytes = 50;
    let out = parse_with("canonical.csv", &opts);
    assert!(
        matches!(
            out.fatal,
            Some(ImportError::TooManyBytes {
                max_bytes: 50,
                row: 1
            })
        ),
        "{:?}",
        out.fatal
    );
}

/// An endless upload: the header, then the same row forever, in small chunks.
struct Endless {
    header: std::io::Cursor<Vec<u8>>,
    row: Vec<u8>,
    at: usize,
}

impl Endless {
    fn new() -> Self {
        Self {
            header: std::io::Cursor::new(b"scheduled_at,accounts,caption\n".to_vec()),
            row: b"2026-07-01T09:00:00Z,@acme_x,Again\n".to_vec(),
            at: 0,
        }
    }
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.header.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        let n = buf.len().min(self.row.len() - self.at).min(7);
        buf[..n].copy_from_slice(&self.row[self.at..self.at + n]);
        self.at = (self.at + n) % self.row.len();
        Ok(n)
    }
}

fn drain(opts: &ImportOptions) -> (u64, Option<ImportError>) {
    let dir = directory();
    let mut rows = parse_rows(Endless::new(), opts, &dir).unwrap();
    let mut last = None;
    for item in rows.by_ref() {
        if let Err(e) = item {
            last = Some(e);
        }
    }
    (rows.rows_read(), last)
}

#[test]
fn test_endless_upload_is_refused_mid_stream_at_the_byte_limit() {
    let mut opts = opts();
    opts.max_bytes = 100_000;
    let (rows_read, fatal) = drain(&opts);
    let Some(ImportError::TooManyBytes { max_bytes, row }) = fatal else {
        panic!("expected the byte limit, got {fatal:?}");
    };
    assert_eq!(max_bytes, 100_000);
    // 100,000 bytes hold about 2,800 rows of 35 bytes; the parser buffers at most 8 KiB ahead.
    assert!((2_500..=2_860).contains(&rows_read), "{rows_read}");
    assert_eq!(row, rows_read + 2);
}

#[test]
fn test_endless_upload_is_refused_mid_stream_at_the_row_limit() {
    let mut opts = opts();
    opts.max_rows = 1_000;
    let (rows_read, fatal) = drain(&opts);
    assert!(
        matches!(
            fatal,
            Some(ImportError::TooManyRows {
                max_rows: 1_000,
                row: 1_002
            })
        ),
        "{fatal:?}"
    );
    assert_eq!(rows_read, 1_001);
}
