//! What the CLI prints, pinned: `--help` of every command, each error class's `error:` and
//! `hint:`, and every table and report at 80 and 120 columns (a terminal, time zone UTC+1)
//! and piped. Ids, times, keys, hashes and paths are replaced by placeholders before the
//! comparison. A changed snapshot is reviewed like code: `cargo insta review`, or run with
//! `INSTA_UPDATE=always` and read the diff in git.

mod support;

use std::path::PathBuf;

use clap::CommandFactory;
use support::Sandbox;

/// Placeholders for what changes from run to run.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    for (re, with) in [
        (r"/tmp/\.tmp[A-Za-z0-9]{6}", "[HOME]"),
        (r"AGE-SECRET-KEY-1[0-9A-Z]+", "[SECRET-KEY]"),
        (r"age1[0-9a-z]{58}", "[RECIPIENT]"),
        (r"smv_t[0-9a-f]{8}_[A-Za-z0-9_-]+", "[TOKEN-SECRET]"),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
        (
            r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}( [+-]\d{2}:\d{2})?",
            "[LOCAL-TIME]",
        ),
        (r"\b[0-9a-f]{64}\b", "[SHA256]"),
        (r"\b[0-9a-f]{32}\b", "[HEX32]"),
        (r"\b[0-9a-f]{16}\b", "[HEX16]"),
        (r"\bd[0-9a-f]{8}\b", "[DRAFT]"),
        (r"\bq[0-9a-f]{8}\b", "[QUEUED]"),
        (r"\bt[0-9a-f]{8}\b", "[TOKEN]"),
        (r"\(\d+ ms\)", "([MS])"),
        (r"waited \d+ ms", "waited [N] ms"),
        (r"posts resolve \d+", "posts resolve [SEQ]"),
        (r"\d+d ago", "[N]d ago"),
        (r"smv \d+\.\d+\.\d+", "smv [VERSION]"),
    ] {
        s.add_filter(re, with);
    }
    s
}

/// Every command path (`["audit", "log"]`…), from clap's definition.
fn commands() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, out);
        }
    }
    let mut out = Vec::new();
    walk(&smv::cli::Cli::command(), Vec::new(), &mut out);
    out
}

#[test]
fn help_of_every_command() {
    let s = Sandbox::new();
    let settings = settings();
    for path in commands() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = s.smv_env(&[("COLUMNS", "80")], &args).ok();
        let name = if path.is_empty() {
            "help".to_string()
        } else {
            format!("help-{}", path.join("-"))
        };
        settings.bind(|| insta::assert_snapshot!(name, run.stdout));
    }
}

