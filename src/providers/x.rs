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

use zeroize::Zeroizing;

use super::answer::GENERIC;
use super::common::{base_url, json_str, non_empty, receipt, redactor, shown};
use super::http::{Http, Reply, Response, before_the_post, no_receipt};
use super::{Detail, Limits, Provider, ProviderError, Receipt, Rotated, SessionStore, Target};
use crate::redact::Redactor;
use crate::secret::{Secret, SecretStr};

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

/// The stored credential's fields, borrowed from the secret's bytes (a JSON value with
/// escapes is unescaped into a buffer wiped on drop). Keys are not secret; values are.
struct Cred<'a>(BTreeMap<String, SecretStr<'a>>);

impl<'a> Cred<'a> {
    fn parse(secret: &'a Secret) -> Result<Cred<'a>, ProviderError> {
        let text = secret
            .expose_text_to_provider()
            .ok_or_else(|| ProviderError::Invalid("the stored secret is not text".into()))?;
        if let Ok(m) = serde_json::from_str::<BTreeMap<String, JsonField<'a>>>(text) {
            return Ok(Cred(
                m.into_iter()
                    .filter_map(|(k, v)| match v {
                        JsonField::Str(s) => Some((k, s)),
                        JsonField::Other => None,
                    })
                    .collect(),
            ));
        }
        Ok(Cred(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), SecretStr::Borrowed(v.trim())))
                .collect(),
        ))
    }

    /// A non-empty value.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(SecretStr::expose)
            .filter(|v| !v.is_empty())
    }

    /// Every secret value, each on its own, for redaction: a server echoing one token must
    /// not reveal it because the redaction looked for the whole multi-line credential.
    fn redact_into<'r>(&'r self, r: &mut Redactor<'r>) {
        const PUBLIC: [&str; 3] = ["client_id", "consumer_key", "token_url"];
        for (k, v) in &self.0 {
            if !PUBLIC.contains(&k.as_str()) {
                r.text(v.expose());
            }
        }
    }
}

/// A JSON value of the credential: text, or anything else (ignored).
enum JsonField<'a> {
    Str(SecretStr<'a>),
    Other,
}

