//! LinkedIn Posts API `POST /rest/posts`, as a person or an organization (`--handle` is the
//! author URN: `urn:li:person:…` or `urn:li:organization:…`). The commentary uses LinkedIn's
//! "little text format", whose reserved characters must be escaped or LinkedIn silently cuts
//! the post at the first one. The new post's id comes in the `x-restli-id` header.

use super::answer::Fields;
use super::common::{base_url, handle, json_str, max_chars, receipt, redactor, secret_text, shown};
use super::http::{Http, Reply, Response, no_receipt};
use super::{Detail, Limits, Provider, ProviderError, Receipt, Target};
use crate::redact::Redactor;

pub struct LinkedIn;

/// LinkedIn's errors: `{"status": 401, "serviceErrorCode": 65600, "code":
/// "INVALID_ACCESS_TOKEN", "message": "…"}`.
const FIELDS: Fields = Fields {
    code: &[&["code"], &["serviceErrorCode"]],
    message: &[&["message"], &["error_description"]],
    plain_code: false,
};

const DEFAULT_API: &str = "https://api.linkedin.com";
const MAX_CHARS: usize = 3000;

/// Escapes the little-text-format reserved characters: \ | { } @ [ ] ( ) < > # * _ ~
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '|'
                | '{'
                | '}'
                | '@'
                | '['
                | ']'
                | '('
                | ')'
                | '<'
                | '>'
                | '#'
                | '*'
                | '_'
                | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `LinkedIn-Version` this account's requests carry (see [`super::versions`]).
fn version<'a>(target: &'a Target) -> &'a str {
    target
        .version()
        .unwrap_or(super::versions::PINNED[0].default)
}

/// The success, or the refusal; a version LinkedIn has retired (HTTP 426, or a 400 whose
/// code says the version is not active) named as such, with the setting that fixes it.
fn retired(
    reply: Reply,
    target: &Target,
    version: &str,
    r: &Redactor,
) -> Result<Response, ProviderError> {
    let refusal = match reply {
        Reply::Success(resp) => return Ok(resp),
        Reply::Refused(refusal) => refusal,
    };
    let answer = refusal.answer(&FIELDS, r);
    let code_says = answer
        .code
        .as_deref()
        .is_some_and(|c| c.to_ascii_uppercase().contains("VERSION"));
    let message_says = answer.message.as_deref().is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("version")
            && ["deprecat", "sunset", "not active", "no longer", "upgrade"]
                .iter()
                .any(|w| m.contains(w))
    });
    if refusal.status() != 426 && !code_says && !message_says {
        return Err(refusal.error);
    }
    Err(ProviderError::ApiVersion(Detail::noted(
        format!(
            "LinkedIn does not serve LinkedIn-Version {version}; set one it serves: `smv account set {} --api-version YYYYMM`, or `[api_versions] linkedin = \"YYYYMM\"` in config.toml",
            target.account.name
        ),
        answer,
    )))
}

fn author<'a>(target: &'a Target) -> Result<&'a str, ProviderError> {
    let h = handle(
        target,
        "the author URN, urn:li:organization:ID or urn:li:person:ID",
    )?;
    if h.starts_with("urn:li:organization:") || h.starts_with("urn:li:person:") {
        Ok(h)
    } else {
        Err(ProviderError::Invalid("the LinkedIn --handle must be an author URN (urn:li:organization:ID or urn:li:person:ID)".into()))
    }
}

impl Provider for LinkedIn {
    fn validate(&self, target: &Target, text: &str, _limits: &Limits) -> Result<(), ProviderError> {
        secret_text(target)?;
        author(target)?;
        base_url(target, DEFAULT_API)?;
        max_chars(text, MAX_CHARS, "LinkedIn")
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        _key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let r = redactor(target);
        let token = secret_text(target)?;
        let url = format!("{}/rest/posts", base_url(target, DEFAULT_API)?);
        let body = serde_json::json!({
            "author": author(target)?,
            "commentary": escape(text),
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false
        });
        let version = version(target);
        let reply = Http::new()?.exchange(
            &|c| {
                c.post(&url)
                    .bearer_auth(token)
                    .header("LinkedIn-Version", version)
                    .header("X-Restli-Protocol-Version", "2.0.0")
                    .json(&body)
            },
            &r,
            &FIELDS,
        )?;
        let resp = retired(reply, target, version, &r)?;
        let id = resp
            .header("x-restli-id")
            .ok_or_else(|| no_receipt("LinkedIn", "the x-restli-id header"))?;
        let id = shown(id, &r, 256);
        Ok(receipt(
            &id,
            Some(&format!("https://www.linkedin.com/feed/update/{id}/")),
            &r,
        ))
    }

    fn check_posting(&self, target: &Target) -> Result<super::Checked, ProviderError> {
        self.check(target).map(|seen| {
            super::Checked::unproved(
                seen,
                "LinkedIn's read-only calls show the member, not whether the token has the w_member_social or w_organization_social scope (only the app's client secret can introspect a token)",
            )
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let r = redactor(target);
        let token = secret_text(target)?;
        let url = format!("{}/v2/userinfo", base_url(target, DEFAULT_API)?);
        let resp = Http::new()?.send(&|c| c.get(&url).bearer_auth(token), &r, &FIELDS)?;
        let name = resp
            .json()
            .and_then(|v| json_str(&v, &["name"]))
            .unwrap_or_default();
        Ok(format!("LinkedIn token of {}", shown(&name, &r, 100)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_characters_are_escaped() {
        assert_eq!(
            super::escape("Hi (all) #launch @team_x *new* ~ok~ a|b {c} [d] <e> \\"),
            "Hi \\(all\\) \\#launch \\@team\\_x \\*new\\* \\~ok\\~ a\\|b \\{c\\} \\[d\\] \\<e\\> \\\\"
        );
        assert_eq!(super::escape("plain, text: ünï 🎉"), "plain, text: ünï 🎉");
    }
}
