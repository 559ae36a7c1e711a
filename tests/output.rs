//! Output people can read and scripts can parse: tables that fit the terminal, tab-separated
//! values when piped, times in the local zone on a terminal only, quiet broken pipes, usage
//! errors as JSON under `--json`, and `--color`.

mod support;

use std::process::Stdio;

use support::Sandbox;

/// A vault with two accounts, a long freeze reason and a few posts.
fn setup() -> Sandbox {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["account", "add", "x-main", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["grant", "alice", "x-main", "post"]).ok();
    for i in 0..3 {
        s.smv(&[
            "post",
            "demo,x-main",
            &format!(
                "Release {i}: a text long enough to need cutting in a narrow terminal, with words"
            ),
        ])
        .ok();
    }
    s
}

fn display_width(s: &str) -> usize {
    // The tests' texts are ASCII but for `…`, one column.
    s.chars().count()
}

#[test]
fn piped_tables_are_tab_separated_values_with_a_header_line() {
    let s = setup();
    let run = s.smv(&["account", "list"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "account\tprovider\thandle\tadded_by\tadded\tsecret\tyour_level"
    );
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let fields: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(fields.len(), 7, "{}", lines[1]);
    assert_eq!(fields[0], "demo");
    // Piped times stay UTC, to the second.
    assert!(
        fields[4].ends_with('Z') && fields[4].len() == 20,
        "{}",
        fields[4]
    );
    for out in [
        run.stdout,
        s.smv(&["audit", "log"]).ok().stdout,
        s.smv(&["access"]).ok().stdout,
    ] {
        assert!(
            !out.contains(['─', '│', '┆', '═', '+']) || !out.contains("---"),
            "box drawing in piped output:\n{out}"
        );
        for c in ['─', '│', '┆', '═'] {
            assert!(!out.contains(c), "box drawing in piped output:\n{out}");
        }
        let header_fields = out.lines().next().unwrap().split('\t').count();
        for l in out.lines() {
            assert_eq!(l.split('\t').count(), header_fields, "ragged TSV: {l:?}");
        }
    }
}

#[test]
fn a_terminal_table_fits_its_width_and_never_cuts_times_or_ids() {
    let s = setup();
    for cols in ["80", "120"] {
        let run = s
            .smv_env(
                &[("SMV_TEST_TERMINAL", "1"), ("COLUMNS", cols), ("TZ", "UTC")],
                &["audit", "log"],
            )
            .ok();
        let width: usize = cols.parse().unwrap();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert!(lines[0].starts_with("SEQ  TIME (+00:00) "), "{}", lines[0]);
        assert!(!run.stdout.contains('\t'));
        for l in &lines {
            assert!(display_width(l) <= width, "{cols}: {l}");
        }
        // Every row is one line: seq first, the whole time second.
        for l in &lines[1..] {
            let mut f = l.split_whitespace();
            assert!(f.next().unwrap().parse::<u64>().is_ok(), "{l}");
            let date = f.next().unwrap();
            let clock = f.next().unwrap();
            assert!(
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
                "{l}"
            );
            assert!(
                chrono::NaiveTime::parse_from_str(clock, "%H:%M:%S").is_ok(),
                "{l}"
            );
            assert_eq!(f.next(), Some("alice"), "{l}");
        }
        assert!(
            run.stdout.contains('…'),
            "long details are cut:\n{}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("\n\n") && !run.stdout.contains('─'),
            "no rules between rows"
        );
    }
}

#[test]
fn a_terminal_that_reports_no_width_gets_80_columns() {
    let s = setup();
    for columns in ["0", "", "junk"] {
        let run = s
            .smv_env(
                &[("SMV_TEST_TERMINAL", "1"), ("COLUMNS", columns)],
                &["audit", "log"],
            )
            .ok();
        let widest = run.stdout.lines().map(display_width).max().unwrap();
        assert!(widest <= 80 && widest > 40, "COLUMNS={columns:?}: {widest}");
    }
}

/// A real pseudo-terminal (util-linux `script`) that reports 120 columns and 0 rows, with no
/// `COLUMNS`: the width is the terminal's 120, not the 80 of a terminal that says nothing
/// (the terminal_size crate answers nothing when rows are 0). Skipped, saying so, where
/// `script` or `stty` is missing.
#[test]
fn a_pty_that_reports_0_rows_still_gives_its_width() {
    let s = setup();
    let have = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|st| st.success())
    };
    if !have("script") || !have("stty") {
        eprintln!("skipped: util-linux `script` or `stty` is not installed");
        return;
    }
    let run = |cols: &str| {
        let out = std::process::Command::new("script")
            .args([
                "-qec",
                &format!(
                    "stty rows 0 cols {cols} && stty size && exec {} audit log",
                    support::BIN
                ),
                "/dev/null",
            ])
            .env_clear()
            .env("HOME", s.home())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SMV_KEYRING", "off")
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(format!("0 {cols}").as_str()), "{text}");
        let table: Vec<&str> = lines.collect();
        assert!(table[0].starts_with("SEQ"), "a terminal's table: {text}");
        table.iter().map(|l| display_width(l)).max().unwrap()
    };
    let widest = run("120");
    assert!(widest > 80 && widest <= 120, "{widest}");
    let widest = run("100");
    assert!(widest > 80 && widest <= 100, "{widest}");
}

