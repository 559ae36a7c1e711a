//! `smv restore`: an admin makes a copy of the vault the vault again, on the record.
//!
//! Every other command refuses a vault older than its audit log, a log older than its vault,
//! or either older than this machine has seen (`store::fresh`). When that is deliberate — the
//! disk died and last night's backup is all there is, or the vault and its log were both put
//! back — an admin says so here, with a reason. The copy must be this vault (same id and
//! audit key) and the log beside it must verify.
//!
//! **Authority comes from the live state, never from the copy** (issue 23): when the vault
//! in place loads and checks as the latest, the restorer must be an admin *there*; a key
//! that does not open it is refused. When there is no usable vault in place (the disk died,
//! or an older copy was put in place), the removals the log records after the copy —
//! offboardings, member removals (and with them custodians' keys), revoked grants, revoked
//! tokens — are replayed on the copy first (`replay`), and the restorer must be an admin of
//! the copy *as replayed*. The replay is part of the restored vault in every case, so a
//! restore never brings back what the log says was taken away; CI tokens given a new secret
//! since the copy are revoked and listed for re-issue. When the log itself is older than
//! this machine has seen (both files put back), removals in the lost part cannot be known:
//! the restore names the missing entries and every member and custodian the copy brings
//! back, and proceeds only with `--accept-lost-history`, recorded in the log.
//!
//! The report lists every vault change the log records after the copy was made (undone by
//! the restore unless replayed) and what was replayed. Then the copy is written as the next
//! generation of a new restore epoch, recorded in the log like every write, and this
//! machine's pin follows it; other machines follow on their next command, since the log
//! records the new epoch.

use std::path::Path;

use serde::Serialize;
use serde_json::Map;

use super::Ctx;
pub use super::replay::Replayed;
use crate::access::Action;
use crate::audit::{Entry, Outcome, saves};
use crate::store::Live;
use crate::vault::Vault;
use crate::{Error, Result};

pub struct RestoreOptions<'a> {
    /// A backup copy of the vault file to put in place (None: the file at the vault's path
    /// is the one to keep, e.g. after the vault and its log were both put back).
    pub from: Option<&'a Path>,
    pub reason: &'a str,
    pub dry_run: bool,
    /// Restore although the log is older than this machine has seen (see [`LostHistory`]).
    pub accept_lost_history: bool,
}

/// Whose vault decided that the restorer may restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// The vault in place, the latest.
    LiveVault,
    /// No usable vault in place: the copy, after the removals since it were replayed.
    ReplayedCopy,
}

/// The log is older than this machine has seen: what the restore cannot know.
#[derive(Debug, Clone, Serialize)]
pub struct LostHistory {
    /// Entries in the log now, and entries this machine had seen.
    pub log_entries: u64,
    pub seen_entries: u64,
    /// The entries that are gone, for people.
    pub missing: String,
    /// Every active member of the restored vault, and the custodians among them: removals
    /// recorded in the lost entries cannot be replayed, so any of them may be one.
    pub members: Vec<String>,
    pub custodians: Vec<String>,
    /// `--accept-lost-history` was given.
    pub accepted: bool,
}

/// A vault change the log records after the restored copy was made: undone by the restore.
#[derive(Debug, Clone, Serialize)]
pub struct Undone {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub target: String,
}

#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub vault: String,
    /// The backup file restored from (None: the file already at the vault's path).
    pub from: Option<String>,
    /// The restored copy's generation (None: written before smv kept generations).
    pub restored_generation: Option<u64>,
    /// The generation and restore epoch it is written as.
    pub generation: u64,
    pub epoch: u64,
    /// Vault changes recorded after the copy was made, oldest first.
    pub undone: Vec<Undone>,
    /// False when the log does not record the copy itself (older than the log's records):
    /// `undone` then lists every change the log records, and there may be older ones.
    pub undone_complete: bool,
    /// Entries in the audit log.
    pub log_entries: u64,
    /// Entries this machine had seen in the log that it no longer has (the log was put back
    /// too): they are gone, and only a checkpoint or export kept elsewhere still shows them.
    pub log_entries_missing: u64,
    /// Whose vault decided that the restorer may restore.
    pub authority: Authority,
    /// The removals the log records after the copy, made again in the restored vault (in
    /// log order), and the ones skipped because access was given back later.
    pub replayed: Vec<Replayed>,
    /// CI tokens revoked by the replay (they had a new secret since the copy, or their
    /// owner left): the commands that make their replacements.
    pub reissue: Vec<String>,
    /// Set when the log is older than this machine has seen.
    pub lost_history: Option<LostHistory>,
    /// Commands that redo the undone changes that the replay does not redo.
    pub follow_up: Vec<String>,
    pub dry_run: bool,
}

