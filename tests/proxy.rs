//! `smv serve` end to end: a real server process on an ephemeral loopback port (and a Unix
//! socket), driven by the real `smv` client from a second sandbox that has no vault and no
//! key, posting to a loopback fake network.

// System calls without a safe wrapper in std, on processes and pipes this test made:
// kill(2) (SIGTERM to the server), fcntl(F_GETPIPE_SZ), geteuid(2).
#![allow(unsafe_code)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::fake_http::{FakeServer, Resp};
use support::{Run, Sandbox, canary_forms, echo};

const CANARY: &str = "mastodon-canary-0f9e8d7c6b5a";

/// A running `smv serve`; SIGTERM on drop.
struct Server {
    child: Option<Child>,
    url: String,
    socket: PathBuf,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(s: &Sandbox, socket_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let socket = socket_dir.join("smv.sock");
        let mut cmd = s.command();
        cmd.envs(env.iter().copied()).args([
            "--json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--socket",
            socket.to_str().unwrap(),
            "--queue-every",
            "0",
        ]);
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn smv serve");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let ready: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| {
            panic!("no ready line ({e}): {first:?}\n{}", stderr.lock().unwrap())
        });
        let url = ready["urls"][0].as_str().unwrap().to_string();
        Server {
            child: Some(child),
            url,
            socket,
            stderr,
        }
    }

    /// SIGTERM, and the exit code.
    fn stop(&mut self) -> i32 {
        let mut child = self.child.take().unwrap();
        unsafe { libc_kill(child.id() as i32, 15) };
        child.wait().unwrap().code().unwrap_or(-1)
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The client side: a HOME of its own, no vault, no identity.
fn client(server: &str, token: Option<&str>) -> Sandbox {
    let c = Sandbox::new();
    c.set_env("SMV_SERVER", server);
    if let Some(t) = token {
        c.set_env("SMV_TOKEN", t);
    }
    c
}

fn mint(s: &Sandbox, args: &[&str]) -> (String, String) {
    let mut full = vec!["--json", "token", "create"];
    full.extend_from_slice(args);
    let v = s.smv(&full).ok().json();
    (
        v["token"].as_str().unwrap().to_string(),
        v["record"]["accessor"].as_str().unwrap().to_string(),
    )
}

/// A day's `post` token for bob on `masto`.
fn bob_masto_token(s: &Sandbox) -> String {
    let args = [
        "--name",
        "bob",
        "--account",
        "masto",
        "--level",
        "post",
        "--expires",
        "1d",
        "--for",
        "bob",
    ];
    mint(s, &args).0
}

fn fake_mastodon(delay: Duration) -> FakeServer {
    FakeServer::start(move |req, n| {
        match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({"configuration": {"statuses": {"max_characters": 500}}})),
        // Echoes the token, as some networks do in errors: it must not reach the client.
        "/api/v1/statuses" if req.json()["status"] == "echo" => Resp::json(
            401,
            json!({"error": format!("bad token {}", req.header("authorization").unwrap_or(""))}),
        ),
        "/api/v1/statuses" => Resp::json(
            200,
            json!({"id": format!("{}", 100 + n), "url": format!("https://social.example/@co/{}", 100 + n)}),
        )
        .after(delay),
        _ => Resp::text(404, "no"),
    }
    })
}

