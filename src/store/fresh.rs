//! Freshness: is the vault on disk the latest one, and is its audit log as long as it was?
//!
//! age and the signed checkpoints prove that the files are authentic, not that they are
//! current: a copy of last month's vault opens with last month's custodians, and brings back
//! whoever was offboarded since. Three witnesses keep each other honest:
//! - **the log** records every vault write (its generation and the SHA-256 of its bytes,
//!   `audit::saves`), so a vault older than its log is refused;
//! - **the vault** carries its generation, so a log cut back to before the vault's last
//!   write (or emptied) is refused;
//! - **this machine's pin** (`vault::pins`) remembers the largest checkpoint of the log and
//!   the highest generation it has seen, so the vault and the log restored together, or the
//!   log cut back between two vault writes, are refused too.
//!
//! A deliberate restore is `smv restore` (`ops::restore`): an admin's audited act that writes
//! the vault with a new restore epoch, which every machine's pin then follows.
//!
//! [`check`] is a pure function of what was read, table-tested below.

use crate::audit::merkle::Hash;
use crate::audit::{VaultFile, VaultWrites};
use crate::ids;
use crate::vault::pins::{Pin, Seen};

/// Why a vault or its log is refused as out of date. Each names the file that is behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// The vault is an older copy than the latest its log records.
    VaultOlderThanLog { vault: Option<u64>, log: u64 },
    /// The log records no write of this vault's generation or later: it was cut back,
    /// emptied, or replaced by an older copy.
    LogOlderThanVault { vault: u64, log: Option<u64> },
    /// The log records this generation with other bytes: the file was replaced.
    NotTheRecordedFile { generation: u64 },
    /// This machine saw a later generation of the vault.
    VaultOlderThanPin { vault: Option<u64>, seen: u64 },
    /// This machine saw a later restore (epoch) of the vault.
    EpochOlderThanPin { vault: u64, seen: u64 },
    /// The log has fewer entries than this machine saw.
    LogShorterThanPin { log: u64, seen: u64 },
    /// The log's tree at the size this machine saw has another root: history was rewritten.
    LogRewritten { size: u64 },
}

impl Rollback {
    /// Whether the audit log (rather than the vault) is the file that is behind.
    pub fn log_is_behind(&self) -> bool {
        matches!(
            self,
            Rollback::LogOlderThanVault { .. }
                | Rollback::LogShorterThanPin { .. }
                | Rollback::LogRewritten { .. }
        )
    }
}

fn generation(g: Option<u64>) -> String {
    g.map_or(
        "none recorded (written before smv kept generations)".into(),
        |g| g.to_string(),
    )
}

impl std::fmt::Display for Rollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rollback::VaultOlderThanLog { vault, log } => write!(
                f,
                "the vault is an older copy than its audit log records (vault generation {}, the log's latest is {log}); it may bring back members, keys and tokens removed since",
                generation(*vault)
            ),
            Rollback::LogOlderThanVault { vault, log } => write!(
                f,
                "the audit log does not record this vault's generation {vault} (the latest it records is {}): the log was cut back, emptied or replaced by an older copy",
                generation(*log)
            ),
            Rollback::NotTheRecordedFile { generation } => write!(
                f,
                "the vault file is not the one its audit log records for generation {generation}: it was replaced"
            ),
            Rollback::VaultOlderThanPin { vault, seen } => write!(
                f,
                "this machine has seen generation {seen} of the vault, and this copy is generation {}: it is an older copy",
                generation(*vault)
            ),
            Rollback::EpochOlderThanPin { vault, seen } => write!(
                f,
                "this machine has seen the vault after restore {seen}, and this copy is from before it (restore {vault})"
            ),
            Rollback::LogShorterThanPin { log, seen } => write!(
                f,
                "the audit log has {log} entries, but this machine has seen {seen}: entries were cut off, or the log was replaced by an older copy"
            ),
            Rollback::LogRewritten { size } => write!(
                f,
                "the audit log's first {size} entries are not the ones this machine saw: its history was rewritten"
            ),
        }
    }
}

/// What was read: the vault file, its log, and this machine's pin.
pub struct Observed<'a> {
    pub vault: &'a VaultFileState,
    pub writes: &'a VaultWrites,
    /// The log's latest signed checkpoint (None: the log is empty).
    pub head: Option<(u64, Hash)>,
    pub pin: Option<&'a Pin>,
    /// The log's root after entry `pin.checkpoint.size` (None if it has no such entry).
    pub root_at_pin: Option<Hash>,
}

/// The vault as read: its generation (None before smv kept them), epoch and file hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultFileState {
    pub generation: Option<u64>,
    pub epoch: u64,
    pub sha256: String,
}

impl VaultFileState {
    fn as_recorded(&self) -> Option<VaultFile> {
        Some(VaultFile {
            generation: self.generation?,
            epoch: self.epoch,
            sha256: self.sha256.clone(),
        })
    }
}

