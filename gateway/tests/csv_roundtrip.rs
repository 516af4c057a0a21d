//! CSV export: canonical columns and formula neutralisation; export then import (into the same
//! or another workspace) gives back the same posts, as a property over generated rows; and the
//! parser survives arbitrary bytes.

mod csv_support;

use std::collections::HashSet;

use csv_support::*;
use gateway::csv_import::export::export_posts;
use gateway::csv_import::{AccountDirectory, DateOrder, ImportOptions, ValidRow, parse_rows};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use tenants::{AccountId, Post, PostId, PostStatus, WorkspaceId};

fn post(caption: &str, accounts: &[&str]) -> Post {
    Post {
        id: PostId::new(),
        workspace_id: WorkspaceId::new(),
        caption: caption.into(),
        variants: Default::default(),
        media_ids: vec![],
        media_urls: vec![],
        first_comment: None,
        account_ids: accounts.iter().map(|a| id(a)).collect(),
        status: PostStatus::Scheduled,
        scheduled_at: Some(ts("2026-07-01T07:00:00Z")),
        timezone: "Europe/Paris".into(),
        external_id: None,
        created_by: None,
        created_at: now(),
        updated_at: now(),
    }
}

fn export(posts: &[Post], dir: &AccountDirectory) -> Vec<u8> {
    export_posts(Vec::new(), posts, dir).unwrap()
}

/// The same handles as [`directory`], under other ids: another workspace.
fn other_workspace() -> (AccountDirectory, impl Fn(AccountId) -> AccountId) {
    let pairs: Vec<(AccountId, AccountId)> = [X, IG, LI, BSKY]
        .iter()
        .map(|a| (id(a), AccountId::new()))
        .collect();
    let mut dir = AccountDirectory::new();
    let source = directory();
    for (old, new) in &pairs {
        let e = source.get(*old).unwrap();
        dir.insert(*new, e.platform, &e.username);
    }
    let map = move |old: AccountId| pairs.iter().find(|(o, _)| *o == old).unwrap().1;
    (dir, map)
}

#[test]
fn test_export_writes_canonical_columns_and_neutralises_formulas() {
    let mut first = post("=1+1", &[X, LI]);
    first.first_comment = Some("@everyone look".into());
    first.external_id = Some("-5".into());
    first.media_urls = vec![
        "https://cdn.example.com/a.jpg".into(),
        "https://cdn.example.com/b.jpg".into(),
    ];
    let mut draft = post("Plain, with \"quotes\"\nand a line break", &[FOREIGN]);
    draft.status = PostStatus::Draft;
    draft.scheduled_at = None;
    let text = String::from_utf8(export(&[first, draft], &directory())).unwrap();
    assert_eq!(
        text,
        format!(
            "\u{feff}scheduled_at,timezone,accounts,caption,media_urls,first_comment,platforms,status,external_id\r\n\
             2026-07-01T09:00:00+02:00,Europe/Paris,x:@acme_x|linkedin:@acme_li,'=1+1,\
             https://cdn.example.com/a.jpg|https://cdn.example.com/b.jpg,'@everyone look,x|linkedin,scheduled,'-5\r\n\
             ,Europe/Paris,{FOREIGN},\"Plain, with \"\"quotes\"\"\nand a line break\",,,,draft,\r\n"
        )
    );
}

#[test]
fn test_file_exported_then_imported_into_another_workspace_schedules_the_same_posts() {
    let source = parse("canonical.csv");
    assert_eq!(source.problems(), vec![]);
    let ws = WorkspaceId::new();
    let posts: Vec<Post> = source
        .valid
        .iter()
        .cloned()
        .map(|row| row.into_post(ws, None, now()))
        .collect();
    let bytes = export(&posts, &directory());
    let (dir_b, map) = other_workspace();
    let back = parse_bytes(&bytes, &opts(), &dir_b);
    assert_eq!(back.problems(), vec![]);
    assert_eq!(back.valid.len(), 3);
    for (before, after) in source.valid.iter().zip(&back.valid) {
        assert_eq!(after.scheduled_at, before.scheduled_at);
        assert_eq!(after.timezone, before.timezone);
        assert_eq!(after.caption, before.caption);
        assert_eq!(after.media_urls, before.media_urls);
        assert_eq!(after.first_comment, before.first_comment);
        assert_eq!(after.status, before.status);
        assert_eq!(after.dedup_key(), before.dedup_key());
        let mapped: Vec<AccountId> = before.account_ids.iter().map(|a| map(*a)).collect();
        assert_eq!(after.account_ids, mapped);
    }
}

