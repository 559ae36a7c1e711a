//! The operations layer: one function per user action.
//!
//! The CLI (and the proxy server) call these functions and nothing below them. Each function
//! loads the vault, asks `access::decide` exactly the question its action needs, and records
//! the action in the audit log:
//! - a refused action leaves one `denied` entry;
//! - a change leaves an `intent` entry, durable *before* the vault is written (if it cannot be
//!   written, nothing changes), then an `ok` or `failed` outcome with the same request id;
//! - an action that fails before any effect (unknown name, duplicate…) leaves a `failed` entry.

mod accounts;
mod audit;
mod drafts;
mod freeze;
mod groups;
mod init;
mod members;
mod offboard;
pub mod outcomes;
mod post;
mod posts;
mod queue;
mod replay;
mod resolve;
mod restore;
mod rotate;
mod send;
mod sessions;
mod tokens;
mod whoami;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::access::{self, Action, Decision};
use crate::audit::{Channel, Outcome, Record};
use crate::identity::Identity;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::vault::{Member, Vault};
use crate::{Error, Result, ids};

pub use crate::store::Store;
pub use accounts::{
    AccountAdd, AccountRemoval, AccountView, GrantLoss, GroupLoss, TokenLoss, account_add,
    account_list, account_remove, account_rename, account_set,
};
pub use audit::{
    ExportFormat, Shown, audit_backup, audit_checkpoint, audit_export, audit_hash, audit_log,
    audit_pubkey, audit_pubkeys, audit_rotate_key, audit_show, audit_verify, audit_verify_offline,
    normalise_time,
};
pub use drafts::{
    AccountApprovals, DraftFilter, DraftView, approve, draft_create, draft_edit, draft_show,
    drafts, publish, publish_reporting, reject,
};
pub use freeze::{
    PolicyChange, RejectedOutcome, Scope, Status, UnknownPost, freeze, policy_list, policy_set,
    status, unfreeze,
};
pub use groups::{Group, account_check, group_add, group_list, group_remove, group_remove_account};
pub use init::{InitOptions, InitReport, init};
pub use members::{
    AccessReport, AccessRow, MemberActivity, Revoked, access, grant, member_activity, member_add,
    member_list, revoke,
};
pub use offboard::{Disposition, OffboardOptions, OffboardReport, TokenFate, offboard};
pub use outcomes::Resolution;
pub use post::{
    PostOptions, PostResult, PostStatus, generated_key, post, post_reporting, retry_post,
};
pub use posts::{PostRecord, PostsFilter, Verified, post_show, posts};
pub use queue::{
    queue_cancel, queue_list, queue_release, queue_run, schedule_draft, schedule_post,
};
pub use resolve::{Resolved, resolve_post};
pub use restore::{
    Authority, LostHistory, Replayed, RestoreOptions, RestoreReport, Undone, restore,
};
pub use rotate::{NewCredential, RotateReport, SecretState, SecretView, rotate, secrets};
pub use tokens::{
    EffectiveLevel, MAX_TOKEN_DAYS, PEER_MINTED, TokenSpec, TokenView, revoke_peer_minted_tokens,
    token_create, token_list, token_revoke,
};
pub use whoami::{WhoAmI, whoami};

/// Who is acting, as proved to this process. The actor is never taken from arguments.
pub enum Principal {
    /// The local CLI: the member whose key opened the vault.
    Key,
    /// The proxy: an API token presented by a client (checked against the vault's hashes).
    Token(Secret),
    /// The proxy on a Unix socket: the member the peer's uid is mapped to (`--uid UID=NAME`).
    Peer { uid: u32, member: String },
}

/// One acting session: the settings, the identity that opens the vault, the principal, and
/// how the actor reached smv (the channel recorded in the audit log).
pub struct Ctx {
    /// Shared with the store (and, in a server, with every request): never copied.
    pub settings: Arc<Settings>,
    /// The vault and the audit log as this process holds them (shared by a server): the
    /// store boundary (`crate::store`), the only way `ops` reaches persistent state.
    store: Arc<dyn Store>,
    principal: Principal,
    channel: Channel,
    request_id: String,
    /// Things the user should know that are not errors (printed by the CLI on stderr).
    pub warnings: Vec<String>,
}

/// What an operation may look at and record while it decides.
pub struct Tx<'a> {
    pub vault: &'a Vault,
    pub actor: &'a Member,
    pub details: Map<String, Value>,
}

