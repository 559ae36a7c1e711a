//! `smv post`: publish as company accounts, with secrets the user never sees. With `--at`,
//! the post is scheduled instead (see [`super::queue`]).

use serde_json::Map;

use super::send::{self, Author, Job, Rule};
use super::{Ctx, check_targets};
use crate::vault::{Account, Vault};
use crate::{Error, Result};

pub use super::send::{PostResult, PostStatus};

#[derive(Debug, Default, Clone)]
pub struct PostOptions {
    /// Validate and authorize only; send nothing.
    pub dry_run: bool,
    /// A retried job with the same key and text does not post twice.
    pub idempotency_key: Option<String>,
}

/// Keys smv uses for its own retries (publishing a draft, sending a scheduled post).
const RESERVED_KEY_PREFIXES: [&str; 2] = ["draft:", "queue:"];

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

pub fn post(
    ctx: &mut Ctx,
    targets: &str,
    text: &str,
    opts: &PostOptions,
) -> Result<Vec<PostResult>> {
    post_reporting(ctx, targets, text, opts, &mut |_| {})
}

/// [`post`], telling `sent` each target's result as soon as its network has answered (a
/// person at a terminal sees each line as it completes).
pub fn post_reporting(
    ctx: &mut Ctx,
    targets: &str,
    text: &str,
    opts: &PostOptions,
    sent: &mut dyn FnMut(&PostResult),
) -> Result<Vec<PostResult>> {
    check_targets(targets)?;
    let target = format!("account:{targets}");
    let accounts = ctx.attempt("post", &target, |tx| {
        if let Some(k) = opts
            .idempotency_key
            .as_deref()
            .filter(|k| RESERVED_KEY_PREFIXES.iter().any(|p| k.starts_with(p)))
        {
            return Err(Error::invalid(
                "idempotency key",
                format!("`{k}` starts with a prefix smv keeps for its own retries"),
            )
            .with_hint("choose another key, e.g. the CI job's id"));
        }
        resolve_targets(tx.vault, targets)
    })?;
    let job = Job {
        author: Author::Caller,
        accounts: accounts.into_iter().map(|a| a.name).collect(),
        text,
        rule: Rule::Direct,
        idempotency_key: opts.idempotency_key.clone(),
        dry_run: opts.dry_run,
        details: Map::new(),
    };
    send::send(ctx, &job, sent)
}
