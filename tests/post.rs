//! `smv post` end to end with the outbox provider: receipts, the audit trail, all-or-nothing
//! authorization and validation, idempotent retries, dry runs, partial failures, fail closed.

mod support;

use smv::audit::Outcome;
use support::Sandbox;

fn outbox_lines(s: &Sandbox) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(s.data_dir().join("outbox.jsonl")) {
        Ok(t) => t
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// alice (admin) with `post` on two outbox accounts and a group of both.
fn setup() -> Sandbox {
    let s = Sandbox::new();
    s.init();
    s.smv(&[
        "account",
        "add",
        "demo",
        "--provider",
        "outbox",
        "--handle",
        "@co",
    ])
    .ok();
    s.smv(&["account", "add", "staging", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["grant", "alice", "staging", "post"]).ok();
    s.smv(&["group", "add", "release", "demo,staging"]).ok();
    s
}

#[test]
fn a_post_is_published_and_its_receipt_and_text_are_audited() {
    let s = setup();
    let text = "Release 2.1 is out — ünïcödé, emoji 🎉, \"quotes\"";
    let r = s.smv(&["post", "demo", text, "--json"]).ok().json();
    let receipt = &r[0];
    assert_eq!(receipt["account"], "demo");
    assert_eq!(receipt["provider"], "outbox");
    assert_eq!(receipt["status"], "posted");
    let id = receipt["post_id"].as_str().unwrap();
    assert!(
        receipt["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{id}"))
    );
    let lines = outbox_lines(&s);
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["text"], text,
        "what is published is byte for byte what was asked"
    );
    assert_eq!(lines[0]["id"], id);
    // The audit log: an intent, then the outcome with the exact text, post id and URL.
    let entries = s.audit_entries();
    let seq = receipt["audit_seq"].as_u64().unwrap();
    let ok = entries.iter().find(|e| e.seq == seq).unwrap();
    assert_eq!(
        (ok.action.as_str(), ok.outcome, ok.target.as_str()),
        ("post", Outcome::Ok, "account:demo")
    );
    assert_eq!(ok.details["text"], text);
    assert_eq!(ok.details["post_id"], id);
    assert_eq!(ok.details["url"], receipt["url"]);
    let intent = entries.iter().find(|e| e.seq == seq - 1).unwrap();
    assert_eq!(
        (intent.outcome, &intent.request_id),
        (Outcome::Intent, &ok.request_id)
    );
    assert_eq!(intent.details["text"], text);
    s.smv(&["audit", "verify"]).ok();
}

#[test]
fn text_from_a_file_and_from_stdin() {
    let s = setup();
    let f = s.home().join("notes.md");
    std::fs::write(&f, "Line one\nLine two\n").unwrap();
    s.smv(&["post", "demo", "--text-file", f.to_str().unwrap()])
        .ok();
    s.smv_in(&["post", "demo", "-"], b"from stdin\n").ok();
    s.smv_in(&["post", "demo"], b"also stdin").ok();
    let texts: Vec<_> = outbox_lines(&s)
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["Line one\nLine two", "from stdin", "also stdin"]);
    s.smv(&["post", "demo", "x", "--file", f.to_str().unwrap()])
        .fails(2);
    s.smv_in(&["post", "demo", "   "], b"")
        .fails(2)
        .stderr_has("empty");
    // Text that is not UTF-8 is bad input (exit 2), from a file or a pipe: not a failed read.
    let latin1 = s.home().join("latin1.txt");
    std::fs::write(&latin1, b"Caf\xe9 ouvert\n").unwrap();
    s.smv(&["post", "demo", "--text-file", latin1.to_str().unwrap()])
        .fails(2)
        .stderr_has("not valid UTF-8")
        .stderr_has("iconv");
    s.smv_in(&["post", "demo", "-"], b"Caf\xe9").fails(2);
    assert_eq!(outbox_lines(&s).len(), 3, "nothing more was posted");
}

#[test]
fn groups_and_several_targets() {
    let s = setup();
    let r = s.smv(&["post", "release", "to both", "--json"]).ok().json();
    let accounts: Vec<_> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["demo", "staging"]);
    // A group and an account it contains: each account once.
    let r = s
        .smv(&["post", "release,demo", "again", "--json"])
        .ok()
        .json();
    assert_eq!(r.as_array().unwrap().len(), 2);
    assert_eq!(outbox_lines(&s).len(), 4);
    let g = s.smv(&["group", "list", "--json"]).ok().json();
    assert_eq!(g[0]["accounts"], serde_json::json!(["demo", "staging"]));
    s.smv(&["group", "add", "demo", "staging"])
        .fails(5)
        .stderr_has("account");
    s.smv(&["account", "add", "release", "--provider", "outbox"])
        .fails(5)
        .stderr_has("group");
    s.smv(&["post", "nowhere", "x"])
        .fails(3)
        .stderr_has("smv group list");
    s.smv(&["group", "remove", "release"]).ok();
    s.smv(&["post", "release", "x"]).fails(3);
}

