//! The networks smv can post to: the catalogue of provider names, and the one trait every
//! network implements. A provider validates a post before any network call, posts it, and
//! maps the network's errors to the few kinds a user can act on.

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

use crate::secret::Secret;
use crate::vault::Account;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProviderInfo {
    pub name: &'static str,
    pub title: &'static str,
    /// Whether an account of this provider holds a secret.
    pub needs_secret: bool,
    /// What the secret is, in the words the network uses.
    pub secret: &'static str,
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
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "x",
        title: "X (Twitter) API v2",
        needs_secret: true,
        secret: "OAuth credentials",
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "mastodon",
        title: "Mastodon",
        needs_secret: true,
        secret: "access token",
        needs_url: true,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "bluesky",
        title: "Bluesky (AT Protocol)",
        needs_secret: true,
        secret: "app password",
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "linkedin",
        title: "LinkedIn Posts API",
        needs_secret: true,
        secret: "access token",
        needs_url: false,
        secret_lifetime_days: Some(60),
    },
    ProviderInfo {
        name: "facebook",
        title: "Facebook Page",
        needs_secret: true,
        secret: "page access token",
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "slack",
        title: "Slack chat.postMessage",
        needs_secret: true,
        secret: "bot token",
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "slack-webhook",
        title: "Slack incoming webhook",
        needs_secret: true,
        secret: "webhook URL",
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "discord",
        title: "Discord webhook",
        needs_secret: true,
        secret: "webhook URL",
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "telegram",
        title: "Telegram Bot API",
        needs_secret: true,
        secret: "bot token",
        needs_url: false,
        secret_lifetime_days: None,
    },
    ProviderInfo {
        name: "webhook",
        title: "Generic JSON webhook",
        needs_secret: true,
        secret: "webhook URL",
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

/// The errors a user can act on, whatever the network. Messages are already redacted of the
/// account's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The text breaks the network's rules (length, format): nothing was sent.
    Invalid(String),
    /// The network refused the credential.
    CredentialRejected(String),
    /// Too many requests; `until` is the reset time when the network says it.
    RateLimited {
        until: Option<String>,
        message: String,
    },
    /// The network refused the content.
    ContentRejected(String),
    /// No answer (DNS, connection, timeout).
    Unreachable(String),
    /// An answer smv does not understand.
    Unexpected(String),
    /// The network (or this kind of credential) offers no way to do this by program.
    Unsupported(String),
}

impl ProviderError {
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
                message,
            } => write!(f, "rate limited until {t}: {message}"),
            ProviderError::RateLimited {
                until: None,
                message,
            } => write!(f, "rate limited: {message}"),
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
        self.0
            .borrow()
            .as_ref()
            .map(|s| Secret::from_bytes(s.expose_to_provider().to_vec()))
    }
    fn update(&self, f: &mut SessionUpdate) -> Result<Option<Secret>, ProviderError> {
        let current = self.current();
        match f(current.as_ref())? {
            Some(new) => {
                let copy = Secret::from_bytes(new.expose_to_provider().to_vec());
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
