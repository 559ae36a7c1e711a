//! Mastodon `POST /api/v1/statuses` with a bearer token on the account's instance (`--url`).
//! The length limit is the instance's, read from `/api/v2/instance` before any lock is taken
//! ([`Provider::prepare`]) and cached for a day beside the vault (`mastodon-instances.json`,
//! mode 0600); URLs count as the instance's reserved length (23 by default) on Mastodon and
//! its forks, and conservatively — the larger of that and their full length — on other
//! software the instance reports ([`software`]: Pleroma, Akkoma, GoToSocial, …), whose
//! counts differ: smv never sends what the server may refuse.
//!
//! `check` proves the token can post, not only read: a read-only token passes
//! `verify_credentials`, so its scopes are read where the server software offers them —
//! the OAuth token introspection (`/oauth/token/info`, Mastodon's Doorkeeper), else the
//! scopes of the token's app (`/api/v1/apps/verify_credentials`, Mastodon 4.3+ and others
//! that list `scopes`). A token or app without `write` or `write:statuses` is refused; an
//! app that has them bounds the token's scopes without proving them, and a server that
//! says neither leaves posting unproved (`account check` exits 14).

use std::path::PathBuf;

use super::answer::{Fields, GENERIC};
use super::common::{base_url, json_str, non_empty, receipt, redactor, secret_text, shown};
use super::http::{Http, no_receipt};
use super::{Checked, Detail, Limits, Provider, ProviderError, Receipt, Target};
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

/// How long the instance description is waited for: it only refines a length limit.
const INSTANCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The instance's limits, from the cache (a day) or from `/api/v2/instance`, which is
/// fetched here, before any lock: never under the posting gate, which every post waits for.
/// Unknown limits are left `None` (the defaults apply).
fn limits(target: &Target) -> Limits {
    let Ok(base) = base(target) else {
        return Limits::default();
    };
    let path = cache_file(target);
    let mut cache: serde_json::Map<String, serde_json::Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let get =
        |e: &serde_json::Value, k: &str| e.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
    if let Some(e) = cache.get(&base)
        && e.get("fetched")
            .and_then(|f| f.as_i64())
            .is_some_and(|f| now - f < 86_400)
        && e.get("mastodon").and_then(|m| m.as_bool()).is_some()
    {
        return Limits {
            max_chars: get(e, "max"),
            url_chars: get(e, "url"),
            urls_at_full_length: e.get("mastodon").and_then(|m| m.as_bool()) == Some(false),
        };
    }
    // The instance description is public: no credential is sent.
    let fetched = Http::new()
        .ok()
        .and_then(|h| {
            h.send(
                &|c| {
                    c.get(format!("{base}/api/v2/instance"))
                        .timeout(INSTANCE_TIMEOUT)
                },
                &Redactor::new(),
                &FIELDS,
            )
            .ok()
        })
        .and_then(|r| r.json());
    let Some(v) = fetched else {
        return Limits::default();
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
    let mastodon = software(&v) == Software::Mastodon;
    cache.insert(
        base,
        serde_json::json!({ "max": max, "url": url, "fetched": now, "mastodon": mastodon }),
    );
    // Best effort: a cache not written is fetched again next time.
    let _ = crate::fsutil::write_private(&path, &serde_json::to_vec(&cache).unwrap_or_default());
    Limits {
        max_chars: Some(max),
        url_chars: Some(url),
        urls_at_full_length: !mastodon,
    }
}

/// The server software an instance description reports, as far as counting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Software {
    /// Mastodon and its forks (glitch-soc, Hometown): URLs count as
    /// `characters_reserved_per_url`.
    Mastodon,
    /// Anything that says it is something else: Pleroma and Akkoma (`version` "… (compatible;
    /// Pleroma …)"), GoToSocial, Misskey forks…: counted conservatively.
    Other,
}

/// Which [`Software`] `/api/v2/instance` describes: another software's `version` says
/// "compatible" or its `source_url` names it.
pub fn software(instance: &serde_json::Value) -> Software {
    let field = |k: &str| {
        instance
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let version = field("version");
    let source = field("source_url");
    const OTHERS: [&str; 9] = [
        "pleroma",
        "akkoma",
        "gotosocial",
        "misskey",
        "firefish",
        "sharkey",
        "iceshrimp",
        "snac",
        "takahe",
    ];
    if version.contains("compatible")
        || OTHERS
            .iter()
            .any(|o| source.contains(o) || version.contains(o))
    {
        Software::Other
    } else {
        Software::Mastodon
    }
}

/// The scopes of a token-info answer: an array, or one space-separated string.
fn scopes(v: &serde_json::Value) -> Option<Vec<String>> {
    match v.get("scope").or_else(|| v.get("scopes"))? {
        serde_json::Value::Array(a) => Some(
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        ),
        serde_json::Value::String(s) => Some(s.split_whitespace().map(str::to_string).collect()),
        _ => None,
    }
}

/// Whether the scopes allow publishing a status.
fn can_post(scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == "write" || s == "write:statuses")
}

/// Mastodon's count: every http(s) URL counts as `url_chars`, everything else per character.
/// With `full`, a URL counts as the larger of `url_chars` and its own length (software
/// whose count smv does not model).
pub fn count(text: &str, url_chars: usize, full: bool) -> usize {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let w = word.trim_end();
            let tail = word.len() - w.len();
            if w.starts_with("https://") || w.starts_with("http://") {
                let own = w.chars().count();
                (if full { url_chars.max(own) } else { url_chars }) + tail
            } else {
                word.chars().count()
            }
        })
        .sum()
}

