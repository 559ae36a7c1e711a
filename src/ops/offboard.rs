//! Offboarding: a leaver's access gone in one step, and the report a manager can file.
//!
//! Everything happens in one vault change, so it is one atomic file replacement: the member
//! is disabled, their grants, drafts, scheduled posts and approvals are dealt with, and (for a
//! custodian) the vault is re-encrypted without their key, all together or not at all. A run
//! that was interrupted (before the file was replaced, or after it but before the audit
//! outcome) is finished by running the same command again: a disabled member is not an
//! error here, only "what is left to do".

use serde::Serialize;

use super::{Ctx, Tx};
use crate::access::{Action, Role};
use crate::secret::Secret;
use crate::vault::{DraftStatus, Grant, Member, QueueStatus, Token, TokenKind};
use crate::{Error, Result, clock};

/// What happened (or, for a dry run, would happen) to one of the leaver's drafts or
/// scheduled posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Now the `--to` member's, with no approvals: it needs fresh ones.
    HandedOver,
    Cancelled,
}

#[derive(Debug, Serialize)]
pub struct DraftMove {
    pub draft: String,
    pub accounts: Vec<String>,
    pub disposition: Disposition,
    /// Approvals it had, which no longer count.
    pub approvals_dropped: usize,
    /// Something the new author should know (a grant they lack).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct QueueMove {
    pub id: String,
    pub account: String,
    pub due_at: String,
    pub disposition: Disposition,
}

/// What happened to an API token the leaver owned or created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFate {
    Revoked,
    /// A CI token now owned by the `--to` member, with a new secret: the job keeps working
    /// once it has the new one.
    HandedOver,
    /// A CI token the leaver created for someone else: it stays theirs, with a new secret.
    Kept,
}

#[derive(Debug, Serialize)]
pub struct TokenMove {
    pub accessor: String,
    pub name: String,
    pub kind: TokenKind,
    /// The owner after offboarding.
    pub owner: String,
    pub fate: TokenFate,
    /// The token lives on with a new secret: the one the leaver saw stopped working in the
    /// same change. The new one is in [`OffboardReport::issued`], never in this report.
    pub new_secret: bool,
    /// A CI token revoked because nobody was there to receive a new secret: the command
    /// that makes its replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reissue: Option<String>,
    /// Where the CLI wrote the new secret (`--handover-dir`), once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover_file: Option<String>,
}

/// A token's new secret, for the person running the offboarding to pass on. Never
/// serialized: not in `--json` output, not in the audit log (`Debug` shows `[REDACTED]`).
#[derive(Debug)]
pub struct IssuedToken {
    pub accessor: String,
    pub name: String,
    pub owner: String,
    pub token: Secret,
}

/// A secret the leaver could decrypt, and how to replace it.
#[derive(Debug, Serialize)]
pub struct Rotation {
    pub account: String,
    pub provider: String,
    pub secret_set_at: Option<String>,
    pub command: String,
}

#[derive(Debug, Serialize)]
pub struct OffboardReport {
    pub member: String,
    pub role: Role,
    pub dry_run: bool,
    /// The member was already disabled (an interrupted run, or `member remove`): this run
    /// finished whatever was left.
    pub already_disabled: bool,
    pub handed_to: Option<String>,
    pub grants_removed: Vec<Grant>,
    pub drafts: Vec<DraftMove>,
    pub scheduled: Vec<QueueMove>,
    /// Pending drafts whose approval by the leaver was withdrawn: they need a new one.
    pub approvals_withdrawn: Vec<String>,
    /// API tokens the leaver owned or created. He has seen each of them: one that lives on
    /// (handed over or kept) should be replaced (`smv token create`, update the job's
    /// secret, `smv token revoke`).
    pub tokens: Vec<TokenMove>,
    /// Whether the member ever held a key to the vault.
    pub was_custodian: bool,
    /// Whether this run removed their key (the vault is re-encrypted without it).
    pub key_removed: bool,
    /// Who the vault is encrypted to afterwards.
    /// The audit signing key and the fingerprint key were replaced in the same change (a
    /// custodian left): `smv audit pubkey --all` lists the old key with its era.
    pub audit_key_rotated: bool,
    pub remaining_custodians: Vec<String>,
    /// Accounts whose current secret the member could decrypt: rotate these.
    pub secrets_exposed: Vec<String>,
    pub rotate: Vec<Rotation>,
    /// The new secrets of the CI tokens that live on (see [`TokenMove::new_secret`]).
    #[serde(skip)]
    pub issued: Vec<IssuedToken>,
}

