//! Drafts and the two-person rule: `smv draft`, `drafts`, `approve`, `reject`, `publish`.
//!
//! A draft's approvals are bound to the SHA-256 of its text: editing it clears them, and
//! publishing sends the stored text, whose hash is checked again under the posting gate.
//! An author never approves their own draft, and each member counts once.

use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::post::resolve_targets;
use super::send::{self, Author, Job, PostResult, PostStatus, Rule};
use super::{Ctx, IdKind, check_id, check_targets};
use crate::access::{self, Action, Decision, Deny};
use crate::vault::{Draft, DraftStatus, Member, Vault};
use crate::{Error, Result};

/// A draft as listed: with, per account, the approvals that count and the number needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DraftView {
    #[serde(flatten)]
    pub draft: Draft,
    pub approval_state: Vec<AccountApprovals>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountApprovals {
    pub account: String,
    pub have: u32,
    pub need: u32,
}

impl DraftView {
    /// Whether every account's policy is met.
    pub fn ready(&self) -> bool {
        self.approval_state.iter().all(|a| a.have >= a.need)
    }
}

fn view(vault: &Vault, draft: Draft) -> Result<DraftView> {
    let mut approval_state = Vec::new();
    for name in &draft.accounts {
        let account = vault.account(name)?;
        approval_state.push(AccountApprovals {
            account: name.clone(),
            have: send::valid_approvals(vault, &draft, &account)?,
            need: vault.policy(&account)?.approvals,
        });
    }
    Ok(DraftView {
        draft,
        approval_state,
    })
}

/// Whether the member may see the draft: a grant on one of its accounts, or the admin or
/// auditor role.
fn may_see(vault: &Vault, member: &Member, draft: &Draft) -> Result<bool> {
    for name in &draft.accounts {
        let grant = vault.grant_level(member, vault.account(name)?.id)?;
        if access::decide(&member.actor(), Action::ViewAccount { grant }).is_allowed() {
            return Ok(true);
        }
    }
    Ok(draft.author_id == member.id)
}

/// Asks `question` for each of the draft's accounts; allowed if any account allows it
/// (`any`) or only if all do. Returns the accounts that allowed it.
fn require_on_accounts(
    vault: &Vault,
    member: &Member,
    draft: &Draft,
    any: bool,
    what: &str,
    question: impl Fn(Option<access::Level>) -> Action,
) -> Result<Vec<String>> {
    let mut allowed = Vec::new();
    let mut refusals = Vec::new();
    let mut first: Option<Deny> = None;
    for name in &draft.accounts {
        let grant = vault.grant_level(member, vault.account(name)?.id)?;
        match access::decide(&member.actor(), question(grant)) {
            Decision::Allow => allowed.push(name.clone()),
            Decision::Deny(why) => {
                refusals.push(format!("{name}: {why}"));
                first.get_or_insert(why);
            }
        }
    }
    match first {
        Some(rule) if !any || allowed.is_empty() => Err(Error::Denied {
            actor: member.name.clone(),
            action: what.to_string(),
            reason: refusals.join("; "),
            rule: Box::new(rule),
            hint: None,
        }),
        _ => Ok(allowed),
    }
}

fn pending(draft: &Draft) -> Result<()> {
    if draft.is_pending() {
        Ok(())
    } else {
        Err(Error::Conflict(
            format!("draft {} is {}", draft.id, draft.status),
            Some("only pending drafts can be changed, approved or published".into()),
        ))
    }
}

pub fn draft_create(ctx: &mut Ctx, targets: &str, text: &str) -> Result<DraftView> {
    check_targets(targets)?;
    let state_dir = ctx.settings.provider_state_dir();
    // What validation needs from the networks, fetched before the vault's lock is taken.
    let limits = send::prepare_limits_of(ctx, |v| {
        Ok(resolve_targets(v, targets)?
            .into_iter()
            .map(|a| a.name)
            .collect())
    });
    ctx.change("draft", &format!("account:{targets}"), |tx| {
        let accounts = resolve_targets(tx.vault, targets)?;
        for a in &accounts {
            let grant = tx.vault.grant_level(tx.actor, a.id)?;
            tx.require(Action::Draft { grant }, &format!("draft for {}", a.name))?;
        }
        send::validate_all(tx.vault, &accounts, text, &state_dir, &limits)?;
        let draft = tx.vault.insert_draft(tx.actor, &accounts, text)?;
        tx.detail("draft_id", draft.id.clone());
        tx.detail("text", text);
        tx.detail("text_sha256", draft.text_sha256.clone());
        view(tx.vault, draft)
    })
}

