//! The network providers against in-process fake servers on 127.0.0.1: the requests they
//! send, and every error path a real network can take (the conformance tests against the
//! networks' published specs and a real Bluesky server are in tests/conformance.rs).

mod support;

use std::time::Duration;

use serde_json::json;
use support::Sandbox;
use support::fake_http::{FakeServer, Resp};

const TOKEN: &str = "CANARY-tok/+=?&-9f8e7d";
/// A Telegram bot token has its own shape (the bot id, `:`, the token).
const TG_TOKEN: &str = "123456:CANARY-tg_tok-9f8e7d";

fn sandbox_with(provider: &str, url: Option<&str>, handle: Option<&str>, secret: &str) -> Sandbox {
    let s = Sandbox::new();
    s.init();
    let mut args = vec![
        "account",
        "add",
        "acc",
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
    s.smv(&["grant", "alice", "acc", "post"]).ok();
    s
}

fn assert_no_token(s: &Sandbox) {
    assert_no_secret(s, TOKEN);
}

fn assert_no_secret(s: &Sandbox, secret: &str) {
    let forms = support::canary_forms(secret);
    for text in s.transcript.borrow().iter() {
        for f in &forms {
            assert!(
                !text.contains(f.as_str()),
                "the token leaked ({f}) into:\n{text}"
            );
        }
    }
    let vault = s.vault();
    for file in s.files_except(&[&vault]) {
        let bytes = std::fs::read(&file).unwrap();
        for f in &forms {
            assert!(
                !bytes.windows(f.len()).any(|w| w == f.as_bytes()),
                "the token leaked ({f}) into {}",
                file.display()
            );
        }
    }
}

#[test]
fn mastodon_posts_with_bearer_token_idempotency_key_and_instance_limit() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(
            200,
            json!({"configuration": {"statuses": {"max_characters": 30, "characters_reserved_per_url": 23}}}),
        ),
        "/api/v1/statuses" => Resp::json(
            200,
            json!({"id": "1099", "url": "https://social.example/@co/1099"}),
        ),
        "/api/v1/accounts/verify_credentials" => Resp::json(200, json!({"acct": "co"})),
        "/oauth/token/info" => Resp::json(200, json!({"scope": "read write"})),
        _ => Resp::text(404, "no"),
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    let r = s
        .smv(&[
            "post",
            "acc",
            "Hello https://example.com/long/link",
            "--idempotency-key",
            "k1",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r[0]["post_id"], "1099");
    assert_eq!(r[0]["url"], "https://social.example/@co/1099");
    let reqs = server.requests();
    let post = reqs.iter().find(|r| r.path == "/api/v1/statuses").unwrap();
    assert_eq!(post.method, "POST");
    assert_eq!(
        post.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(post.json()["status"], "Hello https://example.com/long/link");
    let key = post.header("idempotency-key").unwrap();
    assert_eq!(key.len(), 32);
    // The instance's limit (30, URLs as 23) is enforced before any post.
    s.smv(&["post", "acc", "This text is longer than thirty characters"])
        .fails(2)
        .stderr_has("more than this instance's 30");
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count(),
        1
    );
    // The limit is cached: one instance request for all of the above.
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v2/instance")
            .count(),
        1
    );
    s.smv(&["account", "check", "acc"]).ok().stdout_has("@co");
    assert_no_token(&s);
}

#[test]
fn credential_rejected_is_reported_and_audited_without_the_token() {
    // The fake echoes the token back, in the body and in a header, as some networks do.
    let server = FakeServer::start(|req, _| {
        let auth = req.header("authorization").unwrap_or_default().to_string();
        if req.path == "/api/v2/instance" {
            return Resp::json(200, json!({}));
        }
        Resp::json(
            401,
            json!({"error": format!("The access token is invalid: {auth}")}),
        )
        .with_header("X-Echo", &auth)
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    let run = s.smv(&["post", "acc", "hi", "--json"]).fails(11);
    let r = run.json();
    assert_eq!(r[0]["status"], "failed");
    let err = r[0]["error"].as_str().unwrap();
    assert!(
        err.contains("rejected the credential") && err.contains("[REDACTED]"),
        "{err}"
    );
    s.smv(&["account", "check", "acc"])
        .fails(11)
        .stderr_has("rejected the credential");
    let failed = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "post" && e.outcome == smv::audit::Outcome::Failed)
        .unwrap();
    assert_eq!(failed.details["error_kind"], "credential_rejected");
    assert_no_token(&s);
}

#[test]
fn short_rate_limit_is_waited_once_long_one_fails_fast_with_reset_time() {
    let server = FakeServer::start(|req, n| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        _ if n == 1 => {
            Resp::json(429, json!({"error": "Too many requests"})).with_header("Retry-After", "1")
        }
        _ => Resp::json(200, json!({"id": "7"})),
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    let r = s.smv(&["post", "acc", "hi", "--json"]).ok().json();
    assert_eq!(r[0]["post_id"], "7");
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/statuses")
            .count(),
        2
    );

    let reset = chrono::Utc::now().timestamp() + 3600;
    let slow = FakeServer::start(move |req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        _ => Resp::json(429, json!({"detail": "Rate limit exceeded"}))
            .with_header("x-rate-limit-reset", &reset.to_string()),
    });
    let s = sandbox_with("mastodon", Some(&slow.url), None, TOKEN);
    let start = std::time::Instant::now();
    let r = s.smv(&["post", "acc", "hi", "--json"]).fails(11).json();
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "a long reset must not be waited for"
    );
    let err = r[0]["error"].as_str().unwrap();
    let until = chrono::DateTime::from_timestamp(reset, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        err.contains("rate limited until") && err.contains(&until),
        "{err}"
    );
}

