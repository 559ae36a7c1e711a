//! Time for the governance rules: freezes that expire, posts that fall due, durations in
//! policies (`2h`, `90d`), and the `--at` times people type.
//!
//! Debug builds honour `SMV_TEST_CLOCK_OFFSET` (seconds added to the real clock) so that the
//! tests can reach a freeze's expiry or a scheduled time without sleeping; release builds
//! ignore it, like the failpoints. Audit entry times always come from the real clock.

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc,
};

use crate::{Error, Result};

pub fn now() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(test_offset())
}

#[cfg(debug_assertions)]
fn test_offset() -> i64 {
    std::env::var("SMV_TEST_CLOCK_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(not(debug_assertions))]
#[inline(always)]
fn test_offset() -> i64 {
    0
}

/// The stored form of a time: UTC, RFC 3339, whole seconds. Stored times compare as text.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `now()` in the stored form.
pub fn now_stamp() -> String {
    stamp(now())
}

/// Reads a stored time back.
pub fn parse_stamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Which way a duration without a sign points: `--since 2d` means two days ago, `--at 2h`
/// in two hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    Past,
    Future,
}

/// A time a person typed, resolved to an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub at: DateTime<Utc>,
    /// It was relative to now (`+1h`, `2d`, `yesterday`, `tomorrow 09:00`): the resolved
    /// instant is worth printing back.
    pub relative: bool,
}

const TIME_FORMS: &str = "RFC 3339 (2026-12-01T09:00+01:00, 2026-12-01T08:00Z), a date (2026-12-01, midnight UTC), `now`, `+1h`, `-30m`, `2d` or `2 days ago`, `in 3 hours`, `yesterday`, `today 17:30`, `tomorrow 09:00`";

/// A time as people write it, relative to now in the local time zone (`TZ`): see
/// [`parse_when_at`].
pub fn parse_when(s: &str, toward: Toward) -> Result<When> {
    parse_when_at(s, now(), &chrono::Local, toward)
}

