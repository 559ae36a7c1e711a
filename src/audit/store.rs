//! The audit log file: SQLite in WAL mode, `synchronous = FULL`.
//!
//! Each row holds the entry's canonical JSON (`body`, what is hashed), its RFC 6962 leaf
//! hash and the tree root after it. The checkpoint after every commit is signed; the latest
//! is kept in the `state` row, and one every [`RETAIN`] entries in `checkpoints`. The `state`
//! row also keeps the tree's right edge (O(log n) hashes), so an append costs the same at
//! the millionth entry as at the first. An append is one IMMEDIATE transaction: concurrent smv
//! processes serialise on SQLite's lock, and the entry is on disk when `append` returns.
//! A group ([`AuditLog::begin`] … [`AuditLog::commit`]) holds one transaction across
//! several appends, for one fsync and one signature (`ops::store` builds group commit on it).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::entry::{Entry, Record};
use super::key::LogKey;
use super::merkle::{self, Frontier, Hash};
use crate::{Error, Result};

/// "smva" in ASCII: marks the file as an smv audit log.
const APPLICATION_ID: i32 = 0x736d_7661;
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE entries (
    seq        INTEGER PRIMARY KEY,
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    -- The entry's canonical JSON: what is hashed, signed and exported.
    body       BLOB NOT NULL,
    -- RFC 6962 leaf hash of body, and the tree root after this entry.
    leaf       BLOB NOT NULL,
    root       BLOB NOT NULL
) STRICT;
CREATE INDEX entries_by_target ON entries(target);
CREATE INDEX entries_by_actor ON entries(actor);
CREATE INDEX entries_by_time ON entries(time);
CREATE INDEX entries_by_action ON entries(action, target, request_id, outcome);
-- Signed checkpoints kept for good: one every RETAIN entries. Every action's checkpoint is
-- signed, but only the latest (in `state`) and these are kept.
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    -- Base64 of the signature line of the signed note (origin, size, root).
    sig  TEXT NOT NULL
) STRICT;
-- One row: the tree's right edge after the last entry, and the latest checkpoint's signature.
CREATE TABLE state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    size     INTEGER NOT NULL,
    frontier BLOB NOT NULL,
    sig      TEXT NOT NULL
) STRICT;
INSERT INTO state (id, size, frontier, sig) VALUES (1, 0, x'', '');
"#;

pub struct AuditLog {
    conn: Connection,
    path: PathBuf,
    origin: String,
    key: Option<LogKey>,
    /// The tree as of the open group's last entry (see [`AuditLog::begin`]).
    group: Option<Frontier>,
    /// An append in the open group failed: it is rolled back, not committed.
    broken: bool,
    /// The checkpoint signed by this connection's last commit.
    committed: Option<(u64, Hash)>,
    /// The key the next key-rotation entry switches to ([`AuditLog::append_rotating`]).
    next_key: Option<LogKey>,
    /// The key before a rotation in the open group: put back if the group is rolled back.
    prev_key: Option<LogKey>,
}

