//! The one HTTP client every network provider uses.
//!
//! - Redirects are never followed: an API that answers a POST with a redirect is not trusted
//!   to receive the credential again, least of all on another host.
//! - Timeouts on connect and on the whole request; bodies read up to a bound.
//! - Every text that leaves this module (errors, bodies) is redacted of the account's secrets
//!   in the forms a server may echo (raw, URL-encoded, base64).
//! - Status codes and rate-limit headers map to the few [`ProviderError`] kinds; a short
//!   rate-limit wait is taken once, a long one is reported with its reset time.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;

use super::ProviderError;
use crate::secret::{Secret, redact_all};

/// Bodies larger than this are cut: no network needs more to say "ok, id 123".
const MAX_BODY: usize = 1024 * 1024;
/// The longest rate-limit wait taken before retrying once; longer waits fail fast.
const MAX_WAIT: Duration = Duration::from_secs(10);

pub struct Http {
    client: Client,
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Http {
    /// The process's one client. Building a client loads the TLS roots and starts reqwest's
    /// runtime thread (milliseconds); the proxy posts many times per second, so it is built
    /// once and shared (a clone is a reference), with its connection pool.
    pub fn new() -> Result<Http, ProviderError> {
        static CLIENT: std::sync::OnceLock<Result<Client, String>> = std::sync::OnceLock::new();
        let client = CLIENT.get_or_init(|| {
            // reqwest is built without a default crypto provider; ring is ours. Installing
            // twice (the proxy client installs it too) is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10))
                .timeout(timeout())
                .user_agent(concat!("smv/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        });
        match client {
            Ok(c) => Ok(Http { client: c.clone() }),
            Err(e) => Err(ProviderError::Unexpected(e.clone())),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a request (built fresh by `make`, so it can be retried once after a short
    /// rate-limit wait) and returns a 2xx response; every other answer becomes an error.
    pub fn send(
        &self,
        make: &dyn Fn(&Client) -> RequestBuilder,
        secrets: &[&Secret],
    ) -> Result<Response, ProviderError> {
        let mut waited = false;
        loop {
            let resp = self.raw(make(&self.client), secrets)?;
            if resp.status == 429 {
                let (wait, until) = rate_limit_reset(&resp);
                if let Some(w) = wait
                    && !waited
                    && w <= MAX_WAIT
                {
                    std::thread::sleep(w);
                    waited = true;
                    continue;
                }
                return Err(ProviderError::RateLimited {
                    until,
                    message: summary(&resp, secrets),
                });
            }
            return check_status(resp, secrets);
        }
    }

    /// Sends without interpreting the status (for APIs that answer errors with 200).
    pub fn raw(&self, req: RequestBuilder, secrets: &[&Secret]) -> Result<Response, ProviderError> {
        let mut resp = req.send().map_err(|e| transport_error(e, secrets))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        use std::io::Read;
        (&mut resp)
            .take(MAX_BODY as u64)
            .read_to_end(&mut body)
            .map_err(|e| {
                ProviderError::Unreachable(redact_all(
                    &format!("reading the answer failed: {e}"),
                    secrets,
                ))
            })?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn timeout() -> Duration {
    // Tests shorten it to exercise the timeout path quickly.
    std::env::var("SMV_HTTP_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(30), Duration::from_millis)
}

fn transport_error(e: reqwest::Error, secrets: &[&Secret]) -> ProviderError {
    // reqwest's messages include the URL, which may carry a token (Telegram, webhooks):
    // drop it, then redact what is left anyway.
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("cannot connect ({})", source_chain(&e))
    } else {
        source_chain(&e)
    };
    ProviderError::Unreachable(redact_all(&what, secrets))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A short, redacted description of an error answer: the network's own message when it has
/// one, else the start of the body.
pub fn summary(resp: &Response, secrets: &[&Secret]) -> String {
    let text = match resp.json() {
        Some(v) => [
            "error_description",
            "description",
            "detail",
            "message",
            "error",
        ]
        .iter()
        .find_map(|k| v.get(*k).and_then(|m| m.as_str().map(str::to_string)))
        .or_else(|| {
            v.get("error")
                .and_then(|e| e.get("message"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .or_else(|| v.get("errors").map(|e| e.to_string()))
        .unwrap_or_else(|| v.to_string()),
        None => String::from_utf8_lossy(&resp.body).into_owned(),
    };
    let text = redact_all(&text, secrets);
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    format!(
        "HTTP {}: {}",
        resp.status,
        if text.is_empty() {
            "(no message)"
        } else {
            &text
        }
    )
}

/// Maps a finished response to success (2xx) or the error kind its status means.
pub fn check_status(resp: Response, secrets: &[&Secret]) -> Result<Response, ProviderError> {
    match resp.status {
        200..=299 => Ok(resp),
        300..=399 => Err(ProviderError::Unexpected(format!(
            "HTTP {}: a redirect{}; not followed, so the credential was not sent there",
            resp.status,
            resp.header("location")
                .and_then(|l| reqwest::Url::parse(l).ok())
                .and_then(|u| u.host_str().map(|h| format!(" to {h}")))
                .unwrap_or_default()
        ))),
        401 | 403 => Err(ProviderError::CredentialRejected(summary(&resp, secrets))),
        429 => {
            let (_, until) = rate_limit_reset(&resp);
            Err(ProviderError::RateLimited {
                until,
                message: summary(&resp, secrets),
            })
        }
        400 | 404 | 409 | 413 | 422 => Err(ProviderError::ContentRejected(summary(&resp, secrets))),
        _ => Err(ProviderError::Unexpected(summary(&resp, secrets))),
    }
}

/// How long to wait, and until when, from `Retry-After` (seconds or an HTTP date),
/// `x-rate-limit-reset` (X: epoch seconds) or `x-ratelimit-reset` (Mastodon: a time).
pub fn rate_limit_reset(resp: &Response) -> (Option<Duration>, Option<String>) {
    let now = chrono::Utc::now();
    let at = if let Some(v) = resp.header("retry-after") {
        match v.trim().parse::<u64>() {
            Ok(secs) => Some(now + chrono::Duration::seconds(secs as i64)),
            Err(_) => chrono::DateTime::parse_from_rfc2822(v.trim())
                .ok()
                .map(|t| t.to_utc()),
        }
    } else if let Some(v) = resp.header("x-rate-limit-reset") {
        v.trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
    } else if let Some(v) = resp.header("x-ratelimit-reset") {
        chrono::DateTime::parse_from_rfc3339(v.trim())
            .ok()
            .map(|t| t.to_utc())
    } else {
        None
    };
    match at {
        Some(t) => {
            let wait = (t - now).to_std().unwrap_or(Duration::ZERO);
            (
                Some(wait),
                Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            )
        }
        None => (None, None),
    }
}
