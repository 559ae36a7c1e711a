//! `smv posts`: what was posted — from the audit log, the source of truth — found through
//! its derived index (`audit::posts`), and `smv posts show SEQ`.
//!
//! Who sees what: an admin or auditor (who may read the audit log) sees every post; any
//! other member sees the posts to the accounts they hold a grant on now. A member with
//! neither is refused (and the refusal audited). Offline (`--log FILE --pubkey KEY`, an
//! export or a copy of the log) there is no vault and no member: the file is verified with
//! the key first, and an unverifiable file is refused, never shown.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ctx;
use crate::access::Action;
use crate::audit::posts::{PostIndex, PostQuery};
use crate::audit::{self, Channel, Entry, Filter, Ledger, Outcome};
use crate::{Error, Result};

/// One published post, as the audit log recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostRecord {
    /// The audit entry that records the publication (its `ok` outcome).
    pub seq: u64,
    pub time: String,
    /// The account's name now (or, once removed, the name it was posted under).
    pub account: String,
    /// The name it was posted under, when the account has been renamed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_as: Option<String>,
    /// Who posted it (for a scheduled post: its author).
    pub member: String,
    /// How: `local`, `proxy`, `token:t…` (`token:t… (ci)` for a CI token), and `queue q…`
    /// for a scheduled post.
    pub via: String,
    pub provider: Option<String>,
    pub post_id: Option<String>,
    pub url: Option<String>,
    /// The exact text that was sent.
    pub text: String,
    pub text_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    pub request_id: String,
}

/// What `smv posts` lists (all conditions hold). Times are in the log's format.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct PostsFilter {
    pub account: Option<String>,
    pub member: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// Words the text must contain, all of them (`word*`: a prefix).
    pub text: Option<String>,
    /// At most this many, newest first (0: all).
    #[serde(default)]
    pub limit: usize,
}

/// The entries a post record is read from: the live log, or a verified file in memory.
enum Entries<'a> {
    Log(&'a dyn Ledger),
    Loaded(&'a BTreeMap<u64, Entry>),
}

impl Entries<'_> {
    fn get(&self, seq: u64) -> Result<Option<Entry>> {
        match self {
            Entries::Log(log) => log.entry(seq),
            Entries::Loaded(map) => Ok(map.get(&seq).cloned()),
        }
    }
}

/// Which accounts the caller may see posts of: all, or these (stable ids).
enum Visible {
    All,
    Accounts(Vec<i64>),
}

fn record(e: Entry, index: &PostIndex, ci_tokens: &[String]) -> Result<Option<PostRecord>> {
    if e.action != "post" || e.outcome != Outcome::Ok {
        return Ok(None);
    }
    let Some(name) = e.target.strip_prefix("account:") else {
        return Ok(None);
    };
    let now = match index.account_of(e.seq)? {
        Some(id) => index.name_of(id)?,
        None => None,
    };
    let text_of = |k: &str| e.details.get(k).and_then(Value::as_str).map(str::to_string);
    let mut via = match &e.channel {
        Channel::Token(a) if ci_tokens.contains(a) => format!("{} (ci)", e.channel),
        other => other.to_string(),
    };
    if let Some(q) = text_of("queue_id") {
        via = format!("queue {q} ({via})");
    }
    Ok(Some(PostRecord {
        seq: e.seq,
        time: e.time.clone(),
        account: now.clone().unwrap_or_else(|| name.to_string()),
        posted_as: now.filter(|n| n != name).map(|_| name.to_string()),
        member: e.actor.clone(),
        via,
        provider: text_of("provider"),
        post_id: text_of("post_id"),
        url: text_of("url"),
        text: text_of("text").unwrap_or_default(),
        text_sha256: text_of("text_sha256"),
        draft: text_of("draft_id"),
        approved_by: e
            .details
            .get("approved_by")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        request_id: e.request_id,
    }))
}

fn query(index: &PostIndex, f: &PostsFilter, visible: &Visible) -> Result<PostQuery> {
    let mut accounts = match visible {
        Visible::All => None,
        Visible::Accounts(ids) => Some(ids.clone()),
    };
    if let Some(name) = &f.account {
        let id = index.account(name)?;
        accounts = Some(match (id, accounts) {
            (Some(id), None) => vec![id],
            (Some(id), Some(seen)) if seen.contains(&id) => vec![id],
            _ => Vec::new(),
        });
    }
    Ok(PostQuery {
        accounts,
        actor: f.member.clone(),
        since: f.since.clone(),
        until: f.until.clone(),
        words: f.text.clone(),
        limit: f.limit,
    })
}

