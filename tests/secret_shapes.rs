//! Every secret is checked when it is stored (issue 24 item 2, issue 23 item 5): each
//! provider's declared shape, the visible-ASCII character rule, refusals that name the field
//! and the position (never the secret), the same rule at `rotate` and again before a send,
//! and the names people give the networks.

mod support;

use support::Sandbox;

/// Adds `name` with `provider` and `secret` on stdin (and `extra` arguments).
fn add(s: &Sandbox, name: &str, provider: &str, extra: &[&str], secret: &[u8]) -> support::Run {
    let mut args = vec![
        "account",
        "add",
        name,
        "--provider",
        provider,
        "--secret-stdin",
    ];
    args.extend_from_slice(extra);
    s.smv_in(&args, secret)
}

fn names(s: &Sandbox) -> Vec<String> {
    s.smv(&["account", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// The reproduction of issue 24: `printf garbage | smv account add xx --provider x
/// --secret-stdin` exited 0, and the first post failed.
#[test]
fn garbage_is_no_x_credential() {
    let s = Sandbox::new();
    s.init();
    let run = add(&s, "xx", "x", &[], b"garbage")
        .fails(2)
        .stderr_has("line 1")
        .stderr_has("key=value")
        .stderr_has("consumer_key");
    assert!(!run.stderr.contains("garbage"), "{}", run.stderr);
    // The quick start's old example, too.
    add(&s, "xx", "x", &[], b"example-token").fails(2);
    // JSON errors name the field and carry the hint.
    let j = s
        .smv_in(
            &[
                "--json",
                "account",
                "add",
                "xx",
                "--provider",
                "x",
                "--secret-stdin",
            ],
            b"consumer_key=ck\nconsumer_secret=cs\naccess_token=at\n",
        )
        .fails(2);
    let e: serde_json::Value = serde_json::from_str(j.stderr.trim()).unwrap();
    let text = e.to_string();
    assert!(text.contains("access_token_secret is missing"), "{text}");
    assert!(text.contains("OAuth 1.0a"), "{text}");
    assert!(names(&s).is_empty());
    // Each documented form is accepted, as lines or JSON.
    add(&s, "x1", "x", &[], &support::x_cred("cs-123456")).ok();
    add(
        &s,
        "x2",
        "x",
        &[],
        b"access_token=A0\nrefresh_token=R0\nclient_id=client-1\nclient_secret=cs\n",
    )
    .ok();
    add(
        &s,
        "x3",
        "x",
        &[],
        br#"{"access_token":"A0","refresh_token":"R0","client_id":"c-1"}"#,
    )
    .ok();
    assert_eq!(names(&s), ["x1", "x2", "x3"]);
}

/// One valid and several invalid secrets per shape, through the CLI; each refusal names the
/// field and never quotes the secret.
#[test]
fn every_provider_checks_its_shape() {
    let s = Sandbox::new();
    s.init();
    let masto = ["--url", "https://social.example"];
    let cases: &[(&str, &[&str], &str, Option<&str>)] = &[
        ("mastodon", &masto, "SECRETmastodon-token_1234", None),
        (
            "mastodon",
            &masto,
            "SECRET token 1234",
            Some("character 7 is a space"),
        ),
        ("linkedin", &[], "AQV-SECRET-linkedin-token", None),
        ("linkedin", &[], "SECRET-linked\u{e9}n", Some("non-ASCII")),
        ("facebook", &[], "EAAB-SECRET-page-token", None),
        ("slack", &[], "xoxb-1-2-SECRETslack", None),
        (
            "slack",
            &[],
            "SECRET-not-a-slack-token",
            Some("does not start with xoxb-"),
        ),
        ("telegram", &[], "123456:SECRET-tg_token-1", None),
        ("telegram", &[], "SECRET-telegram-token", Some("has no `:`")),
        ("telegram", &[], "123456:SECRET/../x?y", Some("punctuation")),
        (
            "bluesky",
            &["--handle", "co.test"],
            "abcd-efgh-ijkl-mnop",
            None,
        ),
        (
            "bluesky",
            &["--handle", "co.test"],
            "SECRET pass word",
            Some("space"),
        ),
        (
            "discord",
            &[],
            "https://discord.com/api/webhooks/123/SECRETdiscord",
            None,
        ),
        (
            "discord",
            &[],
            "https://discord.com/SECRET/123",
            Some("/api/webhooks/ID/TOKEN"),
        ),
        ("discord", &[], "not a url SECRET", Some("space")),
        (
            "slack-webhook",
            &[],
            "https://hooks.slack.com/services/T0/B0/SECRETslack",
            None,
        ),
        (
            "slack-webhook",
            &[],
            "https://hooks.slack.com/SECRETslack",
            Some("/services/"),
        ),
        (
            "webhook",
            &[],
            "https://hooks.example/in/SECRETgeneric",
            None,
        ),
        ("webhook", &[], "notaurlSECRET", Some("not a URL")),
        ("webhook", &[], "http://hooks.example/SECRET", Some("https")),
    ];
    for (i, (provider, extra, secret, refused)) in cases.iter().enumerate() {
        let name = format!("a{i}");
        let run = add(&s, &name, provider, extra, secret.as_bytes());
        match refused {
            None => {
                run.ok();
            }
            Some(why) => {
                let run = run.fails(2).stderr_has("invalid secret").stderr_has(why);
                assert!(!run.stderr.contains("SECRET"), "{provider}: {}", run.stderr);
                assert!(run.stderr.contains("hint"), "{provider}: {}", run.stderr);
            }
        }
    }
    let added = names(&s);
    let expected: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.3.is_none())
        .map(|(i, _)| format!("a{i}"))
        .collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(added, sorted);
}

/// Issue 23: a secret file edged (or holed) with a Unicode space, format or control
/// character is refused at add and at rotate, naming the position and the character's
/// class — never silently stripped, never quoted.
#[test]
fn invisible_characters_are_refused_with_their_position() {
    let s = Sandbox::new();
    s.init();
    let file = s.home().join("secret.txt");
    let f = file.to_str().unwrap();
    let edges = [
        ("\u{feff}", "byte order mark"),
        ("\u{a0}", "no-break space"),
        ("\u{200b}", "zero-width space"),
        ("\u{3000}", "Unicode space"),
        ("\u{2028}", "line separator"),
        ("\u{202e}", "bidirectional"),
        ("\u{1b}", "control character"),
    ];
    for (c, class) in edges {
        for (text, at) in [
            (format!("{c}SECRET-tok-1234"), "character 1 (its first)"),
            (format!("SECRET-tok-1234{c}"), "character 16 (its last)"),
        ] {
            std::fs::write(&file, &text).unwrap();
            let run = s
                .smv(&[
                    "account",
                    "add",
                    "m",
                    "--provider",
                    "mastodon",
                    "--url",
                    "https://social.example",
                    "--secret-file",
                    f,
                ])
                .fails(2);
            let run = if class == "control character" {
                // Refused by the input rule already, which names the byte.
                run.stderr_has("control character")
            } else {
                run.stderr_has(at).stderr_has(class)
            };
            assert!(!run.stderr.contains("SECRET"), "{}", run.stderr);
        }
    }
    assert!(names(&s).is_empty());

    // Rotate applies the same rule, naming the field of a several-field credential, and
    // keeps the old secret.
    add(&s, "x-main", "x", &[], &support::x_cred("cs-123456")).ok();
    let before = s.smv(&["secrets", "--json"]).ok().json();
    std::fs::write(
        &file,
        "consumer_key=ck\nconsumer_secret=SECRET-cs\u{a0}\naccess_token=at\naccess_token_secret=ats",
    )
    .unwrap();
    let run = s
        .smv(&["rotate", "x-main", "--secret-file", f, "--no-check"])
        .fails(2)
        .stderr_has("consumer_secret: character 10 (its last) is a no-break space");
    assert!(!run.stderr.contains("SECRET"), "{}", run.stderr);
    s.smv_in(
        &["rotate", "x-main", "--secret-stdin", "--no-check"],
        b"garbage",
    )
    .fails(2)
    .stderr_has("line 1");
    assert_eq!(s.smv(&["secrets", "--json"]).ok().json(), before);
}

/// A secret stored before the character rule (by hand here, as an older smv could) is
/// refused before it is sent, with the command that replaces it.
#[test]
fn a_stored_bad_edge_is_refused_at_send_time() {
    let s = Sandbox::new();
    s.init();
    add(
        &s,
        "masto",
        "mastodon",
        &["--url", "http://127.0.0.1:9"],
        b"masto-token-1234",
    )
    .ok();
    s.smv(&["grant", "alice", "masto", "post"]).ok();
    let text = std::fs::read_to_string(s.identity_file()).unwrap();
    let id = smv::identity::Identity::parse(&text, smv::identity::Source::Env).unwrap();
    {
        let v = smv::vault::Vault::load(&s.vault(), &id).unwrap();
        let stored = "\u{feff}masto-token-1234";
        let fp = v.fingerprint(stored.as_bytes()).unwrap();
        v.conn()
            .execute(
                "UPDATE accounts SET secret = ?1, secret_fingerprint = ?2 WHERE name = 'masto'",
                (stored.as_bytes(), &fp),
            )
            .unwrap();
        let plain = tempfile::tempdir().unwrap();
        let db = plain.path().join("plain.sqlite");
        v.conn()
            .execute("VACUUM INTO ?1", [db.to_str().unwrap()])
            .unwrap();
        let image = std::fs::read(&db).unwrap();
        let cipher = smv::envelope::encrypt_to(&v.custodian_recipients().unwrap(), &image).unwrap();
        std::fs::write(s.vault(), cipher).unwrap();
        support::record_vault_file(&s, &v);
    }
    for args in [
        &["post", "masto", "hello"][..],
        &["post", "masto", "hello", "--dry-run"],
        &["account", "check", "masto"],
    ] {
        s.smv(args)
            .fails(2)
            .stderr_has("character 1 is a byte order mark (U+FEFF)")
            .stderr_has("smv rotate masto");
    }
    // Nothing reached the network (the port is closed: a send would have failed with 11),
    // and the refusal is on the record.
    let refused = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "post" && e.outcome == smv::audit::Outcome::Failed)
        .count();
    assert!(refused >= 1);
    // The fix the hint names works.
    s.smv_in(
        &["rotate", "masto", "--secret-stdin", "--no-check"],
        b"masto-token-1234",
    )
    .ok();
    s.smv(&["post", "masto", "hello", "--dry-run"]).ok();
}

#[test]
fn unknown_provider_names_suggest_the_nearest() {
    let s = Sandbox::new();
    s.init();
    for (given, meant) in [
        ("twitter", "x"),
        ("Twitter", "x"),
        ("mastadon", "mastodon"),
        ("bsky", "bluesky"),
        ("linkdin", "linkedin"),
    ] {
        add(&s, "a", given, &[], &support::x_cred("cs-123456"))
            .fails(2)
            .stderr_has("not a provider")
            .stderr_has(&format!("did you mean `{meant}`?"));
    }
    let run = add(&s, "a", "myspace", &[], b"tok-123456")
        .fails(2)
        .stderr_has("use one of");
    assert!(!run.stderr.contains("did you mean"), "{}", run.stderr);
    // The name is shown escaped: it is text from a person.
    add(&s, "a", "x\u{1b}[31m", &[], b"tok-123456")
        .fails(2)
        .stderr_has("\\u{1b}");
}

/// The quick start's commands run as written (scripts/quickstart.sh, with its X secret).
#[test]
fn the_quick_start_x_example_works_as_written() {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/quickstart.sh"),
    )
    .unwrap();
    // The command lines after the environment setup, with `smv` the built binary.
    let start = script
        .find("smv init")
        .expect("the quick start runs smv init");
    let body: String = script[start..]
        .lines()
        .filter(|l| !l.starts_with("printf '\\n$ cat") && !l.starts_with("cat "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        body.contains("--provider x"),
        "the quick start adds an X account"
    );
    let s = Sandbox::new();
    let mut cmd = std::process::Command::new("bash");
    cmd.env_clear().current_dir(s.home()).arg("-c").arg(format!(
        "set -euo pipefail\nsmv() {{ \"{}\" \"$@\"; }}\n{body}",
        support::BIN
    ));
    let base = s.command();
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let run = s.run_cmd(cmd, None).ok();
    assert!(run.stdout.contains("x-main"), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------
// `account check` proves the post permission, or exits 14 (issue 24 item 2).
// ---------------------------------------------------------------------------------------

use serde_json::json;
use support::fake_http::{FakeServer, Resp};

/// A Mastodon-compatible server without `/oauth/token/info` (Pleroma, Akkoma, GoToSocial
/// and others): `app_scopes` is what `/api/v1/apps/verify_credentials` lists (None: the
/// server does not list them).
fn compatible_server(app_scopes: Option<&'static [&'static str]>) -> FakeServer {
    FakeServer::start(move |req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        "/api/v1/accounts/verify_credentials" => Resp::json(200, json!({"acct": "co"})),
        "/api/v1/apps/verify_credentials" => match app_scopes {
            Some(s) => Resp::json(200, json!({"name": "smv", "scopes": s})),
            None => Resp::json(200, json!({"name": "smv"})),
        },
        "/oauth/token/info" => Resp::json(404, json!({"error": "Not found"})),
        _ => Resp::json(404, json!({"error": "Not found"})),
    })
}

/// The reproduction: a read-only token on a server without `/oauth/token/info` passed
/// `account check` ("posting is not proved", exit 0, `"ok": true`).
#[test]
fn account_check_exits_14_when_posting_is_not_proved() {
    // The server lists neither the token's nor the app's scopes: nothing proves posting.
    let server = compatible_server(None);
    let s = Sandbox::new();
    s.init();
    add(
        &s,
        "masto",
        "mastodon",
        &["--url", &server.url],
        b"READONLY-tok-1",
    )
    .ok();
    let run = s
        .smv(&["account", "check", "masto"])
        .fails(14)
        .stdout_has("posting is NOT proved")
        .stderr_has("/oauth/token/info");
    assert!(run.stderr.contains("hint"), "{}", run.stderr);
    let run = s.smv(&["--json", "account", "check", "masto"]).fails(14);
    let v = run.json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["credential_works"], true);
    assert_eq!(v["posting_proved"], false);
    assert!(v["not_proved"].as_str().unwrap().contains("token's scopes"));
    let e: serde_json::Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(e["error"]["class"], "unproved", "{e}");
    assert_eq!(e["error"]["exit_code"], 14, "{e}");
    // On the record: the check worked, posting unproved.
    let entry = s
        .audit_entries()
        .into_iter()
        .rfind(|e| e.action == "account.check")
        .unwrap();
    assert_eq!(entry.details["posting_proved"], false);
    // Rotation accepts a working credential and says what it did not prove.
    let r = s
        .smv_in(
            &["--json", "rotate", "masto", "--secret-stdin"],
            b"OTHER-tok-2",
        )
        .ok()
        .json();
    assert!(
        r["checked"]
            .as_str()
            .unwrap()
            .contains("posting is not proved"),
        "{r}"
    );

    // An app whose scopes are read-only proves the token cannot post: refused (11).
    let server = compatible_server(Some(&["read"]));
    let s = Sandbox::new();
    s.init();
    add(
        &s,
        "m",
        "mastodon",
        &["--url", &server.url],
        b"READONLY-tok-1",
    )
    .ok();
    s.smv(&["account", "check", "m"])
        .fails(11)
        .stderr_has("its app's scopes are `read`")
        .stderr_has("write:statuses");
    // An app with a write scope bounds the token without proving it: still 14.
    let server = compatible_server(Some(&["read", "write"]));
    let s = Sandbox::new();
    s.init();
    add(&s, "m", "mastodon", &["--url", &server.url], b"SOME-tok-1").ok();
    s.smv(&["account", "check", "m"])
        .fails(14)
        .stderr_has("fewer scopes than its app");
    // The outbox proves it may write: 0 and ok.
    let s2 = Sandbox::new();
    s2.init();
    s2.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let v = s2.smv(&["--json", "account", "check", "demo"]).ok().json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["posting_proved"], true);
}

