//! The store boundary: everything the operations layer persists or locks goes through
//! [`Store`]. `ops` imports this module — the trait, its types and the factory functions —
//! and never a store's own modules (`store::file`; a test over the sources keeps it so).
//!
//! What belongs to a store, and what to `ops`:
//! - **A store** keeps the state and its history safe: where they live, how they are sealed
//!   (the file store: the whole vault image age-encrypted to the custodians; a database
//!   store: secrets sealed per row), locks, durability, group commit, freshness (is this the
//!   latest state, `store::fresh`), this machine's memory of it (pins), backups and restores,
//!   content-addressed blobs. It decides nothing about who may do what.
//! - **`ops`** decides: who acts (the principal), what the rules allow, what to record, what
//!   to tell the user. It sees the state as a [`Vault`] (the domain model: an in-memory SQLite
//!   database of members, accounts, grants, drafts…) and the log as a [`Ledger`].
//! - **A new kind of state** (media blobs, reconcile cursors, alert routes and their outbox,
//!   trust rules, sign-in sessions, review links, comments, draft revisions): small records
//!   that change with the vault go in the vault's schema (a migration) and so through
//!   [`Store::begin_change`]; bulk or append-only data gets methods here, implemented by every
//!   store (as blobs are: [`Store::put_blob`]).
//!
//! **Synchronous, on purpose.** Every operation is blocking code: SQLite, file locks and the
//! providers' HTTP client are blocking, the CLI has one thread, and the proxy runs each
//! operation on tokio's blocking pool. A database store can use a blocking client or block on
//! its own runtime inside the implementation; async here would colour every `ops` function
//! for no gain.
//!
//! The trait is object-safe (`Arc<dyn Store>` is what a `Ctx` holds); the generic helpers
//! `view`, `grouped` and `append` on `dyn Store` are the ergonomic way to call it.

pub(crate) mod file;
pub mod fresh;
pub(crate) mod journal;
pub mod memory;

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use crate::audit::{Entry, Ledger, Record};
use crate::identity::Identity;
use crate::settings::Settings;
use crate::vault::Vault;
use crate::{Error, Result};

pub use file::InitCreated;

/// A change in progress: the store's write lock, and a private copy of the vault read under
/// it. The caller changes the copy, then hands it to [`Store::finish_change`] (or drops it:
/// nothing is written).
pub struct Change {
    pub vault: Vault,
    /// Held until the change is finished or dropped.
    pub(crate) _lock: Box<dyn Any + Send>,
}

/// Why a change was not written.
#[derive(Debug)]
pub enum ChangeError {
    /// Before anything was recorded or written (e.g. the new state could not be sealed):
    /// the caller records the failure.
    NotStarted(Error),
    /// After the intent was recorded: the store recorded the outcome.
    Failed(Error),
}

impl From<ChangeError> for Error {
    fn from(e: ChangeError) -> Error {
        match e {
            ChangeError::NotStarted(e) | ChangeError::Failed(e) => e,
        }
    }
}

/// One queue runner at a time: held while a run lasts.
pub struct Claim {
    pub(crate) _lock: Box<dyn Any + Send>,
}

/// A content-addressed blob's name: a keyed hash of its plaintext (hex), so that a name
/// reveals nothing about the content to someone without the vault's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BlobId(pub String);

/// The state in place when a restore begins: who may restore is decided by it when it is
/// the latest, never by the copy the caller supplies (issue 23).
pub enum Live {
    /// The state in place loads and checks as the latest.
    Current(Vault),
    /// There is none (the disk died): authority comes from the copy once the removals the
    /// log records since it are replayed.
    Absent,
    /// Something is there that is not the latest state (an older copy put in place, a
    /// damaged or foreign file), or this key does not open it: why.
    NotCurrent(Error),
}

