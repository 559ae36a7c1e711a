//! The networks smv can post to: the catalogue of provider names, and the one trait every
//! network implements. A provider validates a post before any network call, posts it, and
//! maps the network's errors to the few kinds a user can act on.
//!
//! A send has three outcomes, and this layer is where they are told apart (typed, in
//! [`ProviderError::effect`]): published (a [`Receipt`] with the network's id); failed, when
//! the network certainly did nothing (not sent: no connection, a 429 or 503 at the front
//! door; or sent and refused: a 4xx); and unknown ([`ProviderError::Unknown`]), when the
//! request left and no trustworthy answer came back (a timeout or a reset after sending, a
//! success without the post's id, a 500/502/504). Which status and transport error means
//! which is decided in one table, [`http::outcome`], that every provider's answer goes
//! through: a provider only ever sees an answer the table has judged ([`http::Reply`]). An
//! unknown outcome may be live: the operations layer records it as such and never retries
//! it blindly.

pub mod answer;
mod bluesky;
mod common;
mod facebook;
pub mod http;
mod linkedin;
mod mastodon;
mod outbox;
pub mod shape;
mod slack;
mod telegram;
pub mod versions;
mod webhook;
mod x;

use std::path::PathBuf;

use serde::Serialize;

pub use shape::{Hook, SecretShape};

use crate::secret::Secret;
use crate::vault::Account;
pub use answer::Answer;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProviderInfo {
    pub name: &'static str,
    pub title: &'static str,
    /// Whether an account of this provider holds a secret.
    pub needs_secret: bool,
    /// What the secret is, in the words the network uses.
    pub secret: &'static str,
    /// What the secret looks like (one catalogue: `shape.rs` checks it at `account add`,
    /// `rotate` and before each send).
    #[serde(skip)]
    pub shape: SecretShape,
    /// Whether `--url` (instance, base URL or file) is required.
    pub needs_url: bool,
    /// How long the network accepts a secret after it is issued, where that is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_lifetime_days: Option<u32>,
}

pub const CATALOGUE: &[ProviderInfo] = &[
    ProviderInfo {
        name: "outbox",
        title: "Local outbox file (JSON lines): demos, dry runs, staging",
        needs_secret: false,
        secret: "none",
        shape: SecretShape::None,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "x",
        title: "X (Twitter) API v2",
        needs_secret: true,
        secret: "OAuth credentials",
        shape: SecretShape::XCredential,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "mastodon",
        title: "Mastodon",
        needs_secret: true,
        secret: "access token",
        shape: SecretShape::Token { prefixes: &[] },
        needs_url: true,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "bluesky",
        title: "Bluesky (AT Protocol)",
        needs_secret: true,
        secret: "app password",
        shape: SecretShape::Password,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "linkedin",
        title: "LinkedIn Posts API",
        needs_secret: true,
        secret: "access token",
        shape: SecretShape::Token { prefixes: &[] },
        needs_url: false,
        secret_lifetime_days: Some(60),
    },
    ProviderInfo {
        name: "facebook",
        title: "Facebook Page",
        needs_secret: true,
        secret: "page access token",
        shape: SecretShape::Token { prefixes: &[] },
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "slack",
        title: "Slack chat.postMessage",
        needs_secret: true,
        secret: "bot token",
        shape: SecretShape::Token {
            prefixes: &["xoxb-", "xoxp-", "xoxe.", "xoxa-"],
        },
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "slack-webhook",
        title: "Slack incoming webhook",
        needs_secret: true,
        secret: "webhook URL",
        shape: SecretShape::Webhook(Hook::Slack),
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "discord",
        title: "Discord webhook",
        needs_secret: true,
        secret: "webhook URL",
        shape: SecretShape::Webhook(Hook::Discord),
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "telegram",
        title: "Telegram Bot API",
        needs_secret: true,
        secret: "bot token",
        shape: SecretShape::TelegramBot,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "webhook",
        title: "Generic JSON webhook",
        needs_secret: true,
        secret: "webhook URL",
        shape: SecretShape::Webhook(Hook::Generic),
        needs_url: false,
        secret_lifetime_days: None,
    },
];