pub fn draft_edit(ctx: &mut Ctx, id: &str, text: &str) -> Result<DraftView> {
    check_id(IdKind::Draft, id)?;
    let state_dir = ctx.settings.provider_state_dir();
    let limits = send::prepare_limits_of(ctx, |v| Ok(v.draft(id)?.accounts));
    ctx.change("draft.edit", &format!("draft:{id}"), |tx| {
        let draft = tx.vault.draft(id)?;
        let author = draft.author_id == tx.actor.id;
        require_on_accounts(
            tx.vault,
            tx.actor,
            &draft,
            false,
            "edit the draft",
            |grant| Action::EditDraft { grant, author },
        )?;
        pending(&draft)?;
        let accounts = resolve_targets(tx.vault, &draft.accounts.join(","))?;
        send::validate_all(tx.vault, &accounts, text, &state_dir, &limits)?;
        tx.vault.set_draft_text(&draft, text)?;
        tx.detail("old_text_sha256", draft.text_sha256.clone());
        tx.detail("approvals_cleared", draft.approvals.len());
        let draft = tx.vault.draft(id)?;
        tx.detail("text", text);
        tx.detail("text_sha256", draft.text_sha256.clone());
        view(tx.vault, draft)
    })
}

pub fn draft_show(ctx: &mut Ctx, id: &str) -> Result<DraftView> {
    check_id(IdKind::Draft, id)?;
    ctx.read("draft.show", &format!("draft:{id}"), |tx| {
        let draft = tx.vault.draft(id)?;
        if !may_see(tx.vault, tx.actor, &draft)? {
            return Err(Error::denied(
                &tx.actor.name,
                "see the draft",
                Deny::DraftHidden,
            ));
        }
        view(tx.vault, draft)
    })
}

#[derive(Debug, Default, Clone)]
pub struct DraftFilter {
    pub account: Option<String>,
    pub mine: bool,
    /// Published, rejected and cancelled ones too.
    pub all: bool,
}

pub fn drafts(ctx: &mut Ctx, filter: &DraftFilter) -> Result<Vec<DraftView>> {
    if let Some(a) = &filter.account {
        check_targets(a)?;
    }
    ctx.read("drafts", "drafts", |tx| {
        if let Some(a) = &filter.account {
            tx.vault.account(a)?;
        }
        let mut out = Vec::new();
        for d in tx.vault.drafts(filter.all)? {
            if filter.mine && d.author_id != tx.actor.id {
                continue;
            }
            if let Some(a) = &filter.account
                && !d.accounts.contains(a)
            {
                continue;
            }
            if may_see(tx.vault, tx.actor, &d)? {
                out.push(view(tx.vault, d)?);
            }
        }
        Ok(out)
    })
}

pub fn approve(ctx: &mut Ctx, id: &str) -> Result<DraftView> {
    check_id(IdKind::Draft, id)?;
    ctx.change("draft.approve", &format!("draft:{id}"), |tx| {
        let draft = tx.vault.draft(id)?;
        let author = draft.author_id == tx.actor.id;
        let on = require_on_accounts(
            tx.vault,
            tx.actor,
            &draft,
            true,
            "approve the draft",
            |grant| Action::Approve { grant, author },
        )?;
        pending(&draft)?;
        tx.vault.approve_draft(&draft, tx.actor)?;
        // What was approved, exactly: the hash binds this approval to these bytes.
        tx.detail("text_sha256", draft.text_sha256.clone());
        tx.detail("counts_for", on);
        view(tx.vault, tx.vault.draft(id)?)
    })
}

