//! API tokens (`smv token create | list | revoke`) and how offboarding deals with them. What
//! a token may do is tested in `vault::tokens` (authentication, the cap) and `access` (who
//! may mint one); using them through `smv serve` in `tests/proxy.rs`.

mod support;

use smv::audit::Outcome;
use support::Sandbox;

fn created(run: &support::Run) -> (String, String) {
    let v = run.json();
    (
        v["token"].as_str().unwrap().to_string(),
        v["record"]["accessor"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_token_is_shown_once_listed_without_its_secret_and_revoked() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["account", "add", "other", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    let run = s
        .smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "release-ci",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "90d",
            "--ci",
        ])
        .ok();
    let (token, accessor) = created(&run);
    assert!(token.starts_with(&format!("smv_{accessor}_")), "{token}");
    assert_eq!(token.len(), "smv_".len() + 9 + 1 + 64);
    let rec = &run.json()["record"];
    assert_eq!(rec["owner"], "alice");
    assert_eq!(rec["kind"], "ci");
    assert_eq!(rec["accounts"], serde_json::json!(["demo"]));

    let list = s.smv(&["--json", "token", "list"]).ok();
    assert!(!list.stdout.contains(&token[14..]));
    let l = list.json();
    assert_eq!(l[0]["accessor"], accessor.as_str());
    assert_eq!(l[0]["live"], true);
    assert_eq!(l[0]["last_used"], serde_json::Value::Null);
    s.smv(&["token", "list"]).ok().stdout_has(&accessor);

    // The token is in no audit entry; its accessor is.
    let entries = s.audit_entries();
    let all = serde_json::to_string(&entries).unwrap();
    assert!(!all.contains(&token[14..]));
    let intent = entries
        .iter()
        .find(|e| e.action == "token.create" && e.outcome == Outcome::Intent)
        .unwrap();
    assert_eq!(intent.details["accessor"], accessor.as_str());

    s.smv(&["token", "revoke", &accessor, "--reason", "rotated"])
        .ok()
        .stdout_has("Revoked");
    s.smv(&["token", "revoke", &accessor]).fails(5);
    assert_eq!(
        s.smv(&["--json", "token", "list"]).ok().json(),
        serde_json::json!([])
    );
    let l = s.smv(&["--json", "token", "list", "--all"]).ok().json();
    assert_eq!(l[0]["revoked_by"], "alice");
    assert_eq!(l[0]["reason"], "rotated");
    assert_eq!(l[0]["live"], false);
}

#[test]
fn a_token_can_do_no_more_than_its_owner() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "bob", "demo", "draft"]).ok();
    // Above his grant, on an account he has no grant on, for someone else: refused, audited.
    let create = |level: &str, account: &str, extra: &[&str]| {
        let mut args = vec![
            "token",
            "create",
            "--name",
            "t",
            "--account",
            account,
            "--level",
            level,
        ];
        args.extend_from_slice(extra);
        s.smv_as(&bob, &args)
    };
    create("post", "demo", &[]).fails(4);
    s.smv(&["account", "add", "x2", "--provider", "outbox"])
        .ok();
    create("draft", "x2", &[]).fails(4);
    create("draft", "demo", &["--for", "alice"]).fails(4);
    let denied = s
        .audit_entries()
        .iter()
        .filter(|e| e.action == "token.create" && e.outcome == Outcome::Denied)
        .count();
    assert_eq!(denied, 3);
    // Within his grant: allowed. Bad input is named.
    create("draft", "demo", &[]).ok();
    create("draft", "demo", &["--expires", "400d"])
        .fails(2)
        .stderr_has("366");
    create("draft", "nope", &[]).fails(3);
    s.smv_as(
        &bob,
        &[
            "token",
            "create",
            "--name",
            "bad name",
            "--account",
            "demo",
            "--level",
            "draft",
        ],
    )
    .fails(2);
    // An admin mints for a member; the member cannot revoke an admin's own token.
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    let (_, mine) = created(
        &s.smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "a",
            "--account",
            "demo",
        ])
        .ok(),
    );
    s.smv_as(&bob, &["token", "revoke", &mine]).fails(4);
    let (_, his) = created(
        &s.smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "b",
            "--account",
            "demo",
            "--level",
            "draft",
            "--for",
            "bob",
        ])
        .ok(),
    );
    // bob sees the tokens he owns, not alice's own.
    let l = s.smv_as(&bob, &["--json", "token", "list"]).ok().json();
    let seen: Vec<&str> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["accessor"].as_str().unwrap())
        .collect();
    assert!(seen.contains(&his.as_str()) && !seen.contains(&mine.as_str()));
    s.smv_as(&bob, &["token", "revoke", &his]).ok();
}

