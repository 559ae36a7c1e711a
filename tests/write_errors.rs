//! Issue 24: a write to stdout that fails for any reason but a closed pipe is an error
//! (exit 9, with a hint), after the command's action is done; a closed pipe stays quiet.

mod support;

use std::process::Stdio;

use support::Sandbox;

/// Runs smv with stdout sent to `/dev/full` (every write fails: ENOSPC).
fn to_dev_full(s: &Sandbox, args: &[&str]) -> (i32, String) {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = s
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_full_disk_on_stdout_is_exit_9_with_a_hint() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("SKIPPED: no /dev/full");
        return;
    }
    let s = Sandbox::new();
    s.init();
    for args in [
        &["audit", "pubkey"][..],
        &["audit", "log"],
        &["--json", "audit", "log"],
        &["audit", "export", "--format", "jsonl"],
        &["whoami"],
    ] {
        let (code, stderr) = to_dev_full(&s, args);
        assert_eq!(code, 9, "smv {args:?}: {stderr}");
        assert!(stderr.contains("standard output"), "{args:?}: {stderr}");
        assert!(stderr.contains("hint"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("disk it goes to is full"),
            "{args:?}: {stderr}"
        );
    }
    // --json: the error is one JSON object on stderr, class io.
    let (code, stderr) = to_dev_full(&s, &["--json", "audit", "pubkey"]);
    assert_eq!(code, 9);
    let e: serde_json::Value = serde_json::from_str(stderr.trim()).expect(&stderr);
    assert_eq!(e["error"]["class"], "io", "{e}");
    assert_eq!(e["error"]["exit_code"], 9, "{e}");
}

/// The action finishes before the output error ends the command: the account exists.
#[test]
fn the_action_finishes_before_the_write_error_is_reported() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let s = Sandbox::new();
    s.init();
    let (code, stderr) = to_dev_full(&s, &["account", "add", "demo", "--provider", "outbox"]);
    assert_eq!(code, 9, "{stderr}");
    s.smv(&["account", "list"]).ok().stdout_has("demo");
}

/// Only a reader that went away is quiet: `smv audit log | head -c 1` ends with 0.
#[test]
fn a_closed_pipe_stays_quiet() {
    let s = Sandbox::new();
    s.init();
    let mut child = s
        .command()
        .args(["audit", "log"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: every write smv makes meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
