//! The identity stores for real: the kernel keyring inside a private user namespace and
//! session keyring (never the developer's own keyring), passphrase-protected identity files
//! through a real terminal (`script`), and the keyring fallback.

mod support;

use std::process::Command;

use support::Sandbox;

#[test]
fn keyring_holds_the_identity_in_a_private_session() {
    if !support::require_tool("keyctl") || !support::require_tool("unshare") {
        return;
    }
    let s = Sandbox::new();
    let bin = support::BIN;
    let run = support::in_private_keyring(
        &s,
        &format!(
            "{bin} init --name alice && printf 'consumer_key=ck\\nconsumer_secret=tok-1\\naccess_token=at\\naccess_token_secret=tok-1' | {bin} account add x-main --provider x --secret-stdin && {bin} whoami --json && keyctl search @s user keyring-rs:identity@smv >/dev/null && echo key-in-session-keyring"
        ),
    )
    .ok();
    assert!(
        run.stdout
            .contains("\"identity\": \"OS keyring (kernel keyutils)\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("key-in-session-keyring"));
    assert!(
        run.stderr.contains("does not survive a reboot"),
        "{}",
        run.stderr
    );
    assert!(
        !s.identity_file().exists(),
        "with a keyring, no identity file is written"
    );
    // Outside that session the key is not there: the vault stays closed.
    s.set_env("SMV_KEYRING", "on");
    let outside = support::in_private_keyring(&s, &format!("{bin} whoami"));
    assert_eq!(outside.code, 6, "{}", outside.stderr);
}

#[test]
fn unusable_keyring_falls_back_to_a_file() {
    let s = Sandbox::new();
    s.set_env("SMV_KEYRING", "on");
    s.set_env("SMV_FAILPOINT", "keyring-store:error");
    let run = s.smv(&["init", "--name", "alice"]).ok();
    assert!(
        run.stderr.contains("no usable OS keyring"),
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
