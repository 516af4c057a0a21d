//! One data row -> a [`ValidRow`] or every problem it has. Checks, each reported on the column
//! a person sees: the date and time (format, day/month order, daylight saving gap, in the past),
//! the time zone, the accounts (unknown, other workspace, ambiguous handle, platform not
//! listed), the caption and first comment against each target platform's limit, the number and
//! kinds of media per platform, each media URL (malformed, private or loopback address), the
//! status and the external id.

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tenants::{
    AccountId, Platform, PostStatus, ScheduleError, ScheduleInput, parse_timezone, resolve_local,
    validate_caption, validate_text,
};

use super::accounts::{AccountDirectory, split_list};
use super::columns::{ColumnMap, Field};
use super::datetime::parse_datetime;
use super::export::strip_neutralisation;
use super::media::check_media;
use super::{ImportOptions, RowError, ValidRow};

/// The longest `external_id`, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 200;
/// The longest caption or first comment before any platform rule, in characters.
const MAX_TEXT_CHARS: usize = 100_000;

/// What a row is checked against.
#[derive(Debug, Clone, Copy)]
pub struct RowContext<'a> {
    /// The header mapping.
    pub columns: &'a ColumnMap,
    /// The import's options.
    pub opts: &'a ImportOptions,
    /// The workspace's accounts.
    pub accounts: &'a AccountDirectory,
}

struct Errors<'a> {
    row: u64,
    columns: &'a ColumnMap,
    list: Vec<RowError>,
}

impl Errors<'_> {
    fn add(&mut self, field: Field, value: &str, message: impl Into<String>) {
        let column = self.columns.name(field).to_string();
        let error = RowError::new(self.row, Some(&column), value, message);
        if !self.list.contains(&error) {
            self.list.push(error);
        }
    }
}

/// Validates data row `row` (its cells already decoded). Every problem is collected.
///
/// # Errors
/// The row's problems, in column order of the checks.
pub fn validate_row(
    cx: &RowContext<'_>,
    row: u64,
    cells: &[String],
) -> Result<ValidRow, Vec<RowError>> {
    let columns = cx.columns;
    let mut errs = Errors {
        row,
        columns,
        list: Vec::new(),
    };
    let raw = |f: Field| -> &str {
        columns
            .index(f)
            .and_then(|i| cells.get(i))
            .map_or("", |c| strip_neutralisation(c))
    };
    for (i, cell) in cells.iter().enumerate() {
        if (i >= columns.width() || columns.header_at(i).is_empty()) && !cell.trim().is_empty() {
            errs.list.push(RowError::new(
                row,
                None,
                cell,
                format!(
                    "column {} has a value but no header; name it or remove it",
                    i + 1
                ),
            ));
        }
    }

    let status = match raw(Field::Status).trim().to_ascii_lowercase().as_str() {
        "" | "scheduled" => PostStatus::Scheduled,
        "draft" | "drafts" => PostStatus::Draft,
        _ => {
            errs.add(
                Field::Status,
                raw(Field::Status),
                "status must be draft or scheduled",
            );
            PostStatus::Scheduled
        }
    };

    let mut listed = Vec::new();
    for item in split_list(raw(Field::Platforms)) {
        match item.parse::<Platform>() {
            Ok(p) if !listed.contains(&p) => listed.push(p),
            Ok(_) => {}
            Err(e) => errs.add(Field::Platforms, item, e.to_string()),
        }
    }
    let account_ids = resolve_accounts(cx, &mut errs, raw(Field::Accounts), &listed);
    let mut platforms: Vec<Platform> = Vec::new();
    for id in &account_ids {
        if let Some(e) = cx.accounts.get(*id)
            && !platforms.contains(&e.platform)
        {
            platforms.push(e.platform);
        }
    }

    let zone_cell = raw(Field::Timezone).trim();
    let zone_name = if zone_cell.is_empty() {
        cx.opts.default_timezone.as_str()
    } else {
        zone_cell
    };
    let zone = parse_timezone(zone_name)
        .map_err(|e| errs.add(Field::Timezone, zone_name, e.to_string()))
        .ok();
    let timezone = zone
        .as_ref()
        .and_then(|z| z.iana_name())
        .unwrap_or(zone_name)
        .to_string();
    let scheduled_at = schedule(cx, &mut errs, status, zone.as_ref(), raw);

    let mut caption = raw(Field::Caption).to_string();
    let link = raw(Field::Link).trim();
    if !link.is_empty() && !caption.contains(link) {
        if !caption.trim().is_empty() {
            caption.push(' ');
        }
        caption.push_str(link);
    }
    let (media_urls, media_problems) = check_media(raw(Field::MediaUrls), &platforms);
    for (value, message) in media_problems {
        errs.add(Field::MediaUrls, &value, message);
    }
    if let Err(e) = validate_text("caption", &caption, MAX_TEXT_CHARS, true) {
        errs.add(Field::Caption, &caption, e.to_string());
    }
    if caption.trim().is_empty() && media_urls.is_empty() {
        errs.add(
            Field::Caption,
            "",
            "caption is empty and there is no media: nothing to publish",
        );
    }
    for &platform in &platforms {
        if let Err(e) = validate_caption(platform, &caption) {
            errs.add(Field::Caption, &caption, e.to_string());
        }
    }

    let first_comment = raw(Field::FirstComment);
    let first_comment = (!first_comment.trim().is_empty()).then(|| first_comment.to_string());
    if let Some(comment) = &first_comment {
        check_first_comment(&mut errs, comment, &platforms);
    }

    let external_id = raw(Field::ExternalId).trim();
    let external_id = (!external_id.is_empty()).then(|| external_id.to_string());
    if let Some(id) = &external_id
        && let Err(e) = validate_text("external_id", id, MAX_EXTERNAL_ID_CHARS, false)
    {
        errs.add(Field::ExternalId, id, e.to_string());
    }

    if !errs.list.is_empty() {
        return Err(errs.list);
    }
    let mut valid = ValidRow {
        row,
        caption,
        account_ids,
        platforms,
        scheduled_at,
        timezone,
        media_urls,
        first_comment,
        status,
        external_id,
        fingerprint: String::new(),
    };
    valid.fingerprint = fingerprint(&valid);
    Ok(valid)
}