/// Rejects a draft (an approver, with a reason), or withdraws it (its author, the reason
/// optional).
pub fn reject(ctx: &mut Ctx, id: &str, reason: Option<&str>) -> Result<DraftView> {
    check_id(IdKind::Draft, id)?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    ctx.change("draft.reject", &format!("draft:{id}"), |tx| {
        let draft = tx.vault.draft(id)?;
        let author = draft.author_id == tx.actor.id;
        require_on_accounts(
            tx.vault,
            tx.actor,
            &draft,
            true,
            "reject the draft",
            |grant| Action::Reject { grant, author },
        )?;
        if !author && reason.is_none() {
            return Err(Error::invalid("reason", "a rejection needs a reason")
                .with_hint("smv reject ID --reason \"why\" (the author reads it)"));
        }
        pending(&draft)?;
        let status = if author {
            DraftStatus::Cancelled
        } else {
            DraftStatus::Rejected
        };
        tx.vault
            .close_draft(&draft, status, &tx.actor.name, reason)?;
        if let Some(r) = reason {
            tx.detail("reason", r);
        }
        tx.detail("text_sha256", draft.text_sha256.clone());
        view(tx.vault, tx.vault.draft(id)?)
    })
}

/// A draft scheduled for publication goes out with the queue, not twice.
fn not_scheduled(vault: &Vault, draft: &Draft) -> Result<()> {
    match vault
        .queue(false)?
        .into_iter()
        .find(|q| q.draft.as_deref() == Some(draft.id.as_str()))
    {
        Some(q) => Err(Error::Conflict(
            format!(
                "draft {} is scheduled for {} ({})",
                draft.id, q.due_at, q.id
            ),
            Some(format!(
                "`smv queue cancel {}` first to publish it now",
                q.id
            )),
        )),
        None => Ok(()),
    }
}

/// Publishes a pending, approved draft now: the stored text, byte for byte.
pub fn publish(ctx: &mut Ctx, id: &str, dry_run: bool) -> Result<Vec<PostResult>> {
    publish_reporting(ctx, id, dry_run, &mut |_| {})
}

/// [`publish`], telling `sent` each target's result as soon as its network has answered.
pub fn publish_reporting(
    ctx: &mut Ctx,
    id: &str,
    dry_run: bool,
    sent: &mut dyn FnMut(&PostResult),
) -> Result<Vec<PostResult>> {
    check_id(IdKind::Draft, id)?;
    let target = format!("draft:{id}");
    let draft = ctx.attempt("publish", &target, |tx| {
        let d = tx.vault.draft(id)?;
        pending(&d)?;
        not_scheduled(tx.vault, &d)?;
        Ok(d)
    })?;
    let mut details = Map::new();
    details.insert("draft_id".into(), draft.id.clone().into());
    details.insert("draft_author".into(), draft.author.clone().into());
    let approvers: Vec<_> = draft
        .approvals
        .iter()
        .filter(|a| a.text_sha256 == draft.text_sha256)
        .map(|a| a.member.clone())
        .collect();
    details.insert("approved_by".into(), approvers.into());
    let job = Job {
        author: Author::Caller,
        accounts: draft.accounts.clone(),
        text: &draft.text,
        rule: Rule::Draft { id: id.to_string() },
        idempotency_key: Some(format!("draft:{id}")),
        fresh_key: false,
        dry_run,
        details,
    };
    let results = send::send(ctx, &job, sent)?;
    let done = results
        .iter()
        .all(|r| matches!(r.status, PostStatus::Posted | PostStatus::AlreadyPosted));
    if done && !dry_run {
        let receipts: Vec<_> = results
            .iter()
            .map(|r| serde_json::json!({"account": r.account, "post_id": r.post_id}))
            .collect();
        // The posts are out and their outcomes logged; closing the draft is bookkeeping.
        // If it fails, publishing again answers from the log without posting twice.
        let closed = ctx.change("draft.publish", &target, |tx| {
            let d = tx.vault.draft(id)?;
            pending(&d)?;
            tx.vault
                .close_draft(&d, DraftStatus::Published, &tx.actor.name, None)?;
            tx.detail("posts", receipts);
            Ok(())
        });
        if let Err(e) = closed {
            ctx.warnings.push(format!(
                "the draft was published but could not be marked so: {e}; `smv publish {id}` again finishes it without posting twice"
            ));
        }
    }
    Ok(results)
}
