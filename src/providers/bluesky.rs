//! Bluesky (AT Protocol): an app password makes a session (`createSession`) kept in the
//! vault and renewed with `refreshSession` — sessions are rate-limited hard, so never one per
//! post. A post is an `app.bsky.feed.post` record (`createRecord`) of at most 300 graphemes,
//! with facets for links, mentions and hashtags indexed by UTF-8 byte offsets.

use unicode_segmentation::UnicodeSegmentation;

use super::answer::Fields;
use super::common::{base_url, handle, json_str, non_empty, receipt, redactor, secret_text, shown};
use super::http::{Http, Refusal, Reply, Response, before_the_post, no_receipt};
use super::{Limits, Provider, ProviderError, Receipt, Rotated, Target};
use crate::redact::Redactor;
use crate::secret::{Secret, SecretStr};

pub struct Bluesky;

const MAX_GRAPHEMES: usize = 300;
const MAX_BYTES: usize = 3000;
const DEFAULT_PDS: &str = "https://bsky.social";

/// The session kept in the vault: its JWTs borrowed from the (wiped) session bytes.
#[derive(serde::Deserialize)]
struct Session<'a> {
    #[serde(rename = "accessJwt", borrow)]
    access: SecretStr<'a>,
    #[serde(rename = "refreshJwt", borrow)]
    refresh: SecretStr<'a>,
    did: String,
    handle: String,
}

impl<'a> Session<'a> {
    fn parse(secret: &'a Secret) -> Option<Session<'a>> {
        serde_json::from_slice(secret.expose_to_provider()).ok()
    }

    /// The session to keep, from a `createSession` / `refreshSession` answer: its four
    /// fields only, in a secret.
    fn from_answer(resp: &Response) -> Result<Secret, ProviderError> {
        #[derive(serde::Serialize)]
        struct Out<'b> {
            #[serde(rename = "accessJwt")]
            access: &'b str,
            #[serde(rename = "refreshJwt")]
            refresh: &'b str,
            did: &'b str,
            handle: &'b str,
        }
        let s: Session = serde_json::from_slice(&resp.body).map_err(|_| {
            ProviderError::Unexpected(
                "Bluesky: the session answer lacks accessJwt, refreshJwt, did or handle".into(),
            )
        })?;
        let (access, refresh) = (s.access.expose(), s.refresh.expose());
        // Sized up front: a vector that grows leaves copies behind in freed memory.
        let mut buf = Vec::with_capacity(
            6 * (access.len() + refresh.len() + s.did.len() + s.handle.len()) + 96,
        );
        let _ = serde_json::to_writer(
            &mut buf,
            &Out {
                access,
                refresh,
                did: &s.did,
                handle: &s.handle,
            },
        );
        Ok(Secret::from_bytes(buf))
    }

    /// Each JWT on its own: a server echoing one token must not reveal it because the
    /// redaction looked for the whole session blob.
    fn redact_into<'r>(&'r self, r: &mut Redactor<'r>) {
        r.text(self.access.expose()).text(self.refresh.expose());
    }
}

fn xrpc(base: &str, method: &str) -> String {
    format!("{base}/xrpc/{method}")
}

/// Error answers of the AT Protocol: `{"error": "ExpiredToken", "message": "…"}`.
const FIELDS: Fields = Fields {
    code: &[&["error"]],
    message: &[&["message"]],
    plain_code: false,
};

/// A refusal named by the AT Protocol's error code (the table already took 5xx, 429, 503,
/// timeouts and resets).
fn atproto_error(resp: Refusal, r: &Redactor) -> ProviderError {
    if (300..=399).contains(&resp.status()) {
        return resp.error;
    }
    let answer = resp.answer(&FIELDS, r);
    let code = answer.code.clone().unwrap_or_default();
    let detail = answer.into();
    match (resp.status(), code.as_str()) {
        (401, _)
        | (_, "AuthenticationRequired" | "AccountTakedown" | "InvalidToken" | "ExpiredToken") => {
            ProviderError::CredentialRejected(detail)
        }
        (429, _) | (_, "RateLimitExceeded") => {
            let until = resp
                .header("ratelimit-reset")
                .and_then(|r| r.parse::<i64>().ok())
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            ProviderError::RateLimited { until, detail }
        }
        (400, _) => ProviderError::ContentRejected(detail),
        _ => ProviderError::Unexpected(detail),
    }
}

fn is_rate_limited(resp: &Refusal) -> bool {
    resp.status() == 429
        || resp
            .json()
            .and_then(|v| json_str(&v, &["error"]))
            .is_some_and(|c| c == "RateLimitExceeded")
}

