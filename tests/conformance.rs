//! Conformance against servers we did not write (../shared/PEERS.md): Prism mocks that
//! validate every request against the networks' published OpenAPI specs, and a real Bluesky
//! PDS. The peers are installed by `scripts/install-peers.sh` (.ci/run calls it); in CI a peer
//! that cannot start fails the test, elsewhere the test says SKIPPED.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::Sandbox;

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn peers_installed() -> bool {
    // This file's own HTTP client, like smv's, uses rustls with ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ok = peers_dir().join("node_modules/.bin/prism").exists() && support::require_tool("node");
    if !ok {
        assert!(
            !in_ci(),
            "the conformance peers are not installed: run scripts/install-peers.sh"
        );
        eprintln!("SKIPPED: conformance peers not installed (scripts/install-peers.sh)");
    }
    ok
}

/// A peer process, killed (by PID) when the test ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, peer: &mut Peer, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(180) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = peer.0.try_wait() {
            panic!("{what} exited ({status}) before listening");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} did not listen on {port} within 180 s");
}

fn prism(spec: &str) -> (Peer, String) {
    let port = free_port();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/specs")
        .join(spec);
    assert!(spec.exists(), "{} is missing", spec.display());
    let child = Command::new(peers_dir().join("node_modules/.bin/prism"))
        .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
        .arg(&spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prism");
    (Peer(child), format!("http://127.0.0.1:{port}"))
}

/// A request that breaks the spec must be refused with the violations header: proof that the
/// mock validates, so that smv's accepted requests mean something.
fn assert_prism_bites(url: &str, path: &str, body: serde_json::Value) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}{path}"))
        .header("Authorization", "Bearer broken-request-test")
        .json(&body)
        .send()
        .unwrap();
    assert!(
        resp.status().is_client_error(),
        "{path}: a broken request got {}",
        resp.status()
    );
    assert!(
        resp.headers().contains_key("sl-violations"),
        "{path}: no sl-violations header"
    );
}

fn account(s: &Sandbox, provider: &str, url: Option<&str>, handle: Option<&str>, secret: &str) {
    let mut args = vec![
        "account",
        "add",
        provider,
        "--provider",
        provider,
        "--secret-stdin",
    ];
    if let Some(u) = url {
        args.extend(["--url", u]);
    }
    if let Some(h) = handle {
        args.extend(["--handle", h]);
    }
    s.smv_in(&args, secret.as_bytes()).ok();
    s.smv(&["grant", "alice", provider, "post"]).ok();
}

