//! Offboarding (`smv offboard`, `member remove`), rotation (`smv rotate`), the secrets review
//! (`smv secrets`) and the quarterly member review (`member list --stale`), through the CLI.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use smv::audit::Outcome;
use support::Sandbox;

fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn webhook(s: &Sandbox, name: &str, secret: &str) {
    s.smv_in(
        &[
            "account",
            "add",
            name,
            "--provider",
            "slack-webhook",
            "--secret-stdin",
        ],
        secret.as_bytes(),
    )
    .ok();
}

/// A Slack webhook URL on a port of this machine that accepts connections (and never
/// answers): `rotate` proves a webhook's host is there before it takes the URL.
fn hook_url(tag: &str) -> String {
    static HOST: std::sync::OnceLock<std::net::TcpListener> = std::sync::OnceLock::new();
    let l = HOST.get_or_init(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    format!(
        "http://127.0.0.1:{}/services/T0001/B0001/{tag}0123456789abcdef",
        l.local_addr().unwrap().port()
    )
}

fn outbox_texts(s: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(s.data_dir().join("outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The `id` of what a `--json` command created (a draft).
fn id_of(run: support::Run) -> String {
    run.json()["id"].as_str().unwrap().to_string()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// A file that only `key` can decrypt opens with the age CLI, or not.
fn age_opens(s: &Sandbox, key: &Path) -> bool {
    Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(key)
        .arg("-o")
        .arg(s.home().join("plain.out"))
        .arg(s.vault())
        .output()
        .unwrap()
        .status
        .success()
}

/// alice (admin, custodian), bob (member, custodian), joe (member, no key) with grants on
/// `demo` (outbox) and `hook` (a secret).
fn team() -> (Sandbox, PathBuf) {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    webhook(&s, "hook", &hook_url("A"));
    let bob = s.add_custodian("bob", "member");
    s.smv(&["member", "add", "joe"]).ok();
    for (who, account, level) in [
        ("joe", "demo", "approve"),
        ("joe", "hook", "post"),
        ("bob", "demo", "approve"),
        ("alice", "demo", "approve"),
    ] {
        s.smv(&["grant", who, account, level]).ok();
    }
    (s, bob)
}

#[test]
fn offboarding_a_non_custodian_exposes_nothing_and_says_so() {
    let (s, _bob) = team();
    let r = s.smv(&["--json", "offboard", "joe", "--yes"]).ok().json();
    assert_eq!(r["member"], "joe");
    assert_eq!(r["was_custodian"], false);
    assert_eq!(r["key_removed"], false);
    assert_eq!(r["secrets_exposed"], serde_json::json!([]));
    assert_eq!(r["rotate"], serde_json::json!([]));
    assert_eq!(r["grants_removed"].as_array().unwrap().len(), 2);
    assert_eq!(names(&r["remaining_custodians"]), ["alice", "bob"]);

    // The report says it in words, and a second run only confirms there is nothing left.
    s.smv(&["offboard", "joe", "--yes"])
        .ok()
        .stdout_has("already disabled")
        .stdout_has("no secret was exposed and no password needs changing");
    // No grant left, the member disabled; no secret marked exposed.
    let access = s.smv(&["--json", "access", "--all"]).ok().json();
    let joe = access["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "joe")
        .unwrap()
        .clone();
    assert_eq!(joe["active"], false);
    assert_eq!(joe["grants"], serde_json::json!({}));
    let secrets = s.smv(&["--json", "secrets"]).ok().json();
    assert_eq!(secrets[0]["account"], "hook");
    assert_eq!(secrets[0]["state"], "ok");
    assert_eq!(secrets[0]["exposed_to"], serde_json::json!([]));
    // joe can be given nothing any more.
    s.smv(&["grant", "joe", "demo", "post"])
        .fails(5)
        .stderr_has("removed");

    // One ok outcome per run, with the report's essentials in the intent.
    let entries = s.audit_entries();
    let intents: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "member.offboard" && e.outcome == Outcome::Intent)
        .collect();
    assert_eq!(intents.len(), 2);
    assert_eq!(intents[0].target, "member:joe");
    assert_eq!(intents[0].details["grants_removed"], 2);
    assert_eq!(intents[0].details["was_custodian"], false);
    assert_eq!(intents[1].details["already_disabled"], true);
}

#[test]
fn offboarding_a_custodian_reencrypts_hands_over_and_lists_exactly_what_he_could_read() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    // Before joe's key: `before` (exposed to him: he is given the key to the file holding
    // it), `gone` (removed before he leaves), `rotated` (replaced while he held his key).
    webhook(&s, "before", &hook_url("B"));
    webhook(&s, "gone", &hook_url("G"));
    webhook(&s, "rotated", &hook_url("R"));
    let bob = s.add_custodian("bob", "member");
    let joe = s.add_custodian("joe", "member");
    // While joe holds his key: `during` is added, `rotated` gets a new secret.
    webhook(&s, "during", &hook_url("D"));
    s.smv_in(
        &["rotate", "rotated", "--secret-stdin"],
        hook_url("R2").as_bytes(),
    )
    .ok();
    s.smv(&["account", "remove", "gone", "--yes"]).ok();
    s.smv(&["grant", "joe", "demo", "approve"]).ok();
    s.smv(&["grant", "bob", "demo", "approve"]).ok();
    s.smv(&["grant", "joe", "during", "post"]).ok();
    // Not strict: joe, an approver, schedules a post of his own directly.
    s.smv(&["policy", "set", "demo", "--approvals", "1", "--no-strict"])
        .ok();

    // joe's work in progress: a draft bob approved, a scheduled post, and his approval of
    // bob's draft.
    let jd = id_of(
        s.smv_as(&joe, &["--json", "draft", "demo", "joe's draft"])
            .ok(),
    );
    s.smv_as(&bob, &["approve", &jd]).ok();
    let q = s
        .smv_as(
            &joe,
            &[
                "--json",
                "post",
                "demo",
                "joe's scheduled",
                "--at",
                &in_secs(3600),
            ],
        )
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bd = id_of(
        s.smv_as(&bob, &["--json", "draft", "demo", "bob's draft"])
            .ok(),
    );
    s.smv_as(&joe, &["approve", &bd]).ok();

    let r = s
        .smv(&["--json", "offboard", "joe", "--to", "bob", "--yes"])
        .ok()
        .json();
    assert_eq!(r["was_custodian"], true);
    assert_eq!(r["key_removed"], true);
    assert_eq!(r["handed_to"], "bob");
    assert_eq!(names(&r["remaining_custodians"]), ["alice", "bob"]);
    // Exactly the secrets that existed while he held his key, and are still in use.
    assert_eq!(
        names(&r["secrets_exposed"]),
        ["before", "during", "rotated"]
    );
    assert_eq!(r["rotate"][0]["command"], "smv rotate before");
    assert_eq!(r["drafts"][0]["draft"], jd.as_str());
    assert_eq!(r["drafts"][0]["disposition"], "handed_over");
    assert_eq!(r["drafts"][0]["approvals_dropped"], 1);
    assert_eq!(r["scheduled"][0]["id"], q.as_str());
    assert_eq!(r["scheduled"][0]["disposition"], "handed_over");
    assert_eq!(names(&r["approvals_withdrawn"]), [bd.as_str()]);

    // His key no longer opens the vault file; the others' keys do (with smv and with age).
    s.smv_as(&joe, &["whoami"])
        .fails(6)
        .stderr_has("cannot open the vault");
    s.smv_as(&joe, &["post", "demo", "still here?"]).fails(6);
    s.smv_as(&bob, &["whoami"]).ok();
    s.smv(&["whoami"]).ok();
    if support::require_tool("age") {
        assert!(!age_opens(&s, &joe));
        assert!(age_opens(&s, &bob));
        assert!(age_opens(&s, &s.identity_file()));
    }

    // The handed-over draft is bob's and needs a fresh approval, from someone else.
    let d = s.smv(&["--json", "draft", "show", &jd]).ok().json();
    assert_eq!(d["author"], "bob");
    assert_eq!(d["approvals"], serde_json::json!([]));
    s.smv_as(&bob, &["publish", &jd]).fails(4);
    // bob's own draft lost joe's approval.
    s.smv_as(&bob, &["publish", &bd])
        .fails(4)
        .stderr_has("0 of the 1 approval");
    // The scheduled post is held for bob: due, it is not sent until released.
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "7200")], &["queue", "run"])
        .ok();
    assert!(outbox_texts(&s).is_empty());
    let listed = s.smv(&["--json", "queue"]).ok().json();
    assert_eq!(listed[0]["status"], "held");
    assert_eq!(listed[0]["author"], "bob");

    // The secrets review agrees; rotating one clears it.
    let secrets = s.smv(&["--json", "secrets"]).ok().json();
    let state = |v: &serde_json::Value, name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|x| x["account"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(state(&secrets, "before")["state"], "exposed");
    assert_eq!(
        state(&secrets, "before")["exposed_to"],
        serde_json::json!(["joe"])
    );
    assert_eq!(state(&secrets, "rotated")["version"], 2);
    s.smv(&["secrets"])
        .ok()
        .stdout_has("EXPOSED")
        .stdout_has("smv rotate during");
    let rot = s
        .smv_in(
            &["--json", "rotate", "before", "--secret-stdin"],
            hook_url("B2").as_bytes(),
        )
        .ok()
        .json();
    assert_eq!(rot["no_longer_exposed_to"], serde_json::json!(["joe"]));
    assert_eq!(rot["secret_version"], 2);
    let secrets = s.smv(&["--json", "secrets"]).ok().json();
    assert_eq!(state(&secrets, "before")["state"], "ok");
    assert_eq!(state(&secrets, "during")["state"], "exposed");
    // A secret added after he left was never his to read.
    webhook(&s, "after", &hook_url("F"));
    let secrets = s.smv(&["--json", "secrets"]).ok().json();
    assert_eq!(
        state(&secrets, "after")["exposed_to"],
        serde_json::json!([])
    );
    // His key cannot come back under another name.
    let joe_key = std::fs::read_to_string(&joe).unwrap();
    let joe_recipient = age::x25519::Identity::from_str(joe_key.lines().nth(1).unwrap())
        .unwrap()
        .to_public()
        .to_string();
    s.smv(&["member", "add", "joseph", "--custodian", &joe_recipient])
        .fails(5)
        .stderr_has("was removed with member `joe`");
    // Re-running the offboarding reports what is still exposed, and changes nothing else.
    let again = s.smv(&["--json", "offboard", "joe", "--yes"]).ok().json();
    assert_eq!(again["already_disabled"], true);
    assert_eq!(again["key_removed"], false);
    assert_eq!(names(&again["secrets_exposed"]), ["during", "rotated"]);
}

#[test]
fn without_to_his_drafts_and_scheduled_posts_are_cancelled() {
    let (s, bob) = team();
    let joe = s.add_custodian("joe2", "member");
    s.smv(&["grant", "joe2", "demo", "approve"]).ok();
    let d = id_of(s.smv_as(&joe, &["--json", "draft", "demo", "mine"]).ok());
    s.smv_as(&joe, &["post", "demo", "later", "--at", &in_secs(60)])
        .ok();
    let r = s.smv(&["--json", "offboard", "joe2", "--yes"]).ok().json();
    assert_eq!(r["drafts"][0]["disposition"], "cancelled");
    assert_eq!(r["scheduled"][0]["disposition"], "cancelled");
    let shown = s.smv(&["--json", "draft", "show", &d]).ok().json();
    assert_eq!(shown["status"], "cancelled");
    s.smv_as(&bob, &["approve", &d]).fails(5);
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "120")], &["queue", "run"])
        .ok();
    assert!(outbox_texts(&s).is_empty());
}