pub struct OffboardOptions<'a> {
    pub member: &'a str,
    /// Who receives the pending drafts and scheduled posts; None cancels them.
    pub to: Option<&'a str>,
    pub dry_run: bool,
    /// `member remove`: refuse a member who is already disabled instead of finishing up.
    pub require_active: bool,
    /// Someone is there to receive new token secrets (a `--handover-dir`, or a terminal):
    /// the CI tokens the leaver has seen that live on get new ones. Without it they are
    /// revoked and listed for re-issue.
    pub reissue: bool,
}

pub fn offboard(ctx: &mut Ctx, opts: OffboardOptions) -> Result<OffboardReport> {
    super::check_name("member", opts.member)?;
    if let Some(to) = opts.to {
        super::check_name("member", to)?;
    }
    let target = format!("member:{}", opts.member);
    let action = if opts.require_active {
        "member.remove"
    } else {
        "member.offboard"
    };
    if opts.dry_run {
        // The same work on the in-memory copy, which a read never saves.
        ctx.read(action, &target, |tx| run(tx, &opts))
    } else {
        ctx.change(action, &target, |tx| run(tx, &opts))
    }
}

fn run(tx: &mut Tx, opts: &OffboardOptions) -> Result<OffboardReport> {
    tx.require(Action::ManageMembers, "offboard members")?;
    let member = tx.vault.member(opts.member)?;
    if opts.require_active && !member.active {
        return Err(Error::Conflict(
            format!("member `{}` is already removed", member.name),
            Some(format!(
                "`smv offboard {}` finishes anything left (drafts, scheduled posts) and prints the report",
                member.name
            )),
        ));
    }
    let to = opts
        .to
        .map(|name| recipient_of_work(tx, &member, name))
        .transpose()?;
    if member.active {
        refuse_unsafe_removal(tx, &member)?;
    }

    let grants_removed = tx.vault.grants(Some(&member))?;
    let key_removed = member.is_custodian();
    tx.vault.disable_member(&member)?;
    // The audit signing key and the fingerprint key leave with the custodian: new keys in
    // this same change, sealed to the custodians who remain (audit::rotation).
    let audit_key_rotated = key_removed;
    if audit_key_rotated {
        crate::audit::rotation::rotate(tx.vault)?;
    }

    let mut drafts = Vec::new();
    for d in tx.vault.pending_drafts_by(&member)? {
        let approvals_dropped = d.approvals.len();
        let (disposition, note) = match &to {
            Some(heir) => {
                tx.vault.hand_over_draft(&d, heir)?;
                (
                    Disposition::HandedOver,
                    missing_grants(tx, heir, &d.accounts)?,
                )
            }
            None => {
                let why = format!("author {} offboarded", member.name);
                tx.vault
                    .close_draft(&d, DraftStatus::Cancelled, &tx.actor.name, Some(&why))?;
                (Disposition::Cancelled, None)
            }
        };
        drafts.push(DraftMove {
            draft: d.id,
            accounts: d.accounts,
            disposition,
            approvals_dropped,
            note,
        });
    }

    let mut scheduled = Vec::new();
    for q in tx.vault.open_queued_by(&member)? {
        let disposition = match &to {
            Some(heir) => {
                let note = format!(
                    "handed over from {} (offboarded): held until released",
                    member.name
                );
                tx.vault.hand_over_queued(&q, heir, &note)?;
                Disposition::HandedOver
            }
            None => {
                let note = format!("author {} offboarded", member.name);
                tx.vault
                    .set_queued(&q, QueueStatus::Cancelled, Some(&note), None)?;
                Disposition::Cancelled
            }
        };
        scheduled.push(QueueMove {
            id: q.id,
            account: q.account,
            due_at: q.due_at,
            disposition,
        });
    }

    let approvals_withdrawn = tx.vault.withdraw_approvals(&member)?;
    let (tokens, mut issued) = settle_tokens(tx, &member, to.as_ref(), opts.reissue)?;
    if opts.dry_run {
        // The dry run's copy of the vault is never saved: its new secrets are nobody's.
        issued.clear();
    }

    let exposed = tx.vault.readable_by(&member)?;
    let rotate: Vec<Rotation> = exposed
        .iter()
        .map(|a| Rotation {
            account: a.name.clone(),
            provider: a.provider.clone(),
            secret_set_at: a.secret_set_at.clone(),
            command: rotate_command(&a.name),
        })
        .collect();
    let secrets_exposed: Vec<String> = exposed.into_iter().map(|a| a.name).collect();
    let remaining_custodians: Vec<String> =
        tx.vault.custodians()?.into_iter().map(|m| m.name).collect();

    let moved = |d: Disposition| -> Vec<&str> {
        drafts
            .iter()
            .filter(|m| m.disposition == d)
            .map(|m| m.draft.as_str())
            .collect()
    };
    let handed_drafts = moved(Disposition::HandedOver);
    let cancelled_drafts = moved(Disposition::Cancelled);
    tx.detail("already_disabled", !member.active);
    if let Some(heir) = &to {
        tx.detail("to", heir.name.as_str());
    }
    tx.detail("grants_removed", grants_removed.len());
    tx.detail("drafts_handed_over", handed_drafts);
    tx.detail("drafts_cancelled", cancelled_drafts);
    tx.detail(
        "scheduled",
        scheduled
            .iter()
            .map(|q| serde_json::json!({"id": q.id, "disposition": q.disposition}))
            .collect::<Vec<_>>(),
    );
    tx.detail("approvals_withdrawn", approvals_withdrawn.clone());
    tx.detail(
        "tokens",
        tokens
            .iter()
            .map(|t| serde_json::json!({"accessor": t.accessor, "fate": t.fate, "owner": t.owner, "new_secret": t.new_secret}))
            .collect::<Vec<_>>(),
    );
    tx.detail("was_custodian", member.ever_custodian());
    tx.detail("key_removed", key_removed);
    tx.detail("audit_key_rotated", audit_key_rotated);
    tx.detail("secrets_exposed", secrets_exposed.clone());

    Ok(OffboardReport {
        member: member.name.clone(),
        role: member.role,
        dry_run: opts.dry_run,
        already_disabled: !member.active,
        handed_to: to.map(|m| m.name),
        grants_removed,
        drafts,
        scheduled,
        approvals_withdrawn,
        tokens,
        was_custodian: member.ever_custodian(),
        key_removed,
        audit_key_rotated,
        remaining_custodians,
        secrets_exposed,
        rotate,
        issued,
    })
}