fn resolve_accounts(
    cx: &RowContext<'_>,
    errs: &mut Errors<'_>,
    cell: &str,
    listed: &[Platform],
) -> Vec<AccountId> {
    let mut ids = Vec::new();
    let source = if cell.trim().is_empty() {
        cx.opts.default_accounts.as_deref().unwrap_or("")
    } else {
        cell
    };
    if source.trim().is_empty() && !listed.is_empty() {
        // No accounts named: every account of the workspace on the listed platforms (Ayrshare).
        for &platform in listed {
            let before = ids.len();
            ids.extend(cx.accounts.on_platform(platform).map(|e| e.id));
            if ids.len() == before {
                errs.add(
                    Field::Platforms,
                    platform.as_str(),
                    format!("no {platform} account is connected to this workspace"),
                );
            }
        }
        return ids;
    }
    let mut tokens = 0;
    for token in split_list(source) {
        tokens += 1;
        match cx.accounts.resolve(token, listed) {
            Ok(entry) if !ids.contains(&entry.id) => ids.push(entry.id),
            Ok(_) => {}
            Err(message) => errs.add(Field::Accounts, token, message),
        }
    }
    if tokens == 0 {
        errs.add(
            Field::Accounts,
            cell,
            "no account given; list account ids or @usernames",
        );
    }
    ids
}

fn schedule<'c>(
    cx: &RowContext<'_>,
    errs: &mut Errors<'_>,
    status: PostStatus,
    zone: Option<&jiff::tz::TimeZone>,
    raw: impl Fn(Field) -> &'c str,
) -> Option<Timestamp> {
    let (field, text) = if cx.columns.index(Field::ScheduledAt).is_some() {
        (
            Field::ScheduledAt,
            raw(Field::ScheduledAt).trim().to_string(),
        )
    } else {
        let (date, time) = (raw(Field::Date).trim(), raw(Field::Time).trim());
        let joined = if time.is_empty() || date.is_empty() {
            date.to_string()
        } else {
            format!("{date} {time}")
        };
        (Field::Date, joined)
    };
    if text.is_empty() {
        if status != PostStatus::Draft {
            errs.add(
                field,
                "",
                "a scheduled post needs a date and time; leave it empty only with status draft",
            );
        }
        return None;
    }
    let input = match parse_datetime(&text, cx.opts.date_order) {
        Ok(input) => input,
        Err(message) => {
            errs.add(field, &text, message);
            return None;
        }
    };
    let at = match input {
        ScheduleInput::At(ts) => ts,
        ScheduleInput::Local { local, .. } => {
            let zone = zone?;
            match resolve_local(local, zone) {
                Ok(ts) => ts,
                Err(e @ ScheduleError::DstGap { .. }) => {
                    let gap_field = if cx.columns.index(Field::Time).is_some() {
                        Field::Time
                    } else {
                        field
                    };
                    errs.add(gap_field, &text, e.to_string());
                    return None;
                }
                Err(e) => {
                    errs.add(field, &text, e.to_string());
                    return None;
                }
            }
        }
    };
    if status == PostStatus::Scheduled && at <= cx.opts.now {
        errs.add(
            field,
            &text,
            format!("{at} is in the past; scheduled posts must be in the future"),
        );
        return None;
    }
    Some(at)
}

fn check_first_comment(errs: &mut Errors<'_>, comment: &str, platforms: &[Platform]) {
    if let Err(e) = validate_text("first_comment", comment, MAX_TEXT_CHARS, true) {
        errs.add(Field::FirstComment, comment, e.to_string());
    }
    for &platform in platforms {
        let rule = platform.rules().caption;
        let length = rule.unit.measure(comment);
        if length > rule.max {
            errs.add(
                Field::FirstComment,
                comment,
                format!(
                    "first comment is {length} {}; {platform} allows at most {}",
                    rule.unit.noun(),
                    rule.max
                ),
            );
        }
    }
}

/// SHA-256 over the normalised row: the instant, zone, sorted account ids, caption, media,
/// first comment and status, each length-prefixed so no two rows collide by concatenation.
fn fingerprint(row: &ValidRow) -> String {
    let mut accounts: Vec<String> = row.account_ids.iter().map(|a| a.to_string()).collect();
    accounts.sort();
    let when = row.scheduled_at.map(|t| t.to_string()).unwrap_or_default();
    let status = if row.status == PostStatus::Draft {
        "draft"
    } else {
        "scheduled"
    };
    let parts = [
        when.as_str(),
        row.timezone.as_str(),
        &accounts.join(","),
        row.caption.as_str(),
        &row.media_urls.join("\n"),
        row.first_comment.as_deref().unwrap_or(""),
        status,
    ];
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}
