//! Freshness: an old copy of the vault, or of its audit log, is refused, and a deliberate
//! restore is an admin's audited act (`smv restore`).
//!
//! age and the signed checkpoints prove the files are authentic, not that they are the
//! latest. Each test here puts back an older file the way an insider with file access would
//! (`cp`, `sqlite3`), and checks that every path refuses it: the CLI, a custodian's key that
//! the old copy still knows, a fresh `smv serve`, and `smv audit verify`.

mod support;

use std::path::{Path, PathBuf};

use support::Sandbox;

/// A copy of the vault file.
fn keep_vault(s: &Sandbox, name: &str) -> PathBuf {
    let to = s.home().join(name);
    std::fs::copy(s.vault(), &to).unwrap();
    to
}

fn put_vault(s: &Sandbox, from: &Path) {
    std::fs::copy(from, s.vault()).unwrap();
}

/// A copy of the audit log as it is between commands (no smv process runs, so SQLite has
/// folded its -wal file back; any left over is copied too).
fn keep_log(s: &Sandbox, name: &str) -> PathBuf {
    let dir = s.home().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for ext in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{ext}", s.audit().display()));
        if from.exists() {
            std::fs::copy(&from, dir.join(format!("log{ext}"))).unwrap();
        }
    }
    dir
}

fn put_log(s: &Sandbox, dir: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let to = PathBuf::from(format!("{}{ext}", s.audit().display()));
        let from = dir.join(format!("log{ext}"));
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

fn checkpoint(s: &Sandbox, name: &str) -> PathBuf {
    let to = s.home().join(name);
    std::fs::write(&to, s.smv(&["audit", "checkpoint"]).ok().stdout).unwrap();
    to
}

/// alice (admin) and joe (admin, custodian), an outbox account both may post to.
fn team() -> (Sandbox, PathBuf) {
    let s = Sandbox::new();
    s.init();
    let joe = s.add_custodian("joe", "admin");
    s.smv(&["account", "add", "news", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "joe", "news", "post"]).ok();
    s.smv(&["grant", "alice", "news", "post"]).ok();
    (s, joe)
}

#[test]
fn a_restored_old_vault_does_not_bring_an_offboarded_custodian_back() {
    let (s, joe) = team();
    let v0 = keep_vault(&s, "v0.smv");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    let after = checkpoint(&s, "after-offboarding.txt");
    let current = s.vault_bytes();
    put_vault(&s, &v0);

    // Every command refuses the old copy, with the way out.
    s.smv(&["whoami"])
        .fails(7)
        .stderr_has("older copy")
        .stderr_has("smv restore");
    s.smv(&["access"]).fails(7);
    // joe's key opens the old copy, and is refused the same way.
    s.smv_as(&joe, &["grant", "joe", "news", "manage"])
        .fails(7)
        .stderr_has("older copy");
    s.smv_as(&joe, &["whoami"]).fails(7);
    // A secret added now would be encrypted to joe again: nothing is written.
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("CANARY-added-after-the-rollback"),
    )
    .fails(7);
    assert_eq!(s.vault_bytes(), std::fs::read(&v0).unwrap());
    s.smv(&["post", "news", "hello"]).fails(7);
    // The auditor's question is answered: the log is fine, the vault is not the latest.
    s.smv(&["audit", "verify", "--checkpoint", after.to_str().unwrap()])
        .fails(7)
        .stderr_has("older copy");
    // A fresh proxy does not start on it (so tokens revoked since stay dead).
    s.smv(&["serve", "--listen", "127.0.0.1:0"])
        .fails(7)
        .stderr_has("older copy");
    // Putting the latest file back makes everything work again.
    std::fs::write(s.vault(), current).unwrap();
    s.smv(&["whoami"]).ok();
    s.smv(&["audit", "verify", "--checkpoint", after.to_str().unwrap()])
        .ok();
}

#[test]
fn a_copy_from_before_a_token_was_revoked_is_refused() {
    let (s, _joe) = team();
    let token = s
        .smv(&[
            "token",
            "create",
            "--name",
            "ci",
            "--account",
            "news",
            "--level",
            "post",
            "--expires",
            "30d",
            "--json",
        ])
        .ok()
        .json();
    let accessor = token["record"]["accessor"].as_str().unwrap().to_string();
    let v0 = keep_vault(&s, "v0.smv");
    s.smv(&["token", "revoke", &accessor]).ok();
    put_vault(&s, &v0);
    s.smv(&["token", "list"]).fails(7).stderr_has("older copy");
}

