use jiff::civil::{DateTime, date};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;

const ZONES: [&str; 7] = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "UTC",
    "Pacific/Apia",
];

fn local(tz: &str, dt: DateTime) -> ScheduleInput {
    ScheduleInput::Local {
        local: dt,
        timezone: tz.to_string(),
    }
}

#[test]
fn test_dst_gap_is_rejected() {
    let input = local("Europe/Paris", date(2026, 3, 29).at(2, 30, 0, 0));
    let err = resolve(&input, "UTC").unwrap_err();
    assert!(matches!(err, ScheduleError::DstGap { .. }));
    assert_eq!(
        err.to_string(),
        "2026-03-29T02:30 does not exist in Europe/Paris: clocks jump from 02:00 to 03:00 \
         (daylight saving gap)"
    );
}

#[test]
fn test_dst_gap_message_names_new_york_gap() {
    let input = local("America/New_York", date(2026, 3, 8).at(2, 0, 0, 0));
    let err = resolve(&input, "UTC").unwrap_err();
    assert_eq!(
        err.to_string(),
        "2026-03-08T02:00 does not exist in America/New_York: clocks jump from 02:00 to 03:00 \
         (daylight saving gap)"
    );
}

#[test]
fn test_half_hour_gap_in_lord_howe_is_rejected() {
    // Lord Howe Island moves its clocks by 30 minutes: 02:00 -> 02:30 on 2026-10-04.
    let input = local("Australia/Lord_Howe", date(2026, 10, 4).at(2, 15, 0, 0));
    let err = resolve(&input, "UTC").unwrap_err();
    assert!(
        err.to_string().contains("clocks jump from 02:00 to 02:30"),
        "{err}"
    );
    let after = local("Australia/Lord_Howe", date(2026, 10, 4).at(2, 30, 0, 0));
    assert!(resolve(&after, "UTC").is_ok());
}

#[test]
fn test_skipped_day_in_apia_names_both_dates() {
    // Samoa skipped 2011-12-30 entirely when it crossed the date line.
    let input = local("Pacific/Apia", date(2011, 12, 30).at(12, 0, 0, 0));
    let err = resolve(&input, "UTC").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("2011-12-30T12:00 does not exist in Pacific/Apia"),
        "{msg}"
    );
    assert!(msg.contains("2011-12-31T00:00"), "{msg}");
}

#[test]
fn test_dst_overlap_resolves_to_earlier_instant() {
    // 02:30 happens twice in Paris on 2026-10-25: first at +02:00, then at +01:00.
    let input = local("Europe/Paris", date(2026, 10, 25).at(2, 30, 0, 0));
    let ts = resolve(&input, "UTC").unwrap();
    assert_eq!(ts, "2026-10-25T00:30:00Z".parse::<Timestamp>().unwrap());
}

#[test]
fn test_local_time_without_zone_uses_default_zone() {
    let input = local("", date(2026, 12, 1).at(9, 0, 0, 0));
    let ts = resolve(&input, "Europe/Paris").unwrap();
    assert_eq!(ts, "2026-12-01T08:00:00Z".parse::<Timestamp>().unwrap());
}

#[test]
fn test_unknown_timezone_is_rejected_with_clear_message() {
    for bad in [
        "Mars/Olympus",
        "",
        "+02:00",
        "Europe/Pariss",
        "EST5EDT,M3.2.0,M11.1.0",
    ] {
        let err = parse_timezone(bad).unwrap_err();
        assert!(
            matches!(err, ScheduleError::UnknownTimezone { .. }),
            "{bad}"
        );
        assert!(err.to_string().contains("IANA"), "{err}");
    }
    let input = local("Mars/Olympus", date(2026, 12, 1).at(9, 0, 0, 0));
    assert_eq!(
        resolve(&input, "UTC").unwrap_err().to_string(),
        "unknown time zone `Mars/Olympus`; use an IANA name such as Europe/Paris, \
         America/New_York or UTC"
    );
}

#[test]
fn test_iana_zones_parse() {
    for name in ZONES {
        assert_eq!(parse_timezone(name).unwrap().iana_name(), Some(name));
    }
}

