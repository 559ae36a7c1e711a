//! Small things users tripped over (issue 19): `identity new`, grants, revocations and
//! freezes on lists and groups, `account set` and `account rename` (a stable account),
//! `group remove-account`, and an author's withdrawal without a reason.

mod support;

use smv::audit::Outcome;
use support::Sandbox;

fn accounts(s: &Sandbox, names: &[&str]) {
    for a in names {
        s.smv(&["account", "add", a, "--provider", "outbox"]).ok();
    }
}

#[test]
fn identity_new_makes_a_key_to_hand_to_an_admin_and_never_replaces_one() {
    let admin = Sandbox::new();
    admin.init();
    let joiner = Sandbox::new();
    // The joiner has no identity: the hint points to `identity new`.
    joiner
        .smv(&["whoami"])
        .fails(6)
        .stderr_has("smv identity new");
    let made = joiner.smv(&["--json", "identity", "new"]).ok().json();
    let recipient = made["recipient"].as_str().unwrap().to_string();
    assert!(recipient.starts_with("age1"), "{made}");
    assert!(joiner.identity_file().exists());
    let human = Sandbox::new();
    human
        .smv(&["identity", "new"])
        .ok()
        .stdout_has("smv member add NAME --custodian age1");
    // A second time: the key is kept, and its recipient said again.
    let again = joiner.smv(&["identity", "new"]).fails(5);
    assert!(again.stderr.contains(&recipient), "{}", again.stderr);
    // Into a named new file.
    let file = joiner.home().join("second.key");
    joiner
        .smv(&["--identity", file.to_str().unwrap(), "identity", "new"])
        .ok();
    assert!(file.exists());
    // The admin adds the recipient; the joiner's key then opens the vault.
    admin
        .smv(&["member", "add", "joe", "--custodian", &recipient])
        .ok();
    let key = joiner.identity_file();
    admin
        .smv(&["--identity", key.to_str().unwrap(), "--json", "whoami"])
        .ok();
}

#[test]
fn grant_and_revoke_take_lists_and_groups_all_or_nothing() {
    let s = Sandbox::new();
    s.init();
    accounts(&s, &["a", "b", "c", "d"]);
    s.smv(&["group", "add", "grp", "c,d"]).ok();
    s.smv(&["member", "add", "joe"]).ok();
    let granted = s
        .smv(&["--json", "grant", "joe", "a,b,grp", "post"])
        .ok()
        .json();
    assert_eq!(granted.as_array().unwrap().len(), 4, "{granted}");
    let access = s.smv(&["--json", "access"]).ok().json();
    let joe = access["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "joe")
        .unwrap()
        .clone();
    for a in ["a", "b", "c", "d"] {
        assert_eq!(joe["grants"][a], "post", "{joe}");
    }
    // One account on its own: the object, as before.
    let one = s
        .smv(&["--json", "grant", "joe", "a", "approve"])
        .ok()
        .json();
    assert_eq!(one["account"], "a");
    // An unknown name among them: nothing changes.
    s.smv(&["grant", "joe", "a,nosuch", "manage"]).fails(3);
    let access = s.smv(&["--json", "access"]).ok().json();
    assert!(access.to_string().contains("\"a\":\"approve\""));
    // Someone who manages only `a` cannot grant on a and b together: refused, nothing given.
    let mia = s.add_custodian("mia", "member");
    s.smv(&["grant", "mia", "a", "manage"]).ok();
    s.smv(&["member", "add", "kim"]).ok();
    s.smv_as(&mia, &["grant", "kim", "a,b", "post"]).fails(4);
    assert!(!s.smv(&["--json", "access"]).ok().stdout.contains(
        "\"kim\",\"role\":\"member\",\"custodian\":false,\"active\":true,\"grants\":{\"a\""
    ));
    s.smv_as(&mia, &["grant", "kim", "a", "post"]).ok();
    // Revoke: a list, and a group whose accounts without a grant are passed over.
    let revoked = s.smv(&["--json", "revoke", "joe", "a,grp"]).ok().json();
    let accounts: Vec<&str> = revoked
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["a", "c", "d"]);
    s.smv(&["revoke", "joe", "grp"]).fails(3);
    s.smv(&["revoke", "joe", "b"])
        .ok()
        .stdout_has("Revoked joe's post grant on b");
    // The change is one audited change per command.
    let grants: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "grant" && e.target == "account:a,b,grp")
        .map(|e| e.outcome)
        .collect();
    assert_eq!(grants, [Outcome::Intent, Outcome::Ok]);
    s.smv(&["grant", "joe", "a,b\u{1b}", "post"]).fails(2);
}