#[test]
fn an_emptied_log_is_refused_and_verify_names_it() {
    let (s, _joe) = team();
    // No key needed: empty the tables and reset the tree state.
    let conn = rusqlite::Connection::open(s.audit()).unwrap();
    conn.execute_batch(
        "DELETE FROM entries; DELETE FROM checkpoints;
         UPDATE state SET size = 0, frontier = x'', sig = '';",
    )
    .unwrap();
    drop(conn);
    s.smv(&["whoami"])
        .fails(7)
        .stderr_has("audit log")
        .stderr_has("emptied");
    s.smv(&["post", "news", "hello"]).fails(7);
    // verify checks the log itself: it is shorter than this machine has seen.
    s.smv(&["audit", "verify"]).fails(10).stderr_has("cut off");
}

#[test]
fn an_old_log_put_back_alone_is_refused() {
    // Cut back to before the vault's last write: the vault knows.
    let (s, _joe) = team();
    let l0 = keep_log(&s, "l0");
    s.smv(&["revoke", "joe", "news"]).ok();
    put_log(&s, &l0);
    s.smv(&["whoami"])
        .fails(7)
        .stderr_has("does not record this vault");

    // Cut back between two vault writes (only posts since): this machine's pin knows.
    let (s, _joe) = team();
    let l0 = keep_log(&s, "l0");
    s.smv(&["post", "news", "one"]).ok();
    s.smv(&["post", "news", "two"]).ok();
    put_log(&s, &l0);
    s.smv(&["whoami"])
        .fails(7)
        .stderr_has("this machine has seen");
    s.smv(&["audit", "verify"]).fails(10).stderr_has("cut off");
}

#[test]
fn the_vault_and_log_put_back_together_are_refused_by_a_machine_that_saw_later() {
    let (s, _joe) = team();
    let v0 = keep_vault(&s, "v0.smv");
    let l0 = keep_log(&s, "l0");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    s.smv(&["post", "news", "after"]).ok();
    put_vault(&s, &v0);
    put_log(&s, &l0);
    s.smv(&["whoami"])
        .fails(7)
        .stderr_has("this machine has seen");
}

#[test]
fn a_log_rewritten_behind_this_machine_is_refused() {
    let (s, _joe) = team();
    // Rewrite an early entry's recorded root (as a forger recomputing the tree would):
    // the root at the size this machine pinned no longer matches.
    let pinned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.pins_file()).unwrap()).unwrap();
    let size = pinned["vaults"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["checkpoint"]["size"]
        .as_u64()
        .unwrap();
    let conn = rusqlite::Connection::open(s.audit()).unwrap();
    conn.execute(
        "UPDATE entries SET root = zeroblob(32) WHERE seq = ?1",
        [size as i64],
    )
    .unwrap();
    drop(conn);
    s.smv(&["whoami"]).fails(7).stderr_has("rewritten");
    s.smv(&["audit", "verify"]).fails(10);
}

#[test]
fn a_write_interrupted_after_the_rename_is_not_a_rollback() {
    for point in ["after-intent", "vault-before-rename", "after-save"] {
        let (s, _joe) = team();
        let crashed = s.smv_env(
            &[("SMV_FAILPOINT", &format!("{point}:abort"))],
            &["grant", "joe", "news", "approve"],
        );
        assert_ne!(crashed.code, 0, "{point}: {}", crashed.stderr);
        // The file is the old one or the new one: both are what the log allows.
        s.smv(&["whoami"]).ok();
        s.smv(&["grant", "joe", "news", "manage"]).ok();
        s.smv(&["audit", "verify"]).ok();
    }
}

