//! X API v2 `POST /2/tweets`, as the account's user.
//!
//! The stored secret is `key=value` lines (or a JSON object) with either
//! - OAuth 1.0a user context: `consumer_key`, `consumer_secret`, `access_token`,
//!   `access_token_secret` — every request signed (HMAC-SHA1, RFC 5849); or
//! - OAuth 2.0 user token: `access_token`, `refresh_token`, `client_id` (and
//!   `client_secret` for confidential clients, `token_url` to override the endpoint). Refresh
//!   tokens are single-use: the current pair lives in the account's session in the vault, and
//!   a refresh happens under the vault's write lock, so concurrent smv processes never spend
//!   the same refresh token twice.
//!
//! Length is X's weighted length (twitter-text v3): NFC first, 280 units, most Latin-script
//! characters weigh 1 and others 2, an emoji 2, a URL 23. The length is counted on the NFC
//! form, as X counts it; what is sent is the approved bytes, unchanged (X normalises on its
//! side), so that the audit's `text_sha256` is the hash of what was sent.

use std::collections::BTreeMap;

use base64::Engine as _;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use super::common::{base_url, json_str, non_empty};
use super::http::{Http, Response, check_status, summary};
use super::{Provider, ProviderError, Receipt, Rotated, SessionStore, Target};
use crate::secret::Secret;

pub struct X;

const DEFAULT_API: &str = "https://api.x.com";
const MAX_WEIGHT: usize = 280;

/// The weighted length of a post (twitter-text v3 configuration).
pub fn weighted_length(text: &str) -> usize {
    let text: String = text.nfc().collect();
    let mut units = 0usize; // in hundredths, like twitter-text's scale
    for word in text.split_inclusive(char::is_whitespace) {
        let w = word.trim_end();
        if w.starts_with("https://") || w.starts_with("http://") {
            units += 23 * 100;
            units += (word.len() - w.len()) * 100;
            continue;
        }
        for g in word.graphemes(true) {
            if g.chars().any(is_emoji) {
                units += 200;
                continue;
            }
            units += g
                .chars()
                .map(|c| if light(c) { 100 } else { 200 })
                .sum::<usize>();
        }
    }
    units.div_ceil(100)
}

fn light(c: char) -> bool {
    matches!(c as u32, 0..=4351 | 8192..=8205 | 8208..=8223 | 8242..=8247)
}

