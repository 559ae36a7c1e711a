//! What approvers and authors read: drafts and scheduled posts with their text, who approved,
//! who rejected and why; `approve` says who approved what; a post to several accounts shows
//! each target's line as it completes on a terminal.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use support::Sandbox;
use support::fake_http::{FakeServer, Resp};

/// alice (admin), bob (member, draft on demo), carol (member, approve on demo); demo needs
/// one approval, approvers exempt (`--no-strict`: carol posts directly).
fn setup() -> (Sandbox, std::path::PathBuf, std::path::PathBuf) {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let bob = s.add_custodian("bob", "member");
    let carol = s.add_custodian("carol", "member");
    s.smv(&["grant", "bob", "demo", "draft"]).ok();
    s.smv(&["grant", "carol", "demo", "approve"]).ok();
    s.smv(&["policy", "set", "demo", "--approvals", "1", "--no-strict"])
        .ok();
    (s, bob, carol)
}

fn draft(s: &Sandbox, key: &std::path::Path, text: &str) -> String {
    s.smv_as(key, &["--json", "draft", "demo", text])
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

const TEXT: &str = "Q3 results are out\u{202e}gnp.exe\ttab\nsecond line: details";

#[test]
fn drafts_lists_the_text_escaped_and_who_approved() {
    let (s, bob, carol) = setup();
    let d = draft(&s, &bob, TEXT);
    let list = s.smv_as(&carol, &["drafts"]).ok();
    let row = list.stdout.lines().find(|l| l.starts_with(&d)).unwrap();
    // The excerpt, with the hiding characters escaped, on one line of the TSV.
    assert!(
        row.contains("Q3 results are out\\u{202e}gnp.exe\\ttab\\nsecond line"),
        "{row}"
    );
    assert!(!list.stdout.contains('\u{202e}'));
    assert_eq!(row.split('\t').count(), 7, "{row}");
    s.smv_as(&carol, &["approve", &d]).ok();
    let list = s.smv(&["drafts"]).ok();
    let row = list.stdout.lines().find(|l| l.starts_with(&d)).unwrap();
    assert!(row.contains("demo 1/1 by carol"), "{row}");
    // On a terminal, the same in columns, the text cut to fit.
    let term = s
        .smv_env(
            &[("SMV_TEST_TERMINAL", "1"), ("COLUMNS", "80")],
            &["drafts"],
        )
        .ok();
    assert!(term.stdout.lines().next().unwrap().ends_with("TEXT"));
    for l in term.stdout.lines() {
        assert!(l.chars().count() <= 80, "{l}");
    }
}

#[test]
fn draft_show_has_every_byte_and_every_approval() {
    let (s, bob, carol) = setup();
    let d = draft(&s, &bob, TEXT);
    s.smv_as(&carol, &["approve", &d]).ok();
    let shown = s.smv_as(&bob, &["draft", "show", &d]).ok();
    // The whole text, line break kept, the rest escaped.
    assert!(
        shown
            .stdout
            .ends_with("\nQ3 results are out\\u{202e}gnp.exe\\ttab\nsecond line: details\n"),
        "{}",
        shown.stdout
    );
    let hash = s.smv(&["--json", "draft", "show", &d]).ok().json()["text_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(shown.stdout.contains(&format!("sha256:    {hash}")));
    assert!(
        shown.stdout.contains("approved by: carol at "),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("(this text)"));
    // An edit: the old approval is shown as no longer counting.
    s.smv_as(&bob, &["draft", "edit", &d, "new text"]).ok();
    let shown = s.smv_as(&bob, &["draft", "show", &d]).ok();
    assert!(shown.stdout.contains("no longer counts") || shown.stdout.contains("nobody yet"));
}

#[test]
fn approve_says_who_approved_what() {
    let (s, bob, carol) = setup();
    let d = draft(&s, &bob, "Launch day");
    let run = s.smv_as(&carol, &["approve", &d]).ok();
    let first = run.stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "carol approved draft {d} by bob for demo (sha256 "
        )),
        "{first}"
    );
    assert!(first.ends_with("): \"Launch day\""), "{first}");
    assert!(run.stdout.contains("ready: `smv publish"), "{}", run.stdout);
}