#[test]
fn one_refused_target_sends_nothing_and_is_audited() {
    let s = setup();
    s.smv(&["account", "add", "other", "--provider", "outbox"])
        .ok();
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s.smv(&["grant", "bob", "other", "draft"]).ok();
    s.smv_as(&bob, &["post", "demo,other", "hi"])
        .fails(4)
        .stderr_has("other")
        .stderr_has("nothing was sent");
    s.smv_as(&bob, &["post", "staging", "hi"])
        .fails(4)
        .stderr_has("no grant");
    assert!(outbox_lines(&s).is_empty());
    let denied: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "post" && e.outcome == Outcome::Denied)
        .map(|e| e.target)
        .collect();
    assert_eq!(denied, ["account:other", "account:staging"]);
    s.smv_as(&bob, &["post", "demo", "hi"]).ok();
    assert_eq!(outbox_lines(&s).len(), 1);
}

#[test]
fn one_invalid_target_sends_nothing() {
    let s = setup();
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("tok-1"),
    )
    .ok();
    s.smv(&["grant", "alice", "x-main", "post"]).ok();
    // Too long for X (280), fine for the outbox: refused before anything is sent anywhere.
    s.smv(&["post", "demo,x-main", &"a".repeat(300)])
        .fails(2)
        .stderr_has("nothing was sent");
    let long = "a".repeat(100_001);
    s.smv(&["post", "release", &long])
        .fails(2)
        .stderr_has("nothing was sent");
    assert!(outbox_lines(&s).is_empty());
}

#[test]
fn idempotent_retries_do_not_post_twice() {
    let s = setup();
    let first = s
        .smv(&[
            "post",
            "release",
            "v2.1 is out",
            "--idempotency-key",
            "v2.1",
            "--json",
        ])
        .ok()
        .json();
    let again = s
        .smv(&[
            "post",
            "release",
            "v2.1 is out",
            "--idempotency-key",
            "v2.1",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(outbox_lines(&s).len(), 2);
    for (a, b) in first
        .as_array()
        .unwrap()
        .iter()
        .zip(again.as_array().unwrap())
    {
        assert_eq!(b["status"], "already_posted");
        assert_eq!(a["post_id"], b["post_id"]);
        assert_eq!(a["audit_seq"], b["audit_seq"]);
    }
    // The network gets a stable key derived from it, different per account.
    let keys: Vec<_> = outbox_lines(&s)
        .iter()
        .map(|l| l["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert!(!keys[0].contains("v2.1"));
    // Same key, other text: refused.
    s.smv(&["post", "demo", "different", "--idempotency-key", "v2.1"])
        .fails(5)
        .stderr_has("different text");
    // A retry that adds a new account posts there only.
    s.smv(&["account", "add", "third", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "third", "post"]).ok();
    let r = s
        .smv(&[
            "post",
            "release,third",
            "v2.1 is out",
            "--idempotency-key",
            "v2.1",
            "--json",
        ])
        .ok()
        .json();
    let statuses: Vec<_> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["already_posted", "already_posted", "posted"]);
    assert_eq!(outbox_lines(&s).len(), 3);
    // The log is searched for the key as its JSON holds it: quotes, backslashes and
    // non-ASCII keys are found again too.
    let odd = "rel \"2.2\" \\ ü/✓";
    for expected in ["posted", "already_posted"] {
        let r = s
            .smv(&["post", "demo", "v2.2", "--idempotency-key", odd, "--json"])
            .ok()
            .json();
        assert_eq!(r[0]["status"], expected);
    }
    assert_eq!(outbox_lines(&s).len(), 4);
}

#[test]
fn an_interrupted_post_is_not_silently_retried() {
    let s = setup();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "post-after-intent:abort").args([
        "post",
        "demo",
        "hi",
        "--idempotency-key",
        "k1",
    ]);
    assert_ne!(s.run_cmd(cmd, None).code, 0);
    // Interrupted after its intent: its outcome is unknown (exit 12), and the hint is to
    // resolve it, never to retry blindly.
    s.smv(&["post", "demo", "hi", "--idempotency-key", "k1"])
        .fails(12)
        .stderr_has("unknown outcome")
        .stderr_has("smv posts resolve");
    s.smv(&["post", "demo", "hi", "--idempotency-key", "k2"])
        .ok();
    s.smv(&["audit", "verify", "--json"]).ok();
}

#[test]
fn dry_run_sends_nothing() {
    let s = setup();
    let r = s
        .smv(&["post", "release", "hi", "--dry-run", "--json"])
        .ok()
        .json();
    assert!(r.as_array().unwrap().iter().all(|x| x["status"] == "valid"));
    assert!(outbox_lines(&s).is_empty());
    assert!(s.audit_entries().iter().any(|e| e.action == "post.dry-run"));
    // A dry run is authorized like the real thing.
    let bob = s.add_custodian("bob", "member");
    s.smv_as(&bob, &["post", "demo", "hi", "--dry-run"])
        .fails(4);
}

#[test]
fn a_partial_failure_reports_both_and_exits_non_zero() {
    let s = setup();
    let missing = s.home().join("no-such-dir/outbox.jsonl");
    s.smv(&[
        "account",
        "add",
        "broken",
        "--provider",
        "outbox",
        "--url",
        missing.to_str().unwrap(),
    ])
    .ok();
    s.smv(&["grant", "alice", "broken", "post"]).ok();
    let run = s.smv(&["post", "demo,broken", "hi", "--json"]).fails(11);
    let r = run.json();
    assert_eq!(r[0]["status"], "posted");
    assert_eq!(r[1]["status"], "failed");
    assert!(
        r[1]["error"].as_str().unwrap().contains("unreachable"),
        "{r}"
    );
    assert!(run.stderr.contains("1 of 2 posts failed"), "{}", run.stderr);
    let failed = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "post" && e.outcome == Outcome::Failed)
        .unwrap();
    assert_eq!(failed.target, "account:broken");
    assert_eq!(failed.details["error_kind"], "unreachable");
}

#[test]
fn no_durable_intent_no_post() {
    let s = setup();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "audit-append:error")
        .args(["post", "demo", "hi"]);
    s.run_cmd(cmd, None).fails(9);
    assert!(outbox_lines(&s).is_empty());
}