#[test]
fn concurrent_writers_and_readers_never_see_a_false_rollback() {
    let (s, _joe) = team();
    for i in 0..4 {
        s.smv(&["account", "add", &format!("a{i}"), "--provider", "outbox"])
            .ok();
    }
    // Sandbox is not Sync: each thread gets its own commands, built here.
    let commands = |args: Vec<Vec<String>>| -> Vec<std::process::Command> {
        args.into_iter()
            .map(|a| {
                let mut c = s.command();
                c.args(a);
                c
            })
            .collect()
    };
    let mut jobs = Vec::new();
    for i in 0..4 {
        jobs.push(commands(
            ["post", "approve", "draft", "manage", "post"]
                .iter()
                .map(|l| vec!["grant".into(), "joe".into(), format!("a{i}"), l.to_string()])
                .collect(),
        ));
    }
    for _ in 0..2 {
        jobs.push(commands(
            (0..10)
                .flat_map(|_| {
                    [
                        vec!["whoami".to_string()],
                        vec!["post".into(), "news".into(), "hello".into()],
                    ]
                })
                .collect(),
        ));
    }
    std::thread::scope(|scope| {
        for job in jobs {
            scope.spawn(move || {
                for mut cmd in job {
                    let out = cmd.output().unwrap();
                    assert!(
                        out.status.success(),
                        "{cmd:?}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
    s.smv(&["audit", "verify"]).ok();
}

/// Another machine (its own HOME, so its own pin) that used the vault before.
fn second_machine(s: &Sandbox) -> Sandbox {
    let m = Sandbox::new();
    m.set_env("SMV_VAULT", s.vault().to_str().unwrap());
    m.set_env("SMV_IDENTITY_FILE", s.identity_file().to_str().unwrap());
    m
}

#[test]
fn an_admin_restores_a_backup_on_the_record_and_other_machines_follow() {
    let (s, joe) = team();
    let other = second_machine(&s);
    other.smv(&["whoami"]).ok();
    let v0 = keep_vault(&s, "v0.smv");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    other.smv(&["whoami"]).ok();

    // The vault file is lost; the backup is all there is.
    std::fs::remove_file(s.vault()).unwrap();
    // joe is an admin in the backup, but his key is not the one restoring.
    let preview = s
        .smv(&[
            "restore",
            "--from",
            v0.to_str().unwrap(),
            "--reason",
            "disk died",
            "--dry-run",
        ])
        .ok();
    assert!(
        preview.stdout.contains("member.offboard"),
        "{}",
        preview.stdout
    );
    // The restore makes joe's offboarding again (issue 23): nothing to redo by hand.
    assert!(
        preview.stdout.contains("Makes again 1 removal"),
        "{}",
        preview.stdout
    );
    assert!(
        !preview.stdout.contains("smv offboard joe"),
        "{}",
        preview.stdout
    );
    assert!(!s.vault().exists(), "a dry run writes nothing");
    let report = s
        .smv(&[
            "--json",
            "restore",
            "--from",
            v0.to_str().unwrap(),
            "--reason",
            "disk died",
            "--yes",
        ])
        .ok()
        .json();
    assert_eq!(report["epoch"], 1);
    assert_eq!(report["follow_up"], serde_json::json!([]), "{report}");
    assert_eq!(report["replayed"][0]["action"], "member.offboard");
    // The restore is on the record, and the log still verifies.
    let entries = s.audit_entries();
    let restore = entries
        .iter()
        .rev()
        .find(|e| e.action == "vault.restore" && e.outcome == smv::audit::Outcome::Ok);
    assert!(restore.is_some(), "no vault.restore outcome");
    let intent = entries
        .iter()
        .rev()
        .find(|e| e.action == "vault.restore" && e.outcome == smv::audit::Outcome::Intent)
        .unwrap();
    assert_eq!(intent.details["reason"], "disk died");
    s.smv(&["audit", "verify"]).ok();
    s.smv(&["whoami"]).ok();
    // The restored vault did not bring joe back.
    s.smv_as(&joe, &["whoami"]).fails(6);

    // The other machine saw a later generation before the restore: it follows the restore
    // because the log records it, and says so.
    other
        .smv(&["whoami"])
        .ok()
        .stderr_has("restored from a backup");
    // The backup is an older copy again now: refused like any other.
    put_vault(&s, &v0);
    s.smv(&["whoami"]).fails(7);
    other.smv(&["whoami"]).fails(7);
}

#[test]
fn a_restore_of_the_files_in_place_after_both_were_put_back() {
    let (s, _joe) = team();
    let v0 = keep_vault(&s, "v0.smv");
    let l0 = keep_log(&s, "l0");
    s.smv(&["post", "news", "lost"]).ok();
    s.smv(&["revoke", "joe", "news"]).ok();
    put_vault(&s, &v0);
    put_log(&s, &l0);
    s.smv(&["whoami"]).fails(7);
    // The log is older than this machine has seen: the revocation in the lost part cannot
    // be made again, so the restore says who comes back and needs the flag.
    s.smv(&[
        "restore",
        "--reason",
        "restored both from last night",
        "--yes",
    ])
    .fails(5)
    .stderr_has("--accept-lost-history");
    let report = s
        .smv(&[
            "--json",
            "restore",
            "--reason",
            "restored both from last night",
            "--accept-lost-history",
            "--yes",
        ])
        .ok()
        .json();
    assert!(
        report["log_entries_missing"].as_u64().unwrap() > 0,
        "{report}"
    );
    s.smv(&["whoami"]).ok();
    s.smv(&["audit", "verify"]).ok();
}

#[test]
fn restore_refusals() {
    let (s, _joe) = team();
    let bob = s.add_custodian("bob", "member");
    let v0 = keep_vault(&s, "v0.smv");
    // Nothing to restore.
    s.smv(&["restore", "--reason", "why not", "--yes"])
        .fails(5)
        .stderr_has("nothing to restore");
    // A reason is required.
    s.smv(&[
        "restore",
        "--from",
        v0.to_str().unwrap(),
        "--reason",
        " ",
        "--yes",
    ])
    .fails(2);
    // Only an admin (of the copy) may restore; the refusal is audited.
    let before = s.audit_entries().len();
    s.smv_as(
        &bob,
        &[
            "restore",
            "--from",
            v0.to_str().unwrap(),
            "--reason",
            "r",
            "--yes",
        ],
    )
    .fails(4);
    let after = s.audit_entries();
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap().action, "vault.restore");
    assert_eq!(after.last().unwrap().outcome, smv::audit::Outcome::Denied);
    // A copy of another vault is not a backup of this one.
    let t = Sandbox::new();
    t.init();
    s.smv(&[
        "restore",
        "--from",
        t.vault().to_str().unwrap(),
        "--reason",
        "r",
        "--yes",
    ])
    .fails(6);
    // No terminal, no --yes: nothing is done.
    s.smv(&["restore", "--from", v0.to_str().unwrap(), "--reason", "r"])
        .fails(2);
    // A log that does not verify is not anchored on.
    let conn = rusqlite::Connection::open(s.audit()).unwrap();
    conn.execute(
        "UPDATE entries SET body = CAST(replace(CAST(body AS TEXT), 'news', 'nevs') AS BLOB)
         WHERE seq = (SELECT MIN(seq) FROM entries WHERE instr(CAST(body AS TEXT), 'news') > 0)",
        [],
    )
    .unwrap();
    drop(conn);
    s.smv(&[
        "restore",
        "--from",
        v0.to_str().unwrap(),
        "--reason",
        "r",
        "--yes",
    ])
    .fails(10)
    .stderr_has("does not verify");
}

/// A vault, log and pins file written by smv before it recorded generations (the code of
/// commit 2d5b8ba): the first open accepts them, the first write starts the record, and
/// from then on the old copy is refused.
#[test]
fn a_vault_from_before_generations_is_accepted_once_and_upgraded() {
    let s = Sandbox::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/legacy-vault");
    let data = s.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    support::chmod(&data, 0o700);
    for f in ["vault.smv", "vault.smv.audit", "identity.txt"] {
        std::fs::copy(fixture.join(f), data.join(f)).unwrap();
        support::chmod(&data.join(f), 0o600);
    }
    // The old pins file, keyed by this sandbox's vault path.
    let old_pins: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("known-vaults.json")).unwrap()).unwrap();
    let pin = old_pins
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert!(
        pin.get("audit_key").is_some(),
        "the fixture has the old pin format"
    );
    std::fs::write(
        data.join("known-vaults.json"),
        serde_json::to_vec(&serde_json::json!({ s.vault().display().to_string(): pin })).unwrap(),
    )
    .unwrap();
    let legacy = keep_vault(&s, "legacy.smv");

    s.smv(&["whoami"]).ok();
    s.smv(&["audit", "verify"]).ok();
    s.smv(&["account", "list"]).ok().stdout_has("news");
    s.smv(&["post", "news", "still works"]).ok();
    // The first write records the vault's generation.
    s.smv(&["grant", "joe", "news", "approve"]).ok();
    assert!(
        s.audit_entries()
            .iter()
            .any(|e| e.action == "vault.write" && e.details["generation"] == 1)
    );
    s.smv(&["audit", "verify"]).ok();
    // From now on the pre-generation copy is an older copy.
    put_vault(&s, &legacy);
    s.smv(&["whoami"]).fails(7).stderr_has("older copy");
}

/// A vault file this machine has checked page by page is remembered in its pin (its
/// SHA-256) so that the next command skips the check; a changed file is checked again —
/// a damaged image sealed by a custodian's own tools is refused even after the machine
/// remembered the sound file before it.
#[test]
fn the_pin_remembers_the_file_found_sound_and_a_changed_file_is_checked_again() {
    use sha2::Digest;
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["whoami"]).ok();
    let pinned = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(s.pins_file()).unwrap()).unwrap()
    };
    let sha = |b: &[u8]| {
        sha2::Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    let good = s.vault_bytes();
    let pin = pinned();
    let sound = pin["vaults"].as_object().unwrap().values().next().unwrap()["sound"].clone();
    assert_eq!(sound, serde_json::Value::String(sha(&good)), "{pin}");
    // Damage the image and seal it again to the same custodian.
    let id = smv::identity::Identity::parse(
        &std::fs::read_to_string(s.identity_file()).unwrap(),
        smv::identity::Source::Env,
    )
    .unwrap();
    let mut image = smv::envelope::decrypt_with(id.age_identity(), &good)
        .ok()
        .unwrap()
        .to_vec();
    for b in &mut image[4096..4196] {
        *b = 0xff;
    }
    std::fs::write(
        s.vault(),
        smv::envelope::encrypt_to(&[id.recipient()], &image).unwrap(),
    )
    .unwrap();
    s.smv(&["whoami"]).fails(7).stderr_has("damaged");
}