/// A request that reached the network and got no trustworthy answer is an unknown outcome
/// (exit 12, `unknown` in the log), never a failure: a server error or a gateway's (500, 502,
/// 504), a timeout after sending, a reset, a success that cannot be read. A refusal the
/// network says (400), or a request turned away at the front door (503, 429), is a failure
/// (exit 11). Every error stays bounded.
#[test]
fn server_errors_timeouts_huge_and_malformed_bodies() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        _ => match req.json()["status"].as_str().unwrap_or_default() {
            "500" => Resp::text(500, "<html>Internal Server Error</html>"),
            "slow" => Resp::json(200, json!({"id": "late"})).after(Duration::from_millis(1500)),
            "huge" => Resp::text(502, &"x".repeat(3 * 1024 * 1024)),
            "malformed" => Resp::text(200, "{not json"),
            "504" => Resp::text(504, "gateway timeout"),
            "reset" => Resp::hang_up(),
            "503" => Resp::text(503, "down for maintenance"),
            "400" => Resp::json(400, json!({"error": "Validation failed"})),
            _ => Resp::json(200, json!({"id": "1"})),
        },
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    s.set_env("SMV_HTTP_TIMEOUT_MS", "500");
    let cases = [
        ("500", 12, "HTTP 500"),
        ("slow", 12, "timed out after the request was sent"),
        ("huge", 12, "HTTP 502"),
        ("malformed", 12, "not JSON"),
        ("504", 12, "HTTP 504"),
        ("reset", 12, "after the request was sent"),
        ("503", 11, "HTTP 503"),
        ("400", 11, "HTTP 400"),
    ];
    for (text, code, expected) in cases {
        let r = s.smv(&["post", "acc", text, "--json"]).fails(code).json();
        let status = if code == 12 { "unknown" } else { "failed" };
        assert_eq!(r[0]["status"], status, "{text}: {r}");
        let err = r[0]["error"].as_str().unwrap();
        assert!(err.contains(expected), "{text}: {err}");
        assert!(
            err.len() < 600,
            "{text}: the error is not bounded ({} bytes)",
            err.len()
        );
    }
    let outcomes: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "post" && e.outcome != smv::audit::Outcome::Intent)
        .map(|e| {
            (
                e.outcome.as_str(),
                e.details["error_kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let u = ("unknown", "unknown".to_string());
    assert_eq!(
        outcomes,
        [
            u.clone(),
            u.clone(),
            u.clone(),
            u.clone(),
            u.clone(),
            u,
            ("failed", "unavailable".into()),
            ("failed", "content_rejected".into()),
        ]
    );
    // Unknown outcomes are listed for a person to resolve.
    let status = s.smv(&["--json", "status"]).ok().json();
    assert_eq!(status["unknown"].as_array().unwrap().len(), 6, "{status}");
    // A network that cannot be reached certainly did nothing: failed, not unknown.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let s = sandbox_with(
        "mastodon",
        Some(&format!("http://127.0.0.1:{port}")),
        None,
        TOKEN,
    );
    let r = s.smv(&["post", "acc", "hi", "--json"]).fails(11).json();
    assert_eq!(r[0]["status"], "failed");
    assert!(
        r[0]["error"].as_str().unwrap().contains("cannot connect"),
        "{r}"
    );
}

#[test]
fn a_redirect_to_another_host_never_receives_the_credential() {
    let elsewhere = FakeServer::start(|_, _| Resp::json(200, json!({"id": "stolen"})));
    let target = format!(
        "{}/api/v1/statuses",
        elsewhere.url.replace("127.0.0.1", "localhost")
    );
    let server = FakeServer::start(move |req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        _ => Resp::text(307, "").with_header("Location", &target),
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    let r = s.smv(&["post", "acc", "hi", "--json"]).fails(11).json();
    assert!(
        r[0]["error"].as_str().unwrap().contains("not followed"),
        "{r}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "the other host received a request"
    );
}

#[test]
fn plain_http_to_another_machine_is_refused() {
    // Refused when the account is added (before: accepted, and refused only at the first
    // post), for an instance URL and for a webhook URL (the secret: never shown).
    let s = Sandbox::new();
    s.init();
    s.smv_in(
        &[
            "account",
            "add",
            "acc",
            "--provider",
            "mastodon",
            "--url",
            "http://social.example",
            "--secret-stdin",
        ],
        TOKEN.as_bytes(),
    )
    .fails(2)
    .stderr_has("must be https");
    let hook = "http://hooks.example/api/webhooks/1/CANARY-hook-secret";
    s.smv_in(
        &[
            "account",
            "add",
            "d",
            "--provider",
            "discord",
            "--secret-stdin",
        ],
        hook.as_bytes(),
    )
    .fails(2)
    .stderr_has("must be https");
    for text in s.transcript.borrow().iter() {
        assert!(!text.contains("CANARY-hook-secret"), "{text}");
    }
    s.smv(&["account", "list", "--json"]).ok().stdout_has("[]");
    // https, and http to this machine, are accepted.
    s.smv_in(
        &[
            "account",
            "add",
            "acc",
            "--provider",
            "mastodon",
            "--url",
            "https://social.example",
            "--secret-stdin",
        ],
        TOKEN.as_bytes(),
    )
    .ok();
    s.smv_in(
        &[
            "account",
            "add",
            "local",
            "--provider",
            "mastodon",
            "--url",
            "http://127.0.0.1:9",
            "--secret-stdin",
        ],
        TOKEN.as_bytes(),
    )
    .ok();
}

#[test]
fn discord_slack_and_generic_webhooks() {
    let server = FakeServer::start(|req, _| {
        if req.path.starts_with("/api/webhooks/") {
            Resp::json(200, json!({"id": "4242", "channel_id": "1"}))
        } else if req.path.starts_with("/services/") {
            Resp::text(200, "ok")
        } else {
            Resp::json(200, json!({"id": "w-1"}))
        }
    });
    for (provider, path, expected_id) in [
        (
            "discord",
            "/api/webhooks/123/CANARY-discord-tok-9f8e7d".to_string(),
            Some("4242"),
        ),
        (
            "slack-webhook",
            "/services/T0/B0/SECRETPART".to_string(),
            None,
        ),
        ("webhook", "/hook/secret-part".to_string(), Some("w-1")),
    ] {
        let url = format!("{}{path}", server.url);
        let s = sandbox_with(provider, None, None, &url);
        let r = s
            .smv(&["post", "acc", "@everyone hello", "--json"])
            .ok()
            .json();
        match expected_id {
            Some(id) => assert_eq!(r[0]["post_id"], id),
            None => assert!(r[0]["post_id"].as_str().unwrap().starts_with("local-")),
        }
        // The webhook URL is the secret: not in any output.
        for t in s.transcript.borrow().iter() {
            assert!(
                !t.contains(&path),
                "{provider}: the webhook URL leaked: {t}"
            );
        }
    }
    let reqs = server.requests();
    let discord = reqs
        .iter()
        .find(|r| r.path.starts_with("/api/webhooks/"))
        .unwrap();
    assert!(discord.path.ends_with("?wait=true"), "{}", discord.path);
    assert_eq!(discord.json()["content"], "@everyone hello");
    assert_eq!(discord.json()["allowed_mentions"], json!({"parse": []}));
    let slack = reqs
        .iter()
        .find(|r| r.path.starts_with("/services/"))
        .unwrap();
    assert_eq!(slack.json()["text"], "@everyone hello");
    // Discord's limit is checked before sending.
    let s = sandbox_with(
        "discord",
        None,
        None,
        &format!("{}/api/webhooks/1/t", server.url),
    );
    s.smv(&["post", "acc", &"a".repeat(2001)])
        .fails(2)
        .stderr_has("2000");
}

#[test]
fn slack_chat_post_message_maps_ok_false() {
    let server = FakeServer::start(|req, _| {
        let text = req.form().get("text").cloned().unwrap_or_default();
        match (req.path.as_str(), text.as_str()) {
            ("/chat.postMessage", "revoked") => {
                Resp::json(200, json!({"ok": false, "error": "token_revoked"}))
            }
            ("/chat.postMessage", "archived") => {
                Resp::json(200, json!({"ok": false, "error": "is_archived"}))
            }
            ("/chat.postMessage", _) => Resp::json(
                200,
                json!({"ok": true, "channel": "C1", "ts": "1700000000.000100"}),
            ),
            ("/auth.test", _) => Resp::json(
                200,
                json!({"ok": true, "user": "smvbot", "team": "Company"}),
            )
            .with_header("x-oauth-scopes", "channels:read,chat:write"),
            _ => Resp::text(404, ""),
        }
    });
    let s = sandbox_with(
        "slack",
        Some(&server.url),
        Some("C1"),
        "xoxb-CANARY-tok/+=?&-9f8e7d",
    );
    let r = s.smv(&["post", "acc", "hello", "--json"]).ok().json();
    assert_eq!(r[0]["post_id"], "C1/1700000000.000100");
    let req = &server.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some("Bearer xoxb-CANARY-tok/+=?&-9f8e7d")
    );
    assert_eq!(req.form()["channel"], "C1");
    assert_eq!(req.form()["text"], "hello");
    let r = s
        .smv(&["post", "acc", "revoked", "--json"])
        .fails(11)
        .json();
    assert!(r[0]["error"].as_str().unwrap().contains("token_revoked"));
    let r = s
        .smv(&["post", "acc", "archived", "--json"])
        .fails(11)
        .json();
    assert!(
        r[0]["error"]
            .as_str()
            .unwrap()
            .contains("rejected the content")
    );
    s.smv(&["account", "check", "acc"])
        .ok()
        .stdout_has("smvbot");
    // No channel configured: refused before sending.
    let s = sandbox_with("slack", Some(&server.url), None, "xoxb-1");
    s.smv(&["post", "acc", "hi"])
        .fails(2)
        .stderr_has("--handle");
}

#[test]
fn telegram_token_in_the_path_is_never_shown() {
    let server = FakeServer::start(|req, _| {
        if req.path.ends_with("/sendMessage") {
            if req.json()["text"] == "flood" {
                return Resp::json(
                    429,
                    json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests at {}", req.path), "parameters": {"retry_after": 120}}),
                );
            }
            if req.json()["text"] == "bad" {
                return Resp::json(
                    401,
                    json!({"ok": false, "error_code": 401, "description": format!("Unauthorized: {}", req.path)}),
                );
            }
            return Resp::json(
                200,
                json!({"ok": true, "result": {"message_id": 55, "chat": {"id": -100, "username": "company"}}}),
            );
        }
        if req.path.ends_with("/getChatMember") {
            return Resp::json(
                200,
                json!({"ok": true, "result": {"status": "administrator", "can_post_messages": true}}),
            );
        }
        Resp::json(
            200,
            json!({"ok": true, "result": {"id": 4242, "username": "company_bot"}}),
        )
    });
    let s = sandbox_with("telegram", Some(&server.url), Some("@company"), TG_TOKEN);
    let r = s.smv(&["post", "acc", "hello", "--json"]).ok().json();
    assert_eq!(r[0]["post_id"], "55");
    assert_eq!(r[0]["url"], "https://t.me/company/55");
    let req = &server.requests()[0];
    assert_eq!(req.path, format!("/bot{TG_TOKEN}/sendMessage"));
    assert_eq!(req.json()["chat_id"], "@company");
    let r = s.smv(&["post", "acc", "flood", "--json"]).fails(11).json();
    assert!(
        r[0]["error"]
            .as_str()
            .unwrap()
            .contains("rate limited until"),
        "{r}"
    );
    s.smv(&["post", "acc", "bad"]).fails(11);
    s.smv(&["account", "check", "acc"])
        .ok()
        .stdout_has("company_bot");
    assert_no_secret(&s, TG_TOKEN);
}

#[test]
fn x_oauth1_signs_and_posts_json() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/2/tweets" => Resp::json(
            201,
            json!({"data": {"id": "1850000000000000001", "text": req.json()["text"]}}),
        ),
        "/2/users/me" => Resp::json(200, json!({"data": {"username": "company"}}))
            .with_header("x-access-level", "read-write"),
        _ => Resp::text(404, ""),
    });
    let secret = "consumer_key=ck-1\nconsumer_secret=CANARY-cs-secret-77\naccess_token=1-at\naccess_token_secret=CANARY-ats-secret-88\n";
    let s = sandbox_with("x", Some(&server.url), Some("@company"), secret);
    let r = s
        .smv(&["post", "acc", "Release 2.1 🎉 e\u{301}", "--json"])
        .ok()
        .json();
    assert_eq!(r[0]["post_id"], "1850000000000000001");
    assert_eq!(
        r[0]["url"],
        "https://x.com/company/status/1850000000000000001"
    );
    let req = &server.requests()[0];
    let auth = req.header("authorization").unwrap();
    assert!(
        auth.starts_with("OAuth ")
            && auth.contains("oauth_consumer_key=\"ck-1\"")
            && auth.contains("oauth_token=\"1-at\"")
            && auth.contains("oauth_signature="),
        "{auth}"
    );
    assert!(
        !auth.contains("CANARY"),
        "a secret went into the header: {auth}"
    );
    // Sent as approved, byte for byte (X normalises on its side; the length is counted on
    // the NFC form, as X counts it).
    assert_eq!(req.json()["text"], "Release 2.1 🎉 e\u{301}");
    // The weighted length is enforced before sending: 141 CJK characters weigh 282.
    s.smv(&["post", "acc", &"日".repeat(141)])
        .fails(2)
        .stderr_has("weighted length 282");
    s.smv(&["account", "check", "acc"])
        .ok()
        .stdout_has("@company");
    for t in s.transcript.borrow().iter() {
        assert!(!t.contains("CANARY-cs-secret-77") && !t.contains("CANARY-ats-secret-88"));
    }
}