pub fn lookup(name: &str) -> crate::Result<&'static ProviderInfo> {
    CATALOGUE.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<_> = CATALOGUE.iter().map(|p| p.name).collect();
        // The name came from argv: shown escaped, like any text from a person.
        let shown: String = name.chars().flat_map(char::escape_debug).take(64).collect();
        let hint = match shape::nearest(name, names.iter().copied()) {
            Some(n) => format!(
                "did you mean `{n}`? smv knows: {} (`smv providers` describes them)",
                names.join(", ")
            ),
            None => format!(
                "use one of: {} (`smv providers` describes them)",
                names.join(", ")
            ),
        };
        crate::Error::invalid("provider", format!("`{shown}` is not a provider smv knows"))
            .with_hint(hint)
    })
}

/// Checks a secret against its provider's declared shape and the character rule
/// ([`shape`]), for `account add` and `rotate`: the refusal names the field, and for a bad
/// character its position and class, never a character of the secret.
pub fn check_secret(provider: &ProviderInfo, secret: &Secret) -> crate::Result<()> {
    shape::check(provider.shape, provider.secret, secret).map_err(|m| {
        crate::Error::invalid("secret", format!("{m}")).with_hint(format!(
            "a {} {} is {}; give it again (`od -c FILE` shows invisible characters; smv never strips them, as it cannot know which part is the secret)",
            provider.name,
            provider.secret,
            provider.shape.describe()
        ))
    })
}

/// Refuses, before it is sent, a secret stored before the character rule (issue 23) that
/// breaks it: a byte order mark, a Unicode space or format character at its edge would be
/// sent, echoed in another encoding and escape redaction. The hint names the command that
/// replaces it.
pub fn check_stored_secret(account: &Account, secret: &Secret) -> crate::Result<()> {
    let Ok(provider) = lookup(&account.provider) else {
        return Ok(());
    };
    if provider.shape == SecretShape::None {
        return Ok(());
    }
    let text = std::str::from_utf8(secret.expose_to_provider()).ok();
    let bad = match text {
        None => Some("it is not UTF-8 text".to_string()),
        Some(t) => t
            .chars()
            .enumerate()
            .find(|(_, c)| !(('\u{21}'..='\u{7e}').contains(c) || matches!(c, ' ' | '\n')))
            .map(|(i, c)| format!("character {} is {}", i + 1, shape::class_of(c))),
    };
    match bad {
        None => Ok(()),
        Some(why) => Err(crate::Error::invalid(
            "secret",
            format!(
                "the stored secret of `{}` breaks the character rule ({why}): nothing was sent",
                account.name
            ),
        )
        .with_hint(format!(
            "it was stored before smv checked secrets; replace it with its visible-ASCII form: `smv rotate {}`",
            account.name
        ))),
    }
}

/// What a provider needs to act for one account.
pub struct Target<'a> {
    pub account: &'a Account,
    pub secret: Option<&'a Secret>,
    /// The vault's directory: where an outbox without `--url` writes (`outbox.jsonl`) and
    /// where non-secret caches live.
    pub state_dir: PathBuf,
    /// The account's network session (tokens that are not the stored credential itself).
    pub sessions: Option<&'a dyn SessionStore>,
    /// The API version to use, where the network pins one ([`versions`]): the account's
    /// setting, else config.toml's; `None` uses smv's pinned version.
    pub api_version: Option<String>,
}

impl Target<'_> {
    /// The API version this request uses, where the network pins one.
    pub fn version(&self) -> Option<&str> {
        versions::chosen(&self.account.provider, self.api_version.as_deref(), None)
    }
}

/// Given the session stored now, returns a replacement (or None to keep it).
pub type SessionUpdate<'a> =
    dyn FnMut(Option<&Secret>) -> Result<Option<Secret>, ProviderError> + 'a;

