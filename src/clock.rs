//! Time for the governance rules: freezes that expire, posts that fall due, durations in
//! policies (`2h`, `90d`), and the `--at` times people type.
//!
//! Debug builds honour `SMV_TEST_CLOCK_OFFSET` (seconds added to the real clock) so that the
//! tests can reach a freeze's expiry or a scheduled time without sleeping; release builds
//! ignore it, like the failpoints. Audit entry times always come from the real clock.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};

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

/// A time as people write it: RFC 3339 (`2026-12-01T09:00:00+01:00`, `…Z`), with or without
/// seconds. A time without a UTC offset is refused: "09:00" is ambiguous on a server.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    let s = s.trim();
    let normalised = match s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        Some(head) => format!("{head}+00:00"),
        None => s.to_string(),
    };
    let parsed = DateTime::parse_from_rfc3339(&normalised)
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(&normalised, "%Y-%m-%dT%H:%M%:z"))
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(&normalised, "%Y-%m-%d %H:%M%:z"));
    match parsed {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => {
            let hint = if NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
                || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
            {
                "add the UTC offset, e.g. 2026-12-01T09:00+01:00 or 2026-12-01T08:00Z"
            } else {
                "write it as RFC 3339, e.g. 2026-12-01T09:00+01:00"
            };
            Err(Error::invalid("time", format!("`{s}` is not a time smv can read")).with_hint(hint))
        }
    }
}

/// A duration as people write it: a whole number and a unit, `s`, `m`, `h`, `d` or `w`
/// (`90s`, `15m`, `2h`, `90d`). Returned in seconds.
pub fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let bad = || {
        Error::invalid("duration", format!("`{s}` is not a duration"))
            .with_hint("write a whole number and a unit: 90s, 15m, 2h, 7d, 2w")
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(Error::invalid(
            "duration",
            "a duration must be longer than zero",
        ));
    }
    // Ten years is more than any policy needs, and keeps every sum far from overflow.
    n.checked_mul(scale)
        .filter(|secs| *secs <= 10 * 366 * 86_400)
        .ok_or_else(|| Error::invalid("duration", format!("`{s}` is longer than ten years")))
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
        assert!(parse_time("tomorrow").is_err());
        assert_eq!(parse_stamp("2026-12-01T08:00:00Z"), Some(t));
    }
}
