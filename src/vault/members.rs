//! Members, custodians and grants.

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{Vault, now};
use crate::access::{Actor, Level, Role};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The age recipient when the member is a custodian.
    pub recipient: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub created_by: String,
    /// The key a removed custodian held (public): the old vault files still open with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub former_recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// Set when the member acts through an API token: what the token allows, on top of
    /// what the member may do. Never stored; see [`Member::capped_by`].
    #[serde(skip)]
    pub cap: Option<TokenCap>,
}

/// The limits of an API token: the member acting through it has at most `level` on
/// `account_ids` and nothing elsewhere, and an admin acts as a plain member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCap {
    pub accessor: String,
    pub level: Level,
    pub account_ids: Vec<i64>,
}

impl TokenCap {
    /// The lower of the member's own grant and the token's.
    pub fn limit(&self, account_id: i64, grant: Option<Level>) -> Option<Level> {
        if !self.account_ids.contains(&account_id) {
            return None;
        }
        grant.map(|g| g.min(self.level))
    }
}

impl Member {
    pub fn is_custodian(&self) -> bool {
        self.active && self.recipient.is_some()
    }
    /// Whether the member holds, or ever held, a key to the vault.
    pub fn ever_custodian(&self) -> bool {
        self.recipient.is_some() || self.former_recipient.is_some()
    }
    /// This member acting through a token. The role is capped here, once, so that every
    /// rule (and every `role` comparison in the operations) sees the token's limits: a token
    /// never carries admin powers (members, custodians, offboarding need the admin's own key).
    pub fn capped_by(mut self, cap: TokenCap) -> Member {
        if self.role == Role::Admin {
            self.role = Role::Member;
        }
        self.cap = Some(cap);
        self
    }
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            role: self.role,
            active: self.active,
        }
    }
}

pub struct NewMember<'a> {
    pub name: &'a str,
    pub role: Role,
    pub recipient: Option<&'a str>,
    pub created_by: &'a str,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub member: String,
    pub account: String,
    pub level: Level,
    pub granted_at: String,
    pub granted_by: String,
}

const MEMBER_COLUMNS: &str =
    "id, name, role, recipient, status, created_at, created_by, former_recipient, disabled_at";

fn member_from_row(r: &Row) -> rusqlite::Result<Member> {
    let role: String = r.get(2)?;
    let status: String = r.get(4)?;
    Ok(Member {
        id: r.get(0)?,
        name: r.get(1)?,
        // The CHECK constraint keeps these to known values.
        role: role.parse().unwrap_or(Role::Member),
        recipient: r.get(3)?,
        active: status == "active",
        created_at: r.get(5)?,
        created_by: r.get(6)?,
        former_recipient: r.get(7)?,
        disabled_at: r.get(8)?,
        cap: None,
    })
}