#[test]
fn dry_run_changes_no_byte_and_reports_what_the_real_run_does() {
    let (s, bob) = team();
    let joe = s.add_custodian("jim", "member");
    s.smv(&["grant", "jim", "demo", "approve"]).ok();
    s.smv_as(&joe, &["draft", "demo", "a draft"]).ok();
    let vault = s.vault_bytes();
    let log = std::fs::read(s.audit()).unwrap();
    let mut dry = s
        .smv(&["--json", "offboard", "jim", "--to", "bob", "--dry-run"])
        .ok()
        .json();
    s.smv(&["offboard", "jim", "--to", "bob", "--dry-run"])
        .ok()
        .stdout_has("Would offboard jim");
    assert_eq!(vault, s.vault_bytes());
    assert_eq!(log, std::fs::read(s.audit()).unwrap());
    s.smv_as(&joe, &["whoami"]).ok();

    let real = s
        .smv(&["--json", "offboard", "jim", "--to", "bob", "--yes"])
        .ok()
        .json();
    dry["dry_run"] = serde_json::json!(false);
    assert_eq!(dry, real);
    s.smv_as(&joe, &["whoami"]).fails(6);
    let _ = bob;
}

#[test]
fn killed_mid_offboarding_the_rerun_finishes_and_the_log_verifies() {
    for point in ["after-intent", "vault-before-rename"] {
        let (s, bob) = team();
        let joe = s.add_custodian("jay", "member");
        s.smv(&["grant", "jay", "demo", "approve"]).ok();
        let d = id_of(s.smv_as(&joe, &["--json", "draft", "demo", "wip"]).ok());
        let before = s.vault_bytes();
        let mut cmd = s.command();
        cmd.env("SMV_FAILPOINT", format!("{point}:abort"))
            .args(["offboard", "jay", "--to", "bob", "--yes"]);
        let killed = s.run_cmd(cmd, None);
        assert_ne!(killed.code, 0, "{point}: the failpoint did not fire");
        assert_eq!(before, s.vault_bytes(), "{point}");
        // The vault is the old one, whole, and nothing moved; but the audit key's rotation
        // went in with the intent, sealed to the custodians who remain: jay, who was
        // leaving, cannot take the new keys, and is not let sign with the retired one.
        s.smv_as(&joe, &["whoami"]).fails(7);
        let shown = s.smv(&["--json", "draft", "show", &d]).ok().json();
        assert_eq!(shown["author"], "jay");

        let r = s
            .smv(&["--json", "offboard", "jay", "--to", "bob", "--yes"])
            .ok()
            .json();
        assert_eq!(r["already_disabled"], false, "{point}");
        assert_eq!(r["drafts"][0]["draft"], d.as_str());
        s.smv_as(&joe, &["whoami"]).fails(6);
        s.smv_as(&bob, &["whoami"]).ok();
        let shown = s.smv(&["--json", "draft", "show", &d]).ok().json();
        assert_eq!(shown["author"], "bob");
        // No stray temporary file; the log verifies (the interrupted intent is reported as
        // incomplete, not as tampering).
        let strays: Vec<_> = std::fs::read_dir(s.data_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        // (A crash before the rename leaves its temporary file; the next write removes it.)
        assert_eq!(strays.len(), 0, "{point}");
        s.smv(&["audit", "verify"]).ok().stdout_has("incomplete");
    }
}

#[test]
fn killed_after_the_vault_is_replaced_the_rerun_completes_the_record() {
    let (s, _bob) = team();
    let joe = s.add_custodian("kay", "member");
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "after-save:abort")
        .args(["offboard", "kay", "--yes"]);
    assert_ne!(s.run_cmd(cmd, None).code, 0);
    // The change is complete; only its outcome entry is missing.
    s.smv_as(&joe, &["whoami"]).fails(6);
    // (kay was a custodian: the audit key's rotation is recorded with the intent.)
    let mut entries: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action != smv::audit::KEY_ROTATED)
        .collect();
    let last = entries.pop().unwrap();
    let before = entries.pop().unwrap();
    assert_eq!(
        [
            (before.action.as_str(), before.outcome),
            (last.action.as_str(), last.outcome)
        ],
        [
            ("member.offboard", Outcome::Intent),
            ("vault.write", Outcome::Intent)
        ]
    );
    let r = s.smv(&["--json", "offboard", "kay", "--yes"]).ok().json();
    assert_eq!(r["already_disabled"], true);
    assert_eq!(r["was_custodian"], true);
    assert_eq!(r["key_removed"], false);
    assert_eq!(r["grants_removed"], serde_json::json!([]));
    s.smv(&["audit", "verify"]).ok().stdout_has("incomplete");
}

