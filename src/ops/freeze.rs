//! The crisis switch (`smv freeze`, `unfreeze`), account policies (`smv policy`) and
//! `smv status`.
//!
//! A freeze is a row in the vault; every post path reads it under the posting gate (see
//! [`super::send`]), so it stops posts from the moment `smv freeze` returns.

use serde::{Deserialize, Serialize};

use std::collections::HashSet;

use super::outcomes::{self, Settled, Why};
use super::post::resolve_targets;
use super::{Ctx, check_name, check_targets};
use crate::access::{self, Action, Level};
use crate::vault::{Freeze, Policy, QueueStatus};
use crate::{Error, Result, clock};

/// What to freeze or unfreeze: accounts (and groups), or every account.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Accounts and groups, comma-separated (`a,b,group`).
    Account(String),
    All,
}

impl Scope {
    fn check(&self) -> Result<()> {
        match self {
            Scope::Account(a) => check_targets(a),
            Scope::All => Ok(()),
        }
    }

    fn target(&self) -> String {
        match self {
            Scope::Account(a) => format!("account:{a}"),
            Scope::All => "account:*".into(),
        }
    }
}

/// Freezes every account of the scope (accounts and groups: each of their accounts), in one
/// change: the rule is asked for each account first, and either all are frozen or none.
pub fn freeze(
    ctx: &mut Ctx,
    scope: &Scope,
    reason: &str,
    for_seconds: Option<i64>,
) -> Result<Vec<Freeze>> {
    if reason.trim().is_empty() {
        return Err(Error::invalid("reason", "a freeze needs a reason")
            .with_hint("smv freeze ACCOUNT --reason \"why\" (it is shown to everyone refused)"));
    }
    scope.check()?;
    let until = for_seconds.map(|s| clock::stamp(clock::now() + chrono::Duration::seconds(s)));
    ctx.change("freeze", &scope.target(), |tx| {
        let accounts = match scope {
            Scope::Account(targets) => {
                let accounts = resolve_targets(tx.vault, targets)?;
                for a in &accounts {
                    let grant = tx.vault.grant_level(tx.actor, a.id)?;
                    tx.require(Action::Freeze { grant }, &format!("freeze {}", a.name))?;
                }
                accounts.into_iter().map(Some).collect()
            }
            Scope::All => {
                tx.require(Action::FreezeAll, "freeze every account")?;
                vec![None]
            }
        };
        let mut out = Vec::new();
        for account in &accounts {
            out.push(tx.vault.insert_freeze(
                account.as_ref(),
                reason,
                &tx.actor.name,
                until.as_deref(),
            )?);
        }
        tx.detail("reason", reason);
        if let Some(u) = &until {
            tx.detail("until", u.clone());
        }
        if out.len() > 1 {
            tx.detail(
                "accounts",
                out.iter()
                    .filter_map(|f| f.account.clone())
                    .collect::<Vec<_>>(),
            );
        }
        Ok(out)
    })
}

pub fn unfreeze(ctx: &mut Ctx, scope: &Scope) -> Result<Vec<Freeze>> {
    scope.check()?;
    let lifted = ctx.change("unfreeze", &scope.target(), |tx| {
        tx.require(Action::Unfreeze, "lift a freeze")?;
        let accounts = match scope {
            Scope::Account(targets) => resolve_targets(tx.vault, targets)?
                .into_iter()
                .map(Some)
                .collect(),
            Scope::All => vec![None],
        };
        let mut lifted = Vec::new();
        for account in &accounts {
            lifted.extend(tx.vault.lift_freezes(account.as_ref(), &tx.actor.name)?);
        }
        if lifted.is_empty() {
            return Err(Error::Conflict(
                match scope {
                    Scope::Account(a) => format!("{a} has no freeze of its own to lift"),
                    Scope::All => "nothing is frozen".into(),
                },
                Some("`smv status` shows what is frozen".into()),
            ));
        }
        tx.detail(
            "lifted",
            lifted
                .iter()
                .map(|f| f.account.clone().unwrap_or_else(|| "*".into()))
                .collect::<Vec<_>>(),
        );
        Ok(lifted)
    })?;
    if let Scope::Account(targets) = scope {
        let still = ctx.read("status", "vault", |tx| {
            let mut still = None;
            for a in resolve_targets(tx.vault, targets)? {
                if let Some(f) = tx.vault.freeze_on(&a)? {
                    still = Some((a.name, f));
                    break;
                }
            }
            Ok(still)
        })?;
        if let Some((name, f)) = still {
            ctx.warnings.push(format!(
                "{name} is still frozen by the freeze on every account ({}); `smv unfreeze --all` lifts it",
                f.describe()
            ));
        }
    }
    Ok(lifted)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub frozen: Vec<Freeze>,
    /// Pending drafts in the vault (`smv drafts` lists the ones the member may see).
    pub drafts_pending: usize,
    pub queued: usize,
    /// Scheduled posts that came due while frozen: they wait for `smv queue release`.
    pub held: usize,
    /// Accounts whose policy is strict: every post needs a second person's approval,
    /// approvers' and admins' too.
    #[serde(default)]
    pub strict: Vec<String>,
    /// Posts whose outcome is unknown (they may be live), on the accounts the member may
    /// see, oldest first: each waits for `smv posts resolve SEQ`.
    #[serde(default)]
    pub unknown: Vec<UnknownPost>,
    /// Lines of the outcomes journal that were refused (not written with the vault's key:
    /// no valid MAC, or not the post's intent) and moved to `<vault>.outcomes.rejected`:
    /// nothing in them was recorded. Listed for admins and auditors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_outcomes: Vec<RejectedOutcome>,
}

