//! Members, custodians and grants.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::post::resolve_targets;
use super::{Ctx, check_name, check_targets};
use crate::access::{self, Action, Level, Role};
use crate::vault::{Grant, Member, NewMember};
use crate::{Error, Result};

pub fn member_add(
    ctx: &mut Ctx,
    name: &str,
    role: Role,
    custodian: Option<&str>,
) -> Result<Member> {
    check_name("member", name)?;
    ctx.change("member.add", &format!("member:{name}"), |tx| {
        tx.require(Action::ManageMembers, "add members")?;
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

/// A member in the quarterly review: when they last did anything smv recorded.
#[derive(Debug, Serialize)]
pub struct MemberActivity {
    #[serde(flatten)]
    pub member: Member,
    /// Their latest audit entry (None: nothing recorded since they were added).
    pub last_action: Option<String>,
    /// Days since `last_action` (or since they were added, when they never acted).
    pub idle_days: i64,
}

/// Members with their last recorded action; with `stale_for`, only active members idle at
/// least that long (the review IT runs every quarter).
pub fn member_activity(
    ctx: &mut Ctx,
    stale_for: Option<chrono::Duration>,
) -> Result<Vec<MemberActivity>> {
    let members = ctx.read("member.list", "members", |tx| {
        tx.require(Action::ViewAllAccess, "list members")?;
        tx.vault.members()
    })?;
    // From the log, after the look: a scan of the log does not hold the vault.
    let last = ctx.store.reader()?.last_actions()?;
    let now = crate::clock::now();
    let mut out = Vec::new();
    for m in members {
        let last_action = last.get(&m.name).cloned();
        let since = last_action
            .as_deref()
            .or(Some(m.created_at.as_str()))
            .and_then(crate::clock::parse_stamp)
            .unwrap_or(now);
        let idle_days = (now - since).num_days();
        if let Some(limit) = stale_for
            && (!m.active || now - since < limit)
        {
            continue;
        }
        out.push(MemberActivity {
            member: m,
            last_action,
            idle_days,
        });
    }
    Ok(out)
}

/// Gives `member` `level` on each account of `targets` (`a,b,group`), in one change: every
/// account's permission is checked first, and either all are granted or none.
pub fn grant(ctx: &mut Ctx, member: &str, targets: &str, level: Level) -> Result<Vec<Grant>> {
    check_name("member", member)?;
    check_targets(targets)?;
    ctx.change("grant", &format!("account:{targets}"), |tx| {
        tx.detail("member", member);
        tx.detail("level", level.as_str());
        let accounts = resolve_targets(tx.vault, targets)?;
        for acc in &accounts {
            let mine = tx.vault.grant_level(tx.actor, acc.id)?;
            tx.require(
                Action::Grant { grant: mine, level },
                &format!("grant on `{}`", acc.name),
            )?;
        }
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
        let mut out = Vec::new();
        for acc in accounts {
            tx.vault.set_grant(&target, acc.id, level, &tx.actor.name)?;
            out.push(Grant {
                member: target.name.clone(),
                account: acc.name,
                level,
                granted_at: crate::vault::now(),
                granted_by: tx.actor.name.clone(),
            });
        }
        // Always the accounts themselves (a group's accounts change): a restore replays
        // revocations and lowered grants by them (ops::replay).
        tx.detail(
            "accounts",
            out.iter().map(|g| g.account.clone()).collect::<Vec<_>>(),
        );
        Ok(out)
    })
}

/// A grant taken away: the account and the level it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    pub member: String,
    pub account: String,
    pub revoked: Level,
}

/// Takes `member`'s grants on the accounts of `targets` (`a,b,group`) away, in one change.
/// An account named on its own must hold a grant; the accounts of a group that hold none
/// are passed over (but one at least must).
pub fn revoke(ctx: &mut Ctx, member: &str, targets: &str) -> Result<Vec<Revoked>> {
    check_name("member", member)?;
    check_targets(targets)?;
    ctx.change("revoke", &format!("account:{targets}"), |tx| {
        tx.detail("member", member);
        let target = tx.vault.member(member)?;
        let named: Vec<&str> = targets
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let mut out = Vec::new();
        for acc in resolve_targets(tx.vault, targets)? {
            let current = tx.vault.grant_level(&target, acc.id)?;
            let mine = tx.vault.grant_level(tx.actor, acc.id)?;
            tx.require(
                Action::Grant {
                    grant: mine,
                    level: current.unwrap_or(Level::Draft),
                },
                &format!("revoke on `{}`", acc.name),
            )?;
            match current {
                Some(level) => {
                    tx.vault.remove_grant(&target, acc.id)?;
                    out.push(Revoked {
                        member: target.name.clone(),
                        account: acc.name,
                        revoked: level,
                    });
                }
                None if named.contains(&acc.name.as_str()) => {
                    return Err(Error::not_found(
                        "grant",
                        format!("{member} on {}", acc.name),
                    ));
                }
                None => {}
            }
        }
        if out.is_empty() {
            return Err(Error::not_found("grant", format!("{member} on {targets}")));
        }
        // The accounts themselves, for a restore's replay (ops::replay).
        tx.detail(
            "accounts",
            out.iter().map(|r| r.account.clone()).collect::<Vec<_>>(),
        );
        match &out[..] {
            [one] => tx.detail("level", one.revoked.as_str()),
            many => tx.detail(
                "revoked",
                many.iter()
                    .map(|r| serde_json::json!({"account": r.account, "level": r.revoked.as_str()}))
                    .collect::<Vec<_>>(),
            ),
        }
        Ok(out)
    })
}

/// The members × accounts matrix.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessReport {
    pub accounts: Vec<String>,
    pub members: Vec<AccessRow>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessRow {
    pub member: String,
    pub role: Role,
    pub custodian: bool,
    pub active: bool,
    pub grants: BTreeMap<String, Level>,
}

impl AccessReport {
    /// The report narrowed for reading (`smv access --member … --account … --all`): only the
    /// named members (comma-separated), whether removed or not; only the named accounts, and
    /// then only the members holding a grant on one of them; removed members left out unless
    /// `all` or named. A name that is not in the report is refused (a typo must not look like
    /// "no access"). Pure: what the caller may see was decided when the report was made.
    pub fn filtered(
        self,
        members: Option<&str>,
        accounts: Option<&str>,
        all: bool,
    ) -> Result<AccessReport> {
        fn names(list: &str) -> Vec<&str> {
            list.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect()
        }
        let members = members.map(names);
        let accounts = accounts.map(names);
        for m in members.iter().flatten() {
            if !self.members.iter().any(|r| r.member == *m) {
                return Err(Error::not_found("member", *m).with_hint(
                    "`smv access` lists the members you may see (`smv member list` all of them, for admins)",
                ));
            }
        }
        for a in accounts.iter().flatten() {
            if !self.accounts.iter().any(|x| x == a) {
                return Err(Error::not_found("account", *a).with_hint(
                    "`smv access` lists the accounts you may see (groups are not taken here: name their accounts)",
                ));
            }
        }
        let shown: Vec<String> = match &accounts {
            Some(list) => self
                .accounts
                .into_iter()
                .filter(|a| list.contains(&a.as_str()))
                .collect(),
            None => self.accounts,
        };
        let rows = self
            .members
            .into_iter()
            .filter(|r| match &members {
                Some(list) => list.contains(&r.member.as_str()),
                None => all || r.active,
            })
            .filter(|r| accounts.is_none() || shown.iter().any(|a| r.grants.contains_key(a)))
            .map(|mut r| {
                r.grants.retain(|a, _| shown.contains(a));
                r
            })
            .collect();
        Ok(AccessReport {
            accounts: shown,
            members: rows,
        })
    }
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