/// The token endpoint's state: the current generation, and the refresh tokens spent.
type TokenState = std::sync::Arc<std::sync::Mutex<(u32, Vec<String>)>>;

/// An OAuth 2.0 token endpoint with single-use refresh tokens, as X's is: a reused refresh
/// token is refused.
fn oauth2_server() -> (FakeServer, TokenState) {
    // (generation, refresh tokens spent)
    let state = std::sync::Arc::new(std::sync::Mutex::new((0u32, Vec::<String>::new())));
    let st = state.clone();
    let server = FakeServer::start(move |req, _| {
        let mut st = st.lock().unwrap();
        match req.path.as_str() {
            "/2/oauth2/token" => {
                let form = req.form();
                let rt = form.get("refresh_token").cloned().unwrap_or_default();
                if rt != format!("R{}", st.0) || st.1.contains(&rt) {
                    return Resp::json(
                        400,
                        json!({"error": "invalid_request", "error_description": "Value passed for the token was invalid."}),
                    );
                }
                st.1.push(rt);
                st.0 += 1;
                Resp::json(
                    200,
                    json!({"token_type": "bearer", "access_token": format!("A{}", st.0), "refresh_token": format!("R{}", st.0), "expires_in": 7200}),
                )
            }
            "/2/users/me"
                if st.0 > 0
                    && req.header("authorization")
                        == Some(format!("Bearer A{}", st.0).as_str()) =>
            {
                Resp::json(200, json!({"data": {"id": "1", "username": "company"}}))
            }
            "/2/tweets" => {
                // Only the latest access token is valid; the first one (A0) has expired.
                if st.0 > 0
                    && req.header("authorization") == Some(format!("Bearer A{}", st.0).as_str())
                {
                    Resp::json(
                        201,
                        json!({"data": {"id": format!("t{}", rand_id()), "text": "x"}}),
                    )
                } else {
                    Resp::json(
                        401,
                        json!({"title": "Unauthorized", "detail": "Unauthorized", "status": 401}),
                    )
                }
            }
            _ => Resp::text(404, ""),
        }
    });
    (server, state)
}

fn rand_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn x_oauth2_refreshes_once_and_keeps_the_new_tokens_in_the_vault() {
    let (server, state) = oauth2_server();
    let secret = "access_token=A0\nrefresh_token=R0\nclient_id=client-1\n";
    let s = sandbox_with("x", Some(&server.url), None, secret);
    s.smv(&["post", "acc", "first"]).ok();
    s.smv(&["post", "acc", "second"]).ok();
    let st = state.lock().unwrap().clone();
    assert_eq!(
        st.1,
        ["R0"],
        "one refresh for two posts: the new tokens were kept"
    );
    let token_calls = server
        .requests()
        .iter()
        .filter(|r| r.path == "/2/oauth2/token")
        .count();
    assert_eq!(token_calls, 1);
    let sessions = s
        .audit_entries()
        .iter()
        .filter(|e| e.action == "account.session" && e.outcome == smv::audit::Outcome::Ok)
        .count();
    assert_eq!(sessions, 1);
}

/// `smv rotate --auto` on OAuth 2.0: the refresh token a leaver may have copied is spent
/// (the network refuses it from now on), and the new tokens become the next secret version.
#[test]
fn x_oauth2_auto_rotation_spends_the_old_refresh_token() {
    let (server, state) = oauth2_server();
    let secret = "access_token=A0\nrefresh_token=R0\nclient_id=client-1\n";
    let s = sandbox_with("x", Some(&server.url), None, secret);
    let r = s.smv(&["--json", "rotate", "acc", "--auto"]).ok().json();
    assert_eq!(r["auto"], true);
    assert_eq!(r["secret_version"], 2);
    // An OAuth 2.0 token's tweet.write scope is not readable: the rotation says so.
    let checked = r["checked"].as_str().unwrap();
    assert!(checked.starts_with("X account @company"), "{checked}");
    assert!(checked.contains("posting is not proved"), "{checked}");
    assert_eq!(state.lock().unwrap().1, ["R0"]);
    // R0, the refresh token a leaver may have copied, is spent: a network with single-use
    // refresh tokens (X's, this fake's) refuses it from now on.
    assert_eq!(state.lock().unwrap().0, 1);
    // Posting goes on with the new secret, without another refresh.
    s.smv(&["post", "acc", "after the rotation"]).ok();
    assert_eq!(state.lock().unwrap().1, ["R0"]);
    let rotated = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "account.rotate" && e.outcome == smv::audit::Outcome::Intent)
        .unwrap();
    assert_eq!(rotated.details["auto"], true);
    for out in s.transcript.borrow().iter() {
        assert!(
            !out.contains("R1") && !out.contains("A1"),
            "token shown: {out}"
        );
    }
}

#[test]
fn x_oauth1_cannot_be_rotated_by_a_program() {
    let s = sandbox_with(
        "x",
        Some("http://127.0.0.1:9"),
        None,
        "consumer_key=ck-0123456789\nconsumer_secret=cs-0123456789\naccess_token=at-0123456789\naccess_token_secret=ats-0123456789\n",
    );
    s.smv(&["rotate", "acc", "--auto"])
        .fails(11)
        .stderr_has("developer portal")
        .stderr_has("nothing was changed");
    let v = s.smv(&["--json", "secrets"]).ok().json();
    assert_eq!(v[0]["version"], 1);
}

#[test]
fn x_oauth2_refresh_is_serialised_across_processes() {
    let (server, state) = oauth2_server();
    let s = sandbox_with(
        "x",
        Some(&server.url),
        None,
        "access_token=A0\nrefresh_token=R0\nclient_id=client-1\n",
    );
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = s.command();
            cmd.args(["post", "acc", &format!("parallel {i}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let st = state.lock().unwrap().clone();
    assert_eq!(
        st.1,
        ["R0"],
        "the single-use refresh token was spent exactly once"
    );
    let rejected = server
        .requests()
        .iter()
        .filter(|r| r.path == "/2/oauth2/token")
        .count();
    assert_eq!(
        rejected, 1,
        "no process tried to reuse a spent refresh token"
    );
}

#[test]
fn linkedin_escapes_commentary_and_reads_the_restli_id() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/rest/posts" if !linkedin_serves(req) => linkedin_retired(req),
        "/rest/posts" => {
            Resp::text(201, "").with_header("x-restli-id", "urn:li:share:7000000000000000001")
        }
        _ => Resp::json(
            401,
            json!({"message": "Invalid access token", "status": 401}),
        ),
    });
    let s = sandbox_with(
        "linkedin",
        Some(&server.url),
        Some("urn:li:organization:12345"),
        TOKEN,
    );
    let r = s
        .smv(&["post", "acc", "Launch (v2.1) #release @team", "--json"])
        .ok()
        .json();
    assert_eq!(r[0]["post_id"], "urn:li:share:7000000000000000001");
    assert_eq!(
        r[0]["url"],
        "https://www.linkedin.com/feed/update/urn:li:share:7000000000000000001/"
    );
    let req = &server.requests()[0];
    assert_eq!(req.header("linkedin-version"), Some("202607"));
    assert_eq!(req.header("x-restli-protocol-version"), Some("2.0.0"));
    assert_eq!(req.json()["author"], "urn:li:organization:12345");
    assert_eq!(
        req.json()["commentary"],
        "Launch \\(v2.1\\) \\#release \\@team"
    );
    // The hint names the command that replaces a credential (it exists).
    let check = s
        .smv(&["account", "check", "acc"])
        .fails(11)
        .stderr_has("rejected the credential")
        .stderr_has("smv rotate acc");
    assert!(!check.stderr.contains("arrives"), "{}", check.stderr);
    let bad = sandbox_with("linkedin", Some(&server.url), Some("company"), TOKEN);
    bad.smv(&["post", "acc", "hi"])
        .fails(2)
        .stderr_has("author URN");
    assert_no_token(&s);
}

