//! Issue 23, items 1 and 7: who may restore is decided by the live vault, never by the copy
//! the caller supplies; a restore never brings back what the log records as removed after
//! the copy; a log older than this machine has seen needs `--accept-lost-history`; and an
//! interrupted restore leaves the old or the new state, and the next command works or names
//! the command that repairs it.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use smv::audit::Outcome;
use support::Sandbox;

fn keep_vault(s: &Sandbox, name: &str) -> PathBuf {
    let to = s.home().join(name);
    std::fs::copy(s.vault(), &to).unwrap();
    to
}

fn put_vault(s: &Sandbox, from: &Path) {
    std::fs::copy(from, s.vault()).unwrap();
}

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
    for ext in ["", "-wal", "-shm", "-journal"] {
        let to = PathBuf::from(format!("{}{ext}", s.audit().display()));
        let from = dir.join(format!("log{ext}"));
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
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

fn no_restore_entry(s: &Sandbox) -> bool {
    !s.audit_entries()
        .into_iter()
        .any(|e| e.action == "vault.restore")
}

/// The exact reproduction of issue 23, item 1: exit 0 and joe admin and custodian again
/// before the fix.
#[test]
fn an_offboarded_admin_cannot_restore_himself_from_a_copy() {
    let (s, joe) = team();
    let old = keep_vault(&s, "old.smv");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    let current = s.vault_bytes();
    let joe_key = joe.to_str().unwrap();
    let old_path = old.to_str().unwrap();
    s.smv(&[
        "--identity",
        joe_key,
        "restore",
        "--from",
        old_path,
        "--reason",
        "x",
        "--yes",
    ])
    .fails(6)
    .stderr_has("not a custodian after that rotation");
    // Nothing changed. The offboarding rotated the audit key (issue 23, item 8), so joe's key
    // opens neither the vault nor the keys that sign the log now: his attempt cannot be
    // appended to the signed trail (only a key holder extends it), and nothing is.
    assert_eq!(s.vault_bytes(), current);
    assert!(no_restore_entry(&s));
    s.smv_as(&joe, &["whoami"]).fails(6);
    s.smv(&["whoami"]).ok();
    s.smv(&["audit", "verify"]).ok();

    // The dry run is refused the same way (it would tell him what the vault holds).
    s.smv_as(
        &joe,
        &["restore", "--from", old_path, "--reason", "x", "--dry-run"],
    )
    .fails(6);
}

/// The in-place variant: the copy put at the vault's path, `restore` without `--from`.
#[test]
fn an_offboarded_admin_cannot_restore_a_copy_put_in_place() {
    let (s, joe) = team();
    let old = keep_vault(&s, "old.smv");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    put_vault(&s, &old);
    s.smv_as(&joe, &["restore", "--reason", "x", "--yes"])
        .fails(6)
        .stderr_has("not a custodian after that rotation");
    // Still the old copy in place, still refused as one; joe's key extends no trail.
    assert_eq!(s.vault_bytes(), std::fs::read(&old).unwrap());
    s.smv(&["whoami"]).fails(7).stderr_has("older copy");
    assert!(no_restore_entry(&s));
    s.smv_as(&joe, &["whoami"]).fails(7);

    // alice restores it in place: joe's offboarding is made again in the same change.
    let report = s
        .smv(&["--json", "restore", "--reason", "put back", "--yes"])
        .ok()
        .json();
    assert_eq!(report["authority"], "replayed_copy", "{report}");
    assert_eq!(report["replayed"][0]["action"], "member.offboard");
    s.smv_as(&joe, &["whoami"]).fails(6);
    let access = s.smv(&["--json", "access", "--all"]).ok().json();
    let joe_row = access["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "joe")
        .unwrap()
        .clone();
    assert_eq!(joe_row["active"], false, "{access}");
    assert_eq!(joe_row["custodian"], false, "{access}");
    s.smv(&["audit", "verify"]).ok();
}

/// The live vault deleted: authority from the copy, after the removals since it.
#[test]
fn with_the_live_vault_deleted_authority_comes_from_the_replayed_copy() {
    let (s, joe) = team();
    let old = keep_vault(&s, "old.smv");
    let old_path = old.to_str().unwrap();
    s.smv(&["offboard", "joe", "--yes"]).ok();
    std::fs::remove_file(s.vault()).unwrap();
    s.smv_as(
        &joe,
        &["restore", "--from", old_path, "--reason", "x", "--yes"],
    )
    .fails(6)
    .stderr_has("not a custodian after that rotation");
    assert!(!s.vault().exists(), "a refused restore writes nothing");
    assert!(no_restore_entry(&s));

    // The preview says what the replay does; alice's restore does it.
    let preview = s
        .smv(&[
            "restore",
            "--from",
            old_path,
            "--reason",
            "disk",
            "--dry-run",
        ])
        .ok();
    assert!(
        preview.stdout.contains("Makes again 1 removal"),
        "{}",
        preview.stdout
    );
    assert!(preview.stdout.contains("member joe"), "{}", preview.stdout);
    let report = s
        .smv(&[
            "--json", "restore", "--from", old_path, "--reason", "disk", "--yes",
        ])
        .ok()
        .json();
    assert_eq!(report["authority"], "replayed_copy");
    assert!(
        !report["follow_up"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("offboard joe")),
        "{report}"
    );
    s.smv_as(&joe, &["whoami"]).fails(6);
    s.smv(&["whoami"]).ok();
    let intent = s
        .audit_entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "vault.restore" && e.outcome == Outcome::Intent)
        .unwrap();
    assert_eq!(intent.details["authority"], "replayed_copy");
    assert_eq!(intent.details["replayed"][0]["action"], "member.offboard");
    s.smv(&["audit", "verify"]).ok();
}

/// A member who is not an admin in the live vault is refused even where the copy would
/// let them (authority from the live vault); an admin of the live vault restores, and the
/// revoked grant, the revoked token and the removed custodian stay removed.
#[test]
fn a_restore_with_a_copy_that_grants_more_brings_nothing_removed_back() {
    let (s, joe) = team();
    let bob = s.add_custodian("bob", "member");
    let mallory = s.add_custodian("mallory", "admin");
    s.smv(&["grant", "bob", "news", "manage"]).ok();
    let token = s
        .smv(&[
            "--json",
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
        ])
        .ok()
        .json();
    let accessor = token["record"]["accessor"].as_str().unwrap().to_string();
    let old = keep_vault(&s, "old.smv");
    let old_path = old.to_str().unwrap();
    s.smv(&["revoke", "joe", "news"]).ok();
    s.smv(&["grant", "bob", "news", "draft"]).ok();
    s.smv(&["token", "revoke", &accessor]).ok();
    s.smv(&["member", "remove", "mallory", "--yes"]).ok();

    // mallory (an admin of the copy, removed since) cannot restore it over the live vault.
    s.smv_as(
        &mallory,
        &["restore", "--from", old_path, "--reason", "x", "--yes"],
    )
    .fails(6);
    // bob (a plain member) is refused by the rules.
    s.smv_as(
        &bob,
        &["restore", "--from", old_path, "--reason", "x", "--yes"],
    )
    .fails(4);
    // joe, an admin of the live vault, restores: authority from the live vault.
    let report = s
        .smv_as(
            &joe,
            &[
                "--json",
                "restore",
                "--from",
                old_path,
                "--reason",
                "roll back",
                "--yes",
            ],
        )
        .ok()
        .json();
    assert_eq!(report["authority"], "live_vault", "{report}");
    let actions: Vec<&str> = report["replayed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["revoke", "grant", "token.revoke", "member.remove"],
        "{report}"
    );

    let access = s.smv(&["--json", "access", "--all"]).ok().json();
    let row = |name: &str| {
        access["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["member"] == name)
            .unwrap()
            .clone()
    };
    assert!(row("joe")["grants"].get("news").is_none(), "{access}");
    assert_eq!(row("bob")["grants"]["news"], "draft", "{access}");
    assert_eq!(row("mallory")["active"], false);
    assert_eq!(row("mallory")["custodian"], false);
    s.smv_as(&mallory, &["whoami"]).fails(6);
    let tokens = s.smv(&["--json", "token", "list", "--all"]).ok().json();
    let t = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"]["accessor"] == accessor.as_str() || t["accessor"] == accessor.as_str())
        .unwrap_or_else(|| panic!("{tokens}"))
        .clone();
    assert_eq!(t["live"], false, "{t}");
    s.smv(&["audit", "verify"]).ok();
}

/// A grant revoked and given back later is not taken away by the replay.
#[test]
fn a_grant_revoked_and_given_back_is_skipped() {
    let (s, _joe) = team();
    let old = keep_vault(&s, "old.smv");
    s.smv(&["revoke", "joe", "news"]).ok();
    s.smv(&["grant", "joe", "news", "manage"]).ok();
    let report = s
        .smv(&[
            "--json",
            "restore",
            "--from",
            old.to_str().unwrap(),
            "--reason",
            "r",
            "--yes",
        ])
        .ok()
        .json();
    let replayed = report["replayed"].as_array().unwrap();
    assert_eq!(replayed.len(), 1, "{report}");
    assert_eq!(replayed[0]["action"], "revoke");
    assert!(
        replayed[0]["skipped"]
            .as_str()
            .unwrap()
            .contains("granted again"),
        "{report}"
    );
    // The copy's grant (post) stays: the later grant gave at least that.
    let access = s.smv(&["--json", "access"]).ok().json();
    let joe = access["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "joe")
        .unwrap()
        .clone();
    assert_eq!(joe["grants"]["news"], "post", "{access}");
}

/// A revocation through a group is replayed on the accounts it revoked then (recorded in
/// its entry), not on the group as the copy knew it: an account taken out of the group
/// since keeps its grant, as in the live vault.
#[test]
fn a_revocation_through_a_group_is_replayed_on_the_accounts_it_revoked() {
    let (s, _joe) = team();
    s.smv(&["account", "add", "blog", "--provider", "outbox"])
        .ok();
    s.smv(&["group", "add", "press", "news,blog"]).ok();
    s.smv(&["grant", "joe", "blog", "post"]).ok();
    let old = keep_vault(&s, "old.smv");
    s.smv(&["group", "remove-account", "press", "blog"]).ok();
    s.smv(&["revoke", "joe", "press"]).ok();
    s.smv(&[
        "restore",
        "--from",
        old.to_str().unwrap(),
        "--reason",
        "r",
        "--yes",
    ])
    .ok();
    let access = s.smv(&["--json", "access"]).ok().json();
    let joe = access["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "joe")
        .unwrap()
        .clone();
    assert!(joe["grants"].get("news").is_none(), "{access}");
    assert_eq!(joe["grants"]["blog"], "post", "{access}");
}

/// An offboarding interrupted after the vault was written (its intent is recorded, its
/// outcome is not) may have happened: the restore makes it again, and says so.
#[test]
fn an_interrupted_offboarding_is_replayed_too() {
    let (s, joe) = team();
    let old = keep_vault(&s, "old.smv");
    let crashed = s.smv_env(
        &[("SMV_FAILPOINT", "after-save:abort")],
        &["offboard", "joe", "--yes"],
    );
    assert_ne!(crashed.code, 0);
    s.smv_as(&joe, &["whoami"]).fails(6);
    std::fs::remove_file(s.vault()).unwrap();
    let report = s
        .smv(&[
            "--json",
            "restore",
            "--from",
            old.to_str().unwrap(),
            "--reason",
            "disk",
            "--yes",
        ])
        .ok()
        .json();
    assert_eq!(
        report["replayed"][0]["action"], "member.offboard",
        "{report}"
    );
    assert_eq!(report["replayed"][0]["interrupted"], true, "{report}");
    s.smv_as(&joe, &["whoami"]).fails(6);
    s.smv(&["audit", "verify"]).ok();
}

/// A CI token that lived on with a new secret after its creator left: the copy knows only
/// the old secret (which the leaver saw), so the restore revokes it and lists its re-issue.
#[test]
fn a_ci_token_given_a_new_secret_since_the_copy_is_revoked_and_listed() {
    let (s, joe) = team();
    let token = s
        .smv_as(
            &joe,
            &[
                "--json",
                "token",
                "create",
                "--name",
                "release",
                "--for",
                "alice",
                "--ci",
                "--account",
                "news",
                "--level",
                "post",
                "--expires",
                "30d",
            ],
        )
        .ok()
        .json();
    let accessor = token["record"]["accessor"].as_str().unwrap().to_string();
    let old = keep_vault(&s, "old.smv");
    let handover = s.home().join("handover");
    std::fs::create_dir_all(&handover).unwrap();
    support::chmod(&handover, 0o700);
    s.smv(&[
        "offboard",
        "joe",
        "--yes",
        "--handover-dir",
        handover.to_str().unwrap(),
    ])
    .ok();
    std::fs::remove_file(s.vault()).unwrap();
    let report = s
        .smv(&[
            "--json",
            "restore",
            "--from",
            old.to_str().unwrap(),
            "--reason",
            "disk",
            "--yes",
        ])
        .ok()
        .json();
    let reissue = report["reissue"].as_array().unwrap();
    assert_eq!(reissue.len(), 1, "{report}");
    assert!(
        reissue[0]
            .as_str()
            .unwrap()
            .starts_with("smv token create --name release --for alice"),
        "{report}"
    );
    assert_eq!(report["follow_up"][0], reissue[0]);
    let tokens = s.smv(&["--json", "token", "list", "--all"]).ok().json();
    let t = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"]["accessor"] == accessor.as_str() || t["accessor"] == accessor.as_str())
        .unwrap_or_else(|| panic!("{tokens}"))
        .clone();
    assert_eq!(t["live"], false, "{t}");
}

/// Both files put back, the log older than this machine has seen: the removals in the lost
/// part cannot be known. The restore names the range and who comes back, and proceeds only
/// with --accept-lost-history, on the record.
#[test]
fn a_log_older_than_this_machine_has_seen_needs_accept_lost_history() {
    let (s, _joe) = team();
    let v0 = keep_vault(&s, "v0.smv");
    let l0 = keep_log(&s, "l0");
    let size0 = s.audit_entries().len();
    // (A removal that rotates no key: a rotation in the lost part is the next test's.)
    s.smv(&["revoke", "joe", "news"]).ok();
    s.smv(&["post", "news", "after"]).ok();
    let seen = s.audit_entries().len();
    put_vault(&s, &v0);
    put_log(&s, &l0);
    let refused = s
        .smv(&["restore", "--reason", "both put back", "--yes"])
        .fails(5);
    let range = format!("entries {} to {seen} are gone", size0 + 1);
    assert!(refused.stderr.contains(&range), "{}", refused.stderr);
    assert!(refused.stderr.contains("joe"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--accept-lost-history"));
    s.smv(&["whoami"]).fails(7);
    // Asked interactively, it is refused before anyone is asked to confirm.
    s.smv(&["restore", "--reason", "both put back"])
        .fails(5)
        .stderr_has("--accept-lost-history");
    // The dry run shows it too.
    let preview = s
        .smv(&["--json", "restore", "--reason", "r", "--dry-run"])
        .ok()
        .json();
    assert_eq!(preview["lost_history"]["accepted"], false);
    assert_eq!(preview["lost_history"]["custodians"][1], "joe", "{preview}");

    let report = s
        .smv(&[
            "--json",
            "restore",
            "--reason",
            "both put back",
            "--accept-lost-history",
            "--yes",
        ])
        .ok()
        .json();
    assert_eq!(report["lost_history"]["accepted"], true);
    let intent = s
        .audit_entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "vault.restore" && e.outcome == Outcome::Intent)
        .unwrap();
    assert_eq!(intent.details["accept_lost_history"], true);
    assert!(
        intent.details["brought_back_custodians"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "joe")
    );
    assert!(
        intent.details["lost_entries"]
            .as_str()
            .unwrap()
            .contains(&range)
    );
    s.smv(&["whoami"]).ok();
}

/// `smv init` never makes a new vault over an existing one, nor beside an existing log
/// (whose history would be orphaned by a vault of someone else's making).
#[test]
fn init_over_an_existing_vault_or_log_is_refused() {
    let (s, _joe) = team();
    let before = s.vault_bytes();
    s.smv(&["init", "--name", "mallory"])
        .fails(5)
        .stderr_has("already exists");
    assert_eq!(s.vault_bytes(), before);
    let log_before = std::fs::read(s.audit()).unwrap();
    std::fs::remove_file(s.vault()).unwrap();
    s.smv(&["init", "--name", "mallory"]).fails(7);
    assert!(!s.vault().exists());
    assert_eq!(std::fs::read(s.audit()).unwrap(), log_before);
}

/// A hot journal (a write interrupted in rollback-journal mode: a log put back from an
/// `smv audit backup` copy) is rolled back by the next command instead of every command
/// failing with "… is not an SQLite database" (issue 23, item 7).
#[test]
fn a_hot_journal_left_in_a_backup_log_is_rolled_back_by_the_next_command() {
    let (s, _joe) = team();
    // The log in rollback-journal mode, as `smv audit backup` writes its copies (the same
    // entries, so that nothing but the journal is in the way).
    rusqlite::Connection::open(s.audit())
        .unwrap()
        .pragma_update(None, "journal_mode", "DELETE")
        .unwrap();
    assert!(!PathBuf::from(format!("{}-wal", s.audit().display())).exists());
    let good = std::fs::read(s.audit()).unwrap();

    // A writer that dies mid-transaction, as kill -9 leaves it: the database file already
    // holds changed pages (a small cache spills them), the journal the originals.
    let frozen = s.home().join("frozen");
    std::fs::create_dir_all(&frozen).unwrap();
    {
        let conn = rusqlite::Connection::open(s.audit()).unwrap();
        conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1; BEGIN;")
            .unwrap();
        conn.execute("UPDATE entries SET body = zeroblob(length(body))", [])
            .unwrap();
        conn.execute("DELETE FROM state", []).unwrap();
        let journal = PathBuf::from(format!("{}-journal", s.audit().display()));
        assert!(journal.exists(), "the writer keeps a rollback journal");
        std::fs::copy(s.audit(), frozen.join("log")).unwrap();
        std::fs::copy(&journal, frozen.join("log-journal")).unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
    }
    assert_ne!(
        std::fs::read(frozen.join("log")).unwrap(),
        good,
        "the crash image must differ from the committed log"
    );
    put_log(&s, &frozen);
    assert!(PathBuf::from(format!("{}-journal", s.audit().display())).exists());

    s.smv(&["whoami"]).ok();
    assert!(
        !PathBuf::from(format!("{}-journal", s.audit().display())).exists(),
        "the hot journal was rolled back"
    );
    s.smv(&["audit", "verify"]).ok();
    s.smv(&["post", "news", "after the crash"]).ok();
    s.smv(&["audit", "verify"]).ok();
}

/// The restore's steps with a log put back from an `smv audit backup` copy, aborted at
/// each failpoint (as kill -9 leaves it): the next command works or names `smv restore`,
/// which then finishes the job; the log verifies throughout.
#[test]
fn a_restore_aborted_at_each_step_leaves_the_old_or_the_new_state() {
    for point in [
        "audit-append",
        "after-intent",
        "vault-write",
        "vault-before-rename",
        "after-save",
    ] {
        let (s, joe) = team();
        let v0 = keep_vault(&s, "v0.smv");
        s.smv(&["offboard", "joe", "--yes"]).ok();
        let backup = s.home().join("log-backup");
        s.smv(&["audit", "backup", backup.to_str().unwrap()]).ok();
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", s.audit().display()));
        }
        std::fs::copy(&backup, s.audit()).unwrap();
        std::fs::remove_file(s.vault()).unwrap();
        let failed = s.smv_env(
            &[("SMV_FAILPOINT", &format!("{point}:abort"))],
            &[
                "restore",
                "--from",
                v0.to_str().unwrap(),
                "--reason",
                "disk",
                "--accept-lost-history",
                "--yes",
            ],
        );
        assert_ne!(failed.code, 0, "{point}: the abort did not happen");
        let interrupted = after_interruption(&s, &v0, point);
        // Up to the rename the old state stays (no vault: `smv restore` is named); after
        // it, the new one.
        assert_eq!(interrupted, point != "after-save", "{point}");
        s.smv_as(&joe, &["whoami"]).fails(6);
    }
}

/// What must hold after a restore was killed: the log opens and verifies; the vault is the
/// old state (none, or an older copy: refused, naming `smv restore`) or the new one; a
/// second restore finishes it.
fn after_interruption(s: &Sandbox, copy: &Path, when: &str) -> bool {
    let next = s.smv(&["whoami"]);
    let interrupted = next.code != 0;
    eprintln!(
        "{when}: {}",
        if interrupted {
            "interrupted, repaired by `smv restore`"
        } else {
            "done (the new state)"
        }
    );
    if interrupted {
        let err = &next.stderr;
        assert!(
            err.contains("smv restore"),
            "{when}: the next command neither works nor names the repair: {err}"
        );
        assert!(!err.contains("not an SQLite database"), "{when}: {err}");
        s.smv(&[
            "restore",
            "--from",
            copy.to_str().unwrap(),
            "--reason",
            "again",
            "--accept-lost-history",
            "--yes",
        ])
        .ok();
        s.smv(&["whoami"]).ok();
    }
    s.smv(&["audit", "verify"]).ok();
    interrupted
}

/// kill -9 at arbitrary moments of a restore (bounded): every run leaves a state the next
/// command accepts or repairs with `smv restore`.
#[test]
fn a_restore_killed_at_random_moments_is_recoverable() {
    // How long a whole restore takes here, to spread the kills over it.
    let (s, _joe) = team();
    let v0 = keep_vault(&s, "v0.smv");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    let started = std::time::Instant::now();
    s.smv(&[
        "restore",
        "--from",
        v0.to_str().unwrap(),
        "--reason",
        "timing",
        "--yes",
    ])
    .ok();
    let whole = started.elapsed().as_millis().max(20) as u64;

    let mut interrupted = 0;
    for round in 0..12u64 {
        let (s, joe) = team();
        let v0 = keep_vault(&s, "v0.smv");
        s.smv(&["offboard", "joe", "--yes"]).ok();
        let backup = s.home().join("log-backup");
        s.smv(&["audit", "backup", backup.to_str().unwrap()]).ok();
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", s.audit().display()));
        }
        std::fs::copy(&backup, s.audit()).unwrap();
        std::fs::remove_file(s.vault()).unwrap();
        let mut cmd = s.command();
        cmd.args([
            "restore",
            "--from",
            v0.to_str().unwrap(),
            "--reason",
            "disk",
            "--accept-lost-history",
            "--yes",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // Spread over the whole run, the later half more densely (where the writes are).
        let at = whole * (round + 1) / 13;
        std::thread::sleep(Duration::from_millis(at));
        let _ = child.kill();
        let _ = child.wait();
        if after_interruption(&s, &v0, &format!("killed after {at} ms of {whole}")) {
            interrupted += 1;
        }
        s.smv_as(&joe, &["whoami"]).fails(6);
    }
    // The early kills land before the restore wrote anything: at least those left the old
    // state (the loop is not only testing finished restores).
    assert!(interrupted > 0, "no kill interrupted a restore");
}

/// Both files put back from before a custodian left (the lost part held his offboarding
/// and the key rotation): the restore names him among the custodians the copy brings back
/// and needs --accept-lost-history; accepted, the admin offboards him again, which rotates
/// the key again, and the log verifies.
#[test]
fn a_lost_history_that_removed_a_custodian_names_him_and_needs_the_flag() {
    let (s, joe) = team();
    let v0 = keep_vault(&s, "v0.smv");
    let l0 = keep_log(&s, "l0");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    put_vault(&s, &v0);
    put_log(&s, &l0);
    let refused = s
        .smv(&["restore", "--reason", "both put back", "--yes"])
        .fails(5);
    assert!(refused.stderr.contains("joe"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--accept-lost-history"));
    s.smv(&[
        "restore",
        "--reason",
        "both put back",
        "--accept-lost-history",
        "--yes",
    ])
    .ok()
    .stderr_has("custodians: alice, joe");
    s.smv(&["offboard", "joe", "--yes"]).ok();
    s.smv_as(&joe, &["whoami"]).fails(6);
    s.smv(&["audit", "verify"]).ok();
}