/// A time as people write it, resolved against `now` in `zone`:
/// - RFC 3339 with its UTC offset (`2026-12-01T09:00:00+01:00`, `…T08:00Z`), seconds
///   optional, `T` or a space;
/// - a date alone (`2026-12-01`): midnight UTC, as smv has always read it;
/// - `now`; a duration from now: `+1h` (ahead), `-30m` (back), `in 2 days`, `2 days ago`,
///   or unsigned (`2d`, `1h30m`) in the direction `toward` (back for `--since`, ahead for
///   `--at`);
/// - `yesterday`, `today`, `tomorrow`, each optionally with a clock time (`tomorrow 09:00`):
///   that day in `zone`, at midnight or at the time given.
///
/// Refused as ambiguous, with the way to say it: a clock time alone (`09:00`: today or
/// tomorrow?), a date and time without an offset (`2026-12-01T09:00`: in which zone?), and a
/// local time that a daylight-saving change makes happen twice or never.
pub fn parse_when_at<Tz: TimeZone>(
    s: &str,
    now: DateTime<Utc>,
    zone: &Tz,
    toward: Toward,
) -> Result<When> {
    let s = s.trim();
    let bad = |why: String, hint: String| Err(Error::invalid("time", why).with_hint(hint));
    if s.is_empty() {
        return bad("no time given".into(), format!("write {TIME_FORMS}"));
    }
    let lower = s.to_ascii_lowercase();
    let relative = |at| Ok(When { at, relative: true });
    if lower == "now" {
        return relative(now);
    }
    if let Some(at) = absolute(s) {
        return Ok(When {
            at,
            relative: false,
        });
    }
    // A day word, perhaps with a clock time.
    let mut words = lower.splitn(2, char::is_whitespace);
    let first = words.next().unwrap_or_default();
    let days = match first {
        "yesterday" => Some(-1),
        "today" => Some(0),
        "tomorrow" => Some(1),
        _ => None,
    };
    if let Some(days) = days {
        let clock = match words.next().map(str::trim) {
            None | Some("") => NaiveTime::MIN,
            Some(c) => match clock_time(c) {
                Some(t) => t,
                None => {
                    return bad(
                        format!("`{s}`: `{c}` is not a clock time"),
                        format!("write it as HH:MM or HH:MM:SS, e.g. `{first} 09:00`"),
                    );
                }
            },
        };
        let date = now.with_timezone(zone).date_naive() + chrono::Duration::days(days);
        return match zone.from_local_datetime(&date.and_time(clock)) {
            LocalResult::Single(t) => relative(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => bad(
                format!(
                    "`{s}` is ambiguous: the clocks go back that night, so {} happens twice",
                    date.and_time(clock).format("%Y-%m-%d %H:%M")
                ),
                format!(
                    "say which with its offset: {} or {}",
                    a.fixed_offset().format("%Y-%m-%dT%H:%M%:z"),
                    b.fixed_offset().format("%Y-%m-%dT%H:%M%:z")
                ),
            ),
            LocalResult::None => bad(
                format!(
                    "`{s}` does not exist in this time zone: the clocks go forward over {}",
                    date.and_time(clock).format("%Y-%m-%d %H:%M")
                ),
                "choose a time an hour later, or give it with its UTC offset".into(),
            ),
        };
    }
    // A duration from now.
    let (sign, span) = if let Some(rest) = lower.strip_prefix('+') {
        (Some(Toward::Future), rest)
    } else if let Some(rest) = lower.strip_prefix('-') {
        (Some(Toward::Past), rest)
    } else if let Some(rest) = lower.strip_prefix("in ") {
        (Some(Toward::Future), rest)
    } else if let Some(rest) = lower.strip_suffix(" ago") {
        (Some(Toward::Past), rest)
    } else {
        (None, lower.as_str())
    };
    if let Some(secs) = span_seconds(span) {
        let d = chrono::Duration::seconds(secs);
        return relative(match sign.unwrap_or(toward) {
            Toward::Future => now + d,
            Toward::Past => now - d,
        });
    }
    // What is left was not understood; say why the close misses are refused.
    if clock_time(&lower).is_some() {
        return bad(
            format!("`{s}` is ambiguous: a clock time alone could be today or tomorrow"),
            format!(
                "write `today {s}` or `tomorrow {s}` (your time zone), or a full time with its offset"
            ),
        );
    }
    if NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
        || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
        || NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").is_ok()
        || NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
    {
        return bad(
            format!("`{s}` is ambiguous: it has no UTC offset"),
            "add the UTC offset, e.g. 2026-12-01T09:00+01:00 or 2026-12-01T08:00Z".into(),
        );
    }
    bad(
        format!("`{s}` is not a time smv can read"),
        format!("write {TIME_FORMS}"),
    )
}

/// RFC 3339 with an offset (seconds optional, `T` or a space), or a date alone (midnight
/// UTC).
fn absolute(s: &str) -> Option<DateTime<Utc>> {
    let normalised = match s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        Some(head) => format!("{head}+00:00"),
        None => s.to_string(),
    };
    let parsed = DateTime::parse_from_rfc3339(&normalised)
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(&normalised, "%Y-%m-%dT%H:%M%:z"))
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(&normalised, "%Y-%m-%d %H:%M%:z"))
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(&normalised, "%Y-%m-%d %H:%M:%S%:z"));
    if let Ok(t) = parsed {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10)
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
}

/// `HH:MM` or `HH:MM:SS`, 24-hour.
fn clock_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .ok()
        .filter(|_| s.len() == 5 || s.len() == 8)
}

/// `2h`, `1h30m`, `2 days`, `1 week 2 days`: whole numbers with units, in seconds. None if
/// it is not one, or longer than ten years (more than any policy needs, and far from
/// overflow).
fn span_seconds(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let scale = match &rest[..letters] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "wk" | "week" | "weeks" => 7 * 86_400,
            _ => return None,
        };
        rest = rest[letters..].trim_start();
        total = total.checked_add(n.checked_mul(scale)?)?;
        if total > 10 * 366 * 86_400 {
            return None;
        }
    }
    Some(total)
}

/// A time as the proxy's API takes it (`at` of a post): what [`parse_when_at`] reads, with
/// day words in UTC (the client resolves them in its own zone and sends the instant).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    parse_when_at(s, now(), &Utc, Toward::Future).map(|w| w.at)
}

/// A duration as people write it: whole numbers with units — `s`, `m`, `h`, `d`, `w` or
/// their words (`90s`, `15m`, `2h`, `1h30m`, `90d`, `2 weeks`). Returned in seconds.
pub fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    match span_seconds(&s.to_ascii_lowercase()) {
        Some(0) => Err(Error::invalid(
            "duration",
            "a duration must be longer than zero",
        )),
        Some(secs) => Ok(secs),
        None if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
            Err(Error::invalid("duration", format!("`{s}` has no unit"))
                .with_hint(format!("e.g. {s}s, {s}m, {s}h or {s}d")))
        }
        None => Err(Error::invalid(
            "duration",
            format!("`{s}` is not a duration (or longer than ten years)"),
        )
        .with_hint("write whole numbers and units: 90s, 15m, 2h, 1h30m, 7d, 2w, `3 days`")),
    }
}