/// A copy of the vault an admin may make the vault again (`smv restore`), and what the
/// store knows around it.
pub struct RestoreSource {
    /// The copy, read and checked to be this vault.
    pub vault: Vault,
    /// The state in place, as every other command would read it.
    pub live: Live,
    /// The log, verified (read-only): the changes it records since the copy are replayed.
    pub log: Box<dyn Ledger>,
    /// Every entry about the vault's writes, newest first.
    pub writes: Vec<Entry>,
    /// The highest restore epoch this machine has seen.
    pub seen_epoch: u64,
    /// The largest log size this machine has seen.
    pub seen_entries: u64,
    /// Whether the log extends what this machine has seen of it. When it does not (the log
    /// was put back too), the removals recorded in the lost part cannot be replayed.
    pub log_extends_seen: bool,
    /// Entries in the log now.
    pub log_entries: u64,
    /// The store's write lock, held from reading the copy to writing it.
    pub(crate) _lock: Box<dyn Any + Send>,
}

pub trait Store: Send + Sync {
    /// The key the store opens the vault with: the local CLI's principal.
    fn identity(&self) -> &Arc<Identity>;

    /// Where the state lives, for people (`smv whoami`).
    fn describe(&self) -> String;

    /// Where the log lives, for people (errors about it).
    fn describe_log(&self) -> String;

    /// Runs `f` on the state as it is now, checked to be the latest. `f` must not append to
    /// the log (lock order: the group, then the state) nor call the network.
    fn look(&self, f: &mut dyn FnMut(&Vault) -> Result<()>) -> Result<()>;

    /// Like [`Store::look`], checked only to be this vault (not that it is the latest): for
    /// `smv audit verify`, which names the log's faults itself.
    fn look_unchecked(&self, f: &mut dyn FnMut(&Vault) -> Result<()>) -> Result<()>;

    /// Runs `step` inside the open audit group, under the posting gate, and returns once what
    /// it appended is durable. The step's own error is returned after the commit (a refusal's
    /// entry is durable then too).
    fn in_group(&self, step: &mut dyn FnMut(&mut dyn Ledger) -> Result<()>) -> Result<()>;

    /// Takes the write lock and reads a private copy of the state (checked to be the latest).
    fn begin_change(&self) -> Result<Change>;

    /// Writes a changed copy: `intent` and the write's own record are appended durably
    /// first (no intent, no write), then the state is replaced, then the outcomes are
    /// appended (an outcome that cannot be appended becomes a warning).
    fn finish_change(
        &self,
        change: Change,
        intent: &Record,
        warnings: &mut Vec<String>,
    ) -> std::result::Result<(), ChangeError>;

    /// A reader of the log for long reads (verify, export, listings): it holds no lock.
    fn reader(&self) -> Result<Box<dyn Ledger>>;

    /// A reader of the log with the index of its posts brought up to date (`smv posts`): the
    /// index is derived from the log and kept by the store (the file store: beside the log,
    /// `<vault>.audit.posts`).
    fn posts_index(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Box<dyn Ledger>, crate::audit::posts::PostIndex)>;

