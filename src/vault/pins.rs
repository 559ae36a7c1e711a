//! What this machine has seen at each vault path: trust on first use, and memory of how far
//! the vault and its audit log had come.
//!
//! age proves who can *read* a file, not who *wrote* it: anyone who can write the vault file
//! (a shared drive, a git repository) could replace it with a vault of their own, encrypted
//! to your public key and theirs, and collect every secret you add. So the first time a
//! machine opens a vault it records the vault's id and audit key for that path, like SSH's
//! known_hosts, and from then on refuses a vault at that path that is not the same one.
//!
//! Integrity is not freshness: an old copy of the vault, or of its log, is authentic too. So
//! the pin also remembers the largest signed checkpoint of the log this machine has seen
//! (size and root) and the vault's generation and restore epoch; `store::fresh` refuses a log
//! shorter than that, one whose tree at that size has another root, or a vault older than
//! that — unless the vault records a deliberate restore (a later epoch).
//!
//! The audit key is a chain, oldest first: the last one is the current key. A later version
//! rotates the key when a custodian leaves; the pin will then follow a rotation signed by the
//! previous key, instead of being replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result, fsutil};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pin {
    pub vault_id: String,
    /// The audit log's verifier keys, oldest first; the last is the current one.
    pub audit_keys: Vec<String>,
    /// The largest signed checkpoint of the log this machine has seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Seen>,
    /// The highest vault generation this machine has seen (0: none recorded yet).
    #[serde(default)]
    pub generation: u64,
    /// The restore epoch of that vault.
    #[serde(default)]
    pub epoch: u64,
    /// The SHA-256 of the last vault file whose database image this machine checked page
    /// by page and found sound (`Vault::load_known`): the next command on the same file
    /// skips the check. Not a security record: a wrong or lost value costs one check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
}

/// A checkpoint as pinned: the tree's size and root (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub size: u64,
    pub root: String,
}

/// The file as written by this version, and as written before (one `audit_key`).
#[derive(Deserialize)]
struct Stored {
    vault_id: String,
    #[serde(default)]
    audit_keys: Vec<String>,
    #[serde(default)]
    audit_key: Option<String>,
    #[serde(default)]
    checkpoint: Option<Seen>,
    #[serde(default)]
    generation: u64,
    #[serde(default)]
    epoch: u64,
    #[serde(default)]
    sound: Option<String>,
}

impl From<Stored> for Pin {
    fn from(s: Stored) -> Pin {
        let mut audit_keys = s.audit_keys;
        if audit_keys.is_empty()
            && let Some(k) = s.audit_key
        {
            audit_keys.push(k);
        }
        Pin {
            vault_id: s.vault_id,
            audit_keys,
            checkpoint: s.checkpoint,
            generation: s.generation,
            epoch: s.epoch,
            sound: s.sound,
        }
    }
}

impl Pin {
    /// A first pin: what a vault says of itself.
    pub fn new(vault_id: String, audit_key: String) -> Pin {
        Pin {
            vault_id,
            audit_keys: vec![audit_key],
            checkpoint: None,
            generation: 0,
            epoch: 0,
            sound: None,
        }
    }

    pub fn current_key(&self) -> Option<&str> {
        self.audit_keys.last().map(String::as_str)
    }

    /// Whether `other` (what is on disk now) is the same vault: same id and current key.
    pub fn same_vault(&self, vault_id: &str, audit_key: &str) -> Result<(), String> {
        if self.vault_id != vault_id {
            return Err(format!(
                "its id is {vault_id}, where this machine knew {}",
                self.vault_id
            ));
        }
        if self.current_key() != Some(audit_key) {
            return Err("its audit signing key changed".into());
        }
        Ok(())
    }

    /// Takes in what was seen later: the larger checkpoint and generation, the later epoch.
    /// A later epoch (a recorded restore) replaces the rest, which may then be smaller.
    pub fn advance(&mut self, later: &Pin) {
        // A key chain that extends ours (rotations followed along the signed log).
        if later.audit_keys.len() > self.audit_keys.len()
            && later.audit_keys.starts_with(&self.audit_keys)
        {
            self.audit_keys = later.audit_keys.clone();
        }
        if later.sound.is_some() {
            self.sound = later.sound.clone();
        }
        if later.epoch > self.epoch {
            self.epoch = later.epoch;
            self.generation = later.generation;
            self.checkpoint = later.checkpoint.clone();
            return;
        }
        if later.epoch < self.epoch {
            return;
        }
        self.generation = self.generation.max(later.generation);
        if let Some(cp) = &later.checkpoint
            && self
                .checkpoint
                .as_ref()
                .is_none_or(|mine| cp.size > mine.size)
        {
            self.checkpoint = Some(cp.clone());
        }
    }
}

fn key_for(vault: &Path) -> String {
    std::fs::canonicalize(vault)
        .unwrap_or_else(|_| vault.to_path_buf())
        .display()
        .to_string()
}

fn read(file: &Path) -> BTreeMap<String, Pin> {
    let stored: BTreeMap<String, Stored> = std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    stored.into_iter().map(|(k, v)| (k, v.into())).collect()
}

/// What this machine knows of the vault at `vault` (None: never seen).
pub fn get(pins: &Path, vault: &Path) -> Option<Pin> {
    read(pins).remove(&key_for(vault))
}

/// Checks the vault at `vault` against what this machine saw there before (its id and audit
/// key; freshness is `store::fresh`'s), and records it the first time.
pub fn check(pins: &Path, vault: &Path, vault_id: &str, audit_key: &str) -> Result<Option<Pin>> {
    check_known(get(pins, vault), pins, vault, vault_id, audit_key)
}

