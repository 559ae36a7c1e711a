//! API versions smv pins, and when the networks retire them.
//!
//! Two networks put a version in every request: LinkedIn (`LinkedIn-Version: YYYYMM`,
//! supported for at least a year, then answered with HTTP 426) and Facebook's Graph API
//! (`/vNN.0/…`, available for about two years, then calls are moved to the oldest version
//! still served, whose answers may differ). smv pins a supported version of each; an admin
//! moves to a newer one without a new build, per account (`smv account set NAME
//! --api-version V`) or for every account of the network (`[api_versions]` in config.toml).
//! `smv secrets` and `smv account check` warn [`WARN_DAYS`] before the version in use is
//! retired. docs/providers.md lists the pinned versions and their dates.

use chrono::NaiveDate;

/// How early `smv secrets` and `account check` warn that a version will be retired.
pub const WARN_DAYS: i64 = 60;

/// A network whose API version smv pins.
pub struct Pinned {
    pub provider: &'static str,
    /// The version smv uses when nothing else is set.
    pub default: &'static str,
    /// What the version looks like, for messages.
    pub shape: &'static str,
}

pub const PINNED: &[Pinned] = &[
    Pinned {
        provider: "linkedin",
        // LinkedIn Marketing version July 2026, current as of August 2026
        // (learn.microsoft.com/linkedin/marketing/versioning); retired at the earliest
        // in July 2027.
        default: "202607",
        shape: "YYYYMM (e.g. 202607)",
    },
    Pinned {
        provider: "facebook",
        // Graph API v25.0 (released 2026-02-18), available until 2028-07-29
        // (developers.facebook.com/docs/graph-api/changelog/versions).
        default: "v25.0",
        shape: "vNN.0 (e.g. v25.0)",
    },
];

/// Graph API versions and the day each stops being served (Meta's changelog).
const GRAPH_SUNSETS: &[(&str, (i32, u32, u32))] = &[
    ("v19.0", (2026, 5, 21)),
    ("v20.0", (2026, 9, 24)),
    ("v21.0", (2027, 1, 21)),
    ("v22.0", (2027, 5, 20)),
    ("v23.0", (2027, 10, 8)),
    ("v24.0", (2028, 2, 18)),
    ("v25.0", (2028, 7, 29)),
];

pub fn pinned(provider: &str) -> Option<&'static Pinned> {
    PINNED.iter().find(|p| p.provider == provider)
}

/// Whether `version` has the shape of one of `provider`'s versions.
pub fn well_formed(provider: &str, version: &str) -> bool {
    match provider {
        // YYYYMM, or a patch release YYYYMM.NN.
        "linkedin" => {
            let (main, patch) = version.split_once('.').unwrap_or((version, "00"));
            main.len() == 6
                && main.bytes().all(|b| b.is_ascii_digit())
                && matches!(main[4..].parse::<u32>(), Ok(1..=12))
                && patch.len() == 2
                && patch.bytes().all(|b| b.is_ascii_digit())
        }
        "facebook" => version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(major, minor)| {
                !major.is_empty()
                    && major.len() <= 3
                    && major.bytes().all(|b| b.is_ascii_digit())
                    && !minor.is_empty()
                    && minor.len() <= 2
                    && minor.bytes().all(|b| b.is_ascii_digit())
            }),
        _ => false,
    }
}

/// The first day `provider` may no longer serve `version`, where it can be known:
/// LinkedIn supports a version for at least a year and retires it in the middle of that
/// month (202411 on 2025-11-17, 202410 on 2025-10-15): the 15th, a year on, is taken.
/// Graph: Meta's published table; a version not in it has no known date.
pub fn sunset(provider: &str, version: &str) -> Option<NaiveDate> {
    match provider {
        "linkedin" if well_formed(provider, version) => {
            let y: i32 = version[..4].parse().ok()?;
            let m: u32 = version[4..6].parse().ok()?;
            NaiveDate::from_ymd_opt(y + 1, m, 15)
        }
        "facebook" => GRAPH_SUNSETS
            .iter()
            .find(|(v, _)| *v == version)
            .and_then(|(_, (y, m, d))| NaiveDate::from_ymd_opt(*y, *m, *d)),
        _ => None,
    }
}

/// A warning when `version` of `provider` is retired within [`WARN_DAYS`] of `today` (or
/// already is), naming the setting that moves the account on.
pub fn warning(provider: &str, account: &str, version: &str, today: NaiveDate) -> Option<String> {
    let day = sunset(provider, version)?;
    let left = (day - today).num_days();
    if left > WARN_DAYS {
        return None;
    }
    let shape = pinned(provider).map_or("", |p| p.shape);
    let when = if left <= 0 {
        format!("was retired on {day}")
    } else {
        format!("is retired on {day}, in {left} days")
    };
    Some(format!(
        "{account}: {provider} API version {version} {when}; move to a newer one: `smv account set {account} --api-version {shape}`, or `[api_versions] {provider} = \"…\"` in config.toml"
    ))
}

/// The version a request of `provider` uses: the account's setting, else config.toml's,
/// else smv's pinned one.
pub fn chosen<'a>(
    provider: &str,
    account: Option<&'a str>,
    config: Option<&'a str>,
) -> Option<&'a str> {
    let pinned = pinned(provider)?;
    Some(account.or(config).unwrap_or(pinned.default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn shapes() {
        for ok in ["202607", "202508.02", "202412"] {
            assert!(well_formed("linkedin", ok), "{ok}");
        }
        for bad in [
            "2026-07", "20260", "202613", "v25.0", "202607.1", "", "202607 ",
        ] {
            assert!(!well_formed("linkedin", bad), "{bad:?}");
        }
        for ok in ["v25.0", "v3.3", "v100.0"] {
            assert!(well_formed("facebook", ok), "{ok}");
        }
        for bad in ["25.0", "v25", "v.0", "v25.0.1", "202607"] {
            assert!(!well_formed("facebook", bad), "{bad:?}");
        }
        assert!(!well_formed("mastodon", "v1"));
    }

    #[test]
    fn sunsets_and_warnings() {
        // The version smv pinned before: retired (LinkedIn said 2025-11-17).
        assert_eq!(sunset("linkedin", "202411"), Some(day("2025-11-15")));
        assert!(
            warning("linkedin", "li", "202411", day("2026-12-08"))
                .unwrap()
                .contains("was retired on 2025-11-15")
        );
        // The pinned ones are not near their end today.
        for p in PINNED {
            assert!(warning(p.provider, "a", p.default, day("2026-12-08")).is_none());
        }
        // 60 days before: a warning naming the setting.
        let w = warning("linkedin", "li", "202607", day("2027-05-20")).unwrap();
        assert!(
            w.contains("in 56 days") && w.contains("--api-version"),
            "{w}"
        );
        assert!(warning("linkedin", "li", "202607", day("2027-05-15")).is_none());
        assert_eq!(sunset("facebook", "v21.0"), Some(day("2027-01-21")));
        assert!(warning("facebook", "fb", "v21.0", day("2026-12-08")).is_some());
        assert_eq!(sunset("facebook", "v99.0"), None);
        assert_eq!(chosen("linkedin", None, None), Some("202607"));
        assert_eq!(chosen("linkedin", None, Some("202608")), Some("202608"));
        assert_eq!(
            chosen("linkedin", Some("202609"), Some("202608")),
            Some("202609")
        );
        assert_eq!(chosen("mastodon", None, None), None);
    }
}
