//! Answers from networks are data, not messages.
//!
//! When a network refuses, smv keeps a small typed value — the HTTP status, the network's
//! error code and its message field — and nothing else of the body: no HTML page, no stack
//! trace, no echo of the request. Each provider names the JSON fields its network uses
//! ([`Fields`]); the values are redacted of every form of the request's secrets (see
//! [`crate::redact`]), stripped of control characters and capped. A body that is HTML, not
//! JSON, or without the named fields is not shown at all: the person sees why
//! (`HTTP 404 (body not shown: HTML)`). The same value is what the CLI prints, what the
//! proxy answers and what the audit log records.
//!
//! Values a network returns on success (post ids, URLs, account names) go through
//! [`clean_field`]: redacted and capped too.

use crate::redact::{MAX_TEXT, Redactor};

/// The longest message field kept, in characters.
pub const MAX_MESSAGE: usize = 300;
/// The longest error code kept, in bytes (codes are identifiers: `invalid_auth`, `190`).
pub const MAX_CODE: usize = 64;

/// Where a network puts its error code and message in a JSON answer: paths of object keys
/// (a number indexes an array), the first one present wins.
pub struct Fields {
    pub code: &'static [&'static [&'static str]],
    pub message: &'static [&'static [&'static str]],
    /// Whether a plain-text body that is one identifier is the network's code (Slack's
    /// incoming webhooks answer `invalid_token`, `no_service`).
    pub plain_code: bool,
}

/// The fields most JSON APIs use (OAuth 2.0's `error`/`error_description`, RFC 7807's
/// `title`/`detail`, `{"error": {"code", "message"}}`, `{"errors": [{…}]}`).
pub const GENERIC: Fields = Fields {
    code: &[
        &["code"],
        &["error", "code"],
        &["errors", "0", "code"],
        &["error_code"],
        &["title"],
        &["error"],
    ],
    message: &[
        &["error_description"],
        &["message"],
        &["detail"],
        &["description"],
        &["error", "message"],
        &["errors", "0", "message"],
        &["error"],
    ],
    plain_code: false,
};

/// Why a body is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// Nothing was sent back.
    Empty,
    /// An HTML page (an error page of a proxy or framework: it can echo the whole request).
    Html,
    /// Not JSON.
    NotJson,
    /// JSON without the fields the network puts its error in.
    NoErrorField,
    /// A message field longer than smv redacts (it is not cut: a cut could leave a piece of
    /// a secret).
    TooLong,
}

impl Withheld {
    pub fn describe(self) -> &'static str {
        match self {
            Withheld::Empty => "empty answer",
            Withheld::Html => "body not shown: HTML",
            Withheld::NotJson => "body not shown: not JSON",
            Withheld::NoErrorField => "body not shown: no error field",
            Withheld::TooLong => "message not shown: too long",
        }
    }
}

/// What a network said when it refused or failed, in the only form smv passes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The network's error code (`invalid_auth`, `190`, `ExpiredToken`), when it gave one.
    pub code: Option<String>,
    /// The network's message field, redacted, without control characters, at most
    /// [`MAX_MESSAGE`] characters.
    pub message: Option<String>,
    /// Why no message is shown, when none is.
    pub withheld: Option<Withheld>,
}

