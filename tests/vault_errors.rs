//! Bad input gets a clear error, its own exit code class, and loses nothing: the vault on
//! disk is byte-for-byte what it was.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use smv::audit::Outcome;
use support::{Sandbox, chmod};

fn identity(s: &Sandbox) -> smv::identity::Identity {
    let text = std::fs::read_to_string(s.identity_file()).unwrap();
    smv::identity::Identity::parse(&text, smv::identity::Source::Env).unwrap()
}

fn add_account(s: &Sandbox, name: &str) -> support::Run {
    s.smv_in(
        &["account", "add", name, "--provider", "x", "--secret-stdin"],
        &support::x_cred("tok-1"),
    )
}

#[test]
fn no_identity() {
    let s = Sandbox::new();
    s.smv(&["whoami"])
        .fails(6)
        .stderr_has("no identity")
        .stderr_has("smv init");
}

#[test]
fn no_vault() {
    let s = Sandbox::new();
    s.init();
    let missing = s.home().join("nope.smv");
    s.smv(&["--vault", missing.to_str().unwrap(), "account", "list"])
        .fails(7)
        .stderr_has("no vault")
        .stderr_has("smv init");
}

#[test]
fn wrong_identity_and_foreign_recipients() {
    let s = Sandbox::new();
    s.init();
    let before = s.vault_bytes();
    let other = s.home().join("other.key");
    let id = age::x25519::Identity::generate();
    std::fs::write(
        &other,
        format!(
            "{}\n",
            age::secrecy::ExposeSecret::expose_secret(&id.to_string())
        ),
    )
    .unwrap();
    chmod(&other, 0o600);
    s.smv_as(&other, &["account", "list"])
        .fails(6)
        .stderr_has("cannot open the vault")
        .stderr_has(&id.to_public().to_string())
        .stderr_has("--custodian");
    // SMV_IDENTITY (the key itself) takes the same path.
    s.set_env(
        "SMV_IDENTITY",
        age::secrecy::ExposeSecret::expose_secret(&id.to_string()),
    );
    add_account(&s, "x").fails(6).stderr_has("SMV_IDENTITY");
    assert_eq!(before, s.vault_bytes());

    // A well-formed age file encrypted to somebody else entirely.
    let s = Sandbox::new();
    s.init();
    let stranger = age::x25519::Identity::generate();
    let ct =
        smv::envelope::encrypt_to(&[stranger.to_public()], b"SQLite format 3\0whatever").unwrap();
    std::fs::write(s.vault(), &ct).unwrap();
    add_account(&s, "x").fails(6).stderr_has("cannot open");
    assert_eq!(ct, s.vault_bytes());
}

#[test]
fn damaged_and_foreign_files_are_refused_and_untouched() {
    let s = Sandbox::new();
    s.init();
    let good = s.vault_bytes();
    let me = identity(&s);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "damaged"),
        ("last byte cut", good[..good.len() - 1].to_vec(), "damaged"),
        (
            "flipped byte",
            {
                let mut b = good.clone();
                let n = b.len() - 40;
                b[n] ^= 0x55;
                b
            },
            "damaged",
        ),
        ("empty", vec![], "empty"),
        (
            "garbage",
            b"hello, I am a text file\n".to_vec(),
            "not an smv vault",
        ),
        (
            "plain sqlite",
            b"SQLite format 3\0\0\0\0".to_vec(),
            "not an age-encrypted file",
        ),
        (
            "age, not sqlite",
            smv::envelope::encrypt_to(&[me.recipient()], b"just text").unwrap(),
            "other than a SQLite",
        ),
        (
            // A custodian's tools can make this: `age -d`, a damaged edit, `age -r`.
            "age around a damaged smv database",
            {
                let mut image = smv::envelope::decrypt_with(me.age_identity(), &good)
                    .ok()
                    .unwrap()
                    .to_vec();
                assert!(image.len() > 8192);
                for b in &mut image[4096..4196] {
                    *b = 0xff;
                }
                smv::envelope::encrypt_to(&[me.recipient()], &image).unwrap()
            },
            "database image is damaged",
        ),
        (
            "age, other sqlite",
            {
                let mut conn = rusqlite::Connection::open_in_memory().unwrap();
                conn.execute_batch("CREATE TABLE t(x)").unwrap();
                let image = conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec();
                smv::envelope::encrypt_to(&[me.recipient()], &image).unwrap()
            },
            "not an smv vault",
        ),
    ];
    for (what, bytes, message) in cases {
        std::fs::write(s.vault(), &bytes).unwrap();
        let run = add_account(&s, "x");
        assert_eq!(run.code, 7, "{what}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{what}: {}", run.stderr);
        assert!(run.stderr.contains("hint:"), "{what}: {}", run.stderr);
        assert_eq!(bytes, s.vault_bytes(), "{what}: the file was changed");
    }
    std::fs::write(s.vault(), &good).unwrap();
    add_account(&s, "x").ok();
}

