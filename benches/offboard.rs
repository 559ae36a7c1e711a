//! `smv offboard` of a member with grants on 1,000 accounts, 200 pending drafts, 50
//! scheduled posts and 50 approvals of others' drafts, who is a custodian (so the vault is
//! re-encrypted without his key). No network call is involved. Reported beside, in the same
//! run and on the same vault: `smv whoami` (process start, identity, decrypting and opening
//! the vault) and `smv offboard --dry-run` (all the work, no write).
//!
//! Run: `cargo bench --bench offboard`

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{measure, ms};
use smv::access::{Level, Role};
use smv::identity::{Identity, Source};
use smv::secret::Secret;
use smv::vault::{NewAccount, NewMember, Vault};

const BIN: &str = env!("CARGO_BIN_EXE_smv");
const RUNS: usize = 15;
const ACCOUNTS: usize = 1_000;
const DRAFTS: usize = 200;

fn smv(home: &Path, args: &[&str]) {
    let ok = Command::new(BIN)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMV_KEYRING", "off")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "smv {args:?} failed");
}

fn find(dir: &Path, name: &str) -> PathBuf {
    for entry in walk(dir) {
        if entry.file_name().is_some_and(|n| n == name) {
            return entry;
        }
    }
    panic!("no {name} under {}", dir.display());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Fills the vault `smv init` made, through the library (thousands of CLI calls would
/// measure the set-up, not the offboarding).
fn fill(vault_path: &Path, me: &Identity) {
    let mut v = Vault::load(vault_path, me).unwrap();
    v.conn().execute_batch("BEGIN").unwrap();
    let joe_key = Identity::generate(Source::Env).recipient_string();
    let joe = v
        .insert_member(NewMember {
            name: "joe",
            role: Role::Member,
            recipient: None,
            created_by: "admin",
        })
        .unwrap();
    let bob = v
        .insert_member(NewMember {
            name: "bob",
            role: Role::Member,
            recipient: None,
            created_by: "admin",
        })
        .unwrap();
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        let secret = Secret::from_bytes(format!("token-{i}-abcdefghijklmnop").into_bytes());
        let a = v
            .insert_account(
                NewAccount {
                    name: &format!("acc{i}"),
                    provider: "mastodon",
                    handle: None,
                    url: Some("https://social.example"),
                    created_by: "admin",
                },
                Some(&secret),
            )
            .unwrap();
        v.set_grant(&joe, a.id, Level::Approve, "admin").unwrap();
        v.set_grant(&bob, a.id, Level::Approve, "admin").unwrap();
        accounts.push(a);
    }
    // joe becomes a custodian after the accounts exist: every secret is exposed to him.
    v.conn()
        .execute(
            "UPDATE members SET recipient = ?1 WHERE name = 'joe'",
            [&joe_key],
        )
        .unwrap();
    v.conn()
        .execute(
            "INSERT INTO exposures (member_id, account_id, secret_version, since)
             SELECT ?1, id, secret_version, '2026-01-01T00:00:00Z' FROM accounts",
            [joe.id],
        )
        .unwrap();
    for i in 0..DRAFTS {
        let targets: Vec<_> = (0..5)
            .map(|k| accounts[(i * 5 + k) % ACCOUNTS].clone())
            .collect();
        v.insert_draft(&joe, &targets, &format!("draft {i}"))
            .unwrap();
    }
    for i in 0..50 {
        let d = v
            .insert_draft(&bob, &accounts[i..i + 1], &format!("bob {i}"))
            .unwrap();
        v.approve_draft(&d, &joe).unwrap();
        v.insert_queued(
            &accounts[i],
            &joe,
            None,
            None,
            "later",
            "2030-01-01T00:00:00Z",
        )
        .unwrap();
    }
    v.conn().execute_batch("COMMIT").unwrap();
    common::save_recorded(&mut v, me, &vault_path.with_file_name("vault.smv.audit"));
}

fn main() {
    let home = tempfile::tempdir().unwrap();
    smv(home.path(), &["init", "--name", "admin"]);
    let vault = find(home.path(), "vault.smv");
    let audit = vault.with_file_name("vault.smv.audit");
    let id_file = find(home.path(), "identity.txt");
    let me = Identity::parse(&std::fs::read_to_string(&id_file).unwrap(), Source::Env).unwrap();
    fill(&vault, &me);
    let vault_bytes = std::fs::read(&vault).unwrap();
    let audit_bytes = std::fs::read(&audit).unwrap();
    // Each run starts from the same vault, log and pin: putting back the vault and its log
    // alone would be refused as an older copy (ops::fresh), as it should be.
    let pins = find(home.path(), "known-vaults.json");
    let pins_bytes = std::fs::read(&pins).unwrap();
    let restore = || {
        std::fs::write(&vault, &vault_bytes).unwrap();
        std::fs::write(&audit, &audit_bytes).unwrap();
        std::fs::write(&pins, &pins_bytes).unwrap();
    };

    let whoami = measure(RUNS, || smv(home.path(), &["whoami"]));
    let dry = measure(RUNS, || {
        smv(
            home.path(),
            &["offboard", "joe", "--to", "bob", "--dry-run", "--json"],
        )
    });
    let real = measure(RUNS, || {
        restore();
        smv(
            home.path(),
            &["offboard", "joe", "--to", "bob", "--yes", "--json"],
        )
    });
    let restore_only = measure(RUNS, restore);

    println!(
        "smv offboard: {ACCOUNTS} accounts with grants, {DRAFTS} pending drafts, 50 scheduled posts, 50 approvals, custodian ({} KiB vault); medians of {RUNS} runs, release build",
        vault_bytes.len() / 1024
    );
    let base = whoami.median.as_secs_f64();
    let row = |what: &str, d: std::time::Duration| {
        println!(
            "{what:<48} {:>12}  {:>5.2}× whoami",
            ms(d),
            d.as_secs_f64() / base
        );
    };
    row("smv whoami (start, decrypt, open)", whoami.median);
    row(
        "smv offboard --dry-run (all the work, no write)",
        dry.median,
    );
    let offboard = real.median.saturating_sub(restore_only.median);
    row("smv offboard (+ audit intent, re-encrypt, write)", offboard);
    println!(
        "target: under 1 s → {}",
        if offboard.as_secs_f64() < 1.0 {
            "met"
        } else {
            "MISSED"
        }
    );
}
