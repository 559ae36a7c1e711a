//! Scheduled posts: one row per account and time, with the exact text to send.

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::drafts::text_hash;
use super::{Account, Draft, Member, QueueStatus, Vault, now};
use crate::{Error, Result, ids};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    #[serde(skip)]
    pub row: i64,
    /// The id people type (`q` and 8 hex digits).
    pub id: String,
    pub account: String,
    /// None once the account was removed (the post is kept, cancelled, with its name).
    #[serde(skip)]
    pub account_id: Option<i64>,
    /// Who scheduled it: the post is sent as theirs, with their rights at send time.
    pub author: String,
    #[serde(skip)]
    pub author_id: i64,
    /// The approved draft it publishes, if any.
    pub draft: Option<String>,
    /// The API token it was scheduled through (its accessor), if any: the post goes out
    /// only while that token is valid, and within its limits.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(skip)]
    pub token_id: Option<i64>,
    pub text: String,
    pub text_sha256: String,
    pub due_at: String,
    pub status: QueueStatus,
    /// Why it is held or failed.
    pub note: Option<String>,
    pub post_id: Option<String>,
    pub url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const QUEUE_COLUMNS: &str = "q.id, q.public_id, COALESCE(a.name, q.account_name), q.account_id, m.name, q.author_id, d.public_id, q.text, q.text_sha256, q.due_at, q.status, q.note, q.post_id, q.url, q.created_at, q.updated_at, t.accessor, q.token_id";
const QUEUE_FROM: &str = "queue q LEFT JOIN accounts a ON a.id = q.account_id
     JOIN members m ON m.id = q.author_id LEFT JOIN drafts d ON d.id = q.draft_id
     LEFT JOIN tokens t ON t.id = q.token_id";

fn queued_from_row(r: &Row) -> rusqlite::Result<Queued> {
    Ok(Queued {
        row: r.get(0)?,
        id: r.get(1)?,
        account: r.get(2)?,
        account_id: r.get(3)?,
        author: r.get(4)?,
        author_id: r.get(5)?,
        draft: r.get(6)?,
        token: r.get(16)?,
        token_id: r.get(17)?,
        text: r.get(7)?,
        text_sha256: r.get(8)?,
        due_at: r.get(9)?,
        status: r.get(10)?,
        note: r.get(11)?,
        post_id: r.get(12)?,
        url: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

impl Vault {
    /// `token`: the row of the API token the author acts through, if any.
    pub fn insert_queued(
        &self,
        account: &Account,
        author: &Member,
        token: Option<i64>,
        draft: Option<&Draft>,
        text: &str,
        due_at: &str,
    ) -> Result<Queued> {
        let public_id = format!("q{}", ids::random_hex(4));
        let at = now();
        self.conn.prepare_cached("INSERT INTO queue (public_id, account_id, author_id, draft_id, text, text_sha256, due_at, created_at, updated_at, token_id, account_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)")?.execute((
                &public_id,
                account.id,
                author.id,
                draft.map(|d| d.row),
                text,
                text_hash(text),
                due_at,
                &at,
                token,
                &account.name,
            ),
        )?;
        self.queued(&public_id)
    }

    pub fn queued(&self, public_id: &str) -> Result<Queued> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {QUEUE_COLUMNS} FROM {QUEUE_FROM} WHERE q.public_id = ?1"
            ))?
            .query_row([public_id], queued_from_row)
            .optional()?
            .ok_or_else(|| {
                Error::not_found("scheduled post", public_id)
                    .with_hint("`smv queue` lists the scheduled posts")
            })
    }

    /// Scheduled posts by due time; only the open ones (pending, held, unknown) unless `all`.
    pub fn queue(&self, all: bool) -> Result<Vec<Queued>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS} FROM {QUEUE_FROM}
             WHERE ?1 OR q.status IN ('pending', 'held', 'unknown') ORDER BY q.due_at, q.id"
        ))?;
        let rows = stmt.query_map([all], queued_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Open (pending or held) scheduled posts written by `member`, by due time.
    pub fn open_queued_by(&self, member: &Member) -> Result<Vec<Queued>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS} FROM {QUEUE_FROM}
             WHERE q.author_id = ?1 AND q.status IN ('pending', 'held') ORDER BY q.due_at, q.id"
        ))?;
        let rows = stmt.query_map([member.id], queued_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Gives a scheduled post to another author and holds it: it goes out only once someone
    /// releases it (`smv queue release`), as the new author.
    pub fn hand_over_queued(&self, q: &Queued, to: &Member, note: &str) -> Result<()> {
        self.conn.prepare_cached("UPDATE queue SET author_id = ?2, status = 'held', note = ?3, updated_at = ?4 WHERE id = ?1")?.execute((q.row, to.id, note, now()),
        )?;
        Ok(())
    }

    /// Open (pending or held) scheduled posts to `account`, by due time.
    pub fn open_queued_on(&self, account: &Account) -> Result<Vec<Queued>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS} FROM {QUEUE_FROM}
             WHERE q.account_id = ?1 AND q.status IN ('pending', 'held') ORDER BY q.due_at, q.id"
        ))?;
        let rows = stmt.query_map([account.id], queued_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Pending posts due at `at` or before.
    pub fn due(&self, at: &str) -> Result<Vec<Queued>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS} FROM {QUEUE_FROM}
             WHERE q.status = 'pending' AND q.due_at <= ?1 ORDER BY q.due_at, q.id"
        ))?;
        let rows = stmt.query_map([at], queued_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Holds the pending posts scheduled through a token (it was revoked): they wait for a
    /// person to release or cancel them. Returns their ids.
    pub fn hold_queued_of_token(&self, token_id: i64, note: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE queue SET status = 'held', note = ?2, updated_at = ?3
             WHERE token_id = ?1 AND status = 'pending' RETURNING public_id",
        )?;
        let ids = stmt
            .query_map((token_id, note, now()), |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    /// Puts a scheduled post under another authority: the releaser's token (or none, for a
    /// key), when its author releases it.
    pub fn set_queued_token(&self, q: &Queued, token: Option<i64>) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE queue SET token_id = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute((q.row, token, now()))?;
        Ok(())
    }

    /// `receipt`: the post's id and URL, as far as they are known.
    pub fn set_queued(
        &self,
        q: &Queued,
        status: QueueStatus,
        note: Option<&str>,
        receipt: Option<(Option<&str>, Option<&str>)>,
    ) -> Result<()> {
        self.conn.prepare_cached("UPDATE queue SET status = ?2, note = ?3, post_id = ?4, url = ?5, updated_at = ?6 WHERE id = ?1")?.execute((
                q.row,
                status,
                note,
                receipt.and_then(|r| r.0),
                receipt.and_then(|r| r.1),
                now(),
            ),
        )?;
        Ok(())
    }
}
