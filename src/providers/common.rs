//! Helpers shared by the network providers.

use super::answer::clean_field;
use super::{ProviderError, Receipt, Target};
use crate::redact::Redactor;
use crate::secret::Secret;

pub fn secret<'a>(target: &'a Target) -> Result<&'a Secret, ProviderError> {
    target
        .secret
        .ok_or_else(|| ProviderError::Invalid("the account has no secret stored".into()))
}

/// The secret as text (tokens and URLs are text), borrowed, exactly as stored: its canonical
/// form is what the network receives and what redaction looks for.
pub fn secret_text<'a>(target: &'a Target) -> Result<&'a str, ProviderError> {
    secret(target)?
        .expose_text_to_provider()
        .ok_or_else(|| ProviderError::Invalid("the stored secret is not text".into()))
}

/// A redactor that knows the account's stored secret (in every form it is stored in).
pub fn redactor<'a>(target: &'a Target) -> Redactor<'a> {
    let mut r = Redactor::new();
    if let Some(s) = target.secret {
        r.secret(s);
    }
    r
}

/// Adds every part of a URL that carries a credential to `r`: the URL as sent, its path and
/// query, each path segment (as sent and decoded), each query value, the user info and the
/// fragment — a server answering `Cannot POST /api/webhooks/1/PART` echoes one part only.
/// `public` are segments that name the API, not the credential (`api`, `webhooks`).
pub fn redact_url_parts(r: &mut Redactor, url: &reqwest::Url, public: &[&str]) {
    r.derived(url.as_str().as_bytes().to_vec());
    let mut path_query = url.path().to_string();
    if let Some(q) = url.query() {
        path_query.push('?');
        path_query.push_str(q);
    }
    r.derived(path_query.into_bytes());
    for seg in url.path_segments().into_iter().flatten() {
        if public.contains(&seg) {
            continue;
        }
        r.derived(seg.as_bytes().to_vec());
        if let Ok(decoded) = percent_decode(seg) {
            r.derived(decoded);
        }
    }
    for (k, v) in url.query_pairs() {
        if k == "wait" {
            continue; // smv's own parameter (Discord)
        }
        r.derived(v.as_bytes().to_vec());
    }
    // The host, unless it names a machine or a network's public endpoint: a capability can
    // live in a host name (a function URL's id), and a redirect's `Location` shows it
    // lower-cased (the redactor matches any case).
    if let Some(host) = url.host_str()
        && !host.starts_with('[')
        && host.parse::<std::net::IpAddr>().is_err()
        && host != "localhost"
        && !PUBLIC_HOSTS.contains(&host)
    {
        r.derived(host.as_bytes().to_vec());
    }
    r.derived(url.username().as_bytes().to_vec());
    if let Some(p) = url.password() {
        r.derived(p.as_bytes().to_vec());
    }
    if let Some(f) = url.fragment() {
        r.derived(f.as_bytes().to_vec());
    }
}

/// Hosts of webhook services that are the same for every customer: not part of a secret.
const PUBLIC_HOSTS: &[&str] = &[
    "hooks.slack.com",
    "discord.com",
    "discordapp.com",
    "ptb.discord.com",
    "canary.discord.com",
];

fn percent_decode(s: &str) -> Result<Vec<u8>, ()> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3).ok_or(())?;
            let v =
                u8::from_str_radix(std::str::from_utf8(h).map_err(|_| ())?, 16).map_err(|_| ())?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// A network's value from a successful answer (an account name, a post id) as smv shows
/// it: redacted, one line, at most `max` characters.
pub fn shown(value: &str, r: &Redactor, max: usize) -> String {
    clean_field(value, r, max).unwrap_or_else(|| "?".into())
}

/// A receipt made of the network's id and URL: both redacted like any answer.
pub fn receipt(post_id: &str, url: Option<&str>, r: &Redactor) -> Receipt {
    Receipt {
        post_id: shown(post_id, r, 256),
        url: url.map(|u| shown(u, r, 2048)),
    }
}

/// A URL smv may send a credential to: https, or http to this machine only (tests, local
/// relays). Anything else would send the secret in clear over a network.
pub fn checked_url(url: &str, what: &str) -> Result<reqwest::Url, ProviderError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ProviderError::Invalid(format!("the {what} is not a URL")))?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    );
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(ProviderError::Invalid(format!(
            "the {what} must be https (plain http only to this machine)"
        ))),
    }
}

/// The account's API base URL (`--url`), or the network's public one.
pub fn base_url(target: &Target, default: &str) -> Result<String, ProviderError> {
    let url = target.account.url.as_deref().unwrap_or(default);
    checked_url(url, "API base URL")?;
    Ok(url.trim_end_matches('/').to_string())
}

pub fn handle<'a>(target: &'a Target, what: &str) -> Result<&'a str, ProviderError> {
    target
        .account
        .handle
        .as_deref()
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| ProviderError::Invalid(format!("the account needs --handle ({what})")))
}

pub fn non_empty(text: &str) -> Result<(), ProviderError> {
    if text.trim().is_empty() {
        Err(ProviderError::Invalid("the text is empty".into()))
    } else {
        Ok(())
    }
}

pub fn max_chars(text: &str, max: usize, network: &str) -> Result<(), ProviderError> {
    non_empty(text)?;
    let n = text.chars().count();
    if n > max {
        return Err(ProviderError::Invalid(format!(
            "{n} characters, more than {network}'s {max}"
        )));
    }
    Ok(())
}

/// An id for networks that do not return one (incoming webhooks).
pub fn local_id() -> String {
    format!("local-{}", crate::ids::random_hex(8))
}

pub fn json_str(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    match cur {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A capability in a webhook URL's host (a function URL's id) is redacted, in any case;
    /// a machine's address and a network's shared host are not taken for secrets.
    #[test]
    fn a_webhook_host_is_a_part_of_the_secret() {
        let url =
            reqwest::Url::parse("https://Fn7f3a9cCapability.lambda-url.example/hook").unwrap();
        let mut r = Redactor::new();
        redact_url_parts(&mut r, &url, &[]);
        assert_eq!(
            r.redact("redirected to fn7f3a9ccapability.lambda-url.example"),
            "redirected to [REDACTED]"
        );
        for public in [
            "https://hooks.slack.com/services/T/B/x",
            "http://127.0.0.1:8080/hook",
        ] {
            let url = reqwest::Url::parse(public).unwrap();
            let mut r = Redactor::new();
            redact_url_parts(&mut r, &url, &["services"]);
            let host = url.host_str().unwrap();
            assert_eq!(r.redact(&format!("on {host}")), format!("on {host}"));
        }
    }
}
