//! Facebook Page `POST /{page-id}/feed` with a page access token (`--handle` is the page id).
//! The token travels in the Authorization header, never in a URL. Graph API errors come as
//! `{"error": {"message", "type", "code", "error_subcode"}}`; the code decides the kind.

use super::answer::Fields;
use super::common::{base_url, handle, json_str, max_chars, receipt, redactor, secret_text, shown};
use super::http::{Http, no_receipt};
use super::{Limits, Provider, ProviderError, Receipt, Target};
use crate::redact::Redactor;

pub struct Facebook;

/// Graph API errors: `{"error": {"message", "type", "code", "error_subcode"}}`.
const FIELDS: Fields = Fields {
    code: &[&["error", "code"]],
    message: &[&["error", "message"]],
    plain_code: false,
};

const DEFAULT_API: &str = "https://graph.facebook.com/v21.0";

fn graph<'a>(
    target: &'a Target,
    req: &dyn Fn(&reqwest::blocking::Client, &str) -> reqwest::blocking::RequestBuilder,
) -> Result<(serde_json::Value, Redactor<'a>), ProviderError> {
    let r = redactor(target);
    let token = secret_text(target)?;
    let http = Http::new()?;
    let resp = http.raw(req(http.client(), token), &r)?;
    let v = resp.json().unwrap_or_default();
    if (200..300).contains(&resp.status) && v.get("error").is_none() {
        return Ok((v, r));
    }
    let code = v
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(|c| c.as_i64())
        .unwrap_or_default();
    let detail = resp.answer(&FIELDS, &r).into();
    Err(match code {
        190 | 102 | 10 => ProviderError::CredentialRejected(detail),
        4 | 17 | 32 | 613 | 80001 => ProviderError::RateLimited {
            until: None,
            detail,
        },
        100 | 200 | 368 | 506 | 1609005 => ProviderError::ContentRejected(detail),
        _ if resp.status == 401 || resp.status == 403 => ProviderError::CredentialRejected(detail),
        _ => ProviderError::Unexpected(detail),
    })
}

impl Provider for Facebook {
    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
        secret_text(target)?;
        handle(target, "the page id")?;
        base_url(target, DEFAULT_API)?;
        max_chars(text, 63_206, "Facebook")
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        _key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let url = format!(
            "{}/{}/feed",
            base_url(target, DEFAULT_API)?,
            handle(target, "the page id")?
        );
        let (v, r) = graph(target, &|c, token| {
            c.post(&url).bearer_auth(token).form(&[("message", text)])
        })?;
        let id = json_str(&v, &["id"]).ok_or_else(|| no_receipt("Facebook", "the post id"))?;
        Ok(receipt(
            &id,
            Some(&format!("https://www.facebook.com/{id}")),
            &r,
        ))
    }

    fn check_posting(&self, target: &Target) -> Result<super::Checked, ProviderError> {
        self.check(target).map(|seen| {
            super::Checked::unproved(
                seen,
                "reading the page proves the token, not its pages_manage_posts permission (only the app's token can debug a token)",
            )
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let url = format!(
            "{}/{}?fields=name",
            base_url(target, DEFAULT_API)?,
            handle(target, "the page id")?
        );
        let (v, r) = graph(target, &|c, token| c.get(&url).bearer_auth(token))?;
        Ok(format!(
            "Facebook page {}",
            shown(&json_str(&v, &["name"]).unwrap_or_default(), &r, 100)
        ))
    }
}
