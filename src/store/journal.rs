//! Outcomes recorded late: a post's outcome that could not be appended to the audit log when
//! the network answered (the log locked past `SMV_LOCK_TIMEOUT_MS`, a full disk for a
//! moment) is kept in `<vault>.outcomes` (mode 0600, one JSON line per outcome, fsynced), and
//! appended to the log by the next smv process that opens an audit group on it, in that
//! group, marked `"recorded_late": true`.
//!
//! Until then the attempt's intent has no outcome in the log, so the matcher
//! (`ops::outcomes`) calls it unknown: `smv status` lists it, and a retry of its idempotency
//! key or scheduled post is refused. A retry opens a group first, so it appends the kept
//! outcome before it decides, and answers from it (a published post is not posted again).
//!
//! The file is locked (flock) while a line is added and while it is replayed; replay skips
//! an outcome the log already holds (a replay interrupted after its commit and before the
//! file was emptied), so each outcome is appended once. A line torn by a crash is dropped:
//! its intent stays unknown until a person resolves it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::{AuditLog, Channel, Filter, Outcome, Record};
use crate::{Error, Result};

/// One kept outcome: the record as it would have been appended.
#[derive(Serialize, Deserialize)]
struct Line {
    actor: String,
    channel: Channel,
    action: String,
    target: String,
    outcome: Outcome,
    reason: Option<String>,
    request_id: String,
    details: Map<String, Value>,
}

