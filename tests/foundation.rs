//! The foundation's commands, end to end through the binary: happy paths, refusals, and
//! that each leaves the audit entries it should.

mod support;

use smv::audit::Outcome;
use support::Sandbox;

#[test]
fn init_creates_vault_audit_and_private_identity() {
    let s = Sandbox::new();
    let run = s.init();
    assert!(
        run.stdout.contains("alice (admin, custodian)"),
        "{}",
        run.stdout
    );
    // No keyring in tests: init says so and falls back to the identity file.
    assert!(run.stderr.contains("keyring is disabled"), "{}", run.stderr);
    for p in [s.vault(), s.audit(), s.identity_file()] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", p.display());
    }
    // The change's intent and outcome, each with its vault write's (generation 1).
    let entries = s.audit_entries();
    let shape: Vec<_> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.outcome))
        .collect();
    assert_eq!(
        shape,
        [
            ("init", Outcome::Intent),
            ("vault.write", Outcome::Intent),
            ("init", Outcome::Ok),
            ("vault.write", Outcome::Ok),
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.request_id == entries[0].request_id)
    );
    assert_eq!(entries[1].details["generation"], 1);

    let me = s.smv(&["whoami", "--json"]).ok().json();
    assert_eq!(me["member"], "alice");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["custodian"], true);
    assert!(me["recipient"].as_str().unwrap().starts_with("age1"));
}

#[test]
fn init_refuses_an_existing_vault_and_leaves_it_alone() {
    let s = Sandbox::new();
    s.init();
    let before = s.vault_bytes();
    s.smv(&["init", "--name", "bob"])
        .fails(5)
        .stderr_has("already exists")
        .stderr_has("never overwrites");
    assert_eq!(before, s.vault_bytes());
}