/// Personal tokens the leaver owned or created are revoked. A CI token he owned goes to the
/// heir (so a release job does not break silently), or is revoked without `--to`; a CI token
/// he created for someone else stays with its owner. He has seen every one of them, so one
/// that lives on gets a new secret in this same change (the old one dies with it), for the
/// person offboarding him to pass on; with nobody there to receive it (`reissue` false),
/// it is revoked instead and listed with the command that replaces it.
fn settle_tokens(
    tx: &Tx,
    leaver: &Member,
    heir: Option<&Member>,
    reissue: bool,
) -> Result<(Vec<TokenMove>, Vec<IssuedToken>)> {
    let reason = format!("{} offboarded", leaver.name);
    let mut out = Vec::new();
    let mut issued = Vec::new();
    for t in tx.vault.open_tokens_of(leaver)? {
        let owned = t.owner_id == leaver.id;
        let lives_on = match (t.kind, owned, heir) {
            (TokenKind::Ci, true, Some(h)) => Some((TokenFate::HandedOver, h.clone())),
            (TokenKind::Ci, false, _) => Some((TokenFate::Kept, tx.vault.member(&t.owner)?)),
            _ => None,
        };
        let (fate, owner, new_secret, command) = match lives_on {
            Some((fate, owner)) if reissue => {
                let token = tx.vault.reissue_token(&t, &owner, &tx.actor.name)?;
                issued.push(IssuedToken {
                    accessor: t.accessor.clone(),
                    name: t.name.clone(),
                    owner: owner.name.clone(),
                    token,
                });
                (fate, owner.name, true, None)
            }
            Some((_, owner)) => {
                tx.vault.revoke_token(&t, &tx.actor.name, &reason)?;
                let command = reissue_command(&t, &owner.name);
                (TokenFate::Revoked, owner.name, false, Some(command))
            }
            None => {
                tx.vault.revoke_token(&t, &tx.actor.name, &reason)?;
                (TokenFate::Revoked, t.owner.clone(), false, None)
            }
        };
        out.push(TokenMove {
            accessor: t.accessor,
            name: t.name,
            kind: t.kind,
            owner,
            fate,
            new_secret,
            reissue: command,
            handover_file: None,
        });
    }
    Ok((out, issued))
}

