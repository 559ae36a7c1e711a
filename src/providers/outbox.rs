//! The `outbox` provider: appends each post as one JSON line to a local file. The embedded
//! default for the quick start, demos, dry runs and staging; it needs no secret.

use std::io::Write;
use std::path::PathBuf;

use super::{Limits, Provider, ProviderError, Receipt, Target};

/// Far above any network's limit: a bound against pasting the wrong file.
const MAX_CHARS: usize = 100_000;

pub struct Outbox;

fn path(target: &Target) -> PathBuf {
    match &target.account.url {
        Some(u) => PathBuf::from(u.strip_prefix("file://").unwrap_or(u)),
        None => target.state_dir.join("outbox.jsonl"),
    }
}

impl Provider for Outbox {
    fn validate(
        &self,
        _target: &Target,
        text: &str,
        _limits: &Limits,
    ) -> Result<(), ProviderError> {
        if text.trim().is_empty() {
            return Err(ProviderError::Invalid("the text is empty".into()));
        }
        let n = text.chars().count();
        if n > MAX_CHARS {
            return Err(ProviderError::Invalid(format!(
                "{n} characters, more than the outbox's {MAX_CHARS}"
            )));
        }
        Ok(())
    }

    fn post(
        &self,
        target: &Target,
        text: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Receipt, ProviderError> {
        let path = path(target);
        let id = crate::ids::random_hex(8);
        let line = serde_json::json!({
            "id": id,
            "time": crate::vault::now_precise(),
            "account": target.account.name,
            "handle": target.account.handle,
            "text": text,
            "idempotency_key": idempotency_key,
        });
        // The default outbox lives in smv's own state directory, made on first use (a store
        // that keeps no file has not made it); a file the account names must be reachable.
        if target.account.url.is_none() && !target.state_dir.exists() {
            crate::fsutil::create_private_dir(&target.state_dir).map_err(|e| {
                ProviderError::Unreachable(format!(
                    "cannot create {}: {e}",
                    target.state_dir.display()
                ))
            })?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(|e| {
            ProviderError::Unreachable(format!("cannot open {}: {e}", path.display()))
        })?;
        // One write of the whole line: concurrent appenders (O_APPEND) never interleave it.
        file.write_all(format!("{line}\n").as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(|e| {
                ProviderError::Unreachable(format!("cannot write {}: {e}", path.display()))
            })?;
        Ok(Receipt {
            url: Some(format!("file://{}#{id}", path.display())),
            post_id: id,
        })
    }

    fn check(&self, target: &Target) -> Result<String, ProviderError> {
        let path = path(target);
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(ProviderError::Unreachable(format!(
                "the directory {} does not exist",
                dir.display()
            )));
        }
        Ok(format!("posts go to {}", path.display()))
    }
}
