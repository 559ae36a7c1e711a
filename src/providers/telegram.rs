//! Telegram Bot API `sendMessage`; the chat is the account's `--handle` (an id or @channel).
//! The bot token is part of the URL path, so every error text is redacted of it.

use super::common::{base_url, handle, json_str, max_chars, secret_text};
use super::http::{Http, summary};
use super::{Provider, ProviderError, Receipt, Target};

pub struct Telegram;

fn call(
    target: &Target,
    method: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, ProviderError> {
    let secrets = target.secret.into_iter().collect::<Vec<_>>();
    let url = format!(
        "{}/bot{}/{method}",
        base_url(target, "https://api.telegram.org")?,
        secret_text(target)?
    );
    let http = Http::new()?;
    let resp = http.raw(http.client().post(&url).json(&body), &secrets)?;
    let v = resp.json();
    if resp.status == 200
        && let Some(v) = v
            .as_ref()
            .filter(|v| v.get("ok").and_then(|o| o.as_bool()) == Some(true))
    {
        return Ok(v.clone());
    }
    let message = summary(&resp, &secrets);
    Err(match resp.status {
        401 | 403 => ProviderError::CredentialRejected(message),
        429 => {
            let retry = v
                .as_ref()
                .and_then(|v| v.get("parameters")?.get("retry_after")?.as_i64());
            let until = retry.map(|s| {
                (chrono::Utc::now() + chrono::Duration::seconds(s))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            });
            ProviderError::RateLimited { until, message }
        }
        400 => ProviderError::ContentRejected(message),
        _ => ProviderError::Unexpected(message),
    })
}

impl Provider for Telegram {
    fn validate(&self, target: &Target, text: &str) -> Result<(), ProviderError> {
        secret_text(target)?;
        handle(target, "the chat id or @channel")?;
        max_chars(text, 4096, "Telegram")
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        _key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let chat = handle(target, "the chat id or @channel")?;
        let v = call(
            target,
            "sendMessage",
            serde_json::json!({ "chat_id": chat, "text": text }),
        )?;
        let id = json_str(&v, &["result", "message_id"]).ok_or_else(|| {
            ProviderError::Unexpected("Telegram: no message id in the answer".into())
        })?;
        let url =
            json_str(&v, &["result", "chat", "username"]).map(|u| format!("https://t.me/{u}/{id}"));
        Ok(Receipt { post_id: id, url })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let v = call(target, "getMe", serde_json::json!({}))?;
        Ok(format!(
            "Telegram bot @{}",
            json_str(&v, &["result", "username"]).unwrap_or_default()
        ))
    }
}
