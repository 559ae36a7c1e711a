//! `smv audit …`: reading, proving, verifying and exporting the audit log.
//!
//! Each operation takes what it needs from the vault (the permission, the log's key) in a
//! short look, and reads the log after it: a long read (verifying a million entries) does
//! not hold the vault, which a server's posts need meanwhile.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::Ctx;
use crate::access::Action;
use crate::audit::{self, AuditLog, Entry, Filter, LogKey, Report, merkle};
use crate::secret::Secret;
use crate::{Error, Result, ids};

pub fn audit_log(ctx: &mut Ctx, filter: &Filter) -> Result<Vec<Entry>> {
    let path = ctx.settings.audit_log();
    ctx.read("audit.log", "audit", |tx| {
        tx.require(Action::ReadAudit, "read the audit log")
    })?;
    AuditLog::open_read_only(&path)?.entries(filter)
}

#[derive(Debug, Serialize)]
pub struct Shown {
    pub entry: Entry,
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
    let path = ctx.settings.audit_log();
    let key = ctx.read("audit.show", &format!("audit:{seq}"), |tx| {
        tx.require(Action::ReadAudit, "read the audit log")?;
        LogKey::from_vault(tx.vault)
    })?;
    let log = AuditLog::open_read_only(&path)?;
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

/// The latest signed checkpoint, to keep outside (a ticket, a git repository).
pub fn audit_checkpoint(ctx: &mut Ctx) -> Result<String> {
    let path = ctx.settings.audit_log();
    let key = ctx.read("audit.checkpoint", "audit", |tx| {
        tx.require(Action::ReadAudit, "read the audit log")?;
        LogKey::from_vault(tx.vault)
    })?;
    let log = AuditLog::open_read_only(&path)?;
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
pub fn audit_verify(
    ctx: &mut Ctx,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report> {
    let path = ctx.settings.audit_log();
    let verifier = ctx.read("audit.verify", "audit", |tx| {
        tx.require(Action::ReadAudit, "verify the audit log")?;
        LogKey::from_vault(tx.vault)?.verifier()
    })?;
    let log = AuditLog::open_read_only(&path)?;
    let total = log.size()?;
    let result = audit::verify_log(&log, &verifier, external, &mut |n| progress(n, total));
    let (outcome, reason) = match &result {
        Ok(_) => (audit::Outcome::Ok, None),
        Err(f) => (audit::Outcome::Failed, Some(f.to_string())),
    };
    ctx.note("audit.verify", "audit", outcome, reason);
    result.map_err(|f| Error::Tampered {
        path: path.clone(),
        failure: f.to_string(),
    })
}

/// Verifies a log file or an export with only its public key: no vault, no identity.
pub fn audit_verify_offline(
    log: &Path,
    pubkey: &str,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report> {
    let verifier = audit::key::parse_verifier(pubkey)?;
    let mut head = [0u8; 16];
    let is_sqlite = std::fs::File::open(log)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && head == *b"SQLite format 3\0";
    let result = if is_sqlite {
        let log_file = AuditLog::open_read_only(log)?;
        let total = log_file.size()?;
        audit::verify_log(&log_file, &verifier, external, &mut |n| progress(n, total))
    } else {
        let file = std::fs::File::open(log).map_err(|e| Error::io("read", log, e))?;
        let mut reader = std::io::BufReader::new(file);
        audit::export::verify_jsonl(&mut reader, &verifier, external, &mut |n| progress(n, 0))
    };
    result.map_err(|f| Error::Tampered {
        path: log.to_path_buf(),
        failure: f.to_string(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// Writes an export; the export itself is audited (who took a copy of what).
pub fn audit_export(
    ctx: &mut Ctx,
    format: ExportFormat,
    filter: &Filter,
    out: &mut dyn Write,
) -> Result<u64> {
    let path = ctx.settings.audit_log();
    let key = ctx.read("audit.export", "audit", |tx| {
        tx.require(Action::ReadAudit, "export the audit log")?;
        LogKey::from_vault(tx.vault)
    })?;
    let log = AuditLog::open_read_only(&path)?;
    let n = match format {
        ExportFormat::Jsonl => audit::export::write_jsonl(&log, &key.verifier_key(), filter, out)?,
        ExportFormat::Csv => audit::export::write_csv(&log, filter, out)?,
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
