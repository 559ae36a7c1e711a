//! What this machine has seen of each vault, keyed by the vault's identity (its id, inside
//! the encrypted file and the signed log), not by a path: trust on first use, and memory of
//! how far the vault and its audit log had come. The pins live in the user's state
//! directory (`$XDG_STATE_HOME/smv/pins.json`), never beside the vault; a path -> id map
//! only refuses a vault swapped in at a path this machine knew for another one.
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

/// A pin as written by this version, and as written before (one `audit_key`).
#[derive(Clone, Deserialize)]
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

    /// Whether `audit_key` is a key of this vault that this machine saw retired (a rotation
    /// it followed): a vault signing with it is an older copy.
    pub fn retired(&self, vault_id: &str, audit_key: &str) -> bool {
        self.vault_id == vault_id
            && self.current_key() != Some(audit_key)
            && self.audit_keys.iter().any(|k| k == audit_key)
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

/// The pins file: pins keyed by the vault's identity (its id, inside the encrypted file and
/// the signed log), and the paths this machine opened each vault at. A path serves only to
/// refuse a swapped vault: a vault put at a path this machine knew for another vault. A
/// vault found at a new path (a symlink, a copy elsewhere) is still the vault its id names,
/// checked against everything this machine saw of it.
#[derive(Default, Serialize, Deserialize)]
struct PinsFile {
    #[serde(default)]
    vaults: BTreeMap<String, Stored>,
    #[serde(default)]
    paths: BTreeMap<String, String>,
}

impl Serialize for Stored {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        Pin::from(self.clone()).serialize(s)
    }
}

/// The keys a path is known by: as given (made absolute, symlinks kept: a symlink put in
/// place of the file is seen), and canonical (the file it reaches).
fn path_keys(vault: &Path) -> Vec<String> {
    let given = std::path::absolute(vault)
        .unwrap_or_else(|_| vault.to_path_buf())
        .display()
        .to_string();
    let mut keys = vec![given];
    if let Ok(c) = std::fs::canonicalize(vault) {
        let c = c.display().to_string();
        if c != keys[0] {
            keys.push(c);
        }
    }
    keys
}