/// Keeps a network session (Bluesky JWTs, OAuth 2 tokens) in the vault between posts.
pub trait SessionStore {
    /// The session as of the vault snapshot this command loaded.
    fn current(&self) -> Option<Secret>;
    /// Under the vault's write lock: reads the session as stored now (another process may
    /// have refreshed it), lets `f` return a replacement, stores it atomically, and returns
    /// the session to use. Refresh tokens are single-use: this is what keeps two smv
    /// processes from spending the same one.
    fn update(&self, f: &mut SessionUpdate) -> Result<Option<Secret>, ProviderError>;
}

/// What the network answered to a post.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Receipt {
    pub post_id: String,
    pub url: Option<String>,
}

/// The errors a user can act on, whatever the network. The `String`s are smv's own words;
/// what a network said is only ever in a [`Detail`]'s [`Answer`] (redacted, capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The text breaks the network's rules (length, format): nothing was sent.
    Invalid(String),
    /// The network refused the credential.
    CredentialRejected(Detail),
    /// Too many requests; `until` is the reset time when the network says it.
    RateLimited {
        until: Option<String>,
        detail: Detail,
    },
    /// The network refused the content.
    ContentRejected(Detail),
    /// The request was not sent: no connection (DNS, refused, TLS, connect timeout), or it
    /// could not be built. The network certainly did nothing.
    Unreachable(String),
    /// An answer smv does not understand, that is no success (a redirect, an odd status): the
    /// network did not do what was asked.
    Unexpected(Detail),
    /// The network turned the request away at its front door (503, 408): nothing was done.
    Unavailable(Detail),
    /// The network no longer serves the API version smv asked for (LinkedIn's 426): nothing
    /// was done. The fix is a setting ([`versions`]), not a new credential.
    ApiVersion(Detail),
    /// The request left and no trustworthy answer came back: a timeout or a reset after
    /// it was sent, an answer that could not be read, a success without the post's id, a
    /// server or gateway error (500, 502, 504) that says nothing of what was done. The
    /// network may have done it: an unknown outcome, never a failure to retry blindly.
    Unknown(Detail),
    /// The network (or this kind of credential) offers no way to do this by program.
    Unsupported(String),
}

/// What smv can say about a failure: its own words, the network's answer, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Detail {
    /// smv's words (never text a network sent).
    pub note: Option<String>,
    pub answer: Option<Answer>,
}

impl Detail {
    pub fn noted(note: impl Into<String>, answer: Answer) -> Detail {
        Detail {
            note: Some(note.into()),
            answer: Some(answer),
        }
    }
}

impl From<Answer> for Detail {
    fn from(a: Answer) -> Detail {
        Detail {
            note: None,
            answer: Some(a),
        }
    }
}

impl From<&str> for Detail {
    fn from(note: &str) -> Detail {
        Detail {
            note: Some(note.to_string()),
            answer: None,
        }
    }
}

impl From<String> for Detail {
    fn from(note: String) -> Detail {
        Detail {
            note: Some(note),
            answer: None,
        }
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.note, &self.answer) {
            (Some(n), Some(a)) => write!(f, "{n} ({a})"),
            (Some(n), None) => f.write_str(n),
            (None, Some(a)) => write!(f, "{a}"),
            (None, None) => f.write_str("no detail"),
        }
    }
}

