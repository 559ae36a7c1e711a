//! The file store: the vault file (an age-encrypted SQLite image) and its SQLite audit log
//! beside it, as one process holds them between operations.
//!
//! The CLI makes one [`FileStore`] per command; `smv serve` shares one between all its requests.
//! Both run the same code, so every rule that holds for one holds for the other:
//! - **The vault** is decrypted once and kept, and read again only when its file changed
//!   (every save replaces the file, so a new inode means a new vault). Whoever reads it
//!   holds it for that look only: nothing waits on the network while holding it.
//! - **The audit log** is one connection. Appends from concurrent operations share a
//!   transaction and one fsync (group commit): each operation runs its step inside the open
//!   group and returns once the group is durable. The last operation to join commits it; a
//!   group never grows past [`MAX_GROUP`] operations, so nobody waits for ever.
//! - **The posting gate** (a file lock shared with every other smv process) is taken when a
//!   group opens and released when it is committed: every intent in a group was authorized
//!   against the vault as it was under the gate, and no vault is saved meanwhile. Every
//!   process takes the gate before SQLite's write lock, never the other way round.
//!
//! Lock order: the group, then the vault. A look at the vault ([`FileStore::view`]) never
//! appends to the log: it returns what to record, and the caller appends after.
//!
//! Every vault read here is checked for freshness (`store::fresh`): the vault must be the
//! latest its log records, and both must be at least as far along as this machine has seen.
//! What this process sees and commits moves this machine's pin forward, written once when
//! the store is dropped (for a server: at most once a second, and at the end).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::path::Path;

use super::fresh::{self, Fresh, VaultFileState};
use super::{BlobId, Change, ChangeError, Claim, RestoreSource};
use crate::audit::{AuditLog, Failure, Ledger, LogKey, Outcome, Record, Report, VaultFile};
use crate::identity::Identity;
use crate::settings::Settings;
use crate::vault::pins::{Pin, Seen};
use crate::vault::{Sealed, Vault, WriteMode, lock::WriteLock, pins};
use crate::{Error, Result};

/// At most this many operations share one commit.
pub const MAX_GROUP: usize = 64;

pub struct FileStore {
    settings: Arc<Settings>,
    identity: Arc<Identity>,
    vault: Mutex<Cached>,
    group: Mutex<Group>,
    committed: Condvar,
    /// Operations waiting to enter the group: while there are any, the group stays open.
    waiting: AtomicUsize,
    /// Groups committed so far (each one fsync).
    commits: AtomicU64,
    /// What this process has seen of the vault and its log, for this machine's pin.
    pin: Mutex<PinState>,
    /// Things to tell the user that are not errors (a restore this machine now follows).
    notices: Mutex<Vec<String>>,
    /// The entry that records this machine's first pin of the vault, for the next group
    /// (or, if the command opens none, the store's end) to append.
    first_pin: Mutex<Option<Record>>,
}

#[derive(Default)]
struct PinState {
    /// The pin as this process would leave it (None until the vault was read).
    seen: Option<pins::Pin>,
    /// What was last written to the pins file.
    written: Option<pins::Pin>,
    /// Write at most this often while the store lives (None: only when it is dropped).
    every: Option<Duration>,
    last: Option<Instant>,
}

#[derive(Default)]
struct Cached {
    vault: Option<Vault>,
    /// The id of the vault first read: a file replaced by another vault is refused.
    id: Option<String>,
    /// Bumped at each reload, so the log is reopened with the key of the vault as read.
    generation: u64,
}

#[derive(Default)]
struct Group {
    log: Option<(AuditLog, u64)>,
    open: bool,
    gate: Option<WriteLock>,
    members: usize,
    /// The group being filled; every earlier one is committed or rolled back.
    epoch: u64,
    /// Groups that failed: the message, and how many members have yet to read it.
    failed: HashMap<u64, (String, usize)>,
    /// Post outcomes kept in `<vault>.outcomes` (store::journal) that this group appends:
    /// forgotten once the group is committed, kept if it is not. (Issue 17.)
    replay: Option<super::journal::Replay>,
}

impl FileStore {
    pub fn new(settings: Arc<Settings>, identity: Arc<Identity>) -> FileStore {
        // Pins kept beside the vault by an earlier version are read once (one stat when
        // there is nothing to do).
        let mut notices = Vec::new();
        if let Ok(n @ 1..) =
            pins::migrate_legacy(&settings.known_vaults, &settings.legacy_known_vaults)
        {
            notices.push(format!(
                "this machine's pins of {n} vault(s) moved from {} to {} (the state directory, not beside the vault)",
                settings.legacy_known_vaults.display(),
                settings.known_vaults.display()
            ));
        }
        FileStore {
            settings,
            identity,
            vault: Mutex::default(),
            group: Mutex::default(),
            committed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            pin: Mutex::default(),
            notices: Mutex::new(notices),
            first_pin: Mutex::default(),
        }
    }

    /// A long-lived store (the server) writes this machine's pin at most this often, instead
    /// of only when it is dropped.
    pub fn pin_every(&self, every: Duration) {
        relock(self.pin.lock()).every = Some(every);
    }

    /// Something to tell the user that is not an error.
    pub(crate) fn notice(&self, text: String) {
        relock(self.notices.lock()).push(text);
    }