fn is_emoji(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

enum Auth {
    OAuth1 {
        consumer_key: String,
        consumer_secret: String,
        token: String,
        token_secret: String,
    },
    OAuth2 {
        client_id: String,
        client_secret: Option<String>,
        token_url: Option<String>,
    },
}

fn fields(secret: &Secret) -> Result<BTreeMap<String, String>, ProviderError> {
    let text = std::str::from_utf8(secret.expose_to_provider())
        .map_err(|_| ProviderError::Invalid("the stored secret is not text".into()))?;
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text) {
        return Ok(m
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect());
    }
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

fn auth(target: &Target) -> Result<(Auth, BTreeMap<String, String>), ProviderError> {
    let secret = target
        .secret
        .ok_or_else(|| ProviderError::Invalid("the account has no secret stored".into()))?;
    let f = fields(secret)?;
    let get = |k: &str| f.get(k).filter(|v| !v.is_empty()).cloned();
    if let (Some(ck), Some(cs), Some(t), Some(ts)) = (
        get("consumer_key"),
        get("consumer_secret"),
        get("access_token"),
        get("access_token_secret"),
    ) {
        return Ok((
            Auth::OAuth1 {
                consumer_key: ck,
                consumer_secret: cs,
                token: t,
                token_secret: ts,
            },
            f,
        ));
    }
    if let (Some(_), Some(_), Some(id)) =
        (get("access_token"), get("refresh_token"), get("client_id"))
    {
        return Ok((
            Auth::OAuth2 {
                client_id: id,
                client_secret: get("client_secret"),
                token_url: get("token_url"),
            },
            f,
        ));
    }
    Err(ProviderError::Invalid(
        "the X secret needs consumer_key, consumer_secret, access_token and access_token_secret (OAuth 1.0a), or access_token, refresh_token and client_id (OAuth 2.0), as key=value lines".into(),
    ))
}

/// RFC 3986 percent-encoding, as OAuth 1.0a requires.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The OAuth 1.0a `Authorization` header. `form` are form-encoded body parameters, which are
/// signed too; X API v2 sends JSON bodies, which are not (so `form` is empty there).
#[allow(clippy::too_many_arguments)]
pub fn oauth1_header(
    method: &str,
    url: &str,
    form: &[(&str, &str)],
    ck: &str,
    cs: &str,
    token: &str,
    ts: &str,
    nonce: &str,
    timestamp: &str,
) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut params: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), ck.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), timestamp.into()),
        ("oauth_token".into(), token.into()),
        ("oauth_version".into(), "1.0".into()),
    ];
    params.extend(form.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let parsed = reqwest::Url::parse(url).ok();
    if let Some(u) = &parsed {
        params.extend(
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }
    let mut encoded: Vec<(String, String)> = params.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    encoded.sort();
    let param_string = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base_url = parsed.map(|mut u| {
        u.set_query(None);
        u.set_fragment(None);
        u.to_string()
    });
    let base = format!(
        "{}&{}&{}",
        method.to_uppercase(),
        enc(&base_url.unwrap_or_default()),
        enc(&param_string)
    );
    let key = format!("{}&{}", enc(cs), enc(ts));
    let mut mac = SimpleHmac::<sha1::Sha1>::new_from_slice(key.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(base.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut header: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| k.starts_with("oauth_"))
        .collect();
    header.push(("oauth_signature".into(), sig));
    header.sort();
    format!(
        "OAuth {}",
        header
            .iter()
            .map(|(k, v)| format!("{}=\"{}\"", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Every secret value of the stored credential (and any extra tokens), each on its own, for
/// redaction: a server echoing one token must not reveal it because the redaction looked for
/// the whole multi-line credential.
fn parts_to_redact(f: &BTreeMap<String, String>, extra: &[&str]) -> Vec<Secret> {
    const PUBLIC: [&str; 3] = ["client_id", "consumer_key", "token_url"];
    f.iter()
        .filter(|(k, _)| !PUBLIC.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
        .chain(extra.iter().copied())
        .filter(|v| v.len() >= crate::secret::MIN_SECRET_LEN)
        .map(|v| Secret::from_bytes(v.as_bytes().to_vec()))
        .collect()
}

struct Tokens {
    access: String,
    refresh: String,
}

fn tokens_from(secret: &Secret) -> Option<Tokens> {
    let f = fields(secret).ok()?;
    Some(Tokens {
        access: f.get("access_token")?.clone(),
        refresh: f.get("refresh_token")?.clone(),
    })
}

fn refresh(
    http: &Http,
    base: &str,
    auth: &Auth,
    refresh_token: &str,
    secrets: &[&Secret],
) -> Result<Secret, ProviderError> {
    let Auth::OAuth2 {
        client_id,
        client_secret,
        token_url,
    } = auth
    else {
        return Err(ProviderError::Unexpected("not an OAuth 2.0 account".into()));
    };
    let url = token_url
        .clone()
        .unwrap_or_else(|| format!("{base}/2/oauth2/token"));
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id.as_str()),
    ];
    let resp = http.raw(
        match client_secret {
            Some(cs) => http
                .client()
                .post(&url)
                .basic_auth(client_id, Some(cs))
                .form(&form),
            None => http.client().post(&url).form(&form),
        },
        secrets,
    )?;
    if resp.status != 200 {
        return Err(ProviderError::CredentialRejected(format!(
            "refreshing the OAuth 2.0 token failed: {}",
            summary(&resp, secrets)
        )));
    }
    let v = resp.json().unwrap_or_default();
    let (Some(access), Some(new_refresh)) = (
        json_str(&v, &["access_token"]),
        json_str(&v, &["refresh_token"]),
    ) else {
        return Err(ProviderError::Unexpected(
            "the token endpoint answered without access_token and refresh_token".into(),
        ));
    };
    Ok(Secret::from_bytes(
        serde_json::json!({"access_token": access, "refresh_token": new_refresh})
            .to_string()
            .into_bytes(),
    ))
}

/// Sends an authenticated request; for OAuth 2.0, refreshes (once, under the vault lock)
/// when the access token is refused.
fn send(
    target: &Target,
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> Result<Response, ProviderError> {
    let (auth, f) = auth(target)?;
    let base = base_url(target, DEFAULT_API)?;
    let http = Http::new()?;
    let parts = parts_to_redact(&f, &[]);
    let stored: Vec<&Secret> = target.secret.into_iter().chain(parts.iter()).collect();
    let build = |authorization: &str| {
        let r = if method == "POST" {
            http.client().post(url)
        } else {
            http.client().get(url)
        };
        let r = r.header("Authorization", authorization);
        match body {
            Some(b) => r.json(b),
            None => r,
        }
    };
    match &auth {
        Auth::OAuth1 {
            consumer_key,
            consumer_secret,
            token,
            token_secret,
        } => {
            let header = oauth1_header(
                method,
                url,
                &[],
                consumer_key,
                consumer_secret,
                token,
                token_secret,
                &crate::ids::random_hex(16),
                &chrono::Utc::now().timestamp().to_string(),
            );
            let resp = http.raw(build(&header), &stored)?;
            check_status(resp, &stored)
        }
        Auth::OAuth2 { .. } => {
            let store: &dyn SessionStore = target
                .sessions
                .ok_or_else(|| ProviderError::Unexpected("no session store".into()))?;
            let current = store.current().and_then(|s| tokens_from(&s));
            let initial = Tokens {
                access: f["access_token"].clone(),
                refresh: f["refresh_token"].clone(),
            };
            let tokens = current.unwrap_or(initial);
            let session_parts =
                parts_to_redact(&BTreeMap::new(), &[&tokens.access, &tokens.refresh]);
            let mut secrets = stored.clone();
            secrets.extend(session_parts.iter());
            let resp = http.raw(build(&format!("Bearer {}", tokens.access)), &secrets)?;
            if resp.status != 401 {
                return check_status(resp, &secrets);
            }
            let used = tokens.refresh.clone();
            let renewed = store.update(&mut |now| {
                let now_tokens = now.and_then(tokens_from);
                match now_tokens {
                    // Another process refreshed meanwhile: use its tokens.
                    Some(t) if t.refresh != used => Ok(None),
                    Some(t) => refresh(&http, &base, &auth, &t.refresh, &secrets).map(Some),
                    None => refresh(&http, &base, &auth, &used, &secrets).map(Some),
                }
            })?;
            let fresh = renewed.as_ref().and_then(tokens_from).ok_or_else(|| {
                ProviderError::Unexpected("no OAuth 2.0 tokens after refreshing".into())
            })?;
            let renewed_parts = parts_to_redact(&BTreeMap::new(), &[&fresh.access, &fresh.refresh]);
            secrets.extend(renewed_parts.iter());
            let resp = http.raw(build(&format!("Bearer {}", fresh.access)), &secrets)?;
            check_status(resp, &secrets)
        }
    }
}

impl Provider for X {
    fn validate(&self, target: &Target, text: &str) -> Result<(), ProviderError> {
        auth(target)?;
        base_url(target, DEFAULT_API)?;
        non_empty(text)?;
        let n = weighted_length(text);
        if n > MAX_WEIGHT {
            return Err(ProviderError::Invalid(format!(
                "weighted length {n}, more than X's {MAX_WEIGHT} (URLs count 23, most non-Latin characters and emoji 2)"
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
        let url = format!("{}/2/tweets", base_url(target, DEFAULT_API)?);
        // The approved bytes, not a normalised copy: the audit's hash is of what is sent.
        let resp = send(
            target,
            "POST",
            &url,
            Some(&serde_json::json!({ "text": text })),
        )?;
        let v = resp
            .json()
            .ok_or_else(|| ProviderError::Unexpected("X: the answer is not JSON".into()))?;
        let id = json_str(&v, &["data", "id"])
            .ok_or_else(|| ProviderError::Unexpected("X: no post id in the answer".into()))?;
        let user = target
            .account
            .handle
            .as_deref()
            .map(|h| h.trim_start_matches('@').to_string());
        let url = match user {
            Some(u) if !u.is_empty() => format!("https://x.com/{u}/status/{id}"),
            _ => format!("https://x.com/i/web/status/{id}"),
        };
        Ok(Receipt {
            post_id: id,
            url: Some(url),
        })
    }

    /// OAuth 2.0: spends the newest refresh token now. X rotates refresh tokens, so the
    /// one a leaver may have copied stops working, and the access token they may hold
    /// expires within two hours. OAuth 1.0a tokens are regenerated only in the developer
    /// portal.
    fn rotate(&self, target: &Target) -> Result<Rotated, ProviderError> {
        let (auth, f) = auth(target)?;
        if !matches!(auth, Auth::OAuth2 { .. }) {
            return Err(ProviderError::Unsupported(format!(
                "OAuth 1.0a tokens are regenerated in the X developer portal (Keys and tokens → Regenerate); then run `smv rotate {}` with the new ones",
                target.account.name
            )));
        }
        let base = base_url(target, DEFAULT_API)?;
        let http = Http::new()?;
        let parts = parts_to_redact(&f, &[]);
        let secrets: Vec<&Secret> = target.secret.into_iter().chain(parts.iter()).collect();
        let store: &dyn SessionStore = target
            .sessions
            .ok_or_else(|| ProviderError::Unexpected("no session store".into()))?;
        // Under the vault lock, like any refresh: the new tokens are kept in the session at
        // once, so that nothing is lost if storing the rotated secret fails afterwards.
        let renewed = store.update(&mut |now| {
            let spend = now
                .and_then(tokens_from)
                .map_or_else(|| f["refresh_token"].clone(), |t| t.refresh);
            let session_parts = parts_to_redact(&BTreeMap::new(), &[&spend]);
            let mut all = secrets.clone();
            all.extend(session_parts.iter());
            refresh(&http, &base, &auth, &spend, &all).map(Some)
        })?;
        let fresh = renewed.as_ref().and_then(tokens_from).ok_or_else(|| {
            ProviderError::Unexpected("no OAuth 2.0 tokens after refreshing".into())
        })?;
        let mut fields = f.clone();
        fields.insert("access_token".into(), fresh.access);
        fields.insert("refresh_token".into(), fresh.refresh);
        let text: String = fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        Ok(Rotated {
            secret: Secret::from_bytes(text.into_bytes()),
            label: None,
            note: None,
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let url = format!("{}/2/users/me", base_url(target, DEFAULT_API)?);
        let resp = send(target, "GET", &url, None)?;
        let username = resp
            .json()
            .and_then(|v| json_str(&v, &["data", "username"]))
            .unwrap_or_default();
        Ok(format!("X account @{username}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_length_follows_twitter_text() {
        assert_eq!(weighted_length("hello"), 5);
        assert_eq!(weighted_length("日本語"), 6);
        assert_eq!(
            weighted_length("see https://example.com/a/very/long/path ok"),
            4 + 23 + 3
        );
        assert_eq!(weighted_length("🎉"), 2);
        assert_eq!(weighted_length("👩‍👩‍👧‍👦"), 2);
        // NFC first: e + combining acute is one character.
        assert_eq!(weighted_length("e\u{301}"), 1);
        assert_eq!(weighted_length(&"a".repeat(280)), 280);
        assert_eq!(weighted_length(&"日".repeat(141)), 282);
    }

    /// The worked example of X's "Creating a signature" documentation (RFC 5849 HMAC-SHA1):
    /// its base string and key give hCtSmYh+iHYCEqBWrE7C7hYmtUk= (as every conforming
    /// implementation computes; the page itself prints a value that does not reproduce).
    #[test]
    fn oauth1_signature_matches_the_worked_example() {
        let header = oauth1_header(
            "POST",
            "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
            &[(
                "status",
                "Hello Ladies + Gentlemen, a signed OAuth request!",
            )],
            "xvz1evFS4wEEPTGEFPHBog",
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            "1318622958",
        );
        assert!(
            header.contains(&format!(
                "oauth_signature=\"{}\"",
                enc("hCtSmYh+iHYCEqBWrE7C7hYmtUk=")
            )),
            "{header}"
        );
        assert!(
            header.starts_with("OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\""),
            "{header}"
        );
        // Only oauth_* parameters go in the header; the secrets never do.
        assert!(!header.contains("status") && !header.contains("include_entities"));
        assert!(
            !header.contains("kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw")
                && !header.contains("LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE")
        );
    }
}