#[test]
fn facebook_page_posts_and_graph_errors() {
    let server = FakeServer::start(|req, _| {
        let msg = req.form().get("message").cloned().unwrap_or_default();
        match msg.as_str() {
            "expired" => Resp::json(
                400,
                json!({"error": {"message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190}}),
            ),
            "spam" => Resp::json(
                400,
                json!({"error": {"message": "It looks like you were misusing this feature", "type": "OAuthException", "code": 368}}),
            ),
            "busy" => Resp::json(
                400,
                json!({"error": {"message": "Application request limit reached", "code": 4}}),
            ),
            _ => Resp::json(200, json!({"id": "1111_2222"})),
        }
    });
    let s = sandbox_with("facebook", Some(&server.url), Some("1111"), TOKEN);
    let r = s.smv(&["post", "acc", "hello page", "--json"]).ok().json();
    assert_eq!(r[0]["post_id"], "1111_2222");
    assert_eq!(r[0]["url"], "https://www.facebook.com/1111_2222");
    let req = &server.requests()[0];
    assert_eq!(req.path, "/1111/feed");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(
        !req.path.contains("access_token"),
        "the token must not be in the URL"
    );
    for (text, kind) in [
        ("expired", "rejected the credential"),
        ("spam", "rejected the content"),
        ("busy", "rate limited"),
    ] {
        let r = s.smv(&["post", "acc", text, "--json"]).fails(11).json();
        assert!(
            r[0]["error"].as_str().unwrap().contains(kind),
            "{text}: {r}"
        );
    }
    assert_no_token(&s);
}

/// A server that echoes the bearer token (and the refresh token it was sent) in its errors:
/// each token must be redacted on its own, not only the whole stored credential.
#[test]
fn x_oauth2_tokens_echoed_one_by_one_are_redacted() {
    let server = FakeServer::start(|req, _| {
        let auth = req.header("authorization").unwrap_or_default().to_string();
        let form = req.form();
        let echoed = format!(
            "{auth} {}",
            form.get("refresh_token").cloned().unwrap_or_default()
        );
        if req.path == "/2/oauth2/token" {
            return Resp::json(
                200,
                json!({"access_token": "CANARY-access-new-123", "refresh_token": "CANARY-refresh-new-456"}),
            );
        }
        Resp::json(401, json!({"detail": format!("Unauthorized: {echoed}")}))
    });
    let s = sandbox_with(
        "x",
        Some(&server.url),
        None,
        "access_token=CANARY-access-old-789\nrefresh_token=CANARY-refresh-old-000\nclient_id=client-1\n",
    );
    let r = s.smv(&["post", "acc", "hi", "--json"]).fails(11).json();
    assert!(
        r[0]["error"].as_str().unwrap().contains("[REDACTED]"),
        "{r}"
    );
    for t in s.transcript.borrow().iter() {
        for token in [
            "CANARY-access-old-789",
            "CANARY-refresh-old-000",
            "CANARY-access-new-123",
            "CANARY-refresh-new-456",
        ] {
            assert!(!t.contains(token), "{token} leaked: {t}");
        }
    }
    let vault = s.vault();
    for file in s.files_except(&[&vault]) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(9)
                .any(|w| w == b"CANARY-ac" || w == b"CANARY-re"),
            "{}",
            file.display()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Issue 15: no secret leaks through anything a network echoes.
// ---------------------------------------------------------------------------------------

use support::echo;

/// A Mastodon-like network that refuses every post and echoes the `Authorization` header it
/// received, in the shape the post's text names (`raw`, `hex`, `b64at1`…).
fn echoing_mastodon() -> FakeServer {
    FakeServer::start(|req, _| {
        if req.path == "/api/v2/instance" {
            return Resp::json(200, json!({}));
        }
        let auth = req.header("authorization").unwrap_or_default().to_string();
        let text = req.json()["status"].as_str().unwrap_or("raw").to_string();
        let echoed = match text.as_str() {
            "hex" => echo::hex(auth.as_bytes()),
            "b64at1" => echo::shape("bsix1", &auth),
            "b64at2" => echo::shape("bsix2", &auth),
            "wrapped" => echo::shape("wrapped", &auth),
            "split" => echo::shape("splitctl", &auth),
            "pctlow" => echo::shape("pctlow", &auth),
            _ => auth,
        };
        Resp::json(401, json!({"error": format!("invalid token: {echoed}")}))
    })
}

fn assert_nowhere(s: &Sandbox, canaries: &[String]) {
    for (i, text) in s.transcript.borrow().iter().enumerate() {
        echo::assert_clean(&format!("output #{i}"), text.as_bytes(), canaries);
    }
    let vault = s.vault();
    for file in s.files_except(&[&vault]) {
        echo::assert_clean(
            &file.display().to_string(),
            &std::fs::read(&file).unwrap(),
            canaries,
        );
    }
}

/// `printf 'TOKEN\n\n' > f; --secret-file f`, or a trailing space: stored, sent and redacted
/// in one form, so a 401 echoing `Authorization: Bearer TOKEN` shows nothing, in the CLI
/// and in the audit log. The same for `smv rotate`.
#[test]
fn a_secret_with_trailing_whitespace_is_stored_sent_and_redacted_in_one_form() {
    let server = echoing_mastodon();
    let token = "CANARY-trail/+=tok-0a1b2c3d";
    for (how, input) in [
        ("file", format!("{token}\n\n")),
        ("stdin", format!("{token} ")),
        ("stdin", format!("{token}\r\n\t \n")),
    ] {
        let s = Sandbox::new();
        s.init();
        let mut args = vec![
            "account",
            "add",
            "acc",
            "--provider",
            "mastodon",
            "--url",
            &server.url,
        ];
        let file = s.home().join("secret.txt");
        std::fs::write(&file, &input).unwrap();
        let file_arg = file.to_str().unwrap().to_string();
        let account_add = if how == "file" {
            args.extend(["--secret-file", &file_arg]);
            s.smv(&args)
        } else {
            args.push("--secret-stdin");
            s.smv_in(&args, input.as_bytes())
        };
        account_add.ok();
        // The input file holds the secret: it is not part of what smv wrote.
        std::fs::remove_file(&file).unwrap();
        s.smv(&["grant", "alice", "acc", "post"]).ok();
        let sent_before = server.requests().len();
        s.smv(&["post", "acc", "raw", "--json"]).fails(11);
        s.smv(&["post", "acc", "raw"]).fails(11);
        // What was sent is exactly the canonical form.
        let sent = server.requests()[sent_before..]
            .iter()
            .find(|r| r.path == "/api/v1/statuses")
            .unwrap()
            .header("authorization")
            .unwrap()
            .to_string();
        assert_eq!(sent, format!("Bearer {token}"));
        assert_nowhere(&s, &[token.to_string()]);
        // The keyed hash of the canonical form is the one the log recorded.
        let added = s
            .audit_entries()
            .into_iter()
            .find(|e| e.action == "account.add" && e.details.contains_key("secret_hmac"))
            .unwrap();
        let hash = s
            .smv_in(
                &["audit", "hash", "--stdin"],
                format!("{token}\n").as_bytes(),
            )
            .ok()
            .stdout;
        assert_eq!(
            Some(hash.trim()),
            added.details["secret_hmac"].as_str(),
            "{how} {input:?}"
        );

        // rotate: the same rule.
        let new = "CANARY-rotated/+=tok-4e5f6a7b";
        std::fs::write(&file, format!("{new} \n\n")).unwrap();
        s.smv(&["rotate", "acc", "--no-check", "--secret-file", &file_arg])
            .ok();
        std::fs::remove_file(&file).unwrap();
        s.smv(&["post", "acc", "raw", "--json"]).fails(11);
        let last = server
            .requests()
            .last()
            .unwrap()
            .header("authorization")
            .unwrap()
            .to_string();
        assert_eq!(last, format!("Bearer {new}"));
        assert_nowhere(&s, &[token.to_string(), new.to_string()]);
    }
}

/// Control characters inside a secret are refused (exit 2, with a hint) by every command
/// that reads one: account add, rotate, login and audit hash. A line break inside is
/// refused where the network's secret is one line, and kept where it is `key=value` lines.
#[test]
fn control_characters_inside_a_secret_are_refused_everywhere() {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    for bad in [
        &b"sekr\x01et-1234"[..],
        b"sekr\tet-1234",
        b"sekr\x1b[2Jet-1234",
        b"sekr\ret-1234",
    ] {
        let run = s
            .smv_in(
                &[
                    "account",
                    "add",
                    "acc",
                    "--provider",
                    "mastodon",
                    "--url",
                    "https://m.example",
                    "--secret-stdin",
                ],
                bad,
            )
            .fails(2)
            .stderr_has("control character")
            .stderr_has("hint:");
        assert!(!run.stderr.contains("sekr"), "{}", run.stderr);
        s.smv_in(&["audit", "hash", "--stdin"], bad)
            .fails(2)
            .stderr_has("control character");
        // (`--file`: the sandbox has no keyring, which `login` says before reading a token.)
        s.smv_in(
            &["login", "http://127.0.0.1:9", "--token-stdin", "--file"],
            bad,
        )
        .fails(2)
        .stderr_has("control character");
    }
    // A line break inside: not a Mastodon token…
    s.smv_in(
        &[
            "account",
            "add",
            "acc",
            "--provider",
            "mastodon",
            "--url",
            "https://m.example",
            "--secret-stdin",
        ],
        b"first-line\nsecond-line\n",
    )
    .fails(2)
    .stderr_has("line break");
    // …but an X credential is `key=value` lines.
    s.smv_in(
        &["account", "add", "x", "--provider", "x", "--secret-stdin"],
        b"consumer_key=ck-1\r\nconsumer_secret=cs-0123456789 \r\naccess_token=at-0123456789\r\naccess_token_secret=ats-0123456789\r\n\r\n",
    )
    .ok();
    s.smv_in(
        &[
            "account",
            "add",
            "acc",
            "--provider",
            "mastodon",
            "--url",
            "https://m.example",
            "--secret-stdin",
        ],
        b"good-token-1234\n",
    )
    .ok();
    for bad in [&b"new\x07token-1234"[..], b"one\ntwo-lines"] {
        s.smv_in(&["rotate", "acc", "--no-check", "--secret-stdin"], bad)
            .fails(2);
    }
    let v = s.smv(&["--json", "secrets"]).ok().json();
    let acc = v
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == "acc")
        .unwrap();
    assert_eq!(acc["version"], 1, "nothing was rotated");
    s.smv_in(
        &["login", "http://127.0.0.1:9", "--token-stdin", "--file"],
        b"one\ntwo-lines",
    )
    .fails(2)
    .stderr_has("line break");
}

/// A webhook server answering `404 Cannot POST /api/webhooks/1/<secret part>` (an HTML page
/// or plain text, as Express does), or the same in a JSON message: the URL's capability part
/// is never shown (Discord, Slack incoming webhooks, generic webhooks).
#[test]
fn webhook_servers_echoing_the_path_show_no_capability() {
    let server = FakeServer::start(|req, _| {
        let line = format!("Cannot POST {}", req.path);
        let body = req.json();
        let text = body["content"]
            .as_str()
            .or(body["text"].as_str())
            .unwrap_or("one");
        match text {
            "one" => Resp {
                status: 404,
                headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
                body: format!("<!DOCTYPE html>\n<html><body><pre>{line}</pre></body></html>")
                    .into_bytes(),
                delay: Duration::ZERO,
            },
            "two" => Resp::text(404, &line),
            _ => Resp::json(404, json!({"message": line, "code": 0})),
        }
    });
    for (provider, path, cap) in [
        (
            "discord",
            "/api/webhooks/1/CANARY-dcap_9f8e7d",
            "CANARY-dcap_9f8e7d",
        ),
        (
            "slack-webhook",
            "/services/T01/B02/CANARYslackcap9f8e",
            "CANARYslackcap9f8e",
        ),
        ("webhook", "/hooks/CANARY-gcap-9f8e7d", "CANARY-gcap-9f8e7d"),
    ] {
        let s = sandbox_with(provider, None, None, &format!("{}{path}", server.url));
        let html = s.smv(&["post", "acc", "one", "--json"]).fails(11).json();
        let text = s.smv(&["post", "acc", "two"]).fails(11);
        s.smv(&["post", "acc", "three", "--json"]).fails(11);
        if provider == "discord" {
            s.smv(&["account", "check", "acc"]).fails(11);
        }
        s.smv(&["audit", "export", "--format", "jsonl"]).ok();
        assert_nowhere(&s, &[cap.to_string()]);
        assert!(
            html[0]["error"]
                .as_str()
                .unwrap()
                .contains("HTTP 404 (body not shown: HTML)"),
            "{provider}: {html}"
        );
        assert!(
            text.stdout.contains("body not shown: not JSON")
                || text.stderr.contains("body not shown: not JSON"),
            "{provider}: {}{}",
            text.stdout,
            text.stderr
        );
    }
}

/// Slack answers `200 {"ok": false, "error": "…"}`; an error field that echoes the token is
/// redacted (and is no code: it is shown as text).
#[test]
fn slack_ok_false_echoing_the_token_is_redacted() {
    let token = "xoxb-CANARY-slk/+=-1234abcd";
    let server = FakeServer::start(|req, _| {
        let auth = req.header("authorization").unwrap_or_default().to_string();
        Resp::json(
            200,
            json!({"ok": false, "error": format!("invalid_auth: {auth}")}),
        )
    });
    let s = sandbox_with("slack", Some(&server.url), Some("C1"), token);
    let r = s.smv(&["post", "acc", "hello", "--json"]).fails(11).json();
    let err = r[0]["error"].as_str().unwrap();
    assert!(err.contains("invalid_auth: Bearer [REDACTED]"), "{err}");
    s.smv(&["account", "check", "acc"]).fails(11);
    assert_nowhere(&s, &[token.to_string()]);
}

/// X OAuth 2.0: a token endpoint echoing `Authorization: Basic base64(client_id:secret)`.
/// The client secret sits at an offset that depends on the client id's length: each of the
/// three base64 alignments is tried.
#[test]
fn x_oauth2_token_endpoint_echoing_basic_auth_shows_no_client_secret() {
    let client_secret = "CANARY-xcs/+=secret-5a6b7c8d";
    let server = FakeServer::start(|req, _| {
        if req.path == "/2/oauth2/token" {
            let auth = req.header("authorization").unwrap_or_default();
            return Resp::json(
                401,
                json!({"error": "invalid_client", "error_description": format!("Client authentication failed for {auth}")}),
            );
        }
        Resp::json(
            401,
            json!({"title": "Unauthorized", "detail": "Unauthorized"}),
        )
    });
    for client_id in ["c", "cl", "cli", "client-12"] {
        let secret = format!(
            "access_token=at-0123456789\nrefresh_token=rt-0123456789\nclient_id={client_id}\nclient_secret={client_secret}\n"
        );
        let s = sandbox_with("x", Some(&server.url), None, &secret);
        let r = s.smv(&["post", "acc", "hello", "--json"]).fails(11).json();
        s.smv(&["rotate", "acc", "--auto"]).fails(11);
        assert_nowhere(&s, &[client_secret.to_string()]);
        let err = r[0]["error"].as_str().unwrap();
        assert!(
            err.contains("refreshing the OAuth 2.0 token failed") && err.contains("invalid_client"),
            "{err}"
        );
    }
}

/// Hex, base64 at the other alignments, line-wrapped base64 and a token split by control
/// characters: none shows the token.
#[test]
fn echoes_in_hex_base64_wrapped_and_split_are_redacted() {
    let server = echoing_mastodon();
    let token = "CANARY-enc/+=tok-6c5d4e3f";
    let s = sandbox_with("mastodon", Some(&server.url), None, token);
    for shape in [
        "raw", "hex", "b64at1", "b64at2", "wrapped", "split", "pctlow",
    ] {
        let r = s.smv(&["post", "acc", shape, "--json"]).fails(11).json();
        assert!(
            r[0]["error"].as_str().unwrap().contains("[REDACTED]"),
            "{shape}: {r}"
        );
    }
    assert_nowhere(&s, &[token.to_string()]);
}

/// HTML pages and bodies that are not JSON are not shown at all: only the status and why.
#[test]
fn html_and_unparseable_answers_are_not_shown() {
    let server = FakeServer::start(|req, _| {
        if req.path == "/api/v2/instance" {
            return Resp::json(200, json!({}));
        }
        let trace = format!(
            "Traceback: request headers {:?}",
            req.header("authorization").unwrap_or_default()
        );
        match req.json()["status"].as_str().unwrap_or_default() {
            "html" => Resp {
                status: 502,
                headers: vec![("Content-Type".into(), "text/html".into())],
                body: format!("<html><body><h1>Bad gateway</h1><p>{trace}</p></body></html>")
                    .into_bytes(),
                delay: Duration::ZERO,
            },
            "json-html" => Resp::json(
                500,
                json!({"message": format!("<html><pre>{trace}</pre></html>")}),
            ),
            "unknown-json" => Resp::json(500, json!({"stack": trace})),
            _ => Resp::text(500, &trace),
        }
    });
    let token = "CANARY-html/+=tok-7a8b9c0d";
    let s = sandbox_with("mastodon", Some(&server.url), None, token);
    for (text, shown) in [
        ("html", "HTTP 502 (body not shown: HTML)"),
        ("json-html", "HTTP 500 (body not shown: HTML)"),
        ("unknown-json", "HTTP 500 (body not shown: no error field)"),
        ("plain", "HTTP 500 (body not shown: not JSON)"),
    ] {
        // Server and gateway errors: the post may have been made (unknown, exit 12).
        let r = s.smv(&["post", "acc", text, "--json"]).fails(12).json();
        let err = r[0]["error"].as_str().unwrap();
        assert!(err.contains(shown), "{text}: {err}");
        assert!(!err.contains("Traceback"), "{text}: {err}");
    }
    // The audit entries hold the same typed value: status and kind, no body.
    let failed: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "post" && e.outcome.as_str() == "unknown")
        .collect();
    assert_eq!(failed.len(), 4);
    assert_eq!(failed[0].details["http_status"], 502);
    assert!(failed.iter().all(|e| {
        !e.reason
            .as_deref()
            .unwrap_or_default()
            .contains("Traceback")
    }));
    assert_nowhere(&s, &[token.to_string()]);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// LinkedIn's "little text" escapes reserved characters with a backslash; the network shows
/// the text without them. Undone here to compare with what was approved.
fn linkedin_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// What is approved is what is sent, for every provider: the text the fake network received
/// hashes to the audit entry's `text_sha256` (the approved bytes). The text is not NFC (an
/// `e` with a combining accent) and carries control and bidirectional characters: nothing
/// may normalise or rewrite it on the way.
#[test]
fn every_provider_sends_the_approved_bytes_that_the_audit_hashes() {
    let text = "Cafe\u{301} (v2) #launch \u{202e}txt.exe\u{202c}\r\nline 2 *bold*";
    let server = FakeServer::start(|req, n| {
        let p = req.path.as_str();
        if p == "/api/v2/instance" {
            Resp::json(
                200,
                json!({"configuration": {"statuses": {"max_characters": 500}}}),
            )
        } else if p == "/api/v1/statuses" {
            Resp::json(
                200,
                json!({"id": format!("{n}"), "url": "https://social.example/@co/1"}),
            )
        } else if p.ends_with("createSession") {
            Resp::json(
                200,
                json!({"accessJwt": "a-jwt", "refreshJwt": "r-jwt", "did": "did:plc:co", "handle": "co.bsky.social"}),
            )
        } else if p.ends_with("createRecord") {
            Resp::json(
                200,
                json!({"uri": "at://did:plc:co/app.bsky.feed.post/3k", "cid": "bafy"}),
            )
        } else if p == "/2/tweets" {
            Resp::json(201, json!({"data": {"id": "18"}}))
        } else if p == "/rest/posts" {
            Resp::text(201, "").with_header("x-restli-id", "urn:li:share:7")
        } else if p.ends_with("/feed") {
            Resp::json(200, json!({"id": "1111_2222"}))
        } else if p == "/chat.postMessage" {
            Resp::json(200, json!({"ok": true, "channel": "C1", "ts": "1.2"}))
        } else if p.ends_with("/sendMessage") {
            Resp::json(
                200,
                json!({"ok": true, "result": {"message_id": 5, "chat": {"id": -1}}}),
            )
        } else if p.starts_with("/api/webhooks/") {
            Resp::json(200, json!({"id": "4242"}))
        } else if p.starts_with("/services/") {
            Resp::text(200, "ok")
        } else {
            Resp::json(200, json!({"id": "w-1"}))
        }
    });
    let x_secret =
        "consumer_key=ck\nconsumer_secret=cs\naccess_token=1-at\naccess_token_secret=ats\n";
    let hook = |path: &str| format!("{}{path}", server.url);
    let cases: Vec<(&str, Option<String>, Option<&str>, String)> = vec![
        ("mastodon", Some(server.url.clone()), None, TOKEN.into()),
        (
            "bluesky",
            Some(server.url.clone()),
            Some("co.bsky.social"),
            "app-pass".into(),
        ),
        ("x", Some(server.url.clone()), Some("@co"), x_secret.into()),
        (
            "linkedin",
            Some(server.url.clone()),
            Some("urn:li:organization:1"),
            TOKEN.into(),
        ),
        (
            "facebook",
            Some(server.url.clone()),
            Some("1111"),
            TOKEN.into(),
        ),
        (
            "slack",
            Some(server.url.clone()),
            Some("C1"),
            "xoxb-1".into(),
        ),
        (
            "telegram",
            Some(server.url.clone()),
            Some("@co"),
            TG_TOKEN.into(),
        ),
        ("discord", None, None, hook("/api/webhooks/1/tok")),
        ("slack-webhook", None, None, hook("/services/T/B/x")),
        ("webhook", None, None, hook("/hook/x")),
    ];
    let mut seen = Vec::new();
    for (provider, url, handle, secret) in &cases {
        let before = server.requests().len();
        let s = sandbox_with(provider, url.as_deref(), *handle, secret);
        s.smv(&["--json", "post", "acc", text]).ok();
        let intent = s
            .audit_entries()
            .into_iter()
            .find(|e| e.action == "post" && e.outcome == smv::audit::Outcome::Intent)
            .expect("the post's intent");
        let approved = intent.details["text_sha256"].as_str().unwrap().to_string();
        assert_eq!(approved, sha256_hex(text.as_bytes()), "{provider}");
        let reqs = server.requests();
        let sent = reqs[before..]
            .iter()
            .find_map(|r| {
                let j = r.json();
                let got = match *provider {
                    "mastodon" => j["status"].as_str().map(str::to_string),
                    "bluesky" => j["record"]["text"].as_str().map(str::to_string),
                    "linkedin" => j["commentary"].as_str().map(linkedin_unescape),
                    "facebook" => r.form().get("message").cloned(),
                    "slack" => r.form().get("text").cloned(),
                    "discord" => j["content"].as_str().map(str::to_string),
                    _ => j["text"].as_str().map(str::to_string),
                };
                got.filter(|_| r.method == "POST")
            })
            .unwrap_or_else(|| panic!("{provider}: the network received no text"));
        assert_eq!(
            sha256_hex(sent.as_bytes()),
            approved,
            "{provider} received other bytes than were approved: {sent:?}"
        );
        seen.push(*provider);
    }
    // Outbox: the local file holds the approved bytes.
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "acc", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "acc", "post"]).ok();
    s.smv(&["post", "acc", text]).ok();
    let line = std::fs::read_to_string(s.data_dir().join("outbox.jsonl")).unwrap();
    let written: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(
        sha256_hex(written["text"].as_str().unwrap().as_bytes()),
        sha256_hex(text.as_bytes())
    );
    seen.push("outbox");
    // Every provider smv implements is covered.
    let mut all: Vec<&str> = smv::providers::CATALOGUE
        .iter()
        .filter(|p| smv::providers::implementation(p.name).is_ok())
        .map(|p| p.name)
        .collect();
    all.sort();
    seen.sort();
    assert_eq!(seen, all);
}

/// The number of requests the fake network received on paths that publish.
fn publishes(server: &FakeServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            let p = r.path.as_str();
            r.method == "POST"
                && (p == "/api/v1/statuses"
                    || p == "/2/tweets"
                    || p.ends_with("/sendMessage")
                    || p.ends_with("createRecord")
                    || p == "/chat.postMessage"
                    || p.ends_with("/feed")
                    || p == "/rest/posts"
                    || p.starts_with("/api/webhooks/"))
        })
        .count()
}

