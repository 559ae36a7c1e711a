//! Slack `chat.postMessage` with a bot token; the channel is the account's `--handle`.
//! Slack answers errors with HTTP 200 and `{"ok": false, "error": "…"}`.

use super::answer::{Answer, Fields};
use super::common::{base_url, handle, json_str, max_chars, receipt, redactor, secret_text, shown};
use super::http::{Http, no_receipt};
use super::{Detail, Limits, Provider, ProviderError, Receipt, Target};
use crate::redact::Redactor;

pub struct Slack;

/// Slack's errors: `{"ok": false, "error": "invalid_auth"}` — a code, no message.
pub const FIELDS: Fields = Fields {
    code: &[&["error"]],
    message: &[],
    plain_code: true,
};

/// Calls a Web API method with form-encoded arguments (what the published spec declares;
/// Slack also takes JSON). Returns the answer, the redactor and the token's scopes, which
/// Slack sends in `x-oauth-scopes`.
fn call<'a>(
    target: &'a Target,
    method: &str,
    form: &[(&str, &str)],
) -> Result<(serde_json::Value, Redactor<'a>, Option<String>), ProviderError> {
    let r = redactor(target);
    let token = secret_text(target)?;
    let url = format!("{}/{method}", base_url(target, "https://slack.com/api")?);
    let resp = Http::new()?.send(&|c| c.post(&url).bearer_auth(token).form(form), &r, &FIELDS)?;
    // A success (2xx) whose body cannot be read: the message may have been sent.
    let Some(v) = resp.json() else {
        return Err(ProviderError::Unknown(Detail::noted(
            "Slack: a success answer that is not JSON",
            resp.answer(&FIELDS, &r),
        )));
    };
    if v.get("ok").and_then(|o| o.as_bool()) == Some(true) {
        let scopes = resp.header("x-oauth-scopes").map(str::to_string);
        return Ok((v, r, scopes));
    }
    // The code decides the kind; what is shown is the answer (redacted: a Slack error field
    // can echo the token).
    let answer: Answer = resp.answer(&FIELDS, &r);
    let err = answer.code.clone().unwrap_or_default();
    let detail = answer.into();
    Err(match err.as_str() {
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "missing_scope"
        | "not_allowed_token_type" => ProviderError::CredentialRejected(detail),
        "ratelimited" | "rate_limited" => {
            let (_, until) = super::http::rate_limit_reset(&resp);
            ProviderError::RateLimited { until, detail }
        }
        "channel_not_found"
        | "not_in_channel"
        | "is_archived"
        | "msg_too_long"
        | "no_text"
        | "restricted_action"
        | "too_many_attachments" => ProviderError::ContentRejected(detail),
        _ => ProviderError::Unexpected(detail),
    })
}

impl Provider for Slack {
    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
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
        let (v, r, _) = call(
            target,
            "chat.postMessage",
            &[("channel", channel), ("text", text)],
        )?;
        let ts =
            json_str(&v, &["ts"]).ok_or_else(|| no_receipt("Slack", "the message timestamp"))?;
        let ch = json_str(&v, &["channel"]).unwrap_or_else(|| channel.to_string());
        Ok(receipt(&format!("{ch}/{ts}"), None, &r))
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        self.check_posting(target).map(|c| c.seen)
    }

    /// `auth.test` proves the token; its scopes (`x-oauth-scopes`) prove `chat:write`.
    fn check_posting(&self, target: &Target) -> Result<super::Checked, ProviderError> {
        let (v, r, scopes) = call(target, "auth.test", &[])?;
        let seen = format!(
            "Slack bot {} in {}",
            shown(&json_str(&v, &["user"]).unwrap_or_default(), &r, 100),
            shown(&json_str(&v, &["team"]).unwrap_or_default(), &r, 100)
        );
        match scopes {
            Some(s) if s.split(',').any(|x| x.trim() == "chat:write") => {
                Ok(super::Checked::proved(seen))
            }
            Some(s) => Err(ProviderError::CredentialRejected(Detail::from(format!(
                "{seen} cannot post: its scopes are `{}`, and chat.postMessage needs `chat:write`",
                shown(&s, &r, 400)
            )))),
            None => Ok(super::Checked::unproved(
                seen,
                "Slack did not say the token's scopes (x-oauth-scopes)",
            )),
        }
    }
}
