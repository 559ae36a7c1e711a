//! `smv post`: publish as company accounts, with secrets the user never sees. With `--at`,
//! the post is scheduled instead (see [`super::queue`]).

use serde_json::Map;

use serde_json::Value;

use super::send::{self, Author, Job, Rule};
use super::{Ctx, check_targets};
use crate::audit::{Filter, Outcome};
use crate::vault::{Account, Vault};
use crate::{Error, Result, ids};

pub use super::send::{PostResult, PostStatus};

#[derive(Debug, Default, Clone)]
pub struct PostOptions {
    /// Validate and authorize only; send nothing.
    pub dry_run: bool,
    /// A retried job with the same key and text does not post twice. Without one, a post
    /// gets a random key (`p-` and 16 hex digits), reported with its results, that
    /// `smv post --retry KEY` takes.
    pub idempotency_key: Option<String>,
}

/// A new random idempotency key: random, not derived from the text (the same text posted
/// twice on purpose is two posts), shown once with the post's results.
pub fn generated_key() -> String {
    format!("p-{}", ids::random_hex(8))
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.chars().count() > 200 {
        return Err(
            Error::invalid("idempotency key", "it must be 1 to 200 characters")
                .with_hint("e.g. the CI job's id"),
        );
    }
    if RESERVED_KEY_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return Err(Error::invalid(
            "idempotency key",
            format!("`{key}` starts with a prefix smv keeps for its own retries"),
        )
        .with_hint("choose another key, e.g. the CI job's id (drafts are published again with `smv publish`, scheduled posts with `smv queue release`)"));
    }
    Ok(())
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
        if let Some(k) = &opts.idempotency_key {
            check_key(k)?;
        }
        resolve_targets(tx.vault, targets)
    })?;
    // Every post that is sent has a key, so that it can be retried safely; a dry run sends
    // nothing and gets none unless given one.
    let (key, fresh) = match &opts.idempotency_key {
        Some(k) => (Some(k.clone()), false),
        None if opts.dry_run => (None, false),
        None => (Some(generated_key()), true),
    };
    let job = Job {
        author: Author::Caller,
        accounts: accounts.into_iter().map(|a| a.name).collect(),
        text,
        rule: Rule::Direct,
        idempotency_key: key.clone(),
        fresh_key: fresh,
        dry_run: opts.dry_run,
        details: Map::new(),
    };
    with_key(send::send(ctx, &job, sent), key.as_deref())
}

/// The key on every result (and on an interrupted post's error), for the report.
fn with_key(sent: Result<Vec<PostResult>>, key: Option<&str>) -> Result<Vec<PostResult>> {
    let mut results = sent?;
    for r in &mut results {
        r.idempotency_key = key.map(str::to_string);
    }
    Ok(results)
}

/// `smv post --retry KEY`: the text recorded under `key`, sent again to the accounts it was
/// sent to — through the same checks as any post. Under the posting gate, each account's
/// earlier attempts decide (`ops::outcomes`): published ones answer with their receipt and
/// are not sent again, unknown ones block until resolved, and only the accounts whose every
/// attempt certainly failed (or was resolved as not published) are sent to.
pub fn retry_post(
    ctx: &mut Ctx,
    key: &str,
    dry_run: bool,
    sent: &mut dyn FnMut(&PostResult),
) -> Result<Vec<PostResult>> {
    check_key(key)?;
    let (accounts, text) = recorded(ctx, key)?;
    // Resolves the caller (audited if refused) and checks the accounts still exist.
    let target = format!("account:{}", accounts.join(","));
    ctx.attempt("post", &target, |tx| {
        for name in &accounts {
            tx.vault.account(name).map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found("account", name.clone()).with_hint(format!(
                    "the post with key `{key}` went to {name}, which is no longer in the vault (renamed or removed); post the text to its accounts as they are now (`smv posts` shows it)"
                )),
                e => e,
            })?;
        }
        Ok(())
    })?;
    let mut details = Map::new();
    details.insert("retry".into(), true.into());
    let job = Job {
        author: Author::Caller,
        accounts,
        text: &text,
        rule: Rule::Direct,
        idempotency_key: Some(key.to_string()),
        fresh_key: false,
        dry_run,
        details,
    };
    with_key(send::send(ctx, &job, sent), Some(key))
}

/// The accounts a post under `key` was sent to (in the order first sent), and its text, as
/// the audit log's intents recorded them.
fn recorded(ctx: &Ctx, key: &str) -> Result<(Vec<String>, String)> {
    let log = ctx.store.reader()?;
    let value = Value::from(key);
    let filter = Filter {
        action: Some(super::outcomes::POST.into()),
        ..Filter::default()
    };
    let needle = format!("\"idempotency_key\":{value}");
    let intents: Vec<_> = log
        .entries_mentioning(&filter, needle.as_bytes())?
        .into_iter()
        .filter(|e| {
            e.outcome == Outcome::Intent && e.details.get("idempotency_key") == Some(&value)
        })
        .collect();
    let Some(last) = intents.last() else {
        return Err(
            Error::not_found("post with idempotency key", key).with_hint(
                "give the key a post's report printed (`smv posts show SEQ` shows a post's key)",
            ),
        );
    };
    let text = last
        .details
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Internal(format!(
                "the intent of entry {} records no text; run `smv audit verify`",
                last.seq
            ))
        })?
        .to_string();
    let mut accounts: Vec<String> = Vec::new();
    for e in &intents {
        let name = e.target.strip_prefix("account:").unwrap_or(&e.target);
        if !accounts.iter().any(|a| a == name) {
            accounts.push(name.to_string());
        }
    }
    Ok((accounts, text))
}