    /// Notices for the user collected so far (emptied).
    pub(crate) fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *relock(self.notices.lock()))
    }

    /// How many audit groups this store has committed (each one fsync).
    #[cfg(test)]
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` on the vault as it is on disk now: the kept copy, or the file read again
    /// (and checked against this machine's pins and its audit log) if it changed.
    pub(crate) fn view<T>(&self, f: impl FnOnce(&Vault) -> Result<T>) -> Result<T> {
        let mut cached = relock(self.vault.lock());
        if !cached.vault.as_ref().is_some_and(Vault::is_current) {
            // Drop the old copy first: one decrypted vault in memory, not two.
            cached.vault = None;
            let fresh = self.load_checked()?;
            let id = fresh.id()?;
            match &cached.id {
                Some(known) if *known != id => {
                    return Err(Error::Conflict(
                        format!(
                            "the vault file {} was replaced by another vault (id {id}, was {known})",
                            self.settings.vault.display()
                        ),
                        Some(
                            "nothing was done; check the vault path (a server must be restarted to serve another vault)"
                                .into(),
                        ),
                    ));
                }
                Some(_) => {}
                None => cached.id = Some(id),
            }
            cached.vault = Some(fresh);
            cached.generation += 1;
        }
        let vault = cached
            .vault
            .as_ref()
            .ok_or_else(|| Error::Internal("vault cache".into()))?;
        f(vault)
    }

    /// Reads and decrypts the vault, and checks that it is the vault this machine knew at
    /// this path, that the audit log beside it belongs to it, and that both are the latest
    /// (see `store::fresh`). (age proves who can read a file, not who wrote it: see
    /// vault::pins.)
    pub(crate) fn load_checked(&self) -> Result<Vault> {
        // The vault is read before its log: a write that lands in between makes the log
        // name a newer file than the one read, and the file then is not the one read any
        // more, so it is read again. A copy that stays stale is refused.
        let mut tries = 0;
        loop {
            // This machine's pin, read once for both uses: a file it has already checked
            // page by page is not checked again, and the vault is checked against it.
            let known = pins::get(&self.settings.known_vaults, &self.settings.vault);
            let sound = known.as_ref().and_then(|p| p.sound.as_deref());
            let mut vault = Vault::load_known(&self.settings.vault, &self.identity, sound)
                .map_err(|e| match e {
                    // The log beside it says there was a vault: `smv init` would be refused,
                    // and the way back is a restore (e.g. after a restore was interrupted).
                    Error::NoVault(_) if self.settings.audit_log().exists() => e.with_hint(format!(
                        "its audit log {} is there: the vault file is missing, not new. Put a backup copy back with `smv restore --from FILE --reason \"…\"` (docs/runbooks.md, \"Restoring from a backup\")",
                        self.settings.audit_log().display()
                    )),
                    e => e,
                })?;
            match self.check_fresh(&mut vault, known) {
                Ok(()) => return Ok(vault),
                Err(Error::Stale { .. }) if tries < 10 && !vault.is_current() => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the vault checked only to be the vault this machine knew (id and audit key):
    /// for `smv audit verify`, which checks the log itself, and `smv restore`.
    pub(crate) fn load_unchecked(&self, path: &std::path::Path) -> Result<Vault> {
        let vault = Vault::load(path, &self.identity)?;
        let key = LogKey::from_vault(&vault)?;
        let (id, vkey) = (vault.id()?, key.verifier_key());
        // The pin for this path, else for this vault wherever it was opened (a new path).
        let mut known = pins::get(&self.settings.known_vaults, &self.settings.vault)
            .or_else(|| pins::get_id(&self.settings.known_vaults, &id));
        self.follow_rotations(known.as_mut(), &id, &vkey)?;
        self.refuse_retired_key(&vault, known.as_ref(), &id, &vkey, true)?;
        pins::check_known(
            known,
            &self.settings.known_vaults,
            &self.settings.vault,
            &id,
            &vkey,
        )?;
        Ok(vault)
    }

    /// `known`: this machine's pin for the vault, as read before the vault was.
    fn check_fresh(&self, vault: &mut Vault, mut known: Option<pins::Pin>) -> Result<()> {
        let as_read = known.clone();
        let key = LogKey::from_vault(vault)?;
        let (vault_id, audit_key) = (vault.id()?, key.verifier_key());
        if known.is_none() {
            // A path this machine did not know: the pin of this vault wherever it was opened.
            known = pins::get_id(&self.settings.known_vaults, &vault_id);
        }
        self.follow_rotations(known.as_mut(), &vault_id, &audit_key)?;
        let retired_here = known
            .as_ref()
            .is_some_and(|p| p.retired(&vault_id, &audit_key));
        if retired_here && self.catch_up_keys(vault, &audit_key)? {
            return self.check_fresh(vault, as_read);
        }
        self.refuse_retired_key(vault, known.as_ref(), &vault_id, &audit_key, false)?;
        let pin = pins::check_known(
            known,
            &self.settings.known_vaults,
            &self.settings.vault,
            &vault_id,
            &audit_key,
        )?;
        let (log, head) = match AuditLog::check_belongs(&self.settings.audit_log(), &key) {
            Ok(found) => found,
            Err(e) => {
                // Only then is the log read for retired keys (no cost on the usual path).
                if self.catch_up_keys(vault, &audit_key)? {
                    return self.check_fresh(vault, as_read);
                }
                self.refuse_retired_key(vault, None, &vault_id, &audit_key, true)?;
                return Err(e);
            }
        };
        let writes = log.vault_writes()?;
        let root_at_pin = match pin.as_ref().and_then(|p| p.checkpoint.as_ref()) {
            Some(seen) => log.root_at(seen.size)?,
            None => None,
        };
        let state = VaultFileState {
            generation: vault.generation()?,
            epoch: vault.epoch()?,
            sha256: vault.file_sha256().unwrap_or_default().to_string(),
        };
        let observed = fresh::Observed {
            vault: &state,
            writes: &writes,
            head,
            pin: pin.as_ref(),
            root_at_pin,
        };
        let Fresh { mut seen, restored } =
            fresh::check(&observed, &vault_id, &audit_key).map_err(|r| self.stale(r))?;
        vault.set_next_generation(writes.max_generation + 1);
        if pin.is_none() && relock(self.pin.lock()).seen.is_none() {
            self.first_pin(vault, &vault_id, &audit_key)?;
        }
        // Loaded whole and checked (now or before): the next command may skip the check.
        seen.sound = vault.file_sha256().map(str::to_string);
        if restored {
            relock(self.notices.lock()).push(format!(
                "the vault {} was restored from a backup by an admin (restore {}); this machine now follows the restored vault (`smv audit log --action vault.restore` says who and why)",
                self.settings.vault.display(),
                state.epoch
            ));
        }
        self.see(seen, restored);
        Ok(())
    }

    /// A vault whose audit key is not the one this machine pinned is the same vault if its
    /// log records a chain of rotations from the pinned key to its key, each signed by the
    /// key it retires and the key it names: the pin then follows the chain. (Anything else
    /// is refused by the pin check as a swapped vault.)
    fn follow_rotations(
        &self,
        known: Option<&mut pins::Pin>,
        vault_id: &str,
        audit_key: &str,
    ) -> Result<()> {
        let Some(pin) = known else {
            return Ok(());
        };
        let Some(current) = pin.current_key().map(str::to_string) else {
            return Ok(());
        };
        if pin.vault_id != vault_id || current == audit_key {
            return Ok(());
        }
        let log = AuditLog::open_read_only(&self.settings.audit_log())?;
        if let Some(keys) = crate::audit::rotation::follow(&log, &current, audit_key)? {
            pin.audit_keys.extend(keys);
        }
        Ok(())
    }

    /// A change that rotated the keys records the rotation with its intent, before the
    /// vault is written: a crash in between leaves the vault one key era behind its log.
    /// When the log's last rotation retired this vault's own key (so the vault's key vouched
    /// for it) and its new keys open with this identity, the vault takes them (in memory;
    /// its next write keeps them) and is checked again — freshness then decides whether it
    /// is the latest copy or an older one.
    fn catch_up_keys(&self, vault: &mut Vault, audit_key: &str) -> Result<bool> {
        let Ok(log) = AuditLog::open_read_only(&self.settings.audit_log()) else {
            return Ok(false);
        };
        let rotations = crate::audit::rotation::rotations(&log)?;
        if rotations.last().is_none_or(|r| r.previous_key != audit_key)
            || crate::audit::rotation::follow(&log, audit_key, &rotations[rotations.len() - 1].key)?
                .is_none()
        {
            return Ok(false);
        }
        Ok(
            crate::audit::rotation::adopt(vault, &log, self.identity.age_identity())
                .ok()
                .flatten()
                .is_some(),
        )
    }

    /// This vault refused as an older copy than the latest, for `rollback`.
    fn stale(&self, rollback: fresh::Rollback) -> Error {
        Error::Stale {
            path: self.settings.vault.clone(),
            audit_log: self.settings.audit_log(),
            rollback,
        }
    }

    /// A vault whose audit key the log records as retired is an older copy, from before
    /// that rotation: refused as stale (with the way out), not as a swapped vault.
    fn refuse_retired_key(
        &self,
        vault: &Vault,
        known: Option<&pins::Pin>,
        vault_id: &str,
        audit_key: &str,
        read_log: bool,
    ) -> Result<()> {
        if let Some(p) = known
            && p.retired(vault_id, audit_key)
        {
            // A key this machine saw retired: an older copy of this vault.
            return Err(self.stale(fresh::Rollback::VaultOlderThanPin {
                vault: vault.generation()?,
                seen: p.generation,
            }));
        }
        if !read_log {
            return Ok(());
        }
        let Ok(log) = AuditLog::open_read_only(&self.settings.audit_log()) else {
            return Ok(());
        };
        if log.signing_key().is_none()
            && crate::audit::rotation::rotations(&log)?
                .iter()
                .any(|r| r.previous_key == audit_key)
        {
            let writes = log.vault_writes()?;
            return Err(self.stale(fresh::Rollback::VaultOlderThanLog {
                vault: vault.generation()?,
                log: writes.max_generation,
            }));
        }
        Ok(())
    }

    /// This machine opens this vault for the first time (no pin for its path or its id):
    /// trust on first use, said out loud, and recorded in the log by the next group (or at
    /// the store's end). Issue 23: a first pin is never silent.
    fn first_pin(&self, vault: &Vault, vault_id: &str, audit_key: &str) -> Result<()> {
        let actor = vault
            .member_by_recipient(&self.identity.recipient_string())?
            .map_or_else(|| "unknown".to_string(), |m| m.name);
        relock(self.notices.lock()).push(format!(
            "this machine opens the vault {} (id {vault_id}) for the first time: it now trusts this vault and its audit key {audit_key} (pinned in {}); if you did not expect a new vault here, ask another custodian before adding secrets",
            self.settings.vault.display(),
            self.settings.known_vaults.display()
        ));
        let mut details = serde_json::Map::new();
        details.insert(
            "path".into(),
            self.settings.vault.display().to_string().into(),
        );
        details.insert("audit_key".into(), audit_key.into());
        *relock(self.first_pin.lock()) = Some(Record {
            actor,
            channel: crate::audit::Channel::Local,
            action: "vault.pin".into(),
            target: format!("vault:{vault_id}"),
            outcome: Outcome::Ok,
            reason: None,
            request_id: crate::ids::random_hex(8),
            details,
        });
        Ok(())
    }

    /// Takes in what this process saw or committed; a restore is written at once.
    fn see(&self, seen: pins::Pin, restored: bool) {
        let mut p = relock(self.pin.lock());
        match &mut p.seen {
            Some(mine) if mine.vault_id == seen.vault_id => mine.advance(&seen),
            other => *other = Some(seen),
        }
        let due = restored
            || p.every
                .is_some_and(|every| p.last.is_none_or(|t| t.elapsed() >= every));
        if due {
            self.flush_pin(&mut p);
        }
    }

    /// A checkpoint this process signed: the log is at least this long now.
    fn see_committed(&self, (size, root): (u64, crate::audit::merkle::Hash)) {
        let seen = {
            let p = relock(self.pin.lock());
            let Some(mut seen) = p.seen.clone() else {
                return;
            };
            seen.checkpoint = Some(pins::Seen {
                size,
                root: crate::ids::hex(&root),
            });
            seen
        };
        self.see(seen, false);
    }

    fn flush_pin(&self, p: &mut PinState) {
        let Some(seen) = p.seen.clone() else {
            return;
        };
        if p.written.as_ref() == Some(&seen) {
            return;
        }
        p.last = Some(Instant::now());
        // Best effort: a pin not written is a pin a little behind, never a refusal.
        if pins::advance(&self.settings.known_vaults, &self.settings.vault, &seen).is_ok() {
            p.written = Some(seen);
        }
    }

    /// Writes `vault` as a logged change: the caller holds the write lock and has read
    /// `vault` with [`FileStore::load_checked`]. Sealed as the next generation; then `intent`
    /// and the write's own `vault.write` intent (its generation and hash) are appended in
    /// one commit — no intent, no write; then the file is replaced under the posting gate;
    /// then both outcomes are appended. An outcome that cannot be appended leaves a
    /// warning (the intent names the change, and `smv audit verify` lists it as incomplete).
    pub(crate) fn write_vault(
        &self,
        vault: &mut Vault,
        sealed: Sealed,
        intent: &Record,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        write_logged(
            &self.settings,
            &self.identity,
            vault,
            sealed,
            WriteMode::Replace,
            intent,
            &mut |records, vault| {
                self.grouped(|log| match vault {
                    Some(v) => crate::audit::rotation::append_change(log, records, v),
                    None => log.append_batch(records).map(|_| ()),
                })
            },
            warnings,
        )?;
        Ok(())
    }

    /// Appends one entry durably (sharing the commit with concurrent appends); its seq.
    #[cfg(test)]
    pub(crate) fn append(&self, record: &Record) -> Result<u64> {
        self.grouped(|log| log.append(record))
    }

    /// Runs `step` inside the open audit group, under the posting gate, and returns once
    /// what it appended is durable. The step's own error is returned after the commit (a
    /// refusal's entry is durable then too); a failed commit fails every member that
    /// succeeded.
    pub(crate) fn grouped<T>(&self, step: impl FnOnce(&mut AuditLog) -> Result<T>) -> Result<T> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut g = relock(self.group.lock());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if !g.open {
            self.open_group(&mut g)?;
        }
        let epoch = g.epoch;
        g.members += 1;
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (log, _) = g
                .log
                .as_mut()
                .ok_or_else(|| Error::Internal("audit group without a log".into()))?;
            step(log)
        }));
        let panicked = ran.is_err();
        if panicked && let Some((log, _)) = g.log.as_mut() {
            // A step that panicked may have written half its entries: keep none of the group,
            // and close it now (its commit fails, and so do its members).
            log.rollback();
        }
        if panicked || self.waiting.load(Ordering::SeqCst) == 0 || g.members >= MAX_GROUP {
            let committed = self.commit(&mut g);
            let ran = ran.unwrap_or_else(|p| std::panic::resume_unwind(p));
            // The step's own error first: when its append failed, that is why the commit did.
            return ran.and_then(|v| committed.map(|()| v));
        }
        // Another operation is about to join: it (or a later one) commits for us.
        while g.epoch == epoch {
            g = relock(self.committed.wait(g));
        }
        let failed = match g.failed.get_mut(&epoch) {
            Some((message, readers)) => {
                let message = message.clone();
                *readers -= 1;
                if *readers == 0 {
                    g.failed.remove(&epoch);
                }
                Some(message)
            }
            None => None,
        };
        drop(g);
        let ran = ran.unwrap_or_else(|p| std::panic::resume_unwind(p));
        match (ran, failed) {
            (Ok(_), Some(message)) => Err(Error::Audit {
                path: self.settings.audit_log(),
                why: format!("the entries of this action were written with others that failed ({message})"),
                hint: Some(
                    "none of them were kept; check the disk that holds the audit log, and `smv audit verify`"
                        .into(),
                ),
            }),
            (ran, _) => ran,
        }
    }

    fn open_group(&self, g: &mut Group) -> Result<()> {
        g.gate = Some(WriteLock::acquire(
            &self.settings.gate_file(),
            self.settings.lock_timeout_ms,
        )?);
        let opened = self.begin(g);
        if opened.is_err() {
            g.gate = None;
        }
        opened
    }

    fn begin(&self, g: &mut Group) -> Result<()> {
        let generation = relock(self.vault.lock()).generation;
        if g.log.as_ref().is_none_or(|(_, gen_)| *gen_ != generation) {
            g.log = None;
            let key = self.view(LogKey::from_vault)?;
            let generation = relock(self.vault.lock()).generation;
            g.log = Some((
                AuditLog::open_signing(&self.settings.audit_log(), key)?,
                generation,
            ));
        }
        if let Some((log, _)) = g.log.as_mut() {
            log.begin()?;
            if let Some(rec) = relock(self.first_pin.lock()).take() {
                log.append(&rec)?;
            }
            // Outcomes a process could not append when they happened go in first (one stat
            // when there are none): a post deciding in this group sees them (store::journal).
            // Only lines authenticated with the vault's journal key are appended.
            let path = self.settings.pending_outcomes_file();
            if super::journal::pending(&path) {
                let auth = self.view(super::journal::Auth::from_vault)?;
                let replayed = super::journal::replay(&path, log, &auth);
                g.replay = replayed.replay;
                if replayed.rejected > 0 {
                    self.notice(format!(
                        "{} line(s) of {} were not written with this vault's key (no valid MAC, or not this post's intent) and were moved to {}: nothing in them was recorded; `smv status` lists them",
                        replayed.rejected,
                        path.display(),
                        super::journal::rejected_file(&path).display()
                    ));
                }
            }
        }
        g.open = true;
        g.members = 0;
        Ok(())
    }

    /// Commits the open group, releases the gate and wakes its members.
    fn commit(&self, g: &mut MutexGuard<Group>) -> Result<()> {
        let result = match g.log.as_mut() {
            Some((log, _)) => log.commit(),
            None => Err(Error::Internal("audit group without a log".into())),
        };
        // Kept outcomes appended in this group: forgotten only once it is durable.
        let replayed = g.replay.take();
        match &result {
            Ok(()) => {
                if let Some(r) = replayed {
                    r.done();
                }
                self.commits.fetch_add(1, Ordering::Relaxed);
                if let Some((log, _)) = g.log.as_ref()
                    && let Some(head) = log.committed()
                {
                    self.see_committed(head);
                }
            }
            // The connection may be in any state after a failed commit: reopen it next time.
            Err(_) => g.log = None,
        }
        g.gate = None;
        g.open = false;
        // The caller is a member and reads the result itself.
        let others = g.members.saturating_sub(1);
        if let Err(e) = &result
            && others > 0
        {
            let epoch = g.epoch;
            g.failed.insert(epoch, (e.to_string(), others));
        }
        g.epoch += 1;
        self.committed.notify_all();
        result
    }
}

