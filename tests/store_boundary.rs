//! The store boundary holds by construction: `ops` reaches persistent state only through the
//! `store::Store` interface — never the file store's modules, the vault file's locks and
//! pins, the audit log's SQLite type, or paths to either file. A new operation that reaches
//! past it fails here (and would not work on the in-memory store, which `ops`' property
//! tests run on). docs/architecture.md says where new state goes instead.

use std::path::{Path, PathBuf};

/// What `ops` may not name, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "store::file",
        "the file store's module: go through `store::Store`",
    ),
    (
        "FileStore",
        "the file store itself: go through `store::Store`",
    ),
    (
        "AuditLog",
        "the log's SQLite type: use the `Ledger` the store hands out",
    ),
    ("vault::lock", "file locks belong to the file store"),
    ("WriteLock", "file locks belong to the file store"),
    (
        "vault::pins",
        "this machine's memory of the vault belongs to the file store",
    ),
    ("audit_log()", "the log's path belongs to the file store"),
    ("lock_file()", "the lock's path belongs to the file store"),
    ("gate_file()", "the gate's path belongs to the file store"),
    (
        "queue_lock_file()",
        "claim the queue with `Store::claim_queue`",
    ),
    (
        "known_vaults",
        "this machine's pins belong to the file store",
    ),
    (
        "settings.vault",
        "the vault's path belongs to the file store",
    ),
    (
        "Vault::load",
        "reading the vault file belongs to the file store",
    ),
    (".seal(", "sealing the vault belongs to the store"),
    (
        "std::fs",
        "files belong to a store (or to the CLI, for files the user names)",
    ),
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The code of a file without its comments and its `#[cfg(test)]` module (tests set up
/// stores of both kinds on purpose).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn violations(name: &str, text: &str) -> Vec<String> {
    let code = code(text);
    FORBIDDEN
        .iter()
        .filter(|(needle, _)| code.contains(needle))
        .map(|(needle, why)| format!("{name} names `{needle}`: {why}"))
        .collect()
}

#[test]
fn ops_reaches_persistent_state_only_through_the_store_interface() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ops");
    let mut found = Vec::new();
    for file in rust_files(&root) {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        if name == "tests.rs" {
            continue; // the property tests build both kinds of store on purpose
        }
        found.extend(violations(&name, &std::fs::read_to_string(&file).unwrap()));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_check_finds_what_it_looks_for() {
    // Not vacuous: a planted reach past the boundary is found; comments and tests are not.
    let planted = "use crate::vault::lock::WriteLock;\nfn f() { let _ = std::fs::read(\"x\"); }\n";
    assert_eq!(violations("x.rs", planted).len(), 3);
    let commented =
        "// WriteLock is the file store's\nfn f() {}\n#[cfg(test)]\nmod tests { use std::fs; }\n";
    assert!(violations("x.rs", commented).is_empty());
}