fn is_token_problem(resp: &Refusal) -> bool {
    let code = resp
        .json()
        .and_then(|v| json_str(&v, &["error"]))
        .unwrap_or_default();
    matches!(code.as_str(), "ExpiredToken" | "InvalidToken") || resp.status() == 401
}

struct Client<'a> {
    http: Http,
    base: String,
    target: &'a Target<'a>,
}

impl Client<'_> {
    fn create_session(&self) -> Result<Secret, ProviderError> {
        let r = redactor(self.target);
        // Serialised from borrowed text: no copy of the password in a JSON value.
        #[derive(serde::Serialize)]
        struct Login<'b> {
            identifier: &'b str,
            password: &'b str,
        }
        let body = Login {
            identifier: handle(self.target, "the Bluesky handle")?,
            password: secret_text(self.target)?,
        };
        let resp = match self.http.exchange(
            &|c| {
                c.post(xrpc(&self.base, "com.atproto.server.createSession"))
                    .json(&body)
            },
            &r,
            &FIELDS,
        )? {
            Reply::Success(resp) => resp,
            Reply::Refused(refusal) => return Err(atproto_error(refusal, &r)),
        };
        Session::from_answer(&resp)
    }

    fn refresh_session(&self, refresh: &str) -> Result<Secret, ProviderError> {
        let mut r = redactor(self.target);
        r.text(refresh);
        let resp = match self.http.exchange(
            &|c| {
                c.post(xrpc(&self.base, "com.atproto.server.refreshSession"))
                    .bearer_auth(refresh)
            },
            &r,
            &FIELDS,
        )? {
            Reply::Success(resp) => resp,
            Reply::Refused(refusal) => return Err(atproto_error(refusal, &r)),
        };
        Session::from_answer(&resp)
    }

    /// The session to use: the stored one, or a new one made (and stored) now.
    fn session(&self) -> Result<Secret, ProviderError> {
        let store = self
            .target
            .sessions
            .ok_or_else(|| ProviderError::Unexpected("no session store".into()))?;
        if let Some(s) = store.current().filter(|s| Session::parse(s).is_some()) {
            return Ok(s);
        }
        let made = store.update(&mut |current| match current
            .filter(|c| Session::parse(c).is_some())
        {
            Some(_) => Ok(None), // another process made one meanwhile
            None => self.create_session().map(Some),
        })?;
        made.ok_or_else(|| ProviderError::Unexpected("Bluesky: no session".into()))
    }

    /// Replaces a session the server no longer accepts: refresh it, or make a new one.
    fn renew(&self, used: &Secret) -> Result<Secret, ProviderError> {
        let store = self
            .target
            .sessions
            .ok_or_else(|| ProviderError::Unexpected("no session store".into()))?;
        let renewed = store.update(&mut |current| {
            if let Some(c) = current
                && c.expose_to_provider() != used.expose_to_provider()
            {
                return Ok(None); // already renewed by another process: use theirs
            }
            let refreshed = Session::parse(used).map(|s| self.refresh_session(s.refresh.expose()));
            match refreshed {
                Some(Ok(new)) => Ok(Some(new)),
                _ => self.create_session().map(Some),
            }
        })?;
        renewed.ok_or_else(|| ProviderError::Unexpected("Bluesky: no session".into()))
    }

    /// Calls an authenticated method, renewing the session once if it has expired; returns
    /// the answer and the session it was made with.
    fn call(
        &self,
        make: &dyn Fn(&Session) -> reqwest::blocking::RequestBuilder,
    ) -> Result<(serde_json::Value, Secret), ProviderError> {
        // Sessions are made before the post is sent (and renewed after a refusal): their lost
        // answers make the post fail, not unknown.
        let mut session = self.session().map_err(before_the_post)?;
        for attempt in 0..2 {
            let s = Session::parse(&session).ok_or_else(|| {
                ProviderError::Unexpected("Bluesky: the stored session is unreadable".into())
            })?;
            let mut r = redactor(self.target);
            r.secret(&session);
            s.redact_into(&mut r);
            // The one outcome table: a 5xx, a timeout or a reset after the request was
            // written is unknown here, never a refusal.
            let refusal = match self.http.exchange(&|_| make(&s), &r, &FIELDS)? {
                Reply::Success(resp) => {
                    let v = resp.json().unwrap_or_default();
                    drop(r);
                    drop(s);
                    return Ok((v, session));
                }
                Reply::Refused(refusal) => refusal,
            };
            if attempt == 0 && is_token_problem(&refusal) {
                let renewed = self.renew(&session).map_err(before_the_post)?;
                drop(r);
                drop(s);
                session = renewed;
                continue;
            }
            return Err(atproto_error(refusal, &r));
        }
        Err(ProviderError::Unexpected(
            "Bluesky: the session could not be renewed".into(),
        ))
    }
}

