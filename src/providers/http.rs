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
    /// rate-limit wait) and returns a 2xx response; every other answer becomes the error
    /// [`outcome`]'s table gives it.
    pub fn send(
        &self,
        make: &dyn Fn(&Client) -> RequestBuilder,
        redactor: &Redactor,
        fields: &Fields,
    ) -> Result<Response, ProviderError> {
        self.exchange(make, redactor, fields)?.success()
    }

    /// Sends a request and passes its answer through the one outcome table ([`outcome`]).
    /// What comes back is typed: a success (2xx) to read, or a refusal the network answered
    /// (a 4xx, a redirect not followed) that the provider may name more precisely. Every
    /// answer that leaves the outcome open (a 500, 502 or 504, a timeout or a reset after the
    /// request was written) or says the request was not taken (429, 503, no connection) is
    /// an error already: a provider never sees such an answer's response, so it cannot call
    /// it anything else.
    pub fn exchange(
        &self,
        make: &dyn Fn(&Client) -> RequestBuilder,
        redactor: &Redactor,
        fields: &Fields,
    ) -> Result<Reply, ProviderError> {
        let mut waited = false;
        loop {
            let resp = self.raw(make(&self.client), redactor)?;
            if resp.status == 429 {
                let (wait, _) = rate_limit_reset(&resp);
                if let Some(w) = wait
                    && !waited
                    && w <= MAX_WAIT
                {
                    std::thread::sleep(w);
                    waited = true;
                    continue;
                }
            }
            return judge(resp, redactor, fields);
        }
    }

    /// Sends without interpreting the status: private, so that no provider can read an
    /// answer the table has not judged.
    fn raw(&self, req: RequestBuilder, redactor: &Redactor) -> Result<Response, ProviderError> {
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

/// What an answer says the network did with a request. Decided in one place, [`outcome`],
/// for every provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: done (the provider still reads the receipt; a success without one is unknown).
    Done,
    /// The network answered and refused (4xx, a redirect not followed): it did nothing.
    Refused,
    /// The request was not taken: rate limited (429) or turned away at the front door
    /// (503); like no connection at all, nothing was done.
    NotSent,
    /// The request reached the network and no trustworthy answer came back.
    Unknown,
}

/// The one table from an HTTP status to what the network did (transport errors are judged
/// in [`transport_error`]: no connection is [`Outcome::NotSent`], a timeout or reset after
/// the connection is [`Outcome::Unknown`]).
///
/// | status | outcome | why |
/// |---|---|---|
/// | 2xx | done | |
/// | 429, 503 | not sent | refusals of the front door: rate limit, maintenance |
/// | 408 | not sent | the server gave up waiting for the request before it was whole |
/// | 500, 502, 504, any other 5xx | unknown | a server or gateway error after the request reached the network, which may have acted (GoToSocial behind nginx publishes after nginx gave up) |
/// | 303 | unknown | "see other": the usual answer to a POST that was carried out |
/// | other 3xx | refused | a redirect, not followed: the request was not handled here |
/// | other 4xx, 1xx | refused | the network says no |
pub fn outcome(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Done,
        429 | 503 | 408 => Outcome::NotSent,
        303 => Outcome::Unknown,
        500..=599 => Outcome::Unknown,
        _ => Outcome::Refused,
    }
}

/// An answer the table has judged, for the provider to read.
pub enum Reply {
    /// A 2xx answer.
    Success(Response),
    /// An answer that refuses: the network did nothing.
    Refused(Refusal),
}

impl Reply {
    /// The success, or the refusal's error as the table names it.
    pub fn success(self) -> Result<Response, ProviderError> {
        match self {
            Reply::Success(r) => Ok(r),
            Reply::Refused(r) => Err(r.error),
        }
    }
}

/// A refusal the network answered (a 4xx, a redirect not followed): the network did
/// nothing. A provider may read it to name the refusal more precisely (its error codes); it
/// cannot be turned into a success.
pub struct Refusal {
    resp: Response,
    /// The error the table gives it (by status).
    pub error: ProviderError,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        self.resp.status
    }
    pub fn json(&self) -> Option<serde_json::Value> {
        self.resp.json()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.resp.header(name)
    }
    pub fn answer(&self, fields: &Fields, redactor: &Redactor) -> Answer {
        self.resp.answer(fields, redactor)
    }
}