/// Issue 24 item 9: a webhook rotated to an unreachable URL was accepted. Rotate proves
/// the new URL's host first (without sending it anything); `account check` says posting
/// is not proved (incoming webhooks have no read-only call).
#[test]
fn a_webhook_rotated_to_an_unreachable_url_is_refused() {
    // A port that was just free, and is closed now.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let live = FakeServer::start(|_, _| Resp::json(200, json!({})));
    let s = Sandbox::new();
    s.init();
    add(
        &s,
        "hook",
        "webhook",
        &[],
        format!("{}/in/first-part", live.url).as_bytes(),
    )
    .ok();
    s.smv(&["account", "check", "hook"])
        .fails(14)
        .stdout_has("accepts connections")
        .stderr_has("no read-only call");
    let before = s.vault_bytes();
    let run = s
        .smv_in(
            &["rotate", "hook", "--secret-stdin"],
            format!("http://127.0.0.1:{closed}/in/second-part").as_bytes(),
        )
        .fails(11)
        .stderr_has("accepts no connection")
        .stderr_has("old secret is still in place");
    assert!(!run.stderr.contains("second-part"), "{}", run.stderr);
    assert_eq!(s.vault_bytes(), before, "the old URL stays");
    // Nothing was sent to the webhook, by the check or the rotation.
    assert!(live.requests().is_empty());
    // A reachable one is taken.
    s.smv_in(
        &["rotate", "hook", "--secret-stdin"],
        format!("{}/in/third-part", live.url).as_bytes(),
    )
    .ok();
    assert!(live.requests().is_empty());
}

