//! Trust on first use: what this machine has seen at each vault path.
//!
//! age proves who can *read* a file, not who *wrote* it: anyone who can write the vault file
//! (a shared drive, a git repository) could replace it with a vault of their own, encrypted
//! to your public key and theirs, and collect every secret you add. So the first time a
//! machine opens a vault it records the vault's id and audit key for that path, like SSH's
//! known_hosts, and from then on refuses a vault at that path that is not the same one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result, fsutil};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub vault_id: String,
    pub audit_key: String,
}

fn key_for(vault: &Path) -> String {
    std::fs::canonicalize(vault)
        .unwrap_or_else(|_| vault.to_path_buf())
        .display()
        .to_string()
}

fn read(file: &Path) -> BTreeMap<String, Pin> {
    std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Checks the vault at `vault` against what this machine saw there before, and records it
/// the first time. `pins` is the record file.
pub fn check(pins: &Path, vault: &Path, seen: &Pin) -> Result<()> {
    let key = key_for(vault);
    let mut all = read(pins);
    match all.get(&key) {
        Some(known) if known == seen => Ok(()),
        Some(known) => Err(Error::VaultReplaced {
            path: vault.to_path_buf(),
            why: if known.vault_id != seen.vault_id {
                format!(
                    "its id is {}, where this machine knew {}",
                    seen.vault_id, known.vault_id
                )
            } else {
                "its audit signing key changed".into()
            },
            pins: pins.to_path_buf(),
        }),
        None => {
            all.insert(key, seen.clone());
            // Best effort: failing to record only means the pin is made next time.
            let _ = write(pins, &all);
            Ok(())
        }
    }
}

/// Records the vault at `vault` as this machine's, replacing what was known there: for
/// `smv init`, where the user has just made it.
pub fn record(pins: &Path, vault: &Path, seen: &Pin) -> Result<()> {
    let mut all = read(pins);
    all.insert(key_for(vault), seen.clone());
    write(pins, &all)
}

fn write(pins: &Path, all: &BTreeMap<String, Pin>) -> Result<()> {
    if let Some(dir) = pins.parent() {
        fsutil::create_private_dir(dir)?;
    }
    let tmp: PathBuf = pins.with_extension(format!("json.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(all).map_err(|e| Error::Internal(e.to_string()))?;
    let result = (|| {
        use std::io::Write;
        let mut f = fsutil::create_new_private(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, pins)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| Error::io("write", pins, e))
}
