//! The header row: which column holds which field. Headers are matched case-, space-, `_`-, `-`-
//! and `.`-insensitively against the canonical names and the aliases other schedulers use
//! (Hootsuite `Date`, `Time`, `Message`, `Link`; Sprout `date`, `time_24hr`, `message_text`;
//! Ayrshare `post`, `platforms`, `mediaUrls`, `scheduleDate`; and `text`, `content`,
//! `publish_at`...). Unknown columns are reported as row-1 notices and their values ignored.

use super::{ImportOptions, RowError};

/// The canonical header, in the order the export writes it.
pub const CANONICAL_COLUMNS: [&str; 9] = [
    "scheduled_at",
    "timezone",
    "accounts",
    "caption",
    "media_urls",
    "first_comment",
    "platforms",
    "status",
    "external_id",
];

/// A field a column can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The date and time together.
    ScheduledAt,
    /// The date alone (or date and time) when a separate time column may follow.
    Date,
    /// The time of day, joined to [`Field::Date`].
    Time,
    /// The IANA zone of a local time.
    Timezone,
    /// Account ids or `@usernames`.
    Accounts,
    /// The text.
    Caption,
    /// A link appended to the caption (Hootsuite, Sprout).
    Link,
    /// Media URLs.
    MediaUrls,
    /// The first comment.
    FirstComment,
    /// Target platforms.
    Platforms,
    /// `draft` or `scheduled`.
    Status,
    /// The caller's id for the post.
    ExternalId,
}

impl Field {
    /// Every field, in slot order.
    pub const ALL: [Field; 12] = [
        Field::ScheduledAt,
        Field::Date,
        Field::Time,
        Field::Timezone,
        Field::Accounts,
        Field::Caption,
        Field::Link,
        Field::MediaUrls,
        Field::FirstComment,
        Field::Platforms,
        Field::Status,
        Field::ExternalId,
    ];

    /// The field's canonical column name.
    pub fn canonical(self) -> &'static str {
        match self {
            Field::ScheduledAt => "scheduled_at",
            Field::Date => "date",
            Field::Time => "time",
            Field::Timezone => "timezone",
            Field::Accounts => "accounts",
            Field::Caption => "caption",
            Field::Link => "link",
            Field::MediaUrls => "media_urls",
            Field::FirstComment => "first_comment",
            Field::Platforms => "platforms",
            Field::Status => "status",
            Field::ExternalId => "external_id",
        }
    }

    /// The field's slot in a [`ColumnMap`]: its declaration order, which is also `ALL`'s.
    fn slot(self) -> usize {
        self as usize
    }

    /// The field a header names, if any.
    pub fn from_header(header: &str) -> Option<Field> {
        let norm: String = header
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
            .flat_map(char::to_lowercase)
            .collect();
        let field = match norm.as_str() {
            "scheduledat" | "publishat" | "scheduledate" | "scheduledtime" | "scheduletime"
            | "scheduledfor" | "datetime" | "postatspecifictime" | "publishtime" => {
                Field::ScheduledAt
            }
            "date" | "day" => Field::Date,
            "time" | "time24hr" | "time24h" | "hour" => Field::Time,
            "timezone" | "tz" | "zone" => Field::Timezone,
            "accounts" | "account" | "accountids" | "accountid" | "profiles" | "profile"
            | "handles" | "channels" | "channel" => Field::Accounts,
            "caption" | "message" | "messagetext" | "text" | "content" | "post" | "body" => {
                Field::Caption
            }
            "link" | "url" => Field::Link,
            "mediaurls" | "mediaurl" | "media" | "imageurls" | "imageurl" | "image" | "images"
            | "videourl" | "videourls" => Field::MediaUrls,
            "firstcomment" | "comment" | "followupcomment" => Field::FirstComment,
            "platforms" | "platform" | "networks" | "network" => Field::Platforms,
            "status" => Field::Status,
            "externalid" | "reference" => Field::ExternalId,
            _ => return None,
        };
        Some(field)
    }
}

/// Where each field is in a row, and the header as written.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    slots: [Option<usize>; 12],
    headers: Vec<String>,
    ignored: Vec<usize>,
    notices: Vec<RowError>,
}