impl Tx<'_> {
    /// Asks the rules; a refusal becomes [`Error::Denied`] (and a `denied` audit entry).
    pub fn require(&self, action: Action, what: &str) -> Result<()> {
        match access::decide(&self.actor.actor(), action) {
            Decision::Allow => Ok(()),
            Decision::Deny(rule) => Err(Error::denied(&self.actor.name, what, rule)),
        }
    }

    pub fn detail(&mut self, key: &str, value: impl Into<Value>) {
        self.details.insert(key.to_string(), value.into());
    }
}

impl Ctx {
    /// The local CLI: the identity's own member acts.
    pub fn new(settings: Settings, identity: Identity) -> Ctx {
        let settings = Arc::new(settings);
        let store = crate::store::open(settings.clone(), Arc::new(identity));
        Ctx::acting(settings, store, Principal::Key, ids::random_hex(8))
    }

    /// A session of the proxy: the server's store (its identity opens the vault),
    /// `principal` acts. `request_id` is the one the server logs, so log lines and audit
    /// entries match.
    pub fn acting(
        settings: Arc<Settings>,
        store: Arc<dyn Store>,
        principal: Principal,
        request_id: String,
    ) -> Ctx {
        let channel = match &principal {
            Principal::Key => Channel::Local,
            // Until the token is checked, its accessor is unknown.
            Principal::Token(_) => Channel::Token("?".into()),
            Principal::Peer { .. } => Channel::Proxy,
        };
        Ctx {
            settings,
            store,
            principal,
            channel,
            request_id,
            warnings: Vec::new(),
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    pub fn identity(&self) -> &Identity {
        self.store.identity()
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    fn record(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: Outcome,
        reason: Option<String>,
        details: Map<String, Value>,
    ) -> Record {
        Record {
            actor: actor.to_string(),
            channel: self.channel.clone(),
            action: action.to_string(),
            target: target.to_string(),
            outcome,
            reason,
            request_id: self.request_id.clone(),
            details,
        }
    }

    /// The member the principal is in this vault (capped when through a token), or the
    /// refusal: the error for the caller, and the entry that records it with whatever
    /// names the caller (`key:age1…`, `token:t…`, `uid:N`). The caller appends the entry.
    pub(crate) fn resolve(
        &mut self,
        vault: &Vault,
        action: &str,
        target: &str,
    ) -> Result<std::result::Result<Member, Refusal>> {
        let (who, reason, err) = match &self.principal {
            Principal::Key => {
                let recipient = self.identity().recipient_string();
                match vault.member_by_recipient(&recipient)? {
                    Some(m) => return Ok(Ok(m)),
                    None => (
                        format!("key:{recipient}"),
                        "the key belongs to no member".to_string(),
                        Error::NotMember { recipient },
                    ),
                }
            }
            Principal::Token(presented) => {
                let presented = String::from_utf8_lossy(presented.expose_to_provider());
                match vault.authenticate_token(&presented, &crate::clock::now_stamp())? {
                    Ok((token, owner)) => {
                        self.channel = Channel::Token(token.accessor);
                        return Ok(Ok(owner));
                    }
                    Err((accessor, why)) => {
                        let accessor = accessor.unwrap_or_else(|| "?".into());
                        self.channel = Channel::Token(accessor.clone());
                        (
                            format!("token:{accessor}"),
                            why.describe().to_string(),
                            Error::Unauthenticated,
                        )
                    }
                }
            }
            Principal::Peer { uid, member } => match vault.member(member) {
                Ok(m) if m.active => return Ok(Ok(m)),
                Ok(_) | Err(Error::NotFound { .. }) => (
                    format!("uid:{uid}"),
                    format!("uid {uid} is mapped to `{member}`, who is not an active member"),
                    Error::Unauthenticated,
                ),
                Err(e) => return Err(e),
            },
        };
        let record = self.record(
            &who,
            action,
            target,
            Outcome::Denied,
            Some(reason),
            Map::new(),
        );
        Ok(Err(Refusal { record, error: err }))
    }

    /// Whether the vault, as it is now, accepts the principal — recording nothing. The proxy
    /// asks this of a caller from a throttled address: valid credentials keep working there,
    /// while guesses are refused without an audit entry each.
    pub fn accepted(&mut self) -> Result<bool> {
        let store = self.store.clone();
        store.view(|vault| Ok(self.resolve(vault, "authenticate", "-")?.is_ok()))
    }

    /// Appends an entry that follows an action which already failed or was refused: the
    /// user's error is the more useful one to show, so an audit failure here becomes a warning.
    fn best_effort_append(&mut self, rec: Record) {
        if let Err(e) = self.store.append(&rec) {
            self.warnings.push(format!(
                "the audit entry for this refusal could not be written: {e}"
            ));
        }
    }

    /// The entry that records `err` (a refusal, or a failure before any effect).
    fn failure(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        err: &Error,
        details: Map<String, Value>,
    ) -> Record {
        let (outcome, reason) = match err {
            Error::Denied { reason, .. } => (Outcome::Denied, reason.clone()),
            other => (Outcome::Failed, other.to_string()),
        };
        self.record(actor, action, target, outcome, Some(reason), details)
    }

    fn record_failure(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        err: &Error,
        details: Map<String, Value>,
    ) {
        let rec = self.failure(actor, action, target, err, details);
        self.best_effort_append(rec);
    }

    /// Records a read-only action's result after the fact (verify, export): best effort.
    pub(crate) fn note(
        &mut self,
        action: &str,
        target: &str,
        outcome: Outcome,
        reason: Option<String>,
    ) {
        let store = self.store.clone();
        let Ok(Ok(actor)) = store.view(|vault| self.resolve(vault, action, target)) else {
            return;
        };
        let rec = self.record(&actor.name, action, target, outcome, reason, Map::new());
        self.best_effort_append(rec);
    }

    /// A read-only action: look at the vault, decide, answer. Refusals are audited.
    pub(crate) fn read<T>(
        &mut self,
        action: &str,
        target: &str,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        self.look(action, target, false, f)
    }

    /// Like [`Ctx::read`], for the first step of an action with effects (a post, a
    /// publication, a queue run): every failure is audited, not only refusals.
    pub(crate) fn attempt<T>(
        &mut self,
        action: &str,
        target: &str,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        self.look(action, target, true, f)
    }

    fn look<T>(
        &mut self,
        action: &str,
        target: &str,
        every_failure: bool,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        let store = self.store.clone();
        // The entry is appended after the look: the vault is not held while appending.
        let looked = store.view(|vault| {
            let actor = match self.resolve(vault, action, target)? {
                Ok(m) => m,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let mut tx = Tx {
                vault,
                actor: &actor,
                details: Map::new(),
            };
            match f(&mut tx) {
                Ok(v) => Ok(Ok(v)),
                Err(e) if every_failure || matches!(e, Error::Denied { .. }) => {
                    let details = std::mem::take(&mut tx.details);
                    let record = self.failure(&actor.name, action, target, &e, details);
                    Ok(Err(Refusal { record, error: e }))
                }
                Err(e) => Err(e),
            }
        });
        self.take_notices();
        looked?.map_err(|refusal| {
            self.best_effort_append(refusal.record);
            refusal.error
        })
    }

    /// A change to the vault, under the write lock: load, decide and change in memory, log
    /// the intent durably, write the vault atomically, log the outcome. The change works on
    /// its own copy of the vault, read from the file under the lock; the kept copy is read
    /// again by the next look, since the file changed.
    pub(crate) fn change<T>(
        &mut self,
        action: &str,
        target: &str,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        let store = self.store.clone();
        let begun = store.begin_change();
        self.take_notices();
        let mut change = begun?;
        let vault = &mut change.vault;
        let actor = match self.resolve(vault, action, target)? {
            Ok(m) => m,
            Err(refusal) => {
                self.best_effort_append(refusal.record);
                return Err(refusal.error);
            }
        };
        let mut tx = Tx {
            vault,
            actor: &actor,
            details: Map::new(),
        };
        let result = f(&mut tx);
        let details = std::mem::take(&mut tx.details);
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                self.record_failure(&actor.name, action, target, &e, details);
                return Err(e);
            }
        };
        let intent = self.record(&actor.name, action, target, Outcome::Intent, None, details);
        let mut warnings = Vec::new();
        let written = store.finish_change(change, &intent, &mut warnings);
        self.warnings.extend(warnings);
        match written {
            Ok(()) => Ok(value),
            Err(crate::store::ChangeError::NotStarted(e)) => {
                // Nothing recorded yet (the new state could not even be sealed).
                let rec = self.failure(&actor.name, action, target, &e, Map::new());
                self.best_effort_append(rec);
                Err(e)
            }
            Err(crate::store::ChangeError::Failed(e)) => Err(e),
        }
    }

    /// Moves the store's notices (a restore this machine now follows, journal lines refused
    /// while this command wrote to the log) to the warnings.
    pub(crate) fn take_notices(&mut self) {
        let notices = self.store.take_notices();
        self.warnings.extend(notices);
    }
}

/// A principal refused, or an action refused or failed before any effect: the caller's
/// error, and the audit entry that records it.
pub(crate) struct Refusal {
    pub record: Record,
    pub error: Error,
}

/// Names of accounts and members: letters, digits, `.`, `_`, `-`; up to 64; starting with a
/// letter or digit. Narrow on purpose: names appear in audit targets and comma lists.
pub fn check_name(kind: &'static str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(
            Error::invalid(kind, format!("`{name}` is not a valid {kind} name")).with_hint(
                "use letters, digits, `.`, `_` and `-` (up to 64, starting with a letter or digit)",
            ),
        )
    }
}

