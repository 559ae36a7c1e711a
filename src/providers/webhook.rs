//! Incoming webhooks, where the URL is the secret: Discord, Slack, and a generic JSON one.

use super::answer::{Fields, GENERIC};
use super::common::{
    checked_url, json_str, local_id, max_chars, receipt, redact_url_parts, redactor, secret_text,
    shown,
};
use super::http::{Http, no_receipt};
use super::{Checked, Limits, Provider, ProviderError, Receipt, Target};
use crate::redact::Redactor;

#[derive(Clone, Copy)]
pub enum Kind {
    Discord,
    Slack,
    Generic,
}

pub struct Webhook(pub Kind);

/// Discord: `{"message": "Unknown Webhook", "code": 10015}`.
const DISCORD: Fields = Fields {
    code: &[&["code"]],
    message: &[&["message"]],
    plain_code: false,
};
/// Slack's incoming webhooks answer errors in plain text: `invalid_token`, `no_service`.
const SLACK: Fields = Fields {
    code: &[&["error"]],
    message: &[],
    plain_code: true,
};

impl Kind {
    fn fields(self) -> &'static Fields {
        match self {
            Kind::Discord => &DISCORD,
            Kind::Slack => &SLACK,
            Kind::Generic => &GENERIC,
        }
    }

    /// Path segments that name the API, not the credential: every other part of the URL
    /// is redacted on its own.
    fn public_segments(self) -> &'static [&'static str] {
        match self {
            Kind::Discord => &["api", "webhooks", "v9", "v10", "github", "slack"],
            Kind::Slack => &["services"],
            Kind::Generic => &[],
        }
    }
}

/// The webhook URL (the secret) and a redactor that knows it and each of its parts.
fn url_and_redactor<'a>(
    kind: Kind,
    target: &'a Target,
) -> Result<(reqwest::Url, Redactor<'a>), ProviderError> {
    let url = checked_url(secret_text(target)?, "webhook URL")?;
    let mut r = redactor(target);
    redact_url_parts(&mut r, &url, kind.public_segments());
    Ok((url, r))
}

/// How long a connection to a webhook's host is waited for.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Proves a webhook URL's host resolves and accepts connections, without sending a request:
/// an incoming webhook has no read-only call, and any request to it may be taken as a post.
/// The errors never name the host (it is part of the secret).
fn reachable(url: &reqwest::Url) -> Result<(), ProviderError> {
    let addrs = url.socket_addrs(|| None).map_err(|_| {
        ProviderError::Unreachable("the webhook URL's host does not resolve".into())
    })?;
    if addrs.is_empty() {
        return Err(ProviderError::Unreachable(
            "the webhook URL's host does not resolve".into(),
        ));
    }
    for a in &addrs {
        if std::net::TcpStream::connect_timeout(a, CONNECT_TIMEOUT).is_ok() {
            return Ok(());
        }
    }
    Err(ProviderError::Unreachable(
        "the webhook URL's host accepts no connection on its port".into(),
    ))
}

impl Provider for Webhook {
    fn check_posting(&self, target: &Target) -> Result<Checked, ProviderError> {
        match self.0 {
            // A Discord webhook that answers is one that may post.
            Kind::Discord => self.check(target).map(Checked::proved),
            // Slack's and generic incoming webhooks have no read-only call: what can be
            // proved without posting is that the URL's host is there.
            Kind::Slack | Kind::Generic => {
                let (url, _) = url_and_redactor(self.0, target)?;
                reachable(&url)?;
                Ok(Checked::unproved(
                    "a webhook URL whose host accepts connections".to_string(),
                    "incoming webhooks have no read-only call: only a post proves one",
                ))
            }
        }
    }

    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
        checked_url(secret_text(target)?, "webhook URL")?;
        match self.0 {
            Kind::Discord => max_chars(text, 2000, "Discord"),
            Kind::Slack => max_chars(text, 40_000, "Slack"),
            Kind::Generic => max_chars(text, 100_000, "the webhook"),
        }
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let (mut url, mut r) = url_and_redactor(self.0, target)?;
        let body = match self.0 {
            Kind::Discord => {
                // wait=true makes Discord answer with the message (and its id).
                url.query_pairs_mut().append_pair("wait", "true");
                r.derived(url.as_str().as_bytes().to_vec());
                // Never let a post ping @everyone or roles by accident.
                serde_json::json!({ "content": text, "allowed_mentions": { "parse": [] } })
            }
            Kind::Slack => serde_json::json!({ "text": text }),
            Kind::Generic => {
                serde_json::json!({ "text": text, "account": target.account.name, "idempotency_key": idempotency_key })
            }
        };
        let http = Http::new()?;
        let resp = http.send(
            &|c| {
                let mut req = c.post(url.clone()).json(&body);
                if let Some(k) = idempotency_key {
                    req = req.header("Idempotency-Key", k);
                }
                req
            },
            &r,
            self.0.fields(),
        )?;
        let id = match resp.json().and_then(|v| json_str(&v, &["id"])) {
            Some(id) => id,
            // With wait=true Discord answers with the message: a success without its id
            // says nothing of whether it was posted.
            None if matches!(self.0, Kind::Discord) => {
                return Err(no_receipt("Discord", "the message id"));
            }
            // Slack's and generic incoming webhooks have no id: the 2xx is the receipt.
            None => local_id(),
        };
        Ok(receipt(&id, None, &r))
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let (url, r) = url_and_redactor(self.0, target)?;
        match self.0 {
            // Discord answers GET on a webhook URL with the webhook's description.
            Kind::Discord => {
                let resp = Http::new()?.send(&|c| c.get(url.clone()), &r, self.0.fields())?;
                let name = resp
                    .json()
                    .and_then(|v| json_str(&v, &["name"]))
                    .unwrap_or_default();
                Ok(format!("Discord webhook `{}`", shown(&name, &r, 100)))
            }
            // Slack and generic webhooks have no read-only call: posting is the only test.
            // The host through the redactor too: it can be part of the capability.
            _ => Ok(format!(
                "a well-formed webhook URL on {} (these webhooks have no read-only call)",
                shown(url.host_str().unwrap_or("?"), &r, 255)
            )),
        }
    }
}