#[test]
fn account_check_is_audited() {
    let s = setup();
    s.smv(&["account", "check", "demo"])
        .ok()
        .stdout_has("works");
    let missing = s.home().join("no-such-dir/outbox.jsonl");
    s.smv(&[
        "account",
        "add",
        "broken",
        "--provider",
        "outbox",
        "--url",
        missing.to_str().unwrap(),
    ])
    .ok();
    s.smv(&["account", "check", "broken"])
        .fails(11)
        .stderr_has("does not exist");
    let bob = s.add_custodian("bob", "member");
    s.smv_as(&bob, &["account", "check", "demo"]).fails(4);
    let checks: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "account.check")
        .map(|e| e.outcome)
        .collect();
    assert_eq!(checks, [Outcome::Ok, Outcome::Failed, Outcome::Denied]);
}

/// The seq of the post's intent from a `--json` result (what `smv posts resolve` takes).
fn intent_seq(r: &serde_json::Value) -> u64 {
    r[0]["intent_seq"]
        .as_u64()
        .expect("the result names its intent")
}

/// `kill -9` between sending and recording the outcome: the post is out, the log has only
/// its intent. That is an unknown outcome: a retry with the same key posts nothing (exit 12,
/// the hint names `smv posts resolve`, not a retry), `smv status` lists it, and once a person
/// resolves it the key answers with what they found.
#[test]
fn killed_between_sending_and_its_outcome_nothing_is_posted_twice() {
    let s = setup();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "post-after-send:abort").args([
        "post",
        "demo",
        "v3 is out",
        "--idempotency-key",
        "v3",
    ]);
    assert_ne!(s.run_cmd(cmd, None).code, 0);
    assert_eq!(outbox_lines(&s).len(), 1, "it went out before the crash");
    for _ in 0..2 {
        let run = s
            .smv(&[
                "post",
                "demo",
                "v3 is out",
                "--idempotency-key",
                "v3",
                "--json",
            ])
            .fails(12)
            .stderr_has("smv posts resolve");
        assert!(!run.stderr.contains("retry the others"), "{}", run.stderr);
        let r = run.json();
        assert_eq!(r[0]["status"], "unknown");
        assert!(r[0]["error"].as_str().unwrap().contains("not sent again"));
    }
    assert_eq!(outbox_lines(&s).len(), 1, "nothing was posted twice");
    let intent = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "post" && e.outcome == Outcome::Intent)
        .unwrap();
    // `smv status`: a line, and the post in --json.
    let status = s.smv(&["status"]).ok();
    assert!(
        status
            .stdout
            .contains("Unknown outcomes: 1 post may be live"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains(&intent.seq.to_string()));
    let st = s.smv(&["--json", "status"]).ok().json();
    assert_eq!(st["unknown"][0]["intent_seq"], intent.seq);
    assert_eq!(st["unknown"][0]["account"], "demo");
    assert_eq!(st["unknown"][0]["why"], "no_outcome");
    // Resolved as published: the key answers with the URL a person gave; nothing is sent.
    let url = "https://social.example/@co/42";
    let seq = intent.seq.to_string();
    let res = s
        .smv(&["--json", "posts", "resolve", &seq, "--published", url])
        .ok()
        .json();
    assert_eq!(res["intent_seq"], intent.seq);
    assert_eq!(res["resolution"], "published");
    let r = s
        .smv(&[
            "post",
            "demo",
            "v3 is out",
            "--idempotency-key",
            "v3",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(r[0]["url"], url);
    assert_eq!(outbox_lines(&s).len(), 1);
    assert!(
        s.smv(&["--json", "status"]).ok().json()["unknown"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Resolving it again is a conflict; the log verifies.
    s.smv(&["posts", "resolve", &seq, "--not-published", "--reason", "x"])
        .fails(5)
        .stderr_has("not unknown");
    s.smv(&["audit", "verify"]).ok();
}

/// Resolved as not published, the key is free again: the same command sends it.
#[test]
fn an_unknown_post_resolved_as_not_published_is_sent_again_by_its_key() {
    let s = setup();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "post-after-intent:abort").args([
        "post",
        "demo",
        "once",
        "--idempotency-key",
        "k",
    ]);
    assert_ne!(s.run_cmd(cmd, None).code, 0);
    assert!(outbox_lines(&s).is_empty());
    let r = s
        .smv(&["post", "demo", "once", "--idempotency-key", "k", "--json"])
        .fails(12)
        .json();
    let seq = intent_seq(&r).to_string();
    // Bad input: no reason, a reason of blanks, a URL that is none, a seq that is no post.
    s.smv(&["posts", "resolve", &seq, "--not-published"])
        .fails(2);
    s.smv(&[
        "posts",
        "resolve",
        &seq,
        "--not-published",
        "--reason",
        "  ",
    ])
    .fails(2);
    s.smv(&[
        "posts",
        "resolve",
        &seq,
        "--published",
        "javascript:alert(1)",
    ])
    .fails(2);
    s.smv(&["posts", "resolve", "1", "--published", "https://x/1"])
        .fails(2)
        .stderr_has("not a post");
    s.smv(&["posts", "resolve", "99999", "--published", "https://x/1"])
        .fails(3);
    s.smv(&[
        "posts",
        "resolve",
        &seq,
        "--not-published",
        "--reason",
        "not on the timeline at 10:40",
    ])
    .ok()
    .stdout_has("is not published");
    let r = s
        .smv(&["post", "demo", "once", "--idempotency-key", "k", "--json"])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "posted");
    assert_eq!(outbox_lines(&s).len(), 1);
    let resolved = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "post.resolve")
        .unwrap();
    assert_eq!(resolved.details["intent_seq"].to_string(), seq);
    assert_eq!(resolved.details["resolution"], "not_published");
    assert_eq!(resolved.target, "account:demo");
    s.smv(&["audit", "verify"]).ok();
}

/// The network published, and the outcome could not be appended to the audit log: the post
/// is reported unknown (exit 12), never as plain success; its outcome is kept in
/// `<vault>.outcomes` (0600) and written by the next command that appends, before it decides
/// anything: the retry answers `already_posted`, and nothing is posted twice.
#[test]
fn an_outcome_that_cannot_be_logged_is_unknown_and_written_by_the_next_command() {
    let s = setup();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "post-outcome:error").args([
        "post",
        "demo",
        "late",
        "--idempotency-key",
        "late",
        "--json",
    ]);
    let run = s.run_cmd(cmd, None).fails(12);
    let r = run.json();
    assert_eq!(r[0]["status"], "unknown");
    let err = r[0]["error"].as_str().unwrap();
    assert!(
        err.contains("the network accepted it") && err.contains("could not be recorded"),
        "{err}"
    );
    assert_eq!(outbox_lines(&s).len(), 1);
    let kept = s.data_dir().join("vault.smv.outcomes");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::metadata(&kept).unwrap().len() > 0);
    // Until a command appends it, the log has only the intent: unknown in `smv status`.
    assert_eq!(
        s.smv(&["--json", "status"]).ok().json()["unknown"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = s
        .smv(&[
            "post",
            "demo",
            "late",
            "--idempotency-key",
            "late",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(outbox_lines(&s).len(), 1, "nothing was posted twice");
    assert_eq!(
        std::fs::metadata(&kept).unwrap().len(),
        0,
        "written, then forgotten"
    );
    let late: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "post" && e.outcome == Outcome::Ok)
        .collect();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].details["recorded_late"], true);
    assert!(
        s.smv(&["--json", "status"]).ok().json()["unknown"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    s.smv(&["audit", "verify"]).ok();
}

/// The same with a real lock timeout: the network answered while another process held the
/// posting gate longer than `SMV_LOCK_TIMEOUT_MS`.
#[test]
fn an_outcome_blocked_by_the_gate_is_unknown_then_recorded_late() {
    use support::fake_http::{FakeServer, Resp};
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, serde_json::json!({})),
        _ => Resp::json(200, serde_json::json!({"id": "77"}))
            .after(std::time::Duration::from_millis(800)),
    });
    let s = setup();
    s.smv_in(
        &[
            "account",
            "add",
            "m",
            "--provider",
            "mastodon",
            "--url",
            &server.url,
            "--secret-stdin",
        ],
        b"tok-gate-1",
    )
    .ok();
    s.smv(&["grant", "alice", "m", "post"]).ok();
    let mut cmd = s.command();
    cmd.env("SMV_LOCK_TIMEOUT_MS", "300")
        .args(["post", "m", "gated", "--idempotency-key", "g", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Once the network has the request, the intent is durable and the gate free: take it
    // and hold it past the answer and the lock timeout.
    let start = std::time::Instant::now();
    while !server
        .requests()
        .iter()
        .any(|r| r.path == "/api/v1/statuses")
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let gate = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.data_dir().join("vault.smv.gate"))
        .unwrap();
    gate.lock().unwrap();
    let out = child.wait_with_output().unwrap();
    drop(gate);
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r[0]["status"], "unknown");
    assert_eq!(r[0]["post_id"], "77");
    let r = s
        .smv(&["post", "m", "gated", "--idempotency-key", "g", "--json"])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(r[0]["post_id"], "77");
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count(),
        1
    );
    s.smv(&["audit", "verify"]).ok();
}

