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
    /// A post's outcome is unknown: it was sent and no trustworthy answer came back (or its
    /// outcome could not be recorded), or a retry was refused because an earlier attempt's
    /// outcome is unknown. It may be live: a person resolves it (`smv posts resolve`).
    Unknown = 12,
    // 13 is kept for `smv reconcile` (the crisis issue).
    /// `account check` only: the credential works, but nothing the network offers read-only
    /// proves that it may post (the report says what was and was not proved).
    Unproved = 14,
    /// SIGINT or SIGTERM stopped a post: the report says what became of each target (not
    /// sent, published, failed, or unknown). 128 + SIGINT, as shells report it.
    Interrupted = 130,
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
            Class::Unknown => "unknown",
            Class::Unproved => "unproved",
            Class::Interrupted => "interrupted",
        }
    }

    /// Every class, in exit-code order (for parsing a class name back).
    pub const ALL: [Class; 14] = [
        Class::Internal,
        Class::Usage,
        Class::NotFound,
        Class::Denied,
        Class::Conflict,
        Class::Identity,
        Class::Vault,
        Class::Busy,
        Class::Io,
        Class::Tampered,
        Class::Provider,
        Class::Unknown,
        Class::Unproved,
        Class::Interrupted,
    ];

    /// The class of a name as [`Class::name`] gives it.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
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
    NotFound {
        kind: &'static str,
        name: String,
        hint: Option<String>,
    },

    #[error("{kind} `{name}` already exists")]
    AlreadyExists { kind: &'static str, name: String },

    /// The rules refused. `reason` is what is shown and audited (it may list several
    /// targets); `rule` is the rule that refused, typed, which the hint follows.
    #[error("denied: {actor} may not {action}: {reason}")]
    Denied {
        actor: String,
        action: String,
        reason: String,
        rule: Box<crate::access::Deny>,
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

    /// The proxy refuses this address for a while: too many failed authentications from it.
    #[error(
        "too many failed authentications from this address; the smv server refuses it for {wait_secs} s"
    )]
    Throttled { wait_secs: u64 },

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

    /// `smv login` has nowhere to keep the token: no usable keyring (or it is turned off).
    #[error("no usable keyring to keep the token for {server} in: {why}")]
    NoKeyring {
        server: String,
        why: String,
        file: PathBuf,
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

    /// The vault or its audit log is an older copy than the latest (see `store::fresh`).
    #[error("{} refused: {rollback}", if rollback.log_is_behind() { audit_log.display() } else { path.display() })]
    Stale {
        path: PathBuf,
        audit_log: PathBuf,
        rollback: crate::store::fresh::Rollback,
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

    /// Some posts failed at the network. `retry` says how to retry the failed ones with the
    /// command that was run (None: `smv post` with its idempotency key).
    #[error("{failed} of {total} posts failed")]
    PostsFailed {
        failed: usize,
        total: usize,
        retry: Option<String>,
    },

    /// Some posts have an unknown outcome (sent, no trustworthy answer; or a retry refused
    /// while an earlier attempt's outcome is unknown). `intents` are the audit entries to
    /// resolve (`smv posts resolve SEQ`).
    #[error("{}", unknown_message(*.unknown, *.failed, *.total))]
    PostsUnknown {
        unknown: usize,
        failed: usize,
        total: usize,
        intents: Vec<u64>,
    },

    /// `account check`: the credential works (`seen`), but its permission to post could not
    /// be proved with a read-only call (`why`).
    #[error("{account}: the credential works ({seen}), but posting is not proved: {why}")]
    Unproved {
        account: String,
        seen: String,
        why: String,
    },

    /// A signal stopped a post (`crate::interrupt`): `not_sent` targets were never sent,
    /// `intents` are the unknown ones to resolve; `retry` is the command that sends to the
    /// ones not sent (and any that failed).
    #[error("{}", interrupted_message(*.not_sent, *.unknown, *.total))]
    Interrupted {
        not_sent: usize,
        unknown: usize,
        total: usize,
        intents: Vec<u64>,
        retry: Option<String>,
    },

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

    /// An error of a kind that has no hint of its own, given one by [`Error::with_hint`].
    #[error("{inner}")]
    Hinted { inner: Box<Error>, hint: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn unknown_message(unknown: usize, failed: usize, total: usize) -> String {
    let mut m = format!(
        "{unknown} of {total} posts {} an unknown outcome: {} may be live",
        if unknown == 1 { "has" } else { "have" },
        if unknown == 1 { "it" } else { "they" }
    );
    if failed > 0 {
        m.push_str(&format!("; {failed} failed"));
    }
    m
}

fn interrupted_message(not_sent: usize, unknown: usize, total: usize) -> String {
    let mut m = format!("interrupted: {not_sent} of {total} posts not sent");
    if unknown > 0 {
        m.push_str(&format!(
            "; {unknown} {} an unknown outcome (may be live)",
            if unknown == 1 { "has" } else { "have" }
        ));
    }
    m
}

/// What to do about unknown outcomes: look, then say what happened. Never a blind retry.
pub fn resolve_hint(intents: &[u64]) -> String {
    let seq = match intents {
        [one] => one.to_string(),
        _ => "SEQ".to_string(),
    };
    let listed = if intents.len() > 1 {
        let all: Vec<String> = intents.iter().map(u64::to_string).collect();
        format!(" (SEQ: {})", all.join(", "))
    } else {
        String::new()
    };
    format!(
        "do not post it again blindly: look at the account; then `smv posts resolve {seq} --published URL` or `smv posts resolve {seq} --not-published --reason \"…\"`{listed}. A retry with the same idempotency key (and the scheduled post) is refused until then; `smv status` lists every unknown outcome"
    )
}

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
            | Error::NoKeyring { .. }
            | Error::BadIdentity { .. } => Class::Identity,
            Error::Remote { class, .. } => *class,
            Error::NoVault(_)
            | Error::Foreign { .. }
            | Error::Corrupt { .. }
            | Error::NewerSchema { .. }
            | Error::VaultReplaced { .. }
            | Error::Stale { .. }
            | Error::Audit { .. } => Class::Vault,
            Error::Locked { .. } | Error::Throttled { .. } => Class::Busy,
            // A file that is there already: smv never writes over one. Every refusal to
            // overwrite a file is the same situation, and exits the same (5), whichever
            // command met it (`audit export --out`, `audit backup`, `identity backup`…).
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Class::Conflict
            }
            Error::Io { .. } => Class::Io,
            Error::Tampered { .. } => Class::Tampered,
            Error::Provider { .. } | Error::PostsFailed { .. } => Class::Provider,
            Error::PostsUnknown { .. } => Class::Unknown,
            Error::Unproved { .. } => Class::Unproved,
            Error::Interrupted { .. } => Class::Interrupted,
            Error::Internal(_) => Class::Internal,
            Error::Hinted { inner, .. } => inner.class(),
        }
    }

    /// What the user can do about it, as a command or a setting to change.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Denied { hint, rule, .. } => return hint.clone().or_else(|| rule.hint()),
            Error::Hinted { hint, .. } => hint.clone(),
            Error::Throttled { wait_secs } => format!(
                "wait {wait_secs} s, then check the token (`smv login SERVER` again, or SMV_TOKEN); valid tokens from this address keep working"
            ),
            Error::NotFound { hint: Some(h), .. } => h.clone(),
            Error::Invalid { hint, .. }
            | Error::BadIdentity { hint, .. }
            | Error::Audit { hint, .. }
            | Error::Provider { hint, .. }
            | Error::Remote { hint, .. }
            | Error::Conflict(_, hint) => return hint.clone(),
            Error::NoKeyring { server, file, .. } => format!(
                "keep it in a file instead: `smv login {server} --file` (mode 0600, {}); or give it to each command as SMV_TOKEN",
                file.display()
            ),
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
            Error::NoIdentity { .. } => "create a vault and an identity with `smv init`; to join an existing vault as a custodian, make your key with `smv identity new` and hand its recipient to an admin; or point to a key with --identity FILE, SMV_IDENTITY_FILE or SMV_IDENTITY".into(),
            Error::NotCustodian { recipient, .. } => format!(
                "this key is not one of the vault's custodians; hand its recipient to an admin, who runs `smv member add NAME --custodian {recipient}`, or use another identity (--identity FILE)"
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
            Error::Io { source, path, .. } => match source.kind() {
                std::io::ErrorKind::AlreadyExists => format!(
                    "smv never writes over an existing file: choose another path, or move {} away first",
                    path.display()
                ),
                std::io::ErrorKind::NotFound => format!(
                    "check the path: {} (or the directory it should be in) does not exist",
                    path.display()
                ),
                std::io::ErrorKind::StorageFull => {
                    "free disk space; nothing was changed".into()
                }
                std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
                    "make the vault's directory writable for this user; nothing was changed".into()
                }
                _ => return None,
            },
            Error::PostsFailed { retry: Some(r), .. } => r.clone(),
            Error::PostsUnknown { intents, .. } => resolve_hint(intents),
            Error::Interrupted {
                intents, retry, ..
            } => {
                let mut h = match retry {
                    Some(r) => format!("the report above says what became of each target; {r}"),
                    None => "the report above says what became of each target".into(),
                };
                if !intents.is_empty() {
                    h.push_str("; for the unknown: ");
                    h.push_str(&resolve_hint(intents));
                }
                h
            }
            Error::PostsFailed { retry: None, .. } => {
                "the report above lists each target; the ones marked posted are published, retry the others (with the same --idempotency-key to skip the published ones)".into()
            }
            Error::Unproved { account, .. } => format!(
                "make sure the credential has the network's post permission (docs/providers.md names it per network); a first post (`smv post {account} …`) proves it; until then `smv account check {account}` exits 14"
            ),
            Error::Tampered { .. } => {
                "keep the file as evidence; compare it with your checkpoint copies and backups (docs/audit-log.md)".into()
            }
            Error::Config { .. } => {
                "fix the file (see docs/configuration.md), or point to another one with SMV_CONFIG".into()
            }
            Error::Internal(_) => {
                "this is a bug in smv, not a mistake of yours: please report it with the command and this message (neither holds a secret); `smv status` and `smv audit log` show what was recorded before it".into()
            }
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

    /// The same error with `new` as its hint. Never lost: a kind without a hint of its own
    /// is wrapped ([`Error::Hinted`]), keeping its message and class.
    pub fn with_hint(mut self, new: impl Into<String>) -> Self {
        let new = new.into();
        match &mut self {
            Error::Invalid { hint, .. }
            | Error::NotFound { hint, .. }
            | Error::Denied { hint, .. }
            | Error::BadIdentity { hint, .. }
            | Error::Audit { hint, .. }
            | Error::Provider { hint, .. }
            | Error::Remote { hint, .. }
            | Error::Conflict(_, hint) => *hint = Some(new),
            Error::Hinted { hint, .. } => *hint = new,
            _ => {
                return Error::Hinted {
                    inner: Box::new(self),
                    hint: new,
                };
            }
        }
        self
    }

    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            name: name.into(),
            hint: None,
        }
    }

    /// A refusal by the rules: `rule` is both the message and the source of the hint.
    pub fn denied(actor: &str, action: &str, rule: crate::access::Deny) -> Self {
        Error::Denied {
            actor: actor.to_string(),
            action: action.to_string(),
            reason: rule.to_string(),
            rule: Box::new(rule),
            hint: None,
        }
    }
}

