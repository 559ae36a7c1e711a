//! Outcomes recorded late: a post's outcome that could not be appended to the audit log when
//! the network answered (the log locked past `SMV_LOCK_TIMEOUT_MS`, a full disk for a
//! moment) is kept in `<vault>.outcomes` (mode 0600, one line per outcome, fsynced), and
//! appended to the log by the next smv process that opens an audit group on it, in that
//! group, marked `"recorded_late": true`.
//!
//! Until then the attempt's intent has no outcome in the log, so the matcher
//! (`ops::outcomes`) calls it unknown: `smv status` lists it, and a retry of its idempotency
//! key or scheduled post is refused. A retry opens a group first, so it appends the kept
//! outcome before it decides, and answers from it (a published post is not posted again).
//!
//! **Only a key holder extends the trail.** The file sits beside the vault, where anyone who
//! can write the folder can add lines. So each line carries an HMAC-SHA-256 under the
//! vault's journal key (random, inside the encrypted vault: `Vault::journal_key`), over the
//! vault's id, the intent's seq, the target and the line's exact bytes:
//! `smv-outcome-v1 <mac hex> <json>`. A line whose MAC does not verify (written without the
//! key, or moved from another vault, intent or target), that names no intent, or whose
//! intent in the log is not the same post (actor, action, target, request) is never
//! appended and changes no outcome: it is moved to `<vault>.outcomes.rejected` (one JSON
//! line each: when, why, and the line as found), the command that finds it warns, and
//! `smv status` lists it. A torn line (a crash while it was written) is moved there too.
//!
//! The file is locked (flock) while a line is added and while it is replayed; replay skips
//! an outcome the log already holds (a replay interrupted after its commit and before the
//! file was emptied, or a valid line copied back in), and a second line for the same intent,
//! so each outcome is appended once.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hmac::{Mac, SimpleHmac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::audit::{AuditLog, Channel, Filter, Outcome, Record};
use crate::vault::Vault;
use crate::{Error, Result};

/// The first word of every line this version writes.
const VERSION: &str = "smv-outcome-v1";

/// What authenticates the journal's lines: the vault's id and its journal key.
pub(crate) struct Auth {
    vault_id: String,
    key: Zeroizing<[u8; 32]>,
}

impl Auth {
    pub(crate) fn from_vault(vault: &Vault) -> Result<Auth> {
        Ok(Auth {
            vault_id: vault.id()?,
            key: vault.journal_key()?,
        })
    }

    /// HMAC-SHA-256 over the vault's id, the intent's seq, the target and the line's bytes,
    /// each length-prefixed, under a label of this format.
    fn mac(&self, seq: u64, target: &str, json: &[u8]) -> SimpleHmac<sha2::Sha256> {
        let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(&self.key[..])
            .expect("HMAC takes any key length");
        mac.update(VERSION.as_bytes());
        for part in [self.vault_id.as_bytes(), target.as_bytes(), json] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&seq.to_be_bytes());
        mac
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth({}, [REDACTED])", self.vault_id)
    }
}

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

impl Line {
    fn intent_seq(&self) -> Option<u64> {
        self.details.get("intent_seq").and_then(Value::as_u64)
    }
}

/// A line refused, as `<vault>.outcomes.rejected` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedLine {
    /// When it was moved aside.
    pub at: String,
    /// Why it was refused.
    pub why: String,
    /// The line as it was found (at most [`KEEP_BYTES`] bytes of it).
    pub line: String,
}

/// How much of a refused line is kept: enough to see what it claimed.
const KEEP_BYTES: usize = 4096;