/// A text file with Windows line ends posts with `\n` only: no stray `\r` reaches the
/// network (or the approval hash). A lone `\r` typed in an argument is kept (and shown
/// escaped), as it is what was asked.
#[test]
fn crlf_text_files_post_without_a_stray_carriage_return() {
    let s = setup();
    let f = s.home().join("notes.txt");
    std::fs::write(&f, "Line one\r\nLine two\r\n").unwrap();
    s.smv(&["post", "demo", "--file", f.to_str().unwrap()]).ok();
    s.smv_in(&["post", "demo", "-"], b"piped\r\nin\r\n").ok();
    let texts: Vec<_> = outbox_lines(&s)
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["Line one\nLine two", "piped\nin"]);
    let d = s.smv(&["--json", "draft", "demo", "--file", f.to_str().unwrap()]);
    assert_eq!(d.ok().json()["text"], "Line one\nLine two");
}

/// Every file smv writes in its data directory is readable by its owner only (0600; the
/// directory 0700), whatever the umask: the vault, the audit log and SQLite's -wal/-shm,
/// the locks, the pins, the outbox, the outcomes file, the token file, and the Mastodon
/// instance cache (before: 0644).
#[test]
fn every_file_smv_writes_is_private() {
    use std::os::unix::fs::PermissionsExt;
    use support::fake_http::{FakeServer, Resp};
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, serde_json::json!({})),
        "/api/v1/accounts/verify_credentials" => Resp::json(200, serde_json::json!({"acct": "co"})),
        "/oauth/token/info" => Resp::json(200, serde_json::json!({"scope": "read write"})),
        _ => Resp::json(200, serde_json::json!({"id": "1"})),
    });
    let s = setup();
    s.smv_in(
        &[
            "account",
            "add",
            "m",
            "--provider",
            "mastodon",
            "--url",
            &server.url,
            "--secret-stdin",
        ],
        b"tok-modes-1",
    )
    .ok();
    s.smv(&["grant", "alice", "m", "post"]).ok();
    s.smv(&["post", "release,m", "hello"]).ok();
    s.smv(&["account", "check", "m"]).ok();
    s.smv(&["post", "demo", "at", "--at", "2099-01-01T00:00:00Z"])
        .ok();
    s.smv(&["draft", "demo", "d"]).ok();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "post-outcome:error")
        .args(["post", "demo", "kept"]);
    s.run_cmd(cmd, None).fails(12);
    s.smv(&["status"]).ok();
    s.smv(&["audit", "verify"]).ok();
    s.smv(&["identity", "show"]).ok();
    let mut seen = Vec::new();
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            }
            out.push(p);
        }
    }
    walk(&s.data_dir(), &mut seen);
    let mut names: Vec<String> = Vec::new();
    for p in &seen {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:04o}", p.display());
        names.push(p.file_name().unwrap().to_string_lossy().into_owned());
    }
    for expected in [
        "vault.smv",
        "vault.smv.audit",
        "vault.smv.gate",
        "vault.smv.lock",
        "vault.smv.outcomes",
        "outbox.jsonl",
        "mastodon-instances.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not written: {names:?}"
        );
    }
    let dir = std::fs::metadata(s.data_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir, 0o700);
}