/// A refused line of the outcomes journal, as `smv status` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedOutcome {
    /// When it was moved aside.
    pub at: String,
    pub why: String,
    /// The line as found (capped): what it claimed, for inspection. Not a record.
    pub line: String,
}

/// A post whose outcome is unknown, as `smv status` lists it: enough to recognise it on
/// the account (the start of its text) and the command that settles it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnknownPost {
    /// The audit entry of its intent: what `smv posts resolve` takes.
    pub intent_seq: u64,
    pub account: String,
    /// The first [`TEXT_START`] characters of its text (`…` when cut), as sent: escaped
    /// when shown. (Only the members who may see the account see it.)
    #[serde(default)]
    pub text_start: String,
    /// Its idempotency key, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When it was sent (its intent's time).
    pub since: String,
    pub by: String,
    #[serde(flatten)]
    pub why: Why,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
}

/// How much of an unknown post's text `smv status` shows.
pub const TEXT_START: usize = 40;

fn text_start(text: &str) -> String {
    let mut start: String = text.chars().take(TEXT_START).collect();
    if text.chars().nth(TEXT_START).is_some() {
        start.push('…');
    }
    start
}

pub fn status(ctx: &mut Ctx) -> Result<Status> {
    // The vault in a short look (and which accounts the member may see), the log after it.
    let (mut status, visible) = ctx.read("status", "vault", |tx| {
        let queue = tx.vault.queue(false)?;
        let mut strict = Vec::new();
        let mut visible = HashSet::new();
        for a in tx.vault.accounts()? {
            if tx.vault.policy(&a)?.strict {
                strict.push(a.name.clone());
            }
            let grant = tx.vault.grant_level(tx.actor, a.id)?;
            if access::decide(&tx.actor.actor(), Action::ViewAccount { grant }).is_allowed() {
                visible.insert(a.name);
            }
        }
        // A removed account's unknown posts: for admins and auditors.
        let everything = tx.actor.cap.is_none()
            && matches!(tx.actor.role, access::Role::Admin | access::Role::Auditor);
        let status = Status {
            frozen: tx.vault.active_freezes()?,
            drafts_pending: tx.vault.drafts(false)?.len(),
            queued: queue
                .iter()
                .filter(|q| q.status == QueueStatus::Pending)
                .count(),
            held: queue
                .iter()
                .filter(|q| q.status == QueueStatus::Held)
                .count(),
            strict,
            unknown: Vec::new(),
            rejected_outcomes: Vec::new(),
        };
        Ok((status, (everything, visible)))
    })?;
    let (everything, visible) = visible;
    let log = ctx.store.reader()?;
    status.unknown = outcomes::unresolved(&*log)?
        .into_iter()
        .filter(|a| everything || visible.contains(a.account()))
        .map(|a| UnknownPost {
            intent_seq: a.intent.seq,
            account: a.account().to_string(),
            text_start: text_start(a.detail("text").unwrap_or_default()),
            idempotency_key: a.detail("idempotency_key").map(str::to_string),
            since: a.intent.time.clone(),
            by: a.intent.actor.clone(),
            why: match a.settled {
                Settled::Unknown(why) => why,
                _ => Why::NoOutcome,
            },
            queue_id: a.detail("queue_id").map(str::to_string),
            draft_id: a.detail("draft_id").map(str::to_string),
        })
        .collect();
    if everything {
        status.rejected_outcomes = ctx
            .store
            .rejected_outcomes()
            .into_iter()
            .map(|r| RejectedOutcome {
                at: r.at,
                why: r.why,
                line: r.line,
            })
            .collect();
    }
    Ok(status)
}

