//! Atomic replacement of the vault file.
//!
//! Order matters, and each step is there for a crash or a failure: write a temporary file in
//! the same directory (so the rename cannot cross file systems) → fsync it → read it back and
//! prove it decrypts to what we meant to write → rename it over the vault → fsync the
//! directory so the rename itself survives a power cut. Any failure before the rename removes
//! the temporary file and leaves the old vault untouched. The caller holds the write lock.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result, fsutil};

pub enum Mode {
    Replace,
    CreateNew,
}

pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
    verify: impl FnOnce(&[u8]) -> std::result::Result<(), String>,
) -> Result<()> {
    remove_stale_temporaries(path);
    let tmp = temp_name(path);
    let result = (|| {
        let mut file =
            fsutil::create_new_private(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        crate::failpoint::hit("vault-write")?;
        file.write_all(bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io("write", &tmp, e))?;
        drop(file);
        let back = std::fs::read(&tmp).map_err(|e| Error::io("read back", &tmp, e))?;
        verify(&back).map_err(|why| {
            Error::Internal(format!(
                "the new vault file failed verification ({why}); the old file is unchanged"
            ))
        })?;
        crate::failpoint::hit("vault-before-rename")?;
        match mode {
            Mode::Replace => {
                std::fs::rename(&tmp, path).map_err(|e| Error::io("replace", path, e))?;
            }
            Mode::CreateNew => {
                // hard_link fails if the target exists: no window in which a concurrent
                // `smv init` could be overwritten, unlike exists() followed by rename().
                std::fs::hard_link(&tmp, path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Error::VaultExists(path.to_path_buf())
                    } else {
                        Error::io("create", path, e)
                    }
                })?;
                let _ = std::fs::remove_file(&tmp);
            }
        }
        fsutil::sync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        crate::ids::random_hex(4)
    ))
}

/// Temporary files are only created under the write lock, which the caller holds: any that
/// exist now were left by a process that died mid-write (kill -9, power cut).
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) && n.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
