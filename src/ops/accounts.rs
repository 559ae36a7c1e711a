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
        Ok(account)
    })
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