/// Which entries to list. All conditions must hold.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub account: Option<String>,
    pub member: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Filter {
    /// Whether the filter selects a contiguous run of the log (time bounds only).
    pub fn is_contiguous(&self) -> bool {
        self.account.is_none() && self.member.is_none() && self.action.is_none()
    }

    /// Whether `e` is one the filter selects: the same conditions as the log's query
    /// ([`AuditLog::select`]), so that a verifier checks an export's claimed selection
    /// against the entries it carries.
    pub fn matches(&self, e: &Entry) -> bool {
        self.account
            .as_ref()
            .is_none_or(|a| e.target == format!("account:{a}"))
            && self
                .member
                .as_ref()
                .is_none_or(|m| &e.actor == m || e.target == format!("member:{m}"))
            && self.action.as_ref().is_none_or(|a| &e.action == a)
            && self
                .since
                .as_ref()
                .is_none_or(|t| e.time.as_str() >= t.as_str())
            && self
                .until
                .as_ref()
                .is_none_or(|t| e.time.as_str() < t.as_str())
    }

    /// The filter as a sentence names it (`account demo, action post`).
    pub fn describe(&self) -> String {
        [
            ("account", &self.account),
            ("member", &self.member),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// A signed checkpoint is kept for good every RETAIN entries.
pub const RETAIN: u64 = 1024;

/// An entry as stored, with the hashes that place it in the tree.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: u64,
    pub body: Vec<u8>,
    pub leaf: Hash,
    pub root: Hash,
    /// The filter columns, which must agree with the body.
    pub columns: Option<[String; 6]>,
}

/// A signed checkpoint as stored: size, root, and its signature line's base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub sig: String,
}

pub(super) fn audit_error(path: &Path, why: impl Into<String>) -> Error {
    Error::Audit {
        path: path.to_path_buf(),
        why: why.into(),
        hint: None,
    }
}

fn hash_from(v: Vec<u8>) -> Option<Hash> {
    v.try_into().ok()
}

impl AuditLog {
    /// Creates a new, empty log for the vault whose key is given. Refuses to touch an
    /// existing file.
    pub fn create(path: &Path, key: LogKey) -> Result<AuditLog> {
        if path.exists() {
            return Err(audit_error(path, "a file already exists there").with_hint(
                "smv never reuses an audit log: move it away if it belongs to a deleted vault",
            ));
        }
        // Create the file private before SQLite opens it.
        crate::fsutil::create_new_private(path).map_err(|e| Error::io("create", path, e))?;
        let conn = connect(path, true)?;
        let origin = key.origin().to_string();
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| sql_error(path, e))?;
        conn.prepare_cached("INSERT INTO meta (key, value) VALUES ('origin', ?1)")?
            .execute([&origin])
            .map_err(|e| sql_error(path, e))?;
        crate::fsutil::sync_parent(path)?;
        Ok(AuditLog {
            conn,
            path: path.to_path_buf(),
            origin,
            key: Some(key),
            group: None,
            broken: false,
            committed: None,
            next_key: None,
            prev_key: None,
        })
    }

    /// A new, empty log held in memory (for the in-memory store: tests, and what a store
    /// that keeps no file needs). Same schema, same tree, same signatures.
    pub fn in_memory(key: LogKey) -> Result<AuditLog> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| sql_error(&path, e))?;
        let origin = key.origin().to_string();
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| sql_error(&path, e))?;
        conn.prepare_cached("INSERT INTO meta (key, value) VALUES ('origin', ?1)")?
            .execute([&origin])
            .map_err(|e| sql_error(&path, e))?;
        Ok(AuditLog {
            conn,
            path,
            origin,
            key: Some(key),
            group: None,
            broken: false,
            committed: None,
            next_key: None,
            prev_key: None,
        })
    }

    /// A read-only copy of this log in memory, as of its last commit: for long reads that
    /// must not hold the log (the in-memory store's readers).
    pub fn snapshot(&mut self) -> Result<AuditLog> {
        let image = self
            .conn
            .serialize(rusqlite::MAIN_DB)
            .map_err(|e| sql_error(&self.path, e))?
            .to_vec();
        let mut conn = Connection::open_in_memory().map_err(|e| sql_error(&self.path, e))?;
        conn.deserialize_read_exact(rusqlite::MAIN_DB, &image[..], image.len(), true)
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(AuditLog {
            conn,
            path: self.path.clone(),
            origin: self.origin.clone(),
            key: None,
            group: None,
            broken: false,
            committed: None,
            next_key: None,
            prev_key: None,
        })
    }

    /// Opens a log to append to: the key must be this log's (same origin).
    pub fn open_signing(path: &Path, key: LogKey) -> Result<AuditLog> {
        let mut log = Self::open_at(path, true)?;
        if log.origin != key.origin() {
            return Err(audit_error(
                path,
                format!("it belongs to another vault ({})", log.origin),
            )
            .with_hint("each vault has its own audit log beside it; check --vault"));
        }
        add_indexes(&log.conn, path)?;
        log.key = Some(key);
        Ok(log)
    }

    /// Opens a log for reading and verification only (no key needed).
    pub fn open_read_only(path: &Path) -> Result<AuditLog> {
        Self::open_at(path, false)
    }

    fn open_at(path: &Path, write: bool) -> Result<AuditLog> {
        if !path.exists() {
            return Err(audit_error(path, "it does not exist").with_hint(
                "the audit log is created by `smv init` beside the vault; restore it from backup, smv will not act without it",
            ));
        }
        if !write {
            roll_back_hot_journal(path)?;
        }
        let conn = connect(path, write)?;
        let app_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK =>
                {
                    hot_journal_error(path)
                }
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ffi::ErrorCode::NotADatabase =>
                {
                    audit_error(path, "it is not an SQLite database")
                }
                _ => sql_error(path, e),
            })?;
        if app_id != APPLICATION_ID {
            return Err(audit_error(path, "it is not an smv audit log"));
        }
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            return Err(audit_error(
                path,
                format!(
                    "its format version {version} is not the one this smv reads ({SCHEMA_VERSION})"
                ),
            ));
        }
        let origin: String = conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'origin'")?
            .query_row([], |r| r.get(0))
            .optional()
            .map_err(|e| sql_error(path, e))?
            .ok_or_else(|| audit_error(path, "its origin is missing"))?;
        Ok(AuditLog {
            conn,
            path: path.to_path_buf(),
            origin,
            key: None,
            group: None,
            broken: false,
            committed: None,
            next_key: None,
            prev_key: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the log at `path` belongs to the vault whose key is given: same origin, and
    /// its latest checkpoint verifies with that key. A vault swapped in beside the real log
    /// (or a log swapped in beside the real vault) fails here, on every command. Returns the
    /// log as it is now: its latest signed checkpoint and what it records of vault writes.
    pub fn check_belongs(path: &Path, key: &LogKey) -> Result<(AuditLog, Option<(u64, Hash)>)> {
        let log = Self::open_read_only(path)?;
        let mismatch = |why: &str| {
            audit_error(path, format!("it does not belong with this vault: {why}")).with_hint(
                "one of the two files was replaced; change nothing, compare with your backups and ask another custodian",
            )
        };
        if log.origin != key.origin() {
            return Err(mismatch(&format!("it is the log of {}", log.origin)));
        }
        // The latest checkpoint's root comes from the stored tree state, not from the last
        // entry: damage to the entries is `smv audit verify`'s to name, not a reason to
        // refuse every command.
        let (size, frontier, sig) = log.state()?;
        let mut head = None;
        if size > 0 {
            let f = decode_frontier(size, &frontier)
                .ok_or_else(|| audit_error(path, "its tree state is damaged"))?;
            let verifier = key.verifier()?;
            if !super::key::signature_holds(&verifier, &log.origin, size, &f.root(), &sig) {
                return Err(mismatch("its checkpoints are signed by another key"));
            }
            head = Some((size, f.root()));
        }
        Ok((log, head))
    }

    /// Writes a consistent copy of the log to `out` (which must not exist): SQLite's
    /// `VACUUM INTO` reads one snapshot, the entries of every committed append included,
    /// wherever they are (main file or -wal). The copy is a self-contained file (rollback
    /// journal, not WAL), mode 0600.
    pub fn copy_to(&self, out: &Path) -> Result<()> {
        crate::fsutil::create_new_private(out).map_err(|e| Error::io("create", out, e))?;
        let copied = (|| {
            let target = out
                .to_str()
                .ok_or_else(|| Error::invalid("FILE", "the path is not valid UTF-8"))?;
            self.conn
                .prepare_cached("VACUUM INTO ?1")?
                .execute([target])
                .map_err(|e| sql_error(out, e))?;
            let copy = Connection::open(out).map_err(|e| sql_error(out, e))?;
            copy.pragma_update_and_check(None, "journal_mode", "DELETE", |_| Ok(()))
                .map_err(|e| sql_error(out, e))?;
            drop(copy);
            std::fs::File::open(out)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("write", out, e))
        })();
        if copied.is_err() {
            let _ = std::fs::remove_file(out);
        }
        copied
    }

    /// The tree root recorded after entry `size` (None if there is no such entry).
    pub fn root_at(&self, size: u64) -> Result<Option<Hash>> {
        let root: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT root FROM entries WHERE seq = ?1")?
            .query_row([size as i64], |r| r.get(0))
            .optional()
            .map_err(|e| sql_error(&self.path, e))?;
        root.map(|r| {
            hash_from(r).ok_or_else(|| audit_error(&self.path, "a stored root is malformed"))
        })
        .transpose()
    }

    /// Every entry about the vault file itself (writes and restores), newest first.
    pub fn vault_write_entries(&self) -> Result<Vec<Entry>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, body FROM entries WHERE target = ?1 ORDER BY seq DESC")
            .map_err(|e| sql_error(&self.path, e))?;
        let rows = stmt
            .query_map([super::saves::TARGET], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(|e| sql_error(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row.map_err(|e| sql_error(&self.path, e))?;
            out.push(
                serde_json::from_slice(&body).map_err(|e| {
                    audit_error(&self.path, format!("entry {seq} is unreadable: {e}"))
                })?,
            );
        }
        Ok(out)
    }

    /// What the log records of the vault's writes, newest first until the latest one it
    /// says happened (see [`super::VaultWrites`]).
    pub fn vault_writes(&self) -> Result<super::VaultWrites> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, body FROM entries WHERE target = ?1 ORDER BY seq DESC")
            .map_err(|e| sql_error(&self.path, e))?;
        let mut rows = stmt
            .query([super::saves::TARGET])
            .map_err(|e| sql_error(&self.path, e))?;
        let mut walk = super::saves::Walk::default();
        while let Some(row) = rows.next().map_err(|e| sql_error(&self.path, e))? {
            let seq: i64 = row.get(0).map_err(|e| sql_error(&self.path, e))?;
            let body: Vec<u8> = row.get(1).map_err(|e| sql_error(&self.path, e))?;
            let entry: Entry = serde_json::from_slice(&body)
                .map_err(|e| audit_error(&self.path, format!("entry {seq} is unreadable: {e}")))?;
            if walk.push(&entry) {
                break;
            }
        }
        Ok(walk.finish())
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Appends one entry and returns its sequence number once it is durable on disk.
    pub fn append(&mut self, record: &Record) -> Result<u64> {
        Ok(self.append_batch(std::slice::from_ref(record))?[0])
    }

    /// Appends entries of which one may be a key rotation (action [`super::KEY_ROTATED`],
    /// naming `next`'s verifier key): its checkpoint is kept, signed by the key in force and
    /// by `next`, and every checkpoint after it is signed by `next` alone. Only this method
    /// can rotate: a rotation entry appended any other way is refused.
    pub fn append_rotating(
        &mut self,
        records: &[Record],
        next: Option<LogKey>,
    ) -> Result<Vec<u64>> {
        self.next_key = next;
        let done = self.append_batch(records);
        self.next_key = None;
        done
    }

    /// The verifier key the log signs with now (None when opened read-only).
    pub fn signing_key(&self) -> Option<String> {
        self.key.as_ref().map(LogKey::verifier_key)
    }

    /// Every key rotation the log records, in order: the entry's seq and the new key.
    pub fn rotations(&self) -> Result<Vec<(u64, String)>> {
        let filter = Filter {
            action: Some(super::KEY_ROTATED.to_string()),
            ..Filter::default()
        };
        Ok(self
            .entries(&filter)?
            .into_iter()
            .filter_map(|e| {
                let key = e.details.get("key")?.as_str()?.to_string();
                Some((e.seq, key))
            })
            .collect())
    }

    /// Appends several entries in one transaction and one fsync. Inside a group (see
    /// [`AuditLog::begin`]) they join the group's transaction instead, and are durable when
    /// the group is committed.
    pub fn append_batch(&mut self, records: &[Record]) -> Result<Vec<u64>> {
        if self.group.is_some() {
            let seqs = self.insert(records);
            if seqs.is_err() {
                // Some of these rows may be in the transaction: the group must not commit.
                self.broken = true;
            }
            return seqs;
        }
        self.begin()?;
        match self.insert(records) {
            Ok(seqs) => self.commit().map(|()| seqs),
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Opens a group: the appends until [`AuditLog::commit`] share one transaction, one
    /// signed checkpoint and one fsync (group commit). Reads on this log see them before the
    /// commit, so a rate guard counts the intents of the posts grouped before it. The
    /// transaction holds SQLite's write lock: other writers wait (busy timeout) until commit.
    pub fn begin(&mut self) -> Result<()> {
        if self.group.is_some() {
            return Err(Error::Internal("audit group already open".into()));
        }
        let path = self.path.clone();
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sql_error(&path, e))?;
        let state = self
            .conn
            .prepare_cached("SELECT size, frontier FROM state WHERE id = 1")?
            .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(|e| sql_error(&path, e))
            .and_then(|(size, frontier)| {
                decode_frontier(size as u64, &frontier)
                    .ok_or_else(|| audit_error(&path, "its tree state is damaged"))
            });
        match state {
            Ok(frontier) => {
                self.group = Some(frontier);
                self.broken = false;
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Signs the checkpoint after the group's entries and commits them (one fsync). A group
    /// in which an append failed is rolled back instead: all of it or none of it.
    pub fn commit(&mut self) -> Result<()> {
        let Some(frontier) = self.group.take() else {
            return Err(Error::Internal("no audit group is open".into()));
        };
        let path = self.path.clone();
        if self.broken {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.unrotate();
            return Err(audit_error(
                &path,
                "an entry could not be written, so none of the entries written with it were kept",
            ));
        }
        let written = self.key().and_then(|key| {
            // The checkpoint after this group: signed now, kept until the next one.
            let latest = key.sign(frontier.size(), &frontier.root())?;
            self.conn
                .prepare_cached("UPDATE state SET size = ?1, frontier = ?2, sig = ?3 WHERE id = 1")?
                .execute((frontier.size() as i64, encode_frontier(&frontier), latest))
                .map_err(|e| sql_error(&path, e))?;
            self.conn
                .execute_batch("COMMIT")
                .map_err(|e| sql_error(&path, e))
        });
        if written.is_ok() {
            self.committed = Some((frontier.size(), frontier.root()));
            self.prev_key = None;
        }
        if written.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if written.is_err() {
            self.unrotate();
        }
        written
    }

    /// The checkpoint signed by this connection's last commit (size and root).
    pub fn committed(&self) -> Option<(u64, Hash)> {
        self.committed
    }

    /// Abandons the open group, if any: none of its entries are kept.
    pub fn rollback(&mut self) {
        if self.group.take().is_some() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.unrotate();
    }

    /// A rotation in a group that is not kept did not happen: sign with the old key again.
    fn unrotate(&mut self) {
        if let Some(old) = self.prev_key.take() {
            self.key = Some(old);
        }
    }

    fn key(&self) -> Result<&LogKey> {
        self.key
            .as_ref()
            .ok_or_else(|| Error::Internal("audit log opened read-only".into()))
    }

    /// Inserts entries into the open group, extending its tree.
    fn insert(&mut self, records: &[Record]) -> Result<Vec<u64>> {
        crate::failpoint::hit("audit-append")?;
        let path = self.path.clone();
        if self.key.is_none() {
            return Err(Error::Internal("audit log opened read-only".into()));
        }
        let frontier = self
            .group
            .as_mut()
            .ok_or_else(|| Error::Internal("no audit group is open".into()))?;
        let mut insert = self
            .conn
            .prepare_cached(
                "INSERT INTO entries (seq, time, actor, action, target, outcome, request_id, body, leaf, root)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(|e| sql_error(&path, e))?;
        let mut retain = self
            .conn
            .prepare_cached("INSERT INTO checkpoints (size, root, sig) VALUES (?1, ?2, ?3)")
            .map_err(|e| sql_error(&path, e))?;
        let mut seqs = Vec::with_capacity(records.len());
        for record in records {
            let seq = frontier.size() + 1;
            let entry = Entry::from_record(seq, crate::vault::now_precise(), record);
            let body = entry.to_bytes();
            let leaf = merkle::leaf_hash(&body);
            // On failure the group is rolled back, frontier and all.
            frontier.push(leaf);
            let root = frontier.root();
            insert
                .execute((
                    seq as i64,
                    &entry.time,
                    &entry.actor,
                    &entry.action,
                    &entry.target,
                    entry.outcome.as_str(),
                    &entry.request_id,
                    &body,
                    &leaf[..],
                    &root[..],
                ))
                .map_err(|e| sql_error(&path, e))?;
            let key = self
                .key
                .as_ref()
                .ok_or_else(|| Error::Internal("audit log opened read-only".into()))?;
            if record.action == super::KEY_ROTATED {
                // The retiring key vouches for its successor: the checkpoint after the
                // rotation entry is kept, signed by both (C2SP notes take several
                // signatures), and the new key signs everything after it.
                let next = self.next_key.take().ok_or_else(|| {
                    Error::Internal("a key rotation entry without its new key".into())
                })?;
                if record.outcome != super::Outcome::Ok
                    || record.details.get("key").and_then(|k| k.as_str())
                        != Some(next.verifier_key().as_str())
                {
                    return Err(Error::Internal(
                        "a key rotation entry that does not name its new key".into(),
                    ));
                }
                let both = format!("{} {}", key.sign(seq, &root)?, next.sign(seq, &root)?);
                self.conn
                    .prepare_cached("INSERT INTO checkpoints (size, root, sig) VALUES (?1, ?2, ?3)")
                    .and_then(|mut s| s.execute((seq as i64, &root[..], both)))
                    .map_err(|e| sql_error(&path, e))?;
                let old = self.key.replace(next);
                if self.prev_key.is_none() {
                    self.prev_key = old;
                }
            } else if seq.is_multiple_of(RETAIN) {
                retain
                    .execute((seq as i64, &root[..], key.sign(seq, &root)?))
                    .map_err(|e| sql_error(&path, e))?;
            }
            seqs.push(seq);
        }
        Ok(seqs)
    }

    pub fn size(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT size FROM state WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(n as u64)
    }

    /// The (target, request id) of every `post` request whose intents outnumber its definite
    /// outcomes (`ok`, `failed`): the requests where an attempt ended `unknown` or has no
    /// outcome at all. Answered from the `entries_by_action` index alone (no entry body is
    /// read), so it stays fast on a long log.
    pub fn unsettled_post_requests(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT target, request_id FROM entries WHERE action = 'post'
             GROUP BY target, request_id
             HAVING SUM(outcome = 'intent') > SUM(outcome IN ('ok', 'failed'))
             ORDER BY MIN(seq)",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| sql_error(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// How many entries of `action` with `outcome` about `target` were written at `since`
    /// or later (the rate guard: posts are counted by their intents, one per attempt).
    pub fn count_since(
        &self,
        target: &str,
        action: &str,
        outcome: super::Outcome,
        since: &str,
    ) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM entries
                 WHERE target = ?1 AND action = ?2 AND outcome = ?3 AND time >= ?4",
            )?
            .query_row((target, action, outcome.as_str(), since), |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(n as u64)
    }

    /// When each account's secret was last used successfully (a post sent or a credential
    /// checked), keyed by account name.
    pub fn last_uses(&self) -> Result<std::collections::HashMap<String, String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT substr(target, 9), MAX(time) FROM entries
             WHERE target LIKE 'account:%' AND outcome = 'ok'
               AND action IN ('post', 'account.check', 'account.rotate')
             GROUP BY target",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| sql_error(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Each actor's latest entry time, keyed by actor name (what they did last, allowed or
    /// not: a refused attempt is still activity).
    pub fn last_actions(&self) -> Result<std::collections::HashMap<String, String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT actor, MAX(time) FROM entries GROUP BY actor")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| sql_error(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// When each API token (by accessor) was last used: the latest entry made through it.
    /// The channel is inside the entry's body, so this reads the bodies that mention a
    /// token channel (a scan: `token list` is an occasional admin command).
    pub fn token_last_uses(&self) -> Result<std::collections::HashMap<String, String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, time FROM entries WHERE CAST(body AS TEXT) LIKE '%\"kind\":\"token\"%' ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| sql_error(&self.path, e))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (body, time) = row.map_err(|e| sql_error(&self.path, e))?;
            if let Ok(entry) = serde_json::from_slice::<super::Entry>(&body)
                && let super::Channel::Token(accessor) = entry.channel
            {
                out.insert(accessor, time);
            }
        }
        Ok(out)
    }

    /// Entries matching the filter, oldest first.
    pub fn entries(&self, filter: &Filter) -> Result<Vec<Entry>> {
        self.parse(self.select_where(filter, None)?)
    }

    /// Entries matching the filter whose canonical JSON contains `needle`, oldest first.
    /// SQLite skips the others without parsing them: a lookup by a detail's value (an
    /// idempotency key) over an account's whole history costs a byte search per entry.
    pub fn entries_mentioning(&self, filter: &Filter, needle: &[u8]) -> Result<Vec<Entry>> {
        self.parse(self.select_where(filter, Some(needle))?)
    }

    fn parse(&self, rows: Vec<Stored>) -> Result<Vec<Entry>> {
        rows.into_iter()
            .map(|s| {
                serde_json::from_slice(&s.body).map_err(|e| {
                    audit_error(&self.path, format!("entry {} is unreadable: {e}", s.seq))
                })
            })
            .collect()
    }

    /// Stored rows matching the filter, oldest first.
    pub fn select(&self, filter: &Filter) -> Result<Vec<Stored>> {
        self.select_where(filter, None)
    }

    fn select_where(&self, filter: &Filter, needle: Option<&[u8]>) -> Result<Vec<Stored>> {
        use rusqlite::types::Value as Sql;
        // Only the conditions given, so SQLite can use the target, actor and time indexes:
        // `(?1 IS NULL OR target = ?1)` would make every lookup a scan of the whole log.
        let mut sql = String::from(
            "SELECT seq, body, leaf, root, time, actor, action, target, outcome, request_id FROM entries WHERE 1",
        );
        let mut args: Vec<Sql> = Vec::new();
        let mut cond = |clause: &str, value: Sql| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(a) = &filter.account {
            cond(" AND target = ?", Sql::Text(format!("account:{a}")));
        }
        if let Some(m) = &filter.member {
            cond(
                " AND (actor = ? OR target = 'member:' || ?)",
                Sql::Text(m.clone()),
            );
        }
        if let Some(a) = &filter.action {
            cond(" AND action = ?", Sql::Text(a.clone()));
        }
        if let Some(t) = &filter.since {
            cond(" AND time >= ?", Sql::Text(t.clone()));
        }
        if let Some(t) = &filter.until {
            cond(" AND time < ?", Sql::Text(t.clone()));
        }
        if let Some(n) = needle {
            cond(" AND instr(body, ?) > 0", Sql::Blob(n.to_vec()));
        }
        sql.push_str(" ORDER BY seq");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), row_to_stored)?;
        rows.map(|r| r.map_err(|e| sql_error(&self.path, e)))
            .collect()
    }

    /// Each entry after `after` up to `upto` (inclusive) whose action is one of `actions`
    /// (every entry when `actions` is empty), in order, parsed (streamed: memory stays flat). A range of the primary key: reading
    /// the entries a derived index has not seen yet costs what is new, not the whole log.
    pub fn each_after(
        &self,
        after: u64,
        upto: u64,
        actions: &[&str],
        f: &mut dyn FnMut(Entry) -> Result<()>,
    ) -> Result<()> {
        let marks = (0..actions.len())
            .map(|i| format!("?{}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let only = if actions.is_empty() {
            String::new()
        } else {
            format!(" AND action IN ({marks})")
        };
        let sql = format!(
            "SELECT seq, body FROM entries WHERE seq > ?1 AND seq <= ?2{only} ORDER BY seq"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| sql_error(&self.path, e))?;
        let mut args: Vec<rusqlite::types::Value> =
            vec![(after as i64).into(), (upto as i64).into()];
        args.extend(
            actions
                .iter()
                .map(|a| rusqlite::types::Value::Text(a.to_string())),
        );
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| sql_error(&self.path, e))?;
        while let Some(row) = rows.next().map_err(|e| sql_error(&self.path, e))? {
            let seq: i64 = row.get(0).map_err(|e| sql_error(&self.path, e))?;
            let body: Vec<u8> = row.get(1).map_err(|e| sql_error(&self.path, e))?;
            let entry = serde_json::from_slice(&body)
                .map_err(|e| audit_error(&self.path, format!("entry {seq} is unreadable: {e}")))?;
            f(entry)?;
        }
        Ok(())
    }

    /// One entry, parsed (None if there is no such entry).
    pub fn entry(&self, seq: u64) -> Result<Option<Entry>> {
        self.stored(seq)?
            .map(|s| {
                serde_json::from_slice(&s.body)
                    .map_err(|e| audit_error(&self.path, format!("entry {seq} is unreadable: {e}")))
            })
            .transpose()
    }

    /// Every row in storage order, for verification (streamed: memory stays flat).
    pub fn for_each_stored(&self, f: &mut dyn FnMut(Stored) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, body, leaf, root, time, actor, action, target, outcome, request_id FROM entries ORDER BY rowid",
        )?;
        let mut rows = stmt.query([]).map_err(|e| sql_error(&self.path, e))?;
        while let Some(row) = rows.next().map_err(|e| sql_error(&self.path, e))? {
            f(row_to_stored(row).map_err(|e| sql_error(&self.path, e))?)?;
        }
        Ok(())
    }

    /// Leaf hashes of entries 1..=size, for proofs.
    pub fn leaves(&self, size: u64) -> Result<Vec<Hash>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT leaf FROM entries WHERE seq <= ?1 ORDER BY seq")?;
        let rows = stmt.query_map([size as i64], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::with_capacity(size as usize);
        for r in rows {
            out.push(
                hash_from(r?)
                    .ok_or_else(|| audit_error(&self.path, "a stored leaf hash is malformed"))?,
            );
        }
        Ok(out)
    }

    /// The stored row of one entry.
    pub fn stored(&self, seq: u64) -> Result<Option<Stored>> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq, body, leaf, root, time, actor, action, target, outcome, request_id FROM entries WHERE seq = ?1")?.query_row([seq as i64],
                row_to_stored,
            )
            .optional()?)
    }

    /// The latest signed checkpoint (None for an empty log).
    pub fn latest(&self) -> Result<Option<SignedCheckpoint>> {
        let (size, sig): (i64, String) = self
            .conn
            .prepare_cached("SELECT size, sig FROM state WHERE id = 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| sql_error(&self.path, e))?;
        if size == 0 {
            return Ok(None);
        }
        let root = self
            .stored(size as u64)?
            .ok_or_else(|| audit_error(&self.path, format!("its latest entry {size} is missing")))?
            .root;
        Ok(Some(SignedCheckpoint {
            size: size as u64,
            root,
            sig,
        }))
    }

    /// The state row as stored: size, right edge and latest signature (for verification).
    pub fn state(&self) -> Result<(u64, Vec<u8>, String)> {
        self.conn
            .prepare_cached("SELECT size, frontier, sig FROM state WHERE id = 1")?
            .query_row([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| sql_error(&self.path, e))
    }

    /// The checkpoints kept for good, by size.
    pub fn retained(&self) -> Result<std::collections::BTreeMap<u64, SignedCheckpoint>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT size, root, sig FROM checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (size, root, sig) = row.map_err(|e| sql_error(&self.path, e))?;
            let root = hash_from(root).ok_or_else(|| {
                audit_error(
                    &self.path,
                    format!("checkpoint {size} has a malformed root"),
                )
            })?;
            out.insert(
                size as u64,
                SignedCheckpoint {
                    size: size as u64,
                    root,
                    sig,
                },
            );
        }
        Ok(out)
    }

    /// The tree's right edge just before entry `seq` (for a verifiable range export).
    pub fn frontier_before(&self, seq: u64) -> Result<Frontier> {
        let mut f = Frontier::new();
        for leaf in self.leaves(seq.saturating_sub(1))? {
            f.push(leaf);
        }
        Ok(f)
    }
}

