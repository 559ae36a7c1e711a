//! What the log records of the vault's writes, so that an old copy of the vault is told apart
//! from the latest one.
//!
//! Every write of the vault appends, in the same commit as the change's own intent, a
//! `vault.write` intent (target `vault`) naming the new file: its generation, restore epoch
//! and the SHA-256 of its bytes. After the file is replaced, a `vault.write` `ok` (or `failed`)
//! follows with the same request id. Reading these back newest first until the latest `ok`
//! gives the file the log says is current, and the files that may be current because their
//! write was interrupted (an intent without an outcome: the rename may or may not have
//! happened). Any other file at the vault's path is not the vault the log knows.

use serde_json::{Map, Value};

use super::entry::{Entry, Outcome, Record};

/// The action and target of the entries that record vault writes.
pub const ACTION: &str = "vault.write";
pub const TARGET: &str = "vault";

/// One vault file as the log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultFile {
    pub generation: u64,
    pub epoch: u64,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
}

impl VaultFile {
    fn from_details(details: &Map<String, Value>) -> Option<VaultFile> {
        Some(VaultFile {
            generation: details.get("generation")?.as_u64()?,
            epoch: details.get("epoch")?.as_u64()?,
            sha256: details.get("sha256")?.as_str()?.to_string(),
        })
    }

    /// The record of this write: `cause` is the entry of the change that makes it (its actor,
    /// channel and request id are this record's too).
    pub fn record(&self, cause: &Record, outcome: Outcome, reason: Option<String>) -> Record {
        let mut details = Map::new();
        details.insert("generation".into(), self.generation.into());
        details.insert("epoch".into(), self.epoch.into());
        details.insert("sha256".into(), self.sha256.clone().into());
        details.insert("for_action".into(), cause.action.clone().into());
        details.insert("for_target".into(), cause.target.clone().into());
        Record {
            actor: cause.actor.clone(),
            channel: cause.channel.clone(),
            action: ACTION.into(),
            target: TARGET.into(),
            outcome,
            reason,
            request_id: cause.request_id.clone(),
            details,
        }
    }
}

/// What the log says of the vault file now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultWrites {
    /// The latest write the log says happened (with its entry's sequence number).
    pub confirmed: Option<(u64, VaultFile)>,
    /// Writes recorded after it as intended, with no outcome: interrupted, so the file may be
    /// one of these.
    pub pending: Vec<VaultFile>,
    /// The highest generation among these.
    pub max_generation: u64,
}

impl VaultWrites {
    /// Whether the log records any write at all.
    pub fn is_empty(&self) -> bool {
        self.confirmed.is_none() && self.pending.is_empty()
    }

    /// Whether `file` is the vault the log says is current (or may be, after an interrupted
    /// write).
    pub fn admits(&self, file: &VaultFile) -> bool {
        self.confirmed.as_ref().is_some_and(|(_, c)| c == file) || self.pending.contains(file)
    }

    /// The generation the log says is current.
    pub fn confirmed_generation(&self) -> Option<u64> {
        self.confirmed.as_ref().map(|(_, c)| c.generation)
    }
}

/// Reads `vault.write` entries newest first (see [`super::AuditLog::vault_writes`]).
#[derive(Default)]
pub(super) struct Walk {
    /// Request ids whose write failed: their intents name files that were never in place.
    failed: Vec<String>,
    out: VaultWrites,
}

impl Walk {
    /// Takes the next older entry; true once the latest completed write is found.
    pub fn push(&mut self, entry: &Entry) -> bool {
        if entry.action != ACTION {
            return false;
        }
        let Some(file) = VaultFile::from_details(&entry.details) else {
            return false;
        };
        self.out.max_generation = self.out.max_generation.max(file.generation);
        match entry.outcome {
            Outcome::Ok => {
                self.out.confirmed = Some((entry.seq, file));
                true
            }
            // (A vault write never ends `unknown`: only network sends do.)
            Outcome::Failed | Outcome::Denied | Outcome::Unknown => {
                self.failed.push(entry.request_id.clone());
                false
            }
            Outcome::Intent => {
                if !self.failed.contains(&entry.request_id) {
                    self.out.pending.push(file);
                }
                false
            }
        }
    }

    pub fn finish(self) -> VaultWrites {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Channel;

    fn file(generation: u64) -> VaultFile {
        VaultFile {
            generation,
            epoch: 0,
            sha256: format!("h{generation}"),
        }
    }

    fn entry(seq: u64, request: &str, outcome: Outcome, f: &VaultFile) -> Entry {
        let cause = Record {
            actor: "alice".into(),
            channel: Channel::Local,
            action: "grant".into(),
            target: "member:bob".into(),
            outcome: Outcome::Intent,
            reason: None,
            request_id: request.into(),
            details: Map::new(),
        };
        Entry::from_record(seq, "t".into(), &f.record(&cause, outcome, None))
    }

    fn walk(newest_first: &[Entry]) -> VaultWrites {
        let mut w = Walk::default();
        for e in newest_first {
            if w.push(e) {
                break;
            }
        }
        w.finish()
    }

    #[test]
    fn the_latest_completed_write_is_current_and_interrupted_ones_may_be() {
        let (g1, g2, g3) = (file(1), file(2), file(3));
        let log = [
            // newest first: 3 intended, never finished; 2 failed; 1 done.
            entry(6, "r3", Outcome::Intent, &g3),
            entry(5, "r2", Outcome::Failed, &g2),
            entry(4, "r2", Outcome::Intent, &g2),
            entry(3, "r1", Outcome::Ok, &g1),
            entry(2, "r1", Outcome::Intent, &g1),
        ];
        let w = walk(&log);
        assert_eq!(w.confirmed, Some((3, g1.clone())));
        assert_eq!(w.pending, vec![g3.clone()]);
        assert_eq!(w.max_generation, 3);
        assert!(w.admits(&g1) && w.admits(&g3));
        assert!(!w.admits(&g2), "a failed write never put its file in place");
        assert!(!w.admits(&file(0)));
        // Same generation, other bytes: not the file the log names.
        assert!(!w.admits(&VaultFile {
            sha256: "other".into(),
            ..g1
        }));
    }

    #[test]
    fn an_empty_log_records_nothing() {
        let w = walk(&[]);
        assert!(w.is_empty());
        assert!(!w.admits(&file(1)));
    }
}
