//! Verification: recompute the tree from the entries and check it against the signed
//! checkpoints, and optionally against a checkpoint kept elsewhere.
//!
//! Every entry is parsed, checked for canonical form, sequence and index columns, hashed,
//! and the tree root after it compared with the root recorded beside it: an edit to an
//! entry, or to any recorded hash, is named at the first entry it touches. Signatures are
//! checked on every retained checkpoint (one per 1024 entries) and on the latest one; since
//! each root commits to every entry before it, the latest signature alone covers the whole
//! log, and a forger who recomputed the recorded hashes is caught there, and located to
//! within 1024 entries by the retained ones. Ed25519 verification is the expensive step, so
//! this is what keeps verification at hashing speed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::entry::{Entry, Outcome};
use super::key::{checkpoint_note, signature_holds};
use super::merkle::{Frontier, Hash};
use super::note::{self, Checkpoint, NoteVerifier};
use super::store::{RETAIN, SignedCheckpoint, Stored};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The first entry found bad (None when the problem is not one entry's, e.g. a checkpoint).
    pub seq: Option<u64>,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "entry {seq}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

fn fail<T>(seq: Option<u64>, reason: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        seq,
        reason: reason.into(),
    })
}

/// The action of the entry that records a rotation of the log's signing key (and of the
/// vault's fingerprint key): written by the store, never by a caller's record.
pub const KEY_ROTATED: &str = "audit.key-rotated";

/// One key the log was signed with: its verifier, and the entry at which it was retired
/// (the rotation entry, whose checkpoint it signs with its successor). A key signs no
/// checkpoint after that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Era {
    pub key: NoteVerifier,
    pub until: Option<u64>,
}

/// Every key of a log, oldest first (what `smv audit pubkey --all` prints). A chain may
/// start later than the log's first key only for a range export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChain {
    pub eras: Vec<Era>,
}

impl KeyChain {
    /// One key, with no known retirement (a log never rotated, or a verifier that knows
    /// only this key).
    pub fn single(key: &NoteVerifier) -> KeyChain {
        KeyChain {
            eras: vec![Era {
                key: key.clone(),
                until: None,
            }],
        }
    }

    /// Reads `smv audit pubkey --all`'s lines (`<verifier key> era=N until=SEQ`, until
    /// absent for the current key), or one bare verifier key. Blank lines and `#` comments
    /// are skipped.
    pub fn parse(text: &str) -> Result<KeyChain, String> {
        let mut eras = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let vkey = words.next().unwrap_or_default();
            let key = NoteVerifier::from_vkey(vkey).map_err(|e| e.to_string())?;
            let mut until = None;
            for w in words {
                match w.split_once('=') {
                    Some(("until", n)) => {
                        until = Some(
                            n.parse::<u64>()
                                .map_err(|_| format!("`{w}` is not an entry number"))?,
                        )
                    }
                    Some(("era", _)) => {}
                    _ => return Err(format!("`{w}` is not understood (era=N or until=SEQ)")),
                }
            }
            eras.push(Era { key, until });
        }
        if eras.is_empty() {
            return Err("no key was given".into());
        }
        for pair in eras.windows(2) {
            if pair[0].until.is_none() {
                return Err("only the last key may be without `until=` (the current key)".into());
            }
            if let (Some(a), Some(b)) = (pair[0].until, pair[1].until)
                && b <= a
            {
                return Err("the keys are not in order (oldest first)".into());
            }
        }
        Ok(KeyChain { eras })
    }

    pub fn current(&self) -> &NoteVerifier {
        &self.eras[self.eras.len() - 1].key
    }

    /// The era in force when entry `seq` is appended (a rotation entry belongs to the era it
    /// retires).
    pub fn era_at(&self, seq: u64) -> usize {
        self.eras
            .iter()
            .position(|e| e.until.is_none_or(|u| seq <= u))
            .unwrap_or(self.eras.len() - 1)
    }

    /// The eras whose key may sign the checkpoint of `size` entries (two at a rotation).
    pub fn signers_at(&self, size: u64) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, e) in self.eras.iter().enumerate() {
            let from = if i == 0 {
                0
            } else {
                self.eras[i - 1].until.unwrap_or(u64::MAX)
            };
            if size >= from && e.until.is_none_or(|u| size <= u) {
                out.push(i);
            }
        }
        out
    }

    pub fn verifiers(&self) -> Vec<NoteVerifier> {
        self.eras.iter().map(|e| e.key.clone()).collect()
    }
}

/// A checkpoint kept outside the log, parsed and signature-checked.
#[derive(Debug, Clone)]
pub struct External {
    pub size: u64,
    pub root: Hash,
    /// Which keys of the chain signed it (indexes into [`KeyChain::eras`]).
    pub signed_by: Vec<usize>,
}