impl ProviderError {
    /// The network's answer, when the error comes from one.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            ProviderError::CredentialRejected(d)
            | ProviderError::RateLimited { detail: d, .. }
            | ProviderError::ContentRejected(d)
            | ProviderError::Unexpected(d)
            | ProviderError::Unavailable(d)
            | ProviderError::ApiVersion(d)
            | ProviderError::Unknown(d) => d.answer.as_ref(),
            _ => None,
        }
    }

    /// What the failed request may have done at the network.
    pub fn effect(&self) -> Effect {
        match self {
            ProviderError::Unknown(_) => Effect::Unknown,
            _ => Effect::None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Invalid(_) => "invalid",
            ProviderError::CredentialRejected(_) => "credential_rejected",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::ContentRejected(_) => "content_rejected",
            ProviderError::Unreachable(_) => "unreachable",
            ProviderError::Unexpected(_) => "unexpected",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::ApiVersion(_) => "api_version",
            ProviderError::Unknown(_) => "unknown",
            ProviderError::Unsupported(_) => "unsupported",
        }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::Invalid(m) => write!(f, "invalid post: {m}"),
            ProviderError::CredentialRejected(m) => {
                write!(f, "the network rejected the credential: {m}")
            }
            ProviderError::RateLimited {
                until: Some(t),
                detail,
            } => write!(f, "rate limited until {t}: {detail}"),
            ProviderError::RateLimited {
                until: None,
                detail,
            } => write!(f, "rate limited: {detail}"),
            ProviderError::ContentRejected(m) => write!(f, "the network rejected the content: {m}"),
            ProviderError::Unreachable(m) => write!(f, "the network is unreachable: {m}"),
            ProviderError::Unexpected(m) => write!(f, "unexpected answer from the network: {m}"),
            ProviderError::Unavailable(m) => write!(f, "the network is unavailable: {m}"),
            ProviderError::ApiVersion(m) => {
                write!(f, "the network no longer serves this API version: {m}")
            }
            ProviderError::Unknown(m) => write!(
                f,
                "no trustworthy answer from the network, which may have done it: {m}"
            ),
            ProviderError::Unsupported(m) => write!(f, "not possible by program: {m}"),
        }
    }
}

/// What a failed request may have done at the network: the typed line between a failure
/// (retrying is safe) and an unknown outcome (the post may be live).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Certainly nothing: not sent, or refused by an answer.
    None,
    /// Perhaps done: sent, and no trustworthy answer came back.
    Unknown,
}

/// What [`Provider::validate`] needs from outside smv, fetched by [`Provider::prepare`]
/// before any lock is taken (a Mastodon instance's length limits). `None`: the network's
/// default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The longest post, in the network's unit.
    pub max_chars: Option<usize>,
    /// How many characters a URL counts for.
    pub url_chars: Option<usize>,
    /// A URL counts for its full length when that is more than `url_chars`: the server's
    /// software is one whose count smv does not model (not Mastodon), so it is counted
    /// conservatively — never sending what the server may refuse.
    pub urls_at_full_length: bool,
}

/// One network. Implementations must not put the secret in any error or receipt.
pub trait Provider {
    /// Fetches what [`Provider::validate`] needs from outside smv (network, caches), if
    /// anything. It is called before the posting gate and any vault lock are taken: the one
    /// place where validation may wait on I/O. Best effort: what cannot be fetched is left
    /// `None` and `validate` uses the network's defaults. The default fetches nothing.
    fn prepare(&self, _target: &Target) -> Limits {
        Limits::default()
    }
    /// Checks a post against the network's rules, before anything is sent. **Does no I/O**
    /// (no network call, no file): it runs under the posting gate, which every post of every
    /// smv process and the proxy wait for. What it needs from outside comes in `limits`,
    /// from [`Provider::prepare`].
    fn validate(&self, target: &Target, text: &str, limits: &Limits) -> Result<(), ProviderError>;
    /// Publishes; `idempotency_key` is stable across retries of the same post.
    fn post(
        &self,
        target: &Target,
        text: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Receipt, ProviderError>;
    /// A read-only call that proves the stored credential works; returns what it saw.
    fn check(&self, target: &Target) -> Result<String, ProviderError>;
    /// [`Provider::check`], and whether the credential may post: `account check` and
    /// `rotate` call this. The default holds for networks whose working credential always
    /// may post (an outbox, a Discord webhook, a Bluesky app password); networks where a
    /// working credential may lack the post permission override it, proving that
    /// permission where a read-only call can, and saying so where none can.
    fn check_posting(&self, target: &Target) -> Result<Checked, ProviderError> {
        self.check(target).map(Checked::proved)
    }
    /// Makes a new credential without a person, where the network allows it, so that a
    /// copy of the old one (a leaver's) stops being useful. Networks without such a call
    /// keep this default.
    fn rotate(&self, _target: &Target) -> Result<Rotated, ProviderError> {
        Err(ProviderError::Unsupported(
            "this network has no call that issues a new credential: make one where the network manages them, then run `smv rotate ACCOUNT` without --auto".into(),
        ))
    }
}

/// What a check proved: the credential works (`seen`: what the network's read-only call
/// saw), and the post permission is proved unless `unproved` says why it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub seen: String,
    pub unproved: Option<String>,
}