/// What `smv policy set` changes; `None` leaves a setting as it is.
#[derive(Debug, Default, Clone)]
pub struct PolicyChange {
    pub approvals: Option<u32>,
    /// `--strict` / `--no-strict`: the two-person rule for everyone, or as before.
    pub strict: Option<bool>,
    /// `Some(None)` removes the rate guard.
    pub rate: Option<Option<(u32, i64)>>,
}

pub fn policy_set(ctx: &mut Ctx, account: &str, change: &PolicyChange) -> Result<Policy> {
    check_name("account", account)?;
    if change.approvals.is_none() && change.rate.is_none() && change.strict.is_none() {
        return Err(Error::invalid("policy", "nothing to change").with_hint(
            "smv policy set ACCOUNT --approvals N, --strict / --no-strict, and/or --max-posts N --per 1h (or --no-rate-guard)",
        ));
    }
    if change.approvals.is_some_and(|n| n > 10) {
        return Err(Error::invalid(
            "approvals",
            "at most 10 approvals can be required",
        ));
    }
    let policy = ctx.change("policy.set", &format!("account:{account}"), |tx| {
        let a = tx.vault.account(account)?;
        let grant = tx.vault.grant_level(tx.actor, a.id)?;
        tx.require(
            Action::SetPolicy { grant },
            &format!("set {account}'s policy"),
        )?;
        let old = tx.vault.policy(&a)?;
        // Approvals mean approvals (issue 24): a policy that starts to need approvals binds
        // everyone, approvers and admins included, unless `--no-strict` says otherwise. A
        // policy that needed approvals already keeps what it was (those made before strict
        // was the default stay exempt, and say so); one that needs none has nothing to bind.
        let approvals_after = change.approvals.unwrap_or(old.approvals);
        let strict = match change.strict {
            Some(s) => s,
            None if old.approvals == 0 => approvals_after > 0,
            None if approvals_after == 0 => false,
            None => old.strict,
        };
        // Strict with no approval would hold everyone to nothing: it needs one at least.
        let approvals = match change.approvals {
            Some(0) if strict => {
                return Err(Error::invalid(
                    "policy",
                    "a strict policy needs at least 1 approval",
                )
                .with_hint(format!(
                    "`smv policy set {account} --no-strict --approvals 0` allows direct posting again"
                )));
            }
            Some(n) => n,
            None if strict => old.approvals.max(1),
            None => old.approvals,
        };
        let rate = match change.rate {
            Some(r) => r,
            None => old.max_posts.zip(old.per_seconds),
        };
        tx.vault
            .set_policy(&a, approvals, strict, rate, &tx.actor.name)?;
        tx.detail("approvals", approvals);
        tx.detail("strict", strict);
        if let Some((max, per)) = rate {
            tx.detail("max_posts", max);
            tx.detail("per", clock::format_duration(per));
        }
        tx.vault.policy(&a)
    })?;
    // Say so when no one could ever give the approvals the policy asks for.
    let approvers = ctx.read("policy", &format!("account:{account}"), |tx| {
        let a = tx.vault.account(account)?;
        let mut n = 0;
        for m in tx.vault.members()? {
            if m.active && tx.vault.grant_level(&m, a.id)? >= Some(Level::Approve) {
                n += 1;
            }
        }
        Ok(n)
    })?;
    if approvers < policy.approvals {
        ctx.warnings.push(format!(
            "{account} needs {} approvals, but only {approvers} members hold `approve` on it: no draft can be published until more do",
            policy.approvals
        ));
    }
    Ok(policy)
}

pub fn policy_list(ctx: &mut Ctx) -> Result<Vec<Policy>> {
    ctx.read("policy", "accounts", |tx| {
        tx.vault
            .accounts()?
            .iter()
            .map(|a| tx.vault.policy(a))
            .collect()
    })
}