/// Parses a signed checkpoint note and checks it is this log's, signed by its key.
pub fn external_checkpoint(
    text: &str,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<External, Failure> {
    external_checkpoint_chain(text, &KeyChain::single(verifier), origin)
}

/// [`external_checkpoint`] for a log whose key was rotated: the checkpoint must be signed by
/// a key of the chain that was in force at its size (a key retired before it was signed
/// cannot vouch for it).
pub fn external_checkpoint_chain(
    text: &str,
    chain: &KeyChain,
    origin: &str,
) -> Result<External, Failure> {
    let opened = note::open(text, &chain.verifiers()).map_err(|e| Failure {
        seq: None,
        reason: format!("the checkpoint is not signed by this log's key ({e})"),
    })?;
    let signed_by: Vec<usize> = chain
        .eras
        .iter()
        .enumerate()
        .filter(|(_, e)| note::open(text, std::slice::from_ref(&e.key)).is_ok())
        .map(|(i, _)| i)
        .collect();
    let cp = Checkpoint::parse(&opened.body).map_err(|e| Failure {
        seq: None,
        reason: format!("the checkpoint is malformed ({e})"),
    })?;
    if cp.origin != origin {
        return fail(
            None,
            format!("the checkpoint is for another log ({})", cp.origin),
        );
    }
    let allowed = chain.signers_at(cp.size);
    if !signed_by.iter().any(|i| allowed.contains(i)) {
        return fail(
            None,
            format!(
                "the checkpoint (size {}) is signed by a key that was retired before it: a former key holder signed it",
                cp.size
            ),
        );
    }
    let _ = opened;
    Ok(External {
        size: cp.size,
        root: cp.root,
        signed_by,
    })
}

/// What a verification shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proves {
    /// A log file: every entry from the first, none missing, up to its signed checkpoint.
    Log,
    /// A range export: every entry of the range, none missing between its first and last,
    /// and that the range is part of the signed log.
    Range,
    /// A selection (filtered export): each entry shown is in the signed log. It cannot show
    /// that no other entry matches the filter: an entry left out goes unnoticed.
    Inclusion,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub origin: String,
    /// What the verification shows (see [`Proves`]).
    pub proves: Proves,
    /// The sequence number of the first entry checked (1 for a whole log).
    pub first: u64,
    pub entries: u64,
    pub signatures_checked: u64,
    /// Intents with no outcome: a crash between the two (not tampering).
    pub incomplete: Vec<u64>,
    /// The signed checkpoint everything was checked against.
    pub checkpoint: Option<String>,
    /// The size of the external checkpoint the log was shown to extend.
    pub extends_checkpoint: Option<u64>,
    /// A selection export: the filter its header names, which every entry was checked to
    /// match (an export made before the header named it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<super::store::Filter>,
}

pub struct Verifier {
    chain: KeyChain,
    /// The era in force (an index into the chain).
    era: usize,
    origin: String,
    external: Option<External>,
    frontier: Frontier,
    first: u64,
    /// Retained signed checkpoints not yet reached.
    retained: BTreeMap<u64, SignedCheckpoint>,
    /// Whether every RETAIN-th size must have a retained checkpoint (a whole log file).
    require_retained: bool,
    signatures: u64,
    /// Open intents, by (request id, action, target): one request may hold several
    /// actions (a post and the session refresh it needed), each with its own outcome.
    pending: BTreeMap<(String, String, String), u64>,
    external_seen: bool,
}

impl Verifier {
    /// `start` is the tree's right edge before the first entry to come (empty for a whole
    /// log); `retained` the signed checkpoints along the way. `whole_file`: the entries come
    /// from a log file, which keeps a signed checkpoint every [`RETAIN`] entries (an export
    /// carries none: its one signed checkpoint is in its header).
    pub fn new(
        verifier: &NoteVerifier,
        origin: &str,
        start: Frontier,
        retained: BTreeMap<u64, SignedCheckpoint>,
        external: Option<External>,
        whole_file: bool,
    ) -> Verifier {
        Self::with_chain(
            KeyChain::single(verifier),
            origin,
            start,
            retained,
            external,
            whole_file,
        )
    }

    /// A verifier that follows the log's key rotations along `chain` (oldest key first).
    pub fn with_chain(
        chain: KeyChain,
        origin: &str,
        start: Frontier,
        retained: BTreeMap<u64, SignedCheckpoint>,
        external: Option<External>,
        whole_file: bool,
    ) -> Verifier {
        Verifier {
            era: chain.era_at(start.size() + 1),
            chain,
            origin: origin.to_string(),
            external,
            first: start.size() + 1,
            require_retained: whole_file && start.size() == 0,
            frontier: start,
            retained,
            signatures: 0,
            pending: BTreeMap::new(),
            external_seen: false,
        }
    }