/// alice (admin, the server's key); bob, a member with no key: `post` on both accounts.
fn vault(network: &FakeServer) -> Sandbox {
    let s = Sandbox::new();
    s.init();
    s.smv_in(
        &[
            "account",
            "add",
            "masto",
            "--provider",
            "mastodon",
            "--url",
            &network.url,
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["member", "add", "bob"]).ok();
    s.smv(&["grant", "bob", "masto", "post"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s
}

fn socket_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    support::chmod(d.path(), 0o755);
    d
}

fn assert_no_canary(what: &str, text: &str) {
    for f in canary_forms(CANARY) {
        assert!(
            !text.contains(&f),
            "{what} contains the canary ({f}):\n{text}"
        );
    }
}

#[test]
fn a_member_without_a_key_posts_through_the_proxy_within_the_token() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let mut server = Server::start(&s, dir.path(), &[], &[]);
    let (token, accessor) = mint(
        &s,
        &[
            "--name",
            "bob-masto",
            "--account",
            "masto",
            "--level",
            "post",
            "--expires",
            "30d",
            "--for",
            "bob",
        ],
    );
    let c = client(&server.url, Some(&token));

    // Same output as locally: whoami names bob and the token, no key.
    let me = c.smv(&["--json", "whoami"]).ok().json();
    assert_eq!(
        (me["member"].as_str(), me["role"].as_str()),
        (Some("bob"), Some("member"))
    );
    assert_eq!(me["channel"], format!("token:{accessor}"));
    assert_eq!(me["recipient"], serde_json::Value::Null);
    assert_eq!(me["grants"], 1, "the token reaches one of bob's two grants");
    // The server's file layout is not shown: where the proxy is, instead.
    assert_eq!(
        me["vault"],
        format!("held by the proxy at {}", server.url).as_str()
    );

    // Posts to the token's account; the network saw the vault's token.
    let sent = c
        .smv(&["--json", "post", "masto", "Hello from the proxy"])
        .ok()
        .json();
    assert_eq!(sent[0]["status"], "posted");
    assert!(
        sent[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://social.example/@co/")
    );
    let posted = network
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/statuses")
        .unwrap();
    assert_eq!(
        posted.header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );
    c.smv(&["post", "masto", "and the table"])
        .ok()
        .stdout_has("posted");

    // The other account: bob may, his token may not. Refused, audited with the accessor.
    c.smv(&["post", "demo", "not with this token"])
        .fails(4)
        .stderr_has("denied");
    let entries = s.audit_entries();
    let denied = entries
        .iter()
        .rev()
        .find(|e| e.outcome == smv::audit::Outcome::Denied)
        .expect("a denied entry");
    assert_eq!(denied.actor, "bob");
    assert_eq!(denied.channel.to_string(), format!("token:{accessor}"));
    let ok = entries
        .iter()
        .find(|e| e.action == "post" && e.outcome == smv::audit::Outcome::Ok)
        .unwrap();
    assert_eq!(ok.channel.to_string(), format!("token:{accessor}"));
    // The server's log line and the audit entry share the request id.
    assert!(server.log().contains(&ok.request_id), "{}", server.log());

    // The provider echoes the token in an error: the client sees it redacted.
    c.smv(&["post", "masto", "echo"]).fails(11);

    // Through the proxy an admin's token is not an admin: vault-level commands are refused
    // on the client with the way to run them, and the server refuses admin routes.
    let (alice_token, _) = mint(
        &s,
        &[
            "--name",
            "alice-daily",
            "--account",
            "masto,demo",
            "--level",
            "manage",
            "--expires",
            "7d",
        ],
    );
    let a = client(&server.url, Some(&alice_token));
    a.smv(&["member", "add", "eve"])
        .fails(6)
        .stderr_has("needs a custodian");
    a.smv(&["unfreeze", "--all"]).fails(4);
    a.smv(&["--json", "whoami"])
        .ok()
        .stdout_has("\"role\": \"member\"");

    // Freeze (locally, by alice): proxy posts stop, and say why.
    s.smv(&["freeze", "masto", "--reason", "crisis drill"]).ok();
    c.smv(&["post", "masto", "during the freeze"])
        .fails(4)
        .stderr_has("crisis drill");
    c.smv(&["status"]).ok().stdout_has("crisis drill");
    s.smv(&["unfreeze", "masto"]).ok();

    // Drafts and approvals through the proxy, with two members' tokens.
    s.smv(&["grant", "alice", "masto", "approve"]).ok();
    let draft = c
        .smv(&["--json", "draft", "masto", "Reviewed text"])
        .ok()
        .json();
    let id = draft["id"].as_str().unwrap().to_string();
    a.smv(&["approve", &id]).ok();
    c.smv(&["--json", "publish", &id]).ok().stdout_has("posted");

    // Revoked: refused, audited as the token.
    s.smv(&["token", "revoke", &accessor]).ok();
    c.smv(&["whoami"]).fails(6).stderr_has("did not accept");
    let last = s.audit_entries().pop().unwrap();
    assert_eq!(last.actor, format!("token:{accessor}"));
    assert_eq!(last.outcome, smv::audit::Outcome::Denied);
    assert_eq!(last.reason.as_deref(), Some("the token was revoked"));

    // Expired: minted two days in the past for one day.
    let (old, _) = {
        let v = s
            .smv_env(
                &[("SMV_TEST_CLOCK_OFFSET", "-172800")],
                &[
                    "--json",
                    "token",
                    "create",
                    "--name",
                    "old",
                    "--account",
                    "masto",
                    "--level",
                    "post",
                    "--expires",
                    "1d",
                    "--for",
                    "bob",
                ],
            )
            .ok()
            .json();
        (v["token"].as_str().unwrap().to_string(), ())
    };
    client(&server.url, Some(&old)).smv(&["whoami"]).fails(6);
    assert_eq!(
        s.audit_entries().pop().unwrap().reason.as_deref(),
        Some("the token has expired")
    );

    // Nothing on the client side holds the account's secret: outputs, files, environment.
    for sandbox in [&c, &a] {
        for text in sandbox.transcript.borrow().iter() {
            assert_no_canary("client output", text);
        }
        for f in sandbox.files_except(&[]) {
            assert_no_canary(
                &f.display().to_string(),
                &String::from_utf8_lossy(&std::fs::read(&f).unwrap()),
            );
        }
    }
    assert_no_canary("server log", &server.log());
    assert_eq!(server.stop(), 0, "{}", server.log());
}

#[test]
fn concurrent_posts_through_the_proxy_and_the_cli_share_one_rate_guard() {
    // Slow enough that the posts overlap: intents are written while others are in flight.
    let network = fake_mastodon(Duration::from_millis(200));
    let s = vault(&network);
    s.smv(&["policy", "set", "masto", "--max-posts", "4", "--per", "1h"])
        .ok();
    s.smv(&["grant", "alice", "masto", "post"]).ok();
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let token = bob_masto_token(&s);
    let c = client(&server.url, Some(&token));
    let spawn = |mut cmd: Command, text: String| {
        cmd.args(["post", "masto", &text])
            .env("SMV_LOCK_TIMEOUT_MS", "60000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    // Ten clients through the server (one process, one audit group at a time) and two
    // local posts by a custodian (other processes, the same gate and log).
    let mut children: Vec<Child> = (0..10)
        .map(|i| spawn(c.command(), format!("through the proxy {i}")))
        .collect();
    children.extend((0..2).map(|i| spawn(s.command(), format!("from the CLI {i}"))));
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap()).collect();
    let stderr: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == 0).count(),
        4,
        "{codes:?} {stderr:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == 4).count(),
        8,
        "{codes:?} {stderr:?}"
    );
    let sent = network
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/statuses")
        .count();
    assert_eq!(sent, 4);
    // Every entry is durable and the log is intact: 4 intents each closed by its outcome
    // (same request id), 8 refusals.
    let entries = s.audit_entries();
    let posts: Vec<_> = entries.iter().filter(|e| e.action == "post").collect();
    let with = |o: smv::audit::Outcome| posts.iter().filter(|e| e.outcome == o).count();
    assert_eq!(with(smv::audit::Outcome::Intent), 4);
    assert_eq!(with(smv::audit::Outcome::Ok), 4);
    assert_eq!(with(smv::audit::Outcome::Denied), 8);
    for intent in posts
        .iter()
        .filter(|e| e.outcome == smv::audit::Outcome::Intent)
    {
        assert!(posts.iter().any(|e| e.outcome == smv::audit::Outcome::Ok
            && e.request_id == intent.request_id
            && e.target == intent.target));
    }
    s.smv(&["audit", "verify"]).ok();
}

#[test]
fn a_server_killed_under_load_leaves_a_log_that_verifies_and_no_post_without_its_intent() {
    let network = fake_mastodon(Duration::from_millis(100));
    let s = vault(&network);
    let dir = socket_dir();
    let mut server = Server::start(&s, dir.path(), &[], &[]);
    let token = bob_masto_token(&s);
    let c = client(&server.url, Some(&token));
    let children: Vec<Child> = (0..16)
        .map(|i| {
            let mut cmd = c.command();
            cmd.args(["post", "masto", &format!("under load {i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    // Kill -9 once some posts have reached the network and others are still arriving.
    for _ in 0..500 {
        if network
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count()
            >= 3
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut child = server.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    for mut c in children {
        c.wait().unwrap();
    }
    // The log verifies (interrupted posts are listed as incomplete, not as damage), and
    // every post the network received was logged as an intent first.
    s.smv(&["audit", "verify"]).ok();
    let entries = s.audit_entries();
    let intents: Vec<&str> = entries
        .iter()
        .filter(|e| e.action == "post" && e.outcome == smv::audit::Outcome::Intent)
        .filter_map(|e| e.details.get("text").and_then(|t| t.as_str()))
        .collect();
    let sent: Vec<String> = network
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/statuses")
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert!(sent.len() >= 3);
    for text in &sent {
        assert!(
            intents.contains(&text.as_str()),
            "{text} was sent without an intent"
        );
    }
    // The vault is intact: the server starts again on it.
    let again = Server::start(&s, dir.path(), &[], &[]);
    client(&again.url, Some(&token))
        .smv(&["post", "masto", "after the crash"])
        .ok();
}

unsafe extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}

/// The writable memory of a live process (heap, stacks, data): what it received and built.
/// `None` if this machine does not let a parent read its child's memory.
#[cfg(target_os = "linux")]
fn writable_memory(pid: u32) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with("rw") || line.contains("[vvar") || line.contains("[vsyscall]") {
            continue;
        }
        let (start, end) = range.split_once('-')?;
        let start = u64::from_str_radix(start, 16).ok()?;
        let end = u64::from_str_radix(end, 16).ok()?;
        let mut region = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_ok() && mem.read_exact(&mut region).is_ok() {
            out.extend_from_slice(&region);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[test]
#[cfg(target_os = "linux")]
fn the_client_process_memory_never_holds_the_account_secret() {
    use std::os::fd::AsRawFd;
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let token = bob_masto_token(&s);
    let c = client(&server.url, Some(&token));
    // The client's stdout is a full pipe: once it has the server's answer and writes its
    // output, it blocks there, alive, with everything it received still in its memory.
    let (mut reader, mut writer) = std::io::pipe().unwrap();
    const F_GETPIPE_SZ: i32 = 1032;
    let capacity = unsafe { fcntl(writer.as_raw_fd(), F_GETPIPE_SZ) };
    assert!(capacity > 0);
    std::io::Write::write_all(&mut writer, &vec![b'#'; capacity as usize]).unwrap();
    let probe = format!("memory probe {}", std::process::id());
    let mut cmd = c.command();
    cmd.args(["--json", "post", "masto", &probe])
        .stdout(writer)
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let pid = child.id();
    let mut blocked = false;
    for _ in 0..3000 {
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        if wchan.contains("pipe_write") {
            blocked = true;
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the client exited before writing its output"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(blocked, "the client never reached its output");
    let memory = writable_memory(pid);
    // Let it finish: its output is the post's result.
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut all).unwrap();
        all
    });
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = drain.join().unwrap();
    assert!(String::from_utf8_lossy(&stdout).contains("posted"));
    let Some(memory) = memory else {
        eprintln!("this machine does not let a parent read its child's memory: not checked");
        return;
    };
    // The dump is real: it holds what the client was given and what it received.
    assert!(memchr::memmem::find(&memory, probe.as_bytes()).is_some());
    assert!(memchr::memmem::find(&memory, b"social.example/@co/").is_some());
    for form in canary_forms(CANARY) {
        assert!(
            memchr::memmem::find(&memory, form.as_bytes()).is_none(),
            "the client's memory holds the account secret ({form})"
        );
    }
}

#[test]
fn a_post_in_flight_at_shutdown_is_finished_and_audited() {
    let network = fake_mastodon(Duration::from_millis(1500));
    let s = vault(&network);
    let dir = socket_dir();
    let mut server = Server::start(&s, dir.path(), &[], &[]);
    let token = bob_masto_token(&s);
    let c = client(&server.url, Some(&token));
    let mut cmd = c.command();
    cmd.args(["--json", "post", "masto", "slow network"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let post = cmd.spawn().unwrap();
    // Wait until the server has the request (the network has been called), then stop it.
    for _ in 0..100 {
        if network
            .requests()
            .iter()
            .any(|r| r.path == "/api/v1/statuses")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.stop(), 0, "{}", server.log());
    let out = post.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = s.audit_entries();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "post" && e.outcome == smv::audit::Outcome::Ok)
    );
    s.smv(&["audit", "verify"]).ok();
}

#[test]
fn unix_socket_peers_are_known_by_uid_and_others_refused() {
    if !support::require_tool("setpriv") {
        return;
    }
    if unsafe { geteuid() } != 0 {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs as root to switch users"
        );
        eprintln!("SKIPPED: switching uid needs root");
        return;
    }
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &["--uid", "65534=bob"], &[]);
    let sock = format!("unix:{}", server.socket.display());
    let as_uid = |uid: &str, args: &[&str]| -> Run {
        let c = client(&sock, None);
        support::chmod(c.home(), 0o755);
        let mut cmd = Command::new("setpriv");
        cmd.env_clear()
            .env("HOME", c.home())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SMV_KEYRING", "off")
            .env("SMV_SERVER", &sock)
            .args([
                "--reuid",
                uid,
                "--regid",
                uid,
                "--clear-groups",
                support::BIN,
            ])
            .args(args);
        c.run_cmd(cmd, None)
    };
    let me = as_uid("65534", &["--json", "whoami"]).ok().json();
    assert_eq!(me["member"], "bob");
    assert_eq!(me["channel"], "proxy");
    as_uid("65534", &["post", "demo", "from the socket"])
        .ok()
        .stdout_has("posted");
    let ok = s
        .audit_entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "post")
        .unwrap();
    assert_eq!(
        (ok.actor.as_str(), ok.channel.to_string().as_str()),
        ("bob", "proxy")
    );
    // Another user on the same machine: refused, before the vault is opened.
    as_uid("65533", &["whoami"])
        .fails(6)
        .stderr_has("did not accept");
}

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// A Unix peer the server maps to a member (`--uid UID=NAME`) acts as that member, but may
/// not mint a token: a mapping is the server's flag, and a token minted through it would
/// keep working after the mapping is removed. Refused (exit 4) and audited as denied; the
/// same member with their key mints as before. (The test maps its own uid: no root needed.)
#[test]
fn a_unix_peer_mapped_with_uid_cannot_mint_tokens() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    s.smv(&["grant", "alice", "masto", "post"]).ok();
    let dir = socket_dir();
    let me = unsafe { geteuid() }.to_string();
    let server = Server::start(&s, dir.path(), &["--uid", &format!("{me}=alice")], &[]);
    let c = client(&format!("unix:{}", server.socket.display()), None);
    let who = c.smv(&["--json", "whoami"]).ok().json();
    assert_eq!(who["member"], "alice");
    let args = [
        "token",
        "create",
        "--name",
        "from-peer",
        "--account",
        "masto",
        "--level",
        "post",
    ];
    c.smv(&args)
        .fails(4)
        .stderr_has("tokens never mint tokens")
        .stderr_has("hint:");
    let denied = s
        .audit_entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "token.create")
        .unwrap();
    assert_eq!(denied.outcome, smv::audit::Outcome::Denied);
    assert_eq!(denied.channel.to_string(), "proxy");
    drop(server);
    // With the key (no SMV_SERVER), the same member mints as before.
    s.smv(&args).ok();
}

#[test]
fn the_server_refuses_clear_text_off_loopback_and_serves_tls() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    s.smv(&["serve", "--listen", "0.0.0.0:0"])
        .fails(2)
        .stderr_has("TLS");
    if !support::require_tool("openssl") {
        return;
    }
    // A CA and a server certificate it signed (webpki refuses a CA certificate as a leaf).
    let (ca, ca_key) = (s.home().join("ca.pem"), s.home().join("ca.key"));
    let (cert, key, csr) = (
        s.home().join("cert.pem"),
        s.home().join("key.pem"),
        s.home().join("req.csr"),
    );
    let ext = s.home().join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .current_dir(s.home())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl {args:?}");
    };
    let p = |x: &PathBuf| x.to_str().unwrap().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=smv test CA",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ]);
    let dir = socket_dir();
    let mut server = Server::start(
        &s,
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "t",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let c = client(&server.url, Some(&token));
    // Without the CA the certificate is not trusted; with it, it is.
    c.smv(&["whoami"]).fails(9);
    c.smv_env(&[("SMV_SERVER_CA", ca.to_str().unwrap())], &["whoami"])
        .ok()
        .stdout_has("bob");
    // Plain http to a non-loopback server is refused by the client too.
    client("http://192.0.2.1:7878", Some(&token))
        .smv(&["whoami"])
        .fails(2)
        .stderr_has("clear");
    assert_eq!(server.stop(), 0);
}