/// Seconds back to the shortest exact form (`3600` → `1h`).
pub fn format_duration(secs: i64) -> String {
    for (unit, scale) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs % scale == 0 {
            return format!("{}{unit}", secs / scale);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("90d").unwrap(), 90 * 86_400);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("2 weeks").unwrap(), 14 * 86_400);
        assert_eq!(parse_duration("3 Days").unwrap(), 3 * 86_400);
        assert!(
            parse_duration("2")
                .unwrap_err()
                .hint()
                .unwrap()
                .contains("2h")
        );
        for bad in [
            "",
            "h",
            "2",
            "2x",
            "-1h",
            "1.5h",
            "0h",
            "99999999999999999999d",
            "5000w",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for secs in [90, 900, 7200, 86_400, 14 * 86_400, 61] {
            assert_eq!(parse_duration(&format_duration(secs)).unwrap(), secs);
        }
        assert_eq!(format_duration(3600), "1h");
    }

    #[test]
    fn times() {
        let t = parse_time("2026-12-01T09:00+01:00").unwrap();
        assert_eq!(stamp(t), "2026-12-01T08:00:00Z");
        assert_eq!(
            stamp(parse_time("2026-12-01T08:00Z").unwrap()),
            "2026-12-01T08:00:00Z"
        );
        assert_eq!(
            stamp(parse_time("2026-12-01T08:00:30+00:00").unwrap()),
            "2026-12-01T08:00:30Z"
        );
        let e = parse_time("2026-12-01T09:00").unwrap_err();
        assert!(e.hint().unwrap().contains("offset"), "{e}");
        assert!(parse_time("next thursday").is_err());
        assert_eq!(parse_stamp("2026-12-01T08:00:00Z"), Some(t));
    }

    /// A zone with daylight-saving time, as central Europe has it in 2026: UTC+1, and UTC+2
    /// from 29 March 01:00 UTC to 25 October 01:00 UTC.
    #[derive(Debug, Clone, Copy)]
    struct Cet;

    impl TimeZone for Cet {
        type Offset = FixedOffset;
        fn from_offset(_: &FixedOffset) -> Cet {
            Cet
        }
        fn offset_from_local_date(&self, _: &chrono::NaiveDate) -> LocalResult<FixedOffset> {
            unimplemented!("not used by the parser")
        }
        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
            let winter = FixedOffset::east_opt(3600).unwrap();
            let summer = FixedOffset::east_opt(7200).unwrap();
            let candidates: Vec<FixedOffset> = [winter, summer]
                .into_iter()
                .filter(|o| self.offset_from_utc_datetime(&(*local - *o)) == *o)
                .collect();
            match candidates[..] {
                [o] => LocalResult::Single(o),
                [a, b] => LocalResult::Ambiguous(a, b),
                _ => LocalResult::None,
            }
        }
        fn offset_from_utc_date(&self, _: &chrono::NaiveDate) -> FixedOffset {
            unimplemented!("not used by the parser")
        }
        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            let start = utc_at("2026-03-29T01:00:00Z").naive_utc();
            let end = utc_at("2026-10-25T01:00:00Z").naive_utc();
            FixedOffset::east_opt(if *utc >= start && *utc < end {
                7200
            } else {
                3600
            })
            .unwrap()
        }
    }

    fn utc_at(s: &str) -> DateTime<Utc> {
        parse_stamp(s).unwrap()
    }

    fn when(s: &str, now: &str, toward: Toward) -> Result<When> {
        parse_when_at(s, utc_at(now), &Cet, toward)
    }

    fn at(s: &str, now: &str, toward: Toward) -> String {
        let w = when(s, now, toward).unwrap_or_else(|e| panic!("{s}: {e}"));
        stamp(w.at)
    }

    #[test]
    fn relative_times_are_from_now_in_the_local_zone() {
        let now = "2026-12-01T10:15:30Z"; // 11:15:30 in the zone (winter)
        use Toward::{Future, Past};
        assert_eq!(at("now", now, Past), "2026-12-01T10:15:30Z");
        assert_eq!(at("+1h", now, Past), "2026-12-01T11:15:30Z");
        assert_eq!(at("-30m", now, Future), "2026-12-01T09:45:30Z");
        assert_eq!(at("2d", now, Past), "2026-11-29T10:15:30Z");
        assert_eq!(at("2d", now, Future), "2026-12-03T10:15:30Z");
        assert_eq!(at("2 days ago", now, Future), "2026-11-29T10:15:30Z");
        assert_eq!(at("in 90 minutes", now, Past), "2026-12-01T11:45:30Z");
        assert_eq!(at("1h30m", now, Future), "2026-12-01T11:45:30Z");
        assert_eq!(at("1 week 2 days", now, Past), "2026-11-22T10:15:30Z");
        // Day words: midnight or the clock time given, in the zone.
        assert_eq!(at("today", now, Past), "2026-11-30T23:00:00Z");
        assert_eq!(at("yesterday", now, Past), "2026-11-29T23:00:00Z");
        assert_eq!(at("tomorrow 09:00", now, Future), "2026-12-02T08:00:00Z");
        assert_eq!(
            at("Tomorrow  09:00:30", now, Future),
            "2026-12-02T08:00:30Z"
        );
        assert_eq!(at("today 17:30", now, Future), "2026-12-01T16:30:00Z");
        // In summer the zone is an hour further.
        assert_eq!(
            at("tomorrow 09:00", "2026-07-01T12:00:00Z", Future),
            "2026-07-02T07:00:00Z"
        );
        // Late in the evening UTC it is already tomorrow in the zone.
        assert_eq!(
            at("today", "2026-12-01T23:30:00Z", Past),
            "2026-12-01T23:00:00Z"
        );
        for rel in ["now", "+1h", "2d", "yesterday", "tomorrow 09:00"] {
            assert!(when(rel, now, Past).unwrap().relative, "{rel}");
        }
    }

    #[test]
    fn absolute_times_keep_their_meaning() {
        let now = "2026-07-01T12:00:00Z";
        // A date alone is midnight UTC, whatever the zone (as documented before).
        assert_eq!(at("2026-12-01", now, Toward::Past), "2026-12-01T00:00:00Z");
        assert_eq!(
            at("2026-12-01T09:00+01:00", now, Toward::Past),
            "2026-12-01T08:00:00Z"
        );
        assert_eq!(
            at("2026-12-01 09:00:10+01:00", now, Toward::Past),
            "2026-12-01T08:00:10Z"
        );
        assert_eq!(
            at("2026-12-01T08:00z", now, Toward::Past),
            "2026-12-01T08:00:00Z"
        );
        assert!(!when("2026-12-01", now, Toward::Past).unwrap().relative);
    }

    #[test]
    fn ambiguous_times_are_refused_with_the_way_to_say_them() {
        let now = "2026-10-24T12:00:00Z";
        // 02:30 on 25 October happens twice (the clocks go back at 03:00 summer time).
        let e = when("tomorrow 02:30", now, Toward::Future).unwrap_err();
        assert!(e.to_string().contains("ambiguous"), "{e}");
        let hint = e.hint().unwrap();
        assert!(
            hint.contains("2026-10-25T02:30+02:00") && hint.contains("2026-10-25T02:30+01:00"),
            "{hint}"
        );
        // 02:30 on 29 March does not exist (the clocks go forward at 02:00).
        let e = when("tomorrow 02:30", "2026-03-28T12:00:00Z", Toward::Future).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        // A clock time alone: today or tomorrow?
        let e = when("09:00", now, Toward::Future).unwrap_err();
        assert!(e.to_string().contains("ambiguous"), "{e}");
        assert!(e.hint().unwrap().contains("tomorrow 09:00"));
        // A date and time without an offset: in which zone?
        for s in ["2026-12-01T09:00", "2026-12-01 09:00:00"] {
            let e = when(s, now, Toward::Future).unwrap_err();
            assert!(e.to_string().contains("no UTC offset"), "{s}: {e}");
        }
        for bad in [
            "",
            "soon",
            "tomorrow at nine",
            "tomorrow 25:00",
            "+",
            "2x",
            "1.5h",
            "+-1h",
            "in",
            "ago",
            "3 fortnights ago",
            "99999999999999999999d",
            "2026-13-01",
            "12/01/2026",
        ] {
            let e = when(bad, now, Toward::Past).unwrap_err();
            assert_eq!(e.class(), crate::Class::Usage, "{bad}");
            assert!(e.hint().is_some(), "{bad}");
        }
    }
}
