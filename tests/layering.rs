//! The code's layering rules, checked on the source: layers only point down (nothing in
//! `vault/` knows the networks), the proxy's client depends on the API's types only, printing
//! happens in the output module only, and unsafe code only where it is documented.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

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

/// The code of a file without its comments (line comments and doc comments), so that a
/// doc link to another layer is not a dependency.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn nothing_in_the_vault_knows_the_networks_or_the_operations() {
    for f in rust_files(&src().join("vault")) {
        let c = code(&f);
        for upward in [
            "providers::",
            "crate::ops",
            "crate::cli",
            "crate::server",
            "crate::client",
        ] {
            assert!(
                !c.contains(upward),
                "{} uses {upward}: the vault is below them",
                f.display()
            );
        }
    }
    for f in rust_files(&src().join("access")) {
        let c = code(&f);
        for upward in ["crate::vault", "crate::ops", "providers::", "crate::cli"] {
            assert!(!c.contains(upward), "{} uses {upward}", f.display());
        }
    }
}

#[test]
fn the_client_uses_only_the_apis_types() {
    let c = code(&src().join("client.rs"));
    for other in [
        "crate::ops",
        "crate::vault",
        "crate::audit",
        "crate::server",
    ] {
        assert!(
            !c.contains(other),
            "client.rs uses {other}: name the type in api.rs"
        );
    }
    for line in c
        .lines()
        .filter(|l| l.trim_start().starts_with("use crate::"))
    {
        let path = line.trim_start().trim_start_matches("use crate::");
        assert!(
            ["api", "secret::", "settings::", "{Class, Error, Result}"]
                .iter()
                .any(|ok| path.starts_with(ok)),
            "client.rs: `{line}`"
        );
    }
}

#[test]
fn only_the_output_module_prints() {
    for f in rust_files(&src()) {
        if f.ends_with("cli/output.rs") {
            continue;
        }
        let c = code(&f);
        for mac in ["println!", "print!(", "eprintln!", "eprint!(", "dbg!("] {
            assert!(!c.contains(mac), "{} uses {mac}", f.display());
        }
        assert!(
            !c.contains("std::io::stdout()") || f.ends_with("cli/audit.rs"),
            "{} writes to stdout itself (the export streams its file there)",
            f.display()
        );
    }
}

#[test]
fn unsafe_code_is_only_where_it_is_documented() {
    let mut found = Vec::new();
    for f in rust_files(&src()) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, l) in text.lines().enumerate() {
            if l.contains("unsafe {") || l.contains("unsafe extern") || l.contains("unsafe fn") {
                let before: Vec<&str> = text.lines().take(i).collect();
                let context = before[before.len().saturating_sub(3)..].join("\n");
                assert!(
                    context.contains("SAFETY:")
                        && (context.contains("allow(unsafe_code)")
                            || text
                                .lines()
                                .take(i)
                                .any(|l| l.contains("allow(unsafe_code)"))),
                    "{}:{}: unsafe without `#[allow(unsafe_code)]` and a SAFETY comment",
                    f.display(),
                    i + 1
                );
                found.push(format!("{}", f.strip_prefix(src()).unwrap().display()));
            }
        }
    }
    found.sort();
    assert_eq!(found, ["cli/offboarding.rs", "server/harden.rs"]);
}

#[test]
fn the_command_line_definition_is_consistent() {
    use clap::CommandFactory;
    smv::cli::Cli::command().debug_assert();
}