#[test]
fn test_wire_accepts_rfc3339_string() {
    let input: ScheduleInput = serde_json::from_str("\"2026-12-01T09:00:00+01:00\"").unwrap();
    assert_eq!(
        input,
        ScheduleInput::At("2026-12-01T08:00:00Z".parse().unwrap())
    );
}

#[test]
fn test_wire_accepts_local_object() {
    let input: ScheduleInput =
        serde_json::from_str(r#"{"local":"2026-12-01T09:00","timezone":"Europe/Paris"}"#).unwrap();
    assert_eq!(
        input,
        local("Europe/Paris", date(2026, 12, 1).at(9, 0, 0, 0))
    );
    let back: ScheduleInput =
        serde_json::from_value(serde_json::to_value(&input).unwrap()).unwrap();
    assert_eq!(back, input);
}

#[test]
fn test_wire_rejects_garbage_with_example() {
    let err = serde_json::from_str::<ScheduleInput>("\"next tuesday\"").unwrap_err();
    assert!(err.to_string().contains("RFC 3339"), "{err}");
    let err = serde_json::from_str::<ScheduleInput>(r#"{"local":"2026-12-01T09:00","tz":"X"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("tz"), "{err}");
}

fn instant() -> impl Strategy<Value = Timestamp> {
    // 1971..2100: the range where real schedules live and zone rules are well defined.
    (31_536_000i64..4_102_444_800i64).prop_map(|s| Timestamp::from_second(s).unwrap())
}

fn zone() -> impl Strategy<Value = &'static str> {
    prop::sample::select(ZONES.to_vec())
}

proptest! {
    #[test]
    fn prop_instant_to_local_round_trips_except_folds_resolve_earlier(ts in instant(), name in zone()) {
        let tz = parse_timezone(name).unwrap();
        let wall = local_in(ts, &tz);
        let back = resolve(&local(name, wall), "UTC").unwrap();
        match tz.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Fold { .. } => {
                prop_assert!(back <= ts);
                prop_assert_eq!(local_in(back, &tz), wall);
                let earliest = tz.to_ambiguous_timestamp(wall).earlier().unwrap();
                prop_assert_eq!(back, earliest);
            }
            AmbiguousOffset::Unambiguous { .. } => prop_assert_eq!(back, ts),
            AmbiguousOffset::Gap { .. } => prop_assert!(false, "a shown time is never in a gap"),
        }
    }

    #[test]
    fn prop_every_gap_local_time_errors(
        start in instant(),
        name in zone(),
        nth in 0usize..4,
        frac in 0.0f64..1.0,
    ) {
        let tz = parse_timezone(name).unwrap();
        let gap = tz
            .following(start)
            .filter(|t| {
                let before = tz.to_offset(t.timestamp() - SignedDuration::from_nanos(1));
                t.offset() > before
            })
            .nth(nth);
        if let Some(tr) = gap {
            let before = tz.to_offset(tr.timestamp() - SignedDuration::from_nanos(1));
            let width = tr.offset().duration_since(before);
            let into = SignedDuration::from_secs_f64(width.as_secs_f64() * frac);
            let gap_start = before.to_datetime(tr.timestamp());
            let wall = gap_start.checked_add(into).unwrap();
            let err = resolve(&local(name, wall), "UTC").unwrap_err();
            let is_gap = matches!(err, ScheduleError::DstGap { .. });
            prop_assert!(is_gap, "{}", err);
            prop_assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn prop_rfc3339_round_trips(ts in instant(), nanos in 0i32..1_000_000_000) {
        let ts = ts.checked_add(SignedDuration::from_nanos(i64::from(nanos))).unwrap();
        let wire = serde_json::to_string(&ScheduleInput::At(ts)).unwrap();
        let back: ScheduleInput = serde_json::from_str(&wire).unwrap();
        prop_assert_eq!(resolve(&back, "UTC").unwrap(), ts);
        let text = ts.to_string();
        prop_assert_eq!(text.parse::<Timestamp>().unwrap(), ts);
    }

    #[test]
    fn prop_local_wire_round_trips(ts in instant(), name in zone()) {
        let tz = TimeZone::get(name).unwrap();
        let input = local(name, local_in(ts, &tz));
        let back: ScheduleInput =
            serde_json::from_str(&serde_json::to_string(&input).unwrap()).unwrap();
        prop_assert_eq!(back, input);
    }
}