#[test]
fn openapi_lists_exactly_the_routes_and_guessing_is_throttled() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    let doc: serde_json::Value = http
        .get(format!("{}/v1/openapi.json", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut table: Vec<_> = smv::api::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    table.sort();
    assert_eq!(documented, table);
    let resp = http.get(format!("{}/v1/nope", server.url)).send().unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // A body over the limit is refused before any operation.
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "t",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let big = json!({"targets": "demo", "text": "x".repeat(100_000)});
    let resp = http
        .post(format!("{}/v1/posts", server.url))
        .bearer_auth(&token)
        .json(&big)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    // Ten wrong tokens, then the address's guesses are refused unheard (no audit entry)…
    let wrong = format!("smv_t00000000_{}", "a".repeat(64));
    for _ in 0..10 {
        let r = http
            .get(format!("{}/v1/whoami", server.url))
            .bearer_auth(&wrong)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let before = s.audit_entries().len();
    let r = http
        .get(format!("{}/v1/whoami", server.url))
        .bearer_auth(&wrong)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        r.json::<serde_json::Value>().unwrap()["error"]["class"],
        "busy"
    );
    assert_eq!(s.audit_entries().len(), before);
    // …while a valid token from the same address keeps working.
    let r = http
        .get(format!("{}/v1/whoami", server.url))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Every documented route exists: the throttled address gets 429 from every protected
    // route (the gate runs only on matched routes) and 200 from the open ones; an unknown
    // route or method would be 404 or 405.
    for (method, path) in &documented {
        let url = format!(
            "{}{}",
            server.url,
            path.replace("{id}", "abc")
                .replace("{accessor}", "t00000000")
        );
        let resp = http
            .request(method.parse().unwrap(), &url)
            .json(&json!({}))
            .send()
            .unwrap();
        let code = resp.status().as_u16();
        let open = path == "/v1/health" || path == "/v1/openapi.json";
        assert_eq!(code, if open { 200 } else { 429 }, "{method} {path}");
    }
}

/// `smv login` keeps the token in the OS keyring (a private session keyring here), checked
/// with the server first; later commands find it there; `smv logout` forgets it.
#[test]
fn login_keeps_the_token_in_the_keyring_and_logout_forgets_it() {
    if !support::require_tool("keyctl") || !support::require_tool("unshare") {
        return;
    }
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "bob-daily",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let c = Sandbox::new();
    // The token travels in the environment of the script, not in its arguments.
    c.set_env("T", &token);
    c.set_env("URL", &server.url);
    let bin = support::BIN;
    let run = support::in_private_keyring(
        &c,
        &format!(
            "printf wrong-token | {bin} login \"$URL\" --token-stdin; echo \"bad=$?\"; \
             printf %s \"$T\" | {bin} login \"$URL\" --token-stdin && unset T && \
             SMV_SERVER=\"$URL\" {bin} --json whoami && \
             {bin} logout \"$URL\" && SMV_SERVER=\"$URL\" {bin} whoami; echo \"after=$?\""
        ),
    );
    assert!(
        run.stdout.contains("bad=6"),
        "a token the server refuses is not stored:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout
            .contains(&format!("Logged in to {} as bob", server.url)),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("\"member\": \"bob\""), "{}", run.stdout);
    assert!(run.stdout.contains("Forgot the token"), "{}", run.stdout);
    assert!(
        run.stdout.contains("after=2"),
        "after logout there is no token:\n{}",
        run.stderr
    );
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token));
}

