//! The archive's index: which audit entries are published posts, by account, author, time
//! and words, so that `smv posts` answers without reading the whole log.
//!
//! The audit log stays the source of truth and keeps its format: this index is derived
//! from it, kept in a separate file beside it (`<log>.posts`, mode 0600, SQLite), and can be
//! deleted at any time — it is rebuilt when missing. It holds no text of its own to show:
//! a query returns sequence numbers, and what is shown is read from the log's entries. The
//! full-text part is an FTS5 table without content (it keeps the words' positions, not the
//! texts).
//!
//! The index is bound to the log it was built from: it records the log's origin, the number
//! of entries it has read and the tree root after the last of them. When it is opened,
//! a different origin, a log shorter than what it read, or a different root there (the log
//! was restored from a backup, or rewritten) makes it start again from nothing; otherwise
//! it reads the entries appended since, a range of the log's primary key.
//!
//! Accounts get stable ids here, from the log's own history: `account.add` gives a name a
//! new id, `account.rename` moves the id to the new name, `account.remove` frees the name.
//! A post is indexed under the id its account had then, so `smv posts --account NEW` finds
//! what was posted under the old name. This is the one module that knows the file; the
//! store interface (ops) can move it elsewhere.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::Value;

use super::store::audit_error;
use super::{Entry, Ledger, Outcome};
use crate::{Error, Result, ids};

/// "smvp": marks the file as an smv posts index.
const APPLICATION_ID: i32 = 0x736d_7670;
const VERSION: i64 = 1;

/// The actions the index reads: posts, and the account history that gives them stable ids.
pub const ACTIONS: [&str; 4] = ["post", "account.add", "account.rename", "account.remove"];

const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
-- Every account the log has named: its current name, or NULL once removed.
CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT) STRICT;
CREATE UNIQUE INDEX accounts_by_name ON accounts(name);
-- Every name an account has had (for `--account OLD` after a rename).
CREATE TABLE account_names (name TEXT NOT NULL, account INTEGER NOT NULL, since INTEGER NOT NULL,
    PRIMARY KEY (name, since)) STRICT;