#[test]
fn freeze_and_unfreeze_take_lists_and_groups() {
    let s = Sandbox::new();
    s.init();
    accounts(&s, &["a", "b", "c"]);
    s.smv(&["group", "add", "grp", "b,c"]).ok();
    s.smv(&["grant", "alice", "a,grp", "post"]).ok();
    let frozen = s
        .smv(&["--json", "freeze", "a,grp", "--reason", "crisis"])
        .ok()
        .json();
    assert_eq!(frozen.as_array().unwrap().len(), 3, "{frozen}");
    for a in ["a", "b", "c"] {
        s.smv(&["post", a, "x"]).fails(4).stderr_has("crisis");
    }
    s.smv(&["unfreeze", "grp"])
        .ok()
        .stdout_has("Lifted the freeze on b");
    s.smv(&["post", "b", "x"]).ok();
    s.smv(&["post", "a", "x"]).fails(4);
    // An approver on `a` only cannot freeze a and b together: refused, nothing frozen.
    let mia = s.add_custodian("mia", "member");
    s.smv(&["grant", "mia", "a", "approve"]).ok();
    s.smv(&["unfreeze", "a"]).ok();
    s.smv_as(&mia, &["freeze", "a,b", "--reason", "r"]).fails(4);
    s.smv(&["post", "a", "still open"]).ok();
    // One account: the object, as before.
    let one = s
        .smv(&["--json", "freeze", "a", "--reason", "one"])
        .ok()
        .json();
    assert_eq!(one["account"], "a");
    s.smv(&["unfreeze", "a,b"]).ok();
    s.smv(&["unfreeze", "a,b"]).fails(5);
}

#[test]
fn account_set_changes_handle_and_url_as_admins_and_custodians_may() {
    let s = Sandbox::new();
    s.init();
    accounts(&s, &["demo"]);
    let a = s
        .smv(&["--json", "account", "set", "demo", "--handle", "@acme"])
        .ok()
        .json();
    assert_eq!(a["handle"], "@acme");
    let a = s
        .smv(&["--json", "account", "set", "demo", "--handle", ""])
        .ok()
        .json();
    assert_eq!(a["handle"], serde_json::Value::Null);
    s.smv(&["account", "set", "demo"]).fails(2);
    s.smv(&["account", "set", "demo", "--handle", "a\u{1b}[2J"])
        .fails(2);
    s.smv(&["account", "set", "nosuch", "--handle", "x"])
        .fails(3);
    let joe = s.add_custodian("joe", "member");
    s.smv(&["grant", "joe", "demo", "manage"]).ok();
    s.smv_as(&joe, &["account", "set", "demo", "--handle", "@joe"])
        .fails(4);
    let e = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "account.set" && e.outcome == Outcome::Intent)
        .unwrap();
    assert_eq!(e.details["handle"], "@acme");
}

#[test]
fn a_renamed_account_keeps_everything_and_its_history() {
    let s = Sandbox::new();
    s.init();
    accounts(&s, &["old", "other"]);
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "alice", "old", "approve"]).ok();
    s.smv(&["grant", "bob", "old", "draft"]).ok();
    s.smv(&["group", "add", "grp", "old,other"]).ok();
    s.smv(&["policy", "set", "old", "--max-posts", "2", "--per", "1h"])
        .ok();
    s.smv(&[
        "post",
        "old",
        "before the rename",
        "--idempotency-key",
        "k1",
    ])
    .ok();
    let draft = s
        .smv_as(&bob, &["--json", "draft", "old", "a draft"])
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.smv(&["post", "old", "later", "--at", "+2h"]).ok();
    s.smv(&[
        "token",
        "create",
        "--name",
        "t",
        "--account",
        "old",
        "--level",
        "post",
    ])
    .ok();

    s.smv(&["account", "rename", "old", "new"])
        .ok()
        .stdout_has("Renamed account old to new");
    let access = s.smv(&["--json", "access"]).ok().json();
    assert_eq!(access["accounts"], serde_json::json!(["new", "other"]));
    assert!(s.smv(&["group", "list"]).ok().stdout.contains("new, other"));
    let d = s.smv(&["--json", "draft", "show", &draft]).ok().json();
    assert_eq!(d["accounts"], serde_json::json!(["new"]));
    assert!(s.smv(&["queue"]).ok().stdout.contains("\tnew\t"));
    assert!(
        s.smv(&["token", "list"])
            .ok()
            .stdout
            .contains("post on new")
    );
    assert!(
        s.smv(&["policy", "list"])
            .ok()
            .stdout
            .contains("new\t0\tno\t-\t2 per 1h")
    );

    // Its history: `posts --account new` finds what was posted as `old`.
    let posts = s.smv(&["--json", "posts", "--account", "new"]).ok().json();
    assert_eq!(posts[0]["text"], "before the rename");
    assert_eq!(posts[0]["account"], "new");
    assert_eq!(posts[0]["posted_as"], "old");
    // A retry under the new name with the same key posts nothing twice.
    let retry = s
        .smv(&[
            "--json",
            "post",
            "new",
            "before the rename",
            "--idempotency-key",
            "k1",
        ])
        .ok()
        .json();
    assert_eq!(retry[0]["status"], "already_posted");
    // The rate guard counts the posts made under the old name: one more, then refused.
    s.smv(&["post", "new", "second"]).ok();
    s.smv(&["post", "new", "third"]).fails(4).stderr_has("rate");
    // The old name stays the account's: no other account takes it meanwhile.
    s.smv(&["account", "add", "old", "--provider", "outbox"])
        .fails(5)
        .stderr_has("former name");
    s.smv(&["account", "rename", "other", "old"]).fails(5);
    s.smv(&["account", "rename", "new", "other"]).fails(5);
    s.smv(&["account", "rename", "new", "grp"]).fails(5);
    s.smv(&["account", "rename", "nosuch", "x"]).fails(3);
    s.smv(&["account", "rename", "new", "show"]).fails(2);
    s.smv_as(&bob, &["account", "rename", "new", "bobs"])
        .fails(4);
    // Back to its old name: allowed, it is its own.
    s.smv(&["account", "rename", "new", "old"]).ok();
    let e = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "account.rename" && e.outcome == Outcome::Intent)
        .unwrap();
    assert_eq!(
        (e.target.as_str(), &e.details["new_name"]),
        ("account:old", &serde_json::json!("new"))
    );
}