#[test]
fn requests_conform_to_the_published_specs() {
    if !peers_installed() {
        return;
    }
    // Start every mock at once: each takes a while to boot on a busy machine.
    let mut mastodon = prism("mastodon.openapi.json");
    let mut discord = prism("discord.openapi.json");
    let mut slack = prism("slack-web.openapi.json");
    let mut telegram = prism("telegram-bot.openapi.json");
    let mut x = prism("x-api-v2.openapi.json");
    for (peer, name) in [
        (&mut mastodon, "mastodon"),
        (&mut discord, "discord"),
        (&mut slack, "slack"),
        (&mut telegram, "telegram"),
        (&mut x, "x"),
    ] {
        let port: u16 = peer.1.rsplit(':').next().unwrap().parse().unwrap();
        wait_for_port(port, &mut peer.0, &format!("prism ({name})"));
    }
    let s = Sandbox::new();
    s.init();
    account(&s, "mastodon", Some(&mastodon.1), None, "masto-token");
    account(
        &s,
        "discord",
        None,
        None,
        &format!("{}/webhooks/123456789012345678/webhook-token", discord.1),
    );
    // Prism serves each spec's paths at its root.
    account(
        &s,
        "slack",
        Some(&slack.1),
        Some("C0123456789"),
        "xoxb-test-token",
    );
    account(
        &s,
        "telegram",
        Some(&telegram.1),
        Some("@company"),
        "123456:ABC-test-token",
    );
    // The spec's OAuth 1.0a scheme is checked as a header (see ../shared/PEERS.md).
    account(
        &s,
        "x",
        Some(&x.1),
        Some("@company"),
        "consumer_key=ck\nconsumer_secret=cs\naccess_token=1-at\naccess_token_secret=ats\n",
    );
    for target in ["mastodon", "discord", "slack", "telegram", "x"] {
        let run = s.smv(&[
            "post",
            target,
            "Release 2.1 is out 🎉 https://example.com/r",
            "--idempotency-key",
            "conf-1",
            "--json",
        ]);
        assert_eq!(
            run.code, 0,
            "{target}: the spec's mock refused smv's request:\n{}{}",
            run.stdout, run.stderr
        );
        let r = run.json();
        assert_eq!(r[0]["status"], "posted", "{target}: {r}");
        assert!(
            r[0]["post_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{target}: no post id in {r}"
        );
    }
    // And the mocks do reject what breaks the spec.
    assert_prism_bites(
        &x.1,
        "/2/tweets",
        serde_json::json!({"text": 12, "reply_settings": "nobody-at-all"}),
    );
    assert_prism_bites(
        &mastodon.1,
        "/api/v1/statuses",
        serde_json::json!({"status": 12, "visibility": "nope"}),
    );
    assert_prism_bites(
        &discord.1,
        "/webhooks/123456789012345678/webhook-token",
        serde_json::json!({"content": 12, "tts": "x"}),
    );
    assert_prism_bites(
        &telegram.1,
        "/bot123456:ABC-test-token/sendMessage",
        serde_json::json!({"text": 12}),
    );
    // Slack's arguments are form data: leave out the required channel.
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/chat.postMessage", slack.1))
        .bearer_auth("xoxb-test-token")
        .form(&[("text", "no channel")])
        .send()
        .unwrap();
    assert!(
        resp.status().is_client_error() && resp.headers().contains_key("sl-violations"),
        "slack: {}",
        resp.status()
    );
}

#[test]
fn bluesky_posts_read_back_from_a_real_pds() {
    if !peers_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new("node")
        .arg(peers_dir().join("pds.cjs"))
        .env("TMPDIR", tmp.path())
        .current_dir(peers_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the PDS");
    let stdout = child.stdout.take().unwrap();
    let peer = Peer(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let pds = serde_json::from_str::<serde_json::Value>(&line)
        .unwrap_or_else(|_| panic!("the PDS did not start: {line:?}"))["pds"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::blocking::Client::new();
    let xrpc = |method: &str, auth: Option<&str>, body: serde_json::Value| -> serde_json::Value {
        let mut r = http.post(format!("{pds}/xrpc/{method}")).json(&body);
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        let resp = r.send().unwrap();
        let status = resp.status();
        let v: serde_json::Value = resp.json().unwrap();
        assert!(status.is_success(), "{method}: {status} {v}");
        v
    };
    // Two accounts: the company's, and bob, whom the post mentions.
    let co = xrpc(
        "com.atproto.server.createAccount",
        None,
        serde_json::json!({"handle": "smv-co.test", "email": "co@example.com", "password": "main-password-1"}),
    );
    let bob = xrpc(
        "com.atproto.server.createAccount",
        None,
        serde_json::json!({"handle": "bob-smv.test", "email": "bob@example.com", "password": "main-password-2"}),
    );
    let app = xrpc(
        "com.atproto.server.createAppPassword",
        Some(co["accessJwt"].as_str().unwrap()),
        serde_json::json!({"name": "smv"}),
    );
    let app_password = app["password"].as_str().unwrap().to_string();

    let s = Sandbox::new();
    s.init();
    s.smv_in(
        &[
            "account",
            "add",
            "bsky",
            "--provider",
            "bluesky",
            "--url",
            &pds,
            "--handle",
            "smv-co.test",
            "--secret-stdin",
        ],
        app_password.as_bytes(),
    )
    .ok();
    s.smv(&["grant", "alice", "bsky", "post"]).ok();
    let text =
        "Grüße 🎉 an @bob-smv.test: das Release ist da https://example.com/release/2.1 #Release21";
    let r = s.smv(&["post", "bsky", text, "--json"]).ok().json();
    let uri = r[0]["post_id"].as_str().unwrap().to_string();
    assert!(
        uri.starts_with(&format!(
            "at://{}/app.bsky.feed.post/",
            co["did"].as_str().unwrap()
        )),
        "{uri}"
    );
    let rkey = uri.rsplit('/').next().unwrap();
    assert_eq!(
        r[0]["url"],
        format!("https://bsky.app/profile/smv-co.test/post/{rkey}")
    );

    // Read it back from the PDS and compare text and facets byte for byte.
    let record: serde_json::Value = http
        .get(format!("{pds}/xrpc/com.atproto.repo.getRecord"))
        .query(&[
            ("repo", co["did"].as_str().unwrap()),
            ("collection", "app.bsky.feed.post"),
            ("rkey", rkey),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let value = &record["value"];
    assert_eq!(value["text"], text);
    let at = |needle: &str| {
        let start = text.find(needle).unwrap();
        serde_json::json!({"byteStart": start, "byteEnd": start + needle.len()})
    };
    let facets = value["facets"].as_array().unwrap();
    let find = |t: &str| {
        facets
            .iter()
            .find(|f| f["features"][0]["$type"] == t)
            .unwrap_or_else(|| panic!("no {t} facet in {value}"))
    };
    assert_eq!(
        find("app.bsky.richtext.facet#mention")["index"],
        at("@bob-smv.test")
    );
    assert_eq!(
        find("app.bsky.richtext.facet#mention")["features"][0]["did"],
        bob["did"]
    );
    assert_eq!(
        find("app.bsky.richtext.facet#link")["index"],
        at("https://example.com/release/2.1")
    );
    assert_eq!(
        find("app.bsky.richtext.facet#link")["features"][0]["uri"],
        "https://example.com/release/2.1"
    );
    assert_eq!(
        find("app.bsky.richtext.facet#tag")["index"],
        at("#Release21")
    );
    assert_eq!(
        find("app.bsky.richtext.facet#tag")["features"][0]["tag"],
        "Release21"
    );

    // A second post reuses the session kept in the vault: one session for both.
    s.smv(&["post", "bsky", "second post"]).ok();
    s.smv(&["account", "check", "bsky"])
        .ok()
        .stdout_has("smv-co.test");
    let sessions = s
        .audit_entries()
        .iter()
        .filter(|e| e.action == "account.session" && e.outcome == smv::audit::Outcome::Ok)
        .count();
    assert_eq!(
        sessions, 1,
        "a session per post would be rate-limited by Bluesky"
    );
    // 301 graphemes are refused before anything is sent.
    s.smv(&["post", "bsky", &"é".repeat(301)])
        .fails(2)
        .stderr_has("300");
    // A wrong app password is a rejected credential, and the password appears nowhere.
    let t = Sandbox::new();
    t.init();
    t.smv_in(
        &[
            "account",
            "add",
            "bsky",
            "--provider",
            "bluesky",
            "--url",
            &pds,
            "--handle",
            "smv-co.test",
            "--secret-stdin",
        ],
        b"wrong-app-pass-1234",
    )
    .ok();
    t.smv(&["grant", "alice", "bsky", "post"]).ok();
    let r = t.smv(&["post", "bsky", "hi", "--json"]).fails(11).json();
    assert!(
        r[0]["error"]
            .as_str()
            .unwrap()
            .contains("rejected the credential"),
        "{r}"
    );

    // Rotation. An app password cannot make app passwords (createAppPassword needs a session
    // of the main password): `--auto` says so and how to do it by hand, and changes nothing.
    s.smv(&["rotate", "bsky", "--auto"])
        .fails(11)
        .stderr_has("main password")
        .stderr_has("smv rotate bsky");
    assert_eq!(s.smv(&["--json", "secrets"]).ok().json()[0]["version"], 1);
    // By hand: a new app password, proved with getSession before it replaces the old one.
    let second = xrpc(
        "com.atproto.server.createAppPassword",
        Some(co["accessJwt"].as_str().unwrap()),
        serde_json::json!({"name": "smv-2"}),
    )["password"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .smv_in(
            &["--json", "rotate", "bsky", "--secret-stdin"],
            second.as_bytes(),
        )
        .ok()
        .json();
    assert_eq!(r["secret_version"], 2);
    assert_eq!(r["checked"], "Bluesky account @smv-co.test");
    s.smv(&["post", "bsky", "after a rotation by hand"]).ok();
    // A wrong replacement is refused by the network's check; the working one stays.
    s.smv_in(
        &["rotate", "bsky", "--secret-stdin"],
        b"aaaa-bbbb-cccc-dddd",
    )
    .fails(11)
    .stderr_has("old secret is still in place");
    s.smv(&["post", "bsky", "still posting"]).ok();

    // With the account's main password in the vault, `--auto` makes a named app password,
    // proves it, and stores it; the report says the main password is still a person's job.
    let u = Sandbox::new();
    u.init();
    u.smv_in(
        &[
            "account",
            "add",
            "bsky",
            "--provider",
            "bluesky",
            "--url",
            &pds,
            "--handle",
            "smv-co.test",
            "--secret-stdin",
        ],
        b"main-password-1",
    )
    .ok();
    u.smv(&["grant", "alice", "bsky", "post"]).ok();
    let r = u.smv(&["--json", "rotate", "bsky", "--auto"]).ok().json();
    let label = r["label"].as_str().unwrap().to_string();
    assert!(label.starts_with("smv-bsky-"), "{label}");
    assert_eq!(r["checked"], "Bluesky account @smv-co.test");
    assert!(r["note"].as_str().unwrap().contains("main password"));
    let listed: serde_json::Value = http
        .get(format!("{pds}/xrpc/com.atproto.server.listAppPasswords"))
        .bearer_auth(co["accessJwt"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        listed["passwords"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == label.as_str()),
        "{listed}"
    );
    u.smv(&["post", "bsky", "posted with the app password smv made"])
        .ok();
    let secrets = u.smv(&["--json", "secrets"]).ok().json();
    assert_eq!(secrets[0]["label"], label.as_str());
    assert_eq!(secrets[0]["version"], 2);

    for out in s
        .transcript
        .borrow()
        .iter()
        .chain(t.transcript.borrow().iter())
        .chain(u.transcript.borrow().iter())
    {
        assert!(!out.contains(&app_password) && !out.contains("wrong-app-pass-1234"));
        assert!(!out.contains(&second) && !out.contains("main-password-1"));
    }
    drop(peer);
}