impl<'de> serde::Deserialize<'de> for JsonField<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonField<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonField::Str(SecretStr::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonField::Str(SecretStr::Owned(Zeroizing::new(
                    v.to_string(),
                ))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonField::Str(SecretStr::Owned(Zeroizing::new(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(JsonField::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(JsonField::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(JsonField::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(JsonField::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(JsonField::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonField::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonField::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// How requests are authorized, borrowing the credential's values.
enum Auth<'a> {
    OAuth1 {
        consumer_key: &'a str,
        consumer_secret: &'a str,
        token: &'a str,
        token_secret: &'a str,
    },
    OAuth2 {
        client_id: &'a str,
        client_secret: Option<&'a str>,
        token_url: Option<&'a str>,
    },
}

fn cred<'a>(target: &'a Target) -> Result<Cred<'a>, ProviderError> {
    let secret = target
        .secret
        .ok_or_else(|| ProviderError::Invalid("the account has no secret stored".into()))?;
    Cred::parse(secret)
}

fn auth<'c>(f: &'c Cred) -> Result<Auth<'c>, ProviderError> {
    if let (Some(ck), Some(cs), Some(t), Some(ts)) = (
        f.get("consumer_key"),
        f.get("consumer_secret"),
        f.get("access_token"),
        f.get("access_token_secret"),
    ) {
        return Ok(Auth::OAuth1 {
            consumer_key: ck,
            consumer_secret: cs,
            token: t,
            token_secret: ts,
        });
    }
    if let (Some(_), Some(_), Some(id)) = (
        f.get("access_token"),
        f.get("refresh_token"),
        f.get("client_id"),
    ) {
        return Ok(Auth::OAuth2 {
            client_id: id,
            client_secret: f.get("client_secret"),
            token_url: f.get("token_url"),
        });
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

/// Registers with the redactor what smv builds from an OAuth 2.0 client secret for the
/// token endpoint: `id:secret`, its base64 and the whole `Basic …` header value. A server
/// echoing the header re-encoded (its base64 or hex) shows these, not the secret's own
/// encodings, which the redactor finds by themselves.
fn basic_forms(r: &mut Redactor, client_id: &str, client_secret: &str) {
    let pair = Zeroizing::new(format!("{client_id}:{client_secret}"));
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
    r.derived(pair.as_bytes().to_vec());
    r.derived(b64.as_bytes().to_vec());
    r.derived(format!("Basic {}", b64.as_str()).into_bytes());
}

/// Registers what smv builds from OAuth 1.0a secrets: the percent-encoded values (as the
/// header and the signature base carry them) and the HMAC signing key
/// `enc(consumer_secret)&enc(token_secret)`. Encoded again (hex, base64), these differ from
/// the encodings of the raw values.
fn oauth1_forms(r: &mut Redactor, consumer_secret: &str, token: &str, token_secret: &str) {
    for v in [consumer_secret, token, token_secret] {
        r.derived(enc(v).into_bytes());
    }
    r.derived(format!("{}&{}", enc(consumer_secret), enc(token_secret)).into_bytes());
}

/// The OAuth 2.0 tokens in use (the session's, else the stored credential's).
struct Tokens<'a> {
    access: SecretStr<'a>,
    refresh: SecretStr<'a>,
}

fn tokens_from(secret: &Secret) -> Option<Tokens<'_>> {
    let mut f = Cred::parse(secret).ok()?.0;
    Some(Tokens {
        access: f.remove("access_token")?,
        refresh: f.remove("refresh_token")?,
    })
}

/// The token endpoint's answer, borrowed from its (wiped) body.
#[derive(serde::Deserialize)]
struct TokenAnswer<'a> {
    #[serde(borrow)]
    access_token: SecretStr<'a>,
    #[serde(borrow)]
    refresh_token: SecretStr<'a>,
}

/// The session kept in the vault: the current token pair, as JSON.
fn session_of(access: &str, refresh: &str) -> Secret {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        access_token: &'a str,
        refresh_token: &'a str,
    }
    // Sized up front: a vector that grows leaves copies behind in freed memory.
    let mut buf = Vec::with_capacity(6 * (access.len() + refresh.len()) + 64);
    let _ = serde_json::to_writer(
        &mut buf,
        &Out {
            access_token: access,
            refresh_token: refresh,
        },
    );
    Secret::from_bytes(buf)
}

fn refresh(
    http: &Http,
    base: &str,
    auth: &Auth,
    refresh_token: &str,
    r: &Redactor,
) -> Result<Secret, ProviderError> {
    let Auth::OAuth2 {
        client_id,
        client_secret,
        token_url,
    } = auth
    else {
        return Err(ProviderError::Unexpected("not an OAuth 2.0 account".into()));
    };
    let url = token_url.map_or_else(|| format!("{base}/2/oauth2/token"), str::to_string);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ];
    let resp = match http.exchange(
        &|c| match client_secret {
            Some(cs) => c.post(&url).basic_auth(client_id, Some(cs)).form(&form),
            None => c.post(&url).form(&form),
        },
        r,
        &GENERIC,
    )? {
        Reply::Success(resp) => resp,
        Reply::Refused(refusal) => {
            return Err(ProviderError::CredentialRejected(Detail::noted(
                "refreshing the OAuth 2.0 token failed",
                refusal.answer(&GENERIC, r),
            )));
        }
    };
    let answer: TokenAnswer = serde_json::from_slice(&resp.body).map_err(|_| {
        ProviderError::Unexpected(
            "the token endpoint answered without access_token and refresh_token".into(),
        )
    })?;
    Ok(session_of(
        answer.access_token.expose(),
        answer.refresh_token.expose(),
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
    let cred = cred(target)?;
    let auth = auth(&cred)?;
    let base = base_url(target, DEFAULT_API)?;
    let http = Http::new()?;
    let mut r = redactor(target);
    cred.redact_into(&mut r);
    let build = |authorization: &str| {
        let req = if method == "POST" {
            http.client().post(url)
        } else {
            http.client().get(url)
        };
        // Marked sensitive: reqwest keeps it out of its own debug output.
        let req = match reqwest::header::HeaderValue::from_str(authorization) {
            Ok(mut v) => {
                v.set_sensitive(true);
                req.header(reqwest::header::AUTHORIZATION, v)
            }
            Err(_) => req.header("Authorization", authorization),
        };
        match body {
            Some(b) => req.json(b),
            None => req,
        }
    };
    match &auth {
        Auth::OAuth1 {
            consumer_key,
            consumer_secret,
            token,
            token_secret,
        } => {
            oauth1_forms(&mut r, consumer_secret, token, token_secret);
            // Signed afresh for each attempt (a new nonce after a rate-limit wait).
            http.send(
                &|_| {
                    let header = Zeroizing::new(oauth1_header(
                        method,
                        url,
                        &[],
                        consumer_key,
                        consumer_secret,
                        token,
                        token_secret,
                        &crate::ids::random_hex(16),
                        &chrono::Utc::now().timestamp().to_string(),
                    ));
                    build(&header)
                },
                &r,
                &GENERIC,
            )
        }
        Auth::OAuth2 {
            client_id,
            client_secret,
            ..
        } => {
            if let Some(cs) = client_secret {
                basic_forms(&mut r, client_id, cs);
            }
            let store: &dyn SessionStore = target
                .sessions
                .ok_or_else(|| ProviderError::Unexpected("no session store".into()))?;
            let current = store.current();
            let tokens = match current.as_ref().and_then(tokens_from) {
                Some(t) => t,
                None => Tokens {
                    access: SecretStr::Borrowed(cred.get("access_token").unwrap_or_default()),
                    refresh: SecretStr::Borrowed(cred.get("refresh_token").unwrap_or_default()),
                },
            };
            r.derived(tokens.access.expose().as_bytes().to_vec());
            r.derived(tokens.refresh.expose().as_bytes().to_vec());
            let bearer = Zeroizing::new(format!("Bearer {}", tokens.access.expose()));
            match http.exchange(&|_| build(&bearer), &r, &GENERIC)? {
                Reply::Refused(refusal) if refusal.status() == 401 => {}
                other => return other.success(),
            }
            let used = tokens.refresh.expose();
            // After a refusal (401): nothing was posted; a refresh whose answer is lost
            // fails the post, it does not make it unknown.
            let renewed = store
                .update(&mut |now| {
                    let now_tokens = now.and_then(tokens_from);
                    match now_tokens {
                        // Another process refreshed meanwhile: use its tokens.
                        Some(t) if t.refresh.expose() != used => Ok(None),
                        Some(t) => refresh(&http, &base, &auth, t.refresh.expose(), &r).map(Some),
                        None => refresh(&http, &base, &auth, used, &r).map(Some),
                    }
                })
                .map_err(before_the_post)?;
            let fresh = renewed.as_ref().and_then(tokens_from).ok_or_else(|| {
                ProviderError::Unexpected("no OAuth 2.0 tokens after refreshing".into())
            })?;
            r.derived(fresh.access.expose().as_bytes().to_vec());
            r.derived(fresh.refresh.expose().as_bytes().to_vec());
            let bearer = Zeroizing::new(format!("Bearer {}", fresh.access.expose()));
            http.send(&|_| build(&bearer), &r, &GENERIC)
        }
    }
}

impl Provider for X {
    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
        auth(&cred(target)?)?;
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
        // A success without the post's id is no receipt: the post may be live.
        let v = resp
            .json()
            .ok_or_else(|| no_receipt("X", "a readable body (not JSON)"))?;
        let id = json_str(&v, &["data", "id"]).ok_or_else(|| no_receipt("X", "the post id"))?;
        let user = target
            .account
            .handle
            .as_deref()
            .map(|h| h.trim_start_matches('@').to_string());
        let url = match user {
            Some(u) if !u.is_empty() => format!("https://x.com/{u}/status/{id}"),
            _ => format!("https://x.com/i/web/status/{id}"),
        };
        let cred = cred(target)?;
        let mut r = redactor(target);
        cred.redact_into(&mut r);
        Ok(receipt(&id, Some(&url), &r))
    }

    /// OAuth 2.0: spends the newest refresh token now. X rotates refresh tokens, so the
    /// one a leaver may have copied stops working, and the access token they may hold
    /// expires within two hours. OAuth 1.0a tokens are regenerated only in the developer
    /// portal.
    fn rotate(&self, target: &Target) -> Result<Rotated, ProviderError> {
        let cred = cred(target)?;
        let auth = auth(&cred)?;
        let Auth::OAuth2 {
            client_id,
            client_secret,
            ..
        } = &auth
        else {
            return Err(ProviderError::Unsupported(format!(
                "OAuth 1.0a tokens are regenerated in the X developer portal (Keys and tokens → Regenerate); then run `smv rotate {}` with the new ones",
                target.account.name
            )));
        };
        let base = base_url(target, DEFAULT_API)?;
        let http = Http::new()?;
        let mut r = redactor(target);
        cred.redact_into(&mut r);
        if let Some(cs) = client_secret {
            basic_forms(&mut r, client_id, cs);
        }
        let store: &dyn SessionStore = target
            .sessions
            .ok_or_else(|| ProviderError::Unexpected("no session store".into()))?;
        // Under the vault lock, like any refresh: the new tokens are kept in the session at
        // once, so that nothing is lost if storing the rotated secret fails afterwards.
        let renewed = store.update(&mut |now| {
            let session = now.and_then(tokens_from);
            let spend = match &session {
                Some(t) => t.refresh.expose(),
                None => cred.get("refresh_token").unwrap_or_default(),
            };
            let mut all = Redactor::new();
            all.include(&r).text(spend);
            refresh(&http, &base, &auth, spend, &all).map(Some)
        })?;
        let fresh = renewed.as_ref().and_then(tokens_from).ok_or_else(|| {
            ProviderError::Unexpected("no OAuth 2.0 tokens after refreshing".into())
        })?;
        // The credential as stored, with the new pair; wiped once it is in the new secret.
        let mut text = Zeroizing::new(String::new());
        for (k, v) in &cred.0 {
            let v = match k.as_str() {
                "access_token" => fresh.access.expose(),
                "refresh_token" => fresh.refresh.expose(),
                _ => v.expose(),
            };
            text.reserve(k.len() + v.len() + 2);
            text.push_str(k);
            text.push('=');
            text.push_str(v);
            text.push('\n');
        }
        Ok(Rotated {
            secret: Secret::from_bytes(text.as_bytes().to_vec()),
            label: None,
            note: None,
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        self.check_posting(target).map(|c| c.seen)
    }

    /// X answers OAuth 1.0a requests with the app's access level (`x-access-level`: `read`,
    /// `read-write`, `read-write-directmessages`): a read-only app cannot post. OAuth 2.0
    /// tokens carry no such header, and their scopes are not readable: unproved.
    fn check_posting(&self, target: &Target) -> Result<super::Checked, ProviderError> {
        let url = format!("{}/2/users/me", base_url(target, DEFAULT_API)?);
        let resp = send(target, "GET", &url, None)?;
        let level = resp.header("x-access-level").map(str::to_ascii_lowercase);
        let username = resp
            .json()
            .and_then(|v| json_str(&v, &["data", "username"]))
            .unwrap_or_default();
        let cred = cred(target)?;
        let mut r = redactor(target);
        cred.redact_into(&mut r);
        let seen = format!("X account @{}", shown(&username, &r, 100));
        match level.as_deref() {
            Some(l) if l.contains("write") => Ok(super::Checked::proved(seen)),
            Some(l) => Err(ProviderError::CredentialRejected(Detail::from(format!(
                "{seen} cannot post: the app's access level is `{}`; set the app to Read and Write in X's developer portal, then make new access tokens",
                shown(l, &r, 40)
            )))),
            None => Ok(super::Checked::unproved(
                seen,
                "X did not say the app's access level (x-access-level; OAuth 2.0 tokens' tweet.write scope is not readable)",
            )),
        }
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

    /// What smv builds from the secrets (the OAuth 1.0a signing key, the percent-encoded
    /// values, the OAuth 2.0 `Basic` header) is found re-encoded: hex and base64 of these
    /// are not hex and base64 of the raw values (`/` becomes `%2F` first).
    #[test]
    fn derived_values_are_redacted_re_encoded() {
        use base64::engine::general_purpose::STANDARD;
        let (cs, tok, ts) = ("CANARY-cs/+=1a2b", "CANARY-tok/+=3c4d", "CANARY-ts/+=5e6f");
        let mut r = Redactor::new();
        oauth1_forms(&mut r, cs, tok, ts);
        basic_forms(&mut r, "client-1", cs);
        let key = format!("{}&{}", enc(cs), enc(ts));
        let header = format!("Basic {}", STANDARD.encode(format!("client-1:{cs}")));
        for echo in [
            crate::ids::hex(key.as_bytes()),
            crate::ids::hex(enc(tok).as_bytes()).to_uppercase(),
            STANDARD.encode(format!("x{key}")),
            crate::ids::hex(header.as_bytes()),
            STANDARD.encode(&header),
        ] {
            let out = r.redact(&format!("signed with {echo}."));
            // Base64 at an offset keeps the few characters that mix in the bytes around.
            assert!(
                out.contains("[REDACTED]") && out.len() <= "signed with [REDACTED].".len() + 6,
                "{echo}: {out}"
            );
        }
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
