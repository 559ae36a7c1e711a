//! Account groups and `smv account check`.

use serde::Serialize;
use serde_json::Map;

use super::{Ctx, check_name, check_targets, check_unreserved};
use crate::access::{Action, Role};
use crate::audit::Outcome;
use crate::providers::{self, Target};
use crate::{Error, Result};

#[derive(Debug, Serialize)]
pub struct Group {
    pub name: String,
    pub accounts: Vec<String>,
}

/// Creates a group, or adds accounts to it. Admins only.
pub fn group_add(ctx: &mut Ctx, name: &str, accounts: &str) -> Result<Group> {
    check_name("group", name)?;
    check_unreserved("group", name)?;
    check_targets(accounts)?;
    ctx.change("group.add", &format!("group:{name}"), |tx| {
        tx.require(Action::ManageMembers, "manage groups")?;
        if tx.vault.account(name).is_ok() {
            return Err(Error::Conflict(
                format!("`{name}` is an account's name"),
                Some("groups and accounts share one namespace: choose another name".into()),
            ));
        }
        let mut added = Vec::new();
        for a in accounts.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let account = tx.vault.account(a)?;
            tx.vault.add_to_group(name, &account, &tx.actor.name)?;
            added.push(account.name);
        }
        if added.is_empty() {
            return Err(Error::invalid("group", "no account given")
                .with_hint("smv group add NAME ACCOUNT[,ACCOUNT…]"));
        }
        tx.detail("accounts", added);
        Ok(Group {
            name: name.to_string(),
            accounts: tx.vault.group(name)?.into_iter().map(|a| a.name).collect(),
        })
    })
}

pub fn group_remove(ctx: &mut Ctx, name: &str) -> Result<()> {
    check_name("group", name)?;
    ctx.change("group.remove", &format!("group:{name}"), |tx| {
        tx.require(Action::ManageMembers, "manage groups")?;
        if tx.vault.remove_group(name)? == 0 {
            return Err(Error::not_found("group", name));
        }
        Ok(())
    })
}

/// Takes accounts out of a group; a group left with no account is removed.
pub fn group_remove_account(ctx: &mut Ctx, name: &str, accounts: &str) -> Result<Group> {
    check_name("group", name)?;
    check_targets(accounts)?;
    ctx.change("group.remove-account", &format!("group:{name}"), |tx| {
        tx.require(Action::ManageMembers, "manage groups")?;
        if !tx.vault.group_exists(name)? {
            return Err(Error::not_found("group", name).with_hint("`smv group list` lists them"));
        }
        let members: Vec<String> = tx.vault.group(name)?.into_iter().map(|a| a.name).collect();
        let mut removed = Vec::new();
        for a in accounts.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let account = tx.vault.account(a)?;
            if !members.contains(&account.name) {
                return Err(Error::not_found(
                    "account in the group",
                    format!("{a} in {name}"),
                ));
            }
            tx.vault.remove_from_group(name, &account)?;
            removed.push(account.name);
        }
        if removed.is_empty() {
            return Err(Error::invalid("accounts", "no account given")
                .with_hint("smv group remove-account GROUP ACCOUNT[,ACCOUNT…]"));
        }
        tx.detail("accounts", removed);
        let left = if tx.vault.group_exists(name)? {
            tx.vault.group(name)?.into_iter().map(|a| a.name).collect()
        } else {
            Vec::new()
        };
        Ok(Group {
            name: name.to_string(),
            accounts: left,
        })
    })
}

/// Every group for admins and auditors; for anyone else, the groups' accounts they hold a
/// grant on (as `account list` shows them), and no group of which they see nothing.
pub fn group_list(ctx: &mut Ctx) -> Result<Vec<Group>> {
    ctx.read("group.list", "groups", |tx| {
        let all = crate::access::decide(&tx.actor.actor(), Action::ViewAllAccess).is_allowed();
        let mut out = Vec::new();
        for (name, accounts) in tx.vault.groups()? {
            let mut visible = Vec::new();
            for a in accounts {
                let account = tx.vault.account(&a)?;
                if all || tx.vault.grant_level(tx.actor, account.id)?.is_some() {
                    visible.push(a);
                }
            }
            if !visible.is_empty() {
                out.push(Group {
                    name,
                    accounts: visible,
                });
            }
        }
        Ok(out)
    })
}

/// Proves the stored credential works with a read-only call to the network, and whether it
/// may post; audited. Admins, and members who may post to the account. A credential that
/// works but whose post permission nothing read-only can prove comes back with
/// [`providers::Checked::unproved`] set: the CLI reports it and exits 14.
pub fn account_check(ctx: &mut Ctx, name: &str) -> Result<providers::Checked> {
    check_name("account", name)?;
    let state_dir = ctx.settings.provider_state_dir();
    let target = format!("account:{name}");
    // Authorize on a snapshot, then call the network outside it.
    let (actor, account, secret, snapshot) = ctx.read("account.check", &target, |tx| {
        let account = tx.vault.account(name)?;
        if tx.actor.role != Role::Admin {
            let grant = tx.vault.grant_level(tx.actor, account.id)?;
            tx.require(Action::Check { grant }, &format!("check `{name}`"))?;
        }
        let secret = tx.vault.account_secret(&account)?;
        if let Some(s) = &secret {
            providers::check_stored_secret(&account, s)?;
        }
        let snapshot = tx.vault.account_session(&account)?;
        Ok((tx.actor.name.clone(), account, secret, snapshot))
    })?;
    let provider = providers::implementation(&account.provider)?;
    let api_version = super::api_version(&ctx.settings, &account);
    // The API version in use, if its network retires it soon (or has).
    let retiring = providers::versions::chosen(&account.provider, api_version.as_deref(), None)
        .and_then(|v| {
            providers::versions::warning(
                &account.provider,
                &account.name,
                v,
                crate::clock::now().date_naive(),
            )
        });
    let sessions = super::sessions::VaultSessions::new(ctx, &account.name, &actor, snapshot);
    let t = Target {
        account: &account,
        secret: secret.as_ref(),
        state_dir,
        sessions: Some(&sessions),
        api_version,
    };
    let result = provider.check_posting(&t);
    drop(sessions);
    ctx.warnings.extend(retiring);
    let mut details = Map::new();
    let (outcome, reason) = match &result {
        Ok(c) => {
            details.insert("posting_proved".into(), c.unproved.is_none().into());
            (Outcome::Ok, c.unproved.clone())
        }
        Err(e) => {
            details.insert("error_kind".into(), e.kind().into());
            super::send::record_answer(&mut details, e);
            (Outcome::Failed, Some(e.to_string()))
        }
    };
    let rec = ctx.record(&actor, "account.check", &target, outcome, reason, details);
    ctx.store.append(&rec)?;
    result.map_err(|e| Error::Provider {
        account: name.to_string(),
        kind: e.kind(),
        message: e.to_string(),
        hint: Some(if e.kind() == "api_version" {
            format!(
                "set a version the network serves: `smv account set {name} --api-version V`, or `[api_versions] {} = \"V\"` in config.toml (docs/providers.md lists them)",
                account.provider
            )
        } else {
            format!("if the credential was revoked or changed, replace it: `smv rotate {name}`")
        }),
    })
}