impl super::Store for FileStore {
    fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    fn describe(&self) -> String {
        self.settings.vault.display().to_string()
    }

    fn describe_log(&self) -> String {
        self.settings.audit_log().display().to_string()
    }

    fn look(&self, f: &mut dyn FnMut(&Vault) -> Result<()>) -> Result<()> {
        self.view(f)
    }

    fn look_unchecked(&self, f: &mut dyn FnMut(&Vault) -> Result<()>) -> Result<()> {
        f(&self.load_unchecked(&self.settings.vault)?)
    }

    fn in_group(&self, step: &mut dyn FnMut(&mut dyn Ledger) -> Result<()>) -> Result<()> {
        self.grouped(|log| step(log))
    }

    fn begin_change(&self) -> Result<Change> {
        let lock = WriteLock::acquire(&self.settings.lock_file(), self.settings.lock_timeout_ms)?;
        let vault = self.load_checked()?;
        Ok(Change {
            vault,
            _lock: Box::new(lock),
        })
    }

    fn finish_change(
        &self,
        change: Change,
        intent: &Record,
        warnings: &mut Vec<String>,
    ) -> std::result::Result<(), ChangeError> {
        let Change { mut vault, _lock } = change;
        let sealed = seal_next(&mut vault, &self.identity).map_err(ChangeError::NotStarted)?;
        self.write_vault(&mut vault, sealed, intent, warnings)
            .map_err(ChangeError::Failed)
    }