/// The `smv post --retry KEY` a run's hint names (from its error's hint in --json).
fn hinted_retry_key(stderr: &str) -> String {
    let at = stderr
        .find("smv post --retry ")
        .unwrap_or_else(|| panic!("no retry command in: {stderr}"));
    stderr[at + "smv post --retry ".len()..]
        .split(|c: char| c == '`' || c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

/// Issue 24 (3): a post without a key gets a random one, shown with its results (human:
/// once, on stderr; --json: on each result) and listed by `smv posts show`.
#[test]
fn a_post_without_a_key_gets_a_random_one_shown_and_listed() {
    let s = setup();
    let run = s.smv(&["post", "release", "same text"]).ok();
    assert_eq!(
        run.stderr.matches("idempotency key: p-").count(),
        1,
        "shown once per post: {}",
        run.stderr
    );
    let shown = hinted_retry_key(&run.stderr);
    let r = s.smv(&["post", "demo", "same text", "--json"]).ok().json();
    let key = r[0]["idempotency_key"].as_str().unwrap().to_string();
    assert!(
        key.len() == 18 && key.starts_with("p-") && key[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    // Random, not derived from the text: the same text posted again is another post.
    assert_ne!(key, shown);
    assert_eq!(outbox_lines(&s).len(), 3, "each run posts: it is asked to");
    // The network got a key derived from it (never the key itself).
    let last = outbox_lines(&s).pop().unwrap();
    assert!(
        last["idempotency_key"]
            .as_str()
            .is_some_and(|k| !k.contains(&key[2..]))
    );
    // `smv posts show` lists it.
    let seq = r[0]["audit_seq"].as_u64().unwrap().to_string();
    let shown = s.smv(&["posts", "show", &seq, "--json"]).ok().json();
    assert_eq!(shown["idempotency_key"], key.as_str());
    s.smv(&["posts", "show", &seq])
        .ok()
        .stdout_has(&format!("key:      {key}"));
    // A dry run sends nothing and gets no key; a given key is the one shown.
    let dry = s
        .smv(&["post", "demo", "x", "--dry-run", "--json"])
        .ok()
        .json();
    assert!(dry[0].get("idempotency_key").is_none(), "{dry}");
    let given = s
        .smv(&["post", "demo", "y", "--idempotency-key", "ci-42", "--json"])
        .ok()
        .json();
    assert_eq!(given[0]["idempotency_key"], "ci-42");
}

/// Issue 24 (3), the reproduction: `flaky` unreachable, `demo` published. The hint used to
/// say "retry … with the same --idempotency-key" though none was given, and running the
/// command again posted to `demo` twice. Now the hint is the exact command, and it sends to
/// the failed target only, with the recorded text.
#[test]
fn a_partial_failure_hint_retries_only_the_failed_target() {
    let s = setup();
    let dir = s.home().join("flaky-dir");
    let flaky_out = dir.join("outbox.jsonl");
    s.smv(&[
        "account",
        "add",
        "flaky",
        "--provider",
        "outbox",
        "--url",
        flaky_out.to_str().unwrap(),
    ])
    .ok();
    s.smv(&["grant", "alice", "flaky", "post"]).ok();
    let run = s.smv(&["post", "flaky,demo", "x"]).fails(11);
    assert!(
        !run.stderr.contains("--idempotency-key"),
        "no key was given: the hint must not name one: {}",
        run.stderr
    );
    let key = hinted_retry_key(&run.stderr);
    assert!(key.starts_with("p-"), "{key}");
    assert_eq!(outbox_lines(&s).len(), 1);
    // Still unreachable: the retry fails again for flaky, and demo is not posted twice.
    s.smv(&["post", "--retry", &key]).fails(11);
    assert_eq!(outbox_lines(&s).len(), 1);
    std::fs::create_dir_all(&dir).unwrap();
    let r = s.smv(&["post", "--retry", &key, "--json"]).ok().json();
    let by: std::collections::HashMap<_, _> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["account"].as_str().unwrap().to_string(),
                x["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(by["demo"], "already_posted");
    assert_eq!(by["flaky"], "posted");
    assert!(
        r.as_array()
            .unwrap()
            .iter()
            .all(|x| x["idempotency_key"] == key.as_str())
    );
    assert_eq!(outbox_lines(&s).len(), 1, "demo once");
    let flaky: Vec<_> = std::fs::read_to_string(&flaky_out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    assert_eq!(flaky.len(), 1);
    assert_eq!(flaky[0]["text"], "x", "the recorded text");
    // Again: nothing more is sent anywhere.
    s.smv(&["post", "--retry", &key]).ok();
    assert_eq!(outbox_lines(&s).len(), 1);
    assert_eq!(
        std::fs::read_to_string(&flaky_out).unwrap().lines().count(),
        1
    );
    // The retry's intents say so.
    assert!(
        s.audit_entries()
            .iter()
            .any(|e| e.outcome == Outcome::Intent && e.details.get("retry") == Some(&true.into()))
    );
    s.smv(&["audit", "verify"]).ok();
}

/// `--retry` never sends where the outcome is unknown (it may be live), nor for a key that
/// was never used, a key smv keeps for its own retries, with a text or targets, or for a
/// member without the grant.
#[test]
fn retry_refusals_and_unknown_targets() {
    let s = setup();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "post-after-send:abort").args([
        "post",
        "demo,staging",
        "crash",
        "--idempotency-key",
        "k-crash",
    ]);
    assert_ne!(s.run_cmd(cmd, None).code, 0);
    assert_eq!(outbox_lines(&s).len(), 1, "demo got it before the crash");
    let run = s.smv(&["post", "--retry", "k-crash", "--json"]).fails(12);
    assert!(
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "unknown")
    );
    assert_eq!(
        outbox_lines(&s).len(),
        1,
        "nothing sent where it may be live"
    );
    s.smv(&["post", "--retry", "never-used"])
        .fails(3)
        .stderr_has("post with idempotency key `never-used` does not exist");
    s.smv(&["post", "--retry", "draft:abc"]).fails(2);
    s.smv(&["post", "--retry", "k", "demo"]).fails(2);
    s.smv(&["post", "--retry", "k", "--idempotency-key", "j"])
        .fails(2);
    s.smv(&["post"]).fails(2);
    // A failed post, retried by someone without the grant: refused, nothing sent.
    let missing = s.home().join("nowhere/outbox.jsonl");
    s.smv(&[
        "account",
        "add",
        "broken",
        "--provider",
        "outbox",
        "--url",
        missing.to_str().unwrap(),
    ])
    .ok();
    s.smv(&["grant", "alice", "broken", "post"]).ok();
    s.smv(&["post", "broken", "z", "--idempotency-key", "kb"])
        .fails(11);
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    let bob = s.add_custodian("bob", "member");
    s.smv_as(&bob, &["post", "--retry", "kb"]).fails(4);
    assert!(!missing.exists());
    s.smv(&["post", "--retry", "kb"]).ok();
    assert_eq!(
        std::fs::read_to_string(&missing).unwrap().lines().count(),
        1
    );
}

/// Issue 24 (5): `posts resolve` takes the seq a post's report shows (its outcome entry) as
/// well as its intent's, and resolves the one attempt both name.
#[test]
fn resolve_takes_the_seq_the_report_shows() {
    use support::fake_http::{FakeServer, Resp};
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, serde_json::json!({})),
        _ => Resp::hang_up(),
    });
    let s = setup();
    s.smv_in(
        &[
            "account",
            "add",
            "m",
            "--provider",
            "mastodon",
            "--url",
            &server.url,
            "--secret-stdin",
        ],
        b"tok-resolve-1",
    )
    .ok();
    s.smv(&["grant", "alice", "m", "post"]).ok();
    let r = s
        .smv(&["post", "m", "lost answer", "--json"])
        .fails(12)
        .json();
    assert_eq!(r[0]["status"], "unknown");
    let shown = r[0]["audit_seq"].as_u64().unwrap();
    let intent = r[0]["intent_seq"].as_u64().unwrap();
    assert_ne!(shown, intent);
    // The human report's audit column is the one shown.
    let done = s
        .smv(&[
            "posts",
            "resolve",
            &shown.to_string(),
            "--not-published",
            "--reason",
            "not on the timeline",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(done["intent_seq"], intent);
    assert_eq!(done["idempotency_key"], r[0]["idempotency_key"]);
    let resolution = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "post.resolve")
        .unwrap();
    assert_eq!(resolution.details["intent_seq"], intent);
    // Either seq now names a settled post: a second resolution is refused, by both.
    for seq in [shown, intent] {
        s.smv(&[
            "posts",
            "resolve",
            &seq.to_string(),
            "--published",
            "https://x.example/1",
        ])
        .fails(5)
        .stderr_has("not unknown");
    }
    // Resolved as not published: the retry command sends it again (and this network
    // hangs up again: unknown again).
    let statuses = || {
        server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count()
    };
    assert_eq!(statuses(), 1);
    let key = r[0]["idempotency_key"].as_str().unwrap();
    s.smv(&["post", "--retry", key]).fails(12);
    assert_eq!(statuses(), 2);
    s.smv(&["audit", "verify"]).ok();
}

/// `fast` (outbox: demo), `slow` (Mastodon on a fake that answers after `delay`), `later`
/// (outbox: staging), all granted to alice.
fn three_targets(delay: std::time::Duration) -> (Sandbox, support::fake_http::FakeServer) {
    use support::fake_http::{FakeServer, Resp};
    let network = FakeServer::start(move |req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, serde_json::json!({})),
        _ => Resp::json(
            200,
            serde_json::json!({"id": "77", "url": "https://social.example/@co/77"}),
        )
        .after(delay),
    });
    let s = setup();
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
        b"tok-slow-1",
    )
    .ok();
    s.smv(&["grant", "alice", "slow", "post"]).ok();
    (s, network)
}