fn client<'a>(target: &'a Target<'a>) -> Result<Client<'a>, ProviderError> {
    Ok(Client {
        http: Http::new()?,
        base: base_url(target, DEFAULT_PDS)?,
        target,
    })
}

/// Links, mentions and hashtags with their UTF-8 byte ranges. Mentions are returned with the
/// handle (without `@`) for the caller to resolve to a DID.
#[derive(Debug, PartialEq, Eq)]
pub enum Span {
    Link {
        start: usize,
        end: usize,
        uri: String,
    },
    Mention {
        start: usize,
        end: usize,
        handle: String,
    },
    Tag {
        start: usize,
        end: usize,
        tag: String,
    },
}

fn trim_trailing_punct(s: &str) -> &str {
    s.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\''])
}

pub fn spans(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut offset = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        let start_of_word = offset;
        offset += word.len();
        let w = word.trim_end();
        let lead = w.len() - w.trim_start_matches('(').len();
        let w = &w[lead..];
        let start = start_of_word + lead;
        if w.starts_with("https://") || w.starts_with("http://") {
            let uri = trim_trailing_punct(w);
            if uri.len() > "https://".len() {
                out.push(Span::Link {
                    start,
                    end: start + uri.len(),
                    uri: uri.to_string(),
                });
            }
        } else if let Some(h) = w.strip_prefix('@') {
            let h = trim_trailing_punct(h);
            let valid = h.contains('.')
                && h.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if valid {
                out.push(Span::Mention {
                    start,
                    end: start + 1 + h.len(),
                    handle: h.to_ascii_lowercase(),
                });
            }
        } else if let Some(t) = w.strip_prefix('#').or_else(|| w.strip_prefix('＃')) {
            let t = trim_trailing_punct(t);
            let marker = w.len() - w.trim_start_matches(['#', '＃']).len();
            if !t.is_empty()
                && !t.chars().all(|c| c.is_ascii_digit())
                && t.graphemes(true).count() <= 64
            {
                out.push(Span::Tag {
                    start,
                    end: start + marker + t.len(),
                    tag: t.to_string(),
                });
            }
        }
    }
    out
}

impl Provider for Bluesky {
    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
        secret_text(target)?;
        handle(target, "the Bluesky handle, e.g. company.bsky.social")?;
        base_url(target, DEFAULT_PDS)?;
        non_empty(text)?;
        let g = text.graphemes(true).count();
        if g > MAX_GRAPHEMES {
            return Err(ProviderError::Invalid(format!(
                "{g} graphemes, more than Bluesky's {MAX_GRAPHEMES}"
            )));
        }
        if text.len() > MAX_BYTES {
            return Err(ProviderError::Invalid(format!(
                "{} bytes, more than Bluesky's {MAX_BYTES}",
                text.len()
            )));
        }
        Ok(())
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        _key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let c = client(target)?;
        let mut facets = Vec::new();
        for span in spans(text) {
            let (start, end, feature) = match span {
                Span::Link { start, end, uri } => (
                    start,
                    end,
                    serde_json::json!({"$type": "app.bsky.richtext.facet#link", "uri": uri}),
                ),
                Span::Tag { start, end, tag } => (
                    start,
                    end,
                    serde_json::json!({"$type": "app.bsky.richtext.facet#tag", "tag": tag}),
                ),
                Span::Mention { start, end, handle } => {
                    // An unknown handle stays plain text rather than failing the post.
                    let resolved = c.http.send(
                        &|h| {
                            h.get(xrpc(&c.base, "com.atproto.identity.resolveHandle"))
                                .query(&[("handle", handle.as_str())])
                        },
                        &Redactor::new(),
                        &FIELDS,
                    );
                    match resolved
                        .ok()
                        .and_then(|r| r.json())
                        .and_then(|v| json_str(&v, &["did"]))
                    {
                        Some(did) => (
                            start,
                            end,
                            serde_json::json!({"$type": "app.bsky.richtext.facet#mention", "did": did}),
                        ),
                        None => continue,
                    }
                }
            };
            facets.push(serde_json::json!({"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}));
        }
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (v, session) = c.call(&|s| {
            let mut record = serde_json::json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at});
            if !facets.is_empty() {
                record["facets"] = serde_json::Value::Array(facets.clone());
            }
            c.http
                .client()
                .post(xrpc(&c.base, "com.atproto.repo.createRecord"))
                .bearer_auth(s.access.expose())
                .json(&serde_json::json!({"repo": s.did, "collection": "app.bsky.feed.post", "record": record}))
        })?;
        // A success without the record's uri is no receipt: the post may be live.
        let uri = json_str(&v, &["uri"]).ok_or_else(|| no_receipt("Bluesky", "the record uri"))?;
        let s = Session::parse(&session)
            .ok_or_else(|| ProviderError::Unexpected("Bluesky: unreadable session".into()))?;
        let mut r = redactor(target);
        r.secret(&session);
        s.redact_into(&mut r);
        let rkey = uri.rsplit('/').next().unwrap_or_default();
        Ok(receipt(
            &uri,
            Some(&format!(
                "https://bsky.app/profile/{}/post/{rkey}",
                s.handle
            )),
            &r,
        ))
    }