    fn reader(&self) -> Result<Box<dyn Ledger>> {
        Ok(Box::new(AuditLog::open_read_only(
            &self.settings.audit_log(),
        )?))
    }

    fn posts_index(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Box<dyn Ledger>, crate::audit::posts::PostIndex)> {
        let path = self.settings.audit_log();
        let log = AuditLog::open_read_only(&path)?;
        let index = crate::audit::posts::PostIndex::beside(&path, &log, progress)?;
        Ok((Box::new(log), index))
    }

    fn verify_log(
        &self,
        external: Option<&str>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<std::result::Result<Report, Failure>> {
        let vault = self.load_unchecked(&self.settings.vault)?;
        let vault_id = vault.id()?;
        let log = AuditLog::open_read_only(&self.settings.audit_log())?;
        let chain = crate::audit::rotation::chain(&vault, &log)?;
        drop(vault);
        let total = log.size()?;
        let result =
            crate::audit::verify_log_chain(&log, &chain, external, &mut |n| progress(n, total));
        Ok(
            result.and_then(|r| match self.seen_by_this_machine(&log, &vault_id) {
                Some(f) => Err(f),
                None => Ok(r),
            }),
        )
    }

    fn copy_log(&self, out: &Path) -> Result<()> {
        AuditLog::open_read_only(&self.settings.audit_log())?.copy_to(out)
    }

    fn keep_outcome(&self, record: &Record) -> Result<String> {
        let path = self.settings.pending_outcomes_file();
        let auth = self.view(super::journal::Auth::from_vault)?;
        super::journal::keep(&path, record, &auth)?;
        Ok(path.display().to_string())
    }

    fn outcomes_pending(&self) -> bool {
        super::journal::pending(&self.settings.pending_outcomes_file())
    }

    fn rejected_outcomes(&self) -> Vec<super::journal::RejectedLine> {
        super::journal::rejected(&self.settings.pending_outcomes_file())
    }

    fn claim_queue(&self) -> Result<Claim> {
        let lock = WriteLock::acquire(
            &self.settings.queue_lock_file(),
            self.settings.lock_timeout_ms,
        )?;
        Ok(Claim {
            _lock: Box::new(lock),
        })
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<BlobId> {
        let (id, recipients) =
            self.view(|v| Ok((BlobId(v.fingerprint(bytes)?), v.custodian_recipients()?)))?;
        let path = self.blob_path(&id)?;
        if path.exists() {
            return Ok(id);
        }
        let dir = self.blob_dir();
        crate::fsutil::create_private_dir(&dir)?;
        let sealed = crate::envelope::encrypt_to(&recipients, bytes)
            .map_err(|e| Error::Internal(format!("encryption failed: {e}")))?;
        let tmp = dir.join(format!(".{}.{}.tmp", id.0, crate::ids::random_hex(4)));
        let written = (|| {
            use std::io::Write;
            let mut f = crate::fsutil::create_new_private(&tmp)?;
            f.write_all(&sealed)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io("write", &path, e));
        }
        crate::fsutil::sync_parent(&path)?;
        Ok(id)
    }

    fn get_blob(&self, id: &BlobId) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let path = self.blob_path(id)?;
        let sealed = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::not_found("blob", id.0.clone()),
            _ => Error::io("read", &path, e),
        })?;
        let plain =
            crate::envelope::decrypt_with(self.identity.age_identity(), &sealed).map_err(|_| {
                Error::Corrupt {
                    path: path.clone(),
                    why: "the blob does not decrypt with this key".into(),
                }
            })?;
        // The name is a keyed hash of the content: a blob swapped for another is refused.
        if !self.view(|v| v.fingerprint_in_any_era(&plain, &id.0))? {
            return Err(Error::Corrupt {
                path,
                why: "the blob's content does not match its name".into(),
            });
        }
        Ok(plain)
    }

    fn restore_source(&self, from: Option<&Path>) -> Result<RestoreSource> {
        let lock = WriteLock::acquire(&self.settings.lock_file(), self.settings.lock_timeout_ms)?;
        let source = from.unwrap_or(&self.settings.vault);
        // A copy older than a key rotation takes the current keys from the log (sealed to
        // the custodians who remained), so that it signs where the log goes on.
        if let Ok(copy) = Vault::load(source, &self.identity)
            && let Ok(log) = AuditLog::open_read_only(&self.settings.audit_log())
            && crate::audit::rotation::adopt(&copy, &log, self.identity.age_identity())?.is_some()
        {
            let key = LogKey::from_vault(&copy)?;
            let id = copy.id()?;
            let mut known = pins::get(&self.settings.known_vaults, &self.settings.vault)
                .or_else(|| pins::get_id(&self.settings.known_vaults, &id));
            self.follow_rotations(known.as_mut(), &id, &key.verifier_key())?;
            pins::check_known(
                known,
                &self.settings.known_vaults,
                &self.settings.vault,
                &copy.id()?,
                &key.verifier_key(),
            )?;
            return self.restore_source_from(copy, lock);
        }
        let vault = self.load_unchecked(source)?;
        self.restore_source_from(vault, lock)
    }

    fn restore_refused(&self, source: &RestoreSource, record: &Record) {
        let _ = WriteLock::acquire(&self.settings.gate_file(), self.settings.lock_timeout_ms)
            .and_then(|_gate| {
                AuditLog::open_signing(
                    &self.settings.audit_log(),
                    LogKey::from_vault(&source.vault)?,
                )?
                .append(record)
            });
    }

    fn restore_install(
        &self,
        source: RestoreSource,
        intent: &Record,
        generation: u64,
        epoch: u64,
        warnings: &mut Vec<String>,
    ) -> Result<u64> {
        let settings = &self.settings;
        // The write lock taken by restore_source is held until the end.
        let RestoreSource {
            mut vault,
            _lock,
            log,
            live,
            ..
        } = source;
        // Nothing else holds the log or a second decrypted vault while it is written.
        drop((log, live));
        let key = LogKey::from_vault(&vault)?;
        // The log is appended to with the copy's key, directly: the group would refuse the
        // vault it is about to replace. Under the posting gate, like every audit commit.
        let mut log = AuditLog::open_signing(&settings.audit_log(), key)?;
        vault.relocate(&settings.vault);
        let sealed = vault.seal(&self.identity, generation, epoch)?;
        write_logged(
            settings,
            &self.identity,
            &mut vault,
            sealed,
            WriteMode::Replace,
            intent,
            &mut |records: &[Record], _| {
                let _gate = WriteLock::acquire(&settings.gate_file(), settings.lock_timeout_ms)?;
                log.append_batch(records).map(|_| ())
            },
            warnings,
        )?;
        // This machine follows the restored vault from here (other machines: on their next
        // command, from the new epoch in the log).
        let mut pin = Pin::new(vault.id()?, LogKey::from_vault(&vault)?.verifier_key());
        if let Some(p) = pins::get_id(&settings.known_vaults, &pin.vault_id) {
            pin.audit_keys = p.audit_keys;
        }
        pin.generation = generation;
        pin.epoch = epoch;
        pin.checkpoint = log.committed().map(|(size, root)| Seen {
            size,
            root: crate::ids::hex(&root),
        });
        pins::record(&settings.known_vaults, &settings.vault, &pin)?;
        {
            // What this process had seen is behind the restore now.
            let mut p = relock(self.pin.lock());
            p.seen = Some(pin.clone());
            p.written = Some(pin);
        }
        log.size()
    }

    fn notice(&self, text: String) {
        FileStore::notice(self, text)
    }

    fn take_notices(&self) -> Vec<String> {
        FileStore::take_notices(self)
    }
}