    pub fn push(&mut self, row: Stored) -> Result<(), Failure> {
        let expected = self.frontier.size() + 1;
        let seq = expected;
        if row.seq != expected {
            return if row.seq > expected {
                fail(
                    Some(expected),
                    format!(
                        "missing or out of place (the next entry found is {})",
                        row.seq
                    ),
                )
            } else {
                fail(
                    Some(row.seq),
                    format!("out of order (expected entry {expected})"),
                )
            };
        }
        let entry: Entry = serde_json::from_slice(&row.body).map_err(|e| Failure {
            seq: Some(seq),
            reason: format!("unreadable ({e})"),
        })?;
        if entry.to_bytes() != row.body {
            return fail(Some(seq), "not in canonical form (its bytes were edited)");
        }
        if entry.seq != seq {
            return fail(
                Some(seq),
                format!(
                    "says it is entry {} (entries were moved or swapped)",
                    entry.seq
                ),
            );
        }
        if let Some(cols) = &row.columns {
            let from_body = [
                entry.time.clone(),
                entry.actor.clone(),
                entry.action.clone(),
                entry.target.clone(),
                entry.outcome.as_str().to_string(),
                entry.request_id.clone(),
            ];
            if *cols != from_body {
                return fail(Some(seq), "its index columns disagree with its content");
            }
        }
        let leaf = super::merkle::leaf_hash(&row.body);
        if leaf != row.leaf {
            return fail(
                Some(seq),
                "changed: its content does not match its recorded hash",
            );
        }
        self.frontier.push(leaf);
        let root = self.frontier.root();
        if root != row.root {
            return fail(
                Some(seq),
                "changed: the tree no longer has the root recorded after it",
            );
        }
        let key = (
            entry.request_id.clone(),
            entry.action.clone(),
            entry.target.clone(),
        );
        match entry.outcome {
            Outcome::Intent => {
                self.pending.insert(key, seq);
            }
            _ => {
                self.pending.remove(&key);
            }
        }
        let era_before = self.era;
        if entry.action == KEY_ROTATED {
            self.rotation(seq, &entry, &root)?;
        } else if let Some(u) = self.chain.eras[self.era].until
            && seq >= u
        {
            return fail(
                Some(seq),
                format!(
                    "the log goes on under a key retired at entry {u} with no rotation there: a former key holder wrote it"
                ),
            );
        }
        match self.retained.remove(&seq) {
            Some(cp) => self.check_signed(&cp, &root)?,
            None if self.require_retained
                && seq.is_multiple_of(RETAIN)
                && entry.action != KEY_ROTATED =>
            {
                return fail(
                    None,
                    format!("the signed checkpoint at size {seq} is missing"),
                );
            }
            None => {}
        }
        if let Some(ext) = &self.external
            && ext.size == seq
        {
            self.external_seen = true;
            if !ext
                .signed_by
                .iter()
                .any(|i| *i == era_before || *i == self.era)
            {
                return fail(
                    None,
                    format!(
                        "the given checkpoint (size {seq}) is signed by a key that was not in force then (a retired key)"
                    ),
                );
            }
            if ext.root != root {
                return fail(
                    None,
                    format!(
                        "the log does not extend the given checkpoint: its first {seq} entries were rewritten"
                    ),
                );
            }
        }
        Ok(())
    }

    /// A key rotation at entry `seq`: it names the next key of the chain, at the entry the
    /// chain says the current key was retired; in a log file its checkpoint is kept and
    /// signed by both keys (the retiring key vouches for its successor). From here on only
    /// the new key signs.
    fn rotation(&mut self, seq: u64, entry: &Entry, root: &Hash) -> Result<(), Failure> {
        let named = entry
            .details
            .get("key")
            .and_then(|v| v.as_str())
            .filter(|_| entry.outcome == Outcome::Ok)
            .ok_or_else(|| Failure {
                seq: Some(seq),
                reason: "a key rotation entry that names no new key".into(),
            })?;
        let new = NoteVerifier::from_vkey(named).map_err(|e| Failure {
            seq: Some(seq),
            reason: format!("a key rotation entry whose new key is malformed ({e})"),
        })?;
        if let Some(u) = self.chain.eras[self.era].until
            && u != seq
        {
            return fail(
                Some(seq),
                format!(
                    "a key rotation where none was made (the key in force was retired at entry {u})"
                ),
            );
        }
        let Some(next) = self.chain.eras.get(self.era + 1) else {
            return fail(
                Some(seq),
                format!(
                    "the log rotates to a key that was not given ({}): verify with every key of `smv audit pubkey --all`",
                    new.vkey()
                ),
            );
        };
        if next.key != new {
            return fail(
                Some(seq),
                "the log rotates to another key than the one its keys say came next (a forged rotation)",
            );
        }
        if self.require_retained {
            let Some(cp) = self.retained.remove(&seq) else {
                return fail(
                    Some(seq),
                    "the key rotation's checkpoint, signed by the retiring key and the new one, is missing",
                );
            };
            self.signatures += 2;
            let old = &self.chain.eras[self.era].key;
            if cp.root != *root
                || !signature_holds(old, &self.origin, seq, root, &cp.sig)
                || !signature_holds(&new, &self.origin, seq, root, &cp.sig)
            {
                return fail(
                    Some(seq),
                    "the key rotation's checkpoint is not signed by both the retiring key and the new one (a forged rotation)",
                );
            }
        }
        self.era += 1;
        Ok(())
    }

