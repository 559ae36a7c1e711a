//! A vault swapped in by someone who can write the file (but cannot read the real vault):
//! a database of their making, encrypted to the victim's public key and their own, so that
//! the victim's next `account add` would encrypt the new secret to them. age proves who can
//! read a file, not who wrote it; smv must notice the swap before anything is written.

mod support;

use smv::audit::{AuditLog, Channel, LogKey, Outcome, Record};
use smv::identity::{Identity, Source};
use smv::vault::{NewMember, Vault, WriteMode};
use support::Sandbox;

/// The attacker's vault: alice (the victim, by her public key) and mallory, both admins and
/// custodians; optionally with the real vault's id (readable in the audit log's origin).
fn forge(s: &Sandbox, vault_id: Option<&str>, with_log: bool) -> Identity {
    let alice = s.smv(&["identity", "show", "--json"]).ok().json()["recipient"]
        .as_str()
        .unwrap()
        .to_string();
    let mallory = Identity::generate(Source::Env);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forged.smv");
    let mut v = Vault::create(&path).unwrap();
    if let Some(id) = vault_id {
        v.conn()
            .execute(
                "UPDATE meta SET value = ?1 WHERE key = 'vault_id'",
                [id.as_bytes()],
            )
            .unwrap();
    }
    for (name, r) in [
        ("alice", alice.clone()),
        ("mallory", mallory.recipient_string()),
    ] {
        v.insert_member(NewMember {
            name,
            role: smv::access::Role::Admin,
            recipient: Some(&r),
            created_by: "mallory",
        })
        .unwrap();
    }
    let sealed = v.seal(&mallory, 1, 0).unwrap();
    v.install(sealed, &mallory, WriteMode::CreateNew).unwrap();
    std::fs::copy(&path, s.vault()).unwrap();
    if with_log {
        let _ = std::fs::remove_file(s.audit());
        let mut log = AuditLog::create(&s.audit(), LogKey::from_vault(&v).unwrap()).unwrap();
        log.append(&Record {
            actor: "alice".into(),
            channel: Channel::Local,
            action: "init".into(),
            target: "member:alice".into(),
            outcome: Outcome::Ok,
            reason: None,
            request_id: "00".into(),
            details: Default::default(),
        })
        .unwrap();
    }
    mallory
}

fn vault_id(s: &Sandbox) -> String {
    let origin = AuditLog::open_read_only(&s.audit())
        .unwrap()
        .origin()
        .to_string();
    origin.trim_start_matches("smv-audit/").to_string()
}

#[test]
fn a_swapped_vault_is_refused_on_a_machine_that_knew_the_vault() {
    let s = Sandbox::new();
    s.init();
    let id = vault_id(&s);
    forge(&s, Some(&id), false);
    let forged = s.vault_bytes();
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("CANARY-new-secret"),
    )
    .fails(7)
    .stderr_has("not the one this machine knew")
    .stderr_has("pins.json");
    s.smv(&["account", "list"]).fails(7);
    assert_eq!(
        forged,
        s.vault_bytes(),
        "nothing may be written into the forged vault"
    );
}

#[test]
fn a_swapped_vault_and_log_are_refused_on_a_machine_that_knew_the_vault() {
    let s = Sandbox::new();
    s.init();
    let id = vault_id(&s);
    forge(&s, Some(&id), true);
    s.smv(&["whoami"])
        .fails(7)
        .stderr_has("its audit signing key changed");
}

/// A machine that never opened this vault has no pin; the log, signed with the real vault's
/// key, gives the swap away.
#[test]
fn a_swapped_vault_beside_the_real_log_is_refused_everywhere() {
    let s = Sandbox::new();
    s.init();
    let id = vault_id(&s);
    forge(&s, Some(&id), false);
    let forged = s.vault_bytes();
    std::fs::remove_file(s.pins_file()).unwrap();
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("CANARY-new-secret"),
    )
    .fails(7)
    .stderr_has("does not belong with this vault")
    .stderr_has("signed by another key");
    assert_eq!(forged, s.vault_bytes());
}