#[test]
fn times_are_local_with_their_offset_on_a_terminal_only() {
    let s = setup();
    let tz = [("TZ", "Asia/Kolkata")];
    let piped = s.smv_env(&tz, &["account", "list"]).ok();
    assert!(piped.stdout.contains('Z') && !piped.stdout.contains("+05:30"));
    let json = s.smv_env(&tz, &["account", "list", "--json"]).ok();
    let created = json.json()[0]["created_at"].as_str().unwrap().to_string();
    assert!(created.ends_with('Z'), "{created}");
    let term = s
        .smv_env(
            &[("TZ", "Asia/Kolkata"), ("SMV_TEST_TERMINAL", "1")],
            &["account", "list"],
        )
        .ok();
    assert!(term.stdout.contains("ADDED (+05:30)"), "{}", term.stdout);
    // The same instant: UTC 18:00:22 is 23:30:22 in Kolkata.
    let utc = chrono::DateTime::parse_from_rfc3339(&created).unwrap();
    let local = utc
        .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert!(term.stdout.contains(&local), "{local}\n{}", term.stdout);
}

/// Runs smv with a stdout whose reader is gone before smv writes.
fn closed_stdout(s: &Sandbox, args: &[&str]) -> (i32, String) {
    let mut cmd = s.command();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_quietly_with_exit_0() {
    let s = setup();
    for args in [
        &["audit", "log"][..],
        &["audit", "log", "--json"],
        &["audit", "export", "--format", "jsonl"],
        &["audit", "export", "--format", "csv"],
        &["account", "list"],
        &["--help"],
        &["completions", "bash"],
        &["man"],
    ] {
        let (code, stderr) = closed_stdout(&s, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // A post whose output nobody reads is still made and logged, and ends with 0.
    let before = s.audit_entries().len();
    let (code, stderr) = closed_stdout(&s, &["post", "demo", "unread"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(s.audit_entries().len(), before + 2);
}

#[test]
fn usage_errors_are_json_on_stderr_under_json() {
    let s = Sandbox::new();
    for args in [
        &["--json", "nonsense"][..],
        &["post", "--json"],
        &["--json", "grant", "joe", "demo", "superuser"],
        &["audit", "show", "not-a-number", "--json"],
    ] {
        let run = s.smv(args).fails(2);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        let v: serde_json::Value = serde_json::from_str(run.stderr.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", run.stderr));
        assert_eq!(v["error"]["class"], "usage", "{v}");
        assert_eq!(v["error"]["exit_code"], 2);
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(!msg.is_empty() && !msg.starts_with("error:"), "{msg}");
        assert!(
            v["error"]["hint"].as_str().unwrap().contains("--help"),
            "{v}"
        );
        assert!(!msg.contains("  "), "{msg}");
    }
    // Without --json, clap's own words on stderr.
    s.smv(&["nonsense"])
        .fails(2)
        .stderr_has("unrecognized subcommand");
    // Help and version are answers, not errors.
    let help = s.smv(&["--json", "--help"]).ok();
    assert!(help.stdout.contains("Usage: smv"));
    s.smv(&["--version"]).ok().stdout_has("smv ");
}

#[test]
fn color_is_chosen_by_the_flag_and_no_color() {
    let s = Sandbox::new();
    // Piped stderr: auto means no colour; always means colour, even with NO_COLOR.
    let plain = s.smv(&["whoami"]).fails(6);
    assert!(!plain.stderr.contains('\x1b'), "{}", plain.stderr);
    let always = s.smv(&["--color", "always", "whoami"]).fails(6);
    assert!(
        always.stderr.contains("\x1b[31;1merror:"),
        "{}",
        always.stderr
    );
    assert!(always.stderr.contains("\x1b[1mhint:"), "{}", always.stderr);
    let never = s.smv(&["--color=never", "whoami"]).fails(6);
    assert!(!never.stderr.contains('\x1b'));
    s.smv(&["--color", "sometimes", "whoami"])
        .fails(2)
        .stderr_has("sometimes");
}

#[test]
fn every_cell_stays_escaped_in_both_layouts() {
    let s = setup();
    s.smv(&[
        "freeze",
        "demo",
        "--reason",
        "evil\t\u{1b}[2Jreason\u{202e}txt.exe\nsecond line",
    ])
    .ok();
    for env in [
        &[][..],
        &[("SMV_TEST_TERMINAL", "1"), ("COLUMNS", "200")][..],
    ] {
        let run = s.smv_env(env, &["status"]).ok();
        assert!(
            !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{202e}'),
            "{:?}",
            run.stdout
        );
        assert!(
            run.stdout.contains("\\t\\u{1b}[2Jreason\\u{202e}"),
            "{}",
            run.stdout
        );
        // The escaped tab and line break keep the row one line (and TSV columns intact).
        let row = run.stdout.lines().find(|l| l.contains("evil")).unwrap();
        assert!(row.contains("second line"), "{row}");
    }
}

/// Runs smv in a real pseudo-terminal (util-linux `script`): what a person at a terminal
/// sees, stdout and stderr together.
fn in_terminal(s: &Sandbox, env: &[(&str, &str)], args: &[&str]) -> String {
    let inner = s.command();
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear().current_dir(s.home());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    // A terminal says what it is (without TERM, progress displays stay hidden, as on a
    // dumb terminal).
    cmd.env("TERM", "xterm");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut line = inner.get_program().to_string_lossy().into_owned();
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let out = cmd
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Long work without a count (an offboarding: one change of the whole vault) shows a
/// spinner on stderr once it has taken longer than a glance — on a terminal only: piped,
/// stderr stays empty.
#[test]
fn a_slow_offboarding_shows_a_spinner_on_a_terminal_only() {
    if !support::require_tool("script") {
        return;
    }
    let s = Sandbox::new();
    s.init();
    for who in ["joe", "max"] {
        s.smv(&["member", "add", who, "--role", "member"]).ok();
    }
    // The change holds on after its intent, as a big vault's re-encryption would.
    let slow = [("SMV_FAILPOINT", "after-intent:sleep1200")];
    let piped = s.smv_env(&slow, &["offboard", "joe", "--yes"]).ok();
    assert!(piped.stdout.contains("Offboarded joe"), "{}", piped.stdout);
    assert_eq!(piped.stderr, "", "nothing drawn on a pipe");
    let seen = in_terminal(&s, &slow, &["offboard", "max", "--yes"]);
    assert!(seen.contains("Offboarded max"), "{seen}");
    assert!(
        seen.contains("offboarding max…"),
        "no spinner on a terminal: {seen}"
    );
    // Quick work draws nothing, on a terminal too.
    s.smv(&["member", "add", "ann", "--role", "member"]).ok();
    let quick = in_terminal(&s, &[], &["offboard", "ann", "--yes"]);
    assert!(quick.contains("Offboarded ann"), "{quick}");
    assert!(!quick.contains("offboarding ann…"), "{quick}");
}
