//! A hostile network for the canary sweep: a fake server that echoes the secret-bearing part
//! of each request it receives (the path, a header value, a piece of the body) back in one
//! of many shapes and places, and a detector that finds a canary in any of those shapes.
//!
//! The detector is written independently of smv's redaction (src/redact.rs): a bug there
//! must not be mirrored here.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::fake_http::{FakeServer, Req, Resp};

/// How the echoed material is encoded.
pub const SHAPES: &[&str] = &[
    "raw", "pctup", "pctlow", "pctres", "bsix0", "bsix1", "bsix2", "bsixurl", "hexlow", "hexup",
    "wrapped", "splitctl", "splitzw", "jsonesc", "htmlent",
];

/// Where the echo goes: the network's JSON message field, its code field, an HTML page, a
/// plain-text body, a response header, or a successful answer's id / URL / name.
pub const PLACES: &[&str] = &["json", "code", "html", "text", "header", "ok"];

pub fn shape(s: &str, m: &str) -> String {
    let pct = |upper: bool, all: bool| -> String {
        m.bytes()
            .map(|b| {
                if !all && (b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
                    (b as char).to_string()
                } else if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    };
    match s {
        "raw" => m.to_string(),
        "pctup" => pct(true, false),
        "pctlow" => pct(false, false),
        // Every byte, as some servers log request lines.
        "pctres" => pct(true, true),
        "bsix0" => STANDARD.encode(m),
        "bsix1" => STANDARD.encode(format!("x{m}")),
        "bsix2" => STANDARD.encode(format!("xy{m}")),
        "bsixurl" => URL_SAFE_NO_PAD.encode(format!("z{m}")),
        "hexlow" => hex(m.as_bytes()),
        "hexup" => hex(m.as_bytes()).to_uppercase(),
        "wrapped" => STANDARD
            .encode(m)
            .as_bytes()
            .chunks(19)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect(),
        "splitctl" => split(m, "\u{1}"),
        "splitzw" => split(m, "\u{200b}"),
        "jsonesc" => m
            .chars()
            .map(|c| match c {
                '/' => "\\/".to_string(),
                c if c.is_ascii_alphanumeric() => c.to_string(),
                c => format!("\\u{:04x}", c as u32),
            })
            .collect(),
        "htmlent" => m
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    format!("&#x{:x};", c as u32)
                }
            })
            .collect(),
        other => panic!("unknown shape {other}"),
    }
}

fn split(m: &str, sep: &str) -> String {
    let chars: Vec<char> = m.chars().collect();
    chars
        .chunks(3)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(sep)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every form of `canary` the sweep looks for.
fn forms(canary: &str) -> Vec<(String, Vec<u8>, bool)> {
    let c = canary.as_bytes();
    // Raw in any case: a host name comes back lower-cased, some servers upper-case.
    let mut out: Vec<(String, Vec<u8>, bool)> = vec![("raw".into(), c.to_vec(), true)];
    for (name, all) in [("percent", false), ("percent-all", true)] {
        let enc: String = c
            .iter()
            .map(|b| {
                if !all && (b.is_ascii_alphanumeric() || b"-._~".contains(b)) {
                    (*b as char).to_string()
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect();
        // Compared case-insensitively: either hex case.
        out.push((name.into(), enc.into_bytes(), true));
    }
    out.push(("hex".into(), hex(c).into_bytes(), true));
    // Base64: the characters that encode only the canary's bits, at each alignment.
    for k in 0..3usize {
        let mut input = vec![0u8; k];
        input.extend_from_slice(c);
        let enc = STANDARD.encode(&input);
        let first = (8 * k).div_ceil(6);
        let last = (8 * (k + c.len())) / 6;
        let core = enc.as_bytes()[first..last].to_vec();
        let url: Vec<u8> = core
            .iter()
            .map(|b| match b {
                b'+' => b'-',
                b'/' => b'_',
                x => *x,
            })
            .collect();
        out.push((format!("base64 at {k}"), core, false));
        out.push((format!("base64url at {k}"), url, false));
    }
    out
}

fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c as u32, 0x00AD | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064 | 0xFEFF)
}

/// The text as a reader could reassemble it: JSON/backslash escapes and HTML references
/// undone, percent-escapes decoded, invisible characters removed.
fn views(hay: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(hay);
    let strip = |s: &str| -> Vec<u8> {
        s.chars()
            .filter(|c| !invisible(*c))
            .collect::<String>()
            .into_bytes()
    };
    // Escapes may themselves be escaped (a string in JSON output) or split by invisible
    // characters: strip, unescape twice, decode twice.
    let stripped = String::from_utf8_lossy(&strip(&text)).into_owned();
    let mut out = vec![hay.to_vec(), strip(&text)];
    for base in [text.into_owned(), stripped] {
        let unescaped = unescape_backslashes(&unescape_backslashes(&base));
        let entities = unescape_entities(&unescaped);
        let decoded = percent_decode(&entities);
        out.push(strip(&unescape_backslashes(&base)));
        out.push(strip(&unescaped));
        out.push(strip(&entities));
        out.push(strip(&String::from_utf8_lossy(&decoded)));
        out.push(strip(&String::from_utf8_lossy(&percent_decode(
            &String::from_utf8_lossy(&decoded),
        ))));
    }
    out
}

fn unescape_backslashes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let h: String = (0..4).filter_map(|_| chars.next()).collect();
                match u32::from_str_radix(&h, 16).ok().and_then(char::from_u32) {
                    Some(x) => out.push(x),
                    None => out.push_str(&h),
                }
            }
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(x) => out.push(x),
            None => {}
        }
    }
    out
}