#[test]
fn an_unwritable_audit_log_stops_offboarding_before_anything_changes() {
    let (s, _bob) = team();
    let joe = s.add_custodian("kay", "member");
    let before = s.vault_bytes();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "audit-append:error")
        .args(["offboard", "kay", "--yes"]);
    // The intent cannot be written: fail closed.
    s.run_cmd(cmd, None).fails(9);
    assert_eq!(before, s.vault_bytes());
    s.smv_as(&joe, &["whoami"]).ok();
    s.smv(&["offboard", "kay", "--yes"]).ok();
    s.smv_as(&joe, &["whoami"]).fails(6);
}

#[test]
fn offboarding_refusals() {
    let (s, bob) = team();
    s.smv(&["member", "add", "audrey", "--role", "auditor"])
        .ok();
    // Only admins; the refusal is audited.
    s.smv_as(&bob, &["offboard", "joe", "--yes"]).fails(4);
    assert!(s.audit_entries().iter().any(|e| e.actor == "bob"
        && e.action == "member.offboard"
        && e.outcome == Outcome::Denied));
    s.smv(&["offboard", "nobody", "--yes"]).fails(3);
    s.smv(&["offboard", "joe", "--to", "joe", "--yes"])
        .fails(2)
        .stderr_has("their own");
    s.smv(&["offboard", "joe", "--to", "audrey", "--yes"])
        .fails(5)
        .stderr_has("auditor");
    s.smv(&["offboard", "joe", "--to", "nobody", "--yes"])
        .fails(3);
    // Scripts must say --yes; a confirmation needs a terminal.
    s.smv(&["offboard", "joe"]).fails(2).stderr_has("--yes");
    // Not yourself, not the last custodian.
    s.smv(&["offboard", "alice", "--yes"])
        .fails(5)
        .stderr_has("yourself");
    s.smv(&["offboard", "bob", "--yes"]).ok();
    s.smv(&["member", "add", "carl", "--role", "admin"]).ok();
    s.smv(&["offboard", "alice", "--yes"])
        .fails(5)
        .stderr_has("last custodian");
    // A removed member cannot receive work.
    s.smv(&["offboard", "joe", "--to", "bob", "--yes"])
        .fails(5)
        .stderr_has("removed");
    // `member remove` is strict about a second run; `offboard` finishes up instead.
    s.smv(&["member", "remove", "bob", "--yes"])
        .fails(5)
        .stderr_has("smv offboard bob");
    s.smv(&["offboard", "bob", "--yes"]).ok();
}