impl FileStore {
    fn restore_source_from(&self, vault: Vault, lock: WriteLock) -> Result<RestoreSource> {
        // The state in place, read as every other command reads it: when it is the latest,
        // it (not the copy) says who may restore.
        let live = match self.load_checked() {
            Ok(v) => super::Live::Current(v),
            Err(Error::NoVault(_)) => super::Live::Absent,
            Err(Error::Hinted { inner, .. }) if matches!(*inner, Error::NoVault(_)) => {
                super::Live::Absent
            }
            Err(e @ (Error::Io { .. } | Error::Locked { .. } | Error::Internal(_))) => {
                return Err(e);
            }
            Err(e) => super::Live::NotCurrent(e),
        };
        let key = LogKey::from_vault(&vault)?;
        let path = self.settings.audit_log();
        let (log, _) = AuditLog::check_belongs(&path, &key)?;
        // Anchoring a restore on a log that does not verify would bless whatever was done
        // to it.
        let chain = crate::audit::rotation::chain(&vault, &log)?;
        crate::audit::verify_log_chain(&log, &chain, None, &mut |_| {}).map_err(|f| {
            Error::Tampered {
                path: path.clone(),
                failure: f.to_string(),
            }
        })?;
        let vault_id = vault.id()?;
        let pin = pins::get_id(&self.settings.known_vaults, &vault_id);
        let log_extends_seen = self.seen_by_this_machine(&log, &vault_id).is_none();
        Ok(RestoreSource {
            log_extends_seen,
            writes: log.vault_write_entries()?,
            log_entries: log.size()?,
            seen_epoch: pin.as_ref().map_or(0, |p| p.epoch),
            seen_entries: pin
                .as_ref()
                .and_then(|p| p.checkpoint.as_ref())
                .map_or(0, |c| c.size),
            live,
            vault,
            log: Box::new(log),
            _lock: Box::new(lock),
        })
    }

