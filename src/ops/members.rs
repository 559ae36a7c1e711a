//! Members, custodians and grants.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Ctx, check_name};
use crate::access::{self, Action, Level, Role};
use crate::vault::{Grant, Member, NewMember};
use crate::{Error, Result};

pub fn member_add(
    ctx: &mut Ctx,
    name: &str,
    role: Role,
    custodian: Option<&str>,
) -> Result<Member> {
    ctx.change("member.add", &format!("member:{name}"), |tx| {
        tx.require(Action::ManageMembers, "add members")?;
        check_name("member", name)?;
        tx.detail("role", role.as_str());
        let recipient = match custodian {
            Some(r) => {
                let parsed: age::x25519::Recipient = r.trim().parse().map_err(|_| {
                    Error::invalid("custodian key", format!("`{r}` is not an age X25519 recipient"))
                        .with_hint("a recipient looks like age1…; the new custodian gets it from `smv whoami` or `age-keygen -y KEYFILE`")
                })?;
                Some(parsed.to_string())
            }
            None => None,
        };
        if let Some(r) = &recipient {
            tx.detail("custodian", r.as_str());
        }
        tx.vault.insert_member(NewMember {
            name,
            role,
            recipient: recipient.as_deref(),
            created_by: &tx.actor.name,
        })
    })
}

pub fn member_list(ctx: &mut Ctx) -> Result<Vec<Member>> {
    ctx.read("member.list", "members", |tx| {
        tx.require(Action::ViewAllAccess, "list members")?;
        tx.vault.members()
    })
}

/// What removing a member did.
#[derive(Debug, Serialize)]
pub struct MemberRemoval {
    pub member: String,
    pub grants_removed: Vec<Grant>,
    pub was_custodian: bool,
    /// Accounts whose current secret the member could decrypt: rotate these.
    pub secrets_exposed: Vec<String>,
}

pub fn member_remove(ctx: &mut Ctx, name: &str) -> Result<MemberRemoval> {
    ctx.change("member.remove", &format!("member:{name}"), |tx| {
        tx.require(Action::ManageMembers, "remove members")?;
        let member = tx.vault.member(name)?;
        if !member.active {
            return Err(Error::Conflict(format!("member `{name}` is already removed"), None));
        }
        let custodians = tx.vault.custodians()?;
        if member.is_custodian() && custodians.len() <= 1 {
            return Err(Error::Conflict(
                format!("`{name}` is the last custodian: nobody could open the vault without them"),
                Some(format!("add another custodian first: `smv member add NAME --custodian age1…`, then remove `{name}`")),
            ));
        }
        if member.id == tx.actor.id {
            return Err(Error::Conflict(
                "you cannot remove yourself".into(),
                Some("another admin must do it: smv needs a remaining custodian to re-encrypt and verify the vault".into()),
            ));
        }
        let admins = tx.vault.members()?.into_iter().filter(|m| m.active && m.role == Role::Admin).count();
        if member.role == Role::Admin && admins <= 1 {
            return Err(Error::Conflict(
                format!("`{name}` is the last admin"),
                Some("make another member an admin first".into()),
            ));
        }
        let grants_removed = tx.vault.grants(Some(&member))?;
        let mut secrets_exposed = Vec::new();
        if member.is_custodian() {
            for account in tx.vault.accounts()? {
                if tx.vault.exposed_to(&account)?.contains(&member.name) {
                    secrets_exposed.push(account.name);
                }
            }
        }
        tx.vault.disable_member(&member)?;
        tx.detail("grants_removed", grants_removed.len());
        tx.detail("was_custodian", member.is_custodian());
        tx.detail("secrets_exposed", secrets_exposed.clone());
        Ok(MemberRemoval {
            member: member.name.clone(),
            grants_removed,
            was_custodian: member.is_custodian(),
            secrets_exposed,
        })
    })
}

pub fn grant(ctx: &mut Ctx, member: &str, account: &str, level: Level) -> Result<Grant> {
    ctx.change("grant", &format!("account:{account}"), |tx| {
        tx.detail("member", member);
        tx.detail("level", level.as_str());
        let acc = tx.vault.account(account)?;
        let mine = tx.vault.grant_level(tx.actor, acc.id)?;
        tx.require(
            Action::Grant { grant: mine, level },
            &format!("grant on `{account}`"),
        )?;
        let target = tx.vault.member(member)?;
        if !target.active {
            return Err(Error::Conflict(
                format!("member `{member}` is removed"),
                None,
            ));
        }
        if target.role == Role::Auditor {
            return Err(Error::Conflict(
                format!("`{member}` is an auditor, and auditors hold no grants"),
                Some(
                    "auditors read the audit log; to act on accounts, add them as a member".into(),
                ),
            ));
        }
        tx.vault.set_grant(&target, acc.id, level, &tx.actor.name)?;
        Ok(Grant {
            member: target.name,
            account: acc.name,
            level,
            granted_at: crate::vault::now(),
            granted_by: tx.actor.name.clone(),
        })
    })
}

pub fn revoke(ctx: &mut Ctx, member: &str, account: &str) -> Result<Level> {
    ctx.change("revoke", &format!("account:{account}"), |tx| {
        tx.detail("member", member);
        let acc = tx.vault.account(account)?;
        let target = tx.vault.member(member)?;
        let current = tx.vault.grant_level(&target, acc.id)?;
        let mine = tx.vault.grant_level(tx.actor, acc.id)?;
        tx.require(
            Action::Grant {
                grant: mine,
                level: current.unwrap_or(Level::Draft),
            },
            &format!("revoke on `{account}`"),
        )?;
        let Some(level) = current else {
            return Err(Error::not_found("grant", format!("{member} on {account}")));
        };
        tx.vault.remove_grant(&target, acc.id)?;
        tx.detail("level", level.as_str());
        Ok(level)
    })
}

/// The members × accounts matrix.
#[derive(Debug, Serialize)]
pub struct AccessReport {
    pub accounts: Vec<String>,
    pub members: Vec<AccessRow>,
}

#[derive(Debug, Serialize)]
pub struct AccessRow {
    pub member: String,
    pub role: Role,
    pub custodian: bool,
    pub active: bool,
    pub grants: BTreeMap<String, Level>,
}

/// Everyone's access for admins and auditors; one's own row for anyone else.
pub fn access(ctx: &mut Ctx) -> Result<AccessReport> {
    ctx.read("access", "access", |tx| {
        let all = access::decide(&tx.actor.actor(), Action::ViewAllAccess).is_allowed();
        let members: Vec<Member> = if all {
            tx.vault.members()?
        } else {
            vec![tx.actor.clone()]
        };
        let grants = tx.vault.grants(if all { None } else { Some(tx.actor) })?;
        let mut rows: BTreeMap<String, AccessRow> = members
            .into_iter()
            .map(|m| {
                (
                    m.name.clone(),
                    AccessRow {
                        custodian: m.is_custodian(),
                        member: m.name,
                        role: m.role,
                        active: m.active,
                        grants: BTreeMap::new(),
                    },
                )
            })
            .collect();
        let accounts: Vec<String> = if all {
            tx.vault.accounts()?.into_iter().map(|a| a.name).collect()
        } else {
            grants.iter().map(|g| g.account.clone()).collect()
        };
        for g in grants {
            if let Some(row) = rows.get_mut(&g.member) {
                row.grants.insert(g.account, g.level);
            }
        }
        Ok(AccessReport {
            accounts,
            members: rows.into_values().collect(),
        })
    })
}
