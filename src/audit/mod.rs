//! The audit log: an append-only file beside the vault.
//!
//! It is a SQLite database in WAL mode with `synchronous = FULL`, so that an append is
//! durable when [`AuditLog::append`] returns, concurrent smv processes serialise their
//! appends, and an append never rewrites the vault (its cost does not grow with history).
//! Each entry is stored as the exact JSON bytes that describe it (`body`), plus a few
//! columns copied out of it for filtering. Entries are the leaves of an RFC 6962 Merkle tree
//! ([`merkle`]); the checkpoint after each entry is signed with the vault's Ed25519 audit key
//! as a C2SP signed note ([`note`], [`key`]). docs/audit-log.md describes the design.

mod entry;
pub mod export;
pub mod key;
mod ledger;
pub mod merkle;
pub mod note;
mod offline;
pub mod posts;
pub mod rotation;
pub mod saves;
mod store;
pub mod verify;

pub use entry::{Channel, Entry, Outcome, Record};
pub use key::LogKey;
pub use ledger::Ledger;
pub use offline::{load_verified, verify_copy_with_keys, verify_file, verify_file_chain};
pub use saves::{VaultFile, VaultWrites};
pub use store::{
    AuditLog, Filter, SignedCheckpoint, Stored, encode_frontier as store_frontier_bytes,
};
pub use verify::{Era, Failure, KEY_ROTATED, KeyChain, Proves, Report};

/// The tree root of a stored right edge (the `state` row's `frontier`), for tools and tests
/// that inspect a log file.
pub fn store_frontier_root(size: u64, frontier: &[u8]) -> Option<merkle::Hash> {
    store::decode_frontier(size, frontier).map(|f| f.root())
}

/// Verifies a whole log file: every entry, every retained and the latest signed
/// checkpoint, the stored tree state, and optionally a checkpoint kept elsewhere.
/// `progress` is called with the number of entries read.
pub fn verify_log(
    log: &dyn Ledger,
    verifier: &note::NoteVerifier,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<Report, Failure> {
    verify_log_chain(log, &verify::KeyChain::single(verifier), external, progress)
}

/// [`verify_log`] for a log whose key may have been rotated: `chain` holds every key it was
/// signed with, oldest first (`smv audit pubkey --all`), and the verification follows the
/// rotations the log records (see [`verify::Verifier::with_chain`]).
pub fn verify_log_chain(
    log: &dyn Ledger,
    chain: &verify::KeyChain,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<Report, Failure> {
    let broken = |e: crate::Error| Failure {
        seq: None,
        reason: e.to_string(),
    };
    let external = external
        .map(|text| verify::external_checkpoint_chain(text, chain, log.origin()))
        .transpose()?;
    let retained = log.retained().map_err(broken)?;
    let (size, frontier, sig) = log.state().map_err(broken)?;
    let mut v = verify::Verifier::with_chain(
        chain.clone(),
        log.origin(),
        merkle::Frontier::new(),
        retained,
        external,
        true,
    );
    let mut failure = None;
    let mut n = 0;
    let read = log.for_each_stored(&mut |row| {
        if let Err(f) = v.push(row) {
            failure = Some(f);
            return Err(crate::Error::Internal(
                "stopped at the first failure".into(),
            ));
        }
        n += 1;
        progress(n);
        Ok(())
    });
    if let Some(f) = failure {
        return Err(f);
    }
    read.map_err(broken)?;
    if size == v.size() && frontier != store::encode_frontier(v.frontier()) {
        return Err(Failure {
            seq: None,
            reason: "the log's stored tree state does not match its entries".into(),
        });
    }
    let latest = (size > 0).then(|| store::SignedCheckpoint {
        size,
        root: v.root(),
        sig,
    });
    v.finish(latest)
}
