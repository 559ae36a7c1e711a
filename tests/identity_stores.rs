//! The identity stores for real: the kernel keyring inside a private user namespace and
//! session keyring (never the developer's own keyring), passphrase-protected identity files
//! through a real terminal (`script`), and the keyring fallback.

mod support;

use std::process::Command;

use support::Sandbox;

/// Issue 24: `smv init` with default settings (keyring on, the kernel keyutils backend)
/// reported the kernel keyring as the identity's store, and the next login session found no
/// key: the vault was lost. The kernel keyring is never the only store: init writes the
/// identity file, says where, and every later session (and a new user namespace, as after a
/// reboot: all kernel keyrings are gone) finds it.
#[test]
fn the_key_survives_init_into_a_new_session_and_a_reboot() {
    if !support::require_tool("keyctl")
        || !support::require_tool("unshare")
        || !support::require_tool("setsid")
    {
        return;
    }
    let s = Sandbox::new();
    let bin = support::BIN;
    let run = support::in_user_namespace(
        &s,
        &format!(
            "keyctl session first sh -c '{bin} init --name t && printf tok-1 | {bin} account add demo --provider outbox --secret-stdin; keyctl search @s user keyring-rs:identity@smv >/dev/null 2>&1 && echo key-in-kernel-keyring'; \
             echo == second session; keyctl session second {bin} whoami --json; echo second=$?; \
             echo == setsid; setsid -w {bin} whoami --json >/dev/null; echo setsid=$?"
        ),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // init says where the key is, and why not in the kernel keyring.
    let file = s.identity_file();
    assert!(
        run.stdout
            .contains(&format!("identity:  file {}", file.display())),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("forgets keys at logout and reboot"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(file.to_str().unwrap()),
        "{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("key-in-kernel-keyring"),
        "the kernel keyring must not hold the key: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("second=0"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("setsid=0"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout
            .contains(&format!("file {} (from default location)", file.display())),
        "{}",
        run.stdout
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // A reboot: a new user namespace, whose kernel keyrings start empty.
    let after = support::in_private_keyring(&s, &format!("{bin} whoami"));
    assert_eq!(after.code, 0, "{}{}", after.stdout, after.stderr);
    // `identity new` keeps a new key the same way.
    let t = Sandbox::new();
    let made = support::in_user_namespace(
        &t,
        &format!("keyctl session one {bin} identity new; keyctl session two {bin} identity show"),
    );
    assert_eq!(made.code, 0, "{}{}", made.stdout, made.stderr);
    assert!(t.identity_file().exists());
    assert!(
        made.stderr.contains("forgets keys at logout and reboot"),
        "{}",
        made.stderr
    );
}

/// A key an older smv kept in the kernel keyring is still found, and the user is told to
/// copy it to a file before a logout loses it; once copied, the warning stops.
#[test]
fn a_key_only_in_the_kernel_keyring_is_used_and_warned_about() {
    if !support::require_tool("keyctl") || !support::require_tool("unshare") {
        return;
    }
    let s = Sandbox::new();
    s.init();
    let file = s.identity_file();
    let f = file.to_str().unwrap();
    let bin = support::BIN;
    let run = support::in_private_keyring(
        &s,
        &format!(
            "grep AGE-SECRET-KEY {f} | tr -d '\\n' | keyctl padd user keyring-rs:identity@smv @s >/dev/null && rm {f} && {bin} whoami --json && echo probe=$({bin} identity probe-keyring) && {bin} identity backup {f} && {bin} whoami --json 2>&1 && echo done"
        ),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("\"identity\": \"OS keyring (kernel keyutils)\""),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.matches("is only in the OS keyring").count(),
        1,
        "warned once, before the copy: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("smv identity backup {f}")),
        "{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("only in the OS keyring"),
        "{}",
        run.stdout
    );
    // The probe a new process runs after storing a key in a persistent keyring (macOS,
    // Windows) prints that key's recipient, public, and nothing secret.
    let recipient = s.smv(&["identity", "show"]).ok().stdout.trim().to_string();
    assert!(
        run.stdout.contains(&format!("probe={recipient}")),
        "{recipient}: {}",
        run.stdout
    );
    assert!(!run.stdout.contains("AGE-SECRET-KEY") && !run.stderr.contains("AGE-SECRET-KEY"));
    // With nothing in the keyring, the probe says so (exit 6): init would not trust it.
    let empty = support::in_private_keyring(&s, &format!("{bin} identity probe-keyring"));
    assert_eq!(empty.code, 6, "{}{}", empty.stdout, empty.stderr);
}

#[test]
fn unusable_keyring_falls_back_to_a_file() {
    let s = Sandbox::new();
    s.set_env("SMV_KEYRING", "on");
    s.set_env("SMV_FAILPOINT", "keyring-store:error");
    let run = s.smv(&["init", "--name", "alice"]).ok();
    assert!(
        run.stderr.contains("no usable OS keyring")
            || run.stderr.contains("forgets keys at logout and reboot"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(s.identity_file().to_str().unwrap()));
    assert!(s.identity_file().exists());
    s.smv(&["whoami"]).ok();
}

fn in_terminal(s: &Sandbox, args: &str, typed: &str) -> support::Run {
    // `script` gives smv a real pseudo-terminal; what we pipe in is what the user types.
    let mut cmd = s.command();
    let program = cmd.get_program().to_owned();
    let mut script = Command::new("script");
    script.args([
        "-qec",
        &format!("{} {args}", program.to_string_lossy()),
        "/dev/null",
    ]);
    script.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    script.current_dir(s.home());
    let _ = &mut cmd;
    s.run_cmd(script, Some(typed.as_bytes()))
}

#[test]
fn passphrase_protected_identity_file() {
    if !support::require_tool("script") {
        return;
    }
    let s = Sandbox::new();
    let key = s.home().join("alice.age");
    let k = key.to_str().unwrap();
    let run = in_terminal(
        &s,
        &format!("--identity {k} init --name alice --passphrase"),
        "correct horse battery\ncorrect horse battery\n",
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert!(!text.contains("AGE-SECRET-KEY"));
    let ok = in_terminal(
        &s,
        &format!("--identity {k} whoami"),
        "correct horse battery\n",
    );
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(
        ok.stdout.contains("passphrase-protected file"),
        "{}",
        ok.stdout
    );
    let bad = in_terminal(&s, &format!("--identity {k} whoami"), "wrong wrong wrong\n");
    assert_eq!(bad.code, 6, "{}", bad.stdout);
    assert!(bad.stdout.contains("wrong passphrase"), "{}", bad.stdout);
    // Without a terminal, smv says how to do it in CI instead of hanging.
    s.smv_as(&key, &["whoami"])
        .fails(2)
        .stderr_has("SMV_IDENTITY");
    // Mismatched entries at creation are refused, and nothing is created.
    let other = s.home().join("other.age");
    let mismatch = in_terminal(
        &s,
        &format!(
            "--vault {}/v2.smv --identity {} init --passphrase",
            s.home().display(),
            other.display()
        ),
        "abcdefgh1\nabcdefgh2\n",
    );
    assert_eq!(mismatch.code, 2, "{}", mismatch.stdout);
    assert!(!other.exists());
}

#[test]
fn identity_backup_and_show() {
    let s = Sandbox::new();
    s.init();
    let shown = s.smv(&["identity", "show", "--json"]).ok().json();
    let backup = s.home().join("backup.txt");
    s.smv(&["identity", "backup", backup.to_str().unwrap()])
        .ok();
    s.smv(&["identity", "backup", backup.to_str().unwrap()])
        .fails(5)
        .stderr_has("never overwrites");
    s.smv_as(&backup, &["whoami", "--json"]).ok();
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(text.contains(shown["recipient"].as_str().unwrap()));
}
