//! Account groups: a name for several accounts, to post to them at once.

use super::{Account, Vault, now};
use crate::{Error, Result};

impl Vault {
    pub fn group_exists(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM groups WHERE name = ?1)")?
            .query_row([name], |r| r.get(0))?)
    }

    /// The accounts of a group, by name.
    pub fn group(&self, name: &str) -> Result<Vec<Account>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.name FROM groups g JOIN accounts a ON a.id = g.account_id WHERE g.name = ?1 ORDER BY a.name",
        )?;
        let names: Vec<String> = stmt
            .query_map([name], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if names.is_empty() {
            return Err(Error::not_found("group", name));
        }
        names.iter().map(|n| self.account(n)).collect()
    }

    /// Every group with its account names.
    pub fn groups(&self) -> Result<Vec<(String, Vec<String>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT g.name, a.name FROM groups g JOIN accounts a ON a.id = g.account_id ORDER BY g.name, a.name",
        )?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (g, a) in rows {
            match out.last_mut() {
                Some((name, list)) if *name == g => list.push(a),
                _ => out.push((g, vec![a])),
            }
        }
        Ok(out)
    }

    pub fn add_to_group(&self, name: &str, account: &Account, by: &str) -> Result<()> {
        self.conn.prepare_cached("INSERT OR IGNORE INTO groups (name, account_id, added_at, added_by) VALUES (?1, ?2, ?3, ?4)")?.execute((name, account.id, now(), by),
        )?;
        Ok(())
    }

    pub fn remove_from_group(&self, name: &str, account: &Account) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM groups WHERE name = ?1 AND account_id = ?2")?
            .execute((name, account.id))?;
        Ok(())
    }

    pub fn remove_group(&self, name: &str) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM groups WHERE name = ?1")?
            .execute([name])?)
    }
}
