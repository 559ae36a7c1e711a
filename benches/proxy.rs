//! `smv serve` under load (the proxy issue): 32 concurrent clients posting through the proxy
//! to a loopback fake Mastodon, every post audited durably (intent and outcome), beside a
//! minimal forwarder that relays the same requests to the same fake in the same run.
//! Reports posts per second, p50/p99 latency and the server's resident memory, for a
//! one-account vault and a 10,000-account vault.
//!
//! Run: `cargo bench --bench proxy` (`SMV_BENCH_POSTS` posts per client, default 100). After
//! each load, `smv audit verify` must pass: every entry is there and the log is intact.

mod common;
#[path = "../tests/support/fake_http.rs"]
mod fake_http;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_http::{FakeServer, Resp};
use smv::secret::Secret;
use smv::settings::{Env, Overrides, Settings};
use smv::vault::{NewAccount, Vault};

const BIN: &str = env!("CARGO_BIN_EXE_smv");
const CLIENTS: usize = 32;

fn posts_per_client() -> usize {
    std::env::var("SMV_BENCH_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn smv(home: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMV_KEYRING", "off")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smv {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A vault with `accounts` Mastodon accounts pointing at the fake, bob with `post` on acc0,
/// and bob's token.
fn vault(home: &Path, network: &str, accounts: usize) -> String {
    smv(home, &["init", "--name", "alice"]);
    smv(home, &["member", "add", "bob"]);
    // The bulk of the accounts straight through the library (10,000 CLI calls would take
    // minutes); the fixture is not what is measured.
    let env = Env::from_pairs([("HOME", home.to_str().unwrap()), ("SMV_KEYRING", "off")]);
    let settings = Settings::resolve(&Overrides::default(), env).unwrap();
    let identity = smv::identity::resolve(&settings, &smv::identity::NoPrompt).unwrap();
    let mut v = Vault::load(&settings.vault, &identity).unwrap();
    v.conn().execute_batch("BEGIN").unwrap();
    for i in 0..accounts {
        let secret = Secret::from_bytes(format!("bench-token-{i}-0123456789abcdef").into_bytes());
        v.insert_account(
            NewAccount {
                name: &format!("acc{i}"),
                provider: "mastodon",
                handle: None,
                url: Some(network),
                created_by: "alice",
            },
            Some(&secret),
        )
        .unwrap();
    }
    v.conn().execute_batch("COMMIT").unwrap();
    common::save_recorded(&mut v, &identity, &settings.audit_log());
    smv(home, &["grant", "bob", "acc0", "post"]);
    let minted: serde_json::Value = serde_json::from_str(&smv(
        home,
        &[
            "--json",
            "token",
            "create",
            "--name",
            "bench",
            "--for",
            "bob",
            "--account",
            "acc0",
            "--level",
            "post",
            "--expires",
            "1d",
        ],
    ))
    .unwrap();
    minted["token"].as_str().unwrap().to_string()
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(home: &Path) -> Server {
        let mut child = Command::new(BIN)
            .env_clear()
            .env("HOME", home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SMV_KEYRING", "off")
            .env("SMV_LOG", "warn")
            .args([
                "--json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--queue-every",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
        Server {
            url: ready["urls"][0].as_str().unwrap().to_string(),
            child,
        }
    }

    /// (VmRSS, VmHWM) in MB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Load {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// CLIENTS threads, each with its own keep-alive client, POST_PER_CLIENT posts each.
fn load(
    url: &str,
    path: &str,
    token: &str,
    body: impl Fn(usize, usize) -> serde_json::Value + Sync,
) -> Load {
    let url = format!("{url}{path}");
    let start = Instant::now();
    let mut times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, body) = (&url, &body);
                s.spawn(move || {
                    let http = reqwest::blocking::Client::new();
                    (0..posts_per_client())
                        .map(|i| {
                            let t = Instant::now();
                            let resp = http
                                .post(url)
                                .bearer_auth(token)
                                .json(&body(c, i))
                                .send()
                                .unwrap();
                            assert!(
                                resp.status().is_success(),
                                "{}",
                                resp.text().unwrap_or_default()
                            );
                            let _ = resp.bytes();
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let elapsed = start.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    Load {
        per_sec: times.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!(
        "smv proxy benchmark (release build, {} cores): {CLIENTS} clients × {} posts",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        posts_per_client()
    );
    let network = FakeServer::start(|req, n| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(
            200,
            serde_json::json!({"configuration": {"statuses": {"max_characters": 500}}}),
        ),
        _ => Resp::json(
            200,
            serde_json::json!({"id": n.to_string(), "url": format!("https://social.example/@co/{n}")}),
        ),
    });

    // The baseline: a forwarder that relays each request to the same fake, no vault, no audit.
    let upstream = format!("{}/api/v1/statuses", network.url);
    let http = Arc::new(reqwest::blocking::Client::new());
    let forwarder = FakeServer::start(move |req, _| {
        let resp = http
            .post(&upstream)
            .header("content-type", "application/json")
            .body(req.body.clone())
            .send()
            .unwrap();
        Resp::json(resp.status().as_u16(), resp.json().unwrap())
    });
    let base = load(
        &forwarder.url,
        "/api/v1/statuses",
        "none",
        |c, i| serde_json::json!({"status": format!("forwarded {c}-{i}")}),
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "", "posts/s", "p50", "p99", "RSS MB", "peak MB"
    );
    println!(
        "{:<44} {:>9.0} {:>9} {:>9} {:>8} {:>8}",
        "minimal forwarder (baseline)",
        base.per_sec,
        common::ms(base.p50),
        common::ms(base.p99),
        "-",
        "-"
    );
    for accounts in [1usize, 10_000] {
        let home = tempfile::tempdir().unwrap();
        let token = vault(home.path(), &network.url, accounts);
        let server = Server::start(home.path());
        // Warm-up: the instance limit cache and the connection.
        load(
            &server.url,
            "/v1/posts",
            &token,
            |c, i| serde_json::json!({"targets": "acc0", "text": format!("warm-up {c}-{i}")}),
        );
        let before = smv::audit::AuditLog::open_read_only(
            &home.path().join(".local/share/smv/vault.smv.audit"),
        )
        .and_then(|l| l.size())
        .unwrap_or(0);
        let r = load(
            &server.url,
            "/v1/posts",
            &token,
            |c, i| serde_json::json!({"targets": "acc0", "text": format!("post {c}-{i} through the proxy")}),
        );
        let after = smv::audit::AuditLog::open_read_only(
            &home.path().join(".local/share/smv/vault.smv.audit"),
        )
        .and_then(|l| l.size())
        .unwrap_or(0);
        let (rss, peak) = server.memory();
        // Durable and intact: every entry is in the log, and the log verifies.
        smv(home.path(), &["audit", "verify"]);
        println!(
            "{:<44} {:>9.0} {:>9} {:>9} {:>8.1} {:>8.1}",
            format!("smv serve, {accounts}-account vault"),
            r.per_sec,
            common::ms(r.p50),
            common::ms(r.p99),
            rss,
            peak
        );
        println!(
            "{:<44} {:>9.2}× the baseline's rate; {} audit entries for {} posts",
            "",
            r.per_sec / base.per_sec,
            after.saturating_sub(before),
            CLIENTS * posts_per_client()
        );
    }
}