#[test]
fn second_vault_reuses_the_identity() {
    let s = Sandbox::new();
    let first = s.smv(&["init", "--name", "alice", "--json"]).ok().json();
    let other = s.home().join("other.smv");
    let second = s
        .smv(&[
            "--vault",
            other.to_str().unwrap(),
            "init",
            "--name",
            "alice",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(first["recipient"], second["recipient"]);
    assert_eq!(second["identity_created"], false);
}

#[test]
fn accounts_add_list_remove() {
    let s = Sandbox::new();
    s.init();
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
        &support::x_cred("tok-1"),
    )
    .ok()
    .stdout_has("hmac:");
    let secret_file = s.home().join("masto.txt");
    std::fs::write(&secret_file, "masto-token").unwrap();
    s.smv(&[
        "account",
        "add",
        "masto",
        "--provider",
        "mastodon",
        "--url",
        "https://social.example",
        "--secret-file",
        secret_file.to_str().unwrap(),
    ])
    .ok();
    // The outbox needs no secret and asks for none.
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();

    let list = s.smv(&["account", "list", "--json"]).ok().json();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo", "masto", "x-main"]);
    let x = &list[2];
    assert_eq!(x["provider"], "x");
    assert_eq!(x["handle"], "@co");
    assert_eq!(x["created_by"], "alice");
    assert_eq!(x["secret_fingerprint"].as_str().unwrap().len(), 64);
    assert!(list[0]["secret_fingerprint"].is_null());

    let table = s.smv(&["account", "list"]).ok();
    assert!(table.stdout.contains("x-main") && table.stdout.contains("@co"));

    // Same secret, same fingerprint; different secret, different fingerprint.
    s.smv_in(
        &[
            "account",
            "add",
            "x-copy",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("tok-1"),
    )
    .ok();
    let list = s.smv(&["account", "list", "--json"]).ok().json();
    let fp = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .unwrap()["secret_fingerprint"]
            .clone()
    };
    assert_eq!(fp("x-copy"), fp("x-main"));
    assert_ne!(fp("masto"), fp("x-main"));

    s.smv(&["account", "remove", "x-copy"])
        .fails(2)
        .stderr_has("--yes");
    s.smv(&["account", "remove", "x-copy", "--yes"]).ok();
    s.smv(&["account", "remove", "x-copy", "--yes"])
        .fails(3)
        .stderr_has("smv account list");
    let actions: Vec<_> = s
        .audit_entries()
        .iter()
        .map(|e| (e.action.clone(), e.outcome))
        .collect();
    assert!(actions.contains(&("account.remove".into(), Outcome::Ok)));
    assert!(actions.contains(&("account.remove".into(), Outcome::Failed)));
}

#[test]
fn account_add_refuses_bad_input() {
    let s = Sandbox::new();
    s.init();
    s.smv_in(
        &[
            "account",
            "add",
            "a",
            "--provider",
            "myspace",
            "--secret-stdin",
        ],
        b"tok-1",
    )
    .fails(2)
    .stderr_has("not a provider")
    .stderr_has("mastodon");
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("tok-1"),
    )
    .ok();
    s.smv_in(
        &[
            "account",
            "add",
            "x-main",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("tok-2"),
    )
    .fails(5)
    .stderr_has("already exists");
    s.smv_in(
        &[
            "account",
            "add",
            "bad name",
            "--provider",
            "x",
            "--secret-stdin",
        ],
        &support::x_cred("tok-1"),
    )
    .fails(2);
    s.smv_in(
        &["account", "add", "e", "--provider", "x", "--secret-stdin"],
        b"\n",
    )
    .fails(2)
    .stderr_has("empty");
    // No terminal, no --secret-*: refuse rather than hang or read argv.
    s.smv(&["account", "add", "e", "--provider", "x"])
        .fails(2)
        .stderr_has("--secret-stdin");
    s.smv_in(
        &[
            "account",
            "add",
            "m",
            "--provider",
            "mastodon",
            "--secret-stdin",
        ],
        b"tok-1",
    )
    .fails(2)
    .stderr_has("--url");
    s.smv_in(
        &[
            "account",
            "add",
            "o",
            "--provider",
            "outbox",
            "--secret-stdin",
        ],
        b"tok-1",
    )
    .fails(2)
    .stderr_has("takes no secret");
    // The secret can never be given as an argument.
    s.smv(&["account", "add", "z", "--provider", "x", "--secret", "tok"])
        .fails(2);
    let names: Vec<_> = s
        .smv(&["account", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, ["x-main"]);
}

#[test]
fn members_grants_and_access_matrix() {
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
        &support::x_cred("tok-1"),
    )
    .ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    s.smv(&["member", "add", "joe", "--role", "member"]).ok();
    s.smv(&["member", "add", "ann", "--role", "auditor"]).ok();
    s.smv(&["grant", "joe", "x-main", "post"]).ok();
    s.smv(&["grant", "joe", "demo", "draft"]).ok();
    s.smv(&["grant", "joe", "demo", "approve"]).ok(); // a second grant replaces the first

    let m = s.smv(&["access", "--json"]).ok().json();
    assert_eq!(m["accounts"], serde_json::json!(["demo", "x-main"]));
    let joe = m["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["member"] == "joe")
        .unwrap();
    assert_eq!(
        joe["grants"],
        serde_json::json!({"demo": "approve", "x-main": "post"})
    );
    assert_eq!(joe["custodian"], false);
    let table = s.smv(&["access"]).ok();
    assert!(
        table.stdout.contains("approve") && table.stdout.contains("joe"),
        "{}",
        table.stdout
    );

    s.smv(&["grant", "ann", "demo", "post"])
        .fails(5)
        .stderr_has("auditor");
    s.smv(&["grant", "nobody", "demo", "post"])
        .fails(3)
        .stderr_has("smv member list");
    s.smv(&["grant", "joe", "nowhere", "post"])
        .fails(3)
        .stderr_has("smv account list");
    s.smv(&["grant", "joe", "demo", "superuser"])
        .fails(2)
        .stderr_has("possible values");
    s.smv(&["member", "add", "joe"]).fails(5);
    s.smv(&["member", "add", "kim", "--role", "owner"]).fails(2);
    s.smv(&["member", "add", "kim", "--custodian", "not-a-key"])
        .fails(2)
        .stderr_has("age1");

    s.smv(&["revoke", "joe", "demo"]).ok().stdout_has("approve");
    s.smv(&["revoke", "joe", "demo"]).fails(3);
    let m = s.smv(&["access", "--json"]).ok().json();
    let joe = m["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["member"] == "joe")
        .unwrap();
    assert_eq!(joe["grants"], serde_json::json!({"x-main": "post"}));

    let list = s.smv(&["member", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 3);
}

/// A custodian with the `member` role acts only through grants; each refusal is audited.
#[test]
fn members_are_denied_admin_actions_and_denials_are_audited() {
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
        &support::x_cred("tok-1"),
    )
    .ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "bob", "demo", "manage"]).ok();

    s.smv_as(&bob, &["whoami"]).ok().stdout_has("bob (member)");
    s.smv_as(&bob, &["account", "add", "y", "--provider", "outbox"])
        .fails(4)
        .stderr_has("only an admin");
    s.smv_as(&bob, &["member", "add", "eve"]).fails(4);
    s.smv_as(&bob, &["account", "remove", "demo", "--yes"])
        .fails(4);
    s.smv_as(&bob, &["grant", "bob", "x-main", "manage"])
        .fails(4)
        .stderr_has("manage");
    s.smv_as(&bob, &["member", "list"]).fails(4);
    // `manage` on demo lets bob grant on demo, and only there.
    s.smv(&["member", "add", "joe"]).ok();
    s.smv_as(&bob, &["grant", "joe", "demo", "post"]).ok();
    // Bob sees only the accounts he holds a grant on, and only his own access row.
    let list = s.smv_as(&bob, &["account", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["your_level"], "manage");
    let m = s.smv_as(&bob, &["access", "--json"]).ok().json();
    assert_eq!(m["members"].as_array().unwrap().len(), 1);

    let denied: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.outcome == Outcome::Denied)
        .map(|e| (e.actor, e.action))
        .collect();
    for action in [
        "account.add",
        "member.add",
        "account.remove",
        "grant",
        "member.list",
    ] {
        assert!(
            denied.contains(&("bob".into(), action.into())),
            "no denied {action} in {denied:?}"
        );
    }
}

#[test]
fn removing_members_and_custodians() {
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
        &support::x_cred("tok-1"),
    )
    .ok();
    s.smv(&["member", "remove", "alice", "--yes"])
        .fails(5)
        .stderr_has("last custodian");
    // The last custodian cannot be removed, even by another admin who is not a custodian.
    s.smv(&["member", "add", "joe"]).ok();
    s.smv(&["grant", "joe", "x-main", "post"]).ok();
    let r = s
        .smv(&["member", "remove", "joe", "--yes", "--json"])
        .ok()
        .json();
    assert_eq!(r["was_custodian"], false);
    assert_eq!(r["secrets_exposed"], serde_json::json!([]));
    assert_eq!(r["grants_removed"].as_array().unwrap().len(), 1);
    s.smv(&["member", "remove", "joe", "--yes"])
        .fails(5)
        .stderr_has("already removed");

    // A second custodian admin, who then removes alice: alice's key stops opening the vault,
    // and the secret she could read is reported for rotation.
    let carol = s.add_custodian("carol", "admin");
    let r = s
        .smv_as(&carol, &["member", "remove", "alice", "--yes", "--json"])
        .ok()
        .json();
    assert_eq!(r["was_custodian"], true);
    assert_eq!(r["secrets_exposed"], serde_json::json!(["x-main"]));
    s.smv(&["whoami"])
        .fails(6)
        .stderr_has("cannot open the vault");
    s.smv_as(&carol, &["whoami"]).ok();
    s.add_custodian_as(Some(&carol), "dan", "admin");
    s.smv_as(&carol, &["member", "remove", "carol", "--yes"])
        .fails(5)
        .stderr_has("yourself");
}