/// A success answer without the post's id (X, Telegram, Bluesky, Mastodon, Slack,
/// Facebook, LinkedIn, Discord) says the network did something and not what: an unknown
/// outcome (exit 12, `unknown` in the log), and a retry with the same key sends nothing.
#[test]
fn a_success_without_a_post_id_is_unknown_for_every_provider() {
    let server = FakeServer::start(|req, _| {
        let p = req.path.as_str();
        if p == "/api/v2/instance" {
            Resp::json(200, json!({}))
        } else if p == "/api/v1/statuses" {
            Resp::json(200, json!({"content": "<p>hi</p>"}))
        } else if p.ends_with("createSession") {
            Resp::json(
                200,
                json!({"accessJwt": "a-jwt", "refreshJwt": "r-jwt", "did": "did:plc:co", "handle": "co.bsky.social"}),
            )
        } else if p.ends_with("createRecord") {
            Resp::json(200, json!({"cid": "bafy"}))
        } else if p == "/2/tweets" {
            Resp::json(201, json!({"data": {"text": "hi"}}))
        } else if p == "/rest/posts" {
            Resp::text(201, "")
        } else if p.ends_with("/feed") {
            Resp::json(200, json!({"success": true}))
        } else if p == "/chat.postMessage" {
            Resp::json(200, json!({"ok": true, "channel": "C1"}))
        } else if p.ends_with("/sendMessage") {
            Resp::json(200, json!({"ok": true, "result": {"chat": {"id": -1}}}))
        } else if p.starts_with("/api/webhooks/") {
            Resp::json(200, json!({"content": "hi"}))
        } else {
            Resp::text(404, "")
        }
    });
    let x_secret =
        "consumer_key=ck\nconsumer_secret=cs\naccess_token=1-at\naccess_token_secret=ats\n";
    let url = Some(server.url.clone());
    let cases: Vec<(&str, Option<String>, Option<&str>, String)> = vec![
        ("mastodon", url.clone(), None, TOKEN.into()),
        ("x", url.clone(), Some("@co"), x_secret.into()),
        ("telegram", url.clone(), Some("@co"), TG_TOKEN.into()),
        (
            "bluesky",
            url.clone(),
            Some("co.bsky.social"),
            "app-pass".into(),
        ),
        ("slack", url.clone(), Some("C1"), "xoxb-1".into()),
        ("facebook", url.clone(), Some("1111"), TOKEN.into()),
        (
            "linkedin",
            url.clone(),
            Some("urn:li:organization:1"),
            TOKEN.into(),
        ),
        (
            "discord",
            None,
            None,
            format!("{}/api/webhooks/1/tok", server.url),
        ),
    ];
    for (provider, url, handle, secret) in &cases {
        let s = sandbox_with(provider, url.as_deref(), *handle, secret);
        let before = publishes(&server);
        let r = s
            .smv(&["post", "acc", "hi", "--idempotency-key", "k", "--json"])
            .fails(12)
            .json();
        assert_eq!(r[0]["status"], "unknown", "{provider}: {r}");
        assert!(
            r[0]["error"]
                .as_str()
                .unwrap()
                .contains("a success answer without"),
            "{provider}: {r}"
        );
        assert_eq!(publishes(&server), before + 1, "{provider}");
        let outcome = s
            .audit_entries()
            .into_iter()
            .find(|e| e.action == "post" && e.outcome != smv::audit::Outcome::Intent)
            .unwrap();
        assert_eq!(outcome.outcome.as_str(), "unknown", "{provider}");
        s.smv(&["post", "acc", "hi", "--idempotency-key", "k"])
            .fails(12)
            .stderr_has("smv posts resolve");
        assert_eq!(publishes(&server), before + 1, "{provider}: posted twice");
    }
}