    /// The largest checkpoint this machine has seen of this log, checked against it once
    /// the log is verified (its stored roots then agree with its entries).
    fn seen_by_this_machine(&self, log: &AuditLog, vault_id: &str) -> Option<Failure> {
        let pin = pins::get_id(&self.settings.known_vaults, vault_id)?;
        let seen = pin.checkpoint?;
        let failure = |reason: String| Some(Failure { seq: None, reason });
        match log.root_at(seen.size) {
            Ok(Some(root)) if crate::ids::hex(&root) == seen.root => None,
            Ok(Some(_)) => failure(format!(
                "the log does not extend the checkpoint this machine saw (size {}): its first {} entries were rewritten",
                seen.size, seen.size
            )),
            Ok(None) => failure(format!(
                "the log has {} entries, but this machine has seen {}: entries were cut off (or this is an older copy)",
                log.size().unwrap_or(0),
                seen.size
            )),
            Err(e) => failure(e.to_string()),
        }
    }

    /// Blobs live beside the vault, in `<vault>.blobs/`, as age files encrypted to the
    /// custodians, named by the keyed hash of their content.
    fn blob_dir(&self) -> std::path::PathBuf {
        let mut name = self.settings.vault.as_os_str().to_os_string();
        name.push(".blobs");
        name.into()
    }

    fn blob_path(&self, id: &BlobId) -> Result<std::path::PathBuf> {
        if id.0.len() != 64 || !id.0.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid("blob", "not a blob name"));
        }
        Ok(self.blob_dir().join(&id.0))
    }
}

/// What `smv init` made: the vault and the log's first signed checkpoint.
pub struct InitCreated {
    pub vault: Vault,
    pub warnings: Vec<String>,
    /// Where the vault and its log are, for people.
    pub vault_at: String,
    pub log_at: String,
}

