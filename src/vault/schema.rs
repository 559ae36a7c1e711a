//! The vault's schema, its version and the migrations between versions.
//!
//! `PRAGMA application_id` marks the database as an smv vault (so a stray SQLite file that
//! happens to be encrypted to us is refused, not "migrated"), and `PRAGMA user_version` is
//! the schema version. Migration `i` takes version `i` to `i + 1`; they run in memory on load
//! and reach the disk with the next save, in the same atomic write as any other change.

use std::path::Path;

use rusqlite::Connection;

use crate::{Error, Result};

/// "smv1" in ASCII.
pub const APPLICATION_ID: i32 = 0x736d_7631;

const MIGRATIONS: &[&str] = &[
    // 0 → 1: the foundation.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;

    CREATE TABLE members (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL CHECK (role IN ('admin', 'auditor', 'member')),
        -- The age recipient of a custodian; NULL for members who act through the proxy.
        recipient   TEXT UNIQUE,
        status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL,
        disabled_at TEXT
    ) STRICT;

    CREATE TABLE accounts (
        id                 INTEGER PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE,
        provider           TEXT NOT NULL,
        handle             TEXT,
        url                TEXT,
        -- NULL for providers that need no secret (outbox).
        secret             BLOB,
        -- HMAC-SHA-256 of the secret under the vault's fingerprint key, hex.
        secret_fingerprint TEXT,
        secret_version     INTEGER NOT NULL DEFAULT 1,
        secret_set_at      TEXT,
        created_at         TEXT NOT NULL,
        created_by         TEXT NOT NULL
    ) STRICT;

    CREATE TABLE grants (
        member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        level      TEXT NOT NULL CHECK (level IN ('draft', 'post', 'approve', 'manage')),
        granted_at TEXT NOT NULL,
        granted_by TEXT NOT NULL,
        PRIMARY KEY (member_id, account_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX grants_by_account ON grants(account_id, member_id);

    -- Which custodian could decrypt which version of which secret: a custodian holds a key
    -- to every vault file written while they were one, so this is never deleted when they
    -- stop being a custodian. A current secret version exposed to a former custodian needs
    -- rotation.
    CREATE TABLE exposures (
        member_id      INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
        account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        secret_version INTEGER NOT NULL,
        since          TEXT NOT NULL,
        PRIMARY KEY (member_id, account_id, secret_version)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX exposures_by_account ON exposures(account_id);
    "#,
    // 1 → 2: account groups (`smv group add release-channels x-main,mastodon-main`).
    r#"
    CREATE TABLE groups (
        name       TEXT NOT NULL,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        added_at   TEXT NOT NULL,
        added_by   TEXT NOT NULL,
        PRIMARY KEY (name, account_id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 2 → 3: a network session kept between posts (Bluesky JWTs, OAuth 2 tokens): secret,
    // like the credential that made it.
    r#"
    ALTER TABLE accounts ADD COLUMN session BLOB;
    "#,
    // 3 → 4: governance. Drafts and their approvals (bound to the text's hash), per-account
    // policies (approvals, rate guard), freezes (kept after they are lifted: they are
    // history), and scheduled posts.
    r#"
    CREATE TABLE drafts (
        id          INTEGER PRIMARY KEY,
        public_id   TEXT NOT NULL UNIQUE,
        author_id   INTEGER NOT NULL REFERENCES members(id),
        text        TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'published', 'rejected', 'cancelled')),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        closed_by   TEXT,
        closed_at   TEXT,
        reason      TEXT
    ) STRICT;
    CREATE INDEX drafts_by_status ON drafts(status);

    CREATE TABLE draft_accounts (
        draft_id   INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        PRIMARY KEY (draft_id, account_id)
    ) STRICT, WITHOUT ROWID;

    -- An approval counts only while text_sha256 is the draft's: editing clears them anyway.
    CREATE TABLE approvals (
        draft_id    INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
        member_id   INTEGER NOT NULL REFERENCES members(id),
        text_sha256 TEXT NOT NULL,
        approved_at TEXT NOT NULL,
        PRIMARY KEY (draft_id, member_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE policies (
        account_id  INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
        approvals   INTEGER NOT NULL DEFAULT 0 CHECK (approvals BETWEEN 0 AND 10),
        max_posts   INTEGER CHECK (max_posts > 0),
        per_seconds INTEGER CHECK (per_seconds > 0),
        updated_at  TEXT NOT NULL,
        updated_by  TEXT NOT NULL,
        CHECK ((max_posts IS NULL) = (per_seconds IS NULL))
    ) STRICT;

    CREATE TABLE freezes (
        id         INTEGER PRIMARY KEY,
        -- NULL: every account.
        account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
        reason     TEXT NOT NULL,
        frozen_by  TEXT NOT NULL,
        frozen_at  TEXT NOT NULL,
        until      TEXT,
        lifted_by  TEXT,
        lifted_at  TEXT
    ) STRICT;

    CREATE TABLE queue (
        id          INTEGER PRIMARY KEY,
        public_id   TEXT NOT NULL UNIQUE,
        account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        author_id   INTEGER NOT NULL REFERENCES members(id),
        -- Set when an approved draft was scheduled: it must still be approved when due.
        draft_id    INTEGER REFERENCES drafts(id),
        text        TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        due_at      TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'held', 'sent', 'failed', 'cancelled')),
        note        TEXT,
        post_id     TEXT,
        url         TEXT,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX queue_by_status ON queue(status, due_at);
    "#,
    // 4 → 5: offboarding and rotation. A removed custodian's key is kept (public, and what
    // the report names), so that "was ever a custodian" survives the removal; a secret may
    // carry the network's name for it (a Bluesky app password's name, to revoke it after an
    // automatic rotation) and an expiry (LinkedIn tokens live 60 days).
    r#"
    ALTER TABLE members ADD COLUMN former_recipient TEXT;
    ALTER TABLE accounts ADD COLUMN secret_label TEXT;
    ALTER TABLE accounts ADD COLUMN secret_expires_at TEXT;
    "#,
    // 5 → 6: API tokens, for the proxy (`smv serve`). Only a hash of the secret part is
    // kept; the accessor is the token's public name. A token acts for its owner, within its
    // accounts and level and never beyond the owner's grants at the time of use.
    r#"
    CREATE TABLE tokens (
        id            INTEGER PRIMARY KEY,
        accessor      TEXT NOT NULL UNIQUE,
        name          TEXT NOT NULL,
        owner_id      INTEGER NOT NULL REFERENCES members(id),
        kind          TEXT NOT NULL CHECK (kind IN ('personal', 'ci')),
        level         TEXT NOT NULL CHECK (level IN ('draft', 'post', 'approve', 'manage')),
        secret_sha256 TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        revoked_at    TEXT,
        revoked_by    TEXT,
        reason        TEXT
    ) STRICT;
    CREATE TABLE token_accounts (
        token_id   INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        PRIMARY KEY (token_id, account_id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 6 → 7: authority that does not outlive itself. A post scheduled through an API token
    // records the token: it is sent only while that token is valid, within its limits. A
    // strict policy holds everyone (approvers and admins too) to the two-person rule.
    r#"
    ALTER TABLE queue ADD COLUMN token_id INTEGER REFERENCES tokens(id);
    ALTER TABLE policies ADD COLUMN strict INTEGER NOT NULL DEFAULT 0 CHECK (strict IN (0, 1));
    "#,
    // 7 → 8: outcomes and history. A scheduled post may end `unknown` (sent, and no
    // trustworthy answer came back: it may be live, and waits for `smv posts resolve`), and
    // it outlives its account: removing an account cancels its scheduled posts and keeps
    // them, with the account's name (SQLite cannot change a CHECK or a foreign key in place:
    // the table is rebuilt, rows and ids kept).
    r#"
    CREATE TABLE queue_v8 (
        id           INTEGER PRIMARY KEY,
        public_id    TEXT NOT NULL UNIQUE,
        -- NULL once the account is removed; its name stays in account_name.
        account_id   INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
        account_name TEXT NOT NULL,
        author_id    INTEGER NOT NULL REFERENCES members(id),
        draft_id     INTEGER REFERENCES drafts(id),
        text         TEXT NOT NULL,
        text_sha256  TEXT NOT NULL,
        due_at       TEXT NOT NULL,
        status       TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'held', 'sent', 'failed', 'cancelled', 'unknown')),
        note         TEXT,
        post_id      TEXT,
        url          TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        token_id     INTEGER REFERENCES tokens(id)
    ) STRICT;
    INSERT INTO queue_v8 (id, public_id, account_id, account_name, author_id, draft_id, text,
                          text_sha256, due_at, status, note, post_id, url, created_at,
                          updated_at, token_id)
        SELECT q.id, q.public_id, q.account_id, a.name, q.author_id, q.draft_id, q.text,
               q.text_sha256, q.due_at, q.status, q.note, q.post_id, q.url, q.created_at,
               q.updated_at, q.token_id
        FROM queue q JOIN accounts a ON a.id = q.account_id;
    DROP TABLE queue;
    ALTER TABLE queue_v8 RENAME TO queue;
    CREATE INDEX queue_by_status ON queue(status, due_at);
    "#,
    // 8 → 9: renamed accounts (`smv account rename`). An account keeps its id; the names it
    // had are kept while it exists, so that the audit log's entries under them (the rate
    // guard's count, a retried post's idempotency key) still count as its own, and no other
    // account takes them meanwhile.
    r#"
    CREATE TABLE account_names (
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name       TEXT NOT NULL UNIQUE,
        until      TEXT NOT NULL,
        PRIMARY KEY (account_id, name)
    ) STRICT;
    "#,
    // 9 → 10: an account's own API version, for networks whose version smv pins
    // (`smv account set NAME --api-version V`; NULL: config.toml's, else smv's).
    r#"
    ALTER TABLE accounts ADD COLUMN api_version TEXT;
    "#,
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn initialise(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    migrate(conn, 0)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

pub fn check_and_migrate(conn: &Connection, path: &Path) -> Result<()> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if app_id != APPLICATION_ID {
        return Err(Error::Foreign {
            path: path.to_path_buf(),
            why: "it is an encrypted SQLite database, but not an smv vault".into(),
        });
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            why: format!("schema version {version} is not valid"),
        });
    }
    migrate(conn, version)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

fn migrate(conn: &Connection, from: i64) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-6 vault keeps its scheduled posts and policies through migration 6 → 7:
    /// they were made with keys (no token) and their policies are not strict.
    #[test]
    fn version_6_queue_and_policies_survive_migration_7() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        for (i, sql) in MIGRATIONS.iter().enumerate().take(6) {
            conn.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO members (id, name, role, created_at, created_by) VALUES (1, 'alice', 'admin', 't', 'alice');
             INSERT INTO accounts (id, name, provider, created_at, created_by) VALUES (1, 'demo', 'outbox', 't', 'alice');
             INSERT INTO policies (account_id, approvals, updated_at, updated_by) VALUES (1, 2, 't', 'alice');
             INSERT INTO queue (public_id, account_id, author_id, text, text_sha256, due_at, created_at, updated_at)
                 VALUES ('q00000001', 1, 1, 'x', 'h', '2030-01-01T00:00:00Z', 't', 't');",
        )
        .unwrap();
        check_and_migrate(&conn, Path::new("v.smv")).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let (token, strict, approvals): (Option<i64>, i64, i64) = conn
            .query_row(
                "SELECT q.token_id, p.strict, p.approvals FROM queue q JOIN policies p ON p.account_id = q.account_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((token, strict, approvals), (None, 0, 2));
        // The new columns hold only what they mean.
        assert!(conn.execute("UPDATE policies SET strict = 2", []).is_err());
        assert!(
            conn.execute("UPDATE queue SET token_id = 99", []).is_err(),
            "token_id refers to a token"
        );
    }

    /// A version-7 vault's scheduled posts survive migration 8 (the queue table rebuilt):
    /// ids, statuses and tokens kept, the account's name recorded; the new status `unknown`
    /// is accepted, other words are not; and a removed account's posts stay, by name.
    #[test]
    fn version_7_queue_survives_migration_8_and_outlives_its_account() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        for (i, sql) in MIGRATIONS.iter().enumerate().take(7) {
            conn.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO members (id, name, role, created_at, created_by) VALUES (1, 'alice', 'admin', 't', 'alice');
             INSERT INTO accounts (id, name, provider, created_at, created_by) VALUES (1, 'demo', 'outbox', 't', 'alice');
             INSERT INTO queue (id, public_id, account_id, author_id, text, text_sha256, due_at, status, created_at, updated_at)
                 VALUES (7, 'q00000007', 1, 1, 'x', 'h', '2030-01-01T00:00:00Z', 'held', 't', 't');",
        )
        .unwrap();
        assert!(
            conn.execute("UPDATE queue SET status = 'unknown'", [])
                .is_err(),
            "version 7 knows no unknown outcome"
        );
        check_and_migrate(&conn, Path::new("v.smv")).unwrap();
        let row: (i64, String, String, i64) = conn
            .query_row(
                "SELECT id, public_id, account_name, account_id FROM queue",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row, (7, "q00000007".into(), "demo".into(), 1));
        conn.execute("UPDATE queue SET status = 'unknown'", [])
            .unwrap();
        assert!(
            conn.execute("UPDATE queue SET status = 'maybe'", [])
                .is_err()
        );
        conn.execute("DELETE FROM accounts WHERE id = 1", [])
            .unwrap();
        let kept: (Option<i64>, String) = conn
            .query_row("SELECT account_id, account_name FROM queue", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(kept, (None, "demo".into()));
    }
}