    /// Verifies the whole log, and that it extends what this machine has seen of it.
    fn verify_log(
        &self,
        external: Option<&str>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<std::result::Result<crate::audit::Report, crate::audit::Failure>>;

    /// A consistent copy of the log in the file `out` (which must not exist).
    fn copy_log(&self, out: &Path) -> Result<()>;

    /// Keeps a post's outcome that could not be appended now; the next audit group appends
    /// it first (marked `recorded_late`). Durable when it returns; says where, for people.
    fn keep_outcome(&self, record: &Record) -> Result<String>;

    /// Whether outcomes are kept, waiting for a group to append them.
    fn outcomes_pending(&self) -> bool;

    /// Lines of the outcomes journal that were refused (no valid MAC under the vault's
    /// journal key, see `store::journal`) and moved aside, for `smv status`.
    fn rejected_outcomes(&self) -> Vec<journal::RejectedLine> {
        Vec::new()
    }

    /// Claims the queue: one runner at a time.
    fn claim_queue(&self) -> Result<Claim>;

    /// Keeps `bytes` sealed like the vault's secrets; its content-addressed name.
    fn put_blob(&self, bytes: &[u8]) -> Result<BlobId>;

    /// The bytes of a blob, checked against its name.
    fn get_blob(&self, id: &BlobId) -> Result<zeroize::Zeroizing<Vec<u8>>>;

    /// A copy an admin may restore: the given backup file, or the state in place; checked to
    /// be this vault, beside a log that verifies. Holds the write lock until it is dropped or
    /// installed.
    fn restore_source(&self, from: Option<&Path>) -> Result<RestoreSource>;

    /// Records a refused restore (with the copy's key: the store refuses the state in place).
    fn restore_refused(&self, source: &RestoreSource, record: &Record);

    /// Makes the copy the state, as `generation` of restore `epoch`: `intent` first, like
    /// every change; this machine follows it. Returns the log's size after.
    fn restore_install(
        &self,
        source: RestoreSource,
        intent: &Record,
        generation: u64,
        epoch: u64,
        warnings: &mut Vec<String>,
    ) -> Result<u64>;

    /// Something to tell the user that is not an error.
    fn notice(&self, text: String);

    /// Notices for the user collected so far (emptied): a restore this machine now follows.
    fn take_notices(&self) -> Vec<String>;
}

impl dyn Store {
    /// [`Store::look`] with a result.
    pub fn view<T>(&self, f: impl FnOnce(&Vault) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.look(&mut |v| {
            out = Some(f.take().ok_or_else(ran_twice)?(v)?);
            Ok(())
        })?;
        out.ok_or_else(did_not_run)
    }

    /// [`Store::look_unchecked`] with a result.
    pub fn view_unchecked<T>(&self, f: impl FnOnce(&Vault) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.look_unchecked(&mut |v| {
            out = Some(f.take().ok_or_else(ran_twice)?(v)?);
            Ok(())
        })?;
        out.ok_or_else(did_not_run)
    }

    /// [`Store::in_group`] with a result.
    pub fn grouped<T>(&self, step: impl FnOnce(&mut dyn Ledger) -> Result<T>) -> Result<T> {
        let mut step = Some(step);
        let mut out = None;
        self.in_group(&mut |log| {
            out = Some(step.take().ok_or_else(ran_twice)?(log)?);
            Ok(())
        })?;
        out.ok_or_else(did_not_run)
    }

    /// Appends one entry durably (sharing the commit with concurrent appends); its seq.
    pub fn append(&self, record: &Record) -> Result<u64> {
        self.grouped(|log| log.append(record))
    }
}

fn ran_twice() -> Error {
    Error::Internal("a store ran a step twice".into())
}

fn did_not_run() -> Error {
    Error::Internal("a store did not run the step".into())
}

/// The store for these settings: today, the vault file and its SQLite log.
pub fn open(settings: Arc<Settings>, identity: Arc<Identity>) -> Arc<dyn Store> {
    Arc::new(file::FileStore::new(settings, identity))
}

/// Like [`open`], for a long-lived process (`smv serve`): this machine's memory of the
/// vault is written as it goes, at most once a second, not only at the end.
pub fn open_long_lived(settings: Arc<Settings>, identity: Arc<Identity>) -> Arc<dyn Store> {
    let store = file::FileStore::new(settings, identity);
    store.pin_every(std::time::Duration::from_secs(1));
    Arc::new(store)
}

/// Refuses to make a vault where one exists (`smv init`, before it makes a key).
pub fn check_new(settings: &Settings) -> Result<()> {
    if settings.vault.exists() {
        return Err(Error::VaultExists(settings.vault.clone()));
    }
    Ok(())
}

/// Creates the store for a new vault (`smv init`): `vault` (its first admin inserted) is
/// written with `intent` recorded first, in a new log. Nothing is left behind on failure.
pub fn create(
    settings: &Settings,
    identity: &Identity,
    vault: Vault,
    intent: &Record,
) -> Result<InitCreated> {
    file::create(settings, identity, vault, intent)
}
