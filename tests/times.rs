//! Times for people: relative inputs (`--at +1h`, `--at "tomorrow 09:00"`, `--since 2d`,
//! `--since yesterday`) resolved in the shell's time zone and printed back; ambiguous input
//! refused with the way to say it; a date alone still midnight UTC.

mod support;

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, TimeZone, Utc};
use support::Sandbox;

/// A zone without daylight-saving time, so that "tomorrow 09:00" has one answer whatever
/// the date the tests run on: UTC+5 (POSIX rule, no tzdata needed).
const TZ: (&str, &str) = ("TZ", "XYZ-5");

fn plus5() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600).unwrap()
}

fn setup() -> Sandbox {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s
}

fn due(run: &support::Run) -> DateTime<Utc> {
    let v = run.json();
    DateTime::parse_from_rfc3339(v[0]["due_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn at_plus_one_hour_is_an_hour_from_now() {
    let s = setup();
    let before = Utc::now();
    let run = s
        .smv_env(&[TZ], &["--json", "post", "demo", "later", "--at", "+1h"])
        .ok();
    let after = Utc::now();
    let at = due(&run);
    assert!(
        at >= before + Duration::hours(1) - Duration::seconds(1)
            && at <= after + Duration::hours(1),
        "{at}"
    );
    // Words, compound durations and "in …" too.
    let run = s
        .smv_env(&[TZ], &["--json", "post", "demo", "x", "--at", "in 1h30m"])
        .ok();
    let d = due(&run) - Utc::now();
    assert!(
        d > Duration::minutes(88) && d <= Duration::minutes(90),
        "{d}"
    );
}

#[test]
fn at_tomorrow_nine_is_nine_in_the_shells_zone_and_is_printed_back() {
    let s = setup();
    let run = s
        .smv_env(
            &[TZ],
            &[
                "--json",
                "post",
                "demo",
                "morning",
                "--at",
                "tomorrow 09:00",
            ],
        )
        .ok();
    let at = due(&run);
    // Tomorrow in UTC+5, at 09:00 there: 04:00 UTC. (Either day, if the test straddles
    // midnight there.)
    let today = Utc::now().with_timezone(&plus5()).date_naive();
    let expect = |d: chrono::NaiveDate| {
        plus5()
            .from_local_datetime(&d.and_time(NaiveTime::from_hms_opt(9, 0, 0).unwrap()))
            .unwrap()
            .with_timezone(&Utc)
    };
    assert!(
        at == expect(today + Duration::days(1)) || at == expect(today + Duration::days(2)),
        "{at}"
    );
    // On a terminal, the resolved instant is printed back in the zone.
    let run = s
        .smv_env(
            &[TZ, ("SMV_TEST_TERMINAL", "1")],
            &["post", "demo", "morning 2", "--at", "tomorrow 09:00"],
        )
        .ok();
    assert!(run.stdout.contains(" 09:00:00 +05:00"), "{}", run.stdout);
    // Piped, in UTC.
    let run = s
        .smv_env(
            &[TZ],
            &["post", "demo", "morning 3", "--at", "tomorrow 09:00"],
        )
        .ok();
    assert!(run.stdout.contains("T04:00:00Z"), "{}", run.stdout);
    // The same for a draft's publication.
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
}

#[test]
fn since_two_days_and_since_yesterday_filter_the_log_and_say_which_instant() {
    let s = setup();
    s.smv(&["post", "demo", "today's post"]).ok();
    let all = s.smv(&["--json", "audit", "log"]).ok().json();
    let n = all.as_array().unwrap().len();
    for since in ["2d", "yesterday", "2 days ago", "-48h"] {
        let run = s
            .smv_env(&[TZ], &["--json", "audit", "log", "--since", since])
            .ok();
        assert_eq!(run.json().as_array().unwrap().len(), n, "{since}");
        let run = s.smv_env(&[TZ], &["audit", "log", "--since", since]).ok();
        assert!(
            run.stderr.contains(&format!("--since {since}: ")),
            "{since}: {}",
            run.stderr
        );
    }
    // Everything is older than "in an hour", nothing is newer.
    let run = s.smv(&["--json", "audit", "log", "--since", "+1h"]).ok();
    assert_eq!(run.json().as_array().unwrap().len(), 0);
    let run = s
        .smv(&["--json", "audit", "log", "--until", "in 1 hour"])
        .ok();
    assert_eq!(run.json().as_array().unwrap().len(), n);
}

#[test]
fn a_date_alone_is_still_midnight_utc() {
    let s = setup();
    let today = Utc::now().date_naive();
    let tomorrow = (today + Duration::days(1)).format("%Y-%m-%d").to_string();
    // Whatever the zone, --until tomorrow's date (UTC midnight) includes everything so far.
    let all = s.smv(&["--json", "audit", "log"]).ok().json();
    let run = s
        .smv_env(
            &[("TZ", "XYZ+11")],
            &["--json", "audit", "log", "--until", &tomorrow],
        )
        .ok();
    assert_eq!(run.json(), all);
    let run = s
        .smv_env(&[TZ], &["audit", "log", "--until", &tomorrow])
        .ok();
    assert!(
        !run.stderr.contains("--until"),
        "an absolute time is not echoed"
    );
}

#[test]
fn ambiguous_or_unknown_times_are_refused_with_the_way_to_say_them() {
    let s = setup();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["post", "demo", "x", "--at", "09:00"],
            "ambiguous",
            "tomorrow 09:00",
        ),
        (
            &["post", "demo", "x", "--at", "2026-12-01T09:00"],
            "no UTC offset",
            "+01:00",
        ),
        (
            &["audit", "log", "--since", "last tuesday"],
            "not a time",
            "yesterday",
        ),
        (
            &["audit", "log", "--since", "2026-12-01 09:00"],
            "no UTC offset",
            "offset",
        ),
        (
            &["freeze", "demo", "--reason", "r", "--for", "a while"],
            "not a duration",
            "1h30m",
        ),
    ];
    for (args, why, hint) in cases {
        let run = s.smv_env(&[TZ], args).fails(2);
        assert!(run.stderr.contains(why), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("hint:") && run.stderr.contains(hint),
            "{args:?}: {}",
            run.stderr
        );
    }
    // The flag is named in the error.
    s.smv(&["audit", "log", "--since", "soonish"])
        .fails(2)
        .stderr_has("--since");
    // Nothing was scheduled.
    let q = s.smv(&["--json", "queue"]).ok().json();
    assert_eq!(q.as_array().unwrap().len(), 0);
}

#[test]
fn durations_take_words_and_compound_forms() {
    let s = setup();
    let run = s
        .smv(&[
            "--json", "freeze", "demo", "--reason", "r", "--for", "1h30m",
        ])
        .ok();
    let v = run.json();
    let since = DateTime::parse_from_rfc3339(v["frozen_at"].as_str().unwrap()).unwrap();
    let until = DateTime::parse_from_rfc3339(v["until"].as_str().unwrap()).unwrap();
    assert_eq!(until - since, Duration::minutes(90));
    s.smv(&["unfreeze", "demo"]).ok();
    let v = s
        .smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "t",
            "--account",
            "demo",
            "--expires",
            "2 weeks",
        ])
        .ok()
        .json();
    let created =
        DateTime::parse_from_rfc3339(v["record"]["created_at"].as_str().unwrap()).unwrap();
    let expires =
        DateTime::parse_from_rfc3339(v["record"]["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, Duration::days(14));
}
