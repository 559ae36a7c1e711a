//! Accounts: add, list, remove.

use serde::{Deserialize, Serialize};

use super::{Ctx, check_name, check_unreserved};
use crate::access::{Action, Level};
use crate::providers;
use crate::secret::Secret;
use crate::vault::{Account, DraftStatus, NewAccount, QueueStatus};
use crate::{Error, Result};

pub struct AccountAdd<'a> {
    pub name: &'a str,
    pub provider: &'a str,
    pub handle: Option<&'a str>,
    pub url: Option<&'a str>,
}

/// An account as listed: its record, and the caller's grant on it.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountView {
    #[serde(flatten)]
    pub account: Account,
    /// The acting member's grant (None for admins and auditors who see it by role).
    pub your_level: Option<Level>,
}

pub fn account_add(ctx: &mut Ctx, spec: AccountAdd, secret: Option<Secret>) -> Result<Account> {
    check_name("account", spec.name)?;
    check_unreserved("account", spec.name)?;
    let target = format!("account:{}", spec.name);
    // One canonical form, whoever calls: what is stored is what is sent and redacted.
    let secret = secret.as_ref().map(Secret::canonical).transpose()?;
    ctx.change("account.add", &target, |tx| {
        tx.require(Action::AddAccount, "add accounts")?;
        if tx.vault.group_exists(spec.name)? {
            return Err(Error::Conflict(
                format!("`{}` is a group's name", spec.name),
                Some("groups and accounts share one namespace: choose another name".into()),
            ));
        }
        let provider = providers::lookup(spec.provider)?;
        tx.detail("provider", provider.name);
        match (&secret, provider.needs_secret) {
            (None, true) => {
                return Err(Error::invalid(
                    "secret",
                    format!("a {} account needs its {}", provider.name, provider.secret),
                )
                .with_hint(
                    "give it with the hidden prompt, --secret-stdin or --secret-file FILE",
                ));
            }
            (Some(_), false) => {
                return Err(Error::invalid(
                    "secret",
                    format!("a {} account takes no secret", provider.name),
                ));
            }
            (Some(s), true) => providers::check_secret(provider, s)?,
            _ => {}
        }
        // Credentials go to https only (plain http to this machine): refused now, not at
        // the first post.
        providers::check_urls(provider.name, spec.url, secret.as_ref())?;
        if provider.needs_url && spec.url.is_none() {
            return Err(Error::invalid(
                "account",
                format!("a {} account needs --url (its instance)", provider.name),
            ));
        }
        let account = tx.vault.insert_account(
            NewAccount {
                name: spec.name,
                provider: provider.name,
                handle: spec.handle,
                url: spec.url,
                created_by: &tx.actor.name,
            },
            secret.as_ref(),
        )?;
        if let Some(fp) = &account.secret_fingerprint {
            tx.detail("secret_hmac", fp.as_str());
        }
        match (&secret, expiry_for(provider)) {
            (Some(_), Some(at)) => tx.vault.set_secret_expiry(&account, Some(&at)),
            _ => Ok(account),
        }
    })
}

/// When a secret set now stops working, for networks whose tokens expire on a known schedule.
pub(crate) fn expiry_for(provider: &providers::ProviderInfo) -> Option<String> {
    let days = provider.secret_lifetime_days?;
    Some(crate::clock::stamp(
        crate::clock::now() + chrono::Duration::days(i64::from(days)),
    ))
}

pub fn account_list(ctx: &mut Ctx) -> Result<Vec<AccountView>> {
    ctx.read("account.list", "accounts", |tx| {
        let mut out = Vec::new();
        for account in tx.vault.accounts()? {
            let grant = tx.vault.grant_level(tx.actor, account.id)?;
            if crate::access::decide(&tx.actor.actor(), Action::ViewAccount { grant }).is_allowed()
            {
                out.push(AccountView {
                    account,
                    your_level: grant,
                });
            }
        }
        Ok(out)
    })
}

