//! `smv restore`: an admin makes a copy of the vault the vault again, on the record.
//!
//! Every other command refuses a vault older than its audit log, a log older than its vault,
//! or either older than this machine has seen (`store::fresh`). When that is deliberate — the
//! disk died and last night's backup is all there is, or the vault and its log were both put
//! back — an admin says so here, with a reason. The copy must be this vault (same id and
//! audit key), the log beside it must verify, and the admin must be an admin *in the copy*.
//! The report lists every vault change the log records after the copy was made (they are
//! undone by the restore: an offboarding, a revoked token…) with the commands that redo the
//! ones that took access away. Then the copy is written as the next generation of a new
//! restore epoch, recorded in the log like every write, and this machine's pin follows it;
//! other machines follow on their next command, since the log records the new epoch.

use std::path::Path;

use serde::Serialize;
use serde_json::Map;

use super::Ctx;
use crate::access::Action;
use crate::audit::{Entry, Outcome, saves};
use crate::vault::Vault;
use crate::{Error, Result};

pub struct RestoreOptions<'a> {
    /// A backup copy of the vault file to put in place (None: the file at the vault's path
    /// is the one to keep, e.g. after the vault and its log were both put back).
    pub from: Option<&'a Path>,
    pub reason: &'a str,
    pub dry_run: bool,
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
    /// Commands that redo the undone changes that took access away.
    pub follow_up: Vec<String>,
    pub dry_run: bool,
}

pub fn restore(ctx: &mut Ctx, opts: RestoreOptions) -> Result<RestoreReport> {
    if opts.reason.trim().is_empty() {
        return Err(Error::invalid("--reason", "it is empty")
            .with_hint("say why the vault is restored: it is recorded in the audit log"));
    }
    let store = ctx.store.clone();
    let source = store.restore_source(opts.from)?;
    if opts.from.is_none() && source.current_is_fresh {
        return Err(Error::Conflict(
            format!(
                "the vault {} and its audit log are current: there is nothing to restore",
                store.describe()
            ),
            Some("to put a backup copy in place, name it with --from FILE".into()),
        ));
    }
    let vault = &source.vault;
    // A refusal is recorded like any other (with the copy's key: the store refuses the
    // state in place).
    let actor = match ctx.resolve(vault, "vault.restore", saves::TARGET)? {
        Ok(m) => m,
        Err(refusal) => {
            store.restore_refused(&source, &refusal.record);
            return Err(refusal.error);
        }
    };
    let tx = super::Tx {
        vault,
        actor: &actor,
        details: Map::new(),
    };
    if let Err(e) = tx.require(Action::RestoreVault, "restore the vault") {
        let record = ctx.failure(&actor.name, "vault.restore", saves::TARGET, &e, Map::new());
        store.restore_refused(&source, &record);
        return Err(e);
    }

    let restored_generation = vault.generation()?;
    let written = &source.writes;
    let (undone, undone_complete) = undone_since(vault, written)?;
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
        follow_up: follow_up(&undone),
        undone,
        undone_complete,
        log_entries: source.log_entries,
        log_entries_missing: source.seen_entries.saturating_sub(source.log_entries),
        dry_run: opts.dry_run,
    };
    if opts.dry_run {
        return Ok(report);
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

/// The vault writes the log records after `vault` (the copy) was written, oldest first, and
/// whether the copy itself is among the records (else there may be older changes too).
fn undone_since(vault: &Vault, newest_first: &[Entry]) -> Result<(Vec<Undone>, bool)> {
    let (generation, sha) = (vault.generation()?, vault.file_sha256().unwrap_or_default());
    let mut undone = Vec::new();
    let mut found = false;
    for e in newest_first {
        if e.action != saves::ACTION || e.outcome != Outcome::Ok {
            continue;
        }
        let g = e.details.get("generation").and_then(|v| v.as_u64());
        let s = e.details.get("sha256").and_then(|v| v.as_str());
        if generation.is_some() && g == generation && s == Some(sha) {
            found = true;
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
    Ok((undone, found))
}

/// What to run again after the restore, for the undone changes that took access away.
fn follow_up(undone: &[Undone]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in undone {
        let name = u.target.split_once(':').map_or("", |(_, n)| n);
        let line = match u.action.as_str() {
            "member.offboard" | "member.remove" => format!("smv offboard {name}"),
            "token.revoke" => format!("smv token revoke {name}"),
            "revoke" => format!(
                "smv access   (a grant on {name} was revoked at {}: revoke it again)",
                u.time
            ),
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
