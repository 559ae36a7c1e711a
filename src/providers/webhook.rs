//! Incoming webhooks, where the URL is the secret: Discord, Slack, and a generic JSON one.

use super::common::{checked_url, json_str, local_id, max_chars, secret_text};
use super::http::Http;
use super::{Provider, ProviderError, Receipt, Target};

#[derive(Clone, Copy)]
pub enum Kind {
    Discord,
    Slack,
    Generic,
}

pub struct Webhook(pub Kind);

impl Provider for Webhook {
    fn validate(&self, target: &Target, text: &str) -> Result<(), ProviderError> {
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
        let secret = target.secret.into_iter().collect::<Vec<_>>();
        let mut url = checked_url(secret_text(target)?, "webhook URL")?;
        let body = match self.0 {
            Kind::Discord => {
                // wait=true makes Discord answer with the message (and its id).
                url.query_pairs_mut().append_pair("wait", "true");
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
                let mut r = c.post(url.clone()).json(&body);
                if let Some(k) = idempotency_key {
                    r = r.header("Idempotency-Key", k);
                }
                r
            },
            &secret,
        )?;
        let id = resp
            .json()
            .and_then(|v| json_str(&v, &["id"]))
            .unwrap_or_else(local_id);
        Ok(Receipt {
            post_id: id,
            url: None,
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let secret = target.secret.into_iter().collect::<Vec<_>>();
        let url = checked_url(secret_text(target)?, "webhook URL")?;
        match self.0 {
            // Discord answers GET on a webhook URL with the webhook's description.
            Kind::Discord => {
                let resp = Http::new()?.send(&|c| c.get(url.clone()), &secret)?;
                let name = resp
                    .json()
                    .and_then(|v| json_str(&v, &["name"]))
                    .unwrap_or_default();
                Ok(format!("Discord webhook `{name}`"))
            }
            // Slack and generic webhooks have no read-only call: posting is the only test.
            _ => Ok(format!(
                "a well-formed webhook URL on {} (these webhooks have no read-only call)",
                url.host_str().unwrap_or("?")
            )),
        }
    }
}