impl ColumnMap {
    /// Maps a header row.
    ///
    /// # Errors
    /// Every problem at once, as row-1 errors: a field given by two columns, no date column,
    /// a time column without a date column, no caption column, no way to know the accounts
    /// (no `accounts` or `platforms` column and no default accounts). Unknown columns are
    /// listed too, so one fix-up pass is enough.
    pub fn from_header(headers: &[String], opts: &ImportOptions) -> Result<Self, Vec<RowError>> {
        let headers: Vec<String> = headers.iter().map(|h| h.trim().to_string()).collect();
        let mut slots = [None; 12];
        let mut errors = Vec::new();
        let mut notices = Vec::new();
        let mut ignored = Vec::new();
        for (i, header) in headers.iter().enumerate() {
            let Some(field) = Field::from_header(header) else {
                ignored.push(i);
                if !header.is_empty() {
                    notices.push(RowError::new(
                        1,
                        Some(header),
                        header,
                        format!(
                            "unknown column `{}` is ignored: its values are not imported; \
                             known columns are {}",
                            super::echo(header),
                            CANONICAL_COLUMNS.join(", ")
                        ),
                    ));
                }
                continue;
            };
            match slots[field.slot()] {
                Some(first) => errors.push(RowError::new(
                    1,
                    Some(header),
                    header,
                    format!(
                        "columns `{}` and `{header}` both give the {}; keep one",
                        headers[first],
                        field.canonical()
                    ),
                )),
                None => slots[field.slot()] = Some(i),
            }
        }
        let map = ColumnMap {
            slots,
            headers,
            ignored,
            notices,
        };
        map.check_required(opts, &mut errors);
        if errors.is_empty() {
            Ok(map)
        } else {
            errors.extend(map.notices);
            Err(errors)
        }
    }

    fn check_required(&self, opts: &ImportOptions, errors: &mut Vec<RowError>) {
        let has = |f: Field| self.index(f).is_some();
        let mut report = |message: String| errors.push(RowError::new(1, None, "", message));
        if has(Field::ScheduledAt) && has(Field::Date) {
            report(format!(
                "columns `{}` and `{}` both give the date; keep one",
                self.header(Field::ScheduledAt).unwrap_or_default(),
                self.header(Field::Date).unwrap_or_default()
            ));
        }
        if has(Field::ScheduledAt) && has(Field::Time) {
            report(format!(
                "`{}` already holds the time; remove the `{}` column or rename `{}` to date",
                self.header(Field::ScheduledAt).unwrap_or_default(),
                self.header(Field::Time).unwrap_or_default(),
                self.header(Field::ScheduledAt).unwrap_or_default(),
            ));
        }
        if !has(Field::ScheduledAt) && !has(Field::Date) {
            report("missing column scheduled_at (or date and time)".into());
        }
        if !has(Field::Caption) {
            report("missing column caption (or message, text, content, post)".into());
        }
        if !has(Field::Accounts) && !has(Field::Platforms) && opts.default_accounts.is_none() {
            report(
                "missing column accounts (account ids or @usernames); add it, or choose the \
                 accounts for the whole file with ?accounts="
                    .into(),
            );
        }
    }

    /// The column index holding `field`.
    pub fn index(&self, field: Field) -> Option<usize> {
        self.slots[field.slot()]
    }

    /// The header of `field`'s column as written in the file.
    pub fn header(&self, field: Field) -> Option<&str> {
        self.index(field).map(|i| self.headers[i].as_str())
    }

    /// The name to report for `field`: its header, else the canonical name.
    pub fn name(&self, field: Field) -> &str {
        self.header(field).unwrap_or(field.canonical())
    }

    /// The header of column `index`, as written (empty for unnamed columns).
    pub fn header_at(&self, index: usize) -> &str {
        self.headers.get(index).map_or("", String::as_str)
    }

    /// How many columns the header has.
    pub fn width(&self) -> usize {
        self.headers.len()
    }

    /// Whether column `index` is ignored (unknown or unnamed).
    pub fn is_ignored(&self, index: usize) -> bool {
        self.ignored.contains(&index)
    }

    /// Row-1 notices about ignored columns.
    pub fn notices(&self) -> &[RowError] {
        &self.notices
    }
}