#[test]
fn rotation_proves_the_new_secret_and_never_shows_it() {
    let (s, bob) = team();
    let canary = hook_url("CANARYrotation");
    // Members without `manage` cannot rotate; refusals are audited.
    s.smv(&["grant", "bob", "hook", "post"]).ok();
    s.smv_as(&bob, &["rotate", "hook", "--secret-stdin"])
        .fails(2); // no secret given: bad input before anything else
    let run = s.run_cmd(
        {
            let mut c = s.command();
            c.args([
                "--identity",
                bob.to_str().unwrap(),
                "rotate",
                "hook",
                "--secret-stdin",
            ]);
            c
        },
        Some(canary.as_bytes()),
    );
    run.fails(4);
    s.smv(&["grant", "bob", "hook", "manage"]).ok();
    let r = s
        .run_cmd(
            {
                let mut c = s.command();
                c.args([
                    "--identity",
                    bob.to_str().unwrap(),
                    "--json",
                    "rotate",
                    "hook",
                    "--secret-stdin",
                ]);
                c
            },
            Some(canary.as_bytes()),
        )
        .ok()
        .json();
    assert_eq!(r["previous_version"], 1);
    assert_eq!(r["secret_version"], 2);
    assert!(
        r["checked"]
            .as_str()
            .unwrap()
            .contains("host accepts connections")
    );
    // A malformed replacement is refused before any check, and the old secret stays.
    s.smv_in(&["rotate", "hook", "--secret-stdin"], b"not a url at all")
        .fails(2)
        .stderr_has("webhook URL: character 4 is a space");
    let secrets = s.smv(&["--json", "secrets"]).ok().json();
    assert_eq!(secrets[0]["version"], 2);
    // Accounts without secrets have nothing to rotate; unknown accounts are named.
    s.smv_in(&["rotate", "demo", "--secret-stdin"], b"whatever-123456")
        .fails(2);
    s.smv_in(&["rotate", "nope", "--secret-stdin"], b"whatever-123456")
        .fails(3);
    // Slack webhooks cannot be rotated by a program: the error says how to do it by hand.
    s.smv(&["rotate", "hook", "--auto"])
        .fails(11)
        .stderr_has("smv rotate hook");
    // The canary appears in no output and no audit entry.
    for out in s.transcript.borrow().iter() {
        assert!(!out.contains("CANARYrotation"), "leaked in: {out}");
    }
    let log = serde_json::to_string(&s.audit_entries()).unwrap();
    assert!(!log.contains("CANARYrotation"));
    let rotations: Vec<_> = s
        .audit_entries()
        .into_iter()
        .filter(|e| e.action == "account.rotate")
        .map(|e| e.outcome)
        .collect();
    assert!(rotations.contains(&Outcome::Denied));
    assert!(rotations.contains(&Outcome::Ok));
    assert!(rotations.contains(&Outcome::Failed));
}