/// Issue 15: every provider's echo shapes, posted through the proxy by a member who holds no
/// key. The proxy's JSON answers (read raw), the smv client's output, the server's log, the
/// audit log and its export show no secret in any form.
#[test]
fn echoes_of_every_provider_never_reach_a_non_custodian_through_the_proxy() {
    use support::echo;
    let s = Sandbox::new();
    s.init();
    s.smv(&["member", "add", "bob"]).ok();
    let mut nets = Vec::new();
    for name in echo::PROVIDERS {
        let placeholder = echo::account(name, "http://127.0.0.1:1");
        let server = echo::server(
            placeholder.provider,
            placeholder.canaries.clone(),
            placeholder.jwts.clone(),
        );
        let n = echo::account(name, &server.url);
        let account = name.to_string();
        let mut add = vec![
            "account",
            "add",
            account.as_str(),
            "--provider",
            n.provider,
            "--secret-stdin",
        ];
        if n.url {
            add.extend(["--url", server.url.as_str()]);
        }
        if let Some(h) = n.handle {
            add.extend(["--handle", h]);
        }
        s.smv_in(&add, n.secret.as_bytes()).ok();
        s.smv(&["grant", "bob", &account, "post"]).ok();
        nets.push((account, n, server));
    }
    let all: Vec<&str> = nets.iter().map(|(a, _, _)| a.as_str()).collect();
    let canaries: Vec<String> = nets
        .iter()
        .flat_map(|(_, n, _)| n.canaries.clone())
        .collect();
    let dir = socket_dir();
    let mut server = Server::start(&s, dir.path(), &[], &[]);
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "bob-all",
            "--account",
            &all.join(","),
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    let mut answers = 0;
    for (account, n, _) in &nets {
        for case in echo::cases_of(n) {
            let resp = http
                .post(format!("{}/v1/posts", server.url))
                .bearer_auth(&token)
                .json(&json!({"targets": account, "text": case}))
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.bytes().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            // The post reached the network (it did not stop at a check before it).
            let reached = v.to_string().contains("\"status\":\"failed\"")
                || v.to_string().contains("\"status\":\"posted\"")
                || v["error"]["class"] == "provider";
            assert!(reached, "{account} {case}: HTTP {status} {v}");
            echo::assert_clean(
                &format!("proxy answer {account} {case}"),
                &body,
                &n.canaries,
            );
            answers += 1;
        }
    }
    assert!(answers > 200, "{answers}");
    // The same through the smv client, with and without --json.
    let c = client(&server.url, Some(&token));
    for (account, _, _) in &nets {
        c.smv(&["post", account, "case-bsix1-json"]);
        c.smv(&["--json", "post", account, "case-splitzw-json"]);
        c.smv(&["--json", "post", account, "case-raw-ok"]);
    }
    for (i, text) in c.transcript.borrow().iter().enumerate() {
        echo::assert_clean(&format!("client output #{i}"), text.as_bytes(), &canaries);
    }
    assert_eq!(server.stop(), 0, "{}", server.log());
    echo::assert_clean("server log", server.log().as_bytes(), &canaries);
    let export = s.smv(&["audit", "export", "--format", "jsonl"]).ok();
    echo::assert_clean("audit export", export.stdout.as_bytes(), &canaries);
    let vault = s.vault();
    for f in s.files_except(&[&vault]) {
        echo::assert_clean(
            &f.display().to_string(),
            &std::fs::read(&f).unwrap(),
            &canaries,
        );
    }
}

/// Issue 15: a vault written by an older smv holds a secret with trailing whitespace
/// (`printf 'TOKEN \n\n' | smv account add … --secret-stdin` stored `TOKEN \n`). It is sent in
/// its canonical form and redacted in both forms — on the CLI, in the proxy's answer to a
/// member without a key and in the audit log — until the vault's next write stores the
/// canonical form (and its fingerprint).
#[test]
fn a_vault_holding_an_untrimmed_secret_is_redacted_in_both_forms_until_its_next_write() {
    let canonical = "CANARY-legacy/+=tok-4242abcd";
    let stored = format!("{canonical} \n");
    let network = FakeServer::start(move |req, _| {
        if req.path == "/api/v2/instance" {
            return Resp::json(200, json!({}));
        }
        // Echoes what it received, and the stored form in the shapes smv derives.
        let auth = req.header("authorization").unwrap_or_default().to_string();
        let token = auth.trim_start_matches("Bearer ").to_string();
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{token} \n"),
        );
        Resp::json(
            401,
            json!({"error": format!("bad token {auth}; registered {token} \n ({b64})")}),
        )
    });
    let s = Sandbox::new();
    s.init();
    s.smv_in(
        &[
            "account",
            "add",
            "masto",
            "--provider",
            "mastodon",
            "--url",
            &network.url,
            "--secret-stdin",
        ],
        format!("{canonical}\n").as_bytes(),
    )
    .ok();
    s.smv(&["member", "add", "bob"]).ok();
    s.smv(&["grant", "bob", "masto", "post"]).ok();
    s.smv(&["grant", "alice", "masto", "post"]).ok();
    // Minted now: minting writes the vault.
    let token = bob_masto_token(&s);

    // Write the vault as an older smv did: the secret column holds the untrimmed form, the
    // fingerprint is of that form.
    let text = std::fs::read_to_string(s.identity_file()).unwrap();
    let id = smv::identity::Identity::parse(&text, smv::identity::Source::Env).unwrap();
    let read_secret = || -> (Vec<u8>, String) {
        let v = smv::vault::Vault::load(&s.vault(), &id).unwrap();
        v.conn()
            .query_row(
                "SELECT secret, secret_fingerprint FROM accounts WHERE name = 'masto'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    {
        let v = smv::vault::Vault::load(&s.vault(), &id).unwrap();
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
        // As an older smv would have left it: the latest file its log records.
        support::record_vault_file(&s, &v);
    }
    assert_eq!(
        read_secret().0,
        stored.as_bytes(),
        "the legacy vault is in place"
    );

    // Posting: locally, and through the proxy by bob (no key).
    s.smv(&["post", "masto", "hello", "--json"]).fails(11);
    s.smv(&["post", "masto", "hello"]).fails(11);
    let sent = network
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/api/v1/statuses")
        .unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {canonical}").as_str()),
        "sent in its canonical form"
    );
    let dir = socket_dir();
    let mut server = Server::start(&s, dir.path(), &[], &[]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}/v1/posts", server.url))
        .bearer_auth(&token)
        .json(&json!({"targets": "masto", "text": "through the proxy"}))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&answer).contains("[REDACTED]"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let c = client(&server.url, Some(&token));
    c.smv(&["--json", "post", "masto", "again"]).fails(11);
    assert_eq!(server.stop(), 0, "{}", server.log());
    let forms = [canonical.to_string(), stored.clone()];
    echo::assert_clean("proxy answer", &answer, &forms);
    for sandbox in [&s, &c] {
        for text in sandbox.transcript.borrow().iter() {
            echo::assert_clean("output", text.as_bytes(), &forms);
        }
    }
    let vault = s.vault();
    for f in s.files_except(&[&vault]) {
        echo::assert_clean(
            &f.display().to_string(),
            &std::fs::read(&f).unwrap(),
            &forms,
        );
    }
    // Reading did not change the file.
    assert_eq!(read_secret().0, stored.as_bytes());

    // The next write of the vault (any change) stores the canonical form and its fingerprint.
    s.smv(&["member", "add", "carol"]).ok();
    let (secret, fingerprint) = read_secret();
    assert_eq!(secret, canonical.as_bytes());
    let hash = s
        .smv_in(&["audit", "hash", "--stdin"], canonical.as_bytes())
        .ok()
        .stdout;
    assert_eq!(hash.trim(), fingerprint);
}

