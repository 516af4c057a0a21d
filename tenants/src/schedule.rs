//! Schedules: turning what a user typed ("9:00 in Paris", or an exact RFC 3339 instant) into the
//! UTC instant a delivery is due. The gateway and the CSV import parse a [`ScheduleInput`], call
//! [`resolve`], and store the resulting [`Timestamp`] with the user's IANA zone.
//!
//! Rules, all computed by jiff from the IANA time zone database (no hand-written zone math):
//! - Only IANA zone names are accepted (`Europe/Paris`, `America/New_York`, `UTC`), never bare
//!   offsets or abbreviations.
//! - A local time that does not exist, because the clocks jump forward over it (a daylight
//!   saving gap), is refused with [`ScheduleError::DstGap`], whose message names the gap.
//! - A local time that happens twice, because the clocks fall back over it (a fold), resolves to
//!   the **earlier** of the two instants: the post goes out the first time the wall clock shows
//!   that time, never an hour late.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest time zone name accepted; real IANA names are far shorter.
const MAX_TIMEZONE_LEN: usize = 64;

/// When a post should go out, as the user gave it.
///
/// On the wire it is either an RFC 3339 string with an offset (`"2026-12-01T09:00:00Z"`), which
/// becomes [`ScheduleInput::At`], or an object `{"local":"2026-12-01T09:00",
/// "timezone":"Europe/Paris"}`, which becomes [`ScheduleInput::Local`]. A bare local string
/// without an offset (`"2026-12-01T09:00"`) is also accepted, as a local time in the default zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleInput {
    /// An exact instant.
    At(Timestamp),
    /// A wall-clock time in a zone.
    Local {
        /// The wall-clock date and time.
        local: DateTime,
        /// The IANA zone name. Empty means the caller's default zone (the workspace's).
        timezone: String,
    },
}

/// A schedule that cannot be turned into an instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The zone name is not an IANA time zone.
    #[error(
        "unknown time zone `{name}`; use an IANA name such as Europe/Paris, America/New_York or UTC"
    )]
    UnknownTimezone {
        /// The name given, truncated to 64 characters.
        name: String,
    },
    /// The local time falls in a gap where the clocks jump forward, so it never exists.
    #[error("{}", gap_message(.local, .timezone, .jumps_from, .jumps_to, *.daylight_saving))]
    DstGap {
        /// The local time asked for.
        local: DateTime,
        /// The zone it was asked in.
        timezone: String,
        /// The wall-clock time at which the clocks jump.
        jumps_from: DateTime,
        /// The wall-clock time they jump to.
        jumps_to: DateTime,
        /// Whether the jump starts daylight saving time (rather than a permanent offset change).
        daylight_saving: bool,
    },
    /// The time is outside the range the calendar supports.
    #[error("{local} in {timezone} is outside the supported range of dates")]
    OutOfRange {
        /// The local time asked for.
        local: DateTime,
        /// The zone it was asked in.
        timezone: String,
    },
}

/// Parses an IANA time zone name (`Europe/Paris`, `UTC`).
///
/// # Errors
/// [`ScheduleError::UnknownTimezone`] for anything that is not a zone in the IANA database:
/// empty strings, offsets such as `+02:00`, POSIX TZ strings, misspellings.
pub fn parse_timezone(name: &str) -> Result<TimeZone, ScheduleError> {
    let unknown = || ScheduleError::UnknownTimezone {
        name: name.chars().take(MAX_TIMEZONE_LEN).collect(),
    };
    let trimmed = name.trim();
    let looks_like_name = !trimmed.is_empty()
        && trimmed.len() <= MAX_TIMEZONE_LEN
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        && trimmed
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    if !looks_like_name {
        return Err(unknown());
    }
    TimeZone::get(trimmed).map_err(|_| unknown())
}

/// Resolves a schedule to the UTC instant it is due. `default_tz` is used for a local time given
/// without a zone.
///
/// A local time in a fold (it happens twice as the clocks fall back) resolves to the **earlier**
/// instant. A local time in a gap is refused.
///
/// # Errors
/// - [`ScheduleError::UnknownTimezone`] when the zone (given or default) is not an IANA zone;
/// - [`ScheduleError::DstGap`] when the local time does not exist in that zone;
/// - [`ScheduleError::OutOfRange`] for dates beyond what the calendar supports.
pub fn resolve(input: &ScheduleInput, default_tz: &str) -> Result<Timestamp, ScheduleError> {
    match input {
        ScheduleInput::At(ts) => Ok(*ts),
        ScheduleInput::Local { local, timezone } => {
            let name = if timezone.trim().is_empty() {
                default_tz
            } else {
                timezone
            };
            let tz = parse_timezone(name)?;
            resolve_local(*local, &tz)
        }
    }
}

