//! `smv post` (Mastodon provider) against `curl` posting the same body to the same loopback
//! server, in the same run; medians of many runs, and where smv's time goes, by stages:
//! start-up (`smv --version`); then identity, vault decryption and authorization
//! (`smv whoami`); then audit log, validation and an fsynced audit entry
//! (`smv post --dry-run`); then the durable intent, the HTTP call and the outcome
//! (`smv post`).
//!
//! Run: `cargo bench --bench post` (needs curl).

mod common;
#[path = "../tests/support/fake_http.rs"]
mod fake_http;

use std::process::{Command, Stdio};

use common::{measure, ms};
use fake_http::{FakeServer, Resp};

const BIN: &str = env!("CARGO_BIN_EXE_smv");
const RUNS: usize = 40;

fn main() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(
            200,
            serde_json::json!({"configuration": {"statuses": {"max_characters": 500}}}),
        ),
        _ => Resp::json(
            200,
            serde_json::json!({"id": "1", "url": "https://social.example/@co/1"}),
        ),
    });
    let home = tempfile::tempdir().unwrap();
    let smv = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SMV_KEYRING", "off")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        assert!(child.wait().unwrap().success(), "smv {args:?} failed");
    };
    smv(&["init", "--name", "alice"], None);
    smv(
        &[
            "account",
            "add",
            "masto",
            "--provider",
            "mastodon",
            "--url",
            &server.url,
            "--secret-stdin",
        ],
        Some("bench-token"),
    );
    smv(&["grant", "alice", "masto", "post"], None);
    smv(
        &["post", "masto", "warm-up (fills the instance cache)"],
        None,
    );

    let body = r#"{"status":"Release 2.1 is out"}"#;
    let url = format!("{}/api/v1/statuses", server.url);
    let curl = measure(RUNS, || {
        let ok = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-X",
                "POST",
                "-H",
                "Authorization: Bearer bench-token",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
                &url,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    });
    let version = measure(RUNS, || smv(&["--version"], None));
    let whoami = measure(RUNS, || smv(&["whoami"], None));
    let dry = measure(RUNS, || {
        smv(&["post", "masto", "Release 2.1 is out", "--dry-run"], None)
    });
    let post = measure(RUNS, || smv(&["post", "masto", "Release 2.1 is out"], None));

    println!("smv post vs curl, same loopback server, medians of {RUNS} runs (release build)");
    println!(
        "curl POST                               {}",
        ms(curl.median)
    );
    println!(
        "smv --version        (process start-up) {}",
        ms(version.median)
    );
    println!(
        "smv whoami           (+ identity file, vault decrypt, member lookup) {}",
        ms(whoami.median)
    );
    println!(
        "smv post --dry-run   (+ audit log, validation, 1 fsynced entry) {}",
        ms(dry.median)
    );
    println!(
        "smv post             (+ intent fsync, HTTP, outcome fsync) {}",
        ms(post.median)
    );
    let f = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "where smv's time goes: start-up {:.2} ms, unlock+decrypt+authz {:.2} ms, audit+validation {:.2} ms, intent+HTTP+outcome {:.2} ms",
        f(version.median),
        f(whoami.median) - f(version.median),
        f(dry.median) - f(whoami.median),
        f(post.median) - f(dry.median)
    );
    let ratio = f(post.median) / f(curl.median);
    println!(
        "ratio smv post / curl: {ratio:.2}× — target ≤ 1.5×: {}",
        if ratio <= 1.5 { "MEETS" } else { "MISSES" }
    );
}
