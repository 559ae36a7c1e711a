//! The log's signing key and the checkpoints it signs.
//!
//! The Ed25519 key lives in the vault (custodians only); its public half is exported with
//! `smv audit pubkey` as a C2SP verifier key, so an auditor can verify without the vault.
//! The checkpoint after entry N is the C2SP tlog-checkpoint body (origin, N, root) signed as
//! a C2SP signed note. The log stores the base64 of a signature line (for the latest
//! checkpoint, and one every 1024 entries), from which the full note is rebuilt byte for byte.

use super::merkle::Hash;
use super::note::{self, Checkpoint, NoteSigner, NoteVerifier};
use crate::vault::Vault;
use crate::{Error, Result};

/// The log's origin line: names this log (and so the vault it belongs to) in checkpoints.
pub fn origin_for(vault_id: &str) -> String {
    format!("smv-audit/{vault_id}")
}

pub struct LogKey {
    signer: NoteSigner,
    origin: String,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl LogKey {
    pub fn from_vault(vault: &Vault) -> Result<LogKey> {
        let keys = vault.keys()?;
        Self::from_seed(&origin_for(&vault.id()?), &keys.audit_signing)
    }

    /// A key from its 32-byte Ed25519 seed, named after the log's origin.
    pub fn from_seed(origin: &str, seed: &[u8; 32]) -> Result<LogKey> {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let signer =
            NoteSigner::new(origin, key).map_err(|e| Error::Internal(format!("audit key: {e}")))?;
        Ok(LogKey {
            signer,
            origin: origin.to_string(),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The C2SP verifier key text (`name+hash+base64`), for `smv audit pubkey`.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    pub fn verifier(&self) -> Result<NoteVerifier> {
        NoteVerifier::from_vkey(&self.verifier_key())
            .map_err(|e| Error::Internal(format!("audit key: {e}")))
    }

    /// Signs the checkpoint (origin, size, root); returns the signature line's base64.
    pub fn sign(&self, size: u64, root: &Hash) -> Result<String> {
        let body = checkpoint_body(&self.origin, size, root);
        let note = self
            .signer
            .sign(&body)
            .map_err(|e| Error::Internal(format!("signing a checkpoint: {e}")))?;
        let line = note
            .trim_end_matches('\n')
            .rsplit('\n')
            .next()
            .unwrap_or_default();
        Ok(line.rsplit(' ').next().unwrap_or_default().to_string())
    }
}

pub fn checkpoint_body(origin: &str, size: u64, root: &Hash) -> String {
    Checkpoint {
        origin: origin.to_string(),
        size,
        root: *root,
        extensions: Vec::new(),
    }
    .to_body()
}

/// The full signed note of a stored checkpoint. `sig` holds one signature's base64, or
/// several separated by spaces (a key rotation's checkpoint is signed by the retiring key and
/// by the new one: one signature line each, as C2SP signed notes allow).
pub fn checkpoint_note(origin: &str, size: u64, root: &Hash, key_name: &str, sig: &str) -> String {
    let mut note = format!("{}\n", checkpoint_body(origin, size, root));
    for one in sig.split(' ').filter(|s| !s.is_empty()) {
        note.push_str(&format!("\u{2014} {key_name} {one}\n"));
    }
    note
}

/// Whether `sig` is a valid signature by `verifier` of the checkpoint (origin, size, root).
pub fn signature_holds(
    verifier: &NoteVerifier,
    origin: &str,
    size: u64,
    root: &Hash,
    sig: &str,
) -> bool {
    let text = checkpoint_note(origin, size, root, verifier.name(), sig);
    note::open(&text, std::slice::from_ref(verifier)).is_ok_and(|n| !n.verified_by.is_empty())
}

/// Reads the keys of a log given as text or as a file: one verifier key, or the lines of
/// `smv audit pubkey --all` (every key the log was signed with, oldest first, each with the
/// entry at which it was retired).
pub fn parse_chain(text_or_path: &str) -> Result<super::verify::KeyChain> {
    let text = match std::fs::read_to_string(text_or_path) {
        Ok(t) => t,
        Err(_) => text_or_path.to_string(),
    };
    super::verify::KeyChain::parse(&text).map_err(|why| {
        Error::invalid("audit public key", why).with_hint(
            "use the output of `smv audit pubkey --all` (or `smv audit pubkey`), as text or a file",
        )
    })
}

/// Reads a verifier key given as text or as a file holding it.
pub fn parse_verifier(text_or_path: &str) -> Result<NoteVerifier> {
    let text = match std::fs::read_to_string(text_or_path) {
        Ok(t) => t,
        Err(_) => text_or_path.to_string(),
    };
    NoteVerifier::from_vkey(text.trim()).map_err(|e| {
        Error::invalid("audit public key", e.to_string())
            .with_hint("use the output of `smv audit pubkey` (name+hash+key), as text or a file")
    })
}