/// [`check`] against a pin already read from `pins` ([`get`]).
pub fn check_known(
    known: Option<Pin>,
    pins: &Path,
    vault: &Path,
    vault_id: &str,
    audit_key: &str,
) -> Result<Option<Pin>> {
    match known {
        Some(known) => match known.same_vault(vault_id, audit_key) {
            Ok(()) => Ok(Some(known)),
            Err(why) => Err(Error::VaultReplaced {
                path: vault.to_path_buf(),
                why,
                pins: pins.to_path_buf(),
            }),
        },
        None => Ok(None),
    }
}

/// Merges `seen` into this machine's pin for `vault` (see [`Pin::advance`]), or records it
/// the first time. Concurrent smv processes merge in turn, under a lock beside the file, so
/// a pin only moves forward.
pub fn advance(pins: &Path, vault: &Path, seen: &Pin) -> Result<()> {
    update(pins, vault, |known| match known {
        Some(mut k) if k.vault_id == seen.vault_id => {
            k.advance(seen);
            k
        }
        _ => seen.clone(),
    })
}

/// Replaces this machine's pin for `vault`: for `smv init`, where the user has just made it,
/// and `smv restore`, where an admin has just said which state is the right one.
pub fn record(pins: &Path, vault: &Path, seen: &Pin) -> Result<()> {
    update(pins, vault, |_| seen.clone())
}

fn update(pins: &Path, vault: &Path, f: impl FnOnce(Option<Pin>) -> Pin) -> Result<()> {
    if let Some(dir) = pins.parent() {
        fsutil::create_private_dir(dir)?;
    }
    let _lock = super::lock::WriteLock::acquire(&lock_file(pins), 10_000)?;
    let mut all = read(pins);
    let key = key_for(vault);
    let old = all.get(&key).cloned();
    let new = f(old.clone());
    if old.as_ref() == Some(&new) {
        return Ok(());
    }
    // Only a larger checkpoint (what every command brings) is written without an fsync: a
    // power cut may lose it, leaving the pin a little behind, which refuses nothing. A new
    // vault, key, generation or restore is made durable.
    let durable = old.is_none_or(|o| {
        Pin {
            checkpoint: None,
            sound: None,
            ..o
        } != Pin {
            checkpoint: None,
            sound: None,
            ..new.clone()
        }
    });
    all.insert(key, new);
    write(pins, &all, durable)
}

fn lock_file(pins: &Path) -> PathBuf {
    let mut name = pins.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

fn write(pins: &Path, all: &BTreeMap<String, Pin>, durable: bool) -> Result<()> {
    let tmp: PathBuf = pins.with_extension(format!("json.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(all).map_err(|e| Error::Internal(e.to_string()))?;
    let result = (|| {
        use std::io::Write;
        let _ = std::fs::remove_file(&tmp);
        let mut f = fsutil::create_new_private(&tmp)?;
        f.write_all(&bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, pins)?;
        if durable {
            fsutil::sync_parent(pins).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| Error::io("write", pins, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(epoch: u64, generation: u64, size: Option<u64>) -> Pin {
        Pin {
            vault_id: "v".into(),
            audit_keys: vec!["k".into()],
            checkpoint: size.map(|size| Seen {
                size,
                root: format!("r{size}"),
            }),
            generation,
            epoch,
            sound: None,
        }
    }

    #[test]
    fn a_pin_only_moves_forward_within_an_epoch() {
        let mut p = pin(0, 5, Some(100));
        p.advance(&pin(0, 4, Some(90)));
        assert_eq!(p, pin(0, 5, Some(100)));
        p.advance(&pin(0, 6, Some(120)));
        assert_eq!(p, pin(0, 6, Some(120)));
        // A later epoch (a recorded restore) replaces, smaller as it may be; an earlier
        // one is ignored.
        p.advance(&pin(1, 2, Some(50)));
        assert_eq!(p, pin(1, 2, Some(50)));
        p.advance(&pin(0, 9, Some(900)));
        assert_eq!(p, pin(1, 2, Some(50)));
    }

    #[test]
    fn pins_of_the_old_format_are_read_as_a_chain_of_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known-vaults.json");
        let vault = dir.path().join("vault.smv");
        std::fs::write(
            &file,
            format!(
                r#"{{"{}": {{"vault_id": "abc", "audit_key": "smv-audit/abc+1234+AAAA"}}}}"#,
                vault.display()
            ),
        )
        .unwrap();
        let p = get(&file, &vault).unwrap();
        assert_eq!(p.audit_keys, vec!["smv-audit/abc+1234+AAAA".to_string()]);
        assert!(check(&file, &vault, "abc", "smv-audit/abc+1234+AAAA").is_ok());
        assert!(matches!(
            check(&file, &vault, "abc", "other"),
            Err(Error::VaultReplaced { .. })
        ));
        // Advancing keeps the chain and adds what was seen.
        advance(&file, &vault, &{
            let mut seen = Pin::new("abc".into(), "smv-audit/abc+1234+AAAA".into());
            seen.checkpoint = Some(Seen {
                size: 7,
                root: "00".into(),
            });
            seen
        })
        .unwrap();
        let p = get(&file, &vault).unwrap();
        assert_eq!(p.checkpoint.unwrap().size, 7);
        assert_eq!(p.audit_keys.len(), 1);
    }

    #[test]
    fn concurrent_advances_keep_the_largest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known-vaults.json");
        let vault = dir.path().join("vault.smv");
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let (file, vault) = (&file, &vault);
                s.spawn(move || {
                    for i in 0..20u64 {
                        advance(file, vault, &pin(0, 0, Some(t * 100 + i))).unwrap();
                    }
                });
            }
        });
        assert_eq!(get(&file, &vault).unwrap().checkpoint.unwrap().size, 719);
    }
}
