//! Facebook Page `POST /{page-id}/feed` with a page access token (`--handle` is the page id).
//! The token travels in the Authorization header, never in a URL. Graph API errors come as
//! `{"error": {"message", "type", "code", "error_subcode"}}`; the code decides the kind.

use super::answer::Fields;
use super::common::{base_url, handle, json_str, max_chars, receipt, redactor, secret_text, shown};
use super::http::{Http, Reply, no_receipt};
use super::{Detail, Limits, Provider, ProviderError, Receipt, Target};
use crate::redact::Redactor;

pub struct Facebook;

/// Graph API errors: `{"error": {"message", "type", "code", "error_subcode"}}`.
const FIELDS: Fields = Fields {
    code: &[&["error", "code"]],
    message: &[&["error", "message"]],
    plain_code: false,
};

/// Graph's public base; the version (see [`super::versions`]) follows it. An account with
/// `--url` (a test server, a proxy) uses that URL as it is.
const GRAPH: &str = "https://graph.facebook.com";

/// The API base with the version this account uses.
fn api_base(target: &Target) -> Result<String, ProviderError> {
    let version = target
        .version()
        .unwrap_or(super::versions::PINNED[1].default);
    base_url(target, &format!("{GRAPH}/{version}"))
}

fn graph<'a>(
    target: &'a Target,
    req: &dyn Fn(&reqwest::blocking::Client, &str) -> reqwest::blocking::RequestBuilder,
) -> Result<(serde_json::Value, Redactor<'a>), ProviderError> {
    let r = redactor(target);
    let token = secret_text(target)?;
    let http = Http::new()?;
    // The one outcome table first: a 500, 502 or 504 (Graph's "temporarily unavailable"
    // comes as a 500), a timeout or a reset never reaches the code mapping below.
    let (v, detail, status) = match http.exchange(&|c| req(c, token), &r, &FIELDS)? {
        Reply::Success(resp) => {
            let v = resp.json().unwrap_or_default();
            if v.get("error").is_none() {
                return Ok((v, r));
            }
            // An error in a success: Graph names it by its code.
            let detail: Detail = resp.answer(&FIELDS, &r).into();
            (v, detail, resp.status)
        }
        Reply::Refused(refusal) => {
            let v = refusal.json().unwrap_or_default();
            let detail: Detail = refusal.answer(&FIELDS, &r).into();
            if (300..=399).contains(&refusal.status()) {
                return Err(refusal.error);
            }
            (v, detail, refusal.status())
        }
    };
    let code = v
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(|c| c.as_i64())
        .unwrap_or_default();
    Err(match code {
        // "Unknown error" / "service temporarily unavailable": Graph itself does not know
        // what was done.
        1 | 2 => ProviderError::Unknown(Detail {
            note: Some("Graph reports an error of its own, after the request reached it".into()),
            answer: detail.answer,
        }),
        190 | 102 | 10 => ProviderError::CredentialRejected(detail),
        4 | 17 | 32 | 613 | 80001 => ProviderError::RateLimited {
            until: None,
            detail,
        },
        100 | 200 | 368 | 506 | 1609005 => ProviderError::ContentRejected(detail),
        _ if status == 401 || status == 403 => ProviderError::CredentialRejected(detail),
        _ => ProviderError::Unexpected(detail),
    })
}

impl Provider for Facebook {
    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
        secret_text(target)?;
        handle(target, "the page id")?;
        api_base(target)?;
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
            api_base(target)?,
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
            api_base(target)?,
            handle(target, "the page id")?
        );
        let (v, r) = graph(target, &|c, token| c.get(&url).bearer_auth(token))?;
        Ok(format!(
            "Facebook page {}",
            shown(&json_str(&v, &["name"]).unwrap_or_default(), &r, 100)
        ))
    }
}