#[test]
fn group_remove_account_takes_accounts_out() {
    let s = Sandbox::new();
    s.init();
    accounts(&s, &["a", "b", "c"]);
    s.smv(&["group", "add", "grp", "a,b,c"]).ok();
    let g = s
        .smv(&["--json", "group", "remove-account", "grp", "a,b"])
        .ok()
        .json();
    assert_eq!(g["accounts"], serde_json::json!(["c"]));
    s.smv(&["group", "remove-account", "grp", "a"]).fails(3);
    s.smv(&["group", "remove-account", "nosuch", "a"]).fails(3);
    s.smv(&["group", "remove-account", "grp", "c"])
        .ok()
        .stdout_has("empty now");
    assert!(!s.smv(&["group", "list"]).ok().stdout.contains("grp"));
    let joe = s.add_custodian("joe", "member");
    s.smv(&["group", "add", "g2", "a"]).ok();
    s.smv_as(&joe, &["group", "remove-account", "g2", "a"])
        .fails(4);
}

#[test]
fn an_author_withdraws_without_a_reason_an_approver_needs_one() {
    let s = Sandbox::new();
    s.init();
    accounts(&s, &["demo"]);
    let bob = s.add_custodian("bob", "member");
    let carol = s.add_custodian("carol", "member");
    s.smv(&["grant", "bob", "demo", "draft"]).ok();
    s.smv(&["grant", "carol", "demo", "approve"]).ok();
    let id = |text: &str| {
        s.smv_as(&bob, &["--json", "draft", "demo", text])
            .ok()
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let d = id("mine");
    s.smv_as(&bob, &["reject", &d])
        .ok()
        .stdout_has("withdrawn by bob");
    let d2 = id("theirs");
    s.smv_as(&carol, &["reject", &d2])
        .fails(2)
        .stderr_has("--reason");
    s.smv_as(&carol, &["reject", &d2, "--reason", "no"]).ok();
}

/// A list of names is only names, commas and spaces: a carriage return or a tab around a
/// name is refused before anything is recorded (before, `trim` let `demo\r` through to the
/// audit target `account:demo\r`).
#[test]
fn a_target_list_with_control_characters_is_refused_before_the_log() {
    let s = Sandbox::new();
    s.init();
    accounts(&s, &["demo"]);
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    let before = s.audit_entries().len();
    for args in [
        &["post", "demo\r", "x"][..],
        &["post", "\tdemo", "x"],
        &["grant", "alice", "demo\r", "draft"],
        &["freeze", "demo\r", "--reason", "x"],
        &["draft", "demo\u{b}", "x"],
    ] {
        s.smv(args).fails(2);
    }
    assert_eq!(s.audit_entries().len(), before);
}

/// Every command answers `--json` with JSON: `logout` said nothing at all before.
#[test]
fn logout_answers_json() {
    let s = Sandbox::new();
    let run = s.smv(&["--json", "logout", "http://127.0.0.1:9"]).ok();
    let v = run.json();
    assert_eq!(v["server"], "http://127.0.0.1:9");
    assert_eq!(v["forgot"], false);
    let human = s.smv(&["logout", "http://127.0.0.1:9"]).ok();
    assert!(
        human
            .stdout
            .contains("No token was stored for http://127.0.0.1:9")
    );
}