#[test]
fn last_custodian_cannot_be_removed() {
    let s = Sandbox::new();
    s.init();
    // Two more custodian admins; alice and erin are removed, leaving carol the only one.
    let carol = s.add_custodian("carol", "admin");
    let erin = s.add_custodian("erin", "admin");
    s.smv_as(&carol, &["member", "remove", "alice", "--yes"])
        .ok();
    s.smv_as(&carol, &["member", "remove", "erin", "--yes"])
        .ok();
    s.smv_as(&erin, &["whoami"]).fails(6);
    let before = s.vault_bytes();
    // carol is now the last custodian, and may not remove herself either.
    s.smv_as(&carol, &["member", "remove", "carol", "--yes"])
        .fails(5)
        .stderr_has("last custodian");
    s.smv(&["member", "add", "dave", "--role", "admin"])
        .fails(6);
    assert_eq!(before, s.vault_bytes());
}

#[test]
fn completions_man_and_providers() {
    let s = Sandbox::new();
    s.smv(&["completions", "bash"]).ok().stdout_has("smv");
    s.smv(&["completions", "zsh"]).ok();
    s.smv(&["man"]).ok().stdout_has(".TH smv");
    let p = s.smv(&["providers", "--json"]).ok().json();
    assert!(
        p.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "outbox" && p["needs_secret"] == false)
    );
    s.smv(&["--help"]).ok().stdout_has("Exit codes");
}

#[test]
fn json_errors_on_stderr() {
    let s = Sandbox::new();
    let run = s.smv(&["whoami", "--json"]).fails(6);
    let err: serde_json::Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(err["error"]["class"], "identity");
    assert_eq!(err["error"]["exit_code"], 6);
    assert!(err["error"]["hint"].as_str().unwrap().contains("smv init"));
}

#[test]
fn config_file_sets_the_vault() {
    let s = Sandbox::new();
    let cfg_dir = s.home().join(".config/smv");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let custom = s.home().join("team.smv");
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!("vault = {:?}\n", custom.to_str().unwrap()),
    )
    .unwrap();
    s.init();
    assert!(custom.exists());
    assert!(!s.vault().exists());
    // The environment beats the config file.
    let env_vault = s.home().join("env.smv");
    s.set_env("SMV_VAULT", env_vault.to_str().unwrap());
    s.smv(&["whoami"]).fails(7).stderr_has("smv init");
    std::fs::write(cfg_dir.join("config.toml"), "vault = 3\n").unwrap();
    s.smv(&["whoami"]).fails(2).stderr_has("config");
}