#[test]
fn each_error_class_says_what_and_what_to_do() {
    let s = Sandbox::new();
    let settings = settings();
    // Before a vault exists: usage (2) and identity (6) and vault (7).
    let mut cases: Vec<(&str, Vec<String>, i32)> = vec![
        ("usage-clap", vec!["grant".into(), "joe".into()], 2),
        ("identity-none", vec!["whoami".into()], 6),
    ];
    let run_all = |cases: &[(&str, Vec<String>, i32)], key: Option<&PathBuf>| {
        for (name, args, code) in cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = match key {
                Some(k) => s.smv_as(k, &args),
                None => s.smv(&args),
            }
            .fails(*code);
            let json = match key {
                Some(k) => s.smv_as(k, &[&["--json"][..], &args].concat()),
                None => s.smv(&[&["--json"][..], &args].concat()),
            }
            .fails(*code);
            settings.bind(|| {
                insta::assert_snapshot!(
                    format!("error-{name}"),
                    format!("{}--json:\n{}", run.stderr, json.stderr)
                )
            });
        }
    };
    run_all(&cases, None);
    s.smv(&[
        "--identity",
        s.home().join("k.txt").to_str().unwrap(),
        "identity",
        "new",
    ])
    .ok();
    cases = vec![("vault-missing", vec!["account".into(), "list".into()], 7)];
    run_all(&cases, Some(&s.home().join("k.txt")));
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    std::fs::write(s.home().join("garbage.audit"), b"not a log").unwrap();
    let cases: Vec<(&str, Vec<String>, i32)> = vec![
        (
            "not-found",
            vec!["draft".into(), "show".into(), "d00000000".into()],
            3,
        ),
        (
            "conflict",
            vec![
                "account".into(),
                "add".into(),
                "demo".into(),
                "--provider".into(),
                "outbox".into(),
            ],
            5,
        ),
        (
            "usage-name",
            vec![
                "grant".into(),
                "alice".into(),
                "de mo!".into(),
                "post".into(),
            ],
            2,
        ),
        (
            "usage-time",
            vec![
                "post".into(),
                "demo".into(),
                "t".into(),
                "--at".into(),
                "09:00".into(),
            ],
            2,
        ),
        (
            "io",
            vec![
                "post".into(),
                "demo".into(),
                "--file".into(),
                "/nonexistent/file".into(),
            ],
            9,
        ),
        // Every refusal to overwrite a file is one situation with one code (5), whichever
        // command meets it (issue 24: `audit backup` and `audit export --out` gave 9).
        (
            "conflict-overwrite-backup",
            vec![
                "audit".into(),
                "backup".into(),
                s.home().join("garbage.audit").display().to_string(),
            ],
            5,
        ),
        (
            "conflict-overwrite-export",
            vec![
                "audit".into(),
                "export".into(),
                "--format".into(),
                "jsonl".into(),
                "--out".into(),
                s.home().join("garbage.audit").display().to_string(),
            ],
            5,
        ),
        (
            "conflict-overwrite-identity-backup",
            vec![
                "identity".into(),
                "backup".into(),
                s.home().join("garbage.audit").display().to_string(),
            ],
            5,
        ),
        // A named file that is missing: 9, with a hint (it had none).
        (
            "io-identity-missing",
            vec!["--identity".into(), "missing.txt".into(), "whoami".into()],
            9,
        ),
        (
            "io-handover-dir-missing",
            vec![
                "offboard".into(),
                "bob".into(),
                "--yes".into(),
                "--handover-dir".into(),
                s.home().join("no-such-dir").display().to_string(),
            ],
            9,
        ),
        // The reason is said once ("invalid post: demo: invalid post: …" repeated itself).
        (
            "usage-invalid-post",
            vec!["post".into(), "demo".into(), " ".into()],
            2,
        ),
        (
            "usage-pubkey",
            vec![
                "audit".into(),
                "verify".into(),
                "--log".into(),
                s.home().join("garbage.audit").display().to_string(),
                "--pubkey".into(),
                "smv-audit+00000000+AAAA".into(),
            ],
            2,
        ),
    ];
    run_all(&cases, None);
    let denied: Vec<(&str, Vec<String>, i32)> = vec![(
        "denied",
        vec!["post".into(), "demo".into(), "hello".into()],
        4,
    )];
    run_all(&denied, Some(&bob));
    s.smv(&["freeze", "demo", "--reason", "crisis"]).ok();
    let frozen: Vec<(&str, Vec<String>, i32)> = vec![(
        "denied-frozen",
        vec!["post".into(), "demo".into(), "hello".into()],
        4,
    )];
    run_all(&frozen, None);
    // Tampered (10): an export whose text was changed.
    let export = s.home().join("e.jsonl");
    let key = s.home().join("audit.pub");
    std::fs::write(&key, s.smv(&["audit", "pubkey"]).ok().stdout).unwrap();
    s.smv(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--out",
        export.to_str().unwrap(),
    ])
    .ok();
    let text = std::fs::read_to_string(&export).unwrap();
    std::fs::write(&export, text.replace("\"crisis\"", "\"calm\"")).unwrap();
    let tampered: Vec<(&str, Vec<String>, i32)> = vec![(
        "tampered",
        vec![
            "audit".into(),
            "verify".into(),
            "--log".into(),
            export.display().to_string(),
            "--pubkey".into(),
            key.display().to_string(),
        ],
        10,
    )];
    run_all(&tampered, None);
    // Provider (11): a network that is not there.
    s.smv_in(
        &[
            "account",
            "add",
            "hook",
            "--provider",
            "webhook",
            "--secret-stdin",
        ],
        b"http://127.0.0.1:9/hook/secret-part",
    )
    .ok();
    s.smv(&["grant", "alice", "hook", "post"]).ok();
    let provider: Vec<(&str, Vec<String>, i32)> = vec![(
        "provider",
        vec!["post".into(), "hook".into(), "hello".into()],
        11,
    )];
    run_all(&provider, None);
    // Unknown (12): an attempt interrupted after its intent was made durable may be live;
    // a retry of its key is refused until a person resolves it.
    s.smv_env(
        &[("SMV_FAILPOINT", "post-after-intent:abort")],
        &["post", "hook", "hello", "--idempotency-key", "k1"],
    );
    let unknown: Vec<(&str, Vec<String>, i32)> = vec![(
        "unknown",
        vec![
            "post".into(),
            "hook".into(),
            "hello".into(),
            "--idempotency-key".into(),
            "k1".into(),
        ],
        12,
    )];
    run_all(&unknown, None);
    // Busy (8): another process holds the vault's write lock longer than we wait.
    let mut slow = s.command();
    slow.env("SMV_FAILPOINT", "after-intent:sleep3000")
        .args(["account", "add", "slow", "--provider", "outbox"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut holder = slow.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    s.set_env("SMV_LOCK_TIMEOUT_MS", "100");
    let busy: Vec<(&str, Vec<String>, i32)> = vec![(
        "busy",
        vec![
            "account".into(),
            "add".into(),
            "fast".into(),
            "--provider".into(),
            "outbox".into(),
        ],
        8,
    )];
    run_all(&busy, None);
    assert!(holder.wait().unwrap().success());
    s.set_env("SMV_LOCK_TIMEOUT_MS", "10000");
    // Internal (1): a bug, reported as one.
    s.set_env("SMV_FAILPOINT", "audit-append:internal");
    let internal: Vec<(&str, Vec<String>, i32)> = vec![(
        "internal",
        vec![
            "account".into(),
            "add".into(),
            "other".into(),
            "--provider".into(),
            "outbox".into(),
        ],
        1,
    )];
    run_all(&internal, None);
}

/// One vault with a bit of everything, for the tables and reports.
fn team() -> (Sandbox, PathBuf, PathBuf) {
    let s = Sandbox::new();
    s.init();
    for a in ["demo", "x-main", "masto-news"] {
        s.smv(&["account", "add", a, "--provider", "outbox"]).ok();
    }
    s.smv(&["account", "set", "x-main", "--handle", "@acme"])
        .ok();
    let bob = s.add_custodian("bob", "member");
    let carol = s.add_custodian("carol", "member");
    s.smv(&["member", "add", "dave", "--role", "auditor"]).ok();
    s.smv(&["group", "add", "release", "demo,x-main"]).ok();
    s.smv(&["grant", "alice", "release", "approve"]).ok();
    s.smv(&["grant", "bob", "release", "draft"]).ok();
    s.smv(&["grant", "carol", "demo", "approve"]).ok();
    s.smv(&["policy", "set", "demo", "--approvals", "1"]).ok();
    s.smv(&[
        "post",
        "x-main",
        "Release 2.1 is out: faster sync, fewer clicks, and a long tail of fixes",
    ])
    .ok();
    let d = s
        .smv_as(
            &bob,
            &[
                "--json",
                "draft",
                "demo",
                "Launch day \u{1f680}: what we built\nand why",
            ],
        )
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.smv_as(&carol, &["approve", &d]).ok();
    s.smv_as(&bob, &["draft", "demo", "second thoughts"]).ok();
    s.smv(&[
        "post",
        "x-main",
        "Tomorrow: the webinar",
        "--at",
        "2099-01-01T09:00Z",
    ])
    .ok();
    s.smv(&[
        "freeze",
        "masto-news",
        "--reason",
        "password leaked in chat",
    ])
    .ok();
    s.smv(&[
        "token",
        "create",
        "--name",
        "release-ci",
        "--account",
        "x-main",
        "--level",
        "post",
        "--ci",
    ])
    .ok();
    (s, bob, carol)
}

#[test]
fn every_table_and_report_at_80_and_120_columns_and_piped() {
    let (s, _bob, _carol) = team();
    let settings = settings();
    let reports: &[(&str, &[&str])] = &[
        ("access", &["access"]),
        ("account-list", &["account", "list"]),
        ("drafts", &["drafts", "--all"]),
        ("queue", &["queue"]),
        ("status", &["status"]),
        ("secrets", &["secrets"]),
        ("audit-log", &["audit", "log", "--action", "post"]),
        ("posts", &["posts"]),
        ("token-list", &["token", "list"]),
        ("whoami", &["whoami"]),
        ("policy-list", &["policy", "list"]),
        ("group-list", &["group", "list"]),
        ("member-list", &["member", "list"]),
        (
            "offboard-dry-run",
            &["offboard", "bob", "--to", "carol", "--dry-run"],
        ),
    ];
    let modes: [(&str, &[(&str, &str)]); 3] = [
        ("piped", &[("TZ", "XYZ-1")]),
        (
            "80",
            &[
                ("TZ", "XYZ-1"),
                ("SMV_TEST_TERMINAL", "1"),
                ("COLUMNS", "80"),
            ],
        ),
        (
            "120",
            &[
                ("TZ", "XYZ-1"),
                ("SMV_TEST_TERMINAL", "1"),
                ("COLUMNS", "120"),
            ],
        ),
    ];
    for (name, args) in reports {
        for (mode, env) in modes {
            let run = s.smv_env(env, args).ok();
            settings.bind(|| insta::assert_snapshot!(format!("{name}-{mode}"), run.stdout));
        }
    }
    // The real offboarding last: it changes the vault.
    for (mode, env) in [modes[0], modes[1]] {
        let who = if mode == "piped" { "bob" } else { "carol" };
        let run = s.smv_env(env, &["offboard", who, "--yes"]).ok();
        settings.bind(|| insta::assert_snapshot!(format!("offboard-{mode}"), run.stdout));
    }
}

/// The one exit-code table (docs/configuration.md, "Exit codes") against the code: every
/// class has its row with its code, and every error snapshot (tests/snapshots/error-*.snap,
/// named after its class) exits with its class's code, in both the human and the JSON form.
#[test]
fn the_error_snapshots_exit_as_the_one_table_says() {
    use smv::Class;
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/configuration.md")).unwrap();
    let section = doc
        .split("\n## Exit codes")
        .nth(1)
        .expect("docs/configuration.md has an \"## Exit codes\" section");
    let section = section.split("\n## ").next().unwrap();
    let mut table = std::collections::BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Ok(code), Some(class)) = (cells[1].parse::<i32>(), cells.get(2)) else {
            continue;
        };
        let class = class.trim_matches('`');
        if class.is_empty() {
            assert!(
                code == 0 || line.contains("reserved"),
                "only success and reserved codes have no class: {line}"
            );
            continue;
        }
        assert!(
            table.insert(class.to_string(), code).is_none(),
            "{class} has two rows"
        );
    }
    for class in Class::ALL {
        assert_eq!(
            table.get(class.name()),
            Some(&class.exit_code()),
            "the table's row for {} (exit {})",
            class.name(),
            class.exit_code()
        );
    }
    assert_eq!(
        table.len(),
        Class::ALL.len(),
        "a row for no class: {table:?}"
    );
    let mut walked = 0;
    for entry in std::fs::read_dir(format!("{root}/tests/snapshots")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_prefix("error-")
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let json_line = text
            .lines()
            .skip_while(|l| *l != "--json:")
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: no --json error"));
        let e: serde_json::Value = serde_json::from_str(json_line).unwrap();
        let class = e["error"]["class"].as_str().unwrap();
        let code = e["error"]["exit_code"].as_i64().unwrap() as i32;
        assert_eq!(
            table.get(class),
            Some(&code),
            "{name}: {class} exits {code}"
        );
        assert!(
            stem == class.replace('_', "-")
                || stem.starts_with(&format!("{}-", class.replace('_', "-"))),
            "{name} is named after another class than its own ({class})"
        );
        // The human form is the same error (clap's spreads over lines: its start).
        let message = e["error"]["message"].as_str().unwrap();
        let head: String = message.chars().take(30).collect();
        assert!(text.contains(&format!("error: {head}")), "{name}");
        walked += 1;
    }
    assert!(walked >= 20, "only {walked} error snapshots");
}