/// Issue 15: `SMV_TOKEN` follows the same rule as `smv login`: a trailing newline (as a secret
/// store or `$(cat file)` leaves it) is not part of the token; a control character inside is
/// refused with a hint, before anything is sent.
#[test]
fn smv_token_is_read_in_the_canonical_form() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let mut server = Server::start(&s, dir.path(), &[], &[]);
    let token = bob_masto_token(&s);
    let c = client(&server.url, Some(&format!("{token}\n")));
    c.smv(&["--json", "whoami"])
        .ok()
        .stdout_has("\"member\": \"bob\"");
    let bad = client(
        &server.url,
        Some(&format!("{}\u{1}{}", &token[..8], &token[8..])),
    );
    bad.smv(&["whoami"])
        .fails(2)
        .stderr_has("control character")
        .stderr_has("SMV_TOKEN");
    assert_eq!(server.stop(), 0, "{}", server.log());
    assert!(!server.log().contains(&token));
}

fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn outbox_texts(s: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(s.data_dir().join("outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Guessing from an address does not lock out the valid tokens used from it, a success does
/// not reset the count (no fresh budget of guesses), and a throttled client is told it is
/// busy (exit 8, 429 with Retry-After), not that something conflicts.
#[test]
fn guessing_does_not_lock_out_valid_tokens_and_a_throttled_client_is_busy() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "bob",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let good = client(&server.url, Some(&token));
    let wrong = format!("smv_t00000000_{}", "b".repeat(64));
    let bad = client(&server.url, Some(&wrong));
    // Nine guesses, a success in between, one more: ten failures in the window.
    for _ in 0..9 {
        bad.smv(&["whoami"]).fails(6);
    }
    good.smv(&["whoami"]).ok();
    bad.smv(&["whoami"]).fails(6);
    let before = s.audit_entries().len();
    bad.smv(&["whoami"])
        .fails(8)
        .stderr_has("too many failed authentications");
    bad.smv(&["post", "demo", "guess"]).fails(8);
    assert_eq!(
        s.audit_entries().len(),
        before,
        "throttled guesses write nothing"
    );
    // The honest client behind the same address keeps working, and its success opens no
    // new budget for the guesser.
    good.smv(&["post", "demo", "still here"]).ok();
    good.smv(&["whoami"]).ok();
    bad.smv(&["whoami"]).fails(8);
    assert_eq!(outbox_texts(&s), vec!["still here"]);
}

/// Tokens never mint tokens: not an admin's token, not for oneself, not for another; the
/// refusal is audited and nothing is minted. And a token acts at its effective level.
#[test]
fn a_token_cannot_mint_tokens_and_acts_at_its_effective_level() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    s.smv(&["grant", "alice", "demo", "manage"]).ok();
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let (admin_token, admin_accessor) = mint(
        &s,
        &[
            "--name",
            "alice-daily",
            "--account",
            "demo",
            "--level",
            "manage",
            "--expires",
            "1d",
        ],
    );
    let a = client(&server.url, Some(&admin_token));
    let accessors = || -> Vec<String> {
        let list = s.smv(&["--json", "token", "list", "--all"]).ok().json();
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["accessor"].as_str().unwrap().to_string())
            .collect()
    };
    let before = accessors();
    for extra in [&[][..], &["--for", "bob"][..]] {
        let mut args = vec![
            "token",
            "create",
            "--name",
            "child",
            "--account",
            "demo",
            "--level",
            "draft",
            "--expires",
            "366d",
        ];
        args.extend_from_slice(extra);
        a.smv(&args).fails(4).stderr_has("tokens never mint tokens");
        let last = s.audit_entries().pop().unwrap();
        assert_eq!(last.action, "token.create");
        assert_eq!(last.outcome, smv::audit::Outcome::Denied);
        assert_eq!(last.channel.to_string(), format!("token:{admin_accessor}"));
    }
    assert_eq!(accessors(), before, "nothing was minted");

    // An admin mints above bob's grant (post on demo): the token acts, and is listed, at
    // bob's level.
    let run = s
        .smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "bob-high",
            "--account",
            "demo",
            "--level",
            "manage",
            "--expires",
            "1d",
            "--for",
            "bob",
        ])
        .ok()
        .stderr_has("acts at the lower level");
    let high = run.json()["token"].as_str().unwrap().to_string();
    let accessor = run.json()["record"]["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    let list = s.smv(&["--json", "token", "list"]).ok().json();
    let view = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["accessor"] == accessor.as_str())
        .unwrap()
        .clone();
    assert_eq!(view["level"], "manage");
    assert_eq!(
        view["effective"],
        json!([{"account": "demo", "level": "post"}])
    );
    s.smv(&["token", "list"])
        .ok()
        .stdout_has("demo: post (token manage");
    let b = client(&server.url, Some(&high));
    b.smv(&["freeze", "demo", "--reason", "beyond bob"])
        .fails(4);
    b.smv(&["post", "demo", "within bob's grant"]).ok();
    // bob loses the grant: the token can do nothing, and the list says so.
    s.smv(&["revoke", "bob", "demo"]).ok();
    b.smv(&["post", "demo", "after the revoke"]).fails(4);
    s.smv(&["token", "list"]).ok().stdout_has("demo: nothing");
    assert_eq!(outbox_texts(&s), vec!["within bob's grant"]);
}