/// GoToSocial ignores `Idempotency-Key`: a request that times out after the network
/// published it must not be sent again by a retry with the same key (before: recorded as
/// failed, and the retry posted a second status).
#[test]
fn a_timeout_after_the_network_published_is_unknown_and_a_retry_posts_nothing() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        // Published at once, answered too late.
        _ => Resp::json(200, json!({"id": "9"})).after(Duration::from_millis(1500)),
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    s.set_env("SMV_HTTP_TIMEOUT_MS", "400");
    let r = s
        .smv(&["post", "acc", "v1", "--idempotency-key", "v1", "--json"])
        .fails(12)
        .json();
    assert_eq!(r[0]["status"], "unknown");
    assert!(r[0]["error"].as_str().unwrap().contains("timed out"));
    let seq = r[0]["intent_seq"].as_u64().unwrap();
    // Two retries at once, and one after: nothing more reaches the network.
    let retries: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = s.command();
            cmd.args(["post", "acc", "v1", "--idempotency-key", "v1"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    for mut c in retries {
        assert_eq!(c.wait().unwrap().code(), Some(12));
    }
    s.smv(&["post", "acc", "v1", "--idempotency-key", "v1"])
        .fails(12)
        .stderr_has(&format!("smv posts resolve {seq} --published URL"));
    assert_eq!(publishes(&server), 1, "posted twice");
    // A person looks, and says it is live: the key now answers with that.
    s.smv(&[
        "posts",
        "resolve",
        &seq.to_string(),
        "--published",
        "https://social.example/@co/9",
    ])
    .ok();
    let r = s
        .smv(&["post", "acc", "v1", "--idempotency-key", "v1", "--json"])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(publishes(&server), 1);
    assert_no_token(&s);
}

/// A retry while the first attempt is still being sent (its intent is written, its answer
/// not yet in): refused as unknown, nothing sent; once the first one's answer is recorded,
/// the key answers with its receipt.
#[test]
fn a_retry_while_the_first_send_is_under_way_is_refused() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        _ => Resp::json(200, json!({"id": "31"})).after(Duration::from_millis(1500)),
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    let mut first = s.command();
    first
        .args(["post", "acc", "x", "--idempotency-key", "same"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut first = first.spawn().unwrap();
    let start = std::time::Instant::now();
    while publishes(&server) == 0 {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    s.smv(&["post", "acc", "x", "--idempotency-key", "same"])
        .fails(12)
        .stderr_has("unknown outcome");
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let r = s
        .smv(&["post", "acc", "x", "--idempotency-key", "same", "--json"])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "already_posted");
    assert_eq!(r[0]["post_id"], "31");
    assert_eq!(publishes(&server), 1);
}

/// `GET /api/v2/instance` is fetched before the posting gate: a slow instance delays its
/// own post only, not the posts of other processes. The cache is written 0600.
#[test]
fn a_slow_instance_does_not_hold_the_posting_gate() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(
            200,
            json!({"configuration": {"statuses": {"max_characters": 40}}}),
        )
        .after(Duration::from_millis(3000)),
        _ => Resp::json(200, json!({"id": "1"})),
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, TOKEN);
    s.smv(&["account", "add", "box", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "box", "post"]).ok();
    let mut slow = s.command();
    slow.args(["post", "acc", "to the slow instance"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut slow = slow.spawn().unwrap();
    let start = std::time::Instant::now();
    while !server
        .requests()
        .iter()
        .any(|r| r.path == "/api/v2/instance")
    {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = std::time::Instant::now();
    s.smv(&["post", "box", "meanwhile"]).ok();
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "a post waited {:?} for another process's instance fetch",
        t.elapsed()
    );
    assert_eq!(slow.wait().unwrap().code(), Some(0));
    // The limit fetched (40) applies, from the cache, with no new fetch.
    s.smv(&["post", "acc", &"a".repeat(41)])
        .fails(2)
        .stderr_has("more than this instance's 40");
    let fetches = server
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/instance")
        .count();
    assert_eq!(fetches, 1);
    use std::os::unix::fs::PermissionsExt;
    let cache = s.data_dir().join("mastodon-instances.json");
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A read-only Mastodon token reads the account (`verify_credentials`) but cannot post:
/// `account check` says so (exit 11), and `rotate` to such a token is refused, the old
/// secret kept.
#[test]
fn a_read_only_mastodon_token_fails_check_and_rotate() {
    let server = FakeServer::start(|req, _| {
        let auth = req.header("authorization").unwrap_or_default().to_string();
        match req.path.as_str() {
            "/api/v2/instance" => Resp::json(200, json!({})),
            "/api/v1/accounts/verify_credentials" => Resp::json(200, json!({"acct": "co"})),
            "/oauth/token/info" if auth.ends_with("READONLY-tok-1") => Resp::json(
                200,
                json!({"resource_owner_id": 1, "scope": ["read"], "expires_in": null}),
            ),
            "/oauth/token/info" => Resp::json(
                200,
                json!({"resource_owner_id": 1, "scope": ["read", "write"], "expires_in": null}),
            ),
            _ => Resp::json(200, json!({"id": "1"})),
        }
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, "READONLY-tok-1");
    s.smv(&["account", "check", "acc"])
        .fails(11)
        .stderr_has("cannot post")
        .stderr_has("write:statuses");
    let before = s.vault_bytes();
    s.smv_in(&["rotate", "acc", "--secret-stdin"], b"READONLY-tok-1")
        .fails(11)
        .stderr_has("cannot post");
    assert_eq!(s.vault_bytes(), before, "the old secret stays");
    s.smv_in(&["rotate", "acc", "--secret-stdin"], b"WRITE-tok-2")
        .ok();
    s.smv(&["account", "check", "acc"])
        .ok()
        .stdout_has("allow posting");
}

/// The other side: a request made before the post (a Bluesky session) whose answer is lost
/// says nothing about the post, which was never sent: a failure (exit 11), not unknown, and
/// the key stays free.
#[test]
fn a_lost_answer_to_a_sign_in_fails_the_post_without_making_it_unknown() {
    let server = FakeServer::start(|req, n| {
        if req.path.ends_with("createSession") && n == 0 {
            Resp::json(200, json!({})).after(Duration::from_millis(1500))
        } else if req.path.ends_with("createSession") {
            Resp::json(
                200,
                json!({"accessJwt": "a", "refreshJwt": "r", "did": "did:plc:co", "handle": "co.bsky.social"}),
            )
        } else {
            Resp::json(
                200,
                json!({"uri": "at://did:plc:co/app.bsky.feed.post/1", "cid": "c"}),
            )
        }
    });
    let s = sandbox_with(
        "bluesky",
        Some(&server.url),
        Some("co.bsky.social"),
        "app-pass",
    );
    s.set_env("SMV_HTTP_TIMEOUT_MS", "400");
    let r = s
        .smv(&["post", "acc", "hi", "--idempotency-key", "b", "--json"])
        .fails(11)
        .json();
    assert_eq!(r[0]["status"], "failed");
    assert!(
        r[0]["error"]
            .as_str()
            .unwrap()
            .contains("nothing was posted"),
        "{r}"
    );
    assert_eq!(publishes(&server), 0);
    let r = s
        .smv(&["post", "acc", "hi", "--idempotency-key", "b", "--json"])
        .ok()
        .json();
    assert_eq!(r[0]["status"], "posted");
}

/// The one outcome table, for every provider: each gateway answer and transport failure
/// after the request was written gives the same outcome whatever the network (issue 23:
/// Telegram, Bluesky and Facebook read their raw answers and called a 500, 502 or 504
/// "failed", so a retry with the same key posted a second time). Unknown (exit 12): a
/// timeout or a reset after sending, 500, 502, 504, a success without an id. Not sent
/// (exit 11): 503 and 429, the front door's refusals; a retry of those is sent again, as
/// nothing was done. No retry of an unknown outcome reaches the network.
#[test]
fn every_provider_gives_every_gateway_answer_the_same_outcome() {
    fn mode_of(req: &support::fake_http::Req) -> String {
        let body = String::from_utf8_lossy(&req.body).replace('+', " ");
        let body = String::from_utf8_lossy(&support::echo::percent_decode(&body)).into_owned();
        body.find("mode-")
            .map(|i| {
                body[i + 5..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn with_id(p: &str) -> Resp {
        if p == "/api/v1/statuses" {
            Resp::json(
                200,
                json!({"id": "1", "url": "https://social.example/@co/1"}),
            )
        } else if p.ends_with("createRecord") {
            Resp::json(
                200,
                json!({"uri": "at://did:plc:co/app.bsky.feed.post/3k", "cid": "bafy"}),
            )
        } else if p == "/2/tweets" {
            Resp::json(201, json!({"data": {"id": "18"}}))
        } else if p == "/rest/posts" {
            Resp::text(201, "").with_header("x-restli-id", "urn:li:share:7")
        } else if p.ends_with("/feed") {
            Resp::json(200, json!({"id": "1111_2222"}))
        } else if p == "/chat.postMessage" {
            Resp::json(200, json!({"ok": true, "channel": "C1", "ts": "1.2"}))
        } else if p.ends_with("/sendMessage") {
            Resp::json(
                200,
                json!({"ok": true, "result": {"message_id": 5, "chat": {"id": -1}}}),
            )
        } else if p.starts_with("/api/webhooks/") {
            Resp::json(200, json!({"id": "4242"}))
        } else {
            Resp::text(200, "ok")
        }
    }
    fn without_id(p: &str) -> Resp {
        if p == "/api/v1/statuses" {
            Resp::json(200, json!({"content": "<p>hi</p>"}))
        } else if p.ends_with("createRecord") {
            Resp::json(200, json!({"cid": "bafy"}))
        } else if p == "/2/tweets" {
            Resp::json(201, json!({"data": {"text": "hi"}}))
        } else if p == "/rest/posts" {
            Resp::text(201, "")
        } else if p.ends_with("/feed") {
            Resp::json(200, json!({"success": true}))
        } else if p == "/chat.postMessage" {
            Resp::json(200, json!({"ok": true, "channel": "C1"}))
        } else if p.ends_with("/sendMessage") {
            Resp::json(200, json!({"ok": true, "result": {"chat": {"id": -1}}}))
        } else if p.starts_with("/api/webhooks/") {
            Resp::json(200, json!({"content": "hi"}))
        } else {
            // Incoming webhooks (Slack's, generic) answer without an id: their 2xx is the
            // receipt.
            Resp::text(200, "ok")
        }
    }
    let server = FakeServer::start(|req, _| {
        let p = req.path.as_str();
        if p == "/api/v2/instance" {
            return Resp::json(200, json!({}));
        }
        if p.ends_with("createSession") {
            return Resp::json(
                200,
                json!({"accessJwt": "a-jwt", "refreshJwt": "r-jwt", "did": "did:plc:co", "handle": "co.bsky.social"}),
            );
        }
        if p.contains("resolveHandle") {
            return Resp::json(400, json!({"error": "InvalidRequest"}));
        }
        match mode_of(req).as_str() {
            "timeout" => with_id(p).after(Duration::from_millis(1500)),
            "reset" => Resp::hang_up(),
            "noid" => without_id(p),
            "429" => Resp::json(
                429,
                json!({"error": "RateLimitExceeded", "message": "slow down"}),
            ),
            m @ ("500" | "502" | "503" | "504") => {
                Resp::text(m.parse().unwrap(), "<html>gateway</html>")
            }
            _ => with_id(p),
        }
    });
    let x_secret =
        "consumer_key=ck\nconsumer_secret=cs\naccess_token=1-at\naccess_token_secret=ats\n";
    let url = Some(server.url.clone());
    let hook = |path: &str| format!("{}{path}", server.url);
    let cases: Vec<(&str, Option<String>, Option<&str>, String)> = vec![
        ("mastodon", url.clone(), None, TOKEN.into()),
        ("x", url.clone(), Some("@co"), x_secret.into()),
        (
            "telegram",
            url.clone(),
            Some("@co"),
            "123456789:AAtok-en_tg".into(),
        ),
        (
            "bluesky",
            url.clone(),
            Some("co.bsky.social"),
            "app-pass".into(),
        ),
        ("slack", url.clone(), Some("C1"), "xoxb-1".into()),
        ("facebook", url.clone(), Some("1111"), TOKEN.into()),
        (
            "linkedin",
            url.clone(),
            Some("urn:li:organization:1"),
            TOKEN.into(),
        ),
        ("discord", None, None, hook("/api/webhooks/1/tok")),
        ("slack-webhook", None, None, hook("/services/T/B/x")),
        ("webhook", None, None, hook("/hook/x")),
    ];
    let sends = |server: &FakeServer| {
        server
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && !mode_of(r).is_empty())
            .count()
    };
    let mut covered = vec!["outbox".to_string()]; // no network: nothing to judge
    for (provider, url, handle, secret) in &cases {
        let s = sandbox_with(provider, url.as_deref(), *handle, secret);
        s.set_env("SMV_HTTP_TIMEOUT_MS", "400");
        let webhook_receipt = matches!(*provider, "slack-webhook" | "webhook");
        for (mode, code) in [
            ("timeout", 12),
            ("reset", 12),
            ("500", 12),
            ("502", 12),
            ("504", 12),
            ("503", 11),
            ("429", 11),
            ("noid", if webhook_receipt { 0 } else { 12 }),
        ] {
            let text = format!("mode-{mode}");
            let key = format!("key-{mode}");
            let args = [
                "post",
                "acc",
                text.as_str(),
                "--idempotency-key",
                &key,
                "--json",
            ];
            let before = sends(&server);
            let r = s.smv(&args);
            assert_eq!(
                r.code, code,
                "{provider} {mode}: exit {}\n{}\n{}",
                r.code, r.stdout, r.stderr
            );
            assert_eq!(
                sends(&server),
                before + 1,
                "{provider} {mode}: not sent once"
            );
            let status = &r.json()[0]["status"];
            let expected = match code {
                12 => "unknown",
                11 => "failed",
                _ => "posted",
            };
            assert_eq!(status, expected, "{provider} {mode}: {}", r.stdout);
            // The same key again.
            let again = s.smv(&args);
            match code {
                12 => {
                    assert_eq!(again.code, 12, "{provider} {mode}: {}", again.stderr);
                    assert_eq!(
                        sends(&server),
                        before + 1,
                        "{provider} {mode}: a retry of an unknown outcome posted again"
                    );
                }
                11 => {
                    // Nothing was done: the retry is sent (and turned away again).
                    assert_eq!(again.code, 11, "{provider} {mode}: {}", again.stderr);
                    assert_eq!(sends(&server), before + 2, "{provider} {mode}");
                }
                _ => {
                    assert_eq!(again.code, 0, "{provider} {mode}: {}", again.stderr);
                    assert_eq!(again.json()[0]["status"], "already_posted");
                    assert_eq!(
                        sends(&server),
                        before + 1,
                        "{provider} {mode}: posted twice"
                    );
                }
            }
        }
        covered.push(provider.to_string());
    }
    // Every provider smv implements is in the matrix.
    let mut all: Vec<String> = smv::providers::CATALOGUE
        .iter()
        .filter(|p| smv::providers::implementation(p.name).is_ok())
        .map(|p| p.name.to_string())
        .collect();
    all.sort();
    covered.sort();
    assert_eq!(covered, all);
}

/// A server that puts the token in a redirect's host: the host comes back lower-cased
/// (URLs fold host names), which a case-sensitive redaction missed (issue 23, finding 6).
/// It is redacted on the CLI, in --json and in the audit log, whatever its case.
#[test]
fn a_token_in_a_redirect_host_is_redacted_in_any_case() {
    const HOST_TOKEN: &str = "CANARYhostTok7F3A9c";
    let server = FakeServer::start(move |req, _| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, json!({})),
        _ => {
            let bearer = req.header("authorization").unwrap_or_default();
            let token = bearer.trim_start_matches("Bearer ");
            let shout = req.json()["status"] == "shout";
            let host = if shout {
                token.to_ascii_uppercase()
            } else {
                token.to_string()
            };
            Resp::text(302, "").with_header("Location", &format!("https://{host}.evil.example/x"))
        }
    });
    let s = sandbox_with("mastodon", Some(&server.url), None, HOST_TOKEN);
    for text in ["lower", "shout"] {
        let r = s.smv(&["post", "acc", text, "--json"]).fails(11).json();
        let err = r[0]["error"].as_str().unwrap();
        assert!(err.contains("a redirect to [REDACTED]"), "{err}");
        s.smv(&["post", "acc", text]).fails(11);
    }
    s.smv(&["audit", "log", "--json"]).ok();
    let canaries = vec![HOST_TOKEN.to_string()];
    for (i, text) in s.transcript.borrow().iter().enumerate() {
        support::echo::assert_clean(&format!("output #{i}"), text.as_bytes(), &canaries);
    }
    support::echo::assert_clean(
        "the audit log",
        &std::fs::read(s.audit()).unwrap(),
        &canaries,
    );
    // The detector sees a lower-cased echo.
    assert!(
        !support::echo::leaks(HOST_TOKEN.to_ascii_lowercase().as_bytes(), HOST_TOKEN).is_empty()
    );
}

/// The versions the LinkedIn fake serves, as LinkedIn did in December 2026: a year of
/// monthly versions; older ones (202411, smv's pin until then, retired on 2025-11-17) are
/// answered 426, as LinkedIn answers them.
fn linkedin_serves(req: &support::fake_http::Req) -> bool {
    let v = req.header("linkedin-version").unwrap_or_default();
    v.len() >= 6 && ("202601".."202612").contains(&&v[..6])
}

fn linkedin_retired(req: &support::fake_http::Req) -> Resp {
    let v = req.header("linkedin-version").unwrap_or_default();
    Resp::json(
        426,
        json!({"status": 426, "code": "VERSION_DEPRECATED", "message": format!("Requested version {v} is not active")}),
    )
}

/// Versioned APIs don't rot silently (issue 24, item 10): LinkedIn answers a retired
/// `LinkedIn-Version` with 426, which is a clear error naming the setting (before: smv
/// sent 202411 and every post failed with an unexplained "unexpected answer"). The version
/// is set in config.toml for every LinkedIn account and per account, without a new build;
/// `smv secrets` and `account check` warn about a version retired soon or already.
#[test]
fn a_retired_linkedin_version_is_named_and_settable_without_a_new_build() {
    let server = FakeServer::start(|req, _| match req.path.as_str() {
        "/rest/posts" if !linkedin_serves(req) => linkedin_retired(req),
        "/rest/posts" => Resp::text(201, "").with_header("x-restli-id", "urn:li:share:9"),
        "/v2/userinfo" => Resp::json(200, json!({"name": "Co"})),
        _ => Resp::text(404, ""),
    });
    let s = sandbox_with(
        "linkedin",
        Some(&server.url),
        Some("urn:li:organization:1"),
        TOKEN,
    );
    let version_of_last = || {
        server
            .requests()
            .last()
            .and_then(|r| r.header("linkedin-version").map(str::to_string))
            .unwrap_or_default()
    };
    // smv's pinned version is one LinkedIn serves.
    s.smv(&["post", "acc", "pinned"]).ok();
    assert_eq!(version_of_last(), "202607");
    // config.toml moves every LinkedIn account (here: back to the retired one).
    let config = s.home().join(".config/smv/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[api_versions]\nlinkedin = \"202411\"\n").unwrap();
    let r = s
        .smv(&["post", "acc", "retired", "--json"])
        .fails(11)
        .json();
    assert_eq!(version_of_last(), "202411");
    let err = r[0]["error"].as_str().unwrap();
    assert!(
        err.contains("no longer serves this API version")
            && err.contains("smv account set acc --api-version")
            && err.contains("[api_versions] linkedin"),
        "{err}"
    );
    let outcome = s
        .audit_entries()
        .into_iter()
        .rfind(|e| e.action == "post" && e.outcome != smv::audit::Outcome::Intent)
        .unwrap();
    assert_eq!(outcome.outcome.as_str(), "failed");
    assert_eq!(outcome.details["error_kind"], "api_version");
    assert_eq!(outcome.details["http_status"], 426);
    // Both warn about the retired version, naming the setting.
    s.smv(&["secrets"])
        .ok()
        .stderr_has("linkedin API version 202411 was retired on 2025-11-15")
        .stderr_has("smv account set acc --api-version");
    // (LinkedIn's post permission cannot be proved read-only: exit 14, `unproved`.)
    s.smv(&["account", "check", "acc"])
        .fails(14)
        .stderr_has("202411 was retired");
    // The account's own setting wins over config.toml.
    s.smv(&["account", "set", "acc", "--api-version", "202608"])
        .ok()
        .stdout_has("API version 202608");
    s.smv(&["post", "acc", "own version"]).ok();
    assert_eq!(version_of_last(), "202608");
    let quiet = s.smv(&["secrets"]).ok();
    assert!(!quiet.stderr.contains("retired"), "{}", quiet.stderr);
    // Cleared: config.toml's again.
    s.smv(&["account", "set", "acc", "--api-version", ""]).ok();
    s.smv(&["post", "acc", "config again"]).fails(11);
    assert_eq!(version_of_last(), "202411");
    // Refusals: not a version, a network without a pinned version, a bad config value.
    s.smv(&["account", "set", "acc", "--api-version", "2026-08"])
        .fails(2)
        .stderr_has("YYYYMM");
    s.smv(&["account", "add", "box", "--provider", "outbox"])
        .ok();
    s.smv(&["account", "set", "box", "--api-version", "202608"])
        .fails(2)
        .stderr_has("pins no API version");
    std::fs::write(&config, "[api_versions]\nlinkedin = \"latest\"\n").unwrap();
    s.smv(&["secrets"]).fails(2).stderr_has("not a version");
    std::fs::write(&config, "[api_versions]\nmastodon = \"v1\"\n").unwrap();
    s.smv(&["secrets"])
        .fails(2)
        .stderr_has("pins no API version of `mastodon`");
    assert_no_token(&s);
}