fn unescape_entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("&#x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        match after.find(';').and_then(|j| {
            u32::from_str_radix(&after[..j], 16)
                .ok()
                .and_then(char::from_u32)
                .map(|c| (c, j))
        }) {
            Some((c, j)) => {
                out.push(c);
                rest = &after[j + 1..];
            }
            None => {
                out.push_str("&#x");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
}

pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Where `canary` shows in `hay`, in any form: a description of each hit (empty: clean).
pub fn leaks(hay: &[u8], canary: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let forms = forms(canary);
    for (vi, view) in views(hay).iter().enumerate() {
        let lower = view.to_ascii_lowercase();
        for (name, form, fold) in &forms {
            let (h, f) = if *fold {
                (&lower, form.to_ascii_lowercase())
            } else {
                (view, form.clone())
            };
            if f.len() <= h.len() && h.windows(f.len()).any(|w| w == f.as_slice()) {
                hits.push(format!("{name} (view {vi})"));
            }
        }
    }
    hits
}

#[track_caller]
pub fn assert_clean(what: &str, hay: &[u8], canaries: &[String]) {
    for c in canaries {
        let hits = leaks(hay, c);
        assert!(
            hits.is_empty(),
            "{what} shows the secret {c:?} as {hits:?}:\n{}",
            String::from_utf8_lossy(hay)
        );
    }
}

/// What one request carries that holds a secret: the path, a header value or the body,
/// cut to a window around the canary when long. `None` when no canary is in it.
fn material(req: &Req, canaries: &[String]) -> String {
    let contains = |s: &str| -> Option<usize> {
        canaries.iter().find_map(|c| {
            s.find(c.as_str()).or_else(|| {
                String::from_utf8_lossy(&percent_decode(s))
                    .find(c.as_str())
                    .map(|_| 0)
            })
        })
    };
    let mut found = Vec::new();
    let mut candidates: Vec<String> = vec![req.path.clone()];
    let mut headers: Vec<(&String, &String)> = req.headers.iter().collect();
    headers.sort();
    for (_, v) in headers {
        candidates.push(v.clone());
    }
    candidates.push(String::from_utf8_lossy(&req.body).into_owned());
    for cand in candidates {
        if let Some(at) = contains(&cand) {
            found.push(window(&cand, at));
        } else if let Some(b) = cand.strip_prefix("Basic ") {
            // `Basic base64(id:secret)`: echoed as sent, the secret inside the base64.
            let decoded = STANDARD.decode(b.trim()).unwrap_or_default();
            if canaries
                .iter()
                .any(|c| String::from_utf8_lossy(&decoded).contains(c.as_str()))
            {
                found.push(cand.clone());
            }
        }
    }
    if found.is_empty() {
        found.push(req.header("authorization").unwrap_or("").to_string());
    }
    found.join(" ")
}

fn window(s: &str, at: usize) -> String {
    if s.len() <= 160 {
        return s.to_string();
    }
    let mut start = at.saturating_sub(20);
    while !s.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 110).min(s.len());
    while !s.is_char_boundary(end) {
        end += 1;
    }
    s[start..end].to_string()
}

