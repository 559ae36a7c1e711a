//! Per-account policies (approvals, rate guard) and freezes.

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{Account, Vault, now};
use crate::Result;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Policy {
    pub account: String,
    /// Approvals by a second person before a post goes out; 0 allows direct posts.
    pub approvals: u32,
    /// The two-person rule for everyone: holders of `approve` and admins may not post
    /// directly either (without it, they may).
    pub strict: bool,
    /// Who may post directly though the policy needs approvals, in one word for listings
    /// and scripts: `nobody` (strict), `approvers` (holders of `approve`: a policy made
    /// with `--no-strict`, or before strict was the default), `-` (no approvals needed).
    pub exempt: &'static str,
    /// The rate guard: at most `max_posts` per `per_seconds`.
    pub max_posts: Option<u32>,
    pub per_seconds: Option<i64>,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Freeze {
    #[serde(skip)]
    pub id: i64,
    /// None: every account.
    pub account: Option<String>,
    pub reason: String,
    pub frozen_by: String,
    pub frozen_at: String,
    /// When it lifts by itself; None: until an admin lifts it.
    pub until: Option<String>,
}

impl Freeze {
    /// "by alice since …: reason (until …)", for refusals.
    pub fn describe(&self) -> String {
        let scope = match &self.account {
            Some(_) => "",
            None => "every account, ",
        };
        let until = match &self.until {
            Some(u) => format!(", until {u}"),
            None => String::new(),
        };
        format!(
            "{scope}by {} since {}{until}: {}",
            self.frozen_by, self.frozen_at, self.reason
        )
    }
}

/// See [`Policy::exempt`].
pub fn exempt(approvals: u32, strict: bool) -> &'static str {
    match (approvals, strict) {
        (0, _) => "-",
        (_, true) => "nobody",
        (_, false) => "approvers",
    }
}

const FREEZE_COLUMNS: &str = "f.id, a.name, f.reason, f.frozen_by, f.frozen_at, f.until";

fn freeze_from_row(r: &Row) -> rusqlite::Result<Freeze> {
    Ok(Freeze {
        id: r.get(0)?,
        account: r.get(1)?,
        reason: r.get(2)?,
        frozen_by: r.get(3)?,
        frozen_at: r.get(4)?,
        until: r.get(5)?,
    })
}

/// Active: not lifted, and not expired at `now` (stored times compare as text).
const ACTIVE: &str = "f.lifted_at IS NULL AND (f.until IS NULL OR f.until > ?1)";

impl Vault {
    pub fn policy(&self, account: &Account) -> Result<Policy> {
        let found = self
            .conn
            .prepare_cached("SELECT approvals, max_posts, per_seconds, updated_at, updated_by, strict FROM policies
                 WHERE account_id = ?1")?.query_row([account.id],
                |r| {
                    Ok(Policy {
                        account: account.name.clone(),
                        approvals: r.get(0)?,
                        strict: r.get::<_, i64>(5)? != 0,
                        exempt: exempt(r.get(0)?, r.get::<_, i64>(5)? != 0),
                        max_posts: r.get(1)?,
                        per_seconds: r.get(2)?,
                        updated_at: r.get(3)?,
                        updated_by: r.get(4)?,
                    })
                },
            )
            .optional()?;
        Ok(found.unwrap_or_else(|| Policy {
            account: account.name.clone(),
            exempt: exempt(0, false),
            ..Policy::default()
        }))
    }

    pub fn set_policy(
        &self,
        account: &Account,
        approvals: u32,
        strict: bool,
        rate: Option<(u32, i64)>,
        by: &str,
    ) -> Result<()> {
        self.conn.prepare_cached("INSERT INTO policies (account_id, approvals, max_posts, per_seconds, updated_at, updated_by, strict)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (account_id) DO UPDATE SET approvals = ?2, max_posts = ?3,
                 per_seconds = ?4, updated_at = ?5, updated_by = ?6, strict = ?7")?.execute((
                account.id,
                approvals,
                rate.map(|r| r.0),
                rate.map(|r| r.1),
                now(),
                by,
                strict,
            ),
        )?;
        Ok(())
    }

    pub fn insert_freeze(
        &self,
        account: Option<&Account>,
        reason: &str,
        by: &str,
        until: Option<&str>,
    ) -> Result<Freeze> {
        self.conn.prepare_cached("INSERT INTO freezes (account_id, reason, frozen_by, frozen_at, until) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute((account.map(|a| a.id), reason, by, now(), until),
        )?;
        let id = self.conn.last_insert_rowid();
        Ok(self.conn.prepare_cached(&format!(
                "SELECT {FREEZE_COLUMNS} FROM freezes f LEFT JOIN accounts a ON a.id = f.account_id WHERE f.id = ?1"
            ))?.query_row([id],
            freeze_from_row,
        )?)
    }

    /// The freezes in force now: every-account ones first, then by account.
    pub fn active_freezes(&self) -> Result<Vec<Freeze>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FREEZE_COLUMNS} FROM freezes f LEFT JOIN accounts a ON a.id = f.account_id
             WHERE {ACTIVE} ORDER BY f.account_id IS NOT NULL, a.name, f.id"
        ))?;
        let rows = stmt.query_map([now()], freeze_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The freeze that stops posts to this account now, if any (an every-account freeze
    /// first).
    pub fn freeze_on(&self, account: &Account) -> Result<Option<Freeze>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FREEZE_COLUMNS} FROM freezes f LEFT JOIN accounts a ON a.id = f.account_id
             WHERE {ACTIVE} AND (f.account_id IS NULL OR f.account_id = ?2)
             ORDER BY f.account_id IS NOT NULL, f.id LIMIT 1"
        ))?;
        Ok(stmt
            .query_row((now(), account.id), freeze_from_row)
            .optional()?)
    }

    /// Lifts the active freezes on one account (`Some`), or every freeze of any scope
    /// (`None`). Returns what was lifted.
    pub fn lift_freezes(&self, account: Option<&Account>, by: &str) -> Result<Vec<Freeze>> {
        let lifted: Vec<Freeze> = self
            .active_freezes()?
            .into_iter()
            .filter(|f| match account {
                Some(a) => f.account.as_deref() == Some(a.name.as_str()),
                None => true,
            })
            .collect();
        for f in &lifted {
            self.conn
                .prepare_cached("UPDATE freezes SET lifted_by = ?2, lifted_at = ?3 WHERE id = ?1")?
                .execute((f.id, by, now()))?;
        }
        Ok(lifted)
    }
}