#[test]
fn linkedin_tokens_warn_before_they_expire() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv_in(
        &[
            "account",
            "add",
            "li",
            "--provider",
            "linkedin",
            "--handle",
            "urn:li:organization:1",
            "--secret-stdin",
        ],
        b"AQV-linkedin-token-0123456789",
    )
    .ok();
    let at = |days: i64| (days * 86_400).to_string();
    let state = |days: i64| {
        s.smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", &at(days))],
            &["--json", "secrets"],
        )
        .ok()
        .json()[0]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state(0), "ok");
    assert_eq!(state(40), "ok");
    assert_eq!(state(50), "expiring");
    assert_eq!(state(61), "expired");
    let v = s.smv(&["--json", "secrets"]).ok().json();
    assert!(v[0]["expires_at"].as_str().unwrap() > v[0]["set_at"].as_str().unwrap());
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", &at(50))], &["secrets"])
        .ok()
        .stdout_has("expiring")
        .stdout_has("smv rotate li");
}

#[test]
fn secrets_review_is_for_admins_and_auditors() {
    let (s, bob) = team();
    s.smv_as(&bob, &["secrets"]).fails(4);
    let audrey = s.add_custodian("audrey", "auditor");
    let v = s.smv_as(&audrey, &["--json", "secrets"]).ok().json();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["last_used"], serde_json::Value::Null);
    // Checking the credential counts as a use (a webhook's post permission cannot be
    // proved without posting: exit 14).
    s.smv(&["account", "check", "hook"]).fails(14);
    let v = s.smv_as(&audrey, &["--json", "secrets"]).ok().json();
    assert!(v[0]["last_used"].as_str().is_some());
}

