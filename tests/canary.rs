//! The canary sweep: plant a secret, run every command (success and failure paths), and
//! search every output and every file (except the encrypted vault and the file the secret
//! was read from) for the secret in any common encoding. Later features extend this sweep.

mod support;

use std::path::Path;

use support::{Sandbox, canary_forms};

const CANARY: &str = "CANARY-s3cr3t/+=&?tok-7f3a9c";

fn assert_clean(s: &Sandbox, skip: &[&Path]) {
    let forms = canary_forms(CANARY);
    for (i, text) in s.transcript.borrow().iter().enumerate() {
        for f in &forms {
            assert!(
                !text.contains(f.as_str()),
                "output #{i} contains the canary ({f}):\n{text}"
            );
        }
    }
    let mut vault_skip: Vec<&Path> = skip.to_vec();
    let vault = s.vault();
    vault_skip.push(&vault);
    let files = s.files_except(&vault_skip);
    assert!(
        files.iter().any(|f| f.ends_with("vault.smv.audit")),
        "the sweep must cover the audit log"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for f in &forms {
            assert!(
                !bytes.windows(f.len()).any(|w| w == f.as_bytes()),
                "{} contains the canary ({f})",
                file.display()
            );
        }
    }
}

#[test]
fn the_canary_appears_nowhere() {
    let s = Sandbox::new();
    s.init();
    let secret_file = s.home().join("secret-input.txt");
    std::fs::write(&secret_file, CANARY).unwrap();
    let sf = secret_file.to_str().unwrap();

    // Success paths.
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--handle",
            "@co",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .ok();
    s.smv(&[
        "account",
        "add",
        "slack-hook",
        "--provider",
        "slack-webhook",
        "--secret-file",
        sf,
    ])
    .ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    for json in [false, true] {
        let j: &[&str] = if json { &["--json"] } else { &[] };
        for cmd in [
            &["account", "list"][..],
            &["access"],
            &["whoami"],
            &["member", "list"],
            &["identity", "show"],
            &["providers"],
        ] {
            let mut args = cmd.to_vec();
            args.extend_from_slice(j);
            s.smv(&args).ok();
        }
    }
    s.smv(&["member", "add", "joe"]).ok();
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "joe", "x-main", "post"]).ok();
    s.smv(&["grant", "bob", "x-main", "manage"]).ok();
    s.smv_as(&bob, &["account", "list", "--json"]).ok();
    s.smv(&["revoke", "joe", "x-main"]).ok();

    // Failure paths, several with the canary on stdin or in a file.
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(5);
    s.smv_in(
        &[
            "account",
            "add",
            "y",
            "--provider",
            "nope",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(2);
    s.smv_in(
        &[
            "account",
            "add",
            "bad name",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(2);
    s.smv(&[
        "account",
        "add",
        "demo2",
        "--provider",
        "outbox",
        "--secret-file",
        sf,
    ])
    .fails(2);
    s.smv_in(
        &[
            "account",
            "add",
            "m",
            "--provider",
            "mastodon",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .fails(2);
    s.smv_as(
        &bob,
        &[
            "account",
            "add",
            "z",
            "--provider",
            "x",
            "--secret-file",
            sf,
        ],
    )
    .fails(4);
    s.smv_as(&bob, &["account", "remove", "x-main", "--yes"])
        .fails(4);
    s.smv(&["grant", "joe", "x-main", "root"]).fails(2);
    s.smv(&["account", "remove", "nope", "--yes"]).fails(3);
    let mut crash = s.command();
    crash.env("SMV_FAILPOINT", "vault-write:error").args([
        "account",
        "add",
        "w",
        "--provider",
        "x",
        "--secret-file",
        sf,
    ]);
    s.run_cmd(crash, None).fails(9);

    // Posting next to the secret: to the outbox, and refused on x-main (not a valid X credential).
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["grant", "alice", "x-main", "post"]).ok();
    s.smv(&["post", "demo", "hello", "--json"]).ok();
    s.smv(&["post", "demo,x-main", "hello"]).fails(2);
    s.smv(&["post", "x-main", "hello", "--dry-run"]).fails(2);
    s.smv_as(&bob, &["post", "x-main", "hello"]).fails(2); // bob manages x-main; the stored value is no X credential
    s.smv(&["account", "check", "x-main"]).fails(11);
    s.smv(&["audit", "log", "--json"]).ok();
    s.smv(&["audit", "export", "--format", "jsonl"]).ok();
    s.smv(&["audit", "export", "--format", "csv"]).ok();

    // Removing the account and a custodian who could read it.
    s.smv(&["member", "remove", "bob", "--yes", "--json"]).ok();
    s.smv(&["account", "remove", "slack-hook", "--yes", "--json"])
        .ok();
    s.smv(&["account", "remove", "x-main", "--yes"]).ok();

    assert_clean(&s, &[&secret_file]);
    // The sweep itself must be able to fail: the secret input file does contain the canary.
    let input = std::fs::read_to_string(&secret_file).unwrap();
    assert!(
        canary_forms(CANARY)
            .iter()
            .any(|f| input.contains(f.as_str()))
    );
}

#[test]
fn the_vault_holds_the_secret_only_encrypted() {
    let s = Sandbox::new();
    s.init();
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        CANARY.as_bytes(),
    )
    .ok();
    let bytes = s.vault_bytes();
    assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));
    // …but it is there, decryptable by a custodian: the sweep above is not vacuous.
    let text = std::fs::read_to_string(s.identity_file()).unwrap();
    let id = smv::identity::Identity::parse(&text, smv::identity::Source::Env).unwrap();
    let vault = smv::vault::Vault::load(&s.vault(), &id).unwrap();
    let account = vault.account("x-main").unwrap();
    let secret = vault.account_secret(&account).unwrap().unwrap();
    assert_eq!(secret.expose_to_provider(), CANARY.as_bytes());
    assert!(!format!("{account:?} {secret:?} {vault:?}").contains("CANARY"));
}