const ZONES: [&str; 6] = [
    "Europe/Paris",
    "America/New_York",
    "Asia/Tokyo",
    "UTC",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
];
const MEDIA: [&str; 4] = [
    "https://cdn.example.com/a.jpg",
    "https://cdn.example.com/b%20c.png",
    "https://res.cloudinary.com/demo/image/upload/w_100,h_100/c.jpg",
    "http://93.184.216.34/d.webp?x=1;y=2",
];

/// Text a person could put in a cell: formula triggers, quotes, delimiters, line breaks, tabs,
/// non-ASCII; never blank.
fn text() -> impl Strategy<Value = String> {
    "[=+@'\t\r\n -]{0,3}[a-zA-Z0-9 ,;|\"'=+@\t\r\n#é€😀-]{0,60}[a-zA-Z0-9é😀]"
}

fn generated_post() -> impl Strategy<Value = Post> {
    (
        text(),
        proptest::sample::subsequence(vec![X, LI, BSKY], 1..=3),
        proptest::option::of(60i64..63_000_000),
        0usize..ZONES.len(),
        proptest::sample::subsequence(MEDIA.to_vec(), 0..=4),
        proptest::option::of(text()),
        any::<bool>(),
        proptest::option::of("[=+@a-z0-9-]{1,12}"),
    )
        .prop_map(
            |(caption, accounts, secs, zone, media, comment, draft, ext)| {
                let mut p = post(&caption, &accounts);
                p.scheduled_at = secs.map(|s| now() + SignedDuration::from_secs(s));
                if p.scheduled_at.is_none() || draft {
                    p.status = PostStatus::Draft;
                }
                p.timezone = ZONES[zone].into();
                p.media_urls = media.into_iter().map(String::from).collect();
                p.first_comment = comment;
                p.external_id = ext;
                p
            },
        )
}

/// Posts an import accepts together: external ids and contents unique.
fn distinct(posts: Vec<Post>) -> Vec<Post> {
    let mut ids = HashSet::new();
    let mut contents = HashSet::new();
    posts
        .into_iter()
        .filter(|p| p.external_id.as_ref().is_none_or(|e| ids.insert(e.clone())))
        .filter(|p| {
            contents.insert(format!(
                "{:?}{:?}{}{:?}{:?}{:?}{:?}",
                p.scheduled_at,
                p.account_ids,
                p.caption,
                p.media_urls,
                p.first_comment,
                p.status,
                p.timezone
            ))
        })
        .collect()
}