/// `<vault>.outcomes` → `<vault>.outcomes.rejected`.
pub(crate) fn rejected_file(path: &Path) -> PathBuf {
    crate::settings::sibling(path, "rejected")
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

/// The line for `record`, authenticated with `auth`.
fn seal(record: &Record, auth: &Auth) -> Result<Vec<u8>> {
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
    let seq = line
        .intent_seq()
        .ok_or_else(|| Error::Internal("a kept outcome names its intent".into()))?;
    let json = serde_json::to_vec(&line).map_err(|e| Error::Internal(e.to_string()))?;
    let mac = auth.mac(seq, &line.target, &json).finalize().into_bytes();
    let mut bytes = format!("{VERSION} {} ", crate::ids::hex(&mac)).into_bytes();
    bytes.extend_from_slice(&json);
    bytes.push(b'\n');
    Ok(bytes)
}

/// Keeps `record` (a post's outcome, naming its intent) for the next process to append,
/// authenticated with `auth`. Durable when it returns.
pub(crate) fn keep(path: &Path, record: &Record, auth: &Auth) -> Result<()> {
    let bytes = seal(record, auth)?;
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

/// What a replay did: the kept outcomes appended in the group (to forget once it commits),
/// and how many lines it refused and moved to the rejected file.
#[derive(Default)]
pub(crate) struct Replayed {
    pub replay: Option<Replay>,
    pub rejected: usize,
}

/// A line's MAC checked: the line, or why it is refused.
fn authenticate(text: &str, auth: &Auth) -> std::result::Result<Line, String> {
    let mut parts = text.splitn(3, ' ');
    let (Some(version), Some(mac), Some(json)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("it carries no MAC (written without the vault's key, or torn)".into());
    };
    if version != VERSION {
        return Err("it carries no MAC (written without the vault's key, or torn)".into());
    }
    let mac = crate::ids::unhex(mac).ok_or("its MAC is not hex")?;
    let line: Line = serde_json::from_str(json)
        .map_err(|_| "it is not a complete outcome (torn, or made up)".to_string())?;
    let seq = line
        .intent_seq()
        .ok_or("it names no intent (details.intent_seq)")?;
    auth.mac(seq, &line.target, json.as_bytes())
        .verify_slice(&mac)
        .map_err(|_| {
            "its MAC does not verify with this vault's journal key (written without the key, or moved from another vault, intent or target)".to_string()
        })?;
    Ok(line)
}

/// Appends, in `log`'s open group, the kept outcomes the log does not hold yet, once each.
/// Nothing when there is nothing kept (one `stat` on the post path). Lines that are not
/// authenticated are moved to the rejected file. Best effort: a file that cannot be read
/// now is left for a later process; it never stops the caller's own step.
pub(crate) fn replay(path: &Path, log: &mut AuditLog, auth: &Auth) -> Replayed {
    if !pending(path) {
        return Replayed::default();
    }
    let Some((file, text)) = (|| {
        let mut file = open(path, false).ok()?;
        lock(&file).ok()?;
        let mut bytes = Vec::new();
        file.rewind().ok()?;
        file.read_to_end(&mut bytes).ok()?;
        Some((file, String::from_utf8_lossy(&bytes).into_owned()))
    })() else {
        return Replayed::default();
    };
    let mut records = Vec::new();
    let mut valid = Vec::new();
    let mut refused = Vec::new();
    let mut seen = HashSet::new();
    for text in text.lines().filter(|l| !l.trim().is_empty()) {
        let l = match authenticate(text, auth) {
            Ok(l) => l,
            Err(why) => {
                refused.push((why, text));
                continue;
            }
        };
        let seq = l.intent_seq().unwrap_or_default();
        // The same outcome twice in the file (a valid line copied): appended once.
        if !seen.insert(seq) {
            continue;
        }
        match already_recorded(log, &l) {
            Ok(true) => continue,
            Ok(false) => {}
            // Cannot tell now: leave the whole file for a later process.
            Err(_) => return Replayed::default(),
        }
        match is_its_intent(log, seq, &l) {
            Ok(true) => {}
            Ok(false) => {
                refused.push((
                    format!("entry {seq} of the log is not the intent of this post"),
                    text,
                ));
                continue;
            }
            Err(_) => return Replayed::default(),
        }
        valid.push(text);
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
    let rejected = refused.len();
    if !refused.is_empty() {
        // Moved aside first (durably), then the journal keeps only what it may append:
        // a crash in between lists a refused line twice, never appends it.
        if set_aside(&rejected_file(path), &refused).is_err() {
            return Replayed::default();
        }
        let mut kept = Vec::new();
        for v in &valid {
            kept.extend_from_slice(v.as_bytes());
            kept.push(b'\n');
        }
        let rewritten = file
            .set_len(0)
            .and_then(|()| (&file).write_all(&kept))
            .and_then(|()| file.sync_all());
        if rewritten.is_err() {
            return Replayed {
                replay: None,
                rejected,
            };
        }
    }
    if !records.is_empty() && log.append_batch(&records).is_err() {
        // The group is broken now and fails with its own error; the file stays.
        return Replayed {
            replay: None,
            rejected,
        };
    }
    Replayed {
        replay: Some(Replay { file }),
        rejected,
    }
}

/// Appends the refused lines to the rejected file (0600, fsynced).
fn set_aside(path: &Path, refused: &[(String, &str)]) -> std::io::Result<()> {
    let at = crate::vault::now();
    let mut bytes = Vec::new();
    for (why, line) in refused {
        let mut end = line.len().min(KEEP_BYTES);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let r = RejectedLine {
            at: at.clone(),
            why: why.clone(),
            line: line[..end].to_string(),
        };
        bytes.extend(serde_json::to_vec(&r).map_err(std::io::Error::other)?);
        bytes.push(b'\n');
    }
    let mut f = open(path, true)?;
    lock(&f)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    crate::fsutil::sync_parent(path).map_err(|e| std::io::Error::other(e.to_string()))
}

/// The lines refused so far, as `<vault>.outcomes.rejected` holds them (oldest first). A
/// line of that file that smv did not write is listed as found.
pub(crate) fn rejected(path: &Path) -> Vec<RejectedLine> {
    let Ok(bytes) = std::fs::read(rejected_file(path)) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|_| {
                let mut end = l.len().min(KEEP_BYTES);
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                RejectedLine {
                    at: String::new(),
                    why: "not written by smv".into(),
                    line: l[..end].to_string(),
                }
            })
        })
        .collect()
}