fn statuses(r: &serde_json::Value) -> Vec<String> {
    r.as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap().to_string())
        .collect()
}

/// The outcome entry of each account's attempt in this run, by account.
fn outcomes_by_account(
    s: &Sandbox,
    r: &serde_json::Value,
) -> Vec<(String, Outcome, serde_json::Value)> {
    let entries = s.audit_entries();
    r.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let seq = x["audit_seq"].as_u64().unwrap();
            let e = entries.iter().find(|e| e.seq == seq).unwrap();
            assert_eq!(e.details["intent_seq"], x["intent_seq"]);
            (
                e.target.clone(),
                e.outcome,
                e.details.get("error_kind").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// Issue 24 (4): SIGINT while the second of three targets waits on its network: the first
/// is published, the one in flight gets the documented grace (5 s) and, with no answer,
/// is unknown; the third was never sent and says so (a `failed` outcome, not unknown).
/// Exit 130, one line per target. Before: exit 130 with nothing printed, and `smv status`
/// listed the third as unknown ("may be live").
#[test]
fn an_interrupted_post_stops_in_order_and_tells_the_truth() {
    let (s, network) = three_targets(std::time::Duration::from_secs(60));
    let (run, took) = support::interrupted_post(
        &s,
        &network,
        &[],
        &["post", "demo,slow,staging", "stop me", "--json"],
        &[("INT", std::time::Duration::ZERO)],
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        took >= std::time::Duration::from_millis(4500) && took < std::time::Duration::from_secs(20),
        "the grace is 5 s: {took:?}"
    );
    let r = run.json();
    assert_eq!(statuses(&r), ["posted", "unknown", "not_sent"]);
    assert!(
        run.stderr
            .contains("interrupted: 1 of 3 posts not sent; 1 has an unknown outcome"),
        "{}",
        run.stderr
    );
    let key = r[0]["idempotency_key"].as_str().unwrap().to_string();
    assert!(
        run.stderr.contains(&format!("smv post --retry {key}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("smv posts resolve"), "{}", run.stderr);
    let outcomes = outcomes_by_account(&s, &r);
    assert_eq!(outcomes[0].1, Outcome::Ok);
    assert_eq!(outcomes[1].1, Outcome::Unknown);
    assert_eq!(
        (outcomes[2].1, outcomes[2].2.as_str()),
        (Outcome::Failed, Some("interrupted"))
    );
    assert_eq!(outbox_lines(&s).len(), 1, "staging was never sent");
    // `smv status` lists the one in flight only: staging was not sent.
    let st = s.smv(&["status", "--json"]).ok().json();
    let unknown: Vec<_> = st["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["account"].clone())
        .collect();
    assert_eq!(unknown, ["slow"]);
    assert_eq!(st["unknown"][0]["text_start"], "stop me");
    assert_eq!(st["unknown"][0]["idempotency_key"], key.as_str());
    // For people: the account, the start of its text, and the exact commands (the intent's
    // seq, which is also what the report's audit column leads to).
    let intent = r[1]["intent_seq"].as_u64().unwrap();
    s.smv(&["status"])
        .ok()
        .stdout_has("slow")
        .stdout_has("text: \"stop me\"")
        .stdout_has(&format!("smv posts resolve {intent} --published URL"))
        .stdout_has(&format!(
            "smv posts resolve {intent} --not-published --reason"
        ));
    // The retry sends to staging only: demo is published, slow may be live (blocked).
    let again = s.smv(&["post", "--retry", &key, "--json"]).fails(12).json();
    assert_eq!(statuses(&again), ["already_posted", "unknown", "posted"]);
    assert_eq!(outbox_lines(&s).len(), 2);
    assert_eq!(
        network
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count(),
        1
    );
    s.smv(&["audit", "verify"]).ok();
}

/// A second signal ends the wait at once (no grace): the one in flight is unknown, the rest
/// not sent; SIGTERM counts like SIGINT. Piped, the report is one table row per target.
#[test]
fn a_second_signal_ends_an_interrupted_post_at_once() {
    let (s, network) = three_targets(std::time::Duration::from_secs(60));
    let (run, took) = support::interrupted_post(
        &s,
        &network,
        &[],
        &["post", "demo,slow,staging", "stop me now"],
        &[
            ("TERM", std::time::Duration::ZERO),
            ("INT", std::time::Duration::from_millis(300)),
        ],
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(took < std::time::Duration::from_millis(2500), "{took:?}");
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("account"))
        .collect();
    assert_eq!(rows.len(), 3, "{}", run.stdout);
    for (row, (account, status)) in rows.iter().zip([
        ("demo", "posted"),
        ("slow", "unknown"),
        ("staging", "not_sent"),
    ]) {
        let cells: Vec<&str> = row.split('\t').collect();
        assert_eq!((cells[0], cells[2]), (account, status), "{row}");
    }
    assert!(
        run.stderr.contains("second signal") || run.stdout.contains("second signal"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(outbox_lines(&s).len(), 1);
}

/// The one in flight answers within the grace: it is published and recorded so; the rest
/// are not sent. Still exit 130.
#[test]
fn an_answer_within_the_grace_is_recorded_as_published() {
    let (s, network) = three_targets(std::time::Duration::from_millis(1500));
    let (run, took) = support::interrupted_post(
        &s,
        &network,
        &[],
        &["post", "demo,slow,staging", "nearly done", "--json"],
        &[("INT", std::time::Duration::ZERO)],
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(took < std::time::Duration::from_secs(4), "{took:?}");
    let r = run.json();
    assert_eq!(statuses(&r), ["posted", "posted", "not_sent"]);
    assert_eq!(r[1]["post_id"], "77");
    assert!(
        run.stderr.contains("interrupted: 1 of 3 posts not sent"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("unknown outcome"), "{}", run.stderr);
    let st = s.smv(&["status", "--json"]).ok().json();
    assert!(st["unknown"].as_array().unwrap().is_empty(), "{st}");
}

/// `smv status` shows the start of an unknown post's text escaped: a terminal escape or a
/// bidirectional override in it cannot rewrite the screen.
#[test]
fn status_shows_an_unknown_posts_text_escaped() {
    let s = setup();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "post-after-intent:abort").args([
        "post",
        "demo",
        "\u{1b}[2Jwiped \u{202e}txet\nline two",
    ]);
    assert_ne!(s.run_cmd(cmd, None).code, 0);
    let run = s.smv(&["status"]).ok();
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{202e}'),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("wiped"), "{}", run.stdout);
    let st = s.smv(&["status", "--json"]).ok().json();
    assert!(
        st["unknown"][0]["text_start"]
            .as_str()
            .unwrap()
            .starts_with("\u{1b}[2Jwiped")
    );
}

/// A signal before anything was admitted (here: while a Mastodon instance's limits are
/// fetched, before the posting gate) sends nothing and records no intent: exit 130.
#[test]
fn a_signal_before_the_post_is_admitted_sends_nothing() {
    use support::fake_http::{FakeServer, Resp};
    let network = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => {
            Resp::json(200, serde_json::json!({})).after(std::time::Duration::from_secs(2))
        }
        _ => Resp::json(200, serde_json::json!({"id": "1"})),
    });
    let s = setup();
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
        b"tok-early-1",
    )
    .ok();
    s.smv(&["grant", "alice", "slow", "post"]).ok();
    let before = s.audit_entries().len();
    // (The signal is sent once the post asks for the instance: nothing asked before.)
    assert!(network.requests().is_empty());
    let (run, _) = support::interrupted_at(
        &s,
        &network,
        "/api/v2/instance",
        &[],
        &["post", "demo,slow", "too early"],
        &[("INT", std::time::Duration::ZERO)],
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.stderr.contains("interrupted: 2 of 2 posts not sent"),
        "{}",
        run.stderr
    );
    assert!(outbox_lines(&s).is_empty());
    assert!(
        !network
            .requests()
            .iter()
            .any(|r| r.path == "/api/v1/statuses")
    );
    assert!(
        !s.audit_entries()[before..]
            .iter()
            .any(|e| e.action == "post" && e.outcome == Outcome::Intent),
        "no intent"
    );
}