/// Ids in URLs are validated before anything sees them: a token holder cannot put escape
/// sequences into an audit entry (or a log line) through a path or a target.
#[test]
fn ids_and_names_from_a_request_are_validated_before_they_reach_the_audit_log() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "bob",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    let before = s.audit_entries().len();
    let evil = "%1B%5B2J%1B%5B31mALL%20CLEAR";
    for (method, path) in [
        ("GET", format!("/v1/drafts/{evil}")),
        ("PUT", format!("/v1/drafts/{evil}")),
        ("POST", format!("/v1/drafts/{evil}/approve")),
        ("POST", format!("/v1/drafts/{evil}/reject")),
        ("POST", format!("/v1/drafts/{evil}/publish")),
        ("POST", format!("/v1/queue/{evil}/cancel")),
        ("POST", format!("/v1/queue/{evil}/release")),
        ("DELETE", format!("/v1/tokens/{evil}")),
        ("POST", "/v1/drafts/d1234567/approve".to_string()),
    ] {
        let body = match method {
            "PUT" => json!({"text": "x"}),
            "POST" if path.ends_with("reject") => json!({"reason": "x"}),
            "POST" if path.ends_with("publish") => json!({}),
            _ => json!({}),
        };
        let mut req = http
            .request(method.parse().unwrap(), format!("{}{path}", server.url))
            .bearer_auth(&token);
        if method != "GET" && method != "DELETE" {
            req = req.json(&body);
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{method} {path}");
    }
    // A target list or an account name with control characters: the same.
    for (path, body) in [
        (
            "/v1/posts",
            json!({"targets": "demo,\u{1b}[2J", "text": "x"}),
        ),
        (
            "/v1/drafts",
            json!({"targets": "\u{202e}demo", "text": "x"}),
        ),
        ("/v1/freeze", json!({"account": "demo\r", "reason": "x"})),
    ] {
        let resp = http
            .post(format!("{}{path}", server.url))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{path}");
    }
    let entries = s.audit_entries();
    assert_eq!(entries.len(), before, "nothing was recorded");
    let all = serde_json::to_string(&entries).unwrap();
    assert!(!all.contains("\\u001b") && !all.contains("ALL CLEAR"));
}

/// A post scheduled through a token follows the token: it may not be due after the token
/// expires; revoking the token holds it at once; a token that expired or an owner who lost
/// the grant holds it when due. Held posts go out only when their author releases them
/// under credentials valid then.
#[test]
fn a_post_scheduled_through_a_token_follows_its_authority() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let bob_token = |name: &str, expires: &str| {
        mint(
            &s,
            &[
                "--name",
                name,
                "--account",
                "demo",
                "--level",
                "post",
                "--expires",
                expires,
                "--for",
                "bob",
            ],
        )
    };
    let (t1, a1) = bob_token("one", "1d");
    let c1 = client(&server.url, Some(&t1));
    // Beyond the token's life: refused, with the way out.
    c1.smv(&["post", "demo", "too late", "--at", &in_secs(2 * 86_400)])
        .fails(2)
        .stderr_has(&format!("after the token {a1} expires"))
        .stderr_has("hint:");
    // Within it: scheduled, and the queue names the token.
    let q = c1
        .smv(&[
            "--json",
            "post",
            "demo",
            "revoked first",
            "--at",
            &in_secs(600),
        ])
        .ok()
        .json();
    let q1 = q[0]["id"].as_str().unwrap().to_string();
    assert_eq!(q[0]["token"], a1.as_str());
    // Revoked: held at once, with the reason.
    s.smv(&["token", "revoke", &a1]).ok().stderr_has(&q1);
    let listed = s.smv(&["--json", "queue"]).ok().json();
    assert_eq!(listed[0]["status"], "held");
    assert!(listed[0]["note"].as_str().unwrap().contains("revoked"));
    // Released by an admin on the dead token's behalf: refused.
    s.smv(&["queue", "release", &q1])
        .fails(5)
        .stderr_has("no longer valid");

    // Expired by the time it is due: held when the queue runs.
    let (t2, _) = bob_token("two", "1h");
    let c2 = client(&server.url, Some(&t2));
    let q2 = c2
        .smv(&[
            "--json",
            "post",
            "demo",
            "expired by then",
            "--at",
            &in_secs(1800),
        ])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The owner loses the grant before it is due: held too.
    let (t3, _) = bob_token("three", "1d");
    let c3 = client(&server.url, Some(&t3));
    let q3 = c3
        .smv(&[
            "--json",
            "post",
            "demo",
            "grant gone",
            "--at",
            &in_secs(1800),
        ])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.smv(&["revoke", "bob", "demo"]).ok();
    let run = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", "3700")],
            &["--json", "queue", "run"],
        )
        .ok()
        .json();
    let status = |id: &str| {
        run.as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == id)
            .map(|q| {
                (
                    q["status"].as_str().unwrap().to_string(),
                    q["note"].as_str().unwrap_or_default().to_string(),
                )
            })
            .unwrap()
    };
    let (st, note) = status(&q2);
    assert_eq!(st, "held");
    assert!(note.contains("expired"), "{note}");
    let (st, note) = status(&q3);
    assert_eq!(st, "held");
    assert!(note.contains("no grant"), "{note}");
    assert!(outbox_texts(&s).is_empty(), "nothing went out");
    let lapsed = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.outcome == smv::audit::Outcome::Denied && e.actor == "bob")
        .count();
    assert!(lapsed >= 2);

    // bob, with the grant back and a token of today, releases the revoked one: it goes out
    // under his current token.
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    let (t4, a4) = bob_token("four", "1d");
    let released = client(&server.url, Some(&t4))
        .smv(&["--json", "queue", "release", &q1])
        .ok()
        .json();
    assert_eq!(released[0]["token"], a4.as_str());
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "700")], &["queue", "run"])
        .ok();
    assert_eq!(outbox_texts(&s), vec!["revoked first"]);
}

/// Commands that need the vault say so through the proxy (exit 6) before they ask for
/// anything: no confirmation, no secret prompt.
#[test]
fn vault_commands_through_the_proxy_refuse_before_prompting() {
    let c = client("http://127.0.0.1:9", Some("smv_t00000000_x"));
    for args in [
        &["offboard", "bob"][..],
        &["member", "remove", "bob"],
        &["rotate", "demo"],
        &[
            "account",
            "add",
            "x2",
            "--provider",
            "mastodon",
            "--url",
            "https://m.example",
        ],
        &["account", "remove", "demo"],
        &["audit", "hash"],
    ] {
        c.smv(args).fails(6).stderr_has("needs a custodian's key");
    }
}

/// A leaver's CI token handed to the heir gets a new secret in the same change: the old one
/// (which the leaver saw) is refused at once and audited as such; the new one works, as
/// the heir's; neither the report nor the audit log holds it.
#[test]
fn a_handed_over_ci_token_gets_a_new_secret_and_the_old_one_dies() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let joe = s.add_custodian("joe", "member");
    s.smv(&["member", "add", "carol"]).ok();
    s.smv(&["grant", "joe", "demo", "post"]).ok();
    s.smv(&["grant", "carol", "demo", "post"]).ok();
    let v = s
        .smv_as(
            &joe,
            &[
                "--json",
                "token",
                "create",
                "--name",
                "release-ci",
                "--account",
                "demo",
                "--ci",
                "--expires",
                "30d",
            ],
        )
        .ok()
        .json();
    let old = v["token"].as_str().unwrap().to_string();
    let accessor = v["record"]["accessor"].as_str().unwrap().to_string();
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    client(&server.url, Some(&old))
        .smv(&["post", "demo", "before"])
        .ok();

    let handover = s.home().join("handover");
    std::fs::create_dir(&handover).unwrap();
    support::chmod(&handover, 0o700);
    let report = s
        .smv(&[
            "--json",
            "offboard",
            "joe",
            "--to",
            "carol",
            "--yes",
            "--handover-dir",
            handover.to_str().unwrap(),
        ])
        .ok();
    let file = handover.join(format!("release-ci-{accessor}.token"));
    let new = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(new.starts_with(&format!("smv_{accessor}_")) && new != old);
    assert!(!report.stdout.contains(&new[15..]) && !report.stderr.contains(&new[15..]));

    // The leaver's copy: refused, and the log says it was the old secret.
    client(&server.url, Some(&old))
        .smv(&["post", "demo", "from the leaver"])
        .fails(6);
    let last = s.audit_entries().pop().unwrap();
    assert_eq!(last.actor, format!("token:{accessor}"));
    assert_eq!(last.outcome, smv::audit::Outcome::Denied);
    assert_eq!(
        last.reason.as_deref(),
        Some("the token's secret does not match")
    );
    // The new one: the heir's.
    let c = client(&server.url, Some(&new));
    assert_eq!(c.smv(&["--json", "whoami"]).ok().json()["member"], "carol");
    c.smv(&["post", "demo", "from the job"]).ok();
    let sent = s
        .audit_entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "post" && e.outcome == smv::audit::Outcome::Ok)
        .unwrap();
    assert_eq!(
        (sent.actor.as_str(), sent.channel.to_string()),
        ("carol", format!("token:{accessor}"))
    );
    let log = serde_json::to_string(&s.audit_entries()).unwrap();
    assert!(!log.contains(&new[15..]) && !log.contains(&old[15..]));
    assert_eq!(outbox_texts(&s), vec!["before", "from the job"]);
}

