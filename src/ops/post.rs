//! `smv post`: publish as company accounts, with secrets the user never sees.
//!
//! Every target is authorized and every post validated before anything is sent: a refusal or
//! an invalid post for one target sends nothing to any. Then, per target: a durable intent
//! (the exact text), the network call, the outcome (post id and URL, or why it failed).

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Digest;

use super::Ctx;
use crate::access::{self, Action, Decision};
use crate::audit::{Filter, Outcome};
use crate::providers::{self, Receipt, Target};
use crate::vault::{Account, Vault};
use crate::{Error, Result, ids};

#[derive(Debug, Default, Clone)]
pub struct PostOptions {
    /// Validate and authorize only; send nothing.
    pub dry_run: bool,
    /// A retried job with the same key and text does not post twice.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Published now.
    Posted,
    /// Published earlier under the same idempotency key: the original receipt.
    AlreadyPosted,
    /// `--dry-run`: would be sent.
    Valid,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct PostResult {
    pub account: String,
    pub provider: String,
    pub status: PostStatus,
    pub post_id: Option<String>,
    pub url: Option<String>,
    /// The audit entry that records the outcome.
    pub audit_seq: Option<u64>,
    pub error: Option<String>,
}

fn sha256_hex(text: &str) -> String {
    ids::hex(&sha2::Sha256::digest(text.as_bytes()))
}

/// `a,b,group` → the accounts, each once, in order.
pub(crate) fn resolve_targets(vault: &Vault, targets: &str) -> Result<Vec<Account>> {
    let mut out: Vec<Account> = Vec::new();
    for name in targets.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let found = match vault.account(name) {
            Ok(a) => vec![a],
            Err(Error::NotFound { .. }) if vault.group_exists(name)? => vault.group(name)?,
            Err(Error::NotFound { .. }) => return Err(Error::not_found("account or group", name)),
            Err(e) => return Err(e),
        };
        for a in found {
            if !out.iter().any(|o| o.id == a.id) {
                out.push(a);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid("targets", "no account named")
            .with_hint("smv post ACCOUNT[,ACCOUNT…] \"text\""));
    }
    Ok(out)
}

/// The stable key passed to networks that support one: derived from the user's key and the
/// account, so one key used for several accounts gives each network its own.
fn network_key(key: &str, account: &str) -> String {
    ids::hex(&sha2::Sha256::digest(format!("smv-idempotency\n{key}\n{account}").as_bytes())[..16])
}

pub fn post(
    ctx: &mut Ctx,
    targets: &str,
    text: &str,
    opts: &PostOptions,
) -> Result<Vec<PostResult>> {
    let (vault, actor) = ctx.load("post", &format!("account:{targets}"))?;
    let accounts = match resolve_targets(&vault, targets) {
        Ok(a) => a,
        Err(e) => {
            ctx.record_failure(
                &vault,
                &actor.name,
                "post",
                &format!("account:{targets}"),
                &e,
                Map::new(),
            );
            return Err(e);
        }
    };
    let state_dir = crate::providers::state_dir(&ctx.settings.vault);
    let text_hash = sha256_hex(text);

    // 1. Authorize every target; one refusal refuses all.
    let mut refused = Vec::new();
    for a in &accounts {
        let grant = vault.grant_level(&actor, a.id)?;
        if let Decision::Deny(reason) = access::decide(&actor.actor(), Action::Post { grant }) {
            let mut details = Map::new();
            details.insert("text_sha256".into(), text_hash.clone().into());
            ctx.record_failure(
                &vault,
                &actor.name,
                "post",
                &format!("account:{}", a.name),
                &Error::Denied {
                    actor: actor.name.clone(),
                    action: "post".into(),
                    reason: reason.clone(),
                    hint: None,
                },
                details,
            );
            refused.push(format!("{} ({reason})", a.name));
        }
    }
    if !refused.is_empty() {
        let admin_hint = (actor.role == access::Role::Admin).then(|| {
            format!(
                "admins post through grants too: `smv grant {} ACCOUNT post`",
                actor.name
            )
        });
        return Err(Error::Denied {
            actor: actor.name.clone(),
            action: "post".into(),
            reason: format!("refused for {}; nothing was sent", refused.join(", ")),
            hint: admin_hint.or_else(|| {
                Some("ask an admin or the account's manager for a `post` grant".into())
            }),
        });
    }

    // 2. Validate every post before sending any.
    let mut prepared = Vec::new();
    let mut invalid = Vec::new();
    for a in &accounts {
        let provider = providers::implementation(&a.provider)?;
        let secret = vault.account_secret(a)?;
        let target = Target {
            account: a,
            secret: secret.as_ref(),
            state_dir: state_dir.clone(),
            sessions: None,
        };
        if let Err(e) = provider.validate(&target, text) {
            invalid.push(format!("{}: {e}", a.name));
        }
        drop(target);
        prepared.push((a, provider, secret));
    }
    if !invalid.is_empty() {
        let err = Error::invalid("post", format!("{}; nothing was sent", invalid.join("; ")));
        let mut details = Map::new();
        details.insert("text_sha256".into(), text_hash.clone().into());
        ctx.record_failure(
            &vault,
            &actor.name,
            "post",
            &format!("account:{targets}"),
            &err,
            details,
        );
        return Err(err);
    }

    // 3. Idempotency: smv's own record (the audit log) decides.
    let mut log = ctx.audit_log(&vault)?;
    let mut earlier: Vec<Option<(Receipt, u64)>> = vec![None; prepared.len()];
    if let Some(key) = &opts.idempotency_key {
        for (i, (a, _, _)) in prepared.iter().enumerate() {
            let filter = Filter {
                account: Some(a.name.clone()),
                action: Some("post".into()),
                ..Filter::default()
            };
            let mut pending = false;
            for e in log.entries(&filter)? {
                if e.details.get("idempotency_key").and_then(Value::as_str) != Some(key) {
                    continue;
                }
                if e.details.get("text_sha256").and_then(Value::as_str) != Some(&text_hash) {
                    return Err(Error::Conflict(
                        format!(
                            "the idempotency key `{key}` was already used on {} for a different text",
                            a.name
                        ),
                        Some("use a new key for a new post".into()),
                    ));
                }
                match e.outcome {
                    Outcome::Intent => pending = true,
                    Outcome::Ok => {
                        pending = false;
                        let receipt = Receipt {
                            post_id: e
                                .details
                                .get("post_id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            url: e
                                .details
                                .get("url")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        };
                        earlier[i] = Some((receipt, e.seq));
                    }
                    _ => pending = false,
                }
            }
            if pending && earlier[i].is_none() {
                return Err(Error::Conflict(
                    format!(
                        "an earlier post to {} with the key `{key}` was interrupted, and smv cannot tell whether it was published",
                        a.name
                    ),
                    Some(format!(
                        "look at the account; then retry with a new key, or post without {}",
                        a.name
                    )),
                ));
            }
        }
    }

    // 4. Send, each with its durable intent first.
    let mut results = Vec::new();
    for (i, (a, provider, secret)) in prepared.iter().enumerate() {
        let target_name = format!("account:{}", a.name);
        let mut result = PostResult {
            account: a.name.clone(),
            provider: a.provider.clone(),
            status: PostStatus::Valid,
            post_id: None,
            url: None,
            audit_seq: None,
            error: None,
        };
        if let Some((receipt, seq)) = &earlier[i] {
            result.status = PostStatus::AlreadyPosted;
            result.post_id = Some(receipt.post_id.clone());
            result.url = receipt.url.clone();
            result.audit_seq = Some(*seq);
            results.push(result);
            continue;
        }
        let mut details = Map::new();
        details.insert("provider".into(), a.provider.clone().into());
        details.insert("text".into(), text.into());
        details.insert("text_sha256".into(), text_hash.clone().into());
        if let Some(k) = &opts.idempotency_key {
            details.insert("idempotency_key".into(), k.clone().into());
        }
        if opts.dry_run {
            let rec = ctx.record(
                &actor.name,
                "post.dry-run",
                &target_name,
                Outcome::Ok,
                None,
                details,
            );
            result.audit_seq = Some(log.append(&rec)?);
            results.push(result);
            continue;
        }
        // Fail closed: without a durable intent, nothing is sent.
        log.append(&ctx.record(
            &actor.name,
            "post",
            &target_name,
            Outcome::Intent,
            None,
            details.clone(),
        ))?;
        crate::failpoint::hit("post-after-intent")?;
        let sessions = super::sessions::VaultSessions {
            settings: &ctx.settings,
            identity: &ctx.identity,
            account: a.name.clone(),
            actor: actor.name.clone(),
            request_id: ctx.request_id.clone(),
            channel: ctx.channel.clone(),
            snapshot: vault.account_session(a)?,
        };
        let target = Target {
            account: a,
            secret: secret.as_ref(),
            state_dir: state_dir.clone(),
            sessions: Some(&sessions),
        };
        let key = opts
            .idempotency_key
            .as_deref()
            .map(|k| network_key(k, &a.name));
        let sent = provider.post(&target, text, key.as_deref());
        let (outcome, reason) = match &sent {
            Ok(receipt) => {
                details.insert("post_id".into(), receipt.post_id.clone().into());
                if let Some(u) = &receipt.url {
                    details.insert("url".into(), u.clone().into());
                }
                (Outcome::Ok, None)
            }
            Err(e) => {
                details.insert("error_kind".into(), e.kind().into());
                (Outcome::Failed, Some(e.to_string()))
            }
        };
        let seq = match log.append(&ctx.record(
            &actor.name,
            "post",
            &target_name,
            outcome,
            reason,
            details,
        )) {
            Ok(seq) => Some(seq),
            Err(e) => {
                ctx.warnings.push(format!(
                    "the outcome of the post to {} could not be logged: {e}",
                    a.name
                ));
                None
            }
        };
        result.audit_seq = seq;
        match sent {
            Ok(receipt) => {
                result.status = PostStatus::Posted;
                result.post_id = Some(receipt.post_id);
                result.url = receipt.url;
            }
            Err(e) => {
                result.status = PostStatus::Failed;
                result.error = Some(e.to_string());
            }
        }
        results.push(result);
    }
    Ok(results)
}