#[test]
fn legitimate_changes_are_not_mistaken_for_a_swap() {
    let s = Sandbox::new();
    s.init();
    // Ordinary writes rewrite the file: same vault, no complaint.
    for i in 0..3 {
        s.smv(&["account", "add", &format!("a{i}"), "--provider", "outbox"])
            .ok();
    }
    // A second vault elsewhere is pinned on its own.
    let other = s.home().join("other.smv");
    s.smv(&[
        "--vault",
        other.to_str().unwrap(),
        "init",
        "--name",
        "alice",
    ])
    .ok();
    s.smv(&["--vault", other.to_str().unwrap(), "whoami"]).ok();
    s.smv(&["whoami"]).ok();
    let pins: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.pins_file()).unwrap()).unwrap();
    assert_eq!(pins["vaults"].as_object().unwrap().len(), 2);
    // `smv init` at a path this machine knew: the user is making a new vault there on purpose.
    std::fs::remove_file(s.vault()).unwrap();
    std::fs::remove_file(s.audit()).unwrap();
    s.smv(&["init", "--name", "alice"]).ok();
    s.smv(&["whoami"]).ok();
}

/// Issue 23 item 3, the reproduction: an old vault and its old log put back behind symlinks
/// (`ln -s d/vault.smv vault.smv`) were accepted, because the pin was keyed by the canonical
/// path (d/vault.smv looked like a new vault). Pins are keyed by the vault's id: refused,
/// exit 7, and nothing is written.
#[test]
fn an_old_pair_behind_a_symlink_is_refused() {
    let s = Sandbox::new();
    s.init();
    let d = s.home().join("d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(s.vault(), d.join("vault.smv")).unwrap();
    let old_log = d.join("vault.smv.audit");
    s.smv(&["audit", "backup", old_log.to_str().unwrap()]).ok();
    s.smv(&["account", "add", "later", "--provider", "outbox"])
        .ok();
    for ext in ["", ".audit", ".audit-wal", ".audit-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", s.vault().display()));
    }
    std::os::unix::fs::symlink(d.join("vault.smv"), s.vault()).unwrap();
    std::os::unix::fs::symlink(&old_log, s.audit()).unwrap();
    let before = std::fs::read(d.join("vault.smv")).unwrap();
    s.smv(&["whoami"]).fails(7);
    s.smv(&["account", "add", "x", "--provider", "outbox"])
        .fails(7);
    assert_eq!(before, std::fs::read(d.join("vault.smv")).unwrap());
    // The same pair opened by its real path is the same vault: refused too.
    s.smv(&["--vault", d.join("vault.smv").to_str().unwrap(), "whoami"])
        .fails(7);
}

/// Pins live in the state directory, never beside the vault; a first pin of a vault on a
/// machine is said out loud and recorded in the log.
#[test]
fn a_first_pin_is_said_and_recorded_and_pins_are_not_beside_the_vault() {
    let s = Sandbox::new();
    s.init();
    assert!(s.pins_file().exists());
    assert!(!s.data_dir().join("known-vaults.json").exists());
    // Another machine (no pins): the first use is said and recorded.
    std::fs::remove_file(s.pins_file()).unwrap();
    s.smv(&["whoami"]).ok().stderr_has("for the first time");
    let pins = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "vault.pin")
        .count();
    assert_eq!(pins, 1);
    // Once pinned, nothing more is said or recorded.
    let run = s.smv(&["whoami"]).ok();
    assert!(!run.stderr.contains("first time"), "{}", run.stderr);
    assert_eq!(
        s.audit_entries()
            .iter()
            .filter(|e| e.action == "vault.pin")
            .count(),
        1
    );
    s.smv(&["audit", "verify"]).ok();
}