fn list(
    entries: Entries,
    index: &PostIndex,
    f: &PostsFilter,
    visible: &Visible,
    ci_tokens: &[String],
) -> Result<Vec<PostRecord>> {
    let mut out = Vec::new();
    for seq in index.select(&query(index, f, visible)?)? {
        // What is shown is read from the entry itself, never from the index.
        if let Some(e) = entries.get(seq)?
            && let Some(r) = record(e, index, ci_tokens)?
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// Who may see which posts, decided in the vault; the log's key comes along.
fn visible(
    ctx: &mut Ctx,
    action: &str,
    target: &str,
) -> Result<(Vec<String>, Option<Vec<String>>)> {
    ctx.read(action, target, |tx| {
        let ci: Vec<String> = tx
            .vault
            .tokens()?
            .into_iter()
            .filter(|t| t.kind == crate::vault::TokenKind::Ci)
            .map(|t| t.accessor)
            .collect();
        if tx.require(Action::ReadAudit, "read the posts").is_ok() {
            return Ok((ci, None));
        }
        let mut names = Vec::new();
        for a in tx.vault.accounts()? {
            let grant = tx.vault.grant_level(tx.actor, a.id)?;
            if crate::access::decide(&tx.actor.actor(), Action::ViewAccount { grant }).is_allowed()
                && grant.is_some()
            {
                names.push(a.name);
            }
        }
        if names.is_empty() {
            // Neither the audit log nor any account: refused, with the rule that says so.
            tx.require(Action::ReadAudit, "read the posts")?;
        }
        Ok((ci, Some(names)))
    })
}

fn to_visible(index: &PostIndex, names: Option<Vec<String>>) -> Result<Visible> {
    Ok(match names {
        None => Visible::All,
        Some(names) => Visible::Accounts(
            names
                .iter()
                .map(|n| index.current(n))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect(),
        ),
    })
}

/// `smv posts`: the posts matching `f` that the caller may see, newest first.
pub fn posts(
    ctx: &mut Ctx,
    f: &PostsFilter,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<PostRecord>> {
    check(f)?;
    let (ci, names) = visible(ctx, "posts", "posts")?;
    let (log, index) = ctx.store.posts_index(progress)?;
    let visible = to_visible(&index, names)?;
    list(Entries::Log(&*log), &index, f, &visible, &ci)
}

/// `smv posts show SEQ`: one post, its exact text and receipt.
pub fn post_show(ctx: &mut Ctx, seq: u64) -> Result<PostRecord> {
    let (ci, names) = visible(ctx, "posts.show", &format!("audit:{seq}"))?;
    let (log, index) = ctx.store.posts_index(&mut |_, _| {})?;
    let visible = to_visible(&index, names)?;
    show(Entries::Log(&*log), &index, seq, &visible, &ci)
}

fn not_a_post(seq: u64) -> Error {
    Error::not_found("post", format!("audit entry {seq}")).with_hint(
        "`smv posts` lists the posts with their audit entries (the `ok` entry of a post)",
    )
}

fn show(
    entries: Entries,
    index: &PostIndex,
    seq: u64,
    visible: &Visible,
    ci: &[String],
) -> Result<PostRecord> {
    let e = entries.get(seq)?.ok_or_else(|| not_a_post(seq))?;
    let r = record(e, index, ci)?.ok_or_else(|| not_a_post(seq))?;
    if let Visible::Accounts(ids) = visible {
        let seen = index.account_of(seq)?.is_some_and(|id| ids.contains(&id));
        if !seen {
            // Not one of the caller's accounts: as if it did not exist.
            return Err(not_a_post(seq));
        }
    }
    Ok(r)
}

fn check(f: &PostsFilter) -> Result<()> {
    if let Some(a) = &f.account {
        super::check_name("account", a)?;
    }
    if let Some(m) = &f.member {
        super::check_name("member", m)?;
    }
    Ok(())
}

/// A log copy or an export, verified with its public key and loaded: the entries of what
/// was verified, and nothing after it.
pub struct Verified {
    pub report: audit::Report,
    entries: BTreeMap<u64, Entry>,
}

impl Verified {
    /// Verifies `file` (a log copy or a JSON-lines export) with `pubkey`, then reads the
    /// entries that verified. A file that does not verify is refused (exit 10), not shown.
    pub fn open(file: &Path, pubkey: &str, progress: &mut dyn FnMut(u64, u64)) -> Result<Verified> {
        let chain = audit::key::parse_chain(pubkey)?;
        let (report, entries) = audit::load_verified(file, &chain, progress)?;
        Ok(Verified { report, entries })
    }

    /// The entries matching `filter`, oldest first (as `smv audit log`).
    pub fn audit_log(&self, f: &Filter) -> Vec<Entry> {
        self.entries
            .values()
            .filter(|e| matches(e, f))
            .cloned()
            .collect()
    }

    fn index(&self) -> Result<PostIndex> {
        let mut index = PostIndex::in_memory()?;
        index.add_all(&mut self.entries.values())?;
        Ok(index)
    }

    pub fn posts(&self, f: &PostsFilter) -> Result<Vec<PostRecord>> {
        check(f)?;
        let index = self.index()?;
        list(
            Entries::Loaded(&self.entries),
            &index,
            f,
            &Visible::All,
            &[],
        )
    }

    pub fn post_show(&self, seq: u64) -> Result<PostRecord> {
        let index = self.index()?;
        show(
            Entries::Loaded(&self.entries),
            &index,
            seq,
            &Visible::All,
            &[],
        )
    }
}

/// [`Filter`] applied to an entry in memory, as the log's SQL applies it.
fn matches(e: &Entry, f: &Filter) -> bool {
    f.account
        .as_ref()
        .is_none_or(|a| e.target == format!("account:{a}"))
        && f.member
            .as_ref()
            .is_none_or(|m| &e.actor == m || e.target == format!("member:{m}"))
        && f.action.as_ref().is_none_or(|a| &e.action == a)
        && f.since.as_ref().is_none_or(|t| &e.time >= t)
        && f.until.as_ref().is_none_or(|t| &e.time < t)
}