/// `smv access` with many accounts (the matrix is wider than 80 columns: one line per member
/// with their grants there), its filters (`--member`, `--account`, `--all`; a removed member
/// is left out unless asked for), and `smv posts` with long and multi-line texts: at 80 and
/// 120 columns and piped. Nothing is cut in any of them.
#[test]
fn access_filters_and_whole_posts_at_80_and_120_columns_and_piped() {
    let s = Sandbox::new();
    s.init();
    let accounts: Vec<String> = (1..=14).map(|i| format!("brand-{i:02}")).collect();
    for a in &accounts {
        s.smv(&["account", "add", a, "--provider", "outbox"]).ok();
    }
    s.smv(&["group", "add", "all", &accounts.join(",")]).ok();
    let _bob = s.add_custodian("bob", "member");
    s.smv(&["member", "add", "dave", "--role", "auditor"]).ok();
    s.smv(&["member", "add", "erin", "--role", "member"]).ok();
    s.smv(&["grant", "alice", "all", "manage"]).ok();
    s.smv(&["grant", "bob", "brand-01,brand-02,brand-07", "post"])
        .ok();
    s.smv(&["grant", "erin", "brand-03", "draft"]).ok();
    s.smv(&["member", "remove", "erin", "--yes"]).ok();
    s.smv(&[
        "post",
        "brand-01",
        "A long announcement that a narrow terminal cannot show on one line: the whole of it is shown all the same, wrapped at spaces, with https://example.com/a/very/long/path/that/is/never/broken/in/the/middle kept whole\nand a second line after a line break",
    ])
    .ok();
    s.smv(&["post", "brand-02", "short"]).ok();
    let settings = settings();
    let reports: &[(&str, &[&str])] = &[
        ("access-many", &["access"]),
        ("access-all", &["access", "--all"]),
        ("access-member", &["access", "--member", "bob,erin"]),
        (
            "access-account",
            &["access", "--account", "brand-02,brand-03"],
        ),
        ("posts-long", &["posts"]),
    ];
    let modes: [(&str, &[(&str, &str)]); 3] = [
        ("piped", &[("TZ", "XYZ-1")]),
        (
            "80",
            &[
                ("TZ", "XYZ-1"),
                ("SMV_TEST_TERMINAL", "1"),
                ("COLUMNS", "80"),
            ],
        ),
        (
            "120",
            &[
                ("TZ", "XYZ-1"),
                ("SMV_TEST_TERMINAL", "1"),
                ("COLUMNS", "120"),
            ],
        ),
    ];
    for (name, args) in reports {
        for (mode, env) in modes {
            let run = s.smv_env(env, args).ok();
            if mode != "piped" {
                let width: usize = if mode == "80" { 80 } else { 120 };
                for line in run.stdout.lines() {
                    // A URL is never broken: it alone may pass the width.
                    assert!(
                        line.chars().count() <= width || !line.trim().contains(' '),
                        "{name} at {mode}: {line}"
                    );
                }
            }
            assert!(
                !run.stdout.contains('…'),
                "{name} {mode}: cut\n{}",
                run.stdout
            );
            settings.bind(|| insta::assert_snapshot!(format!("{name}-{mode}"), run.stdout));
        }
    }
    // A name that is not there is refused, not shown as "no access".
    s.smv(&["access", "--member", "nobody"])
        .fails(3)
        .stderr_has("hint:");
    s.smv(&["access", "--account", "brand-99"]).fails(3);
    // The filters hold in --json too.
    let j = s
        .smv(&["--json", "access", "--account", "brand-07"])
        .ok()
        .json();
    assert_eq!(j["accounts"], serde_json::json!(["brand-07"]));
    let names: Vec<&str> = j["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
}

/// Issue 24: a post's report with its generated key, an interrupted post's lines on a
/// terminal (published, in flight, not started), and `smv status` with the unknown it left.
#[test]
fn post_reports_interrupted_posts_and_status_with_unknowns() {
    use support::fake_http::{FakeServer, Resp};
    let network = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, serde_json::json!({})),
        _ => Resp::json(200, serde_json::json!({"id": "77"}))
            .after(std::time::Duration::from_secs(60)),
    });
    let s = Sandbox::new();
    s.init();
    for name in ["demo", "staging"] {
        s.smv(&["account", "add", name, "--provider", "outbox"])
            .ok();
    }
    s.smv_in(
        &[
            "account",
            "add",
            "slow",
            "--provider",
            "mastodon",
            "--url",
            &network.url,
            "--secret-stdin",
        ],
        b"tok-snap-1",
    )
    .ok();
    for name in ["demo", "staging", "slow"] {
        s.smv(&["grant", "alice", name, "post"]).ok();
    }
    let settings = settings();
    let piped: &[(&str, &str)] = &[("TZ", "XYZ-1")];
    let term = |cols: &'static str| {
        vec![
            ("TZ", "XYZ-1"),
            ("SMV_TEST_TERMINAL", "1"),
            ("COLUMNS", cols),
        ]
    };
    for (mode, env) in [("80", term("80")), ("piped", piped.to_vec())] {
        let run = s
            .smv_env(&env, &["post", "demo,staging", "Release 2.1 is out"])
            .ok();
        settings.bind(|| {
            insta::assert_snapshot!(
                format!("post-report-{mode}"),
                format!("{}--stderr:\n{}", run.stdout, run.stderr)
            )
        });
    }
    let (run, _) = support::interrupted_post(
        &s,
        &network,
        &term("80"),
        &[
            "post",
            "demo,slow,staging",
            "Stop me: this text is longer than the forty characters status shows\nand has a second line",
        ],
        &[
            ("INT", std::time::Duration::ZERO),
            ("INT", std::time::Duration::from_millis(300)),
        ],
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    settings.bind(|| {
        insta::assert_snapshot!(
            "post-interrupted-80",
            format!("{}--stderr:\n{}", run.stdout, run.stderr)
        )
    });
    for (mode, env) in [
        ("piped", piped.to_vec()),
        ("80", term("80")),
        ("120", term("120")),
    ] {
        let run = s.smv_env(&env, &["status"]).ok();
        settings.bind(|| insta::assert_snapshot!(format!("status-unknown-{mode}"), run.stdout));
    }
}
