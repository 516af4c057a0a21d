//! Dates and times as spreadsheets write them. Accepted:
//! - RFC 3339 / ISO 8601 with an offset (`2026-12-01T09:00:00Z`, `2026-12-01 09:00+02:00`): an
//!   exact instant;
//! - ISO local (`2026-12-01T09:00`, `2026-12-01 09:00:00`, `2026/12/01 09:00`): a wall-clock
//!   time read in the row's zone;
//! - day and month first (`25/12/2026 09:00`, `12/25/2026 9:00 PM`, with `/`, `.` or `-`).
//!
//! When day and month could be swapped (`03/04/2026`, both at most 12 and different), the order
//! comes from `?date_order=dmy|mdy`; without it the value is rejected, never guessed.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use serde::{Deserialize, Serialize};
use tenants::ScheduleInput;

/// How to read a date whose year comes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Day, month, year (`25/12/2026`).
    Dmy,
    /// Month, day, year (`12/25/2026`).
    Mdy,
}

impl fmt::Display for DateOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateOrder::Dmy => "dmy",
            DateOrder::Mdy => "mdy",
        })
    }
}

impl FromStr for DateOrder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dmy" => Ok(DateOrder::Dmy),
            "mdy" => Ok(DateOrder::Mdy),
            _ => Err(format!(
                "`{}` is not a date order; use dmy or mdy",
                super::echo(s)
            )),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Parses a date and time as written in a cell. Local times come back as
/// [`ScheduleInput::Local`] with an empty zone, for the caller to resolve in the row's zone.
///
/// # Errors
/// A message for a person: no time of day, an impossible date or time, an ambiguous day/month
/// order without `date_order`, or a format not recognised (listing the accepted ones).
pub fn parse_datetime(text: &str, order: Option<DateOrder>) -> Result<ScheduleInput, String> {
    let text = text.trim();
    let unrecognised = || {
        format!(
            "`{}` is not a date and time; use 2026-12-01T09:00:00Z, 2026-12-01 09:00, \
             25/12/2026 09:00 or 12/25/2026 09:00",
            super::echo(text)
        )
    };
    let (date_part, time_part) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], text[i + 1..].trim()),
        None => (text, ""),
    };
    let parts: Vec<&str> = date_part.split(['-', '/', '.']).collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(unrecognised());
    };
    if !parts
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(unrecognised());
    }
    let iso = a.len() == 4;
    if iso && let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ScheduleInput::At(ts));
    }
    if time_part.is_empty() {
        return Err(format!(
            "`{}` has no time of day; add one, e.g. `{} 09:00`",
            super::echo(text),
            super::echo(date_part)
        ));
    }
    let num = |s: &str| s.parse::<i16>().map_err(|_| unrecognised());
    let date = if iso {
        make_date(num(a)?, num(b)?, num(c)?, date_part)?
    } else if c.len() == 4 {
        day_month(num(a)?, num(b)?, num(c)?, date_part, order)?
    } else {
        return Err(unrecognised());
    };
    let time = parse_time(time_part).ok_or_else(unrecognised)?;
    Ok(ScheduleInput::Local {
        local: DateTime::from_parts(date, time),
        timezone: String::new(),
    })
}

fn make_date(year: i16, month: i16, day: i16, shown: &str) -> Result<Date, String> {
    let (Ok(month8), Ok(day8)) = (i8::try_from(month), i8::try_from(day)) else {
        return Err(format!("`{}` is not a valid date", super::echo(shown)));
    };
    Date::new(year, month8, day8)
        .map_err(|_| format!("`{}` is not a valid date", super::echo(shown)))
}

/// Reads `a/b/year`, settling which of `a` and `b` is the month.
fn day_month(
    a: i16,
    b: i16,
    year: i16,
    shown: &str,
    order: Option<DateOrder>,
) -> Result<Date, String> {
    let explicit = order.is_some();
    let order = match order {
        Some(order) => order,
        None if a > 12 => DateOrder::Dmy,
        None if b > 12 || a == b => DateOrder::Mdy,
        None => {
            let month_name = |m: i16| MONTHS[usize::try_from(m - 1).unwrap_or(0) % 12];
            return Err(format!(
                "`{}` is ambiguous: {} {} {year} (day first) or {} {} {year} (month first); \
                 set date_order=dmy or date_order=mdy",
                super::echo(shown),
                a,
                month_name(b),
                month_name(a),
                b
            ));
        }
    };
    let (day, month) = match order {
        DateOrder::Dmy => (a, b),
        DateOrder::Mdy => (b, a),
    };
    make_date(year, month, day, shown).map_err(|err| {
        if !explicit {
            return err;
        }
        let words = match order {
            DateOrder::Dmy => "day/month/year",
            DateOrder::Mdy => "month/day/year",
        };
        format!(
            "`{}` is not a valid {words} date (date_order={order})",
            super::echo(shown)
        )
    })
}

