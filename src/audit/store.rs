//! The audit log file.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::entry::{Entry, Record};
use crate::{Error, Result};

/// "smva" in ASCII: marks the file as an smv audit log.
const APPLICATION_ID: i32 = 0x736d_7661;
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE entries (
    seq        INTEGER PRIMARY KEY,
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    -- The entry's canonical JSON: what is hashed, signed and exported.
    body       BLOB NOT NULL
) STRICT;
CREATE INDEX entries_by_target ON entries(target);
CREATE INDEX entries_by_actor ON entries(actor);
"#;

pub struct AuditLog {
    conn: Connection,
    path: PathBuf,
}

/// Which entries to list. All conditions must hold.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub account: Option<String>,
    pub member: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl AuditLog {
    fn audit_error(path: &Path, why: impl Into<String>) -> Error {
        Error::Audit {
            path: path.to_path_buf(),
            why: why.into(),
            hint: None,
        }
    }

    /// Creates a new, empty log. Refuses to touch an existing file.
    pub fn create(path: &Path) -> Result<AuditLog> {
        if path.exists() {
            return Err(
                Self::audit_error(path, "a file already exists there").with_hint(
                    "smv never reuses an audit log: move it away if it belongs to a deleted vault",
                ),
            );
        }
        // Create the file private before SQLite opens it.
        crate::fsutil::create_new_private(path).map_err(|e| Error::io("create", path, e))?;
        let conn = Self::connect(path)?;
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| Self::sql_error(path, e))?;
        crate::fsutil::sync_parent(path)?;
        Ok(AuditLog {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn open(path: &Path) -> Result<AuditLog> {
        if !path.exists() {
            return Err(Self::audit_error(path, "it does not exist").with_hint(
                "the audit log is created by `smv init` beside the vault; restore it from backup, smv will not act without it",
            ));
        }
        let conn = Self::connect(path)?;
        let app_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|_| Self::audit_error(path, "it is not an SQLite database"))?;
        if app_id != APPLICATION_ID {
            return Err(Self::audit_error(path, "it is not an smv audit log"));
        }
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            return Err(Self::audit_error(
                path,
                format!(
                    "its format version {version} is not the one this smv writes ({SCHEMA_VERSION})"
                ),
            ));
        }
        Ok(AuditLog {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn connect(path: &Path) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Self::sql_error(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL: appends do not rewrite the file; FULL: each commit is fsynced before it returns.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(|e| Self::sql_error(path, e))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(conn)
    }

    fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull => Error::io(
                "append to audit log",
                path,
                std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
            ),
            rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ReadOnly => Error::io(
                "append to audit log",
                path,
                std::io::Error::new(std::io::ErrorKind::ReadOnlyFilesystem, "read-only"),
            ),
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
            {
                Self::audit_error(path, "the file is damaged or not a database")
            }
            _ => Self::audit_error(path, e.to_string()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and returns its sequence number once it is durable on disk.
    pub fn append(&mut self, record: &Record) -> Result<u64> {
        crate::failpoint::hit("audit-append")?;
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| Self::sql_error(&path, e))?;
        let last: Option<i64> = tx.query_row("SELECT max(seq) FROM entries", [], |r| r.get(0))?;
        let seq = last.map_or(1, |s| s as u64 + 1);
        let entry = Entry::from_record(seq, crate::vault::now_precise(), record);
        tx.execute(
            "INSERT INTO entries (seq, time, actor, action, target, outcome, request_id, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            (
                seq as i64,
                &entry.time,
                &entry.actor,
                &entry.action,
                &entry.target,
                entry.outcome.as_str(),
                &entry.request_id,
                entry.to_bytes(),
            ),
        )
        .map_err(|e| Self::sql_error(&path, e))?;
        tx.commit().map_err(|e| Self::sql_error(&path, e))?;
        Ok(seq)
    }

    /// Entries matching the filter, oldest first.
    pub fn entries(&self, filter: &Filter) -> Result<Vec<Entry>> {
        let mut stmt = self.conn.prepare(
            "SELECT body FROM entries
             WHERE (?1 IS NULL OR target = 'account:' || ?1)
               AND (?2 IS NULL OR actor = ?2 OR target = 'member:' || ?2)
               AND (?3 IS NULL OR action = ?3)
               AND (?4 IS NULL OR time >= ?4)
               AND (?5 IS NULL OR time < ?5)
             ORDER BY seq",
        )?;
        let rows = stmt.query_map(
            (
                &filter.account,
                &filter.member,
                &filter.action,
                &filter.since,
                &filter.until,
            ),
            |r| r.get::<_, Vec<u8>>(0),
        )?;
        let mut out = Vec::new();
        for body in rows {
            let body = body?;
            let entry: Entry = serde_json::from_slice(&body).map_err(|e| {
                Self::audit_error(&self.path, format!("an entry is unreadable: {e}"))
            })?;
            out.push(entry);
        }
        Ok(out)
    }
}
