//! Helpers shared by the network providers.

use super::{ProviderError, Target};

/// The secret as text (tokens and URLs are text).
pub fn secret_text<'a>(target: &'a Target) -> Result<&'a str, ProviderError> {
    let secret = target
        .secret
        .ok_or_else(|| ProviderError::Invalid("the account has no secret stored".into()))?;
    std::str::from_utf8(secret.expose_to_provider())
        .map(str::trim)
        .map_err(|_| ProviderError::Invalid("the stored secret is not text".into()))
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