/// What a server says is data from the network: its messages, hints, warnings and results
/// are shown with their control and bidirectional characters escaped.
#[test]
fn what_a_server_answers_is_shown_escaped() {
    let fake = FakeServer::start(|req, _| match req.path.as_str() {
        "/v1/status" => Resp::json(
            200,
            json!({"request_id": "r", "warnings": ["\u{1b}[2Jwarned\r"], "result": {
                "frozen": [{"account": "demo", "reason": "\u{202e}kcatta\u{1b}[31m", "frozen_by": "eve\u{7}", "frozen_at": "2026-01-01T00:00:00Z", "until": null}],
                "drafts_pending": 0, "queued": 0, "held": 0}}),
        ),
        _ => Resp::json(
            403,
            json!({"request_id": "r", "error": {"class": "denied", "code": 4,
                "message": "denied\u{1b}]0;owned\u{7}\rall is well", "hint": "\u{202e}dlrow"}}),
        ),
    });
    let c = client(&fake.url, Some("smv_t00000000_x"));
    let run = c.smv(&["whoami"]).fails(4);
    let status = c.smv(&["status"]).ok();
    let json = c.smv(&["--json", "status"]).ok();
    for (what, text) in [
        ("error", &run.stderr),
        ("status", &status.stdout),
        ("warning", &status.stderr),
        ("json", &json.stdout),
    ] {
        for raw in ['\u{1b}', '\r', '\u{7}', '\u{202e}'] {
            assert!(!text.contains(raw), "{what}: {raw:?} printed raw:\n{text}");
        }
    }
    assert!(
        run.stderr.contains("\\u{1b}]0;owned\\u{7}\\rall is well"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\\u{202e}dlrow"), "{}", run.stderr);
    assert!(
        status.stdout.contains("\\u{202e}kcatta"),
        "{}",
        status.stdout
    );
    assert!(
        status.stderr.contains("\\u{1b}[2Jwarned\\r"),
        "{}",
        status.stderr
    );
    // The JSON is the exact data.
    assert_eq!(
        json.json()["frozen"][0]["reason"],
        "\u{202e}kcatta\u{1b}[31m"
    );
}

/// Issue 17: unknown outcomes through the proxy. A post whose network times out after
/// publishing is `unknown` to the member (exit 12, nothing sent by a retry); resolving it
/// needs `approve` (a `post` token is refused, audited); the route validates its seq; and
/// `GET /v1/audit/entries?since=garbage` answers 400 (before: an unchecked filter).
#[test]
fn unknown_outcomes_are_resolved_through_the_proxy() {
    let network = fake_mastodon(Duration::from_millis(1500));
    let s = vault(&network);
    s.smv(&["grant", "bob", "masto", "approve"]).ok();
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[("SMV_HTTP_TIMEOUT_MS", "400")]);
    let post_token = bob_masto_token(&s);
    let c = client(&server.url, Some(&post_token));
    let r = c
        .smv(&[
            "--json",
            "post",
            "masto",
            "hello",
            "--idempotency-key",
            "h1",
        ])
        .fails(12)
        .json();
    assert_eq!(r[0]["status"], "unknown");
    let seq = r[0]["intent_seq"].as_u64().unwrap().to_string();
    c.smv(&["post", "masto", "hello", "--idempotency-key", "h1"])
        .fails(12)
        .stderr_has("smv posts resolve");
    let statuses = || {
        network
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count()
    };
    assert_eq!(statuses(), 1);
    let st = c.smv(&["--json", "status"]).ok().json();
    assert_eq!(st["unknown"][0]["intent_seq"].to_string(), seq);
    // `post` is not enough to resolve; the refusal is audited.
    c.smv(&[
        "posts",
        "resolve",
        &seq,
        "--published",
        "https://social.example/@co/1",
    ])
    .fails(4);
    assert!(
        s.audit_entries()
            .iter()
            .any(|e| e.action == "post.resolve" && e.outcome.as_str() == "denied")
    );
    let (approve_token, _) = mint(
        &s,
        &[
            "--name",
            "bob-approve",
            "--account",
            "masto",
            "--level",
            "approve",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let approver = client(&server.url, Some(&approve_token));
    let done = approver
        .smv(&[
            "--json",
            "posts",
            "resolve",
            &seq,
            "--published",
            "https://social.example/@co/100",
        ])
        .ok()
        .json();
    assert_eq!(done["resolution"], "published");
    let r = c
        .smv(&[
            "--json",
            "post",
            "masto",
            "hello",
            "--idempotency-key",
            "h1",
        ])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(statuses(), 1);
    // Raw requests: a seq that is no number, a resolution without a reason, a bad time.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    let before = s.audit_entries().len();
    for (path, body, code) in [
        (
            "/v1/posts/1x/resolve",
            json!({"resolution": "published", "url": "https://x/1"}),
            400,
        ),
        (
            "/v1/posts/%1B%5B2J/resolve",
            json!({"resolution": "published", "url": "https://x/1"}),
            400,
        ),
        // A body that is no resolution: refused by the extractor (422, like every route).
        (
            "/v1/posts/3/resolve",
            json!({"resolution": "not_published"}),
            422,
        ),
        ("/v1/posts/3/resolve", json!({"resolution": "maybe"}), 422),
        (
            "/v1/posts/3/resolve",
            json!({"resolution": "published", "url": "ftp://x/1"}),
            400,
        ),
    ] {
        let resp = http
            .post(format!("{}{path}", server.url))
            .bearer_auth(&approve_token)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), code, "{path} {body}");
        let body: serde_json::Value = resp.json().unwrap();
        assert_eq!(body["error"]["class"], "usage");
    }
    assert_eq!(s.audit_entries().len(), before, "nothing was recorded");
}

/// `GET /v1/audit/entries?since=garbage` answers 400 (before: the unchecked text was
/// compared with the log's times and answered 200 with whatever it matched); a good time in
/// another offset or as a date is taken.
#[test]
fn audit_entries_with_a_time_that_is_none_answer_400() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    // The server's key is alice's: an admin acting through the socket would need a uid map;
    // a token caps her to a member, who may not read the log, so the time is checked first.
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "reader",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
        ],
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    for q in [
        "since=garbage",
        "until=yesterday",
        "since=2026-13-45",
        "since=%1B%5B2J",
    ] {
        let resp = http
            .get(format!("{}/v1/audit/entries?{q}", server.url))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{q}");
        let body: serde_json::Value = resp.json().unwrap();
        assert_eq!(body["error"]["class"], "usage", "{q}");
        assert!(
            !body["error"]["message"]
                .as_str()
                .unwrap()
                .contains('\u{1b}')
        );
    }
    // A real time passes the check (and meets the rules: a member may not read the log).
    let resp = http
        .get(format!(
            "{}/v1/audit/entries?since=2026-01-01T00:00:00%2B01:00",
            server.url
        ))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}

