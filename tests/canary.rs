//! The canary sweep: plant a secret, run every command (success and failure paths), and
//! search every output and every file (except the encrypted vault and the file the secret
//! was read from) for the secret in any common encoding. Later features extend this sweep.

mod support;

use std::path::Path;

use support::{Sandbox, canary_forms};

const CANARY: &str = "CANARY-s3cr3t/+=&?tok-7f3a9c";

fn assert_clean(s: &Sandbox, skip: &[&Path]) {
    let forms = canary_forms(CANARY);
    for (i, text) in s.transcript.borrow().iter().enumerate() {
        for f in &forms {
            assert!(
                !text.contains(f.as_str()),
                "output #{i} contains the canary ({f}):\n{text}"
            );
        }
    }
    let mut vault_skip: Vec<&Path> = skip.to_vec();
    let vault = s.vault();
    vault_skip.push(&vault);
    let files = s.files_except(&vault_skip);
    assert!(
        files.iter().any(|f| f.ends_with("vault.smv.audit")),
        "the sweep must cover the audit log"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for f in &forms {
            assert!(
                !bytes.windows(f.len()).any(|w| w == f.as_bytes()),
                "{} contains the canary ({f})",
                file.display()
            );
        }
    }
}

#[test]
fn the_canary_appears_nowhere() {
    let s = Sandbox::new();
    s.init();
    // An X credential whose secret fields are the canary (the shape an X account takes).
    let secret_file = s.home().join("secret-input.txt");
    std::fs::write(&secret_file, support::x_cred(CANARY)).unwrap();
    let sf = secret_file.to_str().unwrap();
    // A webhook URL is a secret too.
    let hook_file = s.home().join("hook-input.txt");
    std::fs::write(&hook_file, format!("https://hooks.example/in/{CANARY}")).unwrap();

    // Success paths.
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--handle",
            "@co",
            "--url",
            "http://127.0.0.1:9",
            "--secret-stdin",
        ],
        &support::x_cred(CANARY),
    )
    .ok();
    s.smv(&[
        "account",
        "add",
        "slack-hook",
        "--provider",
        "webhook",
        "--secret-file",
        hook_file.to_str().unwrap(),
    ])
    .ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    for json in [false, true] {
        let j: &[&str] = if json { &["--json"] } else { &[] };
        for cmd in [
            &["account", "list"][..],
            &["access"],
            &["whoami"],
            &["member", "list"],
            &["identity", "show"],
            &["providers"],
        ] {
            let mut args = cmd.to_vec();
            args.extend_from_slice(j);
            s.smv(&args).ok();
        }
    }
    s.smv(&["member", "add", "joe"]).ok();
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "joe", "x-main", "post"]).ok();
    s.smv(&["grant", "bob", "x-main", "manage"]).ok();
    s.smv_as(&bob, &["account", "list", "--json"]).ok();
    s.smv(&["revoke", "joe", "x-main"]).ok();

    // Failure paths, several with the canary on stdin or in a file.
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred(CANARY),
    )
    .fails(5);
    s.smv_in(
        &[
            "account",
            "add",
            "y",
            "--provider",
            "nope",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(2);
    s.smv_in(
        &[
            "account",
            "add",
            "bad name",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(2);
    s.smv(&[
        "account",
        "add",
        "demo2",
        "--provider",
        "outbox",
        "--secret-file",
        sf,
    ])
    .fails(2);
    s.smv_in(
        &[
            "account",
            "add",
            "m",
            "--provider",
            "mastodon",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(2);
    s.smv_as(
        &bob,
        &[
            "account",
            "add",
            "z",
            "--provider",
            "x",
            "--secret-file",
            sf,
        ],
    )
    .fails(4);
    s.smv_as(&bob, &["account", "remove", "x-main", "--yes"])
        .fails(4);
    s.smv(&["grant", "joe", "x-main", "root"]).fails(2);
    s.smv(&["account", "remove", "nope", "--yes"]).fails(3);
    let mut crash = s.command();
    crash.env("SMV_FAILPOINT", "vault-write:error").args([
        "account",
        "add",
        "w",
        "--provider",
        "x",
        "--secret-file",
        sf,
    ]);
    s.run_cmd(crash, None).fails(9);

    // Posting next to the secret: to the outbox, and failed on x-main (its API is a closed
    // port on this machine).
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["grant", "alice", "x-main", "post"]).ok();
    s.smv(&["post", "demo", "hello", "--json"]).ok();
    s.smv(&["post", "demo,x-main", "hello"]).fails(11);
    s.smv(&["post", "x-main", "hello", "--dry-run"]).ok();
    s.smv_as(&bob, &["post", "x-main", "hello"]).fails(11); // bob manages x-main
    s.smv(&["account", "check", "x-main"]).fails(11);
    // A secret given in the wrong shape is refused without being quoted.
    s.smv_in(
        &[
            "account",
            "add",
            "x-raw",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(2)
    .stderr_has("line 1");
    s.smv(&["audit", "log", "--json"]).ok();
    s.smv(&["audit", "export", "--format", "jsonl"]).ok();
    s.smv(&["audit", "export", "--format", "csv"]).ok();

    // Removing the account and a custodian who could read it.
    s.smv(&["member", "remove", "bob", "--yes", "--json"]).ok();
    s.smv(&["account", "remove", "slack-hook", "--yes", "--json"])
        .ok();
    s.smv(&["account", "remove", "x-main", "--yes"]).ok();

    assert_clean(&s, &[&secret_file, &hook_file]);
    // The sweep itself must be able to fail: the secret input file does contain the canary.
    let input = std::fs::read_to_string(&secret_file).unwrap();
    assert!(
        canary_forms(CANARY)
            .iter()
            .any(|f| input.contains(f.as_str()))
    );
}

#[test]
fn the_vault_holds_the_secret_only_encrypted() {
    let s = Sandbox::new();
    s.init();
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred(CANARY),
    )
    .ok();
    let bytes = s.vault_bytes();
    assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));
    // …but it is there, decryptable by a custodian: the sweep above is not vacuous.
    let text = std::fs::read_to_string(s.identity_file()).unwrap();
    let id = smv::identity::Identity::parse(&text, smv::identity::Source::Env).unwrap();
    let vault = smv::vault::Vault::load(&s.vault(), &id).unwrap();
    let account = vault.account("x-main").unwrap();
    let secret = vault.account_secret(&account).unwrap().unwrap();
    assert_eq!(
        secret.expose_to_provider(),
        support::x_cred(CANARY).trim_ascii_end()
    );
    assert!(!format!("{account:?} {secret:?} {vault:?}").contains("CANARY"));
}

// ---------------------------------------------------------------------------------------
// Networks that echo: every provider, every echo shape, every place. Issue 15.
// ---------------------------------------------------------------------------------------

use support::echo;

/// Runs every echo case against one provider's account, on the CLI (text and --json), and
/// checks every output, the audit log file and its exports for the canaries in any form.
fn sweep_provider(name: &'static str) {
    // The server needs the canaries; the canaries of webhooks need the server's URL.
    let placeholder = echo::account(name, "http://127.0.0.1:1");
    let server = echo::server(
        placeholder.provider,
        placeholder.canaries.clone(),
        placeholder.jwts.clone(),
    );
    let n = echo::account(name, &server.url);
    let s = Sandbox::new();
    s.init();
    let mut add = vec![
        "account",
        "add",
        "acc",
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
    s.smv(&["grant", "alice", "acc", "post"]).ok();

    for (i, case) in echo::cases_of(&n).iter().enumerate() {
        let mut args = vec!["post", "acc", case.as_str()];
        if i % 2 == 0 {
            args.push("--json");
        }
        let run = s.smv(&args);
        // Every case must reach the network: a refusal before it would prove nothing.
        let expected = if case.ends_with("-ok") { 0 } else { 11 };
        assert_eq!(
            run.code, expected,
            "{name} {case}: {}\n{}",
            run.stdout, run.stderr
        );
    }
    s.smv(&["account", "check", "acc"]);
    s.smv(&["--json", "account", "check", "acc"]);
    s.smv(&["audit", "log", "--json"]).ok();
    s.smv(&["audit", "export", "--format", "jsonl"]).ok();
    s.smv(&["audit", "export", "--format", "csv"]).ok();
    // The network did receive the secret: the sweep is not vacuous.
    let requests = server.requests();
    assert!(
        requests.iter().any(|r| {
            let all = format!(
                "{} {:?} {}",
                r.path,
                r.headers,
                String::from_utf8_lossy(&r.body)
            );
            n.canaries.iter().any(|c| all.contains(c.as_str()))
                || r.header("authorization")
                    .is_some_and(|a| a.starts_with("Basic "))
        }),
        "{name}: no request carried the secret"
    );

    for (i, text) in s.transcript.borrow().iter().enumerate() {
        echo::assert_clean(
            &format!("{name}: output #{i}"),
            text.as_bytes(),
            &n.canaries,
        );
    }
    let vault = s.vault();
    let files = s.files_except(&[&vault]);
    assert!(files.iter().any(|f| f.ends_with("vault.smv.audit")));
    for file in files {
        echo::assert_clean(
            &format!("{name}: {}", file.display()),
            &std::fs::read(&file).unwrap(),
            &n.canaries,
        );
    }
}

#[test]
fn echoes_mastodon() {
    sweep_provider("mastodon");
}

#[test]
fn echoes_x_oauth1() {
    sweep_provider("x1");
}

#[test]
fn echoes_x_oauth2_with_its_token_endpoint() {
    sweep_provider("x2");
}

#[test]
fn echoes_bluesky_with_its_sessions() {
    sweep_provider("bluesky");
}

#[test]
fn echoes_linkedin() {
    sweep_provider("linkedin");
}

#[test]
fn echoes_facebook() {
    sweep_provider("facebook");
}

#[test]
fn echoes_slack() {
    sweep_provider("slack");
}

#[test]
fn echoes_slack_webhook() {
    sweep_provider("slack-webhook");
}

#[test]
fn echoes_discord() {
    sweep_provider("discord");
}

#[test]
fn echoes_telegram() {
    sweep_provider("telegram");
}

#[test]
fn echoes_generic_webhook() {
    sweep_provider("webhook");
}

/// The outbox holds no secret and calls no network: nothing to echo. Its posts still reach
/// the log, and nothing else of the sandbox leaks there.
#[test]
fn echoes_outbox_has_nothing_to_echo() {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["post", "demo", "case-raw-json", "--json"]).ok();
    let info = s.smv(&["--json", "providers"]).ok().json();
    let outbox = info
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "outbox")
        .unwrap();
    assert_eq!(outbox["needs_secret"], false);
}

/// The detector sees every shape the echoing network uses: without redaction, the sweep
/// above fails.
#[test]
fn the_detector_sees_every_echo_shape() {
    let canary = "CANARY-det/+=tok-5e1f0a9b";
    for shape in echo::SHAPES {
        for m in [
            format!("Bearer {canary}"),
            format!("/bot{canary}/sendMessage"),
            canary.to_string(),
        ] {
            let e = echo::shape(shape, &m);
            assert!(
                !echo::leaks(e.as_bytes(), canary).is_empty(),
                "{shape} of {m:?} not detected: {e:?}"
            );
            // Also inside JSON, as the outputs and the audit log hold text.
            let j = serde_json::json!({ "error": e }).to_string();
            assert!(
                !echo::leaks(j.as_bytes(), canary).is_empty(),
                "{shape} in JSON"
            );
        }
    }
    // `Basic base64(id:secret)`: the secret at an offset inside the base64.
    for id in ["c", "cl", "cli", "client-1"] {
        let b = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{id}:{canary}"),
        );
        assert!(!echo::leaks(format!("Basic {b}").as_bytes(), canary).is_empty());
    }
    assert!(echo::leaks(b"nothing to see [REDACTED]", canary).is_empty());
}

// ---------------------------------------------------------------------------------------
// Values smv derives from a secret: echoed in their own encodings, through every place.
// Issue 23, finding 6.
// ---------------------------------------------------------------------------------------

use base64::Engine as _;
use serde_json::json;
use support::fake_http::{FakeServer, Resp};

/// How the X token endpoint echoes the `Basic` header it received, by post text.
fn echo_of_basic(text: &str, header: &str) -> String {
    let b64 = header.trim_start_matches("Basic ");
    let std = base64::engine::general_purpose::STANDARD;
    match text {
        "hexheader" => echo::hex(header.as_bytes()),
        "hexupb64" => echo::hex(b64.as_bytes()).to_uppercase(),
        "b64header" => std.encode(header),
        "b64b64" => std.encode(format!("x{b64}")),
        "lower" => header.to_ascii_lowercase(),
        _ => header.to_string(),
    }
}

/// Each value smv builds from a secret is redacted in every encoding a server can echo it
/// in, on the CLI (text and --json), in a member's answers through the proxy, in the
/// proxy's log and in the audit log: X's `Basic` header for the OAuth 2.0 token endpoint
/// (re-encoded as hex or base64: before, only `id:secret` was known, so its base64's hex
/// went out whole), and Bluesky's session JWTs shown by `account check`.
#[test]
fn values_derived_from_a_secret_are_redacted_everywhere() {
    let client_secret = "CANARY-xcs-derived/+=-6a5b4c";
    let client_id = "client-7";
    let pair = format!("{client_id}:{client_secret}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pair);
    let header = format!("Basic {b64}");
    let canaries = vec![client_secret.to_string(), b64.clone(), header.clone()];
    let network = {
        let header = header.clone();
        FakeServer::start(move |req, _| match req.path.as_str() {
            // The access token is refused: smv refreshes it at the token endpoint, which
            // echoes the Basic header it was sent in its error.
            "/2/tweets" => Resp::json(401, json!({"title": "Unauthorized"})),
            "/2/oauth2/token" => {
                let got = req.header("authorization").unwrap_or_default().to_string();
                assert_eq!(got, header, "smv sends the Basic header");
                Resp::json(
                    400,
                    json!({"error": "invalid_client", "error_description": echo_of_basic(&MODE.lock().unwrap(), &got)}),
                )
            }
            "/xrpc/com.atproto.server.createSession" => Resp::json(
                200,
                json!({"accessJwt": "CANARYjwtA.eyJhbGciOiJIUzI1NiJ9.a1b2c3d4", "refreshJwt": "CANARYjwtR.eyJhbGciOiJIUzI1NiJ9.e5f6a7b8", "did": "did:plc:co", "handle": "co.test"}),
            ),
            // Echoes the session's access token in a field `account check` shows.
            "/xrpc/com.atproto.server.getSession" => {
                let bearer = req.header("authorization").unwrap_or_default();
                let jwt = bearer.trim_start_matches("Bearer ").to_string();
                Resp::json(200, json!({"handle": jwt, "did": "did:plc:co"}))
            }
            _ => Resp::text(404, ""),
        })
    };
    let s = Sandbox::new();
    s.init();
    let secret = format!(
        "access_token=CANARY-xa-derived-11aa\nrefresh_token=CANARY-xr-derived-22bb\nclient_id={client_id}\nclient_secret={client_secret}\n"
    );
    s.smv_in(
        &[
            "account",
            "add",
            "xx",
            "--provider",
            "x",
            "--handle",
            "@co",
            "--url",
            &network.url,
            "--secret-stdin",
        ],
        secret.as_bytes(),
    )
    .ok();
    s.smv_in(
        &[
            "account",
            "add",
            "sky",
            "--provider",
            "bluesky",
            "--handle",
            "co.test",
            "--url",
            &network.url,
            "--secret-stdin",
        ],
        b"CANARY-bsky-app-pw-33cc",
    )
    .ok();
    s.smv(&["grant", "alice", "xx", "post"]).ok();
    s.smv(&["member", "add", "bob"]).ok();
    s.smv(&["grant", "bob", "xx", "post"]).ok();
    let token = s
        .smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "bob",
            "--account",
            "xx",
            "--level",
            "post",
            "--expires",
            "1d",
            "--for",
            "bob",
        ])
        .ok()
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let server = support::serve::Server::start(&s);
    let bob = server.client(&token);
    for mode in [
        "raw",
        "hexheader",
        "hexupb64",
        "b64header",
        "b64b64",
        "lower",
    ] {
        *MODE.lock().unwrap() = mode.to_string();
        s.smv(&["post", "xx", &format!("local {mode}")]).fails(11);
        s.smv(&["--json", "post", "xx", &format!("local json {mode}")])
            .fails(11);
        bob.smv(&["--json", "post", "xx", &format!("proxy {mode}")])
            .fails(11);
        bob.smv(&["post", "xx", &format!("proxy text {mode}")])
            .fails(11);
    }
    // The refresh was tried every time: the sweep is not vacuous.
    assert!(
        network
            .requests()
            .iter()
            .filter(|r| r.path == "/2/oauth2/token")
            .count()
            >= 24
    );
    let jwts = vec![
        "CANARYjwtA.eyJhbGciOiJIUzI1NiJ9.a1b2c3d4".to_string(),
        "CANARYjwtR.eyJhbGciOiJIUzI1NiJ9.e5f6a7b8".to_string(),
    ];
    s.smv(&["account", "check", "sky"]).ok();
    s.smv(&["--json", "account", "check", "sky"]).ok();
    s.smv(&["audit", "log", "--json"]).ok();
    let mut all = canaries.clone();
    all.extend(jwts);
    for (i, text) in s
        .transcript
        .borrow()
        .iter()
        .chain(bob.transcript.borrow().iter())
        .enumerate()
    {
        echo::assert_clean(&format!("output #{i}"), text.as_bytes(), &all);
    }
    echo::assert_clean("the proxy's log", server.log().as_bytes(), &all);
    echo::assert_clean("the audit log", &std::fs::read(s.audit()).unwrap(), &all);
    // The detector sees each echo: without redaction, the sweep above fails.
    for mode in ["hexheader", "hexupb64", "b64header", "b64b64", "lower"] {
        let e = echo_of_basic(mode, &header);
        assert!(
            canaries
                .iter()
                .any(|c| !echo::leaks(e.as_bytes(), c).is_empty()),
            "{mode}"
        );
    }
}

static MODE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