/// See [`super::create`].
pub(crate) fn create(
    settings: &Settings,
    identity: &Identity,
    mut vault: Vault,
    intent: &Record,
) -> Result<InitCreated> {
    let vault_path = &settings.vault;
    if vault_path.exists() {
        return Err(Error::VaultExists(vault_path.clone()));
    }
    if let Some(dir) = vault_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fsutil::create_private_dir(dir)?;
    }
    let _lock = WriteLock::acquire(&settings.lock_file(), settings.lock_timeout_ms)?;
    let audit_path = settings.audit_log();
    let mut log = AuditLog::create(&audit_path, LogKey::from_vault(&vault)?)?;
    vault.relocate(vault_path);
    let mut warnings = Vec::new();
    let result = vault.seal(identity, 1, 0).and_then(|sealed| {
        write_logged(
            settings,
            identity,
            &mut vault,
            sealed,
            WriteMode::CreateNew,
            intent,
            &mut |records, _| log.append_batch(records).map(|_| ()),
            &mut warnings,
        )
    });
    if let Err(e) = result {
        // Nothing refers to a log whose vault was never written; leave the directory as it was.
        drop(log);
        for ext in ["", "-wal", "-shm"] {
            let mut p = audit_path.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    // This machine made the vault: remember it, and how far it and its log have come.
    let _ = pins::migrate_legacy(&settings.known_vaults, &settings.legacy_known_vaults);
    let mut pin = Pin::new(vault.id()?, LogKey::from_vault(&vault)?.verifier_key());
    pin.generation = vault.generation()?.unwrap_or(0);
    pin.checkpoint = log.committed().map(|(size, root)| Seen {
        size,
        root: crate::ids::hex(&root),
    });
    pins::record(&settings.known_vaults, vault_path, &pin)?;
    Ok(InitCreated {
        vault,
        warnings,
        vault_at: vault_path.display().to_string(),
        log_at: audit_path.display().to_string(),
    })
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // A first pin not recorded yet (a command that appended nothing): recorded now.
        if relock(self.first_pin.lock()).is_some() {
            let _ = self.grouped(|_| Ok(()));
        }
        // The log is closed first (its last checkpoint and fsyncs), then the pin written:
        // the pin records what the log holds durably, and its rename is not made part of
        // the log's fsyncs (on ext4 an fsync commits every pending metadata change, which
        // cost each command ~0.3 ms).
        drop(relock(self.group.lock()).log.take());
        let mut p = relock(self.pin.lock());
        self.flush_pin(&mut p);
    }
}

/// Seals `vault` as its next generation (see [`Vault::seal`]); nothing is written yet.
pub(crate) fn seal_next(vault: &mut Vault, writer: &Identity) -> Result<Sealed> {
    let (generation, epoch) = (vault.next_generation()?, vault.epoch()?);
    vault.seal(writer, generation, epoch)
}

/// The file a sealed vault will be, as the log records it.
pub(crate) fn recorded(sealed: &Sealed) -> VaultFile {
    VaultFile {
        generation: sealed.generation,
        epoch: sealed.epoch,
        sha256: sealed.sha256.clone(),
    }
}

/// The outcome entry of `intent`'s change.
pub(crate) fn outcome_of(intent: &Record, outcome: Outcome, reason: Option<String>) -> Record {
    Record {
        outcome,
        reason,
        details: serde_json::Map::new(),
        ..intent.clone()
    }
}

/// Commits records durably; given the vault about to be written with a change's intent
/// (which may have rotated its keys: audit::rotation::append_change), None with outcomes.
pub(crate) type AppendChange<'a> = dyn FnMut(&[Record], Option<&Vault>) -> Result<()> + 'a;

/// See [`Store::write_vault`]; `append` commits records durably (for `smv init`, straight
/// to the new log).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_logged(
    settings: &Settings,
    writer: &Identity,
    vault: &mut Vault,
    sealed: Sealed,
    mode: WriteMode,
    intent: &Record,
    append: &mut AppendChange,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let file = recorded(&sealed);
    // Fail closed: no intent on disk, no change. A change that rotated the vault's keys
    // records the rotation with its intent (audit::rotation::append_change), before the file
    // that signs with the new key is written.
    append(
        &[intent.clone(), file.record(intent, Outcome::Intent, None)],
        Some(vault),
    )?;
    crate::failpoint::hit("after-intent")?;
    // Under the posting gate: a post authorized after this returns sees this change.
    let saved = WriteLock::acquire(&settings.gate_file(), settings.lock_timeout_ms)
        .and_then(|_gate| vault.install(sealed, writer, mode));
    if saved.is_ok() {
        crate::failpoint::hit("after-save")?;
    }
    let (outcome, reason) = match &saved {
        Ok(()) => (Outcome::Ok, None),
        Err(e) => (Outcome::Failed, Some(e.to_string())),
    };
    let records = [
        outcome_of(intent, outcome, reason.clone()),
        file.record(intent, outcome, reason),
    ];
    if let Err(e) = append(&records, None) {
        // The change is made (or not) either way; the intent entry already names it and
        // `smv audit verify` reports it as incomplete.
        warnings.push(format!(
            "the outcome of this action could not be logged: {e}"
        ));
    }
    saved
}