/// What removing an account changes (and, with `--dry-run`, would change). History is kept:
/// its scheduled posts and pending drafts are cancelled, not deleted (a scheduled post keeps
/// the account's name); its audit entries stay; a token left with no account is revoked.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountRemoval {
    pub account: Account,
    pub dry_run: bool,
    /// Scheduled posts (pending or held) to it: cancelled, kept.
    pub scheduled_cancelled: Vec<String>,
    /// Pending drafts for it (alone or with other accounts): cancelled, kept.
    pub drafts_cancelled: Vec<String>,
    /// Live tokens whose scope names it.
    pub tokens: Vec<TokenLoss>,
    /// Groups it leaves.
    pub groups: Vec<GroupLoss>,
    /// Grants on it, removed.
    pub grants_removed: Vec<GrantLoss>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenLoss {
    pub accessor: String,
    pub owner: String,
    /// It named no other account: revoked (kept as history).
    pub revoked: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GroupLoss {
    pub group: String,
    /// It had no other account: the group is gone.
    pub emptied: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GrantLoss {
    pub member: String,
    pub level: Level,
}

/// Removes an account and its secret (admins), or with `dry_run` says what that would change
/// and changes nothing (not a byte: a read, never saved).
pub fn account_remove(ctx: &mut Ctx, name: &str, dry_run: bool) -> Result<AccountRemoval> {
    check_name("account", name)?;
    let target = format!("account:{name}");
    if dry_run {
        return ctx.read("account.remove", &target, |tx| plan_removal(tx, name, true));
    }
    ctx.change("account.remove", &target, |tx| {
        let report = plan_removal(tx, name, false)?;
        let account = &report.account;
        let why = format!("account {name} removed by {}", tx.actor.name);
        for q in tx.vault.open_queued_on(account)? {
            tx.vault
                .set_queued(&q, QueueStatus::Cancelled, Some(&why), None)?;
        }
        for id in &report.drafts_cancelled {
            let d = tx.vault.draft(id)?;
            tx.vault
                .close_draft(&d, DraftStatus::Cancelled, &tx.actor.name, Some(&why))?;
        }
        for t in report.tokens.iter().filter(|t| t.revoked) {
            let token = tx.vault.token(&t.accessor)?;
            tx.vault.revoke_token(
                &token,
                &tx.actor.name,
                &format!("its only account, {name}, was removed"),
            )?;
        }
        if let Some(fp) = &account.secret_fingerprint {
            tx.detail("secret_hmac", fp.as_str());
        }
        tx.detail("scheduled_cancelled", report.scheduled_cancelled.clone());
        tx.detail("drafts_cancelled", report.drafts_cancelled.clone());
        tx.detail(
            "tokens_revoked",
            report
                .tokens
                .iter()
                .filter(|t| t.revoked)
                .map(|t| t.accessor.clone())
                .collect::<Vec<_>>(),
        );
        tx.vault.remove_account(account)?;
        Ok(report)
    })
}

/// What removing `name` changes, read from the vault as it is (nothing changed here).
fn plan_removal(tx: &mut super::Tx, name: &str, dry_run: bool) -> Result<AccountRemoval> {
    tx.require(Action::RemoveAccount, "remove accounts")?;
    let account = tx.vault.account(name)?;
    let scheduled_cancelled = tx
        .vault
        .open_queued_on(&account)?
        .into_iter()
        .map(|q| q.id)
        .collect();
    let drafts_cancelled = tx
        .vault
        .drafts(false)?
        .into_iter()
        .filter(|d| d.accounts.iter().any(|a| a == name))
        .map(|d| d.id)
        .collect();
    let now = crate::clock::now_stamp();
    let tokens = tx
        .vault
        .tokens()?
        .into_iter()
        .filter(|t| t.is_live(&now) && t.accounts.iter().any(|a| a == name))
        .map(|t| TokenLoss {
            revoked: t.accounts.iter().all(|a| a == name),
            accessor: t.accessor,
            owner: t.owner,
        })
        .collect();
    let groups = tx
        .vault
        .groups()?
        .into_iter()
        .filter(|(_, accounts)| accounts.iter().any(|a| a == name))
        .map(|(group, accounts)| GroupLoss {
            group,
            emptied: accounts.iter().all(|a| a == name),
        })
        .collect();
    let grants_removed = tx
        .vault
        .grants(None)?
        .into_iter()
        .filter(|g| g.account == name)
        .map(|g| GrantLoss {
            member: g.member,
            level: g.level,
        })
        .collect();
    Ok(AccountRemoval {
        account,
        dry_run,
        scheduled_cancelled,
        drafts_cancelled,
        tokens,
        groups,
        grants_removed,
    })
}

/// `smv account set NAME --handle … --url …`: None leaves a field as it is; an empty
/// string removes it.
pub fn account_set(
    ctx: &mut Ctx,
    name: &str,
    handle: Option<&str>,
    url: Option<&str>,
    api_version: Option<&str>,
) -> Result<Account> {
    check_name("account", name)?;
    if handle.is_none() && url.is_none() && api_version.is_none() {
        return Err(
            Error::invalid("account set", "nothing to change").with_hint(
                "smv account set NAME --handle @new --url https://… --api-version VERSION",
            ),
        );
    }
    for (what, v) in [("handle", handle), ("url", url)] {
        if let Some(v) = v
            && (v.len() > 512 || v.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                what,
                "it must be one line of at most 512 bytes",
            ));
        }
    }
    ctx.change("account.set", &format!("account:{name}"), |tx| {
        let account = tx.vault.account(name)?;
        let provider = providers::lookup(&account.provider)?;
        let redirects = url.is_some_and(|u| Some(u) != account.url.as_deref())
            && account.secret_fingerprint.is_some();
        tx.require(
            Action::EditAccount {
                redirects_secret: redirects,
                custodian: tx.actor.is_custodian(),
            },
            &format!("change account `{name}`"),
        )?;
        if provider.needs_url && url == Some("") {
            return Err(Error::invalid(
                "url",
                format!("a {} account needs its URL", provider.name),
            ));
        }
        fn none_if_empty(v: Option<&str>) -> Option<Option<&str>> {
            v.map(|v| (!v.is_empty()).then_some(v))
        }
        if let Some(h) = handle {
            tx.detail("handle", h);
            tx.detail("old_handle", account.handle.clone());
        }
        if let Some(u) = url {
            tx.detail("url", u);
            tx.detail("old_url", account.url.clone());
        }
        if let Some(v) = api_version {
            let pinned = providers::versions::pinned(&account.provider).ok_or_else(|| {
                Error::invalid(
                    "api-version",
                    format!("smv pins no API version of {} accounts", account.provider),
                )
                .with_hint("only LinkedIn and Facebook accounts take --api-version")
            })?;
            if !v.is_empty() && !providers::versions::well_formed(&account.provider, v) {
                return Err(Error::invalid(
                    "api-version",
                    format!(
                        "`{}` is not a {} API version",
                        v.escape_debug(),
                        account.provider
                    ),
                )
                .with_hint(format!("expected {}", pinned.shape)));
            }
            tx.detail("api_version", v);
            tx.detail("old_api_version", account.api_version.clone());
            tx.vault
                .set_account_api_version(&account, (!v.is_empty()).then_some(v))?;
        }
        tx.vault
            .set_account_details(&account, none_if_empty(handle), none_if_empty(url))
    })
}

