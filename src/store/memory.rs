//! A store in memory: the state as a [`Vault`] and the log as an [`AuditLog`] held in this
//! process, no file, no encryption, no pins.
//!
//! It exists to keep the boundary honest: `ops`' unit tests run on it, and property tests run
//! the same operation sequences on it and on the file store and compare what they leave. An
//! operation that works on one and not the other reaches past [`Store`].
//!
//! It keeps the same promises where they are not about files: the write lock (one change at a
//! time), intents before effects, every state change recorded as a `vault.write` (with the
//! generation and the SHA-256 of the plaintext image), group semantics (a step's entries are
//! kept even when it fails; a step that panics keeps nothing).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::{BlobId, Change, ChangeError, Claim, RestoreSource, Store};
use crate::audit::{AuditLog, Failure, Ledger, LogKey, Outcome, Record, Report, VaultFile};
use crate::identity::Identity;
use crate::vault::Vault;
use crate::{Error, Result, ids};

pub struct MemoryStore {
    identity: Arc<Identity>,
    vault: Mutex<Vault>,
    log: Mutex<AuditLog>,
    write: Arc<Flag>,
    queue: Arc<Flag>,
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    notices: Mutex<Vec<String>>,
    /// Post outcomes that could not be appended: the next group appends them first.
    kept: Mutex<Vec<Record>>,
}

/// A lock that a value can hold and release when dropped (what a file lock is to the file
/// store).
#[derive(Default)]
struct Flag {
    held: Mutex<bool>,
    freed: Condvar,
}

struct Held(Arc<Flag>);

impl Flag {
    fn take(self: &Arc<Flag>) -> Held {
        let mut held = relock(self.held.lock());
        while *held {
            held = relock(self.freed.wait(held));
        }
        *held = true;
        Held(self.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        *relock(self.0.held.lock()) = false;
        self.0.freed.notify_one();
    }
}

fn relock<T>(r: std::sync::LockResult<T>) -> T {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStore {
    /// A new store holding `vault` (its first admin inserted), whose creation `intent`
    /// records, as `smv init` makes a file store.
    pub fn create(
        identity: Arc<Identity>,
        mut vault: Vault,
        intent: &Record,
    ) -> Result<MemoryStore> {
        let log = AuditLog::in_memory(LogKey::from_vault(&vault)?)?;
        let file = written(&mut vault, 1, 0)?;
        let store = MemoryStore {
            identity,
            vault: Mutex::new(copy(&mut vault)?),
            log: Mutex::new(log),
            write: Arc::default(),
            queue: Arc::default(),
            blobs: Mutex::default(),
            notices: Mutex::default(),
            kept: Mutex::default(),
        };
        let mut log = relock(store.log.lock());
        log.append_batch(&[intent.clone(), file.record(intent, Outcome::Intent, None)])?;
        log.append_batch(&[
            outcome_of(intent, Outcome::Ok),
            file.record(intent, Outcome::Ok, None),
        ])?;
        drop(log);
        Ok(store)
    }
}

/// Sets the copy's generation and names it as the log records it.
fn written(vault: &mut Vault, generation: u64, epoch: u64) -> Result<VaultFile> {
    vault.set_written_as(generation, epoch)?;
    let image = vault.plain_image()?;
    use sha2::Digest;
    Ok(VaultFile {
        generation,
        epoch,
        sha256: ids::hex(&sha2::Sha256::digest(&image[..])),
    })
}

/// A private copy of a vault.
fn copy(vault: &mut Vault) -> Result<Vault> {
    let image = vault.plain_image()?;
    Vault::from_plain_image(Path::new(":memory:"), &image)
}

fn outcome_of(intent: &Record, outcome: Outcome) -> Record {
    Record {
        outcome,
        reason: None,
        details: serde_json::Map::new(),
        ..intent.clone()
    }
}

fn unsupported(what: &str) -> Error {
    Error::Conflict(
        format!("the in-memory store has no {what}"),
        Some("use the file store".into()),
    )
}

impl Store for MemoryStore {
    fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    fn describe(&self) -> String {
        "held in memory".into()
    }

    fn describe_log(&self) -> String {
        "the audit log held in memory".into()
    }

    fn look(&self, f: &mut dyn FnMut(&Vault) -> Result<()>) -> Result<()> {
        let vault = relock(self.vault.lock());
        f(&vault)
    }

    fn look_unchecked(&self, f: &mut dyn FnMut(&Vault) -> Result<()>) -> Result<()> {
        self.look(f)
    }

    fn in_group(&self, step: &mut dyn FnMut(&mut dyn Ledger) -> Result<()>) -> Result<()> {
        let mut log = relock(self.log.lock());
        log.begin()?;
        // Outcomes kept for a later commit go in first, as the file store's journal does.
        let kept = std::mem::take(&mut *relock(self.kept.lock()));
        if !kept.is_empty() {
            let late: Vec<Record> = kept
                .iter()
                .cloned()
                .map(|mut r| {
                    r.details.insert("recorded_late".into(), true.into());
                    r
                })
                .collect();
            if let Err(e) = log.append_batch(&late) {
                log.rollback();
                *relock(self.kept.lock()) = kept;
                return Err(e);
            }
        }
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(&mut *log)));
        match ran {
            Ok(ran) => {
                // The step's own entries are kept even when it fails (a refusal's record).
                let committed = log.commit();
                if committed.is_err() {
                    relock(self.kept.lock()).extend(kept);
                }
                ran.and(committed)
            }
            Err(panic) => {
                log.rollback();
                relock(self.kept.lock()).extend(kept);
                drop(log);
                std::panic::resume_unwind(panic)
            }
        }
    }

