//! Verifying a file an auditor was given — a copy of the log or a JSON-lines export — with
//! only the log's public key. The file is the auditor's, not a store's: no vault, no identity.

use std::path::Path;

use super::note::NoteVerifier;
use super::store::AuditLog;
use super::verify::{Failure, Report};
use crate::{Error, Result};

/// Verifies a log file or an export with only the log's public key: no vault, no identity.
pub fn verify_file(
    log: &Path,
    verifier: &NoteVerifier,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report> {
    verify_file_chain(log, &super::KeyChain::single(verifier), external, progress)
}

/// Verifies a copy of the log (a SQLite file, e.g. `smv audit backup`'s) with the log's
/// keys `keys` (retired ones, then the current one), following the rotations the copy
/// records.
pub fn verify_copy_with_keys(
    log: &Path,
    keys: &[String],
    external: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report> {
    let copy = AuditLog::open_read_only(log)?;
    let chain = super::rotation::chain_of(keys, &copy)?;
    drop(copy);
    verify_file_chain(log, &chain, external, progress)
}

/// [`verify_file`] with every key of the log (`smv audit pubkey --all`), following its key
/// rotations. An export is checked against the current key (the last given).
pub fn verify_file_chain(
    log: &Path,
    chain: &super::KeyChain,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report> {
    let kind = file_kind(log)?;
    let tampered = |f: Failure| Error::Tampered {
        path: log.to_path_buf(),
        failure: f.to_string(),
    };
    match kind {
        FileKind::Sqlite { wal } => {
            let log_file = AuditLog::open_read_only(log)?;
            let total = log_file.size()?;
            let result =
                super::verify_log_chain(&log_file, chain, external, &mut |n| progress(n, total));
            match result {
                Ok(r) => Ok(r),
                // A copy of a log in WAL mode taken without its -wal file holds the entries
                // of the last SQLite checkpoint, and a state that may be ahead of or behind
                // them: it cannot be verified, which is not the same as tampered.
                Err(f) if wal && !sidecar(log, "-wal").exists() => Err(Error::Audit {
                    path: log.to_path_buf(),
                    why: format!(
                        "this copy looks incomplete, so it cannot be verified ({f}): the log is in WAL mode and its {}-wal file was not copied with it",
                        log.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    hint: Some(
                        "copy a running log with `smv audit backup FILE` (a consistent copy that needs no -wal file), or copy the file together with its -wal file while no smv runs".into(),
                    ),
                }),
                Err(f) => Err(tampered(f)),
            }
        }
        FileKind::Jsonl => {
            let file = std::fs::File::open(log).map_err(|e| Error::io("read", log, e))?;
            let mut reader = std::io::BufReader::new(file);
            super::export::verify_jsonl_chain(&mut reader, chain, external, &mut |n| progress(n, 0))
                .map_err(|r| match r {
                    super::export::Rejected::Failure(f) => tampered(f),
                    super::export::Rejected::Unanswerable { why, hint } => Error::Invalid {
                        what: "--checkpoint",
                        why,
                        hint: Some(hint),
                    },
                })
        }
    }
}

enum FileKind {
    /// An audit log file; `wal`: its header says it is in WAL mode.
    Sqlite { wal: bool },
    /// A JSON-lines export.
    Jsonl,
}

/// What `verify --log` was given: a log file, an export, or something it cannot verify (a
/// CSV export, which carries no proofs, or any other file) — a usage error, not tampering.
fn file_kind(path: &Path) -> Result<FileKind> {
    use std::io::Read;
    let mut head = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut head))
        .map_err(|e| Error::io("read", path, e))?;
    if head.starts_with(b"SQLite format 3\0") {
        // Bytes 18 and 19 are the read and write versions: 2 means WAL.
        return Ok(FileKind::Sqlite {
            wal: head.get(18) == Some(&2),
        });
    }
    if head.starts_with(b"{\"format\":") {
        return Ok(FileKind::Jsonl);
    }
    let what = if head.starts_with(b"seq,time,") {
        "it is a CSV export, which carries no proofs"
    } else {
        "it is neither an smv audit log nor a JSON-lines export"
    };
    Err(Error::Invalid {
        what: "--log",
        why: format!("{} cannot be verified: {what}", path.display()),
        hint: Some(
            "verify the log file (`smv audit backup FILE` makes a copy) or a JSON-lines export (`smv audit export --format jsonl`)".into(),
        ),
    })
}

fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push(suffix);
    p.into()
}

/// Verifies `file` (a log copy or a JSON-lines export) with the log's key, then reads the
/// entries that verified, and nothing after them (a live log appended to since). A file
/// that does not verify is refused (exit 10), never read.
pub fn load_verified(
    file: &Path,
    chain: &super::KeyChain,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Report, std::collections::BTreeMap<u64, super::Entry>)> {
    let mut entries = std::collections::BTreeMap::new();
    if let FileKind::Sqlite { .. } = file_kind(file)? {
        let report = verify_file_chain(file, chain, None, progress)?;
        let log = AuditLog::open_read_only(file)?;
        let last = report.first + report.entries.saturating_sub(1);
        log.each_after(report.first.saturating_sub(1), last, &[], &mut |e| {
            entries.insert(e.seq, e);
            Ok(())
        })?;
        return Ok((report, entries));
    }
    // An export: read once, and what is verified is exactly what is shown.
    let bytes = std::fs::read(file).map_err(|e| Error::io("read", file, e))?;
    let report = super::export::verify_jsonl_chain(
        &mut std::io::Cursor::new(&bytes),
        chain,
        None,
        &mut |n| progress(n, 0),
    )
    .map_err(|r| match r {
        super::export::Rejected::Failure(f) => Error::Tampered {
            path: file.to_path_buf(),
            failure: f.to_string(),
        },
        super::export::Rejected::Unanswerable { why, hint } => Error::Invalid {
            what: "--log",
            why,
            hint: Some(hint),
        },
    })?;
    for e in super::export::entries(&bytes)? {
        entries.insert(e.seq, e);
    }
    Ok((report, entries))
}