/// Names smv's own commands take as a word where an account or group name may stand
/// (`smv draft show ID`, `smv draft edit ID`): an account or group so named could not be
/// drafted for, so such names are refused when an account or group is made.
pub const RESERVED_NAMES: [&str; 3] = ["edit", "show", "help"];

pub(crate) fn check_unreserved(kind: &'static str, name: &str) -> Result<()> {
    if RESERVED_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(Error::invalid(
            kind,
            format!("`{name}` is a word smv's commands use (`smv draft {name} …`)"),
        )
        .with_hint(format!(
            "choose another name; these are reserved: {}",
            RESERVED_NAMES.join(", ")
        )));
    }
    Ok(())
}

/// A comma-separated list of account or group names (`smv post a,b,group`): each checked
/// like a name, before it is used anywhere (an audit target among others).
pub fn check_targets(targets: &str) -> Result<()> {
    // Only names, commas and spaces: `trim` below would otherwise let a carriage return
    // or a tab around a name through to the audit target (`account:demo\r`).
    if let Some(bad) = targets
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ',' | ' ')))
    {
        return Err(Error::invalid(
            "account",
            format!(
                "`{}` has a character no account or group name has",
                bad.escape_default()
            ),
        )
        .with_hint(
            "name accounts and groups with letters, digits, `.`, `_` and `-`, separated by commas",
        ));
    }
    for name in targets.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        check_name("account", name)?;
    }
    Ok(())
}

