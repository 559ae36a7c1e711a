//! Drafts and their approvals.
//!
//! A draft's text lives in the vault (it is company business until published), with the
//! SHA-256 of its exact bytes. An approval records the hash it approved; editing the text
//! deletes the approvals, and only approvals of the current hash are ever counted.

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{Account, DraftStatus, Member, Vault, now};
use crate::{Error, Result, ids};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Draft {
    #[serde(skip)]
    pub row: i64,
    /// The id people type (`d` and 8 hex digits).
    pub id: String,
    pub author: String,
    #[serde(skip)]
    pub author_id: i64,
    pub accounts: Vec<String>,
    pub text: String,
    pub text_sha256: String,
    pub status: DraftStatus,
    pub created_at: String,
    pub updated_at: String,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    pub reason: Option<String>,
    /// Every approval on record, current or not (see [`Approval::text_sha256`]).
    pub approvals: Vec<Approval>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approval {
    pub member: String,
    #[serde(skip)]
    pub member_id: i64,
    /// The hash of the text approved: it counts only while it is the draft's.
    pub text_sha256: String,
    pub approved_at: String,
}

impl Draft {
    pub fn is_pending(&self) -> bool {
        self.status == DraftStatus::Pending
    }
}

const DRAFT_COLUMNS: &str = "d.id, d.public_id, m.name, d.author_id, d.text, d.text_sha256, d.status, d.created_at, d.updated_at, d.closed_by, d.closed_at, d.reason";

fn draft_from_row(r: &Row) -> rusqlite::Result<Draft> {
    Ok(Draft {
        row: r.get(0)?,
        id: r.get(1)?,
        author: r.get(2)?,
        author_id: r.get(3)?,
        accounts: Vec::new(),
        text: r.get(4)?,
        text_sha256: r.get(5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        closed_by: r.get(9)?,
        closed_at: r.get(10)?,
        reason: r.get(11)?,
        approvals: Vec::new(),
    })
}

pub fn text_hash(text: &str) -> String {
    use sha2::Digest;
    ids::hex(&sha2::Sha256::digest(text.as_bytes()))
}

impl Vault {
    pub fn insert_draft(&self, author: &Member, accounts: &[Account], text: &str) -> Result<Draft> {
        let public_id = format!("d{}", ids::random_hex(4));
        let at = now();
        self.conn.prepare_cached("INSERT INTO drafts (public_id, author_id, text, text_sha256, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)")?.execute((&public_id, author.id, text, text_hash(text), &at),
        )?;
        let row = self.conn.last_insert_rowid();
        for a in accounts {
            self.conn
                .prepare_cached(
                    "INSERT INTO draft_accounts (draft_id, account_id) VALUES (?1, ?2)",
                )?
                .execute((row, a.id))?;
        }
        self.draft(&public_id)
    }

    pub fn draft(&self, public_id: &str) -> Result<Draft> {
        let d = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DRAFT_COLUMNS} FROM drafts d JOIN members m ON m.id = d.author_id
                     WHERE d.public_id = ?1"
            ))?
            .query_row([public_id], draft_from_row)
            .optional()?
            .ok_or_else(|| {
                Error::not_found("draft", public_id).with_hint("`smv drafts` lists the drafts")
            })?;
        self.fill_draft(d)
    }

    /// Drafts, newest first; only pending ones unless `all`.
    pub fn drafts(&self, all: bool) -> Result<Vec<Draft>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DRAFT_COLUMNS} FROM drafts d JOIN members m ON m.id = d.author_id
             WHERE ?1 OR d.status = 'pending' ORDER BY d.id DESC"
        ))?;
        let rows = stmt.query_map([all], draft_from_row)?;
        let drafts: Vec<Draft> = rows.collect::<rusqlite::Result<_>>()?;
        drafts.into_iter().map(|d| self.fill_draft(d)).collect()
    }

    fn fill_draft(&self, mut d: Draft) -> Result<Draft> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.name FROM draft_accounts da JOIN accounts a ON a.id = da.account_id
             WHERE da.draft_id = ?1 ORDER BY a.name",
        )?;
        d.accounts = stmt
            .query_map([d.row], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.name, ap.member_id, ap.text_sha256, ap.approved_at FROM approvals ap
             JOIN members m ON m.id = ap.member_id WHERE ap.draft_id = ?1 ORDER BY ap.approved_at, m.name",
        )?;
        d.approvals = stmt
            .query_map([d.row], |r| {
                Ok(Approval {
                    member: r.get(0)?,
                    member_id: r.get(1)?,
                    text_sha256: r.get(2)?,
                    approved_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(d)
    }

    /// Replaces the text. Every approval goes: they approved other bytes.
    pub fn set_draft_text(&self, draft: &Draft, text: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE drafts SET text = ?2, text_sha256 = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute((draft.row, text, text_hash(text), now()))?;
        self.conn
            .prepare_cached("DELETE FROM approvals WHERE draft_id = ?1")?
            .execute([draft.row])?;
        Ok(())
    }

    /// Records `member`'s approval of the draft's current text (once per member).
    pub fn approve_draft(&self, draft: &Draft, member: &Member) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO approvals (draft_id, member_id, text_sha256, approved_at)
             VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((draft.row, member.id, &draft.text_sha256, now()))?;
        Ok(())
    }

    /// Pending drafts written by `member`, oldest first.
    pub fn pending_drafts_by(&self, member: &Member) -> Result<Vec<Draft>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DRAFT_COLUMNS} FROM drafts d JOIN members m ON m.id = d.author_id
             WHERE d.status = 'pending' AND d.author_id = ?1 ORDER BY d.id"
        ))?;
        let rows = stmt.query_map([member.id], draft_from_row)?;
        let drafts: Vec<Draft> = rows.collect::<rusqlite::Result<_>>()?;
        drafts.into_iter().map(|d| self.fill_draft(d)).collect()
    }

    /// Gives a draft to another author. Every approval goes: the approvers said yes to the
    /// previous author's post, and the new author must collect their own.
    pub fn hand_over_draft(&self, draft: &Draft, to: &Member) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE drafts SET author_id = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute((draft.row, to.id, now()))?;
        self.conn
            .prepare_cached("DELETE FROM approvals WHERE draft_id = ?1")?
            .execute([draft.row])?;
        Ok(())
    }

    /// Deletes `member`'s approvals of pending drafts; returns those drafts' public ids.
    /// (Approvals of closed drafts stay: they are the record of what happened.)
    pub fn withdraw_approvals(&self, member: &Member) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.public_id FROM approvals ap JOIN drafts d ON d.id = ap.draft_id
             WHERE ap.member_id = ?1 AND d.status = 'pending' ORDER BY d.id",
        )?;
        let ids: Vec<String> = stmt
            .query_map([member.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        self.conn
            .prepare_cached(
                "DELETE FROM approvals WHERE member_id = ?1
               AND draft_id IN (SELECT id FROM drafts WHERE status = 'pending')",
            )?
            .execute([member.id])?;
        Ok(ids)
    }

    /// Ends a draft's life: published, rejected or cancelled.
    pub fn close_draft(
        &self,
        draft: &Draft,
        status: DraftStatus,
        by: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        self.conn.prepare_cached("UPDATE drafts SET status = ?2, closed_by = ?3, closed_at = ?4, reason = ?5 WHERE id = ?1")?.execute((draft.row, status, by, now(), reason),
        )?;
        Ok(())
    }
}