/// What a storage (SQLite) error means, in words for people: never SQLite's own wording
/// ("UNIQUE constraint failed: members.name", "no such table: meta", a statement's text),
/// which names smv's internals instead of what happened. The code's name is kept for a bug
/// report.
pub fn storage_words(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            let what = match f.code {
                C::ConstraintViolation => "the change conflicts with what is stored (a name, key or id that must be unique is taken)",
                C::DatabaseBusy | C::DatabaseLocked => "the database is busy with another process",
                C::NotADatabase | C::DatabaseCorrupt => "the file is damaged or not a database",
                C::DiskFull => "the disk is full",
                C::ReadOnly | C::CannotOpen | C::PermissionDenied => {
                    "the file cannot be opened or written"
                }
                C::SystemIoFailure => "reading or writing the file failed",
                C::SchemaChanged | C::Unknown => {
                    "the database does not have the tables this smv expects (damaged, or made by another program or version)"
                }
                _ => "a database operation failed",
            };
            format!("{what} (SQLite code {})", f.extended_code)
        }
        rusqlite::Error::SqlInputError { .. } => {
            "the database does not have the tables this smv expects (damaged, or made by another program or version)".into()
        }
        rusqlite::Error::QueryReturnedNoRows => "an expected row is missing".into(),
        _ => "a database operation failed".into(),
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        // SQL errors inside the decrypted vault are bugs or damage, never user input errors:
        // user input is validated before it reaches SQL. A unique value taken meanwhile is a
        // conflict (exit 5) with its fix; anything else is reported as a bug, in words.
        if let rusqlite::Error::SqliteFailure(f, _) = &e
            && f.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return Error::Conflict(
                storage_words(&e),
                Some("nothing was changed; list what exists (`smv account list`, `smv member list`, `smv group list`, `smv token list`) and choose another name, or run the command again if another one was running".into()),
            );
        }
        Error::Internal(format!("database: {}", storage_words(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `with_hint` loses no hint, whatever the kind of error, and keeps its class and message.
    #[test]
    fn with_hint_loses_no_hint() {
        let errors = vec![
            Error::invalid("x", "y"),
            Error::not_found("token", "t1"),
            Error::AlreadyExists {
                kind: "account",
                name: "a".into(),
            },
            Error::denied("bob", "post", crate::access::Deny::NoGrant),
            Error::Conflict("c".into(), None),
            Error::NoIdentity { looked: "l".into() },
            Error::Unauthenticated,
            Error::Throttled { wait_secs: 3 },
            Error::Remote {
                class: Class::Denied,
                message: "m".into(),
                hint: None,
            },
            Error::Provider {
                account: "a".into(),
                kind: "k",
                message: "m".into(),
                hint: None,
            },
            Error::PostsFailed {
                failed: 1,
                total: 2,
                retry: None,
            },
            Error::PostsUnknown {
                unknown: 1,
                failed: 0,
                total: 1,
                intents: vec![7],
            },
            Error::Interrupted {
                not_sent: 1,
                unknown: 0,
                total: 1,
                intents: vec![],
                retry: None,
            },
            Error::Locked { waited_ms: 1 },
            Error::Internal("i".into()),
        ];
        for e in errors {
            let (class, message) = (e.class(), e.to_string());
            let hinted = e.with_hint("do this");
            assert_eq!(hinted.hint().as_deref(), Some("do this"), "{message}");
            assert_eq!(hinted.class(), class, "{message}");
            assert_eq!(hinted.to_string(), message);
            let again = hinted.with_hint("then that");
            assert_eq!(again.hint().as_deref(), Some("then that"), "{message}");
        }
        // The kinds that used to drop it: a token or scheduled post not found.
        let e = Error::not_found("token", "t1").with_hint("`smv token list` shows the accessors");
        assert!(e.hint().unwrap().contains("token list"));
        assert!(matches!(e, Error::NotFound { .. }));
    }

    #[test]
    fn an_unknown_outcome_exits_12_and_never_hints_a_blind_retry() {
        let e = Error::PostsUnknown {
            unknown: 1,
            failed: 1,
            total: 3,
            intents: vec![41],
        };
        assert_eq!(e.class(), Class::Unknown);
        assert_eq!(e.class().exit_code(), 12);
        assert_eq!(Class::from_name("unknown"), Some(Class::Unknown));
        let hint = e.hint().unwrap();
        assert!(
            hint.contains("smv posts resolve 41 --published URL"),
            "{hint}"
        );
        assert!(hint.contains("do not post it again blindly"), "{hint}");
        assert!(
            e.to_string()
                .contains("1 of 3 posts has an unknown outcome")
        );
        // Every class has a name that parses back, and the exit codes are 1..=12 in order,
        // then 14 (13 is kept for `smv reconcile`), then 130 (interrupted, 128 + SIGINT).
        for (i, c) in Class::ALL.into_iter().enumerate() {
            let expected = match c {
                Class::Unproved => 14,
                Class::Interrupted => 130,
                _ => i as i32 + 1,
            };
            assert_eq!(c.exit_code(), expected);
            assert_eq!(Class::from_name(c.name()), Some(c));
        }
        assert_eq!(Class::from_name("unproved").map(Class::exit_code), Some(14));
        assert_eq!(Class::ALL.last(), Some(&Class::Interrupted));
    }

    #[test]
    fn an_interrupted_post_exits_130_and_says_what_to_do_for_each_kind() {
        let e = Error::Interrupted {
            not_sent: 1,
            unknown: 1,
            total: 3,
            intents: vec![41],
            retry: Some("`smv post --retry p-1` sends …".into()),
        };
        assert_eq!(e.class().exit_code(), 130);
        assert_eq!(
            e.to_string(),
            "interrupted: 1 of 3 posts not sent; 1 has an unknown outcome (may be live)"
        );
        let hint = e.hint().unwrap();
        assert!(hint.contains("smv post --retry p-1"), "{hint}");
        assert!(
            hint.contains("smv posts resolve 41 --published URL"),
            "{hint}"
        );
        // Nothing admitted: nothing to retry or resolve.
        let e = Error::Interrupted {
            not_sent: 2,
            unknown: 0,
            total: 2,
            intents: vec![],
            retry: None,
        };
        assert_eq!(e.to_string(), "interrupted: 2 of 2 posts not sent");
        assert!(!e.hint().unwrap().contains("resolve"));
    }

    /// Storage errors reach people typed and in words, never in SQLite's own: a unique value
    /// taken is a conflict (exit 5) with a hint; a missing table is named as a database
    /// without the expected tables.
    #[test]
    fn storage_errors_are_typed_with_a_hint_and_never_in_sqlite_wording() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (name TEXT UNIQUE); INSERT INTO t VALUES ('a');")
            .unwrap();
        let unique: Error = conn
            .execute("INSERT INTO t VALUES ('a')", [])
            .unwrap_err()
            .into();
        let missing: Error = conn
            .execute("INSERT INTO nowhere VALUES ('a')", [])
            .unwrap_err()
            .into();
        let missing_q: Error = conn
            .query_row("SELECT x FROM nowhere", [], |r| r.get::<_, i64>(0))
            .unwrap_err()
            .into();
        assert_eq!(unique.class(), Class::Conflict);
        assert!(unique.hint().is_some());
        for e in [&unique, &missing, &missing_q] {
            let text = e.to_string();
            for raw in [
                "UNIQUE constraint",
                "no such table",
                "constraint failed",
                "INSERT",
                "SELECT",
            ] {
                assert!(!text.contains(raw), "{text}");
            }
            assert!(e.hint().is_some(), "{text}");
        }
        assert!(
            missing.to_string().contains("tables this smv expects"),
            "{missing}"
        );
    }

    #[test]
    fn throttling_is_busy_not_conflict() {
        assert_eq!(Error::Throttled { wait_secs: 5 }.class(), Class::Busy);
        assert_eq!(Class::Busy.exit_code(), 8);
    }
}