-- Renames whose intent was read and whose outcome was not yet (the new name is in the
-- intent's details; the outcome, with the same request id, carries none).
CREATE TABLE renames (request_id TEXT PRIMARY KEY, new_name TEXT NOT NULL) STRICT;
CREATE TABLE posts (
    seq     INTEGER PRIMARY KEY,
    time    TEXT NOT NULL,
    account INTEGER NOT NULL,
    actor   TEXT NOT NULL
) STRICT;
CREATE INDEX posts_by_account ON posts(account, seq);
CREATE INDEX posts_by_actor ON posts(actor, seq);
CREATE INDEX posts_by_time ON posts(time);
-- The words of each post's text (rowid = seq); no copy of the text.
CREATE VIRTUAL TABLE post_words USING fts5(text, content='');
"#;

/// Which posts to find. All conditions must hold.
#[derive(Debug, Default, Clone)]
pub struct PostQuery {
    /// Only these accounts (stable ids); None: every account.
    pub accounts: Option<Vec<i64>>,
    pub actor: Option<String>,
    /// The log's time format (RFC 3339 UTC, microseconds): compared as text.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Words the text must contain (all of them), as a person typed them.
    pub words: Option<String>,
    /// At most this many, newest first; 0: all.
    pub limit: usize,
}

pub struct PostIndex {
    conn: Connection,
    path: Option<PathBuf>,
}

/// Where the index of the log at `log` lives.
pub fn index_path(log: &Path) -> PathBuf {
    let mut p = log.as_os_str().to_os_string();
    p.push(".posts");
    p.into()
}

fn sql(path: &Option<PathBuf>, e: rusqlite::Error) -> Error {
    let p = path
        .clone()
        .unwrap_or_else(|| PathBuf::from("(posts index in memory)"));
    let err = audit_error(
        &p,
        format!(
            "the posts index failed: {}",
            crate::error::storage_words(&e)
        ),
    );
    match path {
        Some(file) => err.with_hint(format!(
            "the index is a cache of the audit log: delete {} and run the command again (it is rebuilt)",
            file.display()
        )),
        None => err,
    }
}

impl PostIndex {
    /// A fresh index in memory (an export or a log copy read offline).
    pub fn in_memory() -> Result<PostIndex> {
        let conn = Connection::open_in_memory().map_err(|e| sql(&None, e))?;
        conn.execute_batch(SCHEMA).map_err(|e| sql(&None, e))?;
        Ok(PostIndex { conn, path: None })
    }

    /// The index beside `log`, brought up to date with it: created when missing, started
    /// again when it does not match the log, then fed the entries appended since it last
    /// read. `progress(read, total)` is told how far a long (re)build is. Where no file can
    /// be written beside the log (a read-only directory), an index in memory does the job.
    pub fn beside(
        log_path: &Path,
        log: &dyn Ledger,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<PostIndex> {
        let path = index_path(log_path);
        let mut index = match Self::open_file(&path) {
            Ok(i) => i,
            Err(Error::Io { .. }) => Self::in_memory()?,
            Err(e) => return Err(e),
        };
        index.catch_up(log, progress)?;
        Ok(index)
    }

    fn open_file(path: &Path) -> Result<PostIndex> {
        let fresh = !path.exists();
        if fresh {
            crate::fsutil::create_new_private(path).map_err(|e| Error::io("create", path, e))?;
        }
        let p = Some(path.to_path_buf());
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql(&p, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| sql(&p, e))?;
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| sql(&p, e))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| sql(&p, e))?;
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'accounts', 'account_names', 'renames', 'posts', 'post_words')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| sql(&p, e))?;
        let any: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| sql(&p, e))?;
        let index = PostIndex { conn, path: p };
        if app == 0 && any > 0 {
            // A database of another program at the index's path: not smv's to overwrite.
            return Err(audit_error(
                path,
                "it is not smv's posts index (another database is there)",
            )
            .with_hint("smv keeps the index of `smv posts` there: move the file away"));
        }
        if fresh || app == 0 {
            index.create()?;
        } else if app == APPLICATION_ID && tables != 6 {
            // Ours, with tables missing (damaged): a cache, started again.
            index.reset()?;
        } else if app != APPLICATION_ID {
            return Err(audit_error(path, "it is not smv's posts index")
                .with_hint("smv keeps the index of `smv posts` there: move the file away"));
        } else if version != VERSION {
            index.reset()?;
        }
        Ok(index)
    }

    fn create(&self) -> Result<()> {
        self.conn
            .execute_batch(&format!(
                "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {VERSION}; COMMIT;"
            ))
            .map_err(|e| sql(&self.path, e))
    }

    /// Starts again from nothing (the log it was built from is not this one any more).
    fn reset(&self) -> Result<()> {
        self.conn
            .execute_batch(
                "BEGIN; DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS accounts;
                 DROP TABLE IF EXISTS account_names; DROP TABLE IF EXISTS renames;
                 DROP TABLE IF EXISTS posts;
                 DROP TABLE IF EXISTS post_words; COMMIT;",
            )
            .map_err(|e| sql(&self.path, e))?;
        self.create()
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| sql(&self.path, e))
    }

    /// How many of the log's entries the index has read.
    pub fn size(&self) -> Result<u64> {
        Ok(self.meta("size")?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    /// Whether what the index read is the start of this log: same origin, and the same
    /// tree root after the last entry it read.
    fn matches(&self, log: &dyn Ledger) -> Result<bool> {
        let size = self.size()?;
        if size == 0 {
            return Ok(true);
        }
        if self.meta("origin")?.as_deref() != Some(log.origin()) {
            return Ok(false);
        }
        let root = log.root_at(size)?.map(|r| ids::hex(&r));
        Ok(root.is_some() && root == self.meta("root")?)
    }

    /// Reads the entries `log` has that the index has not, in one transaction.
    pub fn catch_up(&mut self, log: &dyn Ledger, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let total = log.size()?;
        if self.size()? == total && self.matches(log)? {
            return Ok(());
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sql(&self.path, e))?;
        let done = (|| {
            // Another process may have caught up meanwhile: decide again under the lock.
            if !self.matches(log)? || self.size()? > total {
                self.conn
                    .execute_batch(
                        "DELETE FROM meta; DELETE FROM accounts; DELETE FROM account_names;
                         DELETE FROM renames; DELETE FROM posts;
                         INSERT INTO post_words(post_words) VALUES('delete-all');",
                    )
                    .map_err(|e| sql(&self.path, e))?;
            }
            let from = self.size()?;
            let mut read = from;
            log.each_after(from, total, &ACTIONS, &mut |entry| {
                read = entry.seq;
                progress(read, total);
                self.add(&entry)
            })?;
            progress(total, total);
            self.set_meta("origin", log.origin())?;
            self.set_meta("size", &total.to_string())?;
            let root = log
                .root_at(total)?
                .map(|r| ids::hex(&r))
                .unwrap_or_default();
            self.set_meta("root", &root)
        })();
        match done {
            Ok(()) => self
                .conn
                .execute_batch("COMMIT")
                .map_err(|e| sql(&self.path, e)),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Feeds entries (in order) to an index in memory.
    pub fn add_all(&mut self, entries: &mut dyn Iterator<Item = &Entry>) -> Result<()> {
        self.conn
            .execute_batch("BEGIN")
            .map_err(|e| sql(&self.path, e))?;
        for e in entries {
            if ACTIONS.contains(&e.action.as_str())
                && let Err(err) = self.add(e)
            {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(err);
            }
        }
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| sql(&self.path, e))
    }

    /// The id the account named `name` has now; a name the log never gave an account (or a
    /// post whose account's history is not in this log or export) gets one of its own.
    fn id_for(&self, name: &str, seq: u64) -> Result<i64> {
        if let Some(id) = self.current(name)? {
            return Ok(id);
        }
        self.conn
            .execute("INSERT INTO accounts (name) VALUES (?1)", [name])
            .map_err(|e| sql(&self.path, e))?;
        let id = self.conn.last_insert_rowid();
        self.name_since(name, id, seq)?;
        Ok(id)
    }

    fn name_since(&self, name: &str, id: i64, seq: u64) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO account_names (name, account, since) VALUES (?1, ?2, ?3)",
                (name, id, seq as i64),
            )
            .map(|_| ())
            .map_err(|e| sql(&self.path, e))
    }

    fn add(&self, e: &Entry) -> Result<()> {
        let Some(name) = e.target.strip_prefix("account:") else {
            return Ok(());
        };
        if e.action == "account.rename" && e.outcome == Outcome::Intent {
            if let Some(new) = e.details.get("new_name").and_then(Value::as_str) {
                self.conn
                    .execute(
                        "INSERT OR REPLACE INTO renames (request_id, new_name) VALUES (?1, ?2)",
                        (&e.request_id, new),
                    )
                    .map_err(|e| sql(&self.path, e))?;
            }
            return Ok(());
        }
        if e.outcome != Outcome::Ok {
            return Ok(());
        }
        match e.action.as_str() {
            "account.add" => {
                // A name that is added again after a removal is a new account.
                self.conn
                    .execute("UPDATE accounts SET name = NULL WHERE name = ?1", [name])
                    .map_err(|e| sql(&self.path, e))?;
                self.id_for(name, e.seq)?;
            }
            "account.rename" => {
                let pending: Option<String> = self
                    .conn
                    .query_row(
                        "DELETE FROM renames WHERE request_id = ?1 RETURNING new_name",
                        [&e.request_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| sql(&self.path, e))?;
                let Some(new) = pending
                    .as_deref()
                    .or_else(|| e.details.get("new_name").and_then(Value::as_str))
                else {
                    return Ok(());
                };
                let id = self.id_for(name, e.seq)?;
                self.conn
                    .execute("UPDATE accounts SET name = NULL WHERE name = ?1", [new])
                    .map_err(|e| sql(&self.path, e))?;
                self.conn
                    .execute("UPDATE accounts SET name = ?1 WHERE id = ?2", (new, id))
                    .map_err(|e| sql(&self.path, e))?;
                self.name_since(new, id, e.seq)?;
            }
            "account.remove" => {
                self.conn
                    .execute("UPDATE accounts SET name = NULL WHERE name = ?1", [name])
                    .map_err(|e| sql(&self.path, e))?;
            }
            "post" => {
                let id = self.id_for(name, e.seq)?;
                self.conn
                    .execute(
                        "INSERT OR IGNORE INTO posts (seq, time, account, actor) VALUES (?1, ?2, ?3, ?4)",
                        (e.seq as i64, &e.time, id, &e.actor),
                    )
                    .map_err(|e| sql(&self.path, e))?;
                let text = e.details.get("text").and_then(Value::as_str).unwrap_or("");
                self.conn
                    .execute(
                        "INSERT INTO post_words (rowid, text) VALUES (?1, ?2)",
                        (e.seq as i64, text),
                    )
                    .map_err(|e| sql(&self.path, e))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The account the name belongs to now.
    pub fn current(&self, name: &str) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT id FROM accounts WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    /// The account a name means: the one that has it now, else the last one that had it.
    pub fn account(&self, name: &str) -> Result<Option<i64>> {
        if let Some(id) = self.current(name)? {
            return Ok(Some(id));
        }
        self.conn
            .query_row(
                "SELECT account FROM account_names WHERE name = ?1 ORDER BY since DESC LIMIT 1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    /// The account's name now (None once removed).
    pub fn name_of(&self, id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT name FROM accounts WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map_err(|e| sql(&self.path, e))?
            .flatten())
    }

    /// The account a post (by its entry's seq) was indexed under.
    pub fn account_of(&self, seq: u64) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT account FROM posts WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    /// The posts matching `q`, newest first: their audit entries' sequence numbers. Every
    /// condition is on an indexed column (or the full-text index); only the conditions
    /// given are in the SQL, so SQLite can use them.
    pub fn select(&self, q: &PostQuery) -> Result<Vec<u64>> {
        use rusqlite::types::Value as Sql;
        let mut where_ = String::from("1");
        if let Some(accounts) = &q.accounts {
            if accounts.is_empty() {
                return Ok(Vec::new());
            }
            // Integers the index gave out: nothing a person typed.
            let list = accounts
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            where_.push_str(&format!(" AND account IN ({list})"));
        }
        let mut args: Vec<Sql> = Vec::new();
        let mut cond = |clause: &str, value: Sql| {
            args.push(value);
            where_.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(a) = &q.actor {
            cond(" AND actor = ?", Sql::Text(a.clone()));
        }
        if let Some(t) = &q.since {
            cond(" AND time >= ?", Sql::Text(t.clone()));
        }
        if let Some(t) = &q.until {
            cond(" AND time < ?", Sql::Text(t.clone()));
        }
        if let Some(words) = &q.words {
            let Some(m) = match_query(words) else {
                return Ok(Vec::new());
            };
            cond(
                " AND seq IN (SELECT rowid FROM post_words WHERE post_words MATCH ?)",
                Sql::Text(m),
            );
        }
        let limit = if q.limit == 0 {
            String::new()
        } else {
            format!(" LIMIT {}", q.limit)
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT seq FROM posts WHERE {where_} ORDER BY seq DESC{limit}"
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))
            .map_err(|e| sql(&self.path, e))?;
        rows.map(|r| r.map(|s| s as u64).map_err(|e| sql(&self.path, e)))
            .collect()
    }
}

/// A person's words as an FTS5 query that means only "all these words": each word becomes a
/// quoted string (so `OR`, `NOT`, `NEAR(…)`, `col:`, `^`, parentheses and quotes are words,
/// never syntax), a trailing `*` a prefix search. None when there is no word at all.
pub fn match_query(words: &str) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    for raw in words.split_whitespace() {
        let prefix = raw.ends_with('*');
        // The tokenizer's words: letters and digits; everything else separates.
        let parts: Vec<&str> = raw
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let n = parts.len();
        for (i, w) in parts.into_iter().enumerate() {
            let quoted = format!("\"{}\"", w.replace('"', "\"\""));
            terms.push(if prefix && i + 1 == n {
                format!("{quoted}*")
            } else {
                quoted
            });
        }
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_only_ever_words() {
        assert_eq!(
            match_query("release notes").unwrap(),
            "\"release\" \"notes\""
        );
        assert_eq!(match_query("rel*").unwrap(), "\"rel\"*");
        assert_eq!(match_query("Q3-results!").unwrap(), "\"Q3\" \"results\"");
        // FTS5 syntax is not syntax here.
        assert_eq!(
            match_query("NEAR(a b) OR text:x NOT \"y ^z").unwrap(),
            "\"NEAR\" \"a\" \"b\" \"OR\" \"text\" \"x\" \"NOT\" \"y\" \"z\""
        );
        assert_eq!(match_query("日本語 café").unwrap(), "\"日本語\" \"café\"");
        assert_eq!(match_query("  * \" ( ) "), None);
    }

    fn entry(seq: u64, action: &str, target: &str, details: serde_json::Value) -> Entry {
        Entry {
            seq,
            time: format!("2026-12-01T00:00:{:02}.000000Z", seq % 60),
            actor: "alice".into(),
            channel: super::super::Channel::Local,
            action: action.into(),
            target: target.into(),
            outcome: Outcome::Ok,
            reason: None,
            request_id: "r".into(),
            details: details.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn a_renamed_account_keeps_its_posts_and_a_reused_name_does_not_inherit_them() {
        let mut ix = PostIndex::in_memory().unwrap();
        let log = [
            entry(1, "account.add", "account:old", serde_json::json!({})),
            entry(
                2,
                "post",
                "account:old",
                serde_json::json!({"text": "first launch"}),
            ),
            entry(
                3,
                "account.rename",
                "account:old",
                serde_json::json!({"new_name": "new"}),
            ),
            entry(
                4,
                "post",
                "account:new",
                serde_json::json!({"text": "second launch"}),
            ),
            entry(5, "account.add", "account:old", serde_json::json!({})),
            entry(
                6,
                "post",
                "account:old",
                serde_json::json!({"text": "an impostor"}),
            ),
        ];
        ix.add_all(&mut log.iter()).unwrap();
        let new = ix.account("new").unwrap().unwrap();
        let q = |accounts: Vec<i64>, words: Option<&str>| {
            ix.select(&PostQuery {
                accounts: Some(accounts),
                words: words.map(str::to_string),
                ..PostQuery::default()
            })
            .unwrap()
        };
        assert_eq!(q(vec![new], None), [4, 2]);
        let reused = ix.account("old").unwrap().unwrap();
        assert_ne!(reused, new);
        assert_eq!(q(vec![reused], None), [6]);
        assert_eq!(q(vec![new, reused], Some("launch")), [4, 2]);
        assert_eq!(q(vec![new, reused], Some("laun*")), [4, 2]);
        assert_eq!(q(vec![new], Some("impostor")), Vec::<u64>::new());
        assert_eq!(ix.name_of(new).unwrap().as_deref(), Some("new"));
        // A post whose account's history is not in the log gets an account of its own.
        ix.add_all(
            &mut [entry(
                7,
                "post",
                "account:stray",
                serde_json::json!({"text": "x"}),
            )]
            .iter(),
        )
        .unwrap();
        assert!(ix.current("stray").unwrap().is_some());
    }
}