/// The ids people type: drafts `d…`, scheduled posts `q…`, tokens `t…`, each followed by
/// 8 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Draft,
    Queued,
    Token,
}

impl IdKind {
    fn prefix(self) -> char {
        match self {
            IdKind::Draft => 'd',
            IdKind::Queued => 'q',
            IdKind::Token => 't',
        }
    }
    fn what(self) -> &'static str {
        match self {
            IdKind::Draft => "draft id",
            IdKind::Queued => "scheduled post id",
            IdKind::Token => "token accessor",
        }
    }
    fn list(self) -> &'static str {
        match self {
            IdKind::Draft => "`smv drafts` lists the drafts",
            IdKind::Queued => "`smv queue` lists the scheduled posts",
            IdKind::Token => "`smv token list` shows the accessors",
        }
    }
}

/// Checks an id before it is used anywhere, so that what reaches the vault, the audit log
/// (as a target) or a person's terminal is only ever an id.
pub fn check_id(kind: IdKind, id: &str) -> Result<()> {
    let mut chars = id.chars();
    let ok = id.len() == 9
        && chars.next() == Some(kind.prefix())
        && chars.all(|c| matches!(c, '0'..='9' | 'a'..='f'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            kind.what(),
            format!(
                "not a {}: it is `{}` and 8 hex digits",
                kind.what(),
                kind.prefix()
            ),
        )
        .with_hint(kind.list()))
    }
}

#[cfg(test)]
mod tests;

/// The API version `account` uses, where its network pins one: the account's own setting,
/// else config.toml's `[api_versions]` (None: smv's pinned version).
pub(crate) fn api_version(settings: &Settings, account: &crate::vault::Account) -> Option<String> {
    account
        .api_version
        .clone()
        .or_else(|| settings.api_versions.get(&account.provider).cloned())
}
