//! Accounts and their secrets.

use rusqlite::{OptionalExtension, Row};
use serde::Serialize;

use super::{Vault, now};
use crate::secret::Secret;
use crate::{Error, Result};

/// An account's record, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub provider: String,
    pub handle: Option<String>,
    pub url: Option<String>,
    /// Keyed fingerprint of the secret (see [`Vault::fingerprint`]); None when there is none.
    pub secret_fingerprint: Option<String>,
    pub secret_version: i64,
    pub secret_set_at: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

pub struct NewAccount<'a> {
    pub name: &'a str,
    pub provider: &'a str,
    pub handle: Option<&'a str>,
    pub url: Option<&'a str>,
    pub created_by: &'a str,
}

const ACCOUNT_COLUMNS: &str = "id, name, provider, handle, url, secret_fingerprint, secret_version, secret_set_at, created_at, created_by";

fn account_from_row(r: &Row) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        name: r.get(1)?,
        provider: r.get(2)?,
        handle: r.get(3)?,
        url: r.get(4)?,
        secret_fingerprint: r.get(5)?,
        secret_version: r.get(6)?,
        secret_set_at: r.get(7)?,
        created_at: r.get(8)?,
        created_by: r.get(9)?,
    })
}

impl Vault {
    pub fn account(&self, name: &str) -> Result<Account> {
        self.conn
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"),
                [name],
                account_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::not_found("account", name))
    }

    pub fn accounts(&self) -> Result<Vec<Account>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
        ))?;
        let rows = stmt.query_map([], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn insert_account(&self, a: NewAccount, secret: Option<&Secret>) -> Result<Account> {
        if self.account(a.name).is_ok() {
            return Err(Error::AlreadyExists {
                kind: "account",
                name: a.name.into(),
            });
        }
        let fingerprint = secret
            .map(|s| self.fingerprint(s.expose_to_provider()))
            .transpose()?;
        let set_at = secret.map(|_| now());
        self.conn.execute(
            "INSERT INTO accounts (name, provider, handle, url, secret, secret_fingerprint, secret_set_at, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            (
                a.name,
                a.provider,
                a.handle,
                a.url,
                secret.map(|s| s.expose_to_provider()),
                fingerprint,
                set_at,
                now(),
                a.created_by,
            ),
        )?;
        let account = self.account(a.name)?;
        if secret.is_some() {
            // Every current custodian can decrypt the file this secret is written into.
            self.conn.execute(
                "INSERT OR IGNORE INTO exposures (member_id, account_id, secret_version, since)
                 SELECT id, ?1, ?2, ?3 FROM members WHERE status = 'active' AND recipient IS NOT NULL",
                (account.id, account.secret_version, now()),
            )?;
        }
        Ok(account)
    }

    pub fn remove_account(&self, account: &Account) -> Result<()> {
        self.conn
            .execute("DELETE FROM accounts WHERE id = ?1", [account.id])?;
        Ok(())
    }

    /// The secret itself, for the provider call. Never for display.
    pub fn account_secret(&self, account: &Account) -> Result<Option<Secret>> {
        let bytes: Option<Vec<u8>> = self.conn.query_row(
            "SELECT secret FROM accounts WHERE id = ?1",
            [account.id],
            |r| r.get(0),
        )?;
        Ok(bytes.map(Secret::from_bytes))
    }

    /// The network session kept for the account (secret), if any.
    pub fn account_session(&self, account: &Account) -> Result<Option<Secret>> {
        let bytes: Option<Vec<u8>> = self.conn.query_row(
            "SELECT session FROM accounts WHERE id = ?1",
            [account.id],
            |r| r.get(0),
        )?;
        Ok(bytes.map(Secret::from_bytes))
    }

    pub fn set_account_session(&self, account: &Account, session: Option<&Secret>) -> Result<()> {
        self.conn.execute(
            "UPDATE accounts SET session = ?2 WHERE id = ?1",
            (account.id, session.map(|s| s.expose_to_provider())),
        )?;
        Ok(())
    }

    /// Names of the members (active or not) who could decrypt the current version of this
    /// account's secret.
    pub fn exposed_to(&self, account: &Account) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT m.name FROM exposures e JOIN members m ON m.id = e.member_id
             WHERE e.account_id = ?1 AND e.secret_version = ?2 ORDER BY m.name",
        )?;
        let rows = stmt.query_map((account.id, account.secret_version), |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