/// Whether the log already holds an outcome for the line's intent.
fn already_recorded(log: &AuditLog, l: &Line) -> Result<bool> {
    let Some(seq) = l.intent_seq() else {
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

/// Whether entry `seq` of the log is the intent this outcome belongs to: the same actor,
/// action, target and request.
fn is_its_intent(log: &AuditLog, seq: u64, l: &Line) -> Result<bool> {
    Ok(log.entry(seq)?.is_some_and(|e| {
        e.outcome == Outcome::Intent
            && e.actor == l.actor
            && e.action == l.action
            && e.target == l.target
            && e.request_id == l.request_id
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

    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        log: AuditLog,
        auth: Auth,
        /// The seq of a post's intent in the log, with no outcome yet.
        intent: u64,
    }

    fn fixture() -> Fixture {
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
        let vault = crate::store::file::FileStore::new(settings.clone(), identity)
            .load_checked()
            .unwrap();
        let key = LogKey::from_vault(&vault).unwrap();
        let auth = Auth::from_vault(&vault).unwrap();
        let path = settings.pending_outcomes_file();
        let mut log = AuditLog::open_signing(&settings.audit_log(), key).unwrap();
        let intent = log
            .append(&Record {
                outcome: Outcome::Intent,
                details: Map::new(),
                ..record(0, Outcome::Intent)
            })
            .unwrap();
        Fixture {
            _dir: dir,
            path,
            log,
            auth,
            intent,
        }
    }

    fn record(intent_seq: u64, outcome: Outcome) -> Record {
        let mut details = Map::new();
        details.insert("intent_seq".into(), intent_seq.into());
        details.insert("post_id".into(), "p1".into());
        Record {
            actor: "alice".into(),
            channel: Channel::Local,
            action: "post".into(),
            target: "account:demo".into(),
            outcome,
            reason: None,
            request_id: "r1".into(),
            details,
        }
    }

    fn late(log: &AuditLog) -> Vec<Entry> {
        log.entries(&Filter::default())
            .unwrap()
            .into_iter()
            .filter(|e| e.details.get("recorded_late").is_some())
            .collect()
    }

    fn append_raw(path: &Path, bytes: &[u8]) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    /// Replays in one committed group; how many lines it refused.
    fn replay_committed(f: &mut Fixture) -> usize {
        f.log.begin().unwrap();
        let r = replay(&f.path, &mut f.log, &f.auth);
        f.log.commit().unwrap();
        if let Some(r) = r.replay {
            r.done();
        }
        r.rejected
    }

    /// A replay that committed but was interrupted before the file was emptied appends
    /// nothing twice; a torn line is moved aside, not appended.
    #[test]
    fn a_replay_is_idempotent_and_sets_torn_lines_aside() {
        let mut f = fixture();
        let rec = record(f.intent, Outcome::Ok);
        keep(&f.path, &rec, &f.auth).unwrap();
        // A crash while the next line was written.
        append_raw(&f.path, b"smv-outcome-v1 00ab {\"actor\":\"al");
        f.log.begin().unwrap();
        let replayed = replay(&f.path, &mut f.log, &f.auth);
        f.log.commit().unwrap();
        assert_eq!(replayed.rejected, 1);
        // Interrupted before `done`: the file still holds the (valid) line.
        drop(replayed);
        assert_eq!(late(&f.log).len(), 1);
        assert_eq!(replay_committed(&mut f), 0);
        assert_eq!(late(&f.log).len(), 1, "appended twice");
        assert_eq!(std::fs::metadata(&f.path).unwrap().len(), 0);
        // Nothing kept: no replay at all.
        f.log.begin().unwrap();
        assert!(replay(&f.path, &mut f.log, &f.auth).replay.is_none());
        f.log.commit().unwrap();
        let e = &late(&f.log)[0];
        assert_eq!(e.outcome, Outcome::Ok);
        assert_eq!(e.details["post_id"], "p1");
        let aside = rejected(&f.path);
        assert_eq!(aside.len(), 1);
        assert!(aside[0].line.starts_with("smv-outcome-v1 00ab"));
    }

    /// Attack: a keyless writer of the folder adds lines in the old (unauthenticated)
    /// format and in the new format with a made-up MAC. Nothing reaches the log; every
    /// line is listed as refused.
    #[test]
    fn lines_without_a_valid_mac_never_reach_the_log() {
        let mut f = fixture();
        let size = f.log.size().unwrap();
        let forged = serde_json::json!({
            "actor": "bob", "channel": "local", "action": "member.offboard",
            "target": "member:alice", "outcome": "ok", "reason": null,
            "request_id": "x", "details": {"intent_seq": f.intent}
        })
        .to_string();
        append_raw(&f.path, format!("{forged}\n").as_bytes());
        // A forged `failed` for a post that reached the network, in the new format.
        let mut failed = record(f.intent, Outcome::Failed);
        failed.reason = Some("made up".into());
        let sealed = String::from_utf8(seal(&failed, &f.auth).unwrap()).unwrap();
        let json = sealed.trim_end().splitn(3, ' ').nth(2).unwrap().to_string();
        append_raw(
            &f.path,
            format!("smv-outcome-v1 {} {json}\n", "00".repeat(32)).as_bytes(),
        );
        assert_eq!(replay_committed(&mut f), 2);
        assert_eq!(f.log.size().unwrap(), size, "a forged line was appended");
        assert_eq!(std::fs::metadata(&f.path).unwrap().len(), 0);
        let aside = rejected(&f.path);
        assert_eq!(aside.len(), 2);
        assert!(aside[0].why.contains("no MAC"), "{}", aside[0].why);
        assert!(aside[1].why.contains("does not verify"), "{}", aside[1].why);
        assert!(aside[0].line.contains("member.offboard"));
    }

    /// Attack: a valid line edited to name another intent or target, or made for another
    /// vault, is refused; a valid line copied twice, or copied back after it was appended,
    /// is appended once.
    #[test]
    fn a_moved_line_is_refused_and_a_replayed_line_appended_once() {
        let mut f = fixture();
        let good = seal(&record(f.intent, Outcome::Ok), &f.auth).unwrap();
        let good = String::from_utf8(good).unwrap();
        // Another intent: the seq edited (the MAC covers it).
        let other_intent = good.replace(
            &format!("\"intent_seq\":{}", f.intent),
            &format!("\"intent_seq\":{}", f.intent - 1),
        );
        assert_ne!(other_intent, good);
        // Another target.
        let other_target = good.replace("account:demo", "account:other");
        // Another vault: the same record sealed with another vault's id and key.
        let other_vault = Auth {
            vault_id: "another".into(),
            key: Zeroizing::new([7; 32]),
        };
        let foreign =
            String::from_utf8(seal(&record(f.intent, Outcome::Failed), &other_vault).unwrap())
                .unwrap();
        // This vault's key but another vault's id: bound to the id.
        let same_key_other_id = Auth {
            vault_id: "another".into(),
            key: f.auth.key.clone(),
        };
        let rebound = String::from_utf8(
            seal(&record(f.intent, Outcome::Failed), &same_key_other_id).unwrap(),
        )
        .unwrap();
        for l in [&other_intent, &other_target, &foreign, &rebound] {
            append_raw(&f.path, l.as_bytes());
        }
        append_raw(&f.path, good.as_bytes());
        append_raw(&f.path, good.as_bytes());
        assert_eq!(replay_committed(&mut f), 4);
        assert_eq!(late(&f.log).len(), 1);
        assert_eq!(late(&f.log)[0].outcome, Outcome::Ok);
        // Copied back in after it was appended: nothing new, nothing refused.
        append_raw(&f.path, good.as_bytes());
        assert_eq!(replay_committed(&mut f), 0);
        assert_eq!(late(&f.log).len(), 1);
        assert_eq!(rejected(&f.path).len(), 4);
    }

    /// A line authenticated with the key, but naming an entry that is not this post's
    /// intent (a key holder's mistake, or an entry of another kind), is refused.
    #[test]
    fn a_line_must_name_its_own_intent() {
        let mut f = fixture();
        // Entry 1 is `init`'s, not a post's intent.
        keep(&f.path, &record(1, Outcome::Ok), &f.auth).unwrap();
        let mut wrong_actor = record(f.intent, Outcome::Ok);
        wrong_actor.actor = "bob".into();
        keep(&f.path, &wrong_actor, &f.auth).unwrap();
        assert_eq!(replay_committed(&mut f), 2);
        assert!(late(&f.log).is_empty());
        assert!(rejected(&f.path)[0].why.contains("not the intent"));
    }

    /// The MAC binds the exact bytes: any edit of the JSON (an outcome, a post id) fails.
    #[test]
    fn any_edit_of_an_authenticated_line_fails() {
        let f = fixture();
        let good =
            String::from_utf8(seal(&record(f.intent, Outcome::Ok), &f.auth).unwrap()).unwrap();
        let good = good.trim_end();
        assert!(authenticate(good, &f.auth).is_ok());
        for edited in [
            good.replace("\"ok\"", "\"failed\""),
            good.replace("p1", "p2"),
            good.replace("alice", "bobby"),
            good.replacen("smv-outcome-v1", "smv-outcome-v2", 1),
        ] {
            assert!(authenticate(&edited, &f.auth).is_err(), "{edited}");
        }
    }
}