/// `H:MM`, `H:MM:SS`, `H:MM:SS.fff`, optionally followed by `AM`/`PM`.
fn parse_time(text: &str) -> Option<Time> {
    let lower = text.trim().to_ascii_lowercase();
    let (clock, meridiem) = if let Some(rest) = lower.strip_suffix("am") {
        (rest.trim_end(), Some(false))
    } else if let Some(rest) = lower.strip_suffix("pm") {
        (rest.trim_end(), Some(true))
    } else {
        (lower.as_str(), None)
    };
    let mut parts = clock.split(':');
    let hour: i8 = small_number(parts.next()?, 2)?;
    let minute: i8 = small_number(parts.next()?, 2)?;
    let (second, nanos) = match parts.next() {
        None => (0, 0),
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let nanos = if frac.is_empty() {
                0
            } else if frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()) {
                format!("{frac:0<9}").parse::<i32>().ok()?
            } else {
                return None;
            };
            (small_number(whole, 2)?, nanos)
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let hour = match meridiem {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(false) => hour % 12,
        Some(true) => hour % 12 + 12,
    };
    Time::new(hour, minute, second, nanos).ok()
}

fn small_number(s: &str, max_len: usize) -> Option<i8> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(text: &str, order: Option<DateOrder>) -> String {
        match parse_datetime(text, order).unwrap() {
            ScheduleInput::Local { local, .. } => local.to_string(),
            ScheduleInput::At(ts) => panic!("expected a local time, got {ts}"),
        }
    }

    #[test]
    fn test_rfc3339_with_offset_is_an_instant() {
        for text in [
            "2026-12-01T09:00:00Z",
            "2026-12-01T10:00:00+01:00",
            "2026-12-01 09:00Z",
        ] {
            assert_eq!(
                parse_datetime(text, None).unwrap(),
                ScheduleInput::At("2026-12-01T09:00:00Z".parse().unwrap()),
                "{text}"
            );
        }
    }

    #[test]
    fn test_local_formats_are_read_as_wall_clock() {
        assert_eq!(local("2026-12-01T09:00", None), "2026-12-01T09:00:00");
        assert_eq!(local("2026-12-01 09:00:30", None), "2026-12-01T09:00:30");
        assert_eq!(local("2026/12/01 9:05", None), "2026-12-01T09:05:00");
        assert_eq!(local("25/12/2026 09:00", None), "2026-12-25T09:00:00");
        assert_eq!(local("12/25/2026 9:00 PM", None), "2026-12-25T21:00:00");
        assert_eq!(local("12/25/2026 12:00 am", None), "2026-12-25T00:00:00");
        assert_eq!(local("25.12.2026 09:00", None), "2026-12-25T09:00:00");
        assert_eq!(local("05/05/2026 09:00", None), "2026-05-05T09:00:00");
    }

    #[test]
    fn test_ambiguous_day_month_is_rejected_without_date_order() {
        let err = parse_datetime("03/04/2026 09:00", None).unwrap_err();
        assert_eq!(
            err,
            "`03/04/2026` is ambiguous: 3 April 2026 (day first) or March 4 2026 (month first); \
             set date_order=dmy or date_order=mdy"
        );
        assert_eq!(
            local("03/04/2026 09:00", Some(DateOrder::Dmy)),
            "2026-04-03T09:00:00"
        );
        assert_eq!(
            local("03/04/2026 09:00", Some(DateOrder::Mdy)),
            "2026-03-04T09:00:00"
        );
    }

    #[test]
    fn test_explicit_order_is_not_overridden() {
        let err = parse_datetime("25/12/2026 09:00", Some(DateOrder::Mdy)).unwrap_err();
        assert_eq!(
            err,
            "`25/12/2026` is not a valid month/day/year date (date_order=mdy)"
        );
    }

    #[test]
    fn test_bad_values_get_a_message() {
        assert_eq!(
            parse_datetime("2026-12-01", None).unwrap_err(),
            "`2026-12-01` has no time of day; add one, e.g. `2026-12-01 09:00`"
        );
        assert_eq!(
            parse_datetime("2026-02-30 09:00", None).unwrap_err(),
            "`2026-02-30` is not a valid date"
        );
        for text in ["tomorrow", "2026-12-01 25:00", "1/2/26 09:00", "13:00 PM x"] {
            assert!(
                parse_datetime(text, None)
                    .unwrap_err()
                    .contains("is not a date and time"),
                "{text}"
            );
        }
    }
}