/// The case a request asks for: `case-SHAPE-PLACE` in its body (the post text), else the
/// last one seen (requests without a text: sessions, token endpoints, checks).
fn case_of(req: &Req, last: &Mutex<(String, String)>) -> (String, String) {
    let body =
        String::from_utf8_lossy(&percent_decode(&String::from_utf8_lossy(&req.body))).into_owned();
    if let Some(i) = body.find("case-") {
        let rest: String = body[i + 5..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let mut parts = rest.splitn(2, '-');
        let s = parts.next().unwrap_or("raw").to_string();
        let p = parts.next().unwrap_or("json").to_string();
        *last.lock().unwrap() = (s.clone(), p.clone());
        return (s, p);
    }
    last.lock().unwrap().clone()
}

/// The network's error answer, with `echo` in its message field (or its code field).
fn error_answer(provider: &str, echo: &str, in_code: bool) -> Resp {
    let (msg, code) = if in_code {
        ("refused".to_string(), echo.to_string())
    } else {
        (echo.to_string(), "refused_here".to_string())
    };
    match provider {
        "mastodon" if in_code => Resp::json(
            401,
            json!({"error": code, "error_description": "The access token is invalid"}),
        ),
        "mastodon" => Resp::json(401, json!({"error": msg})),
        "x" => Resp::json(403, json!({"title": code, "detail": msg, "status": 403})),
        "bluesky" => Resp::json(400, json!({"error": code, "message": msg})),
        "linkedin" => Resp::json(401, json!({"status": 401, "code": code, "message": msg})),
        "facebook" if in_code => Resp::json(
            400,
            json!({"error": {"message": msg, "type": "OAuthException", "code": code}}),
        ),
        "facebook" => Resp::json(
            400,
            json!({"error": {"message": msg, "type": "OAuthException", "code": 190}}),
        ),
        // Slack has a code only, even in its 200 answers.
        "slack" => Resp::json(200, json!({"ok": false, "error": echo})),
        "slack-webhook" => Resp::json(403, json!({"error": echo})),
        "discord" if in_code => Resp::json(404, json!({"message": msg, "code": code})),
        "discord" => Resp::json(404, json!({"message": msg, "code": 10015})),
        "telegram" if in_code => Resp::json(
            401,
            json!({"ok": false, "error_code": code, "description": msg}),
        ),
        "telegram" => Resp::json(
            401,
            json!({"ok": false, "error_code": 401, "description": msg}),
        ),
        "webhook" => Resp::json(404, json!({"message": msg, "error": code})),
        other => panic!("no error shape for {other}"),
    }
}

/// A successful answer whose id / URL / name carries `echo`.
fn ok_answer(provider: &str, path: &str, echo: &str) -> Resp {
    match provider {
        "mastodon" => Resp::json(
            200,
            json!({"id": format!("9{echo}"), "url": format!("https://social.example/@co/{echo}"), "acct": echo}),
        ),
        "x" => Resp::json(
            201,
            json!({"data": {"id": echo, "username": echo, "text": "t"}}),
        ),
        "bluesky" => Resp::json(
            200,
            json!({"uri": format!("at://did:plc:test/app.bsky.feed.post/{echo}"), "cid": "c1", "handle": echo}),
        ),
        "linkedin" => {
            let safe: String = echo.chars().filter(|c| !c.is_control()).collect();
            Resp::json(201, json!({"name": echo})).with_header("x-restli-id", &safe)
        }
        "facebook" => Resp::json(200, json!({"id": echo, "name": echo})),
        "slack" => Resp::json(
            200,
            json!({"ok": true, "channel": "C1", "ts": echo, "user": echo, "team": "T"}),
        ),
        "slack-webhook" => Resp::text(200, "ok"),
        "discord" => Resp::json(200, json!({"id": echo, "name": echo})),
        "telegram" => Resp::json(
            200,
            json!({"ok": true, "result": {"message_id": echo, "username": echo, "chat": {"id": 1, "username": "co"}}}),
        ),
        "webhook" => Resp::json(200, json!({"id": echo})),
        other => panic!("no answer for {other} {path}"),
    }
}

/// An echoing network for `provider`. `canaries`: the secret values the sweep looks for
/// (the server finds them in requests to pick what to echo). Bluesky sessions carry the
/// JWTs `jwts` (canaries too).
pub fn server(provider: &'static str, canaries: Vec<String>, jwts: (String, String)) -> FakeServer {
    let last = Arc::new(Mutex::new(("raw".to_string(), "json".to_string())));
    FakeServer::start(move |req, _| {
        let path = req.path.clone();
        // Public calls every network answers plainly.
        if path == "/api/v2/instance" {
            return Resp::json(200, json!({}));
        }
        if path.contains("resolveHandle") {
            return Resp::json(400, json!({"error": "InvalidRequest"}));
        }
        let (s, place) = case_of(req, &last);
        let m = material(req, &canaries);
        let echo = shape(&s, &m);
        if provider == "bluesky" && path.ends_with("createSession") && place != "session" {
            return Resp::json(
                200,
                json!({"accessJwt": jwts.0, "refreshJwt": jwts.1, "did": "did:plc:test", "handle": "co.test"}),
            );
        }
        if provider == "bluesky" && path.ends_with("refreshSession") {
            return error_answer(provider, &echo, false);
        }
        if provider == "bluesky" && place == "session" && !path.ends_with("createSession") {
            // The session is refused: smv renews it, and the network echoes the password.
            return Resp::json(401, json!({"error": "ExpiredToken", "message": "expired"}));
        }
        if provider == "x" && place == "refresh" {
            if path == "/2/oauth2/token" {
                return Resp::json(
                    400,
                    json!({"error": "invalid_client", "error_description": echo}),
                );
            }
            return Resp::json(
                401,
                json!({"title": "Unauthorized", "detail": "Unauthorized"}),
            );
        }
        let header_safe: String = echo.chars().filter(|c| !c.is_control()).collect();
        match place.as_str() {
            "code" => error_answer(provider, &echo, true),
            "html" => Resp {
                status: 404,
                headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
                body: format!(
                    "<!DOCTYPE html><html><body><pre>Cannot POST {echo}</pre></body></html>"
                )
                .into_bytes(),
                delay: std::time::Duration::ZERO,
            },
            "text" => Resp::text(404, &format!("Cannot POST {echo}")),
            "header" => {
                error_answer(provider, "refused", false).with_header("X-Echo", &header_safe)
            }
            "ok" => ok_answer(provider, &path, &echo),
            _ => error_answer(provider, &echo, false),
        }
    })
}

/// One provider's account: its secret, and the values that must never be shown.
pub struct Net {
    pub provider: &'static str,
    pub secret: String,
    pub canaries: Vec<String>,
    pub url: bool,
    pub handle: Option<&'static str>,
    pub jwts: (String, String),
    pub extra_places: &'static [&'static str],
}

