//! The networks smv can post to.
//!
//! This module is the catalogue: which provider names exist and what an account of each
//! needs (a secret, an instance URL). The posting itself is added per provider behind one
//! trait.

use serde::Serialize;

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
}

pub const CATALOGUE: &[ProviderInfo] = &[
    ProviderInfo {
        name: "outbox",
        title: "Local outbox file (JSON lines): demos, dry runs, staging",
        needs_secret: false,
        secret: "none",
        needs_url: false,
    },
    ProviderInfo {
        name: "x",
        title: "X (Twitter) API v2",
        needs_secret: true,
        secret: "OAuth credentials",
        needs_url: false,
    },
    ProviderInfo {
        name: "mastodon",
        title: "Mastodon",
        needs_secret: true,
        secret: "access token",
        needs_url: true,
    },
    ProviderInfo {
        name: "bluesky",
        title: "Bluesky (AT Protocol)",
        needs_secret: true,
        secret: "app password",
        needs_url: false,
    },
    ProviderInfo {
        name: "linkedin",
        title: "LinkedIn Posts API",
        needs_secret: true,
        secret: "access token",
        needs_url: false,
    },
    ProviderInfo {
        name: "facebook",
        title: "Facebook Page",
        needs_secret: true,
        secret: "page access token",
        needs_url: false,
    },
    ProviderInfo {
        name: "slack",
        title: "Slack chat.postMessage",
        needs_secret: true,
        secret: "bot token",
        needs_url: false,
    },
    ProviderInfo {
        name: "slack-webhook",
        title: "Slack incoming webhook",
        needs_secret: true,
        secret: "webhook URL",
        needs_url: false,
    },
    ProviderInfo {
        name: "discord",
        title: "Discord webhook",
        needs_secret: true,
        secret: "webhook URL",
        needs_url: false,
    },
    ProviderInfo {
        name: "telegram",
        title: "Telegram Bot API",
        needs_secret: true,
        secret: "bot token",
        needs_url: false,
    },
    ProviderInfo {
        name: "webhook",
        title: "Generic JSON webhook",
        needs_secret: true,
        secret: "webhook URL",
        needs_url: false,
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