fn open(path: &Path, create: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(create);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Waits a little for the file's lock: its holders only add a line or replay a few.
fn lock(file: &File) -> std::io::Result<()> {
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other("the outcomes file stays locked"));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Keeps `record` (a post's outcome) for the next process to append. Durable when it returns.
pub(crate) fn keep(path: &Path, record: &Record) -> Result<()> {
    let line = Line {
        actor: record.actor.clone(),
        channel: record.channel.clone(),
        action: record.action.clone(),
        target: record.target.clone(),
        outcome: record.outcome,
        reason: record.reason.clone(),
        request_id: record.request_id.clone(),
        details: record.details.clone(),
    };
    let mut bytes = serde_json::to_vec(&line).map_err(|e| Error::Internal(e.to_string()))?;
    bytes.push(b'\n');
    let written = open(path, true).and_then(|mut f| {
        lock(&f)?;
        // One write of the whole line (O_APPEND), then fsync.
        f.write_all(&bytes)?;
        f.sync_all()
    });
    written.map_err(|e| Error::io("write", path, e))?;
    crate::fsutil::sync_parent(path)
}

/// Whether outcomes are kept, waiting for a commit (one `stat`).
pub(crate) fn pending(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// The kept outcomes being appended in an open audit group: the file stays locked until the
/// group is committed ([`Replay::done`] empties it) or abandoned (dropped: kept for the next).
pub(crate) struct Replay {
    file: File,
}

impl Replay {
    /// The group that holds the kept outcomes is durable: forget them.
    pub(crate) fn done(self) {
        let _ = self.file.set_len(0).and_then(|()| self.file.sync_all());
    }
}

/// Appends, in `log`'s open group, the kept outcomes the log does not hold yet. None when
/// there is nothing kept (one `stat` on the post path). Best effort: a file that cannot be
/// read now is left for a later process; it never stops the caller's own step.
pub(crate) fn replay(path: &Path, log: &mut AuditLog) -> Option<Replay> {
    if !pending(path) {
        return None;
    }
    let mut file = open(path, false).ok()?;
    lock(&file).ok()?;
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let mut records = Vec::new();
    for line in text.lines() {
        // A line torn by a crash is not an outcome: its intent stays unknown.
        let Ok(l) = serde_json::from_str::<Line>(line) else {
            continue;
        };
        match already_recorded(log, &l) {
            Ok(true) => continue,
            Ok(false) => {}
            // Cannot tell now: leave the whole file for a later process.
            Err(_) => return None,
        }
        let mut details = l.details;
        details.insert("recorded_late".into(), true.into());
        records.push(Record {
            actor: l.actor,
            channel: l.channel,
            action: l.action,
            target: l.target,
            outcome: l.outcome,
            reason: l.reason,
            request_id: l.request_id,
            details,
        });
    }
    if !records.is_empty() && log.append_batch(&records).is_err() {
        // The group is broken now and fails with its own error; the file stays.
        return None;
    }
    Some(Replay { file })
}

/// Whether the log already holds an outcome for the line's intent.
fn already_recorded(log: &AuditLog, l: &Line) -> Result<bool> {
    let Some(seq) = l.details.get("intent_seq").and_then(Value::as_u64) else {
        return Ok(false);
    };
    let filter = Filter {
        account: l.target.strip_prefix("account:").map(str::to_string),
        action: Some(l.action.clone()),
        ..Filter::default()
    };
    let needle = format!("\"intent_seq\":{seq}");
    Ok(log
        .entries_mentioning(&filter, needle.as_bytes())?
        .iter()
        .any(|e| {
            e.outcome != Outcome::Intent
                && e.details.get("intent_seq").and_then(Value::as_u64) == Some(seq)
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Entry, LogKey};
    use crate::identity::NoPrompt;
    use crate::ops::InitOptions;
    use crate::settings::{Env, Overrides, Settings};
    use std::sync::Arc;

    /// A replay that committed but was interrupted before the file was emptied appends
    /// nothing twice; a torn line is skipped; an outcome without an intent seq is appended.
    #[test]
    fn a_replay_is_idempotent_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().display().to_string();
        let env = Env::from_pairs([("HOME", home.as_str()), ("SMV_KEYRING", "0")]);
        let settings = Settings::resolve(&Overrides::default(), env).unwrap();
        let opts = InitOptions {
            admin: "alice".into(),
            passphrase: None,
        };
        crate::ops::init(&settings, opts, &NoPrompt).unwrap();
        let identity = Arc::new(crate::identity::resolve(&settings, &NoPrompt).unwrap());
        let settings = Arc::new(settings);
        let key = crate::store::file::FileStore::new(settings.clone(), identity)
            .load_checked()
            .and_then(|v| LogKey::from_vault(&v))
            .unwrap();
        let path = settings.pending_outcomes_file();
        let mut log = AuditLog::open_signing(&settings.audit_log(), key).unwrap();
        let mut details = Map::new();
        details.insert("intent_seq".into(), 2.into());
        details.insert("post_id".into(), "p1".into());
        let rec = Record {
            actor: "alice".into(),
            channel: Channel::Local,
            action: "post".into(),
            target: "account:demo".into(),
            outcome: Outcome::Ok,
            reason: None,
            request_id: "r1".into(),
            details,
        };
        keep(&path, &rec).unwrap();
        // A crash while the next line was written.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"actor\":\"al")
            .unwrap();
        let late = |log: &AuditLog| -> Vec<Entry> {
            log.entries(&Filter::default())
                .unwrap()
                .into_iter()
                .filter(|e| e.details.get("recorded_late").is_some())
                .collect()
        };
        log.begin().unwrap();
        let replay = replay(&path, &mut log).expect("something kept");
        log.commit().unwrap();
        // Interrupted before `done`: the file still holds the line.
        drop(replay);
        assert_eq!(late(&log).len(), 1);
        log.begin().unwrap();
        let again = replay_again(&path, &mut log);
        log.commit().unwrap();
        again.done();
        assert_eq!(late(&log).len(), 1, "appended twice");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // Nothing kept: no replay at all.
        log.begin().unwrap();
        assert!(super::replay(&path, &mut log).is_none());
        log.commit().unwrap();
        let e = &late(&log)[0];
        assert_eq!(e.outcome, Outcome::Ok);
        assert_eq!(e.details["post_id"], "p1");
    }

    fn replay_again(path: &Path, log: &mut AuditLog) -> Replay {
        super::replay(path, log).expect("the file is still there")
    }
}
