//! Accounts: add, list, remove.

use serde::{Deserialize, Serialize};

use super::{Ctx, check_name, check_unreserved};
use crate::access::{Action, Level};
use crate::providers;
use crate::secret::Secret;
use crate::vault::{Account, NewAccount};
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
            (Some(s), true) => s.require_shape(provider.secret_shape, provider.secret)?,
            _ => {}
        }
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

pub fn account_remove(ctx: &mut Ctx, name: &str) -> Result<Account> {
    check_name("account", name)?;
    ctx.change("account.remove", &format!("account:{name}"), |tx| {
        tx.require(Action::RemoveAccount, "remove accounts")?;
        let account = tx.vault.account(name)?;
        if let Some(fp) = &account.secret_fingerprint {
            tx.detail("secret_hmac", fp.as_str());
        }
        tx.vault.remove_account(&account)?;
        Ok(account)
    })
}

/// `smv account set NAME --handle … --url …`: None leaves a field as it is; an empty
/// string removes it.
pub fn account_set(
    ctx: &mut Ctx,
    name: &str,
    handle: Option<&str>,
    url: Option<&str>,
) -> Result<Account> {
    check_name("account", name)?;
    if handle.is_none() && url.is_none() {
        return Err(Error::invalid("account set", "nothing to change")
            .with_hint("smv account set NAME --handle @new --url https://…"));
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