#[test]
fn stale_members_for_the_quarterly_review() {
    let s = Sandbox::new();
    s.init().ok();
    // joe was added 200 days ago and never did anything; bob was added then too but acts.
    let long_ago = (-200 * 86_400).to_string();
    s.smv_env(
        &[("SMV_TEST_CLOCK_OFFSET", &long_ago)],
        &["member", "add", "joe"],
    )
    .ok();
    let bob = s.add_custodian("bob", "member");
    s.smv_as(&bob, &["whoami"]).ok();
    s.smv_as(&bob, &["secrets"]).fails(4); // a refused attempt is activity too
    let stale = s
        .smv(&["--json", "member", "list", "--stale", "90d"])
        .ok()
        .json();
    let who: Vec<&str> = stale
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["joe"]);
    assert!(stale[0]["idle_days"].as_i64().unwrap() >= 199);
    assert_eq!(stale[0]["last_action"], serde_json::Value::Null);
    // 95 days from now everyone active is stale; removed members are not reviewed.
    s.smv(&["offboard", "joe", "--yes"]).ok();
    let later = (95 * 86_400).to_string();
    let stale = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", &later)],
            &["--json", "member", "list", "--stale", "90d"],
        )
        .ok()
        .json();
    let who: Vec<&str> = stale
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["alice", "bob"]);
    s.smv(&["member", "list", "--stale", "90d"])
        .ok()
        .stdout_has("No active member");
    s.smv(&["member", "list", "--stale", "soon"]).fails(2);
    s.smv(&["member", "list"]).ok().stdout_has("last_action");
}

/// Issue 24: the dry run (piped, or `--json`: no terminal) said a CI token would be
/// "revoked" while the real run, with someone to receive the new secret, re-issues it. The
/// dry run now says what the real run does, and when it would revoke instead.
#[test]
fn the_dry_run_says_a_ci_token_gets_a_new_secret_as_the_real_run_does() {
    let (s, _bob) = team();
    let jim = s.add_custodian("jim", "member");
    s.smv(&["grant", "jim", "demo", "post"]).ok();
    s.smv_as(
        &jim,
        &[
            "token",
            "create",
            "--name",
            "release-ci",
            "--account",
            "demo",
            "--ci",
            "--expires",
            "30d",
        ],
    )
    .ok();
    let human = s.smv(&["offboard", "jim", "--to", "bob", "--dry-run"]).ok();
    assert!(
        human.stdout.contains("moved to bob with a new secret"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("the real run shows the new secret once on a terminal, or writes it to --handover-dir DIR"),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains("revoked"), "{}", human.stdout);
    let dry = s
        .smv(&["--json", "offboard", "jim", "--to", "bob", "--dry-run"])
        .ok()
        .json();
    assert_eq!(dry["tokens"][0]["new_secret"], true);
    let handover = s.home().join("handover");
    std::fs::create_dir(&handover).unwrap();
    support::chmod(&handover, 0o700);
    let mut real = s
        .smv(&[
            "--json",
            "offboard",
            "jim",
            "--to",
            "bob",
            "--yes",
            "--handover-dir",
            handover.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert!(real["tokens"][0]["handover_file"].is_string());
    real["tokens"][0]
        .as_object_mut()
        .unwrap()
        .remove("handover_file");
    assert_eq!(dry["tokens"], real["tokens"]);
}