impl Answer {
    /// Reads `body` (with its content type) the way `fields` says, redacting with `redactor`.
    pub fn read(
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
        fields: &Fields,
        redactor: &Redactor,
    ) -> Answer {
        let mut answer = Answer {
            status,
            code: None,
            message: None,
            withheld: None,
        };
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() {
            answer.withheld = Some(Withheld::Empty);
            return answer;
        }
        let html = content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html"))
            || trimmed.starts_with(b"<");
        if html {
            answer.withheld = Some(Withheld::Html);
            return answer;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(trimmed) else {
            if fields.plain_code
                && let Ok(text) = std::str::from_utf8(trimmed)
                && is_code(text)
            {
                answer.code = clean_code(text, redactor).0;
            }
            if answer.code.is_none() {
                answer.withheld = Some(Withheld::NotJson);
            }
            return answer;
        };
        let raw_code = fields.code.iter().find_map(|p| scalar(&v, p));
        let raw_message = fields.message.iter().find_map(|p| scalar(&v, p));
        if let Some(c) = &raw_code {
            let (code, spill) = clean_code(c, redactor);
            answer.code = code;
            // A "code" that is not an identifier is text: shown as the message, if the
            // network gave no other.
            if answer.code.is_none() && raw_message.as_deref().is_none_or(|m| m == c) {
                answer.message = spill;
            }
        }
        if let Some(m) = raw_message
            && Some(&m) != raw_code.as_ref()
        {
            match clean_message(&m, redactor) {
                Ok(m) => answer.message = m,
                Err(w) => answer.withheld = Some(w),
            }
        }
        if answer.code.is_none() && answer.message.is_none() && answer.withheld.is_none() {
            answer.withheld = Some(Withheld::NoErrorField);
        }
        answer
    }

    /// An answer with only a status (and smv knows nothing else of it).
    pub fn status_only(status: u16) -> Answer {
        Answer {
            status,
            code: None,
            message: None,
            withheld: None,
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, " {c}: {m}")?,
            (Some(c), None) => write!(f, " {c}")?,
            (None, Some(m)) => write!(f, ": {m}")?,
            (None, None) => {}
        }
        if let Some(w) = self.withheld {
            write!(f, " ({})", w.describe())?;
        }
        Ok(())
    }
}

/// A string or a number at `path`.
fn scalar(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            serde_json::Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            other => other.get(*p)?,
        };
    }
    match cur {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CODE
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// The code if it is an identifier once redacted; otherwise the cleaned text, to show as a
/// message.
fn clean_code(raw: &str, redactor: &Redactor) -> (Option<String>, Option<String>) {
    if raw.len() <= MAX_TEXT {
        let red = redactor.redact(raw.trim());
        if is_code(&red) {
            return (Some(red), None);
        }
    }
    (None, clean_message(raw, redactor).ok().flatten())
}

/// A message field: redacted whole, then stripped of control characters and capped. Too long
/// or HTML: withheld.
fn clean_message(raw: &str, redactor: &Redactor) -> Result<Option<String>, Withheld> {
    if raw.len() > MAX_TEXT {
        return Err(Withheld::TooLong);
    }
    let lower = raw.to_ascii_lowercase();
    if [
        "<html",
        "<!doctype",
        "<body",
        "<head",
        "<pre",
        "<script",
        "<div",
    ]
    .iter()
    .any(|t| lower.contains(t))
    {
        return Err(Withheld::Html);
    }
    let text = one_line(&redactor.redact(raw), MAX_MESSAGE);
    Ok((!text.is_empty()).then_some(text))
}

/// Control characters become spaces, runs of spaces one, at most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut n = 0;
    let mut space = false;
    for c in s.trim().chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if space {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if n == max {
            out.push('…');
            break;
        }
        out.push(c);
        n += 1;
    }
    out.trim_end().to_string()
}