/// Resolves a wall-clock time in `tz` to an instant: the earlier instant in a fold, an error in
/// a gap. Recurring schedules and time-slot queues use this for each occurrence.
///
/// # Errors
/// [`ScheduleError::DstGap`] when `local` does not exist in `tz`, and
/// [`ScheduleError::OutOfRange`] for dates beyond what the calendar supports.
pub fn resolve_local(local: DateTime, tz: &TimeZone) -> Result<Timestamp, ScheduleError> {
    let ambiguous = tz.to_ambiguous_timestamp(local);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { before, after } => Err(gap_error(local, tz, before, after)),
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().map_err(|_| ScheduleError::OutOfRange {
                local,
                timezone: zone_name(tz).to_string(),
            })
        }
    }
}

/// The wall-clock time that `ts` shows in `tz`.
pub fn local_in(ts: Timestamp, tz: &TimeZone) -> DateTime {
    tz.to_datetime(ts)
}

fn zone_name(tz: &TimeZone) -> &str {
    tz.iana_name().unwrap_or("the time zone")
}

/// Builds the gap error, locating the transition that opens the gap so the message can say
/// from what time to what time the clocks jump.
fn gap_error(local: DateTime, tz: &TimeZone, before: Offset, after: Offset) -> ScheduleError {
    let timezone = zone_name(tz).to_string();
    // Read with the pre-jump offset, `local` lands at or after the transition instant.
    let transition = before
        .to_timestamp(local)
        .ok()
        .and_then(|t| t.checked_add(jiff::SignedDuration::from_nanos(1)).ok())
        .and_then(|t| tz.preceding(t).next());
    match transition {
        Some(tr) => ScheduleError::DstGap {
            local,
            timezone,
            jumps_from: before.to_datetime(tr.timestamp()),
            jumps_to: after.to_datetime(tr.timestamp()),
            daylight_saving: tr.dst().is_dst(),
        },
        // Every gap comes from a transition; should the database not report one, the offsets
        // still bound the gap around `local`.
        None => ScheduleError::DstGap {
            local,
            timezone,
            jumps_from: local,
            jumps_to: local
                .checked_add(after.duration_since(before))
                .unwrap_or(local),
            daylight_saving: true,
        },
    }
}

/// Formats a civil time the way people write it: minutes always, seconds only when set.
fn short(dt: &DateTime, with_date: bool) -> String {
    let time = if dt.second() == 0 && dt.subsec_nanosecond() == 0 {
        dt.strftime("%H:%M").to_string()
    } else {
        dt.strftime("%H:%M:%S").to_string()
    };
    if with_date {
        format!("{}T{time}", dt.date())
    } else {
        time
    }
}

fn gap_message(
    local: &DateTime,
    timezone: &str,
    from: &DateTime,
    to: &DateTime,
    daylight_saving: bool,
) -> String {
    let same_day = from.date() == to.date() && from.date() == local.date();
    let kind = if daylight_saving {
        "daylight saving gap"
    } else {
        "time zone change"
    };
    format!(
        "{} does not exist in {timezone}: clocks jump from {} to {} ({kind})",
        short(local, true),
        short(from, !same_day),
        short(to, !same_day),
    )
}

impl fmt::Display for ScheduleInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleInput::At(ts) => write!(f, "{ts}"),
            ScheduleInput::Local { local, timezone } if timezone.is_empty() => write!(f, "{local}"),
            ScheduleInput::Local { local, timezone } => write!(f, "{local} {timezone}"),
        }
    }
}

impl Serialize for ScheduleInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ScheduleInput::At(ts) => ts.serialize(serializer),
            ScheduleInput::Local { local, timezone } => {
                let mut s = serializer.serialize_struct("ScheduleInput", 2)?;
                s.serialize_field("local", local)?;
                s.serialize_field("timezone", timezone)?;
                s.end()
            }
        }
    }
}

/// The object form on the wire.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalWire {
    local: DateTime,
    #[serde(default)]
    timezone: String,
}

struct ScheduleVisitor;

impl<'de> Visitor<'de> for ScheduleVisitor {
    type Value = ScheduleInput;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an RFC 3339 timestamp such as \"2026-12-01T09:00:00Z\" or an object \
             {\"local\": \"2026-12-01T09:00\", \"timezone\": \"Europe/Paris\"}",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if let Ok(ts) = v.parse::<Timestamp>() {
            return Ok(ScheduleInput::At(ts));
        }
        if let Ok(local) = v.parse::<DateTime>() {
            return Ok(ScheduleInput::Local {
                local,
                timezone: String::new(),
            });
        }
        let shown: String = v.chars().take(64).collect();
        Err(E::custom(format!(
            "`{shown}` is not an RFC 3339 timestamp (2026-12-01T09:00:00Z) \
             or a local date-time (2026-12-01T09:00)"
        )))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let wire = LocalWire::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(ScheduleInput::Local {
            local: wire.local,
            timezone: wire.timezone,
        })
    }
}

impl<'de> Deserialize<'de> for ScheduleInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScheduleVisitor)
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