impl Provider for Mastodon {
    fn prepare(&self, target: &Target) -> Limits {
        limits(target)
    }

    fn validate(&self, target: &Target, text: &str, limits: &Limits) -> Result<(), ProviderError> {
        secret_text(target)?;
        base(target)?;
        non_empty(text)?;
        let max = limits.max_chars.unwrap_or(DEFAULT_MAX);
        let url_chars = limits.url_chars.unwrap_or(DEFAULT_URL_CHARS);
        let n = count(text, url_chars, limits.urls_at_full_length);
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
        // A success without the status's id is no receipt: the status may be live.
        let v = resp
            .json()
            .ok_or_else(|| no_receipt("Mastodon", "a readable body (not JSON)"))?;
        let id = json_str(&v, &["id"]).ok_or_else(|| no_receipt("Mastodon", "the status id"))?;
        Ok(receipt(&id, json_str(&v, &["url"]).as_deref(), &r))
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        self.check_posting(target).map(|c| c.seen)
    }

    fn check_posting(&self, target: &Target) -> Result<Checked, ProviderError> {
        let r = redactor(target);
        let token = secret_text(target)?;
        let url = format!("{}/api/v1/accounts/verify_credentials", base(target)?);
        let http = Http::new()?;
        let resp = http.send(&|c| c.get(&url).bearer_auth(token), &r, &FIELDS)?;
        let acct = resp
            .json()
            .and_then(|v| json_str(&v, &["acct"]))
            .unwrap_or_default();
        let acct = shown(&acct, &r, 100);
        // The token's scopes (Doorkeeper's token introspection, served by Mastodon): a
        // read-only token reads the account above but cannot post.
        let info = format!("{}/oauth/token/info", base(target)?);
        let read = |url: &str| {
            http.send(&|c| c.get(url).bearer_auth(token), &r, &FIELDS)
                .ok()
                .and_then(|resp| resp.json())
                .and_then(|v| scopes(&v))
        };
        let listed = |s: &[String]| {
            s.iter()
                .map(|x| shown(x, &r, 40))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let refused = |whose: &str, s: &[String]| {
            ProviderError::CredentialRejected(Detail::from(format!(
                "the token of @{acct} cannot post: {whose} scopes are `{}`, and posting needs `write:statuses` (or `write`); make a token with that scope",
                listed(s)
            )))
        };
        if let Some(s) = read(&info) {
            return if can_post(&s) {
                Ok(Checked::proved(format!(
                    "Mastodon account @{acct}, token scopes allow posting"
                )))
            } else {
                Err(refused("its", &s))
            };
        }
        // The app's scopes bound the token's: an app without a write scope proves the token
        // cannot post; one with it proves nothing about this token.
        let app = format!("{}/api/v1/apps/verify_credentials", base(target)?);
        match read(&app) {
            Some(s) if !can_post(&s) => Err(refused("its app's", &s)),
            Some(_) => Ok(Checked::unproved(
                format!("Mastodon account @{acct}"),
                "this server does not say the token's scopes (no /oauth/token/info); its app may post, but a token can have fewer scopes than its app",
            )),
            None => Ok(Checked::unproved(
                format!("Mastodon account @{acct}"),
                "this server says neither the token's scopes (/oauth/token/info) nor its app's (/api/v1/apps/verify_credentials)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_posts_only_with_a_write_scope() {
        let v = |j: serde_json::Value| super::scopes(&j).unwrap();
        assert!(!super::can_post(&v(serde_json::json!({"scope": ["read"]}))));
        assert!(!super::can_post(&v(
            serde_json::json!({"scope": "read write:follows"})
        )));
        assert!(super::can_post(&v(
            serde_json::json!({"scope": "read write"})
        )));
        assert!(super::can_post(&v(
            serde_json::json!({"scope": ["read", "write:statuses"]})
        )));
        assert!(super::scopes(&serde_json::json!({"acct": "x"})).is_none());
    }

    #[test]
    fn urls_count_as_reserved_length() {
        assert_eq!(super::count("hello", 23, false), 5);
        let text = "see https://example.com/a/very/long/path/indeed ok";
        assert_eq!(super::count(text, 23, false), 4 + 23 + 3);
        assert_eq!(super::count("ünï 🎉", 23, false), 5);
        // Other software: the larger of the reserved and the full length.
        assert_eq!(super::count(text, 23, true), 4 + 43 + 3);
        assert_eq!(super::count("see https://a.co ok", 23, true), 4 + 23 + 3);
    }

    /// The software an instance reports decides how URLs count.
    #[test]
    fn the_instance_says_its_software() {
        use super::{Software, software};
        assert_eq!(
            software(
                &serde_json::json!({"version": "4.3.2", "source_url": "https://github.com/mastodon/mastodon"})
            ),
            Software::Mastodon
        );
        assert_eq!(
            software(&serde_json::json!({"version": "4.3.0+glitch"})),
            Software::Mastodon
        );
        assert_eq!(software(&serde_json::json!({})), Software::Mastodon);
        assert_eq!(
            software(&serde_json::json!({"version": "2.7.2 (compatible; Akkoma 3.13.2)"})),
            Software::Other
        );
        assert_eq!(
            software(&serde_json::json!({"version": "2.7.2 (compatible; Pleroma 2.6.1)"})),
            Software::Other
        );
        assert_eq!(
            software(
                &serde_json::json!({"version": "0.17.3", "source_url": "https://github.com/superseriousbusiness/gotosocial"})
            ),
            Software::Other
        );
    }
}
