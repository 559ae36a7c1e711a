//! The networks smv can post to: the catalogue of provider names, and the one trait every
//! network implements. A provider validates a post before any network call, posts it, and
//! maps the network's errors to the few kinds a user can act on.

pub mod answer;
mod bluesky;
mod common;
mod facebook;
pub mod http;
mod linkedin;
mod mastodon;
mod outbox;
mod slack;
mod telegram;
mod webhook;
mod x;

use std::path::PathBuf;

use serde::Serialize;

use crate::secret::{Secret, Shape};
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
    /// One line, or several `key=value` lines (X).
    #[serde(skip)]
    pub secret_shape: Shape,
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
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "x",
        title: "X (Twitter) API v2",
        needs_secret: true,
        secret: "OAuth credentials",
        secret_shape: Shape::Lines,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "mastodon",
        title: "Mastodon",
        needs_secret: true,
        secret: "access token",
        secret_shape: Shape::Line,
        needs_url: true,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "bluesky",
        title: "Bluesky (AT Protocol)",
        needs_secret: true,
        secret: "app password",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "linkedin",
        title: "LinkedIn Posts API",
        needs_secret: true,
        secret: "access token",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: Some(60),
    },
    ProviderInfo {
        name: "facebook",
        title: "Facebook Page",
        needs_secret: true,
        secret: "page access token",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "slack",
        title: "Slack chat.postMessage",
        needs_secret: true,
        secret: "bot token",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "slack-webhook",
        title: "Slack incoming webhook",
        needs_secret: true,
        secret: "webhook URL",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "discord",
        title: "Discord webhook",
        needs_secret: true,
        secret: "webhook URL",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "telegram",
        title: "Telegram Bot API",
        needs_secret: true,
        secret: "bot token",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "webhook",
        title: "Generic JSON webhook",
        needs_secret: true,
        secret: "webhook URL",
        secret_shape: Shape::Line,
        needs_url: false,
        secret_lifetime_days: None,
    },
];

pub fn lookup(name: &str) -> crate::Result<&'static ProviderInfo> {
    CATALOGUE.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<_> = CATALOGUE.iter().map(|p| p.name).collect();
        crate::Error::invalid("provider", format!("`{name}` is not a provider smv knows"))
            .with_hint(format!(
                "use one of: {} (`smv providers` describes them)",
                names.join(", ")
            ))
    })
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
    /// No answer (DNS, connection, timeout).
    Unreachable(String),
    /// An answer smv does not understand.
    Unexpected(Detail),
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
            | ProviderError::Unexpected(d) => d.answer.as_ref(),
            _ => None,
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
            ProviderError::Unsupported(m) => write!(f, "not possible by program: {m}"),
        }
    }
}

/// One network. Implementations must not put the secret in any error or receipt.
pub trait Provider {
    /// Checks a post against the network's rules, before anything is sent.
    fn validate(&self, target: &Target, text: &str) -> Result<(), ProviderError>;
    /// Publishes; `idempotency_key` is stable across retries of the same post.
    fn post(
        &self,
        target: &Target,
        text: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Receipt, ProviderError>;
    /// A read-only call that proves the stored credential works; returns what it saw.
    fn check(&self, target: &Target) -> Result<String, ProviderError>;
    /// Makes a new credential without a person, where the network allows it, so that a
    /// copy of the old one (a leaver's) stops being useful. Networks without such a call
    /// keep this default.
    fn rotate(&self, _target: &Target) -> Result<Rotated, ProviderError> {
        Err(ProviderError::Unsupported(
            "this network has no call that issues a new credential: make one where the network manages them, then run `smv rotate ACCOUNT` without --auto".into(),
        ))
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

/// The directory of the vault file (where outbox files and caches go).
pub fn state_dir(vault: &std::path::Path) -> PathBuf {
    match vault.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