fn row_to_stored(r: &rusqlite::Row) -> rusqlite::Result<Stored> {
    let bad = |i: usize| {
        rusqlite::Error::InvalidColumnType(i, "hash".into(), rusqlite::types::Type::Blob)
    };
    Ok(Stored {
        seq: r.get::<_, i64>(0)? as u64,
        body: r.get(1)?,
        leaf: hash_from(r.get(2)?).ok_or_else(|| bad(2))?,
        root: hash_from(r.get(3)?).ok_or_else(|| bad(3))?,
        columns: Some([
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
        ]),
    })
}

pub fn encode_frontier(f: &Frontier) -> Vec<u8> {
    f.hashes().iter().flat_map(|h| h.iter().copied()).collect()
}

pub fn decode_frontier(size: u64, bytes: &[u8]) -> Option<Frontier> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    let hashes = bytes
        .chunks(32)
        .map(|c| c.try_into().ok())
        .collect::<Option<Vec<Hash>>>()?;
    Frontier::from_parts(size, hashes)
}

/// The rollback journal SQLite leaves beside a log in rollback-journal mode (a copy made by
/// `smv audit backup` and put back) when a write to it is interrupted.
fn journal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push("-journal");
    PathBuf::from(p)
}

/// A write interrupted in rollback-journal mode (kill -9 during a restore's first write to
/// a log put back from a backup) leaves a hot journal, which only a writable connection can
/// roll back: a read-only open fails on it. So before any read-only open, a hot journal is
/// rolled back by a writable open (the first read does it), which leaves the log as it was
/// before the interrupted write. (Issue 23, item 7.)
fn roll_back_hot_journal(path: &Path) -> Result<()> {
    let journal = journal_path(path);
    if std::fs::metadata(&journal).map_or(true, |m| m.len() == 0) {
        return Ok(());
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let rolled_back = Connection::open_with_flags(path, flags).and_then(|conn| {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    });
    match rolled_back {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                rusqlite::ffi::ErrorCode::ReadOnly | rusqlite::ffi::ErrorCode::CannotOpen
            ) =>
        {
            Err(hot_journal_error(path))
        }
        Err(e) => Err(sql_error(path, e)),
    }
}