#[test]
fn a_rejection_shows_who_and_why_and_a_withdrawal_is_one() {
    let (s, bob, carol) = setup();
    let d = draft(&s, &bob, "nope");
    s.smv_as(&carol, &["reject", &d, "--reason", "off-brand\u{1b}[2J"])
        .ok()
        .stdout_has("rejected by carol: off-brand\\u{1b}[2J");
    let list = s.smv(&["drafts", "--all"]).ok();
    let row = list.stdout.lines().find(|l| l.starts_with(&d)).unwrap();
    assert!(
        row.contains("rejected by carol: off-brand\\u{1b}[2J"),
        "{row}"
    );
    assert!(!list.stdout.contains('\u{1b}'));
    let shown = s.smv(&["draft", "show", &d]).ok();
    assert!(
        shown
            .stdout
            .contains("status:    rejected by carol: off-brand")
    );
    assert!(shown.stdout.contains("closed:    "));
    let d2 = draft(&s, &bob, "mine");
    s.smv_as(&bob, &["reject", &d2, "--reason", "typo"]).ok();
    let list = s.smv(&["drafts", "--all"]).ok();
    let row = list.stdout.lines().find(|l| l.starts_with(&d2)).unwrap();
    assert!(row.contains("withdrawn by bob: typo"), "{row}");
}

#[test]
fn the_queue_shows_each_posts_text() {
    let (s, _bob, carol) = setup();
    s.smv(&["grant", "carol", "demo", "approve"]).ok();
    s.smv_as(
        &carol,
        &["post", "demo", "Tomorrow's\u{7}news", "--at", "+2h"],
    )
    .ok();
    let q = s.smv(&["queue"]).ok();
    let lines: Vec<&str> = q.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "id\taccount\tauthor\tdue\tstatus\tdraft\ttext\tpost_id_note"
    );
    assert!(
        lines[1].contains("\tTomorrow's\\u{7}news\t"),
        "{}",
        lines[1]
    );
}

#[test]
fn each_targets_line_appears_as_it_completes_on_a_terminal() {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    // A slow network: it answers only when the test lets it (or after 10 s).
    let (release, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let answered = Arc::new(AtomicBool::new(false));
    let flag = answered.clone();
    let server = FakeServer::start(move |_, _| {
        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(10));
        flag.store(true, Ordering::SeqCst);
        Resp::json(200, serde_json::json!({"id": "w-1"}))
    });
    s.smv_in(
        &[
            "account",
            "add",
            "hook",
            "--provider",
            "webhook",
            "--secret-stdin",
        ],
        format!("{}/hook/part", server.url).as_bytes(),
    )
    .ok();
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["grant", "alice", "hook", "post"]).ok();
    let mut cmd = s.command();
    cmd.env("SMV_TEST_TERMINAL", "1")
        .args(["post", "demo,hook", "hello"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        !answered.load(Ordering::SeqCst),
        "the first target's line came only after the slow one answered: {first}"
    );
    assert!(
        first.starts_with("posted") && first.contains("demo (outbox)"),
        "{first}"
    );
    release.send(()).unwrap();
    let second = lines.next().unwrap().unwrap();
    assert!(
        second.starts_with("posted") && second.contains("hook (webhook)  w-1"),
        "{second}"
    );
    assert!(lines.next().is_none());
    assert!(child.wait().unwrap().success());
    // Piped, the results are one table at the end.
    release.send(()).unwrap();
    s.smv(&["post", "demo,hook", "again"])
        .ok()
        .stdout_has("account\tprovider\tstatus");
}