/// The `smv token create` that replaces a revoked CI token: same name, accounts and level,
/// for `owner`, living as long as it had left.
pub(super) fn reissue_command(t: &Token, owner: &str) -> String {
    let left = chrono::DateTime::parse_from_rfc3339(&t.expires_at)
        .map(|e| (e.with_timezone(&chrono::Utc) - clock::now()).num_seconds())
        .unwrap_or(0);
    let days = (left.max(1) + 86_399) / 86_400;
    format!(
        "smv token create --name {} --for {owner} --account {} --level {} --ci --expires {days}d",
        t.name,
        t.accounts.join(","),
        t.level
    )
}

/// The `--to` member: active, not the leaver, and someone who can hold grants.
fn recipient_of_work(tx: &Tx, leaver: &Member, name: &str) -> Result<Member> {
    let heir = tx.vault.member(name)?;
    if heir.id == leaver.id {
        return Err(
            Error::invalid("--to", "the leaver cannot receive their own drafts")
                .with_hint("name the colleague who takes over, or leave out --to to cancel them"),
        );
    }
    if !heir.active {
        return Err(Error::Conflict(
            format!("`{name}` is removed and cannot take over drafts"),
            Some("name an active member with --to".into()),
        ));
    }
    if heir.role == Role::Auditor {
        return Err(Error::Conflict(
            format!("`{name}` is an auditor, and auditors hold no grants"),
            Some("name a member or admin with --to".into()),
        ));
    }
    Ok(heir)
}

/// The refusals `member remove` always had: never leave the vault without a custodian or an
/// admin, and never let smv lose the ability to verify the file it writes.
fn refuse_unsafe_removal(tx: &Tx, member: &Member) -> Result<()> {
    let name = &member.name;
    if member.is_custodian() && tx.vault.custodians()?.len() <= 1 {
        return Err(Error::Conflict(
            format!("`{name}` is the last custodian: nobody could open the vault without them"),
            Some(format!(
                "add another custodian first: `smv member add NAME --custodian age1…`, then offboard `{name}`"
            )),
        ));
    }
    if member.id == tx.actor.id {
        return Err(Error::Conflict(
            "you cannot remove yourself".into(),
            Some("another admin must do it: smv needs a remaining custodian to re-encrypt and verify the vault".into()),
        ));
    }
    let admins = tx
        .vault
        .members()?
        .into_iter()
        .filter(|m| m.active && m.role == Role::Admin)
        .count();
    if member.role == Role::Admin && admins <= 1 {
        return Err(Error::Conflict(
            format!("`{name}` is the last admin"),
            Some("make another member an admin first".into()),
        ));
    }
    Ok(())
}

fn missing_grants(tx: &Tx, heir: &Member, accounts: &[String]) -> Result<Option<String>> {
    let mut missing = Vec::new();
    for name in accounts {
        let account = tx.vault.account(name)?;
        if tx.vault.grant_level(heir, account.id)?.is_none() {
            missing.push(name.as_str());
        }
    }
    Ok((!missing.is_empty()).then(|| {
        format!(
            "{} holds no grant on {}: grant one before they can publish it",
            heir.name,
            missing.join(", ")
        )
    }))
}

/// The exact command that replaces an account's secret. (`--auto` depends on the kind of
/// credential as well as the network, so the report does not promise it: see
/// docs/offboarding.md.)
pub fn rotate_command(account: &str) -> String {
    format!("smv rotate {account}")
}
