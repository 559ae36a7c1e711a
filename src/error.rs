//! The library's error type.
//!
//! Every user-fixable error carries a hint: the command or setting that fixes it. Each error
//! belongs to a [`Class`], and each class has its own process exit code, so that scripts can
//! tell "you may not" from "try again" from "the vault is damaged" without parsing text.
//! Messages never contain secret material: variants hold names, paths and reasons only.

use std::path::PathBuf;

/// The exit-code classes, documented in the README. Values are part of the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A bug or an unexpected condition.
    Internal = 1,
    /// Bad arguments or input (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// A named account, member or entry does not exist.
    NotFound = 3,
    /// Authorization refused the action (and the refusal was audited).
    Denied = 4,
    /// The change conflicts with what exists (duplicate name, last custodian…).
    Conflict = 5,
    /// No identity, or an identity that cannot open this vault.
    Identity = 6,
    /// The vault or audit file is missing, foreign, damaged or from a newer smv.
    Vault = 7,
    /// Another smv process holds the vault lock: try again.
    Busy = 8,
    /// Reading or writing a file failed (disk full, read-only, permissions).
    Io = 9,
    /// `smv audit verify` found the log changed, cut or not matching a checkpoint.
    Tampered = 10,
    /// A network refused or failed a post (some targets may have succeeded: see the report).
    Provider = 11,
}

impl Class {
    pub fn exit_code(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            Class::Internal => "internal",
            Class::Usage => "usage",
            Class::NotFound => "not_found",
            Class::Denied => "denied",
            Class::Conflict => "conflict",
            Class::Identity => "identity",
            Class::Vault => "vault",
            Class::Busy => "busy",
            Class::Io => "io",
            Class::Tampered => "tampered",
            Class::Provider => "provider",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {what}: {why}")]
    Invalid {
        what: &'static str,
        why: String,
        hint: Option<String>,
    },

    #[error("{kind} `{name}` does not exist")]
    NotFound { kind: &'static str, name: String },

    #[error("{kind} `{name}` already exists")]
    AlreadyExists { kind: &'static str, name: String },

    #[error("denied: {actor} may not {action}: {reason}")]
    Denied {
        actor: String,
        action: String,
        reason: String,
        hint: Option<String>,
    },

    #[error("{0}")]
    Conflict(String, Option<String>),

    #[error("no identity to open the vault (looked in: {looked})")]
    NoIdentity { looked: String },

    #[error("identity {recipient} ({source_name}) cannot open the vault {path}")]
    NotCustodian {
        recipient: String,
        source_name: String,
        path: PathBuf,
    },

    #[error("identity {recipient} opens the vault but belongs to no member")]
    NotMember { recipient: String },

    /// The proxy refused the caller's token or uid. Deliberately one message for every
    /// reason: the precise one is in the audit log, not in an answer to a stranger.
    #[error("the smv server did not accept these credentials")]
    Unauthenticated,

    /// A command that needs the vault itself, run with SMV_SERVER set.
    #[error(
        "`{command}` needs a custodian's key to the vault; it does not run through the smv server {server}"
    )]
    NeedsCustodian { command: String, server: String },

    /// An error the smv server answered with: its class (and so the exit code), message and
    /// hint, as the server's own CLI would have printed them.
    #[error("{message}")]
    Remote {
        class: Class,
        message: String,
        hint: Option<String>,
    },

    #[error("identity {path}: {why}")]
    BadIdentity {
        path: String,
        why: String,
        hint: Option<String>,
    },

    #[error("no vault at {0}")]
    NoVault(PathBuf),

    #[error("a vault already exists at {0}")]
    VaultExists(PathBuf),

    #[error("{path} is not an smv vault: {why}")]
    Foreign { path: PathBuf, why: String },

    #[error("the vault {path} is damaged: {why}")]
    Corrupt { path: PathBuf, why: String },

    #[error(
        "the vault {path} has schema version {found}, newer than this smv understands ({known})"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("the vault {path} is not the one this machine knew there: {why}")]
    VaultReplaced {
        path: PathBuf,
        why: String,
        pins: PathBuf,
    },

    /// The vault or its audit log is an older copy than the latest (see `ops::fresh`).
    #[error("{} refused: {rollback}", if rollback.log_is_behind() { audit_log.display() } else { path.display() })]
    Stale {
        path: PathBuf,
        audit_log: PathBuf,
        rollback: crate::ops::fresh::Rollback,
    },

    #[error("the audit log {path} cannot be used: {why}")]
    Audit {
        path: PathBuf,
        why: String,
        hint: Option<String>,
    },

    #[error("the audit log {path} does not verify: {failure}")]
    Tampered { path: PathBuf, failure: String },

    #[error("{account}: {message}")]
    Provider {
        account: String,
        kind: &'static str,
        message: String,
        hint: Option<String>,
    },

    #[error("{failed} of {total} posts failed")]
    PostsFailed { failed: usize, total: usize },

    #[error("the vault is locked by another smv process (waited {waited_ms} ms)")]
    Locked { waited_ms: u64 },

