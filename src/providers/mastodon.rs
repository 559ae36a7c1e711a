//! Mastodon `POST /api/v1/statuses` with a bearer token on the account's instance (`--url`).
//! The length limit is the instance's, read from `/api/v2/instance` and cached for a day
//! beside the vault; URLs count as the instance's reserved length (23 by default).

use std::path::PathBuf;

use super::answer::{Fields, GENERIC};
use super::common::{base_url, json_str, non_empty, receipt, redactor, secret_text, shown};
use super::http::Http;
use super::{Provider, ProviderError, Receipt, Target};
use crate::redact::Redactor;

pub struct Mastodon;

/// Mastodon's errors: `{"error": "The access token is invalid"}`, or OAuth's
/// `error`/`error_description`.
const FIELDS: Fields = GENERIC;

const DEFAULT_MAX: usize = 500;
const DEFAULT_URL_CHARS: usize = 23;

fn base(target: &Target) -> Result<String, ProviderError> {
    if target.account.url.is_none() {
        return Err(ProviderError::Invalid(
            "a Mastodon account needs --url (its instance)".into(),
        ));
    }
    base_url(target, "")
}

fn cache_file(target: &Target) -> PathBuf {
    target.state_dir.join("mastodon-instances.json")
}

/// (max characters, characters per URL) of the instance, cached for a day.
fn limits(target: &Target) -> (usize, usize) {
    let Ok(base) = base(target) else {
        return (DEFAULT_MAX, DEFAULT_URL_CHARS);
    };
    let path = cache_file(target);
    let mut cache: serde_json::Map<String, serde_json::Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    if let Some(e) = cache.get(&base)
        && e.get("fetched")
            .and_then(|f| f.as_i64())
            .is_some_and(|f| now - f < 86_400)
    {
        let get = |k: &str, d: usize| e.get(k).and_then(|v| v.as_u64()).map_or(d, |v| v as usize);
        return (get("max", DEFAULT_MAX), get("url", DEFAULT_URL_CHARS));
    }
    // The instance description is public: no credential is sent.
    let fetched = Http::new()
        .ok()
        .and_then(|h| {
            h.send(
                &|c| c.get(format!("{base}/api/v2/instance")),
                &Redactor::new(),
                &FIELDS,
            )
            .ok()
        })
        .and_then(|r| r.json());
    let Some(v) = fetched else {
        return (DEFAULT_MAX, DEFAULT_URL_CHARS);
    };
    let statuses = v.get("configuration").and_then(|c| c.get("statuses"));
    let max = statuses
        .and_then(|s| s.get("max_characters"))
        .and_then(|m| m.as_u64())
        .map_or(DEFAULT_MAX, |m| m as usize);
    let url = statuses
        .and_then(|s| s.get("characters_reserved_per_url"))
        .and_then(|m| m.as_u64())
        .map_or(DEFAULT_URL_CHARS, |m| m as usize);
    cache.insert(
        base,
        serde_json::json!({ "max": max, "url": url, "fetched": now }),
    );
    let _ = std::fs::write(&path, serde_json::to_vec(&cache).unwrap_or_default());
    (max, url)
}

/// Mastodon's count: every http(s) URL counts as `url_chars`, everything else per character.
pub fn count(text: &str, url_chars: usize) -> usize {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let w = word.trim_end();
            let tail = word.len() - w.len();
            if w.starts_with("https://") || w.starts_with("http://") {
                url_chars + tail
            } else {
                word.chars().count()
            }
        })
        .sum()
}

impl Provider for Mastodon {
    fn validate(&self, target: &Target, text: &str) -> Result<(), ProviderError> {
        secret_text(target)?;
        base(target)?;
        non_empty(text)?;
        let (max, url_chars) = limits(target);
        let n = count(text, url_chars);
        if n > max {
            return Err(ProviderError::Invalid(format!(
                "{n} characters, more than this instance's {max}"
            )));
        }
        Ok(())
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let r = redactor(target);
        let token = secret_text(target)?;
        let url = format!("{}/api/v1/statuses", base(target)?);
        let body = serde_json::json!({ "status": text });
        let resp = Http::new()?.send(
            &|c| {
                let mut req = c.post(&url).bearer_auth(token).json(&body);
                if let Some(k) = idempotency_key {
                    // Mastodon keeps the key for an hour and answers a retry with the original.
                    req = req.header("Idempotency-Key", k);
                }
                req
            },
            &r,
            &FIELDS,
        )?;
        let v = resp
            .json()
            .ok_or_else(|| ProviderError::Unexpected("Mastodon: the answer is not JSON".into()))?;
        let id = json_str(&v, &["id"]).ok_or_else(|| {
            ProviderError::Unexpected("Mastodon: no status id in the answer".into())
        })?;
        Ok(receipt(&id, json_str(&v, &["url"]).as_deref(), &r))
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let r = redactor(target);
        let token = secret_text(target)?;
        let url = format!("{}/api/v1/accounts/verify_credentials", base(target)?);
        let resp = Http::new()?.send(&|c| c.get(&url).bearer_auth(token), &r, &FIELDS)?;
        let acct = resp
            .json()
            .and_then(|v| json_str(&v, &["acct"]))
            .unwrap_or_default();
        Ok(format!("Mastodon account @{}", shown(&acct, &r, 100)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_count_as_reserved_length() {
        assert_eq!(super::count("hello", 23), 5);
        assert_eq!(
            super::count("see https://example.com/a/very/long/path/indeed ok", 23),
            4 + 23 + 3
        );
        assert_eq!(super::count("ünï 🎉", 23), 5);
    }
}