/// The vault and log are current: what this machine now knows of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// The pin to advance to (see [`Pin::advance`]).
    pub seen: Pin,
    /// The vault was restored (a later epoch than this machine had seen).
    pub restored: bool,
}

/// Decides whether the vault and its log are the latest, and what to pin.
pub fn check(o: &Observed, vault_id: &str, audit_key: &str) -> Result<Fresh, Rollback> {
    let v = o.vault;
    // 1. The vault against its log.
    if o.writes.is_empty() {
        if let Some(g) = v.generation {
            return Err(Rollback::LogOlderThanVault {
                vault: g,
                log: None,
            });
        }
        // A vault and log from before smv recorded writes: the next write starts the record.
    } else {
        let recorded = v.as_recorded();
        if !recorded.as_ref().is_some_and(|r| o.writes.admits(r)) {
            let latest = o.writes.confirmed_generation().unwrap_or(0);
            return Err(match v.generation {
                None => Rollback::VaultOlderThanLog {
                    vault: None,
                    log: o.writes.max_generation,
                },
                Some(g) if g < latest => Rollback::VaultOlderThanLog {
                    vault: Some(g),
                    log: latest,
                },
                Some(g) if g > o.writes.max_generation => Rollback::LogOlderThanVault {
                    vault: g,
                    log: Some(o.writes.max_generation),
                },
                Some(g) => Rollback::NotTheRecordedFile { generation: g },
            });
        }
    }
    // 2. Both against what this machine saw.
    let mut restored = false;
    if let Some(pin) = o.pin {
        if v.epoch < pin.epoch {
            return Err(Rollback::EpochOlderThanPin {
                vault: v.epoch,
                seen: pin.epoch,
            });
        }
        if v.epoch > pin.epoch {
            // A restore the log records (step 1 found this epoch's file in it): follow it.
            restored = true;
        } else {
            if v.generation.unwrap_or(0) < pin.generation {
                return Err(Rollback::VaultOlderThanPin {
                    vault: v.generation,
                    seen: pin.generation,
                });
            }
            if let Some(seen) = &pin.checkpoint {
                let size = o.head.as_ref().map_or(0, |(s, _)| *s);
                if size < seen.size {
                    return Err(Rollback::LogShorterThanPin {
                        log: size,
                        seen: seen.size,
                    });
                }
                if o.root_at_pin.map(|r| ids::hex(&r)).as_deref() != Some(seen.root.as_str()) {
                    return Err(Rollback::LogRewritten { size: seen.size });
                }
            }
        }
    }
    let mut seen = match o.pin {
        Some(p) => p.clone(),
        None => Pin::new(vault_id.to_string(), audit_key.to_string()),
    };
    let now = Pin {
        vault_id: vault_id.to_string(),
        audit_keys: seen.audit_keys.clone(),
        checkpoint: o.head.as_ref().map(|(size, root)| Seen {
            size: *size,
            root: ids::hex(root),
        }),
        generation: v.generation.unwrap_or(0),
        epoch: v.epoch,
        sound: None,
    };
    seen.advance(&now);
    Ok(Fresh { seen, restored })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "vid";
    const KEY: &str = "key";

    fn vault(generation: Option<u64>, epoch: u64, sha: &str) -> VaultFileState {
        VaultFileState {
            generation,
            epoch,
            sha256: sha.into(),
        }
    }

    fn file(generation: u64, epoch: u64, sha: &str) -> VaultFile {
        VaultFile {
            generation,
            epoch,
            sha256: sha.into(),
        }
    }

    fn writes(confirmed: Option<VaultFile>, pending: Vec<VaultFile>) -> VaultWrites {
        let max_generation = confirmed
            .iter()
            .chain(pending.iter())
            .map(|f| f.generation)
            .max()
            .unwrap_or(0);
        VaultWrites {
            confirmed: confirmed.map(|f| (1, f)),
            pending,
            max_generation,
        }
    }

    fn root(n: u8) -> Hash {
        [n; 32]
    }

    fn pin(generation: u64, epoch: u64, size: u64, r: u8) -> Pin {
        Pin {
            vault_id: ID.into(),
            audit_keys: vec![KEY.into()],
            checkpoint: Some(Seen {
                size,
                root: ids::hex(&root(r)),
            }),
            generation,
            epoch,
            sound: None,
        }
    }

    fn run(
        v: VaultFileState,
        w: VaultWrites,
        head: Option<(u64, u8)>,
        p: Option<Pin>,
        root_at_pin: Option<u8>,
    ) -> Result<Fresh, Rollback> {
        check(
            &Observed {
                vault: &v,
                writes: &w,
                head: head.map(|(s, r)| (s, root(r))),
                pin: p.as_ref(),
                root_at_pin: root_at_pin.map(root),
            },
            ID,
            KEY,
        )
    }

    #[test]
    fn the_latest_vault_with_its_log_is_fresh_and_pinned() {
        let w = writes(Some(file(3, 0, "c")), vec![]);
        let fresh = run(vault(Some(3), 0, "c"), w, Some((10, 7)), None, None).unwrap();
        assert_eq!(fresh.seen.generation, 3);
        assert_eq!(fresh.seen.checkpoint.unwrap().size, 10);
        assert!(!fresh.restored);
    }

    #[test]
    fn a_restored_old_vault_is_refused() {
        let w = writes(Some(file(5, 0, "e")), vec![]);
        assert_eq!(
            run(vault(Some(3), 0, "c"), w.clone(), Some((10, 7)), None, None),
            Err(Rollback::VaultOlderThanLog {
                vault: Some(3),
                log: 5
            })
        );
        // A copy from before generations were recorded is older than any recorded write.
        assert_eq!(
            run(vault(None, 0, "x"), w, Some((10, 7)), None, None),
            Err(Rollback::VaultOlderThanLog {
                vault: None,
                log: 5
            })
        );
    }

    #[test]
    fn an_interrupted_write_admits_either_file() {
        let w = writes(Some(file(5, 0, "e")), vec![file(6, 0, "f")]);
        assert!(run(vault(Some(5), 0, "e"), w.clone(), Some((9, 1)), None, None).is_ok());
        assert!(run(vault(Some(6), 0, "f"), w.clone(), Some((9, 1)), None, None).is_ok());
        assert_eq!(
            run(vault(Some(6), 0, "g"), w, Some((9, 1)), None, None),
            Err(Rollback::NotTheRecordedFile { generation: 6 })
        );
    }

    #[test]
    fn an_emptied_or_cut_log_is_refused_by_the_vault() {
        assert_eq!(
            run(
                vault(Some(4), 0, "d"),
                writes(None, vec![]),
                None,
                None,
                None
            ),
            Err(Rollback::LogOlderThanVault {
                vault: 4,
                log: None
            })
        );
        assert_eq!(
            run(
                vault(Some(4), 0, "d"),
                writes(Some(file(2, 0, "b")), vec![]),
                Some((5, 1)),
                None,
                None
            ),
            Err(Rollback::LogOlderThanVault {
                vault: 4,
                log: Some(2)
            })
        );
        // A vault and log from before this version: accepted (the next write records).
        assert!(
            run(
                vault(None, 0, "x"),
                writes(None, vec![]),
                Some((5, 1)),
                None,
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn a_log_cut_or_rewritten_behind_the_pin_is_refused() {
        let w = writes(Some(file(4, 0, "d")), vec![]);
        let v = || vault(Some(4), 0, "d");
        assert_eq!(
            run(v(), w.clone(), Some((90, 1)), Some(pin(4, 0, 100, 2)), None),
            Err(Rollback::LogShorterThanPin { log: 90, seen: 100 })
        );
        assert_eq!(
            run(v(), w.clone(), None, Some(pin(4, 0, 100, 2)), None),
            Err(Rollback::LogShorterThanPin { log: 0, seen: 100 })
        );
        assert_eq!(
            run(
                v(),
                w.clone(),
                Some((120, 1)),
                Some(pin(4, 0, 100, 2)),
                Some(3)
            ),
            Err(Rollback::LogRewritten { size: 100 })
        );
        let fresh = run(v(), w, Some((120, 1)), Some(pin(4, 0, 100, 2)), Some(2)).unwrap();
        assert_eq!(fresh.seen.checkpoint.unwrap().size, 120);
    }

    #[test]
    fn the_vault_and_log_restored_together_are_refused_by_the_pin() {
        // Both files from last month agree with each other; this machine saw later ones.
        let w = writes(Some(file(3, 0, "c")), vec![]);
        assert_eq!(
            run(
                vault(Some(3), 0, "c"),
                w,
                Some((50, 1)),
                Some(pin(5, 0, 80, 2)),
                None
            ),
            Err(Rollback::VaultOlderThanPin {
                vault: Some(3),
                seen: 5
            })
        );
    }

    #[test]
    fn a_recorded_restore_moves_the_pin_back_and_an_older_epoch_is_refused() {
        // After `smv restore`: epoch 1, generation 7, the log perhaps shorter than the pin.
        let w = writes(Some(file(7, 1, "r")), vec![]);
        let fresh = run(
            vault(Some(7), 1, "r"),
            w,
            Some((40, 9)),
            Some(pin(6, 0, 100, 2)),
            None,
        )
        .unwrap();
        assert!(fresh.restored);
        assert_eq!(fresh.seen.epoch, 1);
        assert_eq!(fresh.seen.checkpoint.unwrap().size, 40);
        // A copy from before that restore, with its log, is refused by a machine that saw it.
        let w = writes(Some(file(6, 0, "f")), vec![]);
        assert_eq!(
            run(
                vault(Some(6), 0, "f"),
                w,
                Some((100, 2)),
                Some(pin(7, 1, 40, 9)),
                Some(2)
            ),
            Err(Rollback::EpochOlderThanPin { vault: 0, seen: 1 })
        );
    }
}