/// On a terminal, an X credential is asked field by field (hidden), then stored in the
/// key=value form: the same fingerprint as the same fields given on stdin.
#[test]
fn the_hidden_prompt_asks_x_field_by_field() {
    if !support::require_tool("script") {
        return;
    }
    let s = Sandbox::new();
    s.init();
    let mut cmd = std::process::Command::new("bash");
    cmd.env_clear().current_dir(s.home()).arg("-c").arg(format!(
        "(sleep 1; for a in 1 ck-1 cs-1 at-1 ats-1; do printf '%s\\r' $a; sleep 0.3; done; sleep 1) | script -qec '{} account add xm --provider x' /dev/null",
        support::BIN
    ));
    for (k, v) in s.command().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let run = s.run_cmd(cmd, None).ok();
    assert!(
        run.stdout.contains("consumer_secret (hidden)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Added account xm"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("cs-1"),
        "typed secrets are not echoed: {}",
        run.stdout
    );
    let hmac = s
        .smv_in(
            &["audit", "hash", "--stdin"],
            b"consumer_key=ck-1\nconsumer_secret=cs-1\naccess_token=at-1\naccess_token_secret=ats-1\n",
        )
        .ok()
        .stdout
        .trim()
        .to_string();
    let list = s.smv(&["account", "list", "--json"]).ok().json();
    assert_eq!(list[0]["secret_fingerprint"], hmac.as_str());
}

/// Character counting follows the software the instance reports (issue 24 item 9): the
/// same text that fits a Mastodon instance (URLs as 23) is refused, before sending, on an
/// Akkoma instance with the same limits (URLs counted at their full length).
#[test]
fn urls_count_by_the_instances_software() {
    for (version, fits) in [
        ("4.3.2", true),
        ("2.7.2 (compatible; Akkoma 3.13.2)", false),
    ] {
        let server = FakeServer::start(move |req, _| match req.path.as_str() {
            "/api/v2/instance" => Resp::json(
                200,
                json!({"version": version, "configuration": {"statuses": {"max_characters": 30, "characters_reserved_per_url": 23}}}),
            ),
            "/api/v1/statuses" => Resp::json(200, json!({"id": "1"})),
            _ => Resp::json(404, json!({})),
        });
        let s = Sandbox::new();
        s.init();
        add(&s, "m", "mastodon", &["--url", &server.url], b"tok-123456").ok();
        s.smv(&["grant", "alice", "m", "post"]).ok();
        // 6 + a 29-character URL: 29 on Mastodon, 35 counted in full.
        let run = s.smv(&["post", "m", "Hello https://example.com/long/link"]);
        if fits {
            run.ok();
        } else {
            run.fails(2).stderr_has("35 characters");
            assert!(
                !server
                    .requests()
                    .iter()
                    .any(|r| r.path == "/api/v1/statuses"),
                "nothing was sent"
            );
        }
    }
}

/// X (OAuth 1.0a) says the app's access level and Slack the token's scopes with every
/// answer: `account check` proves posting from them, refuses a read-only credential (11),
/// and exits 14 when the header is missing.
#[test]
fn x_and_slack_checks_read_the_post_permission() {
    for (level, code) in [(Some("read-write"), 0), (Some("read"), 11), (None, 14)] {
        let server = FakeServer::start(move |_, _| {
            let r = Resp::json(200, json!({"data": {"username": "co"}}));
            match level {
                Some(l) => r.with_header("x-access-level", l),
                None => r,
            }
        });
        let s = Sandbox::new();
        s.init();
        add(
            &s,
            "xm",
            "x",
            &["--url", &server.url],
            &support::x_cred("cs-123456"),
        )
        .ok();
        let run = s.smv(&["account", "check", "xm"]);
        assert_eq!(run.code, code, "{level:?}: {}{}", run.stdout, run.stderr);
        if code == 11 {
            run.stderr_has("access level is `read`");
        }
    }
    for (scopes, code) in [
        (Some("chat:write,channels:read"), 0),
        (Some("channels:read"), 11),
        (None, 14),
    ] {
        let server = FakeServer::start(move |_, _| {
            let r = Resp::json(200, json!({"ok": true, "user": "bot", "team": "co"}));
            match scopes {
                Some(s) => r.with_header("x-oauth-scopes", s),
                None => r,
            }
        });
        let s = Sandbox::new();
        s.init();
        add(
            &s,
            "sl",
            "slack",
            &["--url", &server.url, "--handle", "C1"],
            b"xoxb-1-2-abc",
        )
        .ok();
        let run = s.smv(&["account", "check", "sl"]);
        assert_eq!(run.code, code, "{scopes:?}: {}{}", run.stdout, run.stderr);
        if code == 11 {
            run.stderr_has("needs `chat:write`");
        }
    }
}

/// Telegram: the bot's membership of the account's chat (`getChatMember`) proves it may
/// post there; a bot that left, or an administrator without the right to post, is refused.
#[test]
fn telegram_check_reads_the_bots_membership_of_the_chat() {
    let cases: [(serde_json::Value, i32); 5] = [
        (
            json!({"status": "administrator", "can_post_messages": true}),
            0,
        ),
        (json!({"status": "member"}), 0),
        (
            json!({"status": "administrator", "can_post_messages": false}),
            11,
        ),
        (json!({"status": "left"}), 11),
        (json!({}), 14),
    ];
    for (member, code) in cases {
        let answer = member.clone();
        let server = FakeServer::start(move |req, _| {
            if req.path.ends_with("/getChatMember") {
                assert_eq!(req.json()["user_id"], 77);
                assert_eq!(req.json()["chat_id"], "@co");
                Resp::json(200, json!({"ok": true, "result": answer}))
            } else {
                Resp::json(
                    200,
                    json!({"ok": true, "result": {"id": 77, "username": "bot"}}),
                )
            }
        });
        let s = Sandbox::new();
        s.init();
        add(
            &s,
            "tg",
            "telegram",
            &["--url", &server.url, "--handle", "@co"],
            b"123456:ABC-def_ghi-jkl",
        )
        .ok();
        let run = s.smv(&["account", "check", "tg"]);
        assert_eq!(run.code, code, "{member}: {}{}", run.stdout, run.stderr);
        assert!(!run.stderr.contains("ABC-def"), "{}", run.stderr);
    }
}