impl RestoreReport {
    /// The refusal of a restore over lost history without `--accept-lost-history`.
    pub fn lost_history_refusal(&self) -> Option<Error> {
        let lost = self.lost_history.as_ref().filter(|l| !l.accepted)?;
        Some(Error::Conflict(
            format!(
                "the audit log of {} has {} entries, but this machine has seen {}: {}. Removals recorded there (offboardings, revocations) cannot be replayed, so the copy brings back every member it holds: {} (custodians: {})",
                self.vault,
                lost.log_entries,
                lost.seen_entries,
                lost.missing,
                list(&lost.members),
                list(&lost.custodians),
            ),
            Some("find a newer copy of the audit log (it holds the missing entries) and put it back; if there is none, check every member listed, and run the restore again with --accept-lost-history (recorded in the log), then offboard whoever should not be back".into()),
        ))
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

pub fn restore(ctx: &mut Ctx, opts: RestoreOptions) -> Result<RestoreReport> {
    if opts.reason.trim().is_empty() {
        return Err(Error::invalid("--reason", "it is empty")
            .with_hint("say why the vault is restored: it is recorded in the audit log"));
    }
    let store = ctx.store.clone();
    let source = store.restore_source(opts.from)?;
    if opts.from.is_none() && matches!(source.live, Live::Current(_)) {
        return Err(Error::Conflict(
            format!(
                "the vault {} and its audit log are current: there is nothing to restore",
                store.describe()
            ),
            Some("to put a backup copy in place, name it with --from FILE".into()),
        ));
    }
    // The copy's place in the log, and the removals recorded since, made again in the copy
    // before anything is decided on it.
    let (undone, undone_complete, copy_seq) = undone_since(&source.vault, &source.writes)?;
    let replay = super::replay::removals(&source.vault, &*source.log, copy_seq)?;

    // Who may restore: the live vault decides when there is one; a key that does not open
    // it is refused; otherwise the copy as replayed decides. (A refusal is recorded with
    // the copy's key: the store refuses the state in place.)
    let authority = match &source.live {
        Live::Current(_) => Authority::LiveVault,
        Live::NotCurrent(Error::NotCustodian {
            recipient,
            source_name,
            path,
        }) => {
            let error = Error::NotCustodian {
                recipient: recipient.clone(),
                source_name: source_name.clone(),
                path: path.clone(),
            }
            .with_hint(
                "while a vault is in place, only its custodians may restore over it: a copy cannot vouch for whoever holds it. A custodian of the vault in place runs the restore (docs/runbooks.md, \"Restoring from a backup\")",
            );
            let recipient = recipient.clone();
            let record = ctx.record(
                &format!("key:{recipient}"),
                "vault.restore",
                saves::TARGET,
                Outcome::Denied,
                Some("the key does not open the vault in place".into()),
                Map::new(),
            );
            store.restore_refused(&source, &record);
            return Err(error);
        }
        Live::Absent | Live::NotCurrent(_) => Authority::ReplayedCopy,
    };
    let actor = {
        let decides = match &source.live {
            Live::Current(v) => v,
            _ => &source.vault,
        };
        match ctx.resolve(decides, "vault.restore", saves::TARGET)? {
            Ok(m) => m,
            Err(refusal) => {
                store.restore_refused(&source, &refusal.record);
                return Err(refusal.error);
            }
        }
    };
    let decides = match &source.live {
        Live::Current(v) => v,
        _ => &source.vault,
    };
    let tx = super::Tx {
        vault: decides,
        actor: &actor,
        details: Map::new(),
    };
    if let Err(e) = tx.require(Action::RestoreVault, "restore the vault") {
        let record = ctx.failure(&actor.name, "vault.restore", saves::TARGET, &e, Map::new());
        store.restore_refused(&source, &record);
        return Err(e);
    }
    let vault = &source.vault;
    if vault.custodians()?.is_empty() {
        let e = Error::Conflict(
            "the copy, with the removals the audit log records since it made again, has no custodian left: nobody could open it".into(),
            Some("restore a newer copy (`smv restore --from FILE`)".into()),
        );
        let record = ctx.failure(&actor.name, "vault.restore", saves::TARGET, &e, Map::new());
        store.restore_refused(&source, &record);
        return Err(e);
    }
    let lost_history = if source.log_extends_seen {
        None
    } else {
        let members = vault.members()?;
        let missing = if source.log_entries < source.seen_entries {
            format!(
                "entries {} to {} are gone (at least)",
                source.log_entries + 1,
                source.seen_entries
            )
        } else {
            format!(
                "its first {} entries are not the ones this machine saw",
                source.seen_entries
            )
        };
        Some(LostHistory {
            log_entries: source.log_entries,
            seen_entries: source.seen_entries,
            missing,
            custodians: members
                .iter()
                .filter(|m| m.is_custodian())
                .map(|m| m.name.clone())
                .collect(),
            members: members
                .into_iter()
                .filter(|m| m.active)
                .map(|m| m.name)
                .collect(),
            accepted: opts.accept_lost_history,
        })
    };

    let restored_generation = vault.generation()?;
    let written = &source.writes;
    let max_generation = written
        .iter()
        .filter_map(|e| e.details.get("generation")?.as_u64())
        .max()
        .unwrap_or(0);
    let max_epoch = written
        .iter()
        .filter_map(|e| e.details.get("epoch")?.as_u64())
        .max()
        .unwrap_or(0);
    let generation = max_generation.max(restored_generation.unwrap_or(0)) + 1;
    let epoch = max_epoch.max(vault.epoch()?).max(source.seen_epoch) + 1;
    let mut report = RestoreReport {
        vault: store.describe(),
        from: opts.from.map(|p| p.display().to_string()),
        restored_generation,
        generation,
        epoch,
        follow_up: follow_up(&undone, &replay.reissue),
        undone,
        undone_complete,
        log_entries: source.log_entries,
        log_entries_missing: source.seen_entries.saturating_sub(source.log_entries),
        authority,
        replayed: replay.replayed,
        reissue: replay.reissue,
        lost_history,
        dry_run: opts.dry_run,
    };
    if opts.dry_run {
        return Ok(report);
    }
    if let Some(e) = report.lost_history_refusal() {
        // Not appended: nothing was decided against anyone, and an entry would only make
        // the put-back log diverge further from what this machine saw.
        return Err(e);
    }

    let mut details = Map::new();
    details.insert("reason".into(), opts.reason.into());
    details.insert("epoch".into(), epoch.into());
    if let Some(from) = opts.from {
        details.insert(
            "from".into(),
            from.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
                .into(),
        );
    }
    details.insert(
        "restored_generation".into(),
        restored_generation.map_or(serde_json::Value::Null, Into::into),
    );
    details.insert(
        "restored_sha256".into(),
        vault.file_sha256().unwrap_or_default().into(),
    );
    details.insert("undone".into(), report.undone.len().into());
    details.insert(
        "log_entries_missing".into(),
        report.log_entries_missing.into(),
    );
    details.insert(
        "authority".into(),
        serde_json::to_value(report.authority).unwrap_or_default(),
    );
    let replayed: Vec<serde_json::Value> = report
        .replayed
        .iter()
        .filter(|r| r.skipped.is_none() && !r.removed.is_empty())
        .map(|r| serde_json::json!({"seq": r.seq, "action": r.action, "target": r.target}))
        .collect();
    details.insert("replayed".into(), replayed.into());
    if !report.reissue.is_empty() {
        details.insert("tokens_to_reissue".into(), report.reissue.len().into());
    }
    if let Some(lost) = &report.lost_history {
        details.insert("accept_lost_history".into(), true.into());
        details.insert("lost_entries".into(), lost.missing.clone().into());
        details.insert("brought_back_members".into(), lost.members.clone().into());
        details.insert(
            "brought_back_custodians".into(),
            lost.custodians.clone().into(),
        );
    }
    let intent = ctx.record(
        &actor.name,
        "vault.restore",
        saves::TARGET,
        Outcome::Intent,
        None,
        details,
    );
    let mut warnings = Vec::new();
    report.log_entries =
        store.restore_install(source, &intent, generation, epoch, &mut warnings)?;
    ctx.warnings.extend(warnings);
    Ok(report)
}

/// The vault writes the log records after `vault` (the copy) was written, oldest first,
/// whether the copy itself is among the records (else there may be older changes too), and
/// the sequence number of the copy's write (0 when it is not recorded: everything is after).
fn undone_since(vault: &Vault, newest_first: &[Entry]) -> Result<(Vec<Undone>, bool, u64)> {
    let (generation, sha) = (vault.generation()?, vault.file_sha256().unwrap_or_default());
    let mut undone = Vec::new();
    let mut found = None;
    for e in newest_first {
        if e.action != saves::ACTION || e.outcome != Outcome::Ok {
            continue;
        }
        let g = e.details.get("generation").and_then(|v| v.as_u64());
        let s = e.details.get("sha256").and_then(|v| v.as_str());
        if generation.is_some() && g == generation && s == Some(sha) {
            found = Some(e.seq);
            break;
        }
        let text = |k: &str| {
            e.details
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        undone.push(Undone {
            seq: e.seq,
            time: e.time.clone(),
            actor: e.actor.clone(),
            action: text("for_action"),
            target: text("for_target"),
        });
    }
    undone.reverse();
    Ok((undone, found.is_some(), found.unwrap_or(0)))
}

/// What to run again after the restore, for the undone changes that took access away and
/// that the replay does not make again (offboardings, member removals, revocations and
/// token revocations it does), and the replacements of the CI tokens it revoked.
fn follow_up(undone: &[Undone], reissue: &[String]) -> Vec<String> {
    let mut out: Vec<String> = reissue.to_vec();
    for u in undone {
        let name = u.target.split_once(':').map_or("", |(_, n)| n);
        let line = match u.action.as_str() {
            "account.rotate" => format!(
                "smv rotate {name}   (the restored vault holds the secret from before its rotation)"
            ),
            "account.remove" => format!("smv account remove {name}"),
            "freeze" => format!(
                "smv status   (a freeze of {} was set at {}: set it again if it still holds)",
                u.target, u.time
            ),
            _ => continue,
        };
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}