fn assert_same(post: &Post, row: &ValidRow, accounts: &[AccountId]) {
    assert_eq!(row.caption, post.caption);
    assert_eq!(row.scheduled_at, post.scheduled_at);
    assert_eq!(row.timezone, post.timezone);
    assert_eq!(row.media_urls, post.media_urls);
    assert_eq!(row.first_comment, post.first_comment);
    assert_eq!(row.status, post.status);
    assert_eq!(row.external_id, post.external_id);
    assert_eq!(row.account_ids, accounts);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_valid_rows_round_trip_through_export_and_import(
        posts in proptest::collection::vec(generated_post(), 1..12)
    ) {
        let posts = distinct(posts);
        let bytes = export(&posts, &directory());

        let same = parse_bytes(&bytes, &opts(), &directory());
        prop_assert!(same.fatal.is_none(), "{:?}", same.fatal);
        prop_assert_eq!(same.problems(), vec![]);
        prop_assert_eq!(same.valid.len(), posts.len());
        for (i, (post, row)) in posts.iter().zip(&same.valid).enumerate() {
            prop_assert_eq!(row.row, i as u64 + 2);
            assert_same(post, row, &post.account_ids);
        }

        let (dir_b, map) = other_workspace();
        let other = parse_bytes(&bytes, &opts(), &dir_b);
        prop_assert_eq!(other.problems(), vec![]);
        for (post, row) in posts.iter().zip(&other.valid) {
            let mapped: Vec<AccountId> = post.account_ids.iter().map(|a| map(*a)).collect();
            assert_same(post, row, &mapped);
        }
    }

    #[test]
    fn prop_parser_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..3000),
        delimiter in proptest::option::of(proptest::sample::select(vec![b',', b';', b'\t', b'|'])),
        dmy in any::<bool>(),
    ) {
        check_no_panic(&bytes, delimiter, dmy);
    }

    #[test]
    fn prop_parser_never_panics_on_csv_shaped_noise(
        pieces in proptest::collection::vec(proptest::sample::select(vec![
            ",", ";", "\t", "\"", "\"\"", "\n", "\r\n", "\r", "\u{feff}", "\u{ff}", "@acme_x",
            "x:@acme_x", "2026-07-01T09:00:00Z", "03/04/2027 09:00", "25/12/2026", "02:30",
            "Europe/Paris", "'=", "http://127.0.0.1/a.jpg", "https://cdn.example.com/a.jpg|",
            "draft", "ext", "a", "😀", " ",
        ]), 0..200),
        delimiter in proptest::option::of(proptest::sample::select(vec![b',', b';', b'\t'])),
        dmy in any::<bool>(),
    ) {
        let mut bytes = b"scheduled_at,timezone,accounts,caption,media_urls,status,external_id\n".to_vec();
        for p in pieces {
            bytes.extend_from_slice(p.as_bytes());
        }
        check_no_panic(&bytes, delimiter, dmy);
    }
}

fn check_no_panic(bytes: &[u8], delimiter: Option<u8>, dmy: bool) {
    let mut opts: ImportOptions = opts();
    opts.delimiter = delimiter;
    opts.date_order = dmy.then_some(DateOrder::Dmy);
    opts.max_rows = 500;
    let dir = directory();
    let Ok(rows) = parse_rows(bytes, &opts, &dir) else {
        return;
    };
    let line_breaks = bytes
        .iter()
        .filter(|b| **b == b'\n' || **b == b'\r')
        .count() as u64;
    let mut last_row = 1;
    let mut fatal = 0;
    for item in rows {
        match item {
            Ok(Ok(row)) => {
                assert!(row.row > last_row);
                last_row = row.row;
                let at: Option<Timestamp> = row.scheduled_at;
                assert!(row.status == PostStatus::Draft || at.is_some_and(|t| t > now()));
            }
            Ok(Err(errors)) => {
                assert!(!errors.is_empty());
                assert!(
                    errors
                        .iter()
                        .all(|e| e.row > last_row && e.value.chars().count() <= 101)
                );
                last_row = errors[0].row;
            }
            Err(_) => fatal += 1,
        }
        assert!(
            last_row <= line_breaks + 2,
            "row {last_row} beyond {line_breaks} line breaks"
        );
    }
    assert!(fatal <= 1);
}

#[test]
fn test_export_of_a_disconnected_account_writes_its_id_which_does_not_resolve() {
    let dir = directory();
    let bytes = export(&[post("hi", &[X, FOREIGN])], &dir);
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(&format!("x:@acme_x|{FOREIGN},hi,,,x,scheduled,")),
        "{text}"
    );
    let back = parse_bytes(text.as_bytes(), &opts(), &dir);
    assert_eq!(
        back.problems(),
        vec![problem(
            2,
            "accounts",
            &format!("unknown account `{FOREIGN}`: not connected to this workspace")
        )]
    );
}
