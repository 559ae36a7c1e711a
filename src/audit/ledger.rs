//! What the operations layer, verification and exports need of an audit log, as a trait.
//!
//! Today one implementation exists, [`AuditLog`] (SQLite, on disk or in memory); the store
//! boundary (`crate::store`) hands `ops` a `&mut dyn Ledger` inside a group commit and a
//! `Box<dyn Ledger>` for long reads, so that a later store (PostgreSQL, ROADMAP 6) can keep the
//! log in its own tables without `ops`, `verify_log` or the exports changing. What is hashed,
//! signed and verified is defined by the entries' canonical bytes and the Merkle tree, not by
//! any implementation's storage.

use std::collections::{BTreeMap, HashMap};

use super::entry::{Entry, Outcome, Record};
use super::merkle::Hash;
use super::store::{AuditLog, Filter, SignedCheckpoint, Stored};
use crate::Result;

pub trait Ledger {
    /// The log's origin line (`smv-audit/<vault id>`).
    fn origin(&self) -> &str;

    // --- appending (inside the store's group: durable when the group commits) ---

    /// Appends entries in order; their sequence numbers.
    fn append_batch(&mut self, records: &[Record]) -> Result<Vec<u64>>;

    /// Appends entries of which one may be a key rotation to `next` (see
    /// [`AuditLog::append_rotating`]).
    fn append_rotating(
        &mut self,
        records: &[Record],
        next: Option<super::LogKey>,
    ) -> Result<Vec<u64>>;

    /// The verifier key this log signs with now (None when it is only read).
    fn signing_key(&self) -> Option<String>;

    fn append(&mut self, record: &Record) -> Result<u64> {
        Ok(self.append_batch(std::slice::from_ref(record))?[0])
    }

    // --- reading with the filters the commands need ---

    fn size(&self) -> Result<u64>;
    /// Entries of `action` with `outcome` about `target` at `since` or later (the rate guard).
    fn count_since(&self, target: &str, action: &str, outcome: Outcome, since: &str)
    -> Result<u64>;
    /// Entries matching the filter, oldest first.
    fn entries(&self, filter: &Filter) -> Result<Vec<Entry>>;
    /// Entries matching the filter whose canonical JSON contains `needle`.
    fn entries_mentioning(&self, filter: &Filter, needle: &[u8]) -> Result<Vec<Entry>>;
    /// When each account's secret was last used successfully, by account name.
    fn last_uses(&self) -> Result<HashMap<String, String>>;
    /// Each actor's latest entry time.
    fn last_actions(&self) -> Result<HashMap<String, String>>;
    /// When each API token (by accessor) was last used.
    fn token_last_uses(&self) -> Result<HashMap<String, String>>;
    /// The (target, request id) of every `post` request with an attempt that ended
    /// `unknown` or has no outcome (the matcher of `ops::outcomes`).
    fn unsettled_post_requests(&self) -> Result<Vec<(String, String)>>;

    // --- proofs and verification ---

    /// One entry, parsed.
    fn entry(&self, seq: u64) -> Result<Option<Entry>>;
    /// The entries after `after` up to `upto`, of these actions (all when empty), in order.
    fn each_after(
        &self,
        after: u64,
        upto: u64,
        actions: &[&str],
        f: &mut dyn FnMut(Entry) -> Result<()>,
    ) -> Result<()>;

    /// Stored rows matching the filter, oldest first.
    fn select(&self, filter: &Filter) -> Result<Vec<Stored>>;
    /// Every row in storage order (streamed).
    fn for_each_stored(&self, f: &mut dyn FnMut(Stored) -> Result<()>) -> Result<()>;
    /// Leaf hashes of entries 1..=size.
    fn leaves(&self, size: u64) -> Result<Vec<Hash>>;
    fn stored(&self, seq: u64) -> Result<Option<Stored>>;
    /// The latest signed checkpoint (None for an empty log).
    fn latest(&self) -> Result<Option<SignedCheckpoint>>;
    /// The stored tree state: size, right edge and the latest signature.
    fn state(&self) -> Result<(u64, Vec<u8>, String)>;
    /// The checkpoints kept for good, by size.
    fn retained(&self) -> Result<BTreeMap<u64, SignedCheckpoint>>;
    /// The tree root recorded after entry `size`.
    fn root_at(&self, size: u64) -> Result<Option<Hash>>;
}

impl Ledger for AuditLog {
    fn origin(&self) -> &str {
        AuditLog::origin(self)
    }
    fn append_rotating(
        &mut self,
        records: &[Record],
        next: Option<super::LogKey>,
    ) -> Result<Vec<u64>> {
        AuditLog::append_rotating(self, records, next)
    }
    fn signing_key(&self) -> Option<String> {
        AuditLog::signing_key(self)
    }
    fn append_batch(&mut self, records: &[Record]) -> Result<Vec<u64>> {
        AuditLog::append_batch(self, records)
    }
    fn size(&self) -> Result<u64> {
        AuditLog::size(self)
    }
    fn count_since(
        &self,
        target: &str,
        action: &str,
        outcome: Outcome,
        since: &str,
    ) -> Result<u64> {
        AuditLog::count_since(self, target, action, outcome, since)
    }
    fn entries(&self, filter: &Filter) -> Result<Vec<Entry>> {
        AuditLog::entries(self, filter)
    }
    fn entries_mentioning(&self, filter: &Filter, needle: &[u8]) -> Result<Vec<Entry>> {
        AuditLog::entries_mentioning(self, filter, needle)
    }
    fn last_uses(&self) -> Result<HashMap<String, String>> {
        AuditLog::last_uses(self)
    }
    fn last_actions(&self) -> Result<HashMap<String, String>> {
        AuditLog::last_actions(self)
    }
    fn token_last_uses(&self) -> Result<HashMap<String, String>> {
        AuditLog::token_last_uses(self)
    }
    fn unsettled_post_requests(&self) -> Result<Vec<(String, String)>> {
        AuditLog::unsettled_post_requests(self)
    }
    fn entry(&self, seq: u64) -> Result<Option<Entry>> {
        AuditLog::entry(self, seq)
    }
    fn each_after(
        &self,
        after: u64,
        upto: u64,
        actions: &[&str],
        f: &mut dyn FnMut(Entry) -> Result<()>,
    ) -> Result<()> {
        AuditLog::each_after(self, after, upto, actions, f)
    }
    fn select(&self, filter: &Filter) -> Result<Vec<Stored>> {
        AuditLog::select(self, filter)
    }
    fn for_each_stored(&self, f: &mut dyn FnMut(Stored) -> Result<()>) -> Result<()> {
        AuditLog::for_each_stored(self, f)
    }
    fn leaves(&self, size: u64) -> Result<Vec<Hash>> {
        AuditLog::leaves(self, size)
    }
    fn stored(&self, seq: u64) -> Result<Option<Stored>> {
        AuditLog::stored(self, seq)
    }
    fn latest(&self) -> Result<Option<SignedCheckpoint>> {
        AuditLog::latest(self)
    }
    fn state(&self) -> Result<(u64, Vec<u8>, String)> {
        AuditLog::state(self)
    }
    fn retained(&self) -> Result<BTreeMap<u64, SignedCheckpoint>> {
        AuditLog::retained(self)
    }
    fn root_at(&self, size: u64) -> Result<Option<Hash>> {
        AuditLog::root_at(self, size)
    }
}
