//! smv: a credential vault and posting proxy for company social-media accounts.
//!
//! The binary is a thin wrapper around [`cli::main`]; everything an action does is in
//! [`ops`], the one operations layer that the CLI and the proxy server both call.

// Everything a person reads goes through `cli::output::Out` (which escapes it and ends
// quietly on a closed pipe): no printing macros elsewhere. Errors are values, not panics.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod access;
pub mod api;
pub mod audit;
pub mod cli;
pub mod client;
pub mod clock;
pub mod envelope;
mod error;
pub mod failpoint;
mod fsutil;
pub mod identity;
pub mod ids;
pub mod interrupt;
pub mod ops;
pub mod providers;
pub mod redact;
pub mod secret;
pub mod server;
pub mod settings;
pub mod store;
pub mod vault;

pub use error::{Class, Error, Result};
