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
        b"tok-1",
    )
    .ok();
    s.smv(&["grant", "alice", "x-main", "post"]).ok();
    // "tok-1" is no X credential: refused before anything is sent anywhere.
    s.smv(&["post", "demo,x-main", "hi"])
        .fails(2)
        .stderr_has("the X secret needs");
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
    s.smv(&["post", "demo", "hi", "--idempotency-key", "k1"])
        .fails(5)
        .stderr_has("interrupted");
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