    #[error("could not {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("configuration {path}: {why}")]
    Config { path: PathBuf, why: String },

    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn class(&self) -> Class {
        match self {
            Error::Invalid { .. } | Error::Config { .. } => Class::Usage,
            Error::NotFound { .. } => Class::NotFound,
            Error::Denied { .. } => Class::Denied,
            Error::AlreadyExists { .. } | Error::Conflict(..) | Error::VaultExists(_) => {
                Class::Conflict
            }
            Error::NoIdentity { .. }
            | Error::NotCustodian { .. }
            | Error::NotMember { .. }
            | Error::Unauthenticated
            | Error::NeedsCustodian { .. }
            | Error::BadIdentity { .. } => Class::Identity,
            Error::Remote { class, .. } => *class,
            Error::NoVault(_)
            | Error::Foreign { .. }
            | Error::Corrupt { .. }
            | Error::NewerSchema { .. }
            | Error::VaultReplaced { .. }
            | Error::Stale { .. }
            | Error::Audit { .. } => Class::Vault,
            Error::Locked { .. } => Class::Busy,
            Error::Io { .. } => Class::Io,
            Error::Tampered { .. } => Class::Tampered,
            Error::Provider { .. } | Error::PostsFailed { .. } => Class::Provider,
            Error::Internal(_) => Class::Internal,
        }
    }

    /// What the user can do about it, as a command or a setting to change.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Invalid { hint, .. }
            | Error::Denied { hint, .. }
            | Error::BadIdentity { hint, .. }
            | Error::Audit { hint, .. }
            | Error::Provider { hint, .. }
            | Error::Remote { hint, .. }
            | Error::Conflict(_, hint) => return hint.clone(),
            Error::NeedsCustodian { command, .. } => format!("ask an admin, or run `{command}` where a custodian's identity is, with SMV_SERVER unset"),
            Error::Unauthenticated => "the token may be mistyped, revoked or expired (`smv token list` on the server shows which); log in again with `smv login SERVER`, or set SMV_TOKEN to a current token".into(),
            Error::NotFound { kind, .. } => match *kind {
                "account" => "list the accounts with `smv account list`".into(),
                "account or group" => "list them with `smv account list` and `smv group list`".into(),
                "member" => "list the members with `smv member list`".into(),
                _ => return None,
            },
            Error::AlreadyExists { kind, .. } => {
                format!("choose another name, or remove the existing {kind} first")
            }
            Error::NoIdentity { .. } => "create a vault and an identity with `smv init`, or point to a key with --identity FILE, SMV_IDENTITY_FILE or SMV_IDENTITY".into(),
            Error::NotCustodian { recipient, .. } => format!(
                "this key is not one of the vault's custodians; ask a custodian to run `smv member add NAME --custodian {recipient}`, or use another identity (--identity FILE)"
            ),
            Error::NotMember { recipient } => format!(
                "ask an admin to run `smv member add NAME --custodian {recipient}`"
            ),
            Error::NoVault(_) => {
                "create one with `smv init`, or point to an existing one with --vault PATH or SMV_VAULT".into()
            }
            Error::VaultExists(_) => {
                "smv never overwrites a vault; use it (`smv whoami`), or choose another path with --vault PATH".into()
            }
            Error::Foreign { .. } => {
                "check --vault / SMV_VAULT; smv leaves this file untouched".into()
            }
            Error::Corrupt { .. } => {
                "restore the vault file from a backup; smv leaves the damaged file untouched".into()
            }
            Error::NewerSchema { .. } => "upgrade smv to the version that wrote this vault".into(),
            Error::VaultReplaced { path, pins, .. } => format!(
                "someone who can write the file may have swapped in a vault of their own, to collect the secrets you add: change nothing, and ask another custodian; if it was replaced on purpose, remove the entry for {} from {}",
                path.display(),
                pins.display()
            ),
            Error::Stale { .. } => {
                "if this copy was put back on purpose (a restore from backup), an admin makes it the vault again with `smv restore --reason \"…\"` (docs/runbooks.md, \"Restoring from a backup\"); otherwise change nothing, keep the vault and its .audit file as evidence, and ask another custodian".into()
            }
            Error::Locked { .. } => {
                "another smv command is changing the vault; run the command again in a moment".into()
            }
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::StorageFull => {
                    "free disk space; nothing was changed".into()
                }
                std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
                    "make the vault's directory writable for this user; nothing was changed".into()
                }
                _ => return None,
            },
            Error::PostsFailed { .. } => {
                "the report above lists each target; the ones marked posted are published, retry the others (with the same --idempotency-key to skip the published ones)".into()
            }
            Error::Tampered { .. } => {
                "keep the file as evidence; compare it with your checkpoint copies and backups (docs/audit-log.md)".into()
            }
            Error::Config { .. } => {
                "fix the file (see docs/configuration.md), or point to another one with SMV_CONFIG".into()
            }
            Error::Internal(_) => return None,
        })
    }

    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            why: why.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, new: impl Into<String>) -> Self {
        match &mut self {
            Error::Invalid { hint, .. }
            | Error::Denied { hint, .. }
            | Error::BadIdentity { hint, .. }
            | Error::Audit { hint, .. }
            | Error::Conflict(_, hint) => *hint = Some(new.into()),
            _ => {}
        }
        self
    }

    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            name: name.into(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        // SQL errors inside the decrypted vault are bugs or damage, never user input errors:
        // user input is validated before it reaches SQL. The text of a rusqlite error names
        // the statement, never bound values, so it cannot carry a secret.
        Error::Internal(format!("database: {e}"))
    }
}
