//! Accounts and their secrets.

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{Member, Vault, now};
use crate::secret::Secret;
use crate::{Error, Result};

/// An account's record, without its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// When the network stops accepting the secret (LinkedIn tokens live 60 days).
    pub secret_expires_at: Option<String>,
    /// The network's name for the credential (a Bluesky app password's name), not secret.
    pub secret_label: Option<String>,
    /// The API version this account uses, where the network pins one (None: config.toml's,
    /// else smv's pinned version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// A replacement secret, as `smv rotate` stores it.
pub struct NewSecret<'a> {
    pub secret: &'a Secret,
    pub label: Option<&'a str>,
}

pub struct NewAccount<'a> {
    pub name: &'a str,
    pub provider: &'a str,
    pub handle: Option<&'a str>,
    pub url: Option<&'a str>,
    pub created_by: &'a str,
}

const ACCOUNT_COLUMNS: &str = "id, name, provider, handle, url, secret_fingerprint, secret_version, secret_set_at, created_at, created_by, secret_expires_at, secret_label, api_version";

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
        secret_expires_at: r.get(10)?,
        secret_label: r.get(11)?,
        api_version: r.get(12)?,
    })
}

impl Vault {
    pub fn account(&self, name: &str) -> Result<Account> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"
            ))?
            .query_row([name], account_from_row)
            .optional()?
            .ok_or_else(|| Error::not_found("account", name))
    }

    pub fn accounts(&self) -> Result<Vec<Account>> {
        let mut stmt = self.conn.prepare_cached(&format!(
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
        if let Some(now) = self.name_is_former(a.name)? {
            return Err(former_name(a.name, &now));
        }
        let fingerprint = secret
            .map(|s| self.fingerprint(s.expose_to_provider()))
            .transpose()?;
        let set_at = secret.map(|_| now());
        // When it stops working, for networks whose tokens expire: set by the operation
        // (`set_secret_expiry`), which knows the networks; the vault does not.
        let expires_at: Option<String> = None;
        self.conn.prepare_cached("INSERT INTO accounts (name, provider, handle, url, secret, secret_fingerprint, secret_set_at, created_at, created_by, secret_expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?.execute((
                a.name,
                a.provider,
                a.handle,
                a.url,
                secret.map(|s| s.expose_to_provider()),
                fingerprint,
                set_at,
                now(),
                a.created_by,
                expires_at,
            ),
        )?;
        let account = self.account(a.name)?;
        if secret.is_some() {
            self.expose_to_custodians(&account)?;
        }
        Ok(account)
    }

    /// The names the account had before (oldest first): entries in the audit log under them
    /// are its own.
    pub fn former_names(&self, account: &Account) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name FROM account_names WHERE account_id = ?1 ORDER BY until",
        )?;
        let rows = stmt.query_map([account.id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether a name is one an existing account had (and so not free for another).
    pub fn name_is_former(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT a.name FROM account_names n JOIN accounts a ON a.id = n.account_id WHERE n.name = ?1")?.query_row([name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Gives the account a new name; it keeps its id, and so its grants, groups, drafts,
    /// scheduled posts, policy, freezes and tokens.
    pub fn rename_account(&self, account: &Account, new: &str) -> Result<Account> {
        self.conn
            .prepare_cached(
                "INSERT INTO account_names (account_id, name, until) VALUES (?1, ?2, ?3)",
            )?
            .execute((account.id, &account.name, now()))?;
        // Its own former name back: no longer former.
        self.conn
            .prepare_cached("DELETE FROM account_names WHERE account_id = ?1 AND name = ?2")?
            .execute((account.id, new))?;
        self.conn
            .prepare_cached("UPDATE accounts SET name = ?1 WHERE id = ?2")?
            .execute((new, account.id))?;
        self.account(new)
    }

    /// When the account's current secret stops working (networks whose tokens expire on a
    /// known schedule); None: it does not.
    pub fn set_secret_expiry(&self, account: &Account, at: Option<&str>) -> Result<Account> {
        self.conn
            .prepare_cached("UPDATE accounts SET secret_expires_at = ?1 WHERE id = ?2")?
            .execute((at, account.id))?;
        self.account(&account.name)
    }

    /// Changes the account's public handle and/or URL (None: unchanged; Some(None): removed).
    pub fn set_account_details(
        &self,
        account: &Account,
        handle: Option<Option<&str>>,
        url: Option<Option<&str>>,
    ) -> Result<Account> {
        if let Some(h) = handle {
            self.conn
                .prepare_cached("UPDATE accounts SET handle = ?1 WHERE id = ?2")?
                .execute((h, account.id))?;
        }
        if let Some(u) = url {
            self.conn
                .prepare_cached("UPDATE accounts SET url = ?1 WHERE id = ?2")?
                .execute((u, account.id))?;
        }
        self.account(&account.name)
    }

    /// Sets (or, with None, clears) the account's own API version.
    pub fn set_account_api_version(
        &self,
        account: &Account,
        version: Option<&str>,
    ) -> Result<Account> {
        self.conn
            .prepare_cached("UPDATE accounts SET api_version = ?1 WHERE id = ?2")?
            .execute((version, account.id))?;
        self.account(&account.name)
    }

    pub fn remove_account(&self, account: &Account) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM accounts WHERE id = ?1")?
            .execute([account.id])?;
        Ok(())
    }

    /// The secret itself, for the provider call. Never for display. A secret stored by an
    /// older smv with surrounding whitespace comes back in its canonical form (the one the
    /// providers sent), carrying the stored form for redaction until the next write of the
    /// vault stores the canonical one ([`Vault::normalise_stored_secrets`]).
    pub fn account_secret(&self, account: &Account) -> Result<Option<Secret>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT secret FROM accounts WHERE id = ?1")?
            .query_row([account.id], |r| r.get(0))?;
        Ok(bytes.map(Secret::from_stored))
    }

    /// Stores the canonical form of every secret an older smv stored with surrounding
    /// whitespace (`smv account add --secret-file` of a file ending in two newlines, a
    /// trailing space), with its fingerprint. Every write of the vault calls it, so such a
    /// vault is normalised by its next change. Returns how many secrets it changed.
    pub(crate) fn normalise_stored_secrets(&self) -> Result<usize> {
        const BLANKS: &str = "('20', '09', '0A', '0D', '0C')";
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, secret FROM accounts WHERE secret IS NOT NULL
               AND (hex(substr(secret, 1, 1)) IN {BLANKS} OR hex(substr(secret, -1, 1)) IN {BLANKS})"
        ))?;
        let found: Vec<(i64, Secret)> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, Secret::from_stored(r.get::<_, Vec<u8>>(1)?)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut changed = 0;
        for (id, secret) in found {
            if !secret.is_stored_differently() {
                continue;
            }
            let fingerprint = self.fingerprint(secret.expose_to_provider())?;
            self.conn
                .prepare_cached(
                    "UPDATE accounts SET secret = ?2, secret_fingerprint = ?3 WHERE id = ?1",
                )?
                .execute((id, secret.expose_to_provider(), fingerprint))?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Recomputes every account's secret fingerprint under the current fingerprint key
    /// (after a key rotation: a fingerprint under the old key would let whoever held it
    /// test guesses of the secrets stored now).
    pub(crate) fn refingerprint_accounts(&self) -> Result<usize> {
        let found: Vec<(i64, Secret)> = self
            .conn
            .prepare_cached("SELECT id, secret FROM accounts WHERE secret IS NOT NULL")?
            .query_map([], |r| {
                Ok((r.get(0)?, Secret::from_stored(r.get::<_, Vec<u8>>(1)?)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (id, secret) in &found {
            let fingerprint = self.fingerprint(secret.expose_to_provider())?;
            self.conn
                .prepare_cached("UPDATE accounts SET secret_fingerprint = ?2 WHERE id = ?1")?
                .execute((id, fingerprint))?;
        }
        Ok(found.len())
    }

    /// The network session kept for the account (secret), if any.
    pub fn account_session(&self, account: &Account) -> Result<Option<Secret>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT session FROM accounts WHERE id = ?1")?
            .query_row([account.id], |r| r.get(0))?;
        Ok(bytes.map(Secret::from_bytes))
    }

    pub fn set_account_session(&self, account: &Account, session: Option<&Secret>) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE accounts SET session = ?2 WHERE id = ?1")?
            .execute((account.id, session.map(|s| s.expose_to_provider())))?;
        Ok(())
    }

    /// Replaces the account's secret: a new version, a new fingerprint, no network session
    /// (it was made with the old secret), and exposed to every current custodian, who can
    /// decrypt the file it is written into. Versions exposed to former custodians stay
    /// recorded as history; the new one is not exposed to them.
    pub fn replace_secret(&self, account: &Account, new: NewSecret) -> Result<Account> {
        let fingerprint = self.fingerprint(new.secret.expose_to_provider())?;
        let expires_at: Option<String> = None;
        self.conn.prepare_cached("UPDATE accounts SET secret = ?2, secret_fingerprint = ?3, secret_version = secret_version + 1,
                 secret_set_at = ?4, session = NULL, secret_label = ?5, secret_expires_at = ?6
             WHERE id = ?1")?.execute((
                account.id,
                new.secret.expose_to_provider(),
                &fingerprint,
                now(),
                new.label,
                expires_at,
            ),
        )?;
        let updated = self.account(&account.name)?;
        self.expose_to_custodians(&updated)?;
        Ok(updated)
    }

    /// Every current custodian can decrypt the file the account's current secret is
    /// written into: record it.
    fn expose_to_custodians(&self, account: &Account) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO exposures (member_id, account_id, secret_version, since)
             SELECT id, ?1, ?2, ?3 FROM members WHERE status = 'active' AND recipient IS NOT NULL",
            )?
            .execute((account.id, account.secret_version, now()))?;
        Ok(())
    }

    /// Accounts whose current secret `member` could decrypt (while they held a key).
    pub fn readable_by(&self, member: &Member) -> Result<Vec<Account>> {
        let cols = ACCOUNT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {cols} FROM accounts a JOIN exposures e
                 ON e.account_id = a.id AND e.secret_version = a.secret_version
             WHERE e.member_id = ?1 AND a.secret IS NOT NULL ORDER BY a.name"
        ))?;
        let rows = stmt.query_map([member.id], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Former custodians who could decrypt the current version of this account's secret:
    /// while this is not empty, the secret is "exposed" and should be rotated.
    pub fn exposed_to_former(&self, account: &Account) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.name FROM exposures e JOIN members m ON m.id = e.member_id
             WHERE e.account_id = ?1 AND e.secret_version = ?2
               AND NOT (m.status = 'active' AND m.recipient IS NOT NULL)
             ORDER BY m.name",
        )?;
        let rows = stmt.query_map((account.id, account.secret_version), |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A name an existing account had: its audit entries are that account's, so no other
/// account takes it while that one exists.
pub(crate) fn former_name(name: &str, now: &str) -> Error {
    Error::Conflict(
        format!("`{name}` is the former name of the account now called `{now}`"),
        Some(format!(
            "choose another name; the audit log's entries under `{name}` belong to `{now}`"
        )),
    )
}
