//! The exclusive lock that serialises read-modify-write of the vault across processes.
//!
//! It is an OS file lock (flock) on a sidecar file, so it is released by the kernel when
//! its holder exits for any reason, kill -9 included: there are no stale locks to clean up.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Error, Result};

pub struct WriteLock {
    _file: File,
}

impl WriteLock {
    pub fn acquire(path: &Path, timeout_ms: u64) -> Result<WriteLock> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(path)
            .map_err(|e| Error::io("open lock file", path, e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WriteLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    let waited = start.elapsed();
                    if waited >= Duration::from_millis(timeout_ms) {
                        return Err(Error::Locked {
                            waited_ms: waited.as_millis() as u64,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", path, e));
                }
            }
        }
    }
}
