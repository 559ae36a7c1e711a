//! The one HTTP client every network provider uses.
//!
//! - Redirects are never followed: an API that answers a POST with a redirect is not trusted
//!   to receive the credential again, least of all on another host.
//! - Timeouts on connect and on the whole request; bodies read up to a bound.
//! - Nothing of an error answer leaves this module but its [`Answer`]: the status, the
//!   network's code and message fields, redacted of every form of the request's secrets
//!   ([`Redactor`]) and capped. Transport errors lose their URL (tokens travel in Telegram
//!   and webhook URLs) and are redacted too.
//! - Status codes and rate-limit headers map to the few [`ProviderError`] kinds; a short
//!   rate-limit wait is taken once, a long one is reported with its reset time.
//! - What a failure may have done is decided here, typed: a request that never left (no
//!   connection, DNS, TLS, connect timeout, a request that could not be built) certainly did
//!   nothing ([`ProviderError::Unreachable`]); one that left and got no trustworthy answer
//!   (a timeout or a reset after connecting, an answer cut off, a 500/502/504 that says
//!   nothing of what was done) is [`ProviderError::Unknown`]. reqwest cannot say whether
//!   the last byte of a request was written before a reset, so every failure after the
//!   connection is taken as sent: an unknown outcome is safe to over-report, a post
//!   counted as failed that was published is not.
//! - Answer bodies are kept in buffers wiped on drop: a token endpoint's answer holds
//!   tokens.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use zeroize::Zeroizing;

use super::answer::{Answer, Fields, clean_field};
use super::{Detail, ProviderError};
use crate::redact::{MAX_TEXT, Redactor};

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
    pub body: Zeroizing<Vec<u8>>,
}

impl Response {
    /// The body as JSON, for reading a successful answer's fields. Never for display: an
    /// error answer reaches people only as its [`Response::answer`].
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// What smv passes on of this answer (see [`super::answer`]).
    pub fn answer(&self, fields: &Fields, redactor: &Redactor) -> Answer {
        Answer::read(
            self.status,
            self.header("content-type"),
            &self.body,
            fields,
            redactor,
        )
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
            Err(e) => Err(ProviderError::Unexpected(e.clone().into())),
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
        redactor: &Redactor,
        fields: &Fields,
    ) -> Result<Response, ProviderError> {
        let mut waited = false;
        loop {
            let resp = self.raw(make(&self.client), redactor)?;
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
                    detail: resp.answer(fields, redactor).into(),
                });
            }
            return check_status(resp, redactor, fields);
        }
    }

    /// Sends without interpreting the status (for APIs that answer errors with 200).
    pub fn raw(&self, req: RequestBuilder, redactor: &Redactor) -> Result<Response, ProviderError> {
        let mut resp = req.send().map_err(|e| transport_error(e, redactor))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Zeroizing::new(Vec::new());
        use std::io::Read;
        (&mut resp)
            .take(MAX_BODY as u64)
            .read_to_end(&mut body)
            .map_err(|e| {
                // The request was answered (status {status}) but the answer was cut off:
                // what the network did is not known.
                ProviderError::Unknown(
                    smv_words(
                        &format!("reading the answer (HTTP {status}) failed: {e}"),
                        redactor,
                    )
                    .into(),
                )
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

fn transport_error(e: reqwest::Error, redactor: &Redactor) -> ProviderError {
    // reqwest's messages include the URL, which may carry a token (Telegram, webhooks):
    // drop it, then redact what is left anyway.
    let e = e.without_url();
    if e.is_connect() || e.is_builder() {
        // Never sent: no connection (DNS, refused, TLS, connect timeout), or no request.
        let what = if e.is_timeout() {
            "timed out connecting".to_string()
        } else if e.is_connect() {
            format!("cannot connect ({})", source_chain(&e))
        } else {
            source_chain(&e)
        };
        return ProviderError::Unreachable(smv_words(&what, redactor));
    }
    // Connected: the request may have been written, in part or whole, and acted on.
    let what = if e.is_timeout() {
        "timed out after the request was sent".to_string()
    } else {
        format!(
            "the connection failed after the request was sent ({})",
            source_chain(&e)
        )
    };
    ProviderError::Unknown(smv_words(&what, redactor).into())
}

/// A message of smv's libraries (a transport error), which may still quote what it was
/// given: redacted, on one line, capped.
fn smv_words(text: &str, redactor: &Redactor) -> String {
    let text: String = text.chars().take(MAX_TEXT / 4).collect();
    clean_field(&text, redactor, super::answer::MAX_MESSAGE).unwrap_or_default()
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

/// For a request made before the post is sent (a session, a token refresh): its lost
/// answer says nothing about the post, which has not been sent. An unknown outcome there
/// is a failure of the post.
pub fn before_the_post(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Unknown(d) => ProviderError::Unexpected(Detail {
            note: Some(format!(
                "signing in got no trustworthy answer, so nothing was posted: {}",
                d.note.as_deref().unwrap_or("no detail")
            )),
            answer: d.answer,
        }),
        other => other,
    }
}

/// A success answer that lacks what proves the post was made (its id): the network said
/// yes, but smv cannot tell which post, or whether one, it made. Unknown, never failed.
pub fn no_receipt(network: &str, what: &str) -> ProviderError {
    ProviderError::Unknown(format!("{network}: a success answer without {what}").into())
}

/// Maps a finished response to success (2xx) or the error kind its status means.
pub fn check_status(
    resp: Response,
    redactor: &Redactor,
    fields: &Fields,
) -> Result<Response, ProviderError> {
    if (200..=299).contains(&resp.status) {
        return Ok(resp);
    }
    Err(error_for_status(&resp, redactor, fields))
}

/// The error kind a non-2xx answer's status means, with its [`Answer`].
pub fn error_for_status(resp: &Response, redactor: &Redactor, fields: &Fields) -> ProviderError {
    match resp.status {
        300..=399 => {
            // The host only: it says where the network tried to send smv (the rest of the
            // location is the network's text).
            let to = resp
                .header("location")
                .and_then(|l| reqwest::Url::parse(l).ok())
                .and_then(|u| u.host_str().and_then(|h| clean_field(h, redactor, 100)))
                .map(|h| format!(" to {h}"))
                .unwrap_or_default();
            ProviderError::Unexpected(Detail::noted(
                format!("a redirect{to}; not followed, so the credential was not sent there"),
                Answer::status_only(resp.status),
            ))
        }
        401 | 403 => ProviderError::CredentialRejected(resp.answer(fields, redactor).into()),
        429 => {
            let (_, until) = rate_limit_reset(resp);
            ProviderError::RateLimited {
                until,
                detail: resp.answer(fields, redactor).into(),
            }
        }
        400 | 404 | 409 | 413 | 422 => {
            ProviderError::ContentRejected(resp.answer(fields, redactor).into())
        }
        // A server error, or a gateway that lost its upstream's answer (502) or waited too
        // long for it (504): the request reached the network, which may have acted on it
        // (GoToSocial behind nginx publishes after nginx gave up).
        500 | 502 | 504 => ProviderError::Unknown(Detail::noted(
            "a server or gateway error, after the request reached the network",
            resp.answer(fields, redactor),
        )),
        _ => ProviderError::Unexpected(resp.answer(fields, redactor).into()),
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