/// A value from a successful answer (an id, a URL, a name) as smv passes it on: redacted,
/// on one line, at most `max` characters; `None` if it is longer than smv redacts.
pub fn clean_field(raw: &str, redactor: &Redactor, max: usize) -> Option<String> {
    if raw.len() > MAX_TEXT {
        return None;
    }
    Some(one_line(&redactor.redact(raw), max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const SLACK: Fields = Fields {
        code: &[&["error"]],
        message: &[],
        plain_code: true,
    };

    fn read(status: u16, ct: Option<&str>, body: &str, fields: &Fields) -> Answer {
        let s = Secret::from_bytes(b"xoxb-CANARY-123".to_vec());
        let mut r = Redactor::new();
        r.secret(&s);
        Answer::read(status, ct, body.as_bytes(), fields, &r)
    }

    #[test]
    fn json_fields_become_the_typed_value() {
        let a = read(
            401,
            None,
            r#"{"error":"invalid_token","error_description":"Bad token xoxb-CANARY-123 \u0007 here","trace":"xoxb-CANARY-123"}"#,
            &GENERIC,
        );
        assert_eq!(a.code.as_deref(), Some("invalid_token"));
        assert_eq!(a.message.as_deref(), Some("Bad token [REDACTED] here"));
        assert_eq!(
            a.to_string(),
            "HTTP 401 invalid_token: Bad token [REDACTED] here"
        );
        let a = read(
            400,
            None,
            r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#,
            &GENERIC,
        );
        assert_eq!(a.to_string(), "HTTP 400 190: Invalid OAuth access token.");
        let a = read(
            403,
            None,
            r#"{"errors":[{"code":89,"message":"Invalid or expired token."}]}"#,
            &GENERIC,
        );
        assert_eq!(a.to_string(), "HTTP 403 89: Invalid or expired token.");
    }

    #[test]
    fn a_code_that_is_not_an_identifier_is_redacted_text() {
        // Slack answering 200 {"ok":false} with the token in its error field.
        let a = read(
            200,
            None,
            r#"{"ok":false,"error":"invalid_auth for xoxb-CANARY-123"}"#,
            &SLACK,
        );
        assert_eq!(a.code, None);
        assert_eq!(a.message.as_deref(), Some("invalid_auth for [REDACTED]"));
        let a = read(
            200,
            None,
            r#"{"ok":false,"error":"xoxb-CANARY-123"}"#,
            &SLACK,
        );
        assert_eq!(a.code, None);
        assert_eq!(a.message.as_deref(), Some("[REDACTED]"));
        let a = read(400, None, "invalid_token", &SLACK);
        assert_eq!(a.code.as_deref(), Some("invalid_token"));
        // The token alone in a plain body is not a code.
        let a = read(400, None, "xoxb-CANARY-123", &SLACK);
        assert_eq!(a.to_string(), "HTTP 400 (body not shown: not JSON)");
    }

    #[test]
    fn html_plain_text_and_unknown_json_are_not_shown() {
        let page = "<!DOCTYPE html><pre>Cannot POST /api/webhooks/1/xoxb-CANARY-123</pre>";
        let a = read(404, Some("text/html; charset=utf-8"), page, &GENERIC);
        assert_eq!(a.to_string(), "HTTP 404 (body not shown: HTML)");
        let a = read(404, None, page, &GENERIC);
        assert_eq!(a.withheld, Some(Withheld::Html));
        let a = read(404, None, "Cannot POST /hook/xoxb-CANARY-123", &GENERIC);
        assert_eq!(a.to_string(), "HTTP 404 (body not shown: not JSON)");
        let a = read(500, None, r#"{"stack":"at xoxb-CANARY-123"}"#, &GENERIC);
        assert_eq!(a.to_string(), "HTTP 500 (body not shown: no error field)");
        let a = read(502, None, "  \n", &GENERIC);
        assert_eq!(a.to_string(), "HTTP 502 (empty answer)");
        let a = read(
            400,
            None,
            r#"{"message":"<html><body>xoxb-CANARY-123</body></html>"}"#,
            &GENERIC,
        );
        assert_eq!(a.to_string(), "HTTP 400 (body not shown: HTML)");
    }

    #[test]
    fn long_messages_are_withheld_or_capped_never_cut_through_a_secret() {
        let long = format!(r#"{{"message":"{}xoxb-CANARY-123"}}"#, "a".repeat(MAX_TEXT));
        let a = read(400, None, &long, &GENERIC);
        assert_eq!(a.withheld, Some(Withheld::TooLong));
        assert_eq!(a.message, None);
        let capped = format!(
            r#"{{"message":"{} xoxb-CANARY-123 {}"}}"#,
            "b".repeat(290),
            "c".repeat(500)
        );
        let a = read(400, None, &capped, &GENERIC);
        let m = a.message.unwrap();
        assert_eq!(m.chars().count(), MAX_MESSAGE + 1);
        assert!(m.contains("[REDAC") && !m.contains("CANARY"), "{m}");
    }

    #[test]
    fn success_fields_are_cleaned() {
        let s = Secret::from_bytes(b"xoxb-CANARY-123".to_vec());
        let mut r = Redactor::new();
        r.secret(&s);
        assert_eq!(
            clean_field("https://x/xoxb-CANARY-123\n", &r, 100).unwrap(),
            "https://x/[REDACTED]"
        );
        assert_eq!(clean_field("abcdef", &r, 3).unwrap(), "abc…");
        assert!(clean_field(&"a".repeat(MAX_TEXT + 1), &r, 10).is_none());
    }
}