#[test]
fn offboarding_revokes_his_tokens_and_hands_ci_tokens_over() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let joe = s.add_custodian("joe", "admin");
    s.smv(&["member", "add", "carol"]).ok();
    s.smv(&["member", "add", "bob"]).ok();
    for who in ["joe", "carol", "bob"] {
        s.smv(&["grant", who, "demo", "post"]).ok();
    }
    let mint = |args: &[&str]| {
        let mut full = vec!["--json", "token", "create", "--account", "demo"];
        full.extend_from_slice(args);
        created(&s.smv_as(&joe, &full).ok()).1
    };
    let personal = mint(&["--name", "laptop"]);
    let ci = mint(&["--name", "release-ci", "--ci"]);
    let for_bob = mint(&["--name", "bob-ci", "--ci", "--for", "bob"]);
    let for_bob_personal = mint(&["--name", "bob-laptop", "--for", "bob"]);
    // alice's own token is not joe's business.
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    let alices = created(
        &s.smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "a",
            "--account",
            "demo",
        ])
        .ok(),
    )
    .1;

    // The new secrets of the CI tokens that live on go to a private directory.
    let handover = s.home().join("handover");
    std::fs::create_dir(&handover).unwrap();
    support::chmod(&handover, 0o700);
    let dir = handover.to_str().unwrap();
    let dry = s
        .smv(&[
            "--json",
            "offboard",
            "joe",
            "--to",
            "carol",
            "--dry-run",
            "--handover-dir",
            dir,
        ])
        .ok()
        .json();
    assert_eq!(
        std::fs::read_dir(&handover).unwrap().count(),
        0,
        "a dry run writes nothing"
    );
    let r = s
        .smv(&[
            "--json",
            "offboard",
            "joe",
            "--to",
            "carol",
            "--yes",
            "--handover-dir",
            dir,
        ])
        .ok()
        .json();
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        for t in v.as_array_mut().unwrap() {
            t.as_object_mut().unwrap().remove("handover_file");
        }
        v
    };
    assert_eq!(strip(&dry["tokens"]), strip(&r["tokens"]));
    let fate = |accessor: &str| {
        r["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["accessor"] == accessor)
            .map(|t| {
                (
                    t["fate"].as_str().unwrap().to_string(),
                    t["owner"].as_str().unwrap().to_string(),
                )
            })
    };
    assert_eq!(fate(&personal), Some(("revoked".into(), "joe".into())));
    assert_eq!(fate(&ci), Some(("handed_over".into(), "carol".into())));
    assert_eq!(fate(&for_bob), Some(("kept".into(), "bob".into())));
    // Each token that lives on has a new secret, in a file of its own (0600); the report
    // and the audit log hold none of them.
    let mut files: Vec<_> = std::fs::read_dir(&handover)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    for f in &files {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let secret = std::fs::read_to_string(f).unwrap();
        let secret = secret.trim();
        assert!(secret.starts_with("smv_t"), "{secret}");
        let part = &secret[15..];
        assert!(!r.to_string().contains(part), "the report holds a secret");
        assert!(
            !serde_json::to_string(&s.audit_entries())
                .unwrap()
                .contains(part),
            "the audit log holds a secret"
        );
    }
    for t in r["tokens"].as_array().unwrap() {
        if t["fate"] != "revoked" {
            assert_eq!(t["new_secret"], true, "{t}");
            assert!(t["handover_file"].as_str().unwrap().starts_with(dir));
        }
    }
    assert_eq!(
        fate(&for_bob_personal),
        Some(("revoked".into(), "bob".into()))
    );
    assert_eq!(fate(&alices), None);
    // Run again: nothing left to do, and the new secrets are not replaced again.
    let again = s.smv(&["--json", "offboard", "joe", "--yes"]).ok().json();
    assert_eq!(again["tokens"], serde_json::json!([]));
    assert_eq!(std::fs::read_dir(&handover).unwrap().count(), 2);

    let list = s.smv(&["--json", "token", "list"]).ok().json();
    let live: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["accessor"].as_str().unwrap().to_string(),
                t["owner"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(live.contains(&(ci.clone(), "carol".into())));
    assert!(live.contains(&(for_bob.clone(), "bob".into())));
    assert!(live.contains(&(alices.clone(), "alice".into())));
    assert_eq!(live.len(), 3);
    let _ = joe;

    // Without --to, his CI token is revoked too.
    let dan = s.add_custodian("dan", "member");
    s.smv(&["grant", "dan", "demo", "post"]).ok();
    let dans = created(
        &s.smv_as(
            &dan,
            &[
                "--json",
                "token",
                "create",
                "--name",
                "d",
                "--account",
                "demo",
                "--ci",
            ],
        )
        .ok(),
    )
    .1;
    let r = s.smv(&["--json", "offboard", "dan", "--yes"]).ok().json();
    assert_eq!(r["tokens"][0]["accessor"], dans.as_str());
    assert_eq!(r["tokens"][0]["fate"], "revoked");
}

/// `token list`'s "last used" is the latest entry made through the token (the proxy writes
/// them with the token's accessor as the channel).
#[test]
fn last_use_of_a_token_is_read_from_the_audit_log() {
    use smv::audit::{AuditLog, Channel, LogKey, Record};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut log = AuditLog::create(&path, LogKey::from_seed("test", &[7; 32]).unwrap()).unwrap();
    let record = |channel: Channel, action: &str| Record {
        actor: "alice".into(),
        channel,
        action: action.into(),
        target: "account:demo".into(),
        outcome: Outcome::Ok,
        reason: None,
        request_id: "r1".into(),
        details: Default::default(),
    };
    log.append(&record(Channel::Token("t0000000a".into()), "post"))
        .unwrap();
    log.append(&record(Channel::Local, "post")).unwrap();
    log.append(&record(Channel::Token("t0000000b".into()), "draft"))
        .unwrap();
    log.append(&record(Channel::Token("t0000000a".into()), "post"))
        .unwrap();
    let uses = AuditLog::open_read_only(&path)
        .unwrap()
        .token_last_uses()
        .unwrap();
    assert_eq!(uses.len(), 2);
    let entries = AuditLog::open_read_only(&path)
        .unwrap()
        .entries(&Default::default())
        .unwrap();
    assert_eq!(uses["t0000000a"], entries[3].time);
    assert_eq!(uses["t0000000b"], entries[2].time);
}

/// With nobody to receive a new secret (no `--handover-dir`, no terminal, or `--json`), a
/// CI token the leaver has seen does not live on: it is revoked, and the report gives the
/// command that makes its replacement. A handover directory others can read is refused
/// before anything changes.
#[test]
fn without_a_handover_dir_or_terminal_seen_ci_tokens_are_revoked_and_listed_for_reissue() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let joe = s.add_custodian("joe", "admin");
    s.smv(&["member", "add", "carol"]).ok();
    s.smv(&["member", "add", "bob"]).ok();
    for who in ["joe", "carol", "bob"] {
        s.smv(&["grant", who, "demo", "post"]).ok();
    }
    let mint = |args: &[&str]| {
        let mut full = vec!["--json", "token", "create", "--account", "demo", "--ci"];
        full.extend_from_slice(args);
        created(&s.smv_as(&joe, &full).ok()).1
    };
    let ci = mint(&["--name", "release-ci", "--expires", "30d"]);
    let for_bob = mint(&["--name", "bob-ci", "--for", "bob"]);

    // A directory open to others: refused, and the vault is untouched.
    let open = s.home().join("open");
    std::fs::create_dir(&open).unwrap();
    support::chmod(&open, 0o755);
    let before = s.vault_bytes();
    s.smv(&[
        "offboard",
        "joe",
        "--to",
        "carol",
        "--yes",
        "--handover-dir",
        open.to_str().unwrap(),
    ])
    .fails(2)
    .stderr_has("chmod 700");
    assert_eq!(s.vault_bytes(), before);

    let r = s
        .smv(&["--json", "offboard", "joe", "--to", "carol", "--yes"])
        .ok()
        .json();
    let moved = |accessor: &str| {
        r["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["accessor"] == accessor)
            .unwrap()
            .clone()
    };
    let t = moved(&ci);
    assert_eq!(t["fate"], "revoked");
    assert_eq!(t["new_secret"], false);
    let cmd = t["reissue"].as_str().unwrap();
    assert!(
        cmd.starts_with(
            "smv token create --name release-ci --for carol --account demo --level post --ci --expires "
        ),
        "{cmd}"
    );
    assert!(cmd.ends_with("30d") || cmd.ends_with("29d"), "{cmd}");
    let t = moved(&for_bob);
    assert_eq!(t["fate"], "revoked");
    assert!(t["reissue"].as_str().unwrap().contains("--for bob"));
    let live = s.smv(&["--json", "token", "list"]).ok().json();
    assert!(
        live.as_array()
            .unwrap()
            .iter()
            .all(|t| t["accessor"] != ci.as_str() && t["accessor"] != for_bob.as_str())
    );
    // The human report says what to run.
    let dan = s.add_custodian("dan", "member");
    s.smv(&["grant", "dan", "demo", "post"]).ok();
    s.smv_as(
        &dan,
        &[
            "token",
            "create",
            "--name",
            "d-ci",
            "--account",
            "demo",
            "--ci",
        ],
    )
    .ok();
    s.smv(&["offboard", "dan", "--to", "carol", "--yes"])
        .ok()
        .stdout_has("re-issue it for carol with `smv token create --name d-ci --for carol");
}

/// Runs smv under a pseudo-terminal (`script`), so that its standard output is a terminal.
fn on_a_terminal(s: &Sandbox, args: &[&str]) -> support::Run {
    let line = std::iter::once(support::BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    let base = s.command();
    cmd.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("SHELL", "/bin/sh").current_dir(s.home());
    s.run_cmd(cmd, None)
}

/// On a terminal (and not --json), the new secret of a handed-over CI token is printed once
/// for the person offboarding; with --json on the same terminal it is not, and the token is
/// revoked instead.
#[test]
fn on_a_terminal_the_new_ci_secret_is_printed_once() {
    if !support::require_tool("script") {
        return;
    }
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["member", "add", "carol"]).ok();
    s.smv(&["grant", "carol", "demo", "post"]).ok();
    let mut minted = Vec::new();
    for who in ["joe", "kim"] {
        let key = s.add_custodian(who, "member");
        s.smv(&["grant", who, "demo", "post"]).ok();
        let v = s
            .smv_as(
                &key,
                &[
                    "--json",
                    "token",
                    "create",
                    "--name",
                    "job",
                    "--account",
                    "demo",
                    "--ci",
                ],
            )
            .ok()
            .json();
        minted.push((
            v["token"].as_str().unwrap().to_string(),
            v["record"]["accessor"].as_str().unwrap().to_string(),
        ));
    }
    let run = on_a_terminal(&s, &["offboard", "joe", "--to", "carol", "--yes"]).ok();
    let (old, accessor) = &minted[0];
    let prefix = format!("smv_{accessor}_");
    let printed: Vec<&str> = run
        .stdout
        .split_whitespace()
        .filter(|w| w.starts_with(&prefix))
        .collect();
    assert_eq!(printed.len(), 1, "printed once:\n{}", run.stdout);
    assert_ne!(printed[0], old.as_str());
    assert_eq!(printed[0].len(), old.len());
    assert!(run.stdout.contains("shown once"), "{}", run.stdout);
    assert!(
        !serde_json::to_string(&s.audit_entries())
            .unwrap()
            .contains(&printed[0][15..])
    );
    // --json on a terminal: no secret in the output, the token revoked for re-issue.
    let run = on_a_terminal(&s, &["--json", "offboard", "kim", "--to", "carol", "--yes"]).ok();
    let (_, kims) = &minted[1];
    assert!(
        !run.stdout.contains(&format!("smv_{kims}_")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\"reissue\""), "{}", run.stdout);
}