fn read(file: &Path) -> PinsFile {
    std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// What this machine knows of the vault it opened at `vault` before (None: no vault was
/// pinned at this path). Read before the vault is decrypted; [`check_known`] then finds
/// the pin by the vault's own id when the path is new.
pub fn get(pins: &Path, vault: &Path) -> Option<Pin> {
    let mut file = read(pins);
    let id = path_keys(vault)
        .iter()
        .find_map(|k| file.paths.get(k).cloned())?;
    file.vaults.remove(&id).map(Pin::from)
}

/// What this machine knows of the vault `vault_id`, wherever it was opened.
pub fn get_id(pins: &Path, vault_id: &str) -> Option<Pin> {
    read(pins).vaults.remove(vault_id).map(Pin::from)
}

/// Checks the vault at `vault` against what this machine saw there before (its id and audit
/// key; freshness is `store::fresh`'s).
pub fn check(pins: &Path, vault: &Path, vault_id: &str, audit_key: &str) -> Result<Option<Pin>> {
    check_known(get(pins, vault), pins, vault, vault_id, audit_key)
}

/// [`check`] against a pin already read from `pins` for the path ([`get`]). A path this
/// machine knew for another vault is a swapped vault; a path it did not know is looked up
/// by the vault's id, so an old copy of a known vault behind a new path (a symlink) is
/// checked against everything this machine saw of it.
pub fn check_known(
    known: Option<Pin>,
    pins: &Path,
    vault: &Path,
    vault_id: &str,
    audit_key: &str,
) -> Result<Option<Pin>> {
    let replaced = |why: String| Error::VaultReplaced {
        path: vault.to_path_buf(),
        why,
        pins: pins.to_path_buf(),
    };
    let known = match known {
        Some(known) => Some(known),
        None => get_id(pins, vault_id),
    };
    match known {
        Some(known) => match known.same_vault(vault_id, audit_key) {
            Ok(()) => Ok(Some(known)),
            Err(why) => Err(replaced(why)),
        },
        None => Ok(None),
    }
}

/// Merges `seen` into this machine's pin for its vault (see [`Pin::advance`]), or records it
/// the first time, and remembers `vault` as its path. Concurrent smv processes merge in
/// turn, under a lock beside the file, so a pin only moves forward.
pub fn advance(pins: &Path, vault: &Path, seen: &Pin) -> Result<()> {
    update(pins, vault, seen, |known| match known {
        Some(mut k) => {
            k.advance(seen);
            k
        }
        None => seen.clone(),
    })
}

/// Replaces this machine's pin for `seen`'s vault and makes `vault` its path: for
/// `smv init`, where the user has just made it, and `smv restore`, where an admin has just
/// said which state is the right one.
pub fn record(pins: &Path, vault: &Path, seen: &Pin) -> Result<()> {
    update(pins, vault, seen, |_| seen.clone())
}

fn update(pins: &Path, vault: &Path, seen: &Pin, f: impl FnOnce(Option<Pin>) -> Pin) -> Result<()> {
    if let Some(dir) = pins.parent() {
        fsutil::create_private_dir(dir)?;
    }
    let _lock = super::lock::WriteLock::acquire(&lock_file(pins), 10_000)?;
    let mut all = read(pins);
    let old = all.vaults.get(&seen.vault_id).cloned().map(Pin::from);
    let new = f(old.clone());
    let mut paths_changed = false;
    for k in path_keys(vault) {
        if all.paths.get(&k) != Some(&seen.vault_id) {
            all.paths.insert(k, seen.vault_id.clone());
            paths_changed = true;
        }
    }
    if old.as_ref() == Some(&new) && !paths_changed {
        return Ok(());
    }
    // Only a larger checkpoint (what every command brings) is written without an fsync: a
    // power cut may lose it, leaving the pin a little behind, which refuses nothing. A new
    // vault, path, key, generation or restore is made durable.
    let durable = paths_changed
        || old.is_none_or(|o| {
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
    all.vaults.insert(seen.vault_id.clone(), Stored::from(new));
    write(pins, &all, durable)
}

impl From<Pin> for Stored {
    fn from(p: Pin) -> Stored {
        Stored {
            vault_id: p.vault_id,
            audit_keys: p.audit_keys,
            audit_key: None,
            checkpoint: p.checkpoint,
            generation: p.generation,
            epoch: p.epoch,
            sound: p.sound,
        }
    }
}

/// Pins kept by an earlier version beside the vault (`$XDG_DATA_HOME/smv/known-vaults.json`,
/// keyed by canonical path) are read once into `pins` (keyed by vault id) when `pins` does
/// not exist yet, and the old file is renamed `*.migrated` so that nobody who can write
/// there can plant pins later. How many vaults were taken in (0: nothing to do).
pub fn migrate_legacy(pins: &Path, legacy: &Path) -> Result<usize> {
    if pins.exists() || !legacy.exists() {
        return Ok(0);
    }
    let old: BTreeMap<String, Stored> = match std::fs::read(legacy)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(old) => old,
        None => return Ok(0),
    };
    if let Some(dir) = pins.parent() {
        fsutil::create_private_dir(dir)?;
    }
    let _lock = super::lock::WriteLock::acquire(&lock_file(pins), 10_000)?;
    if pins.exists() {
        return Ok(0);
    }
    let mut all = PinsFile::default();
    for (path, stored) in old {
        let pin = Pin::from(stored);
        let merged = match all.vaults.get(&pin.vault_id).cloned().map(Pin::from) {
            Some(mut known) => {
                known.advance(&pin);
                known
            }
            None => pin.clone(),
        };
        all.paths.insert(path, pin.vault_id.clone());
        all.vaults
            .insert(pin.vault_id.clone(), Stored::from(merged));
    }
    let n = all.vaults.len();
    write(pins, &all, true)?;
    let mut done = legacy.as_os_str().to_os_string();
    done.push(".migrated");
    let _ = std::fs::rename(legacy, PathBuf::from(done));
    Ok(n)
}

fn lock_file(pins: &Path) -> PathBuf {
    let mut name = pins.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

fn write(pins: &Path, all: &PinsFile, durable: bool) -> Result<()> {
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
        let legacy = dir.path().join("known-vaults.json");
        let file = dir.path().join("state/pins.json");
        let vault = dir.path().join("vault.smv");
        std::fs::write(
            &legacy,
            format!(
                r#"{{"{}": {{"vault_id": "abc", "audit_key": "smv-audit/abc+1234+AAAA"}}}}"#,
                vault.display()
            ),
        )
        .unwrap();
        // Read once into the state directory's file, keyed by id; the old file retired.
        assert_eq!(migrate_legacy(&file, &legacy).unwrap(), 1);
        assert!(!legacy.exists());
        assert_eq!(migrate_legacy(&file, &legacy).unwrap(), 0);
        let p = get(&file, &vault).unwrap();
        assert_eq!(get_id(&file, "abc").unwrap(), p);
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