/// A post the proxy does not finish within its request timeout is still being sent: the
/// member is told its outcome is unknown (exit 12, before: busy, exit 8), and the same
/// command with its key answers from the server's log once the post is done.
#[test]
fn a_post_the_proxy_cannot_finish_in_time_is_unknown_to_the_member() {
    let network = fake_mastodon(Duration::from_millis(2500));
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &["--request-timeout", "1s"], &[]);
    let c = client(&server.url, Some(&bob_masto_token(&s)));
    c.smv(&["post", "masto", "slow", "--idempotency-key", "s1"])
        .fails(12)
        .stderr_has("may be published");
    std::thread::sleep(Duration::from_millis(2500));
    let r = c
        .smv(&["--json", "post", "masto", "slow", "--idempotency-key", "s1"])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(
        network
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count(),
        1
    );
    // Without a key: the client made one and says it, so the lost answer can still be
    // asked for without posting twice (issue 24).
    let lost = c.smv(&["post", "masto", "slow too"]).fails(12);
    let at = lost
        .stderr
        .find("smv post --retry ")
        .unwrap_or_else(|| panic!("{}", lost.stderr));
    let key: String = lost.stderr[at + "smv post --retry ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    assert!(key.starts_with("p-") && key.len() == 18, "{key}");
    std::thread::sleep(Duration::from_millis(2500));
    let r = c.smv(&["--json", "post", "--retry", &key]).ok().json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(
        network
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count(),
        2
    );
}

/// `smv login` with no usable keyring: a clear identity error (exit 6) before the token is
/// asked for, naming the file fallback; `--file` keeps the token in `server-tokens.json`
/// (0600), which later commands read and refuse when others can read it; `smv logout`
/// forgets it.
#[test]
fn login_without_a_keyring_fails_clearly_and_a_file_keeps_the_token() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "bob-daily",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let c = Sandbox::new();
    // The sandbox turns the keyring off (SMV_KEYRING=off).
    c.smv_in(&["login", &server.url, "--token-stdin"], token.as_bytes())
        .fails(6)
        .stderr_has("no usable keyring")
        .stderr_has("--file");
    c.smv_in(
        &["login", &server.url, "--token-stdin", "--file"],
        token.as_bytes(),
    )
    .ok()
    .stdout_has("mode 0600");
    let file = c.data_dir().join("server-tokens.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    c.set_env("SMV_SERVER", &server.url);
    c.smv(&["--json", "whoami"]).ok().stdout_has("bob");
    support::chmod(&file, 0o644);
    c.smv(&["whoami"])
        .fails(6)
        .stderr_has("readable by other users");
    support::chmod(&file, 0o600);
    c.smv(&["logout", &server.url]).ok().stdout_has("Forgot");
    c.smv(&["whoami"]).fails(2).stderr_has("no token");
    for text in c.transcript.borrow().iter() {
        assert!(!text.contains(&token), "{text}");
    }
}

/// The client's side of a lost answer: the connection to the server closes after the post
/// was sent (a proxy in between dropped it): exit 12, "may have been published", never
/// "cannot reach the server"; a server that cannot be reached at all is an I/O error (9),
/// nothing sent. Reads (`status`) that lose their answer are not posts: exit 9.
#[test]
fn a_post_whose_answer_the_client_never_gets_is_unknown() {
    let hangs_up = FakeServer::start(|_, _| Resp::hang_up());
    let c = client(&hangs_up.url, Some("smv_t0000000a_notchecked"));
    c.smv(&["post", "demo", "hi", "--idempotency-key", "k"])
        .fails(12)
        .stderr_has("may have been published")
        .stderr_has("--idempotency-key");
    c.smv(&["status"]).fails(9);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let c = client(&url, Some("smv_t0000000a_notchecked"));
    c.smv(&["post", "demo", "hi"])
        .fails(9)
        .stderr_has("cannot reach");
}

/// `smv posts` through the proxy: the token's accounts only, each post with how it came
/// (`token:t… (ci)` for a CI token), and `posts show` of another account's post hidden.
#[test]
fn posts_through_the_proxy_shows_the_tokens_accounts_and_how_each_post_came() {
    let network = fake_mastodon(Duration::ZERO);
    let s = vault(&network);
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["post", "demo", "from alice, locally"]).ok();
    let dir = socket_dir();
    let _server = Server::start(&s, dir.path(), &[], &[]);
    let (token, accessor) = mint(
        &s,
        &[
            "--name",
            "release-ci",
            "--account",
            "masto",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
            "--ci",
        ],
    );
    let c = client(&_server.url, Some(&token));
    c.smv(&["post", "masto", "from the pipeline"]).ok();
    let listed = c.smv(&["--json", "posts"]).ok().json();
    let list = listed.as_array().unwrap();
    assert_eq!(list.len(), 1, "the token reaches masto only: {listed}");
    assert_eq!(list[0]["text"], "from the pipeline");
    assert_eq!(list[0]["member"], "bob");
    assert_eq!(list[0]["via"], format!("token:{accessor} (ci)"));
    let seq = list[0]["seq"].as_u64().unwrap().to_string();
    c.smv(&["posts", "show", &seq])
        .ok()
        .stdout_has("from the pipeline");
    // alice's local post to demo is not the token's to see, even by its number.
    let all = s.smv(&["--json", "posts"]).ok().json();
    let demo = all
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account"] == "demo")
        .unwrap()["seq"]
        .as_u64()
        .unwrap()
        .to_string();
    c.smv(&["posts", "show", &demo]).fails(3);
    c.smv(&["posts", "--account", "x\u{1b}"]).fails(2);
}

/// Issue 24 (3) through the proxy: a partial failure's key comes back with the results,
/// and `smv post --retry KEY` (`POST /v1/posts/retry`) sends to the failed target only.
#[test]
fn a_partial_failure_is_retried_through_the_proxy_by_its_key() {
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = tries.clone();
    let network = FakeServer::start(move |req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        // The first post is refused (certainly not published), the next is taken.
        "/api/v1/statuses" => {
            if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Resp::json(422, json!({"error": "Validation failed: try later"}))
            } else {
                Resp::json(
                    200,
                    json!({"id": "501", "url": "https://social.example/@co/501"}),
                )
            }
        }
        _ => Resp::text(404, "no"),
    });
    let s = vault(&network);
    let dir = socket_dir();
    let server = Server::start(&s, dir.path(), &[], &[]);
    let (token, _) = mint(
        &s,
        &[
            "--name",
            "bob-both",
            "--account",
            "masto,demo",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ],
    );
    let c = client(&server.url, Some(&token));
    let run = c.smv(&["--json", "post", "demo,masto", "twice?"]).fails(11);
    let r = run.json();
    assert_eq!(r[0]["status"], "posted");
    assert_eq!(r[1]["status"], "failed");
    let key = r[0]["idempotency_key"].as_str().unwrap().to_string();
    assert!(
        run.stderr.contains(&format!("smv post --retry {key}")),
        "{}",
        run.stderr
    );
    let r = c.smv(&["--json", "post", "--retry", &key]).ok().json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(r[1]["status"], "posted");
    assert_eq!(r[1]["post_id"], "501");
    assert_eq!(outbox_texts(&s), ["twice?"], "demo once");
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
    // A key of nothing: 404 (exit 3), nothing recorded as sent.
    c.smv(&["post", "--retry", "p-0000000000000000"]).fails(3);
    // The route takes only its fields.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v1/posts/retry", server.url))
        .bearer_auth(&token)
        .json(&json!({"key": key, "targets": "masto"}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
}