impl Checked {
    pub fn proved(seen: String) -> Checked {
        Checked {
            seen,
            unproved: None,
        }
    }
    pub fn unproved(seen: String, why: impl Into<String>) -> Checked {
        Checked {
            seen,
            unproved: Some(why.into()),
        }
    }
}

/// A credential made by [`Provider::rotate`].
pub struct Rotated {
    pub secret: Secret,
    /// The network's name for it (a Bluesky app password's name).
    pub label: Option<String>,
    /// What a person still has to do, if anything.
    pub note: Option<String>,
}

/// A session store in memory, for checking a credential that is not in the vault yet.
#[derive(Default)]
pub struct MemorySessions(std::cell::RefCell<Option<Secret>>);

impl SessionStore for MemorySessions {
    fn current(&self) -> Option<Secret> {
        self.0.borrow().as_ref().map(Secret::duplicate)
    }
    fn update(&self, f: &mut SessionUpdate) -> Result<Option<Secret>, ProviderError> {
        let current = self.current();
        match f(current.as_ref())? {
            Some(new) => {
                let copy = new.duplicate();
                *self.0.borrow_mut() = Some(new);
                Ok(Some(copy))
            }
            None => Ok(current),
        }
    }
}

/// The implementation for a provider name.
pub fn implementation(name: &str) -> crate::Result<Box<dyn Provider>> {
    match name {
        "outbox" => Ok(Box::new(outbox::Outbox)),
        "mastodon" => Ok(Box::new(mastodon::Mastodon)),
        "slack" => Ok(Box::new(slack::Slack)),
        "slack-webhook" => Ok(Box::new(webhook::Webhook(webhook::Kind::Slack))),
        "discord" => Ok(Box::new(webhook::Webhook(webhook::Kind::Discord))),
        "webhook" => Ok(Box::new(webhook::Webhook(webhook::Kind::Generic))),
        "telegram" => Ok(Box::new(telegram::Telegram)),
        "bluesky" => Ok(Box::new(bluesky::Bluesky)),
        "x" => Ok(Box::new(x::X)),
        "linkedin" => Ok(Box::new(linkedin::LinkedIn)),
        "facebook" => Ok(Box::new(facebook::Facebook)),
        other => Err(crate::Error::invalid(
            "provider",
            format!("`{other}` is not a provider smv knows"),
        )),
    }
}

/// Checks the URLs an account will send its credential to, when the account is added (or
/// its webhook URL rotated): `--url` (an instance, an API base) and a webhook URL (the
/// secret itself) must be https, or plain http to this machine only. Refused at once,
/// rather than at the first post; the message never quotes the URL (a webhook's is secret).
pub fn check_urls(provider: &str, url: Option<&str>, secret: Option<&Secret>) -> crate::Result<()> {
    let refused = |e: ProviderError| {
        let why = match e {
            ProviderError::Invalid(m) => m,
            other => other.to_string(),
        };
        crate::Error::invalid("URL", why).with_hint(
            "use the https address; plain http is accepted only for this machine (localhost, 127.0.0.1, ::1)",
        )
    };
    // An outbox's --url is a file.
    if provider != "outbox"
        && let Some(u) = url
    {
        common::checked_url(u, "--url").map_err(refused)?;
    }
    // A webhook URL that is a URL but would go out in clear (one that is no URL at all is
    // refused by its shape, `check_secret`, before this).
    if matches!(provider, "slack-webhook" | "discord" | "webhook")
        && let Some(text) = secret.and_then(Secret::expose_text_to_provider)
        && reqwest::Url::parse(text).is_ok()
    {
        common::checked_url(text, "webhook URL").map_err(refused)?;
    }
    Ok(())
}

/// The directory of the vault file (where outbox files and caches go).
pub fn state_dir(vault: &std::path::Path) -> PathBuf {
    match vault.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
