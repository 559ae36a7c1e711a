//! Telegram Bot API `sendMessage`; the chat is the account's `--handle` (an id or @channel).
//! The bot token is part of the URL path, so every error text is redacted of it.

use zeroize::Zeroizing;

use super::answer::Fields;
use super::common::{
    base_url, handle, json_str, max_chars, receipt, redact_url_parts, redactor, secret_text, shown,
};
use super::http::{Http, Reply, no_receipt};
use super::{Limits, Provider, ProviderError, Receipt, Target};
use crate::redact::Redactor;

pub struct Telegram;

/// Bot API errors: `{"ok": false, "error_code": 401, "description": "Unauthorized"}`.
const FIELDS: Fields = Fields {
    code: &[&["error_code"]],
    message: &[&["description"]],
    plain_code: false,
};

fn call<'a>(
    target: &'a Target,
    method: &str,
    body: serde_json::Value,
) -> Result<(serde_json::Value, Redactor<'a>), ProviderError> {
    let mut r = redactor(target);
    // The token is part of the path: the URL (wiped after the call) and its parts are
    // redacted too, as reqwest and the server may show them encoded.
    let url = Zeroizing::new(format!(
        "{}/bot{}/{method}",
        base_url(target, "https://api.telegram.org")?,
        secret_text(target)?
    ));
    if let Ok(parsed) = reqwest::Url::parse(&url) {
        redact_url_parts(&mut r, &parsed, &[method]);
    }
    let http = Http::new()?;
    // The one outcome table first: a 5xx, a timeout or a reset never reaches the mapping
    // below (Telegram's gateway answers 502 while the message may have been sent).
    let reply = http.exchange(&|c| c.post(url.as_str()).json(&body), &r, &FIELDS)?;
    let refusal = match reply {
        Reply::Success(resp) => {
            let v = resp.json();
            match v
                .as_ref()
                .and_then(|v| v.get("ok"))
                .and_then(|o| o.as_bool())
            {
                Some(true) => return Ok((v.unwrap_or_default(), r)),
                // A refusal that says so, in a success: Telegram names it by its code.
                Some(false) => {
                    let code = v
                        .as_ref()
                        .and_then(|v| v.get("error_code")?.as_u64())
                        .unwrap_or_default();
                    let detail = resp.answer(&FIELDS, &r).into();
                    return Err(match code {
                        401 | 403 => ProviderError::CredentialRejected(detail),
                        400 => ProviderError::ContentRejected(detail),
                        _ => ProviderError::Unexpected(detail),
                    });
                }
                // A success without a readable result: the message may have been sent.
                None => return Err(no_receipt("Telegram", "a readable result")),
            }
        }
        Reply::Refused(refusal) => refusal,
    };
    // A refusal (4xx, a redirect): named by its status, with the answer.
    let detail = refusal.answer(&FIELDS, &r).into();
    Err(match refusal.status() {
        401 | 403 => ProviderError::CredentialRejected(detail),
        400 => ProviderError::ContentRejected(detail),
        300..=399 => refusal.error,
        _ => ProviderError::Unexpected(detail),
    })
}

impl Provider for Telegram {
    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
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
        let (v, r) = call(
            target,
            "sendMessage",
            serde_json::json!({ "chat_id": chat, "text": text }),
        )?;
        let id = json_str(&v, &["result", "message_id"])
            .ok_or_else(|| no_receipt("Telegram", "the message id"))?;
        let url =
            json_str(&v, &["result", "chat", "username"]).map(|u| format!("https://t.me/{u}/{id}"));
        Ok(receipt(&id, url.as_deref(), &r))
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        self.check_posting(target).map(|c| c.seen)
    }

    /// `getMe` proves the token; `getChatMember` (the bot in the account's chat) proves it
    /// may post there: an administrator (in a channel, with `can_post_messages`), a member,
    /// or a restricted member with `can_send_messages`. Left or banned: refused.
    fn check_posting(&self, target: &Target) -> Result<super::Checked, ProviderError> {
        let (v, r) = call(target, "getMe", serde_json::json!({}))?;
        let seen = format!(
            "Telegram bot @{}",
            shown(
                &json_str(&v, &["result", "username"]).unwrap_or_default(),
                &r,
                100
            )
        );
        let (Some(id), Ok(chat)) = (
            v.get("result")
                .and_then(|r| r.get("id"))
                .and_then(|i| i.as_i64()),
            handle(target, "the chat id or @channel"),
        ) else {
            return Ok(super::Checked::unproved(
                seen,
                "the bot's id or the account's chat is unknown, so its membership was not read",
            ));
        };
        let (m, _) = call(
            target,
            "getChatMember",
            serde_json::json!({ "chat_id": chat, "user_id": id }),
        )?;
        let member = m.get("result");
        let flag = |k: &str| member.and_then(|x| x.get(k)).and_then(|b| b.as_bool());
        let status = member
            .and_then(|x| x.get("status"))
            .and_then(|s| s.as_str())
            .unwrap_or_default();
        let refused = |why: &str| {
            Err(ProviderError::CredentialRejected(super::Detail::from(
                format!("{seen} cannot post in the account's chat: {why}"),
            )))
        };
        match status {
            "creator" => Ok(super::Checked::proved(seen)),
            "administrator" if flag("can_post_messages") == Some(false) => {
                refused("it is an administrator without the right to post messages")
            }
            "administrator" | "member" => Ok(super::Checked::proved(seen)),
            "restricted" if flag("can_send_messages") == Some(true) => {
                Ok(super::Checked::proved(seen))
            }
            "restricted" => refused("it is restricted from sending messages"),
            "left" | "kicked" => {
                refused("it is not in the chat (add it, as an administrator of a channel)")
            }
            _ => Ok(super::Checked::unproved(
                seen,
                "Telegram did not say the bot's status in the chat",
            )),
        }
    }
}
