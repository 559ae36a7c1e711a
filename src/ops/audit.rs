//! `smv audit …`: reading, proving, verifying and exporting the audit log.
//!
//! Each operation takes what it needs from the vault (the permission, the log's key) in a
//! short look, and reads the log after it: a long read (verifying a million entries) does
//! not hold the vault, which a server's posts need meanwhile.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use serde::Serialize;

use super::Ctx;
use crate::access::Action;
use crate::audit::{self, Entry, Filter, LogKey, Report, merkle};
use crate::secret::Secret;
use crate::{Error, Result, ids};

/// A time as `--since`/`--until` take it (RFC 3339, or a date in UTC), in the log's format
/// (UTC, microseconds), which sorts as text.
pub fn normalise_time(what: &'static str, s: &str) -> Result<String> {
    use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    } else {
        return Err(Error::invalid(what, "it is not a time")
            .with_hint("use RFC 3339 (2026-11-22T09:00:00+01:00) or a date (2026-11-22)"));
    };
    Ok(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// A filter as the operations take it, whoever built it (the CLI, or a proxy's query
/// string): its times checked and in the log's format. A time that is none is bad input
/// (exit 2, HTTP 400), not a filter that silently matches everything or nothing.
fn checked(filter: &Filter) -> Result<Filter> {
    Ok(Filter {
        since: filter
            .since
            .as_deref()
            .map(|s| normalise_time("since", s))
            .transpose()?,
        until: filter
            .until
            .as_deref()
            .map(|s| normalise_time("until", s))
            .transpose()?,
        ..filter.clone()
    })
}

pub fn audit_log(ctx: &mut Ctx, filter: &Filter) -> Result<Vec<Entry>> {
    let filter = checked(filter)?;
    ctx.read("audit.log", "audit", |tx| {
        tx.require(Action::ReadAudit, "read the audit log")
    })?;
    ctx.store.reader()?.entries(&filter)
}

#[derive(Debug, Serialize)]
pub struct Shown {
    /// The entry, readable (parsed from `leaf_bytes`).
    pub entry: Entry,
    /// The exact bytes that were hashed, base64 (standard alphabet, padded): the entry's
    /// canonical JSON as stored. `entry` is the same data, readable; this is what an auditor
    /// recomputes the leaf from with generic tools, because a JSON printer may write a
    /// character as an escape (smv writes U+2028, U+2029, DEL and the bidirectional controls
    /// as `\uXXXX` so that a terminal shows them) and so not give back the hashed bytes:
    /// `leaf = SHA-256(0x00 || base64-decode(leaf_bytes))` (RFC 6962).
    pub leaf_bytes: String,
    /// The RFC 6962 leaf hash of the entry, hex.
    pub leaf: String,
    /// The inclusion proof (hex hashes) of the entry in the tree of `size` entries.
    pub proof: Vec<String>,
    pub size: u64,
    /// The signed checkpoint of that tree, which the proof leads to.
    pub checkpoint: String,
    pub proof_verified: bool,
}

pub fn audit_show(ctx: &mut Ctx, seq: u64) -> Result<Shown> {
    let key = ctx.read("audit.show", &format!("audit:{seq}"), |tx| {
        tx.require(Action::ReadAudit, "read the audit log")?;
        LogKey::from_vault(tx.vault)
    })?;
    let log = ctx.store.reader()?;
    let row = log
        .stored(seq)?
        .ok_or_else(|| Error::not_found("audit entry", seq.to_string()))?;
    let last = log
        .latest()?
        .ok_or_else(|| Error::not_found("audit entry", seq.to_string()))?;
    let leaves = log.leaves(last.size)?;
    let proof = merkle::inclusion_proof(&leaves, seq - 1, last.size)
        .ok_or_else(|| Error::Internal("inclusion proof".into()))?;
    let proof_verified = merkle::verify_inclusion(
        seq - 1,
        last.size,
        &merkle::leaf_hash(&row.body),
        &proof,
        &last.root,
    ) && audit::key::signature_holds(
        &key.verifier()?,
        log.origin(),
        last.size,
        &last.root,
        &last.sig,
    );
    Ok(Shown {
        entry: serde_json::from_slice(&row.body).map_err(|e| {
            Error::Internal(format!(
                "entry {seq} is unreadable ({e}); run `smv audit verify`"
            ))
        })?,
        leaf_bytes: base64::engine::general_purpose::STANDARD.encode(&row.body),
        leaf: ids::hex(&row.leaf),
        proof: proof.iter().map(|h| ids::hex(h)).collect(),
        size: last.size,
        checkpoint: audit::key::checkpoint_note(
            log.origin(),
            last.size,
            &last.root,
            key.origin(),
            &last.sig,
        ),
        proof_verified,
    })
}

/// The log's public key (C2SP verifier key).
pub fn audit_pubkey(ctx: &mut Ctx) -> Result<String> {
    ctx.read("audit.pubkey", "audit", |tx| {
        tx.require(Action::ReadAudit, "read the audit log")?;
        Ok(LogKey::from_vault(tx.vault)?.verifier_key())
    })
}

/// One key the log was signed with, as `smv audit pubkey --all` lists them.
#[derive(Debug, Serialize)]
pub struct KeyEra {
    /// 0 for the vault's first key; one more at each rotation.
    pub era: u64,
    /// The C2SP verifier key.
    pub key: String,
    /// The first checkpoint size this key signs.
    pub from: u64,
    /// The entry at which it was retired (the rotation entry, whose checkpoint it signs
    /// with its successor): it signs nothing after. None for the current key.
    pub until: Option<u64>,
    /// When, and by what change, it was retired.
    pub retired_at: Option<String>,
    pub retired_by: Option<String>,
}

/// Every key of the log, oldest first, with its era (for `smv audit pubkey --all`: what an
/// offline verifier of a log with rotations needs).
pub fn audit_pubkeys(ctx: &mut Ctx) -> Result<Vec<KeyEra>> {
    let (mut keys, current) = ctx.read("audit.pubkey", "audit", |tx| {
        tx.require(Action::ReadAudit, "read the audit log")?;
        Ok((
            tx.vault.retired_audit_keys()?,
            LogKey::from_vault(tx.vault)?.verifier_key(),
        ))
    })?;
    keys.push(current);
    let rotations = audit::rotation::rotations(&*ctx.store.reader()?)?;
    let n = keys.len();
    let mut out = Vec::with_capacity(n);
    let mut from = 1;
    for (i, key) in keys.into_iter().enumerate() {
        let rotation = (i + 1 < n).then(|| rotations.get(i)).flatten();
        out.push(KeyEra {
            era: i as u64,
            key,
            from,
            until: rotation.map(|r| r.seq),
            retired_at: rotation.map(|r| r.time.clone()),
            retired_by: rotation.map(|r| r.cause.clone()),
        });
        if let Some(r) = rotation {
            from = r.seq;
        }
    }
    Ok(out)
}

/// What `smv audit rotate-key` did.
#[derive(Debug, Serialize)]
pub struct KeyRotated {
    pub era: u64,
    pub key: String,
    pub previous_key: String,
}

/// Rotates the log's signing key and the vault's fingerprint key now (admins who suspect
/// a key was exposed); a custodian's removal does the same by itself.
pub fn audit_rotate_key(ctx: &mut Ctx, reason: &str) -> Result<KeyRotated> {
    if reason.trim().is_empty() {
        return Err(Error::invalid("--reason", "it is empty")
            .with_hint("say why the key is rotated: it goes in the audit log"));
    }
    ctx.change("audit.rotate-key", "audit-key", |tx| {
        tx.require(Action::ManageMembers, "rotate the audit key")?;
        let previous_key = LogKey::from_vault(tx.vault)?.verifier_key();
        let era = audit::rotation::rotate(tx.vault)?;
        let key = LogKey::from_vault(tx.vault)?.verifier_key();
        tx.detail("reason", reason);
        tx.detail("era", era);
        Ok(KeyRotated {
            era,
            key,
            previous_key,
        })
    })
}

/// The latest signed checkpoint, to keep outside (a ticket, a git repository).
pub fn audit_checkpoint(ctx: &mut Ctx) -> Result<String> {
    let key = ctx.read("audit.checkpoint", "audit", |tx| {
        tx.require(Action::ReadAudit, "read the audit log")?;
        LogKey::from_vault(tx.vault)
    })?;
    let log = ctx.store.reader()?;
    let last = log
        .latest()?
        .ok_or_else(|| Error::not_found("audit entry", "any"))?;
    Ok(audit::key::checkpoint_note(
        log.origin(),
        last.size,
        &last.root,
        key.origin(),
        &last.sig,
    ))
}

/// Verifies this vault's log with the vault's key; the result is itself audited.
///
/// The vault is read checked only to be this machine's vault, not for freshness: the log
/// is what is being verified, so its faults are named here (exit 10) rather than refused as
/// an unusable file. Besides the given checkpoint, the log must extend the largest one this
/// machine has seen. Then the vault must be the latest the log records (else exit 7).
pub fn audit_verify(
    ctx: &mut Ctx,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report> {
    let store = ctx.store.clone();
    let decided = store.view_unchecked(|vault| {
        let actor = match ctx.resolve(vault, "audit.verify", "audit")? {
            Ok(m) => m,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let tx = super::Tx {
            vault,
            actor: &actor,
            details: serde_json::Map::new(),
        };
        Ok(
            match tx.require(Action::ReadAudit, "verify the audit log") {
                Ok(()) => Ok(()),
                Err(e) => Err(super::Refusal {
                    record: ctx.failure(
                        &actor.name,
                        "audit.verify",
                        "audit",
                        &e,
                        Default::default(),
                    ),
                    error: e,
                }),
            },
        )
    })?;
    if let Err(refusal) = decided {
        ctx.best_effort_append(refusal.record);
        return Err(refusal.error);
    }
    let result = store.verify_log(external, progress)?;
    let (outcome, reason) = match &result {
        Ok(_) => (audit::Outcome::Ok, None),
        Err(f) => (audit::Outcome::Failed, Some(f.to_string())),
    };
    let report = result.map_err(|f| Error::Tampered {
        path: store.describe_log().into(),
        failure: f.to_string(),
    });
    // The log verifies: now the vault must be the one it records.
    let report = report.and_then(|r| store.view(|_| Ok(r)));
    ctx.take_notices();
    ctx.note("audit.verify", "audit", outcome, reason);
    report
}

/// Verifies a log file or an export with only its public key: no vault, no identity.
pub fn audit_verify_offline(
    log: &Path,
    pubkey: &str,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report> {
    let chain = audit::key::parse_chain(pubkey)?;
    audit::verify_file_chain(log, &chain, external, progress)
}

/// Copies the audit log into `out` as one consistent, self-contained file (SQLite's
/// `VACUUM INTO`: a snapshot at one commit, with no -wal file to forget), then verifies the
/// copy. Copying the live file with `cp` can miss the entries still in its -wal file.
pub fn audit_backup(ctx: &mut Ctx, out: &Path) -> Result<Report> {
    let (mut keys, current) = ctx.read("audit.backup", "audit", |tx| {
        tx.require(Action::ReadAudit, "copy the audit log")?;
        Ok((
            tx.vault.retired_audit_keys()?,
            LogKey::from_vault(tx.vault)?.verifier_key(),
        ))
    })?;
    keys.push(current);
    ctx.store.copy_log(out)?;
    // The copy is checked with every key of the log, following its rotations.
    let report = audit::verify_copy_with_keys(out, &keys, None, &mut |_, _| {})?;
    ctx.note("audit.backup", "audit", audit::Outcome::Ok, None);
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// Writes an export; the export itself is audited (who took a copy of what). `since`: a
/// signed checkpoint kept elsewhere, for the consistency proof in a JSON-lines header.
pub fn audit_export(
    ctx: &mut Ctx,
    format: ExportFormat,
    filter: &Filter,
    since: Option<&str>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let filter = &checked(filter)?;
    let key = ctx.read("audit.export", "audit", |tx| {
        tx.require(Action::ReadAudit, "export the audit log")?;
        LogKey::from_vault(tx.vault)
    })?;
    let log = ctx.store.reader()?;
    let n = match format {
        ExportFormat::Jsonl => {
            let since = since
                .map(|text| {
                    audit::verify::external_checkpoint(text, &key.verifier()?, log.origin())
                        .map_err(|f| Error::invalid("--checkpoint", f.to_string()))
                })
                .transpose()?;
            audit::export::write_jsonl(
                &*log,
                &key.verifier_key(),
                filter,
                since.as_ref(),
                out,
                progress,
            )?
        }
        ExportFormat::Csv if since.is_some() => {
            return Err(
                Error::invalid("--checkpoint", "a CSV export carries no proofs")
                    .with_hint("use --format jsonl"),
            );
        }
        ExportFormat::Csv => audit::export::write_csv(&*log, filter, out, progress)?,
    };
    ctx.note("audit.export", "audit", audit::Outcome::Ok, None);
    Ok(n)
}

/// The keyed HMAC of a value, as the log records secrets: to search the log for one.
pub fn audit_hash(ctx: &mut Ctx, value: &Secret) -> Result<String> {
    ctx.read("audit.hash", "audit", |tx| {
        tx.require(Action::ReadAudit, "read the audit log")?;
        // The canonical form, as `account add` stores it: the hash the log recorded.
        tx.vault
            .fingerprint(value.canonical()?.expose_to_provider())
    })
}
