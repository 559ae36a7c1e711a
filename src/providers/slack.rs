//! Slack `chat.postMessage` with a bot token; the channel is the account's `--handle`.
//! Slack answers errors with HTTP 200 and `{"ok": false, "error": "…"}`.

use super::common::{base_url, handle, json_str, max_chars, secret_text};
use super::http::{Http, summary};
use super::{Provider, ProviderError, Receipt, Target};

pub struct Slack;

/// Calls a Web API method with form-encoded arguments (what the published spec declares;
/// Slack also takes JSON).
fn call(
    target: &Target,
    method: &str,
    form: &[(&str, &str)],
) -> Result<serde_json::Value, ProviderError> {
    let secrets = target.secret.into_iter().collect::<Vec<_>>();
    let token = secret_text(target)?.to_string();
    let url = format!("{}/{method}", base_url(target, "https://slack.com/api")?);
    let resp = Http::new()?.send(&|c| c.post(&url).bearer_auth(&token).form(form), &secrets)?;
    let v = resp
        .json()
        .ok_or_else(|| ProviderError::Unexpected(summary(&resp, &secrets)))?;
    if v.get("ok").and_then(|o| o.as_bool()) == Some(true) {
        return Ok(v);
    }
    let err = json_str(&v, &["error"]).unwrap_or_else(|| "unknown_error".into());
    Err(match err.as_str() {
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "missing_scope"
        | "not_allowed_token_type" => ProviderError::CredentialRejected(format!("Slack: {err}")),
        "ratelimited" | "rate_limited" => {
            let (_, until) = super::http::rate_limit_reset(&resp);
            ProviderError::RateLimited {
                until,
                message: format!("Slack: {err}"),
            }
        }
        "channel_not_found"
        | "not_in_channel"
        | "is_archived"
        | "msg_too_long"
        | "no_text"
        | "restricted_action"
        | "too_many_attachments" => ProviderError::ContentRejected(format!("Slack: {err}")),
        _ => ProviderError::Unexpected(format!("Slack: {err}")),
    })
}

impl Provider for Slack {
    fn validate(&self, target: &Target, text: &str) -> Result<(), ProviderError> {
        secret_text(target)?;
        handle(target, "the channel id, e.g. C0123456789")?;
        max_chars(text, 40_000, "Slack")
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        _key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let channel = handle(target, "the channel id")?;
        let v = call(
            target,
            "chat.postMessage",
            &[("channel", channel), ("text", text)],
        )?;
        let ts = json_str(&v, &["ts"]).ok_or_else(|| {
            ProviderError::Unexpected("Slack: no message timestamp in the answer".into())
        })?;
        let ch = json_str(&v, &["channel"]).unwrap_or_else(|| channel.to_string());
        Ok(Receipt {
            post_id: format!("{ch}/{ts}"),
            url: None,
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let v = call(target, "auth.test", &[])?;
        Ok(format!(
            "Slack bot {} in {}",
            json_str(&v, &["user"]).unwrap_or_default(),
            json_str(&v, &["team"]).unwrap_or_default()
        ))
    }
}
