//! Issue 23, item 2: only a key holder extends the trail. `<vault>.outcomes` sits beside the
//! vault, where anyone who can write the folder can add lines; every line must carry a MAC
//! under the vault's journal key, or it is moved to `<vault>.outcomes.rejected`, reported,
//! and never changes an outcome.

mod support;

use smv::audit::Outcome;
use support::Sandbox;

fn outbox_lines(s: &Sandbox) -> usize {
    std::fs::read_to_string(s.data_dir().join("outbox.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn journal(s: &Sandbox) -> std::path::PathBuf {
    s.data_dir().join("vault.smv.outcomes")
}

fn rejected(s: &Sandbox) -> std::path::PathBuf {
    s.data_dir().join("vault.smv.outcomes.rejected")
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// A line as the journal held it before it was authenticated (and as an attacker writes it).
fn forged(
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    details: serde_json::Value,
) -> String {
    format!(
        "{}\n",
        serde_json::json!({
            "actor": actor, "channel": {"kind": "local"}, "action": action, "target": target,
            "outcome": outcome, "reason": null, "request_id": "forged", "details": details
        })
    )
}

fn setup() -> Sandbox {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s
}

/// The reproduction: a keyless writer of the folder puts a "bob offboarded alice" line and a
/// post by alice in the journal. The next command appends neither to the signed log, warns,
/// moves them aside, and `smv status` (human and --json) lists them; `smv posts` does not
/// show the forged post, and the log verifies.
#[test]
fn forged_offboarding_and_post_lines_are_refused_and_listed() {
    let s = setup();
    s.smv(&["post", "demo", "a real post"]).ok();
    let intent = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "post" && e.outcome == Outcome::Intent)
        .unwrap()
        .seq;
    let before = s.audit_entries().len();
    append(
        &journal(&s),
        &forged(
            "bob",
            "member.offboard",
            "member:alice",
            "ok",
            serde_json::json!({}),
        ),
    );
    append(
        &journal(&s),
        &forged(
            "alice",
            "post",
            "account:demo",
            "ok",
            serde_json::json!({"intent_seq": intent + 1000, "post_id": "forged-1", "text": "I quit"}),
        ),
    );
    // Any command that appends finds them: a grant here.
    s.smv(&["account", "add", "other", "--provider", "outbox"])
        .ok()
        .stderr_has("vault.smv.outcomes.rejected")
        .stderr_has("2 line(s)");
    let entries = s.audit_entries();
    assert!(
        !entries
            .iter()
            .any(|e| e.action == "member.offboard" || e.request_id == "forged"),
        "a forged line reached the signed log"
    );
    // Only the account add's own entries were appended.
    assert!(
        entries
            .iter()
            .skip(before)
            .all(|e| e.action.starts_with("account") || e.action.starts_with("vault"))
    );
    assert_eq!(std::fs::metadata(journal(&s)).unwrap().len(), 0);
    let status = s.smv(&["--json", "status"]).ok().json();
    let listed = status["rejected_outcomes"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{status}");
    assert!(
        listed[0]["line"]
            .as_str()
            .unwrap()
            .contains("member.offboard")
    );
    assert!(listed[0]["why"].as_str().unwrap().contains("no MAC"));
    s.smv(&["status"])
        .ok()
        .stdout_has("Refused lines of the outcomes journal (2)");
    let posts = s.smv(&["--json", "posts"]).ok().stdout;
    assert!(!posts.contains("forged-1"), "{posts}");
    s.smv(&["audit", "verify"]).ok();
    // The rejected file is private, like everything beside the vault.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(rejected(&s))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

/// The reproduction: a post reached the network and its outcome could not be logged (kept
/// in the journal). The attacker replaces the kept line with a `failed` one (or adds one).
/// The forged line changes nothing: the attempt stays unknown, and a retry with the same
/// idempotency key does not post again.
#[test]
fn a_forged_failed_line_does_not_let_a_retry_post_again() {
    for replace in [true, false] {
        let s = setup();
        let mut cmd = s.command();
        cmd.env("SMV_FAILPOINT", "post-outcome:error").args([
            "post",
            "demo",
            "once",
            "--idempotency-key",
            "k1",
            "--json",
        ]);
        s.run_cmd(cmd, None).fails(12);
        assert_eq!(outbox_lines(&s), 1);
        let intent = s
            .audit_entries()
            .into_iter()
            .find(|e| e.action == "post" && e.outcome == Outcome::Intent)
            .unwrap();
        let line = forged(
            &intent.actor,
            "post",
            "account:demo",
            "failed",
            serde_json::json!({"intent_seq": intent.seq, "error_kind": "rejected"}),
        );
        if replace {
            std::fs::write(journal(&s), &line).unwrap();
        } else {
            // Before the real line: the forged one would be read first.
            let real = std::fs::read_to_string(journal(&s)).unwrap();
            std::fs::write(journal(&s), format!("{line}{real}")).unwrap();
        }
        let retry = s.smv(&["post", "demo", "once", "--idempotency-key", "k1", "--json"]);
        assert_eq!(outbox_lines(&s), 1, "posted twice (replace: {replace})");
        let failed_recorded = s
            .audit_entries()
            .iter()
            .any(|e| e.action == "post" && e.outcome == Outcome::Failed);
        assert!(!failed_recorded, "the forged failure was recorded");
        if replace {
            // Still unknown: refused until a person resolves it.
            retry.fails(12);
            let status = s.smv(&["--json", "status"]).ok().json();
            assert_eq!(status["unknown"].as_array().unwrap().len(), 1);
        } else {
            // The real, authenticated outcome was appended and answers the retry.
            let r = retry.ok().json();
            assert_eq!(r[0]["status"], "already_posted");
        }
        assert_eq!(
            s.smv(&["--json", "status"]).ok().json()["rejected_outcomes"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        s.smv(&["audit", "verify"]).ok();
    }
}

/// A valid line moved to another vault's journal is refused there; a valid line copied back
/// after it was appended is appended once.
#[test]
fn a_valid_line_is_bound_to_its_vault_and_appended_once() {
    let a = setup();
    let mut cmd = a.command();
    cmd.env("SMV_FAILPOINT", "post-outcome:error").args([
        "post",
        "demo",
        "x",
        "--idempotency-key",
        "k",
    ]);
    a.run_cmd(cmd, None).fails(12);
    let line = std::fs::read_to_string(journal(&a)).unwrap();
    assert!(line.starts_with("smv-outcome-v1 "), "{line}");
    // Another vault whose log has a post intent at the same seq.
    let b = setup();
    let mut cmd = b.command();
    cmd.env("SMV_FAILPOINT", "post-outcome:error").args([
        "post",
        "demo",
        "x",
        "--idempotency-key",
        "k",
    ]);
    b.run_cmd(cmd, None).fails(12);
    std::fs::write(journal(&b), &line).unwrap();
    b.smv(&["post", "demo", "x", "--idempotency-key", "k"])
        .fails(12);
    assert!(
        !b.audit_entries()
            .iter()
            .any(|e| e.details.get("recorded_late").is_some()),
        "a line of vault a was recorded in vault b"
    );
    assert_eq!(
        b.smv(&["--json", "status"]).ok().json()["rejected_outcomes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // In its own vault: appended once, even when copied back in.
    a.smv(&["post", "demo", "x", "--idempotency-key", "k", "--json"])
        .ok();
    append(&journal(&a), &line);
    append(&journal(&a), &line);
    a.smv(&["account", "add", "z", "--provider", "outbox"]).ok();
    let late = a
        .audit_entries()
        .into_iter()
        .filter(|e| e.details.get("recorded_late").is_some())
        .count();
    assert_eq!(late, 1);
    assert!(!rejected(&a).exists());
}

/// The lock files beside the vault (`<vault>.lock`, `.gate`, `.queue.lock`) are written by
/// anyone who can write the folder: their bytes are never read, so garbage in them changes
/// nothing, and one made a symbolic link to another file is locked, never written (the file
/// it points to keeps its bytes). The post goes out once and the trail verifies.
#[test]
fn lock_files_written_by_a_keyless_writer_grant_nothing_and_write_nothing() {
    let s = setup();
    let dir = s.data_dir();
    let victim = s.home().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    for name in ["vault.smv.lock", "vault.smv.queue.lock"] {
        let _ = std::fs::remove_file(dir.join(name));
        std::fs::write(
            dir.join(name),
            "{\"owner\":\"mallory\",\"admin\":true}\n\u{1b}[2J",
        )
        .unwrap();
    }
    let gate = dir.join("vault.smv.gate");
    let _ = std::fs::remove_file(&gate);
    std::os::unix::fs::symlink(&victim, &gate).unwrap();
    let before = outbox_lines(&s);
    s.smv(&["post", "demo", "through planted locks"]).ok();
    assert_eq!(outbox_lines(&s), before + 1, "posted once");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    s.smv(&["audit", "verify"]).ok();
    s.smv(&["whoami"]).ok().stdout_has("alice");
}