    fn begin_change(&self) -> Result<Change> {
        let held = self.write.take();
        let vault = {
            let mut current = relock(self.vault.lock());
            copy(&mut current)?
        };
        Ok(Change {
            vault,
            _lock: Box::new(held),
        })
    }

    fn finish_change(
        &self,
        change: Change,
        intent: &Record,
        warnings: &mut Vec<String>,
    ) -> std::result::Result<(), ChangeError> {
        let Change { mut vault, _lock } = change;
        let generation = {
            let log = relock(self.log.lock());
            log.vault_writes()
                .map_err(ChangeError::NotStarted)?
                .max_generation
                + 1
        };
        let epoch = vault.epoch().map_err(ChangeError::NotStarted)?;
        let file = written(&mut vault, generation, epoch).map_err(ChangeError::NotStarted)?;
        self.in_group(&mut |log| {
            crate::audit::rotation::append_change(
                log,
                &[intent.clone(), file.record(intent, Outcome::Intent, None)],
                &vault,
            )
        })
        .map_err(ChangeError::NotStarted)?;
        *relock(self.vault.lock()) = vault;
        let outcomes = [
            outcome_of(intent, Outcome::Ok),
            file.record(intent, Outcome::Ok, None),
        ];
        if let Err(e) = self.in_group(&mut |log| log.append_batch(&outcomes).map(|_| ())) {
            warnings.push(format!(
                "the outcome of this action could not be logged: {e}"
            ));
        }
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Ledger>> {
        // A snapshot: long reads do not hold the log.
        Ok(Box::new(relock(self.log.lock()).snapshot()?))
    }

    fn posts_index(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Box<dyn Ledger>, crate::audit::posts::PostIndex)> {
        let log = relock(self.log.lock()).snapshot()?;
        let mut index = crate::audit::posts::PostIndex::in_memory()?;
        index.catch_up(&log, progress)?;
        Ok((Box::new(log), index))
    }

    fn verify_log(
        &self,
        external: Option<&str>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<std::result::Result<Report, Failure>> {
        let log = relock(self.log.lock());
        let chain = {
            let vault = relock(self.vault.lock());
            crate::audit::rotation::chain(&vault, &*log)?
        };
        let total = log.size()?;
        Ok(crate::audit::verify_log_chain(
            &*log,
            &chain,
            external,
            &mut |n| progress(n, total),
        ))
    }

    fn copy_log(&self, out: &Path) -> Result<()> {
        relock(self.log.lock()).copy_to(out)
    }

    fn keep_outcome(&self, record: &Record) -> Result<String> {
        relock(self.kept.lock()).push(record.clone());
        Ok("memory".into())
    }

    fn outcomes_pending(&self) -> bool {
        !relock(self.kept.lock()).is_empty()
    }

    fn claim_queue(&self) -> Result<Claim> {
        Ok(Claim {
            _lock: Box::new(self.queue.take()),
        })
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<BlobId> {
        let id = {
            let vault = relock(self.vault.lock());
            BlobId(vault.fingerprint(bytes)?)
        };
        relock(self.blobs.lock())
            .entry(id.0.clone())
            .or_insert_with(|| bytes.to_vec());
        Ok(id)
    }

    fn get_blob(&self, id: &BlobId) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        relock(self.blobs.lock())
            .get(&id.0)
            .map(|b| zeroize::Zeroizing::new(b.clone()))
            .ok_or_else(|| Error::not_found("blob", id.0.clone()))
    }

    fn restore_source(&self, _from: Option<&Path>) -> Result<RestoreSource> {
        Err(unsupported("backups to restore"))
    }

    fn restore_refused(&self, _source: &RestoreSource, _record: &Record) {}

    fn restore_install(
        &self,
        _source: RestoreSource,
        _intent: &Record,
        _generation: u64,
        _epoch: u64,
        _warnings: &mut Vec<String>,
    ) -> Result<u64> {
        Err(unsupported("backups to restore"))
    }

    fn notice(&self, text: String) {
        relock(self.notices.lock()).push(text);
    }

    fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *relock(self.notices.lock()))
    }
}