fn hot_journal_error(path: &Path) -> Error {
    audit_error(
        path,
        format!(
            "an interrupted write left {} (a hot journal), and this user cannot write the folder to roll it back",
            journal_path(path).display()
        ),
    )
    .with_hint(format!(
        "run `smv audit verify` as a user who can write {}: it rolls the interrupted write back (the log is then as it was before it); do not delete the journal file",
        path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
    ))
}

fn connect(path: &Path, write: bool) -> Result<Connection> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?;
    conn.set_prepared_statement_cache_capacity(crate::vault::STATEMENTS_KEPT);
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if write {
        // WAL: appends do not rewrite the file; FULL: each commit is fsynced before it returns.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(|e| sql_error(path, e))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(conn)
}

/// Indexes added after logs were first written (same format version: an index changes no
/// entry, and an older smv ignores it). Made once, by the first writer that opens the log;
/// readers of a log without them get the same answers, by a scan.
fn add_indexes(conn: &Connection, path: &Path) -> Result<()> {
    let present: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'entries_by_action')")?.query_row([],
            |r| r.get(0),
        )
        .map_err(|e| sql_error(path, e))?;
    if !present {
        // Outcomes of posts by (action, target, request): `smv status` and the matcher of
        // unknown outcomes (ops::outcomes) read it without reading entry bodies.
        conn.execute_batch(
            "CREATE INDEX IF NOT EXISTS entries_by_action ON entries(action, target, request_id, outcome)",
        )
        .map_err(|e| sql_error(path, e))?;
    }
    Ok(())
}

pub(super) fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ffi::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull => Error::io(
            "append to audit log",
            path,
            std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
        ),
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ReadOnly || f.code == ErrorCode::CannotOpen =>
        {
            Error::io(
                "write to audit log",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::ReadOnlyFilesystem,
                    "read-only or not writable",
                ),
            )
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            audit_error(path, "the file is damaged or not a database")
        }
        _ => audit_error(path, crate::error::storage_words(&e)),
    }
}
