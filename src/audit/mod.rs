//! The audit log: an append-only file beside the vault.
//!
//! It is a SQLite database in WAL mode with `synchronous = FULL`, so that an append is
//! durable when [`AuditLog::append`] returns, concurrent smv processes serialise their
//! appends, and an append never rewrites the vault (its cost does not grow with history).
//! Each entry is stored as the exact JSON bytes that describe it (`body`), plus a few
//! columns copied out of it for filtering.

mod entry;
mod store;

pub use entry::{Channel, Entry, Outcome, Record};
pub use store::{AuditLog, Filter};