    /// A new app password, made with a session of the stored credential and proved by a
    /// session of its own. The PDS lets only a full-access session (the account's main
    /// password) call `createAppPassword`: a session made with an app password is refused,
    /// which is reported as unsupported with the steps a person takes instead.
    fn rotate(&self, target: &Target) -> Result<Rotated, ProviderError> {
        let c = client(target)?;
        let session = c.create_session()?;
        let s = Session::parse(&session)
            .ok_or_else(|| ProviderError::Unexpected("Bluesky: unreadable session".into()))?;
        let mut r = redactor(target);
        r.secret(&session);
        s.redact_into(&mut r);
        let name = format!(
            "smv-{}-{}",
            target.account.name,
            crate::clock::now().format("%Y%m%d-%H%M%S")
        );
        let resp = match c.http.exchange(
            &|h| {
                h.post(xrpc(&c.base, "com.atproto.server.createAppPassword"))
                    .bearer_auth(s.access.expose())
                    .json(&serde_json::json!({ "name": name }))
            },
            &r,
            &FIELDS,
        )? {
            Reply::Success(resp) => resp,
            Reply::Refused(refusal)
                if matches!(refusal.status(), 400 | 401 | 403) && !is_rate_limited(&refusal) =>
            {
                return Err(ProviderError::Unsupported(format!(
                    "Bluesky lets only the account's main password create app passwords, and the stored credential is not it ({}). Make a new app password at bsky.app (Settings → Privacy and security → App passwords), run `smv rotate {}` with it, then revoke the old one there",
                    refusal.answer(&FIELDS, &r),
                    target.account.name
                )));
            }
            Reply::Refused(refusal) => return Err(atproto_error(refusal, &r)),
        };
        #[derive(serde::Deserialize)]
        struct Made<'b> {
            #[serde(borrow)]
            password: SecretStr<'b>,
        }
        let made: Made = serde_json::from_slice(&resp.body).map_err(|_| {
            ProviderError::Unexpected(
                "Bluesky: createAppPassword answered without a password".into(),
            )
        })?;
        Ok(Rotated {
            secret: Secret::from_bytes(made.password.expose().as_bytes().to_vec()),
            label: Some(name),
            note: Some(
                "smv now holds a new app password; the account's main password it used to make it still works: change it at bsky.app if anyone else knows it".into(),
            ),
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let c = client(target)?;
        let (v, session) = c.call(&|s| {
            c.http
                .client()
                .get(xrpc(&c.base, "com.atproto.server.getSession"))
                .bearer_auth(s.access.expose())
        })?;
        // The session's JWTs each on their own: a server echoing one in a field shows a
        // token, not the stored session blob.
        let s = Session::parse(&session)
            .ok_or_else(|| ProviderError::Unexpected("Bluesky: unreadable session".into()))?;
        let mut r = redactor(target);
        r.secret(&session);
        s.redact_into(&mut r);
        Ok(format!(
            "Bluesky account @{}",
            shown(&json_str(&v, &["handle"]).unwrap_or_default(), &r, 100)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facets_use_utf8_byte_offsets() {
        let text = "Ünïcödé 🎉 see https://example.com/x, ping @bob.test and #Release21!";
        let spans = spans(text);
        let link = "https://example.com/x";
        let ls = text.find(link).unwrap();
        let ms = text.find("@bob.test").unwrap();
        let ts = text.find("#Release21").unwrap();
        assert_eq!(
            spans,
            vec![
                Span::Link {
                    start: ls,
                    end: ls + link.len(),
                    uri: link.into()
                },
                Span::Mention {
                    start: ms,
                    end: ms + "@bob.test".len(),
                    handle: "bob.test".into()
                },
                Span::Tag {
                    start: ts,
                    end: ts + "#Release21".len(),
                    tag: "Release21".into()
                },
            ]
        );
        assert_eq!(&text[ls..ls + link.len()], link);
        // Not facets: a bare @name without a dot, a number-only tag.
        assert!(spans_of("hi @bob and #2024").is_empty());
    }

    fn spans_of(t: &str) -> Vec<Span> {
        spans(t)
    }
}