impl Vault {
    pub fn member(&self, name: &str) -> Result<Member> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE name = ?1"
            ))?
            .query_row([name], member_from_row)
            .optional()?
            .ok_or_else(|| Error::not_found("member", name))
    }

    pub fn member_by_recipient(&self, recipient: &str) -> Result<Option<Member>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE recipient = ?1"
            ))?
            .query_row([recipient], member_from_row)
            .optional()?)
    }

    pub fn members(&self) -> Result<Vec<Member>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM members ORDER BY name"
        ))?;
        let rows = stmt.query_map([], member_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn custodians(&self) -> Result<Vec<Member>> {
        Ok(self
            .members()?
            .into_iter()
            .filter(Member::is_custodian)
            .collect())
    }

    pub fn insert_member(&self, m: NewMember) -> Result<Member> {
        if self.member(m.name).is_ok() {
            return Err(Error::AlreadyExists {
                kind: "member",
                name: m.name.into(),
            });
        }
        if let Some(r) = m.recipient
            && let Some(other) = self.member_by_recipient(r)?
        {
            return Err(Error::Conflict(
                format!("the key {r} already belongs to member `{}`", other.name),
                Some("each custodian needs their own key: `age-keygen` or `smv init --identity FILE` makes one".into()),
            ));
        }
        if let Some(r) = m.recipient {
            let former: Option<String> = self
                .conn
                .prepare_cached("SELECT name FROM members WHERE former_recipient = ?1")?
                .query_row([r], |row| row.get(0))
                .optional()?;
            if let Some(name) = former {
                return Err(Error::Conflict(
                    format!("the key {r} was removed with member `{name}`, and stays out: it opens every older copy of the vault"),
                    Some("the new custodian needs a key of their own: `age-keygen` or `smv init --identity FILE` makes one".into()),
                ));
            }
        }
        self.conn.prepare_cached("INSERT INTO members (name, role, recipient, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute((m.name, m.role.as_str(), m.recipient, now(), m.created_by),
        )?;
        let member = self.member(m.name)?;
        if member.is_custodian() {
            self.expose_all_to(member.id)?;
        }
        Ok(member)
    }

    /// Takes a member's grants and custodianship away and disables them. The row stays, so
    /// that the audit log's names keep meaning and a name is never silently reused.
    pub fn disable_member(&self, member: &Member) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM grants WHERE member_id = ?1")?
            .execute([member.id])?;
        self.conn.prepare_cached("UPDATE members SET status = 'disabled', former_recipient = COALESCE(recipient, former_recipient),
                 recipient = NULL, disabled_at = COALESCE(disabled_at, ?2) WHERE id = ?1")?.execute((member.id, now()),
        )?;
        Ok(())
    }

    /// Records that a custodian can decrypt every secret now in the vault.
    pub(super) fn expose_all_to(&self, member_id: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO exposures (member_id, account_id, secret_version, since)
             SELECT ?1, id, secret_version, ?2 FROM accounts WHERE secret IS NOT NULL",
            )?
            .execute((member_id, now()))?;
        Ok(())
    }

    /// The member's grant on the account; through a token, no more than the token allows.
    /// Every grant question of the operations layer comes here, so the cap cannot be skipped.
    pub fn grant_level(&self, member: &Member, account_id: i64) -> Result<Option<Level>> {
        let level: Option<String> = self
            .conn
            .prepare_cached("SELECT level FROM grants WHERE member_id = ?1 AND account_id = ?2")?
            .query_row((member.id, account_id), |r| r.get(0))
            .optional()?;
        let level = level.and_then(|l| l.parse().ok());
        Ok(match &member.cap {
            Some(cap) => cap.limit(account_id, level),
            None => level,
        })
    }

    pub fn set_grant(
        &self,
        member: &Member,
        account_id: i64,
        level: Level,
        by: &str,
    ) -> Result<()> {
        self.conn.prepare_cached("INSERT INTO grants (member_id, account_id, level, granted_at, granted_by) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (member_id, account_id) DO UPDATE SET level = excluded.level,
                 granted_at = excluded.granted_at, granted_by = excluded.granted_by")?.execute((member.id, account_id, level.as_str(), now(), by),
        )?;
        Ok(())
    }

    /// Returns whether there was a grant to remove.
    pub fn remove_grant(&self, member: &Member, account_id: i64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM grants WHERE member_id = ?1 AND account_id = ?2")?
            .execute((member.id, account_id))?
            > 0)
    }

    /// All grants, optionally of one member, ordered by account then member.
    pub fn grants(&self, member: Option<&Member>) -> Result<Vec<Grant>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.name, a.name, g.level, g.granted_at, g.granted_by
             FROM grants g JOIN members m ON m.id = g.member_id JOIN accounts a ON a.id = g.account_id
             WHERE ?1 IS NULL OR g.member_id = ?1
             ORDER BY a.name, m.name",
        )?;
        let rows = stmt.query_map([member.map(|m| m.id)], |r| {
            let level: String = r.get(2)?;
            Ok(Grant {
                member: r.get(0)?,
                account: r.get(1)?,
                level: level.parse().unwrap_or(Level::Draft),
                granted_at: r.get(3)?,
                granted_by: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