/// `smv account rename OLD NEW`: the account keeps its id, and with it its grants, groups,
/// drafts, scheduled posts, policy, freezes and tokens; the old name stays its own (the
/// audit log's entries under it are its history: `smv posts --account NEW` finds them).
pub fn account_rename(ctx: &mut Ctx, old: &str, new: &str) -> Result<Account> {
    check_name("account", old)?;
    check_name("account", new)?;
    check_unreserved("account", new)?;
    ctx.change("account.rename", &format!("account:{old}"), |tx| {
        tx.require(
            Action::EditAccount {
                redirects_secret: false,
                custodian: tx.actor.is_custodian(),
            },
            "rename accounts",
        )?;
        let account = tx.vault.account(old)?;
        if old == new {
            return Err(Error::invalid(
                "account rename",
                "the new name is the old one",
            ));
        }
        if tx.vault.account(new).is_ok() {
            return Err(Error::AlreadyExists {
                kind: "account",
                name: new.into(),
            });
        }
        if tx.vault.group_exists(new)? {
            return Err(Error::Conflict(
                format!("`{new}` is a group's name"),
                Some("groups and accounts share one namespace: choose another name".into()),
            ));
        }
        if let Some(now) = tx.vault.name_is_former(new)?
            && now != old
        {
            return Err(crate::vault::former_name(new, &now));
        }
        tx.detail("new_name", new);
        tx.vault.rename_account(&account, new)
    })
}