    /// The era in force after the last entry pushed.
    pub fn era(&self) -> usize {
        self.era
    }

    fn check_signed(&mut self, cp: &SignedCheckpoint, root: &Hash) -> Result<(), Failure> {
        self.signatures += 1;
        let key = &self.chain.eras[self.era].key;
        if cp.root != *root || !signature_holds(key, &self.origin, cp.size, root, &cp.sig) {
            let from = cp.size.saturating_sub(RETAIN) + 1;
            return fail(
                None,
                format!(
                    "the signed checkpoint at size {} does not verify: an entry between {from} and {} was changed and the recorded hashes recomputed to hide it, or the log was signed by another key",
                    cp.size, cp.size
                ),
            );
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Ends a whole-log verification against the latest signed checkpoint (None: empty log).
    pub fn finish(mut self, latest: Option<SignedCheckpoint>) -> Result<Report, Failure> {
        if let Some((size, _)) = self.retained.iter().next() {
            return fail(
                None,
                format!(
                    "the signed checkpoint at size {size} refers to entries that are not there (entries were cut off)"
                ),
            );
        }
        let checkpoint = match latest {
            Some(cp) => {
                if cp.size != self.frontier.size() {
                    return fail(
                        None,
                        format!(
                            "the latest checkpoint counts {} entries, but {} are stored (entries were cut off or added)",
                            cp.size,
                            self.frontier.size()
                        ),
                    );
                }
                let root = self.frontier.root();
                let key = self.chain.eras[self.era].key.clone();
                // A log that ends before a later key's rotation is an older copy: its
                // entries past the retiring key's last one were refused in `push`.
                if cp.root != root || !signature_holds(&key, &self.origin, cp.size, &root, &cp.sig)
                {
                    self.signatures += 1;
                    let retired = self.chain.eras[..self.era]
                        .iter()
                        .find(|e| signature_holds(&e.key, &self.origin, cp.size, &root, &cp.sig));
                    if let Some(until) = retired.and_then(|e| e.until) {
                        return fail(
                            None,
                            format!(
                                "the latest checkpoint is signed by a key retired at entry {until}: a former key holder signed it"
                            ),
                        );
                    }
                    return fail(
                        None,
                        "the latest checkpoint does not verify: the log was changed, or signed by another key",
                    );
                }
                self.signatures += 1;
                Some(checkpoint_note(
                    &self.origin,
                    cp.size,
                    &root,
                    key.name(),
                    &cp.sig,
                ))
            }
            None if self.frontier.size() > 0 => {
                return fail(None, "the log has entries but no signed checkpoint");
            }
            None => None,
        };
        self.report(checkpoint)
    }

    /// The report, once the caller has authenticated the end of the range its own way.
    pub fn report(self, checkpoint: Option<String>) -> Result<Report, Failure> {
        if let Some(ext) = &self.external
            && !self.external_seen
            && ext.size != 0
        {
            if ext.size < self.first {
                return fail(
                    None,
                    format!(
                        "the given checkpoint (size {}) is older than the first entry checked",
                        ext.size
                    ),
                );
            }
            return fail(
                None,
                format!(
                    "the log is shorter than the given checkpoint: it has {} entries, the checkpoint {} (entries were cut off)",
                    self.frontier.size(),
                    ext.size
                ),
            );
        }
        Ok(Report {
            origin: self.origin,
            proves: if self.require_retained {
                Proves::Log
            } else {
                Proves::Range
            },
            first: self.first,
            entries: self.frontier.size() + 1 - self.first,
            // The external checkpoint's own signature was checked when it was parsed.
            signatures_checked: self.signatures + u64::from(self.external.is_some()),
            incomplete: self.pending.into_values().collect(),
            checkpoint,
            extends_checkpoint: self.external.map(|e| e.size),
            selection: None,
        })
    }
}