/// The account of `provider` (`x1`: X with OAuth 1.0a, `x2`: OAuth 2.0) for a network at
/// `base`.
pub fn account(provider: &'static str, base: &str) -> Net {
    let none = (String::new(), String::new());
    let token = |name: &str| format!("CANARY-{name}/+=tok-5e1f0a9b");
    let one = |provider, secret: String, handle| Net {
        provider,
        canaries: vec![secret.clone()],
        secret,
        url: true,
        handle,
        jwts: none.clone(),
        extra_places: &[],
    };
    match provider {
        "mastodon" => one("mastodon", token("mstdn"), None),
        "linkedin" => one(
            "linkedin",
            token("lnkd"),
            Some("urn:li:organization:12345"),
        ),
        "facebook" => one("facebook", token("fbpg"), Some("1111")),
        "slack" => one("slack", "xoxb-CANARY-slack/+=-9a8b7c6d".into(), Some("C1")),
        "telegram" => one("telegram", "123456:CANARY-tg_tok-88bb77".into(), Some("@co")),
        "x1" => Net {
            provider: "x",
            secret: "consumer_key=ck-public-1\nconsumer_secret=CANARY-xcs-1a2b3c4d\naccess_token=CANARY-xat-5e6f7a8b\naccess_token_secret=CANARY-xats-9c0d1e2f\n".into(),
            canaries: vec![
                "CANARY-xcs-1a2b3c4d".into(),
                "CANARY-xat-5e6f7a8b".into(),
                "CANARY-xats-9c0d1e2f".into(),
            ],
            url: true,
            handle: Some("@co"),
            jwts: none,
            extra_places: &[],
        },
        "x2" => Net {
            provider: "x",
            secret: "access_token=CANARY-xa2/+=-3f4e5d6c\nrefresh_token=CANARY-xr2/+=-7b8a9f0e\nclient_id=client-1\nclient_secret=CANARY-xcs2/+=-1d2c3b4a\n".into(),
            canaries: vec![
                "CANARY-xa2/+=-3f4e5d6c".into(),
                "CANARY-xr2/+=-7b8a9f0e".into(),
                "CANARY-xcs2/+=-1d2c3b4a".into(),
            ],
            url: true,
            handle: Some("@co"),
            jwts: none,
            extra_places: &["refresh"],
        },
        "bluesky" => Net {
            provider: "bluesky",
            secret: "CANARY-bsky-pw/+=-2468ace0".into(),
            canaries: vec![
                "CANARY-bsky-pw/+=-2468ace0".into(),
                "CANARYjwtAccess.eyJhbGci.13579bdf".into(),
                "CANARYjwtRefresh.eyJhbGci.02468ace".into(),
            ],
            url: true,
            handle: Some("co.test"),
            jwts: (
                "CANARYjwtAccess.eyJhbGci.13579bdf".into(),
                "CANARYjwtRefresh.eyJhbGci.02468ace".into(),
            ),
            extra_places: &["session"],
        },
        "discord" => Net {
            provider: "discord",
            secret: format!("{base}/api/webhooks/123456789/CANARY-discord_cap-77aa66"),
            canaries: vec!["CANARY-discord_cap-77aa66".into()],
            url: false,
            handle: None,
            jwts: none,
            extra_places: &[],
        },
        "slack-webhook" => Net {
            provider: "slack-webhook",
            secret: format!("{base}/services/T0AAA/B0BBB/CANARYslackhookCAP1234"),
            canaries: vec!["CANARYslackhookCAP1234".into()],
            url: false,
            handle: None,
            jwts: none,
            extra_places: &[],
        },
        "webhook" => Net {
            provider: "webhook",
            secret: format!("{base}/hook/CANARY-genhook-cap-99cc?key=CANARY-genhook-key-11dd"),
            canaries: vec![
                "CANARY-genhook-cap-99cc".into(),
                "CANARY-genhook-key-11dd".into(),
            ],
            url: false,
            handle: None,
            jwts: none,
            extra_places: &[],
        },
        other => panic!("{other}"),
    }
}

/// The cases each provider goes through: every shape in the message field, and the raw
/// material (and base64, for where it is placed) in every other place.
pub fn cases() -> Vec<String> {
    let mut out: Vec<String> = SHAPES.iter().map(|s| format!("case-{s}-json")).collect();
    for p in PLACES.iter().filter(|p| **p != "json") {
        out.push(format!("case-raw-{p}"));
        out.push(format!("case-bsix1-{p}"));
    }
    out
}

pub fn map_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A JSON value's text, for searching.
pub fn text_of(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// Every provider the sweep covers (X twice: OAuth 1.0a and 2.0). The outbox has no secret.
pub const PROVIDERS: &[&str] = &[
    "mastodon",
    "x1",
    "x2",
    "bluesky",
    "linkedin",
    "facebook",
    "slack",
    "slack-webhook",
    "discord",
    "telegram",
    "webhook",
];

/// All the cases of `n`: [`cases`] and its extra places.
pub fn cases_of(n: &Net) -> Vec<String> {
    let mut cases = cases();
    for place in n.extra_places {
        for shape in SHAPES {
            cases.push(format!("case-{shape}-{place}"));
        }
    }
    cases
}