#[test]
fn newer_schema_is_refused_not_downgraded() {
    let s = Sandbox::new();
    s.init();
    let me = identity(&s);
    let mut vault = smv::vault::Vault::load(&s.vault(), &me).unwrap();
    vault
        .conn()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let sealed = vault
        .seal(&me, vault.next_generation().unwrap(), 0)
        .unwrap();
    vault
        .install(sealed, &me, smv::vault::WriteMode::Replace)
        .unwrap();
    let before = s.vault_bytes();
    add_account(&s, "x")
        .fails(7)
        .stderr_has("schema version 99")
        .stderr_has("upgrade smv");
    s.smv(&["account", "list"]).fails(7);
    assert_eq!(before, s.vault_bytes());
}

#[test]
fn identity_file_problems() {
    let s = Sandbox::new();
    s.init();
    chmod(&s.identity_file(), 0o644);
    s.smv(&["whoami"])
        .fails(6)
        .stderr_has("readable by other users")
        .stderr_has("chmod 600");
    chmod(&s.identity_file(), 0o600);
    let bad = s.home().join("bad.key");
    std::fs::write(&bad, "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    chmod(&bad, 0o600);
    let run = s.smv_as(&bad, &["whoami"]).fails(6).stderr_has("malformed");
    assert!(
        !run.stderr.contains("NOTAKEY"),
        "the key text was echoed: {}",
        run.stderr
    );
    std::fs::write(&bad, "ssh-ed25519 AAAA\n").unwrap();
    s.smv_as(&bad, &["whoami"])
        .fails(6)
        .stderr_has("not an age X25519 secret key");
    let missing = s.home().join("missing.key");
    s.smv_as(&missing, &["whoami"])
        .fails(9)
        .stderr_has("missing.key")
        .stderr_has("hint: check the path given by --identity");
    // SMV_IDENTITY_FILE works like --identity.
    s.set_env("SMV_IDENTITY_FILE", s.identity_file().to_str().unwrap());
    s.smv(&["whoami"]).ok().stdout_has("SMV_IDENTITY_FILE");
}

#[test]
fn concurrent_writers_lose_nothing() {
    let s = Sandbox::new();
    s.init();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut cmd = s.command();
            cmd.args([
                "account",
                "add",
                &format!("acc-{i}"),
                "--provider",
                "outbox",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = s.smv(&["account", "list", "--json"]).ok().json();
    assert_eq!(
        list.as_array().unwrap().len(),
        8,
        "a concurrent write was lost"
    );
    let oks = s
        .audit_entries()
        .iter()
        .filter(|e| e.action == "account.add" && e.outcome == Outcome::Ok)
        .count();
    assert_eq!(oks, 8);
}

#[test]
fn a_held_lock_is_reported_as_busy() {
    let s = Sandbox::new();
    s.init();
    let mut slow = s.command();
    slow.env("SMV_FAILPOINT", "after-intent:sleep1500")
        .args(["account", "add", "slow", "--provider", "outbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = slow.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.set_env("SMV_LOCK_TIMEOUT_MS", "100");
    s.smv(&["account", "add", "fast", "--provider", "outbox"])
        .fails(8)
        .stderr_has("locked")
        .stderr_has("again");
    assert!(child.wait().unwrap().success());
    s.smv(&["account", "add", "fast", "--provider", "outbox"])
        .ok();
}

/// A crash between the temporary file and the rename (as kill -9 would leave it).
#[test]
fn crash_before_rename_leaves_the_old_vault() {
    let s = Sandbox::new();
    s.init();
    add_account(&s, "before").ok();
    let before = s.vault_bytes();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "vault-before-rename:abort").args([
        "account",
        "add",
        "lost",
        "--provider",
        "outbox",
    ]);
    let run = s.run_cmd(cmd, None);
    assert_ne!(run.code, 0);
    assert_eq!(before, s.vault_bytes());
    let temps: Vec<_> = std::fs::read_dir(s.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert_eq!(
        temps.len(),
        1,
        "the crash should leave its temporary file behind"
    );
    // The log shows an intent without an outcome.
    let entries = s.audit_entries();
    let tail: Vec<_> = entries[entries.len() - 2..]
        .iter()
        .map(|e| (e.action.as_str(), e.outcome))
        .collect();
    assert_eq!(
        tail,
        [
            ("account.add", Outcome::Intent),
            ("vault.write", Outcome::Intent)
        ]
    );
    // The next write works and cleans up after the dead process.
    add_account(&s, "after").ok();
    let temps = std::fs::read_dir(s.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(temps, 0);
    let names: Vec<_> = s
        .smv(&["account", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["after", "before"]);
}

/// kill -9 at random moments of many writes: the vault always opens and holds whole changes.
#[test]
fn random_kill_9_never_corrupts() {
    let s = Sandbox::new();
    s.init();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut cmd = s.command();
        cmd.args(["account", "add", &format!("k{i}"), "--provider", "outbox"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        let _ = child.kill();
        let _ = child.wait();
        s.smv(&["account", "list", "--json"]).ok();
    }
    add_account(&s, "final").ok();
    let list = s.smv(&["account", "list", "--json"]).ok().json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "final")
    );
}

#[test]
fn failing_vault_write_changes_nothing() {
    let s = Sandbox::new();
    s.init();
    let before = s.vault_bytes();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "vault-write:error").args([
        "account",
        "add",
        "x",
        "--provider",
        "outbox",
    ]);
    s.run_cmd(cmd, None).fails(9).stderr_has("injected failure");
    assert_eq!(before, s.vault_bytes());
    // Intent (the change's and its write's), then both failed, under one request id.
    let entries = s.audit_entries();
    let tail: Vec<_> = entries[entries.len() - 4..]
        .iter()
        .map(|e| (e.action.as_str(), e.outcome))
        .collect();
    assert_eq!(
        tail,
        [
            ("account.add", Outcome::Intent),
            ("vault.write", Outcome::Intent),
            ("account.add", Outcome::Failed),
            ("vault.write", Outcome::Failed),
        ]
    );
    let ids: std::collections::BTreeSet<_> = entries[entries.len() - 4..]
        .iter()
        .map(|e| &e.request_id)
        .collect();
    assert_eq!(ids.len(), 1);
    // The failed write's file was never in place: the vault as it was is still accepted.
    s.smv(&["account", "list"]).ok();
}

/// Fail closed: when the intent cannot be logged, the action does not happen.
#[test]
fn failing_audit_write_stops_the_action() {
    let s = Sandbox::new();
    s.init();
    let before = s.vault_bytes();
    let n = s.audit_entries().len();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "audit-append:error").args([
        "account",
        "add",
        "x",
        "--provider",
        "outbox",
    ]);
    s.run_cmd(cmd, None).fails(9);
    assert_eq!(before, s.vault_bytes());
    assert_eq!(n, s.audit_entries().len());
    // And a missing audit log is refused outright.
    std::fs::rename(s.audit(), s.home().join("moved")).unwrap();
    s.smv(&["account", "add", "x", "--provider", "outbox"])
        .fails(7)
        .stderr_has("audit log");
    assert_eq!(before, s.vault_bytes());
}

/// A full disk and a read-only directory, on a real small tmpfs in a private mount namespace.
#[test]
fn disk_full_and_read_only_directory() {
    if !support::require_tool("unshare") {
        return;
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--map-root-user", "true"])
        .status();
    let direct = Command::new("unshare").args(["--mount", "true"]).status();
    let flag = match (direct, probe) {
        (Ok(st), _) if st.success() => "--mount",
        (_, Ok(st)) if st.success() => "--mount --map-root-user",
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "unshare --mount must work in CI"
            );
            eprintln!("SKIPPED: no mount namespaces here");
            return;
        }
    };
    let s = Sandbox::new();
    s.init();
    add_account(&s, "base").ok();
    let mnt = s.home().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let vault_len = s.vault_bytes().len();
    // The tmpfs holds the vault, its audit log and a filler that leaves room for the audit
    // entries but not for a second copy of the vault.
    let script = format!(
        r#"set -e
mount -t tmpfs -o size=1m tmpfs {mnt}
cp {vault} {audit} {mnt}/
sum_before=$(sha256sum {mnt}/vault.smv | cut -d' ' -f1)
avail=$(df --output=avail -B1 {mnt} | tail -1)
fill=$((avail - {room}))
head -c $fill /dev/zero > {mnt}/filler 2>/dev/null || true
set +e
printf 'consumer_key=ck\nconsumer_secret=tok-1\naccess_token=at\naccess_token_secret=tok-1' | {bin} --vault {mnt}/vault.smv account add full --provider x --secret-stdin; echo "rc_full=$?"
sum_after=$(sha256sum {mnt}/vault.smv | cut -d' ' -f1)
[ "$sum_before" = "$sum_after" ] && echo same_full
ls -a {mnt} | grep -c '\.tmp$' | sed 's/^/temps=/'
rm {mnt}/filler
mount -o remount,ro {mnt}
printf 'consumer_key=ck\nconsumer_secret=tok-1\naccess_token=at\naccess_token_secret=tok-1' | {bin} --vault {mnt}/vault.smv account add ro --provider x --secret-stdin; echo "rc_ro=$?"
sum_after=$(sha256sum {mnt}/vault.smv | cut -d' ' -f1)
[ "$sum_before" = "$sum_after" ] && echo same_ro
"#,
        mnt = mnt.display(),
        vault = s.vault().display(),
        audit = s.audit().display(),
        bin = support::BIN,
        room = 48 * 1024 + vault_len / 2,
    );
    let mut cmd = s.command();
    cmd.env_remove("SMV_FAILPOINT");
    let mut sh = Command::new("unshare");
    sh.args(flag.split(' ')).args(["sh", "-c", &script]);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh.current_dir(s.home());
    let run = s.run_cmd(sh, None);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(out.contains("rc_full=9"), "disk full: {out}");
    assert!(
        out.contains("same_full"),
        "disk full changed the vault: {out}"
    );
    assert!(
        out.contains("temps=0"),
        "a temporary file was left behind: {out}"
    );
    assert!(
        out.contains("free disk space") || out.contains("No space"),
        "{out}"
    );
    assert!(out.contains("rc_ro=9"), "read-only: {out}");
    assert!(
        out.contains("same_ro"),
        "read-only changed the vault: {out}"
    );
}