/// A lock whose holder panicked is still usable: what it protects is checked on every use
/// (the vault is reloaded if stale, an open audit group is rolled back on a panic).
fn relock<T>(r: std::sync::LockResult<T>) -> T {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Channel, Outcome};
    use crate::identity::NoPrompt;
    use crate::ops::{Ctx, InitOptions};
    use crate::settings::{Env, Overrides};

    fn setup() -> (tempfile::TempDir, Arc<Settings>, Arc<Identity>) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().display().to_string();
        let env = Env::from_pairs([("HOME", home.as_str()), ("SMV_KEYRING", "0")]);
        let settings = Settings::resolve(&Overrides::default(), env).unwrap();
        let opts = InitOptions {
            admin: "alice".into(),
            passphrase: None,
        };
        crate::ops::init(&settings, opts, &NoPrompt).unwrap();
        let identity = crate::identity::resolve(&settings, &NoPrompt).unwrap();
        (dir, Arc::new(settings), Arc::new(identity))
    }

    fn record(n: usize) -> Record {
        Record {
            actor: "alice".into(),
            channel: Channel::Local,
            action: "test".into(),
            target: format!("n:{n}"),
            outcome: Outcome::Ok,
            reason: None,
            request_id: format!("r{n}"),
            details: serde_json::Map::new(),
        }
    }

    #[test]
    fn concurrent_appends_share_commits_and_the_log_verifies() {
        let (_dir, settings, identity) = setup();
        let store = Arc::new(FileStore::new(settings.clone(), identity));
        let before = AuditLog::open_read_only(&settings.audit_log())
            .unwrap()
            .size()
            .unwrap();
        let (threads, each) = (16, 25);
        let seqs: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let store = store.clone();
                    s.spawn(move || {
                        (0..each)
                            .map(|i| store.append(&record(t * each + i)).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let n = (threads * each) as u64;
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        // Every append got its own place, and every one is on disk.
        assert_eq!(sorted, (before + 1..=before + n).collect::<Vec<_>>());
        let log = AuditLog::open_read_only(&settings.audit_log()).unwrap();
        assert_eq!(log.size().unwrap(), before + n);
        let verifier = store.view(LogKey::from_vault).unwrap().verifier().unwrap();
        let report = crate::audit::verify_log(&log, &verifier, None, &mut |_| {});
        assert!(report.is_ok(), "{report:?}");
    }

    #[test]
    fn appends_waiting_while_a_group_is_open_join_it_and_share_one_commit() {
        let (_dir, settings, identity) = setup();
        let store = Arc::new(FileStore::new(settings.clone(), identity));
        let before = store.commits();
        let joiners = 3;
        std::thread::scope(|s| {
            let (opened, is_open) = std::sync::mpsc::channel();
            let held = &store;
            let first = s.spawn(move || {
                held.grouped(|log| {
                    let seq = log.append(&record(0))?;
                    opened.send(()).unwrap();
                    // Hold the group open until every joiner is waiting to enter it.
                    while held.waiting.load(Ordering::SeqCst) < joiners {
                        std::thread::yield_now();
                    }
                    Ok(seq)
                })
            });
            is_open.recv().unwrap();
            let others: Vec<_> = (1..=joiners)
                .map(|i| {
                    let store = &store;
                    s.spawn(move || store.append(&record(i)))
                })
                .collect();
            first.join().unwrap().unwrap();
            for o in others {
                o.join().unwrap().unwrap();
            }
        });
        // Four appends, one commit: the last to join committed for all.
        assert_eq!(store.commits() - before, 1);
        let log = AuditLog::open_read_only(&settings.audit_log()).unwrap();
        let targets: Vec<String> = log
            .entries(&crate::audit::Filter::default())
            .unwrap()
            .into_iter()
            .map(|e| e.target)
            .filter(|t| t.starts_with("n:"))
            .collect();
        assert_eq!(targets.len(), 4);
    }

    #[test]
    fn an_open_group_is_seen_by_its_own_reads_and_a_rollback_keeps_nothing() {
        let (_dir, settings, identity) = setup();
        let key = FileStore::new(settings.clone(), identity.clone())
            .load_checked()
            .and_then(|v| LogKey::from_vault(&v))
            .unwrap();
        let mut log = AuditLog::open_signing(&settings.audit_log(), key).unwrap();
        let size = log.size().unwrap();
        log.begin().unwrap();
        log.append(&record(1)).unwrap();
        // The rate guard counts the intents admitted before it in the same group.
        assert_eq!(
            log.count_since("n:1", "test", Outcome::Ok, "2000-01-01T00:00:00Z")
                .unwrap(),
            1
        );
        log.rollback();
        assert_eq!(log.size().unwrap(), size);
        log.begin().unwrap();
        let seqs = log.append_batch(&[record(2), record(3)]).unwrap();
        assert_eq!(seqs, [size + 1, size + 2]);
        log.commit().unwrap();
        let other = AuditLog::open_read_only(&settings.audit_log()).unwrap();
        assert_eq!(other.size().unwrap(), size + 2);
    }

    #[test]
    fn a_step_that_panics_keeps_nothing_and_the_store_goes_on() {
        let (_dir, settings, identity) = setup();
        let store = FileStore::new(settings.clone(), identity);
        let size = || {
            AuditLog::open_read_only(&settings.audit_log())
                .unwrap()
                .size()
                .unwrap()
        };
        let before = size();
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.grouped(|log| -> Result<()> {
                log.append(&record(1))?;
                panic!("a step that fails half-way");
            })
        }));
        assert!(crashed.is_err());
        assert_eq!(size(), before, "the half-written group was kept");
        store.append(&record(2)).unwrap();
        assert_eq!(size(), before + 1);
        let log = AuditLog::open_read_only(&settings.audit_log()).unwrap();
        let verifier = store.view(LogKey::from_vault).unwrap().verifier().unwrap();
        assert!(crate::audit::verify_log(&log, &verifier, None, &mut |_| {}).is_ok());
    }

    #[test]
    fn a_vault_saved_by_another_process_is_read_again() {
        let (_dir, settings, identity) = setup();
        let store = Arc::new(FileStore::new(settings.clone(), identity.clone()));
        let members = |store: &FileStore| store.view(|v| Ok(v.members()?.len())).unwrap();
        assert_eq!(members(&store), 1);
        // Another Ctx (as another process would) changes the vault file.
        let second: Arc<dyn crate::store::Store> =
            Arc::new(FileStore::new(settings.clone(), identity));
        let mut other = Ctx::acting(settings, second, crate::ops::Principal::Key, "r".into());
        crate::ops::member_add(&mut other, "bob", crate::access::Role::Member, None).unwrap();
        assert_eq!(members(&store), 2);
    }

    #[test]
    fn an_older_copy_put_in_place_of_a_served_vault_is_refused() {
        let (_dir, settings, identity) = setup();
        let store = Arc::new(FileStore::new(settings.clone(), identity.clone()));
        let members = |store: &FileStore| store.view(|v| Ok(v.members()?.len()));
        assert_eq!(members(&store).unwrap(), 1);
        let old = std::fs::read(&settings.vault).unwrap();
        let second: Arc<dyn crate::store::Store> =
            Arc::new(FileStore::new(settings.clone(), identity));
        let mut other = Ctx::acting(
            settings.clone(),
            second,
            crate::ops::Principal::Key,
            "r".into(),
        );
        crate::ops::member_add(&mut other, "bob", crate::access::Role::Member, None).unwrap();
        assert_eq!(members(&store).unwrap(), 2);
        // The file the server reads again is the old one: refused, and nothing appended.
        std::fs::write(&settings.vault, old).unwrap();
        let size = AuditLog::open_read_only(&settings.audit_log())
            .unwrap()
            .size()
            .unwrap();
        assert!(matches!(members(&store), Err(Error::Stale { .. })));
        assert!(store.append(&record(1)).is_err());
        assert_eq!(
            AuditLog::open_read_only(&settings.audit_log())
                .unwrap()
                .size()
                .unwrap(),
            size
        );
    }

    #[test]
    fn what_a_store_commits_moves_this_machines_pin_when_it_is_dropped() {
        let (_dir, settings, identity) = setup();
        let pinned = || {
            pins::get(&settings.known_vaults, &settings.vault)
                .and_then(|p| p.checkpoint)
                .map(|c| c.size)
                .unwrap_or(0)
        };
        let before = pinned();
        let store = FileStore::new(settings.clone(), identity);
        store.append(&record(1)).unwrap();
        store.append(&record(2)).unwrap();
        assert_eq!(pinned(), before, "written once, when the store ends");
        drop(store);
        let size = AuditLog::open_read_only(&settings.audit_log())
            .unwrap()
            .size()
            .unwrap();
        assert_eq!(pinned(), size);
    }
}