/// Runs the table on an answer.
fn judge(resp: Response, redactor: &Redactor, fields: &Fields) -> Result<Reply, ProviderError> {
    match outcome(resp.status) {
        Outcome::Done => Ok(Reply::Success(resp)),
        Outcome::Refused => {
            let error = error_for_status(&resp, redactor, fields);
            Ok(Reply::Refused(Refusal { resp, error }))
        }
        Outcome::NotSent | Outcome::Unknown => Err(error_for_status(&resp, redactor, fields)),
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

/// The error a non-2xx answer's status means, with its [`Answer`]; its kind follows
/// [`outcome`] (an unknown outcome is [`ProviderError::Unknown`], a request not taken is
/// [`ProviderError::RateLimited`] or [`ProviderError::Unavailable`]).
fn error_for_status(resp: &Response, redactor: &Redactor, fields: &Fields) -> ProviderError {
    let status = resp.status;
    match (outcome(status), status) {
        (Outcome::Unknown, 303) => ProviderError::Unknown(Detail::noted(
            "a redirect to see the result (303), the usual answer to a request that was carried out; not followed",
            resp.answer(fields, redactor),
        )),
        // A server error, or a gateway that lost its upstream's answer (502) or waited too
        // long for it (504): the request reached the network, which may have acted on it.
        (Outcome::Unknown, _) => ProviderError::Unknown(Detail::noted(
            "a server or gateway error, after the request reached the network",
            resp.answer(fields, redactor),
        )),
        (_, 429) => {
            let (_, until) = rate_limit_reset(resp);
            ProviderError::RateLimited {
                until,
                detail: resp.answer(fields, redactor).into(),
            }
        }
        (Outcome::NotSent, _) => ProviderError::Unavailable(Detail::noted(
            "the network turned the request away before acting on it",
            resp.answer(fields, redactor),
        )),
        (_, 300..=399) => {
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
                Answer::status_only(status),
            ))
        }
        (_, 401 | 403) => ProviderError::CredentialRejected(resp.answer(fields, redactor).into()),
        (_, 400 | 404 | 409 | 413 | 422) => {
            ProviderError::ContentRejected(resp.answer(fields, redactor).into())
        }
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
    } else if let Some(v) = resp
        .header("x-rate-limit-reset")
        .or_else(|| resp.header("ratelimit-reset"))
    {
        v.trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
    } else if let Some(v) = resp.header("x-ratelimit-reset") {
        chrono::DateTime::parse_from_rfc3339(v.trim())
            .ok()
            .map(|t| t.to_utc())
    } else {
        // In the body, in seconds: Telegram (`parameters.retry_after`), Discord
        // (`retry_after`, fractional).
        resp.json().and_then(|v| {
            let secs = v
                .get("parameters")
                .and_then(|p| p.get("retry_after"))
                .or_else(|| v.get("retry_after"))?
                .as_f64()?;
            (secs.is_finite() && (0.0..=86_400.0 * 31.0).contains(&secs))
                .then(|| now + chrono::Duration::milliseconds((secs * 1000.0) as i64))
        })
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

#[cfg(test)]
mod tests {
    use super::{Outcome, outcome};

    /// The table, row by row (issue 23's decisions): gateway errors are unknown, the front
    /// door's refusals are not sent, every other 4xx is a refusal.
    #[test]
    fn the_outcome_table() {
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(outcome(s), Outcome::Done, "{s}");
        }
        for s in [500, 502, 504, 501, 505, 520, 522, 524, 599, 303] {
            assert_eq!(outcome(s), Outcome::Unknown, "{s}");
        }
        for s in [503, 429, 408] {
            assert_eq!(outcome(s), Outcome::NotSent, "{s}");
        }
        for s in [
            400, 401, 403, 404, 409, 413, 422, 426, 301, 302, 307, 308, 100, 600,
        ] {
            assert_eq!(outcome(s), Outcome::Refused, "{s}");
        }
    }
}
