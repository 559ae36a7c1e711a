//! Governance: approvals by a second person, the freeze, the rate guard and scheduled posts,
//! through the CLI, with the audit log checked for every refusal.

mod support;

use std::path::{Path, PathBuf};

use smv::audit::Outcome;
use support::Sandbox;

fn outbox_texts(s: &Sandbox) -> Vec<String> {
    match std::fs::read_to_string(s.data_dir().join("outbox.jsonl")) {
        Ok(t) => t
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["text"].as_str().unwrap().to_string()
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn denied_count(s: &Sandbox, actor: &str) -> usize {
    s.audit_entries()
        .iter()
        .filter(|e| e.outcome == Outcome::Denied && e.actor == actor)
        .count()
}

/// Runs a command that must be refused (exit 4) and must leave a `denied` entry by `actor`.
#[track_caller]
fn refused(s: &Sandbox, key: Option<&Path>, actor: &str, args: &[&str]) -> support::Run {
    let before = denied_count(s, actor);
    let run = match key {
        Some(k) => s.smv_as(k, args),
        None => s.smv(args),
    }
    .fails(4);
    assert!(
        denied_count(s, actor) > before,
        "no denied entry for {actor} after {args:?}"
    );
    run
}

fn draft_id(run: &support::Run) -> String {
    run.json()["id"].as_str().unwrap().to_string()
}

/// alice (admin, approve on `demo`), bob (member, draft on `demo`), carol (member, approve on
/// `demo`); `demo` needs one approval.
fn setup() -> (Sandbox, PathBuf, PathBuf) {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let bob = s.add_custodian("bob", "member");
    let carol = s.add_custodian("carol", "member");
    s.smv(&["grant", "alice", "demo", "approve"]).ok();
    s.smv(&["grant", "bob", "demo", "draft"]).ok();
    s.smv(&["grant", "carol", "demo", "approve"]).ok();
    s.smv(&["policy", "set", "demo", "--approvals", "1"]).ok();
    (s, bob, carol)
}

#[test]
fn a_draft_is_approved_by_another_member_and_published_byte_for_byte() {
    let (s, bob, carol) = setup();
    // Direct posting is refused below `approve`, with the way forward.
    refused(&s, Some(&bob), "bob", &["post", "demo", "hi"]).stderr_has("smv draft demo");
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    refused(&s, Some(&bob), "bob", &["post", "demo", "hi"])
        .stderr_has("needs 1 approval")
        .stderr_has("smv draft demo");

    // Exotic but legal bytes: what goes out must be exactly these.
    let text = "Launch day  🚀\u{200d}\ttabs, \"quotes\" and a trailing space ";
    let d = draft_id(&s.smv_as(&bob, &["--json", "draft", "demo", text]).ok());
    refused(&s, Some(&bob), "bob", &["publish", &d]).stderr_has("0 of the 1 approval");
    let approved = s.smv_as(&carol, &["--json", "approve", &d]).ok().json();
    assert_eq!(approved["approval_state"][0]["have"], 1);
    let out = s.smv_as(&bob, &["--json", "publish", &d]).ok().json();
    assert_eq!(out[0]["status"], "posted");
    assert_eq!(outbox_texts(&s), vec![text.to_string()]);

    // The log binds approval and publication to the same hash, and names both people.
    let entries = s.audit_entries();
    let approval = entries
        .iter()
        .find(|e| e.action == "draft.approve" && e.outcome == Outcome::Ok)
        .map(|e| e.request_id.clone())
        .unwrap();
    let approve_intent = entries
        .iter()
        .find(|e| e.request_id == approval && e.outcome == Outcome::Intent)
        .unwrap();
    let post = entries
        .iter()
        .find(|e| e.action == "post" && e.outcome == Outcome::Ok)
        .unwrap();
    assert_eq!(
        approve_intent.details["text_sha256"],
        post.details["text_sha256"]
    );
    assert_eq!(post.details["draft_id"], d.as_str());
    assert_eq!(post.details["approved_by"], serde_json::json!(["carol"]));
    assert_eq!(post.actor, "bob");

    // Published once: again is refused, and nothing more goes out.
    s.smv_as(&bob, &["publish", &d]).fails(5);
    let listed = s.smv(&["--json", "drafts", "--all"]).ok().json();
    assert_eq!(listed[0]["status"], "published");
    assert_eq!(outbox_texts(&s).len(), 1);
}

#[test]
fn self_approval_is_refused_and_one_person_counts_once() {
    let (s, bob, carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "3"])
        .ok()
        .stderr_has("only 2 members hold `approve`");
    s.smv(&["policy", "set", "demo", "--approvals", "2"]).ok();
    // carol drafts; she holds `approve` but cannot approve her own draft.
    let d = draft_id(&s.smv_as(&carol, &["--json", "draft", "demo", "mine"]).ok());
    refused(&s, Some(&carol), "carol", &["approve", &d]).stderr_has("two-person rule");
    // alice approves twice: one person counts once.
    s.smv(&["approve", &d]).ok();
    let again = s.smv(&["--json", "approve", &d]).ok().json();
    assert_eq!(again["approval_state"][0]["have"], 1);
    assert_eq!(again["approval_state"][0]["need"], 2);
    refused(&s, Some(&carol), "carol", &["publish", &d]).stderr_has("1 of the 2 approvals");
    // bob holds only `draft`: his approval is refused.
    refused(&s, Some(&bob), "bob", &["approve", &d]).stderr_has("`approve` grant");
    assert!(outbox_texts(&s).is_empty());
}

#[test]
fn editing_an_approved_draft_clears_its_approvals() {
    let (s, bob, carol) = setup();
    let d = draft_id(
        &s.smv_as(&bob, &["--json", "draft", "demo", "harmless"])
            .ok(),
    );
    s.smv_as(&carol, &["approve", &d]).ok();
    // Only the author edits; the edit clears the approval.
    refused(
        &s,
        Some(&carol),
        "carol",
        &["draft", "edit", &d, "edited by carol"],
    );
    s.smv_as(&bob, &["draft", "edit", &d, "something rogue"])
        .ok()
        .stdout_has("approvals were cleared");
    refused(&s, Some(&bob), "bob", &["publish", &d]).stderr_has("0 of the 1 approval");
    let shown = s.smv(&["--json", "draft", "show", &d]).ok().json();
    assert_eq!(shown["text"], "something rogue");
    assert_eq!(shown["approval_state"][0]["have"], 0);
    // Approving the new text publishes the new text, and nothing else ever went out.
    s.smv_as(&carol, &["approve", &d]).ok();
    s.smv_as(&bob, &["publish", &d]).ok();
    assert_eq!(outbox_texts(&s), vec!["something rogue".to_string()]);
}

#[test]
fn a_rejected_draft_cannot_be_published_or_edited() {
    let (s, bob, carol) = setup();
    let d = draft_id(&s.smv_as(&bob, &["--json", "draft", "demo", "meh"]).ok());
    s.smv_as(&carol, &["reject", &d, "--reason", ""]).fails(2);
    s.smv_as(&carol, &["reject", &d, "--reason", "off-brand"])
        .ok()
        .stdout_has("rejected");
    s.smv_as(&carol, &["approve", &d]).fails(5);
    s.smv_as(&bob, &["draft", "edit", &d, "x"]).fails(5);
    s.smv_as(&bob, &["publish", &d]).fails(5);
    s.smv(&["draft", "show", "d00000000"]).fails(3);
    // Not an id at all: refused as bad input before anything looks it up.
    s.smv(&["draft", "show", "dnope"]).fails(2);
    assert!(outbox_texts(&s).is_empty());
}

#[test]
fn a_draft_for_several_accounts_meets_each_accounts_policy() {
    let (s, bob, carol) = setup();
    s.smv(&["account", "add", "free", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "bob", "free", "draft"]).ok();
    s.smv(&["policy", "set", "free", "--approvals", "0"]).ok();
    let d = draft_id(
        &s.smv_as(&bob, &["--json", "draft", "demo,free", "both"])
            .ok(),
    );
    // `free` needs nothing, `demo` one approval: one refusal refuses all.
    refused(&s, Some(&bob), "bob", &["publish", &d]).stderr_has("nothing was sent");
    assert!(outbox_texts(&s).is_empty());
    // carol's approval counts on `demo` (she holds approve there), not on `free`.
    let v = s.smv_as(&carol, &["--json", "approve", &d]).ok().json();
    assert_eq!(v["approval_state"][0]["account"], "demo");
    assert_eq!(v["approval_state"][0]["have"], 1);
    assert_eq!(v["approval_state"][1]["have"], 0);
    s.smv_as(&bob, &["publish", &d]).ok();
    assert_eq!(outbox_texts(&s), vec!["both", "both"]);
}

#[test]
fn a_freeze_blocks_every_path_until_an_admin_lifts_it() {
    let (s, bob, carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    // A post with an idempotency key, before the freeze: its retry must be refused too.
    s.smv_as(&bob, &["post", "demo", "before", "--idempotency-key", "k1"])
        .ok();
    let d = draft_id(&s.smv_as(&bob, &["--json", "draft", "demo", "drafted"]).ok());
    s.smv_as(&carol, &["approve", &d]).ok();
    let at = support_time(3600);
    s.smv_as(&bob, &["post", "demo", "scheduled", "--at", &at])
        .ok();

    // bob (post) cannot freeze; carol (approve) can; only admins unfreeze.
    refused(&s, Some(&bob), "bob", &["freeze", "demo", "--reason", "x"]);
    s.smv_as(
        &carol,
        &["freeze", "demo", "--reason", "account compromised"],
    )
    .ok();
    let status = s.smv(&["--json", "status"]).ok().json();
    assert_eq!(status["frozen"][0]["account"], "demo");
    assert_eq!(status["frozen"][0]["frozen_by"], "carol");
    assert_eq!(status["frozen"][0]["reason"], "account compromised");

    // Direct post, idempotent retry, publication, dry run: all refused, saying who and why.
    for (key, actor, args) in [
        (Some(&bob), "bob", vec!["post", "demo", "during"]),
        (
            Some(&bob),
            "bob",
            vec!["post", "demo", "before", "--idempotency-key", "k1"],
        ),
        (Some(&bob), "bob", vec!["publish", d.as_str()]),
        (Some(&bob), "bob", vec!["post", "demo", "dry", "--dry-run"]),
        (None, "alice", vec!["post", "demo", "admin too"]),
    ] {
        refused(&s, key.map(|k| k.as_path()), actor, &args)
            .stderr_has("frozen")
            .stderr_has("carol")
            .stderr_has("account compromised")
            .stderr_has("smv unfreeze demo");
    }
    // The scheduled post comes due while frozen: held, not sent, and audited.
    let before = denied_count(&s, "bob");
    let run = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", "7200")],
            &["--json", "queue", "run"],
        )
        .ok()
        .json();
    assert_eq!(run[0]["status"], "held");
    assert!(denied_count(&s, "bob") > before);

    refused(&s, Some(&carol), "carol", &["unfreeze", "demo"]);
    s.smv(&["unfreeze", "demo"]).ok();
    // The held post does not fire by itself when the freeze lifts.
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "7200")], &["queue", "run"])
        .ok()
        .stdout_has("Nothing is due");
    assert_eq!(outbox_texts(&s), vec!["before"]);
    let held = s.smv(&["--json", "queue"]).ok().json();
    assert_eq!(held[0]["status"], "held");
    // Still wanted: released, it goes out with the next run.
    s.smv_as(&bob, &["queue", "release", held[0]["id"].as_str().unwrap()])
        .ok();
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "7200")], &["queue", "run"])
        .ok();
    assert_eq!(outbox_texts(&s), vec!["before", "scheduled"]);
    s.smv_as(&bob, &["publish", &d]).ok();
    assert_eq!(outbox_texts(&s), vec!["before", "scheduled", "drafted"]);
}

#[test]
fn a_freeze_on_every_account_and_one_that_expires() {
    let (s, bob, carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    // Only admins freeze everything.
    refused(
        &s,
        Some(&carol),
        "carol",
        &["freeze", "--all", "--reason", "x"],
    );
    s.smv(&["freeze", "--all", "--reason", "crisis", "--for", "2h"])
        .ok();
    refused(&s, Some(&bob), "bob", &["post", "demo", "x"]).stderr_has("every account");
    // Lifting an account's own freeze does not lift the global one.
    s.smv(&["unfreeze", "demo"])
        .fails(5)
        .stderr_has("smv status");
    // Two hours later it has lifted by itself.
    s.smv_env_as(
        &bob,
        &[("SMV_TEST_CLOCK_OFFSET", "7201")],
        &["post", "demo", "later"],
    )
    .ok();
    assert_eq!(outbox_texts(&s), vec!["later"]);
    let status = s
        .smv_env(&[("SMV_TEST_CLOCK_OFFSET", "7201")], &["--json", "status"])
        .ok()
        .json();
    assert!(status["frozen"].as_array().unwrap().is_empty());
    // Bad input is refused before anything changes.
    s.smv(&["freeze", "demo", "--reason", "x", "--for", "soon"])
        .fails(2)
        .stderr_has("2h");
    s.smv(&["freeze", "demo", "--reason", " "]).fails(2);
    s.smv(&["freeze", "nope", "--reason", "x"]).fails(3);
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "7201")], &["unfreeze", "--all"])
        .fails(5);
}

/// A post process that read the vault before the freeze must not slip through after it.
#[test]
fn a_freeze_stops_a_post_already_under_way() {
    let (s, bob, _carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    let mut cmd = s.command();
    cmd.args([
        "--identity",
        bob.to_str().unwrap(),
        "post",
        "demo",
        "racing",
    ])
    .env("SMV_FAILPOINT", "post-before-gate:sleep1500")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.smv(&["freeze", "demo", "--reason", "stop now"]).ok();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop now"));
    assert!(outbox_texts(&s).is_empty());
}

#[test]
fn the_rate_guard_holds_under_parallel_processes() {
    let (s, bob, _carol) = setup();
    s.smv(&[
        "policy",
        "set",
        "demo",
        "--approvals",
        "0",
        "--max-posts",
        "3",
        "--per",
        "1h",
    ])
    .ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut cmd = s.command();
            cmd.args([
                "--identity",
                bob.to_str().unwrap(),
                "post",
                "demo",
                &format!("burst {i}"),
            ])
            .env("SMV_LOCK_TIMEOUT_MS", "60000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 3, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 4).count(), 5, "{codes:?}");
    assert_eq!(outbox_texts(&s).len(), 3);
    refused(&s, Some(&bob), "bob", &["post", "demo", "one more"])
        .stderr_has("3 posts per 1h")
        .stderr_has("smv policy list");
    // Removing the guard lets posts through again; bad values are refused.
    s.smv(&["policy", "set", "demo", "--max-posts", "0", "--per", "1h"])
        .fails(2);
    s.smv(&["policy", "set", "demo", "--max-posts", "5"])
        .fails(2);
    s.smv(&["policy", "set", "demo"]).fails(2);
    s.smv(&["policy", "set", "demo", "--approvals", "11"])
        .fails(2);
    s.smv(&["policy", "set", "demo", "--no-rate-guard"]).ok();
    s.smv_as(&bob, &["post", "demo", "one more"]).ok();
    // Only the account's manager (or an admin) sets its policy.
    refused(
        &s,
        Some(&bob),
        "bob",
        &["policy", "set", "demo", "--approvals", "0"],
    );
}

/// The author's grant taken after scheduling: the post is held with the reason (its
/// authority lapsed), not sent and not lost; released once the grant is back, it goes out.
#[test]
fn a_scheduled_post_of_a_revoked_member_does_not_go_out() {
    let (s, bob, _carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    let at = support_time(600);
    let q = s
        .smv_as(&bob, &["--json", "post", "demo", "from bob", "--at", &at])
        .ok()
        .json();
    let id = q[0]["id"].as_str().unwrap().to_string();
    // Not due yet: nothing happens.
    s.smv(&["queue", "run"]).ok().stdout_has("Nothing is due");
    s.smv(&["revoke", "bob", "demo"]).ok();
    let before = denied_count(&s, "bob");
    let run = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", "601")],
            &["--json", "queue", "run"],
        )
        .ok();
    assert_eq!(run.json()[0]["status"], "held");
    assert!(denied_count(&s, "bob") > before);
    assert!(outbox_texts(&s).is_empty());
    let all = s.smv(&["--json", "queue", "--all"]).ok().json();
    assert_eq!(all[0]["id"], id.as_str());
    assert_eq!(all[0]["status"], "held");
    assert!(
        all[0]["note"].as_str().unwrap().contains("no grant"),
        "{}",
        all[0]
    );
    s.smv(&["status"]).ok().stdout_has("held: 1");
    // Released without the grant: held again, still not sent.
    s.smv(&["queue", "release", &id]).ok();
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "602")], &["queue", "run"])
        .ok();
    assert!(outbox_texts(&s).is_empty());
    // The grant back, released: it goes out.
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s.smv(&["queue", "release", &id]).ok();
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "603")], &["queue", "run"])
        .ok();
    assert_eq!(outbox_texts(&s), vec!["from bob"]);
}

#[test]
fn scheduling_checks_its_input_and_the_queue_is_managed() {
    let (s, bob, carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s.smv_as(
        &bob,
        &["post", "demo", "x", "--at", "2020-01-01T09:00+01:00"],
    )
    .fails(2)
    .stderr_has("in the past");
    s.smv_as(&bob, &["post", "demo", "x", "--at", "2030-01-01T09:00"])
        .fails(2)
        .stderr_has("offset");
    s.smv_as(&bob, &["post", "demo", "x", "--at", "soon"])
        .fails(2);
    // A draft-only member cannot schedule a direct post.
    s.smv(&["grant", "bob", "demo", "draft"]).ok();
    refused(
        &s,
        Some(&bob),
        "bob",
        &["post", "demo", "x", "--at", &support_time(60)],
    );
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    let q = s
        .smv_as(
            &bob,
            &["--json", "post", "demo", "x", "--at", &support_time(60)],
        )
        .ok()
        .json();
    let id = q[0]["id"].as_str().unwrap();
    // Only pending or held posts are cancelled; only held ones released.
    s.smv_as(&bob, &["queue", "release", id]).fails(5);
    s.smv_as(&carol, &["queue", "cancel", id]).ok();
    s.smv_as(&bob, &["queue", "cancel", id]).fails(5);
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "120")], &["queue", "run"])
        .ok()
        .stdout_has("Nothing is due");
    assert!(outbox_texts(&s).is_empty());
}

#[test]
fn a_scheduled_draft_needs_its_approvals_when_it_is_due() {
    let (s, bob, carol) = setup();
    let d = draft_id(
        &s.smv_as(&bob, &["--json", "draft", "demo", "approved text"])
            .ok(),
    );
    refused(
        &s,
        Some(&bob),
        "bob",
        &["publish", &d, "--at", &support_time(60)],
    );
    s.smv_as(&carol, &["approve", &d]).ok();
    s.smv_as(&bob, &["publish", &d, "--at", &support_time(60)])
        .ok();
    // Scheduled: publishing it now as well is refused (it would go out twice).
    s.smv_as(&bob, &["publish", &d])
        .fails(5)
        .stderr_has("queue cancel");
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "120")], &["queue", "run"])
        .ok();
    assert_eq!(outbox_texts(&s), vec!["approved text"]);
    let all = s.smv(&["--json", "drafts", "--all"]).ok().json();
    assert_eq!(all[0]["status"], "published");
    // A second scheduled draft whose approver lost the grant fails when due.
    let d2 = draft_id(&s.smv_as(&bob, &["--json", "draft", "demo", "second"]).ok());
    s.smv_as(&carol, &["approve", &d2]).ok();
    s.smv_as(&bob, &["publish", &d2, "--at", &support_time(60)])
        .ok();
    s.smv(&["revoke", "carol", "demo"]).ok();
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "120")], &["queue", "run"])
        .fails(11);
    assert_eq!(outbox_texts(&s), vec!["approved text"]);
}

/// Every role × grant level × action × account state, through the CLI: allowed or refused
/// as the rules say, and every refusal audited.
#[test]
fn authorization_table_through_the_cli() {
    let s = Sandbox::new();
    s.init().ok();
    // Account states: open, needs one approval, frozen, rate guard already used up.
    for a in ["open", "gated", "frozen", "limited"] {
        s.smv(&["account", "add", a, "--provider", "outbox"]).ok();
        s.smv(&["grant", "alice", a, "manage"]).ok();
    }
    s.smv(&["policy", "set", "gated", "--approvals", "1"]).ok();
    s.smv(&[
        "policy",
        "set",
        "limited",
        "--max-posts",
        "1",
        "--per",
        "1h",
    ])
    .ok();
    s.smv(&["post", "limited", "uses the rate up"]).ok();
    // A writer and a checker make one approved draft per account, for `publish`.
    let writer = s.add_custodian("writer", "member");
    let checker = s.add_custodian("checker", "member");
    let mut drafts = std::collections::BTreeMap::new();
    for a in ["open", "gated", "frozen", "limited"] {
        s.smv(&["grant", "writer", a, "draft"]).ok();
        s.smv(&["grant", "checker", a, "approve"]).ok();
        let d = draft_id(&s.smv_as(&writer, &["--json", "draft", a, "text"]).ok());
        s.smv_as(&checker, &["approve", &d]).ok();
        drafts.insert(a, d);
    }
    s.smv(&["freeze", "frozen", "--reason", "table"]).ok();

    let levels = [
        None,
        Some("draft"),
        Some("post"),
        Some("approve"),
        Some("manage"),
    ];
    let rank = |l: Option<&str>| levels.iter().position(|x| *x == l).unwrap();
    let mut checked = 0;
    for role in ["admin", "auditor", "member"] {
        // Auditors hold no grants (`smv grant` refuses them): they meet each action bare.
        let role_levels: &[Option<&str>] = if role == "auditor" {
            &levels[..1]
        } else {
            &levels
        };
        for &level in role_levels {
            let name = format!("{role}-{}", level.unwrap_or("none"));
            let key = s.add_custodian(&name, role);
            let r = rank(level);
            for account in ["open", "gated", "frozen", "limited"] {
                if let Some(l) = level {
                    s.smv(&["grant", &name, account, l]).ok();
                }
                let frozen = account == "frozen";
                let full = account == "limited";
                let approvals_needed = account == "gated";
                let cases: Vec<(Vec<&str>, bool)> = vec![
                    (
                        // `gated`'s policy was made with approvals: strict, so nobody
                        // (approvers and admins included) posts to it directly.
                        vec!["post", account, "t", "--dry-run"],
                        r >= 2 && !approvals_needed && !frozen && !full,
                    ),
                    (
                        vec!["publish", &drafts[account], "--dry-run"],
                        r >= 2 && !frozen && !full,
                    ),
                    (vec!["draft", account, "t"], r >= 1),
                    (vec!["approve", &drafts[account]], r >= 3),
                    (
                        vec![
                            "policy",
                            "set",
                            account,
                            "--approvals",
                            if approvals_needed { "1" } else { "0" },
                        ],
                        role == "admin" || r == 4,
                    ),
                ];
                for (args, allowed) in cases {
                    let before = denied_count(&s, &name);
                    let run = s.smv_as(&key, &args);
                    let what = format!("{name} on {account}: {args:?}");
                    if allowed {
                        assert_eq!(run.code, 0, "{what} should be allowed: {}", run.stderr);
                    } else {
                        assert_eq!(run.code, 4, "{what} should be refused: {}", run.stderr);
                        assert_eq!(denied_count(&s, &name), before + 1, "{what}: not audited");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, (5 + 1 + 5) * 4 * 5);
    // Nothing was ever sent by the table: dry runs only.
    assert_eq!(outbox_texts(&s), vec!["uses the rate up"]);
}

/// An RFC 3339 time `secs` from now (real clock), as `--at` takes it.
fn support_time(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `kill -9` after the posts went out but before the queue recorded it: the next run marks
/// them sent from the audit log, and nothing is posted twice.
#[test]
fn a_queue_run_killed_after_sending_is_finished_without_posting_twice() {
    let (s, bob, _carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s.smv_as(&bob, &["post", "demo", "once", "--at", &support_time(60)])
        .ok();
    let killed = s.smv_env(
        &[
            ("SMV_TEST_CLOCK_OFFSET", "120"),
            ("SMV_FAILPOINT", "after-intent:abort"),
        ],
        &["queue", "run"],
    );
    assert_ne!(killed.code, 0);
    assert_eq!(outbox_texts(&s), vec!["once"]);
    assert_eq!(
        s.smv(&["--json", "queue"]).ok().json()[0]["status"],
        "pending"
    );
    let run = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", "120")],
            &["--json", "queue", "run"],
        )
        .ok()
        .json();
    assert_eq!(run[0]["status"], "sent");
    assert_eq!(outbox_texts(&s), vec!["once"]);
    s.smv(&["audit", "verify"]).ok();
}

/// What is approved is what is shown: a draft's carriage return, escape sequences and
/// bidirectional controls are printed as visible escapes in `draft show`, `drafts`, the
/// freeze reason, `status` and the audit log; `--json` keeps the exact bytes.
#[test]
fn control_and_bidi_characters_are_shown_escaped_everywhere() {
    let (s, bob, carol) = setup();
    let scam = "BUY SCAM http://evil\rOur Q3 results\u{2026}";
    let d = draft_id(&s.smv_as(&bob, &["--json", "draft", "demo", scam]).ok());
    let shown = s.smv_as(&carol, &["draft", "show", &d]).ok();
    assert!(
        shown
            .stdout
            .contains("BUY SCAM http://evil\\rOur Q3 results\u{2026}"),
        "{}",
        shown.stdout
    );
    assert!(
        !shown.stdout.contains('\r'),
        "a raw carriage return was printed"
    );
    // The JSON is the exact text (the approver's tools see the very bytes).
    let json = s
        .smv_as(&carol, &["--json", "draft", "show", &d])
        .ok()
        .json();
    assert_eq!(json["text"], scam);
    let list = s.smv_as(&carol, &["drafts"]).ok();
    assert!(!list.stdout.contains('\r'));

    // A bidirectional override and an escape sequence in a second draft and a freeze reason.
    let flipped = "pay to \u{202e}moc.live\u{202c} \u{1b}[8mhidden\u{1b}[0m";
    let d2 = draft_id(&s.smv_as(&bob, &["--json", "draft", "demo", flipped]).ok());
    let shown = s.smv_as(&carol, &["draft", "show", &d2]).ok();
    assert!(
        shown.stdout.contains("\\u{202e}moc.live\\u{202c}"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("\\u{1b}[8mhidden"),
        "{}",
        shown.stdout
    );
    let raw_json = s.smv_as(&carol, &["--json", "draft", "show", &d2]).ok();
    assert!(!raw_json.stdout.contains('\u{202e}') && !raw_json.stdout.contains('\u{1b}'));
    assert_eq!(raw_json.json()["text"], flipped);

    s.smv_as(
        &carol,
        &[
            "freeze",
            "demo",
            "--reason",
            "\u{1b}[2J\u{1b}[Hall clear\rok",
        ],
    )
    .ok();
    for run in [
        s.smv(&["status"]).ok(),
        s.smv(&["audit", "log"]).ok(),
        s.smv_as(&carol, &["draft", "show", &d]).ok(),
    ] {
        for bad in ['\u{1b}', '\r', '\u{202e}'] {
            assert!(
                !run.stdout.contains(bad) && !run.stderr.contains(bad),
                "{bad:?} printed raw:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
    s.smv(&["status"]).ok().stdout_has("\\u{1b}[2J");
    // A refusal quoting the reason escapes it too (carol, an approver, is exempt from the
    // approvals, so the freeze is what refuses her).
    s.smv(&["policy", "set", "demo", "--no-strict"]).ok();
    let refused = s.smv_as(&carol, &["post", "demo", "x"]).fails(4);
    assert!(!refused.stderr.contains('\u{1b}') && refused.stderr.contains("\\u{1b}"));
    // `audit show` of the draft's entry.
    let seq = s
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "draft" && e.details["text"] == scam)
        .unwrap()
        .seq;
    let shown = s.smv(&["audit", "show", &seq.to_string()]).ok();
    assert!(!shown.stdout.contains('\r') && shown.stdout.contains("\\r"));
}

/// `smv policy set ACCOUNT --strict`: the two-person rule for everyone. Approvers and admins,
/// who may post directly to an account that needs approvals, may not on a strict one: not
/// directly, not scheduled, and a post scheduled before it became strict does not go out.
#[test]
fn a_strict_policy_holds_approvers_and_admins_to_the_two_person_rule() {
    let (s, bob, carol) = setup();
    // `--no-strict`, the visible exemption: `approve` holders post directly.
    s.smv(&["policy", "set", "demo", "--no-strict"])
        .ok()
        .stdout_has("exempt: members holding `approve`");
    s.smv_as(&carol, &["post", "demo", "carol directly"]).ok();
    let early = s
        .smv_as(
            &carol,
            &[
                "--json",
                "post",
                "demo",
                "scheduled early",
                "--at",
                &support_time(60),
            ],
        )
        .ok()
        .json();
    // Strict needs at least one approval.
    s.smv(&["policy", "set", "demo", "--strict", "--approvals", "0"])
        .fails(2);
    refused(
        &s,
        Some(&bob),
        "bob",
        &["policy", "set", "demo", "--strict"],
    );
    s.smv(&["policy", "set", "demo", "--strict"])
        .ok()
        .stdout_has("strict");
    let policies = s.smv(&["--json", "policy", "list"]).ok().json();
    assert_eq!(policies[0]["strict"], true);
    assert_eq!(policies[0]["approvals"], 1);
    s.smv(&["policy", "list"]).ok().stdout_has("yes");
    s.smv(&["status"])
        .ok()
        .stdout_has("Strict")
        .stdout_has("demo");
    assert_eq!(
        s.smv(&["--json", "status"]).ok().json()["strict"],
        serde_json::json!(["demo"])
    );

    s.smv(&["grant", "alice", "demo", "manage"]).ok();
    for (key, actor) in [(Some(carol.as_path()), "carol"), (None, "alice")] {
        refused(&s, key, actor, &["post", "demo", "directly"])
            .stderr_has("strict")
            .stderr_has("smv draft demo");
        refused(
            &s,
            key,
            actor,
            &["post", "demo", "later", "--at", &support_time(120)],
        );
        refused(&s, key, actor, &["post", "demo", "dry", "--dry-run"]);
    }
    // The post scheduled before: refused when due, not sent.
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "90")], &["queue", "run"])
        .fails(11);
    let all = s.smv(&["--json", "queue", "--all"]).ok().json();
    assert_eq!(all[0]["id"], early[0]["id"]);
    assert_eq!(all[0]["status"], "failed");
    // Two persons: an approver's draft, approved by another, published.
    let d = draft_id(
        &s.smv_as(&carol, &["--json", "draft", "demo", "two people"])
            .ok(),
    );
    refused(&s, Some(&carol), "carol", &["publish", &d]).stderr_has("smv approve");
    s.smv(&["approve", &d]).ok();
    s.smv_as(&carol, &["publish", &d]).ok();
    assert_eq!(outbox_texts(&s), vec!["carol directly", "two people"]);
    // Back to the exemption.
    s.smv(&["policy", "set", "demo", "--no-strict"]).ok();
    s.smv_as(&carol, &["post", "demo", "direct again"]).ok();
}

/// Hints follow the rule that refused (typed), and name commands that work.
#[test]
fn hints_name_commands_that_work() {
    let (s, bob, carol) = setup();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    // Publishing without the approvals it needs: ask an approver, not for a grant.
    let d = draft_id(
        &s.smv_as(&bob, &["--json", "draft", "demo", "needs one"])
            .ok(),
    );
    let run = refused(&s, Some(&bob), "bob", &["publish", &d]);
    let hint = run
        .stderr
        .split("hint:")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(hint.contains(&format!("smv approve {d}")), "{hint}");
    assert!(!hint.contains("grant"), "{hint}");
    // Under a freeze of every account, the hint lifts that one.
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["freeze", "--all", "--reason", "crisis"]).ok();
    refused(&s, Some(&bob), "bob", &["post", "demo", "x"])
        .stderr_has("smv unfreeze --all")
        .stderr_has("every account");
    s.smv(&["unfreeze", "--all"]).ok();
    // A publication that fails at the network: retry with `smv publish ID`, which has no
    // --idempotency-key.
    s.smv_in(
        &[
            "account",
            "add",
            "deadhook",
            "--provider",
            "webhook",
            "--secret-stdin",
        ],
        b"http://127.0.0.1:9/hook",
    )
    .ok();
    s.smv(&["grant", "bob", "deadhook", "post"]).ok();
    s.smv(&["grant", "carol", "deadhook", "approve"]).ok();
    let d = draft_id(
        &s.smv_as(&bob, &["--json", "draft", "demo,deadhook", "to both"])
            .ok(),
    );
    s.smv_as(&carol, &["approve", &d]).ok();
    let run = s.smv_as(&bob, &["publish", &d]).fails(11);
    assert!(
        run.stderr.contains(&format!("smv publish {d}")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("--idempotency-key"), "{}", run.stderr);
    // Hints given to errors of every kind reach the user.
    s.smv(&["token", "revoke", "t00000000"])
        .fails(3)
        .stderr_has("smv token list");
    s.smv(&["queue", "cancel", "q00000000"])
        .fails(3)
        .stderr_has("smv queue");
}

/// Accounts and groups named like the words commands take where a name stands (`smv draft
/// show ID`) are refused when made: an account named `show` could not be drafted for.
#[test]
fn accounts_named_like_subcommands_are_refused() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    for name in ["show", "edit", "help", "Show"] {
        s.smv(&["account", "add", name, "--provider", "outbox"])
            .fails(2)
            .stderr_has("reserved");
        s.smv(&["group", "add", name, "demo"])
            .fails(2)
            .stderr_has("reserved");
    }
    // Names that merely contain the words are fine.
    s.smv(&["account", "add", "showcase", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "showcase", "draft"]).ok();
    s.smv(&["draft", "showcase", "hello"]).ok();
}

/// A scheduled publication whose author lost every grant on the account is held (its
/// authority lapsed), not failed: a release after the grant is back sends it.
#[test]
fn a_scheduled_draft_of_an_author_without_a_grant_is_held() {
    let (s, bob, carol) = setup();
    let d = draft_id(
        &s.smv_as(&bob, &["--json", "draft", "demo", "approved"])
            .ok(),
    );
    s.smv_as(&carol, &["approve", &d]).ok();
    let q = s
        .smv_as(&bob, &["--json", "publish", &d, "--at", &support_time(60)])
        .ok()
        .json();
    let id = q[0]["id"].as_str().unwrap().to_string();
    s.smv(&["revoke", "bob", "demo"]).ok();
    let run = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", "120")],
            &["--json", "queue", "run"],
        )
        .ok()
        .json();
    assert_eq!(run[0]["status"], "held", "{run}");
    assert!(outbox_texts(&s).is_empty());
    s.smv(&["grant", "bob", "demo", "draft"]).ok();
    s.smv(&["queue", "release", &id]).ok();
    s.smv_env(&[("SMV_TEST_CLOCK_OFFSET", "121")], &["queue", "run"])
        .ok();
    assert_eq!(outbox_texts(&s), vec!["approved"]);
}

/// A fake Mastodon that publishes at once and answers too late for smv (its timeout is set
/// to 300 ms), counting what it published.
fn late_mastodon() -> support::fake_http::FakeServer {
    use support::fake_http::{FakeServer, Resp};
    FakeServer::start(|req, n| match req.path.as_str() {
        "/api/v2/instance" => Resp::json(200, serde_json::json!({})),
        _ => Resp::json(200, serde_json::json!({"id": format!("{n}")}))
            .after(std::time::Duration::from_millis(1200)),
    })
}

fn statuses(server: &support::fake_http::FakeServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/statuses")
        .count()
}

/// A scheduled post sent without a trustworthy answer is `unknown`, not `failed` (it may be
/// live): no later run sends it again, it cannot be cancelled or released, `smv status`
/// lists it; resolved as not published it is held (released, it goes out again); resolved
/// as published it is sent.
#[test]
fn a_scheduled_post_whose_outcome_is_unknown_is_neither_failed_nor_sent_again() {
    let (s, bob, carol) = setup();
    let server = late_mastodon();
    s.smv_in(
        &[
            "account",
            "add",
            "masto",
            "--provider",
            "mastodon",
            "--url",
            &server.url,
            "--secret-stdin",
        ],
        b"tok-queue-1",
    )
    .ok();
    s.smv(&["grant", "bob", "masto", "post"]).ok();
    s.smv(&["grant", "carol", "masto", "approve"]).ok();
    let q = s
        .smv_as(
            &bob,
            &[
                "--json",
                "post",
                "masto",
                "scheduled",
                "--at",
                &support_time(60),
            ],
        )
        .ok()
        .json();
    let id = q[0]["id"].as_str().unwrap().to_string();
    let env = [
        ("SMV_TEST_CLOCK_OFFSET", "120"),
        ("SMV_HTTP_TIMEOUT_MS", "300"),
    ];
    let run = s.smv_env(&env, &["--json", "queue", "run"]).fails(12);
    let r = run.json();
    assert_eq!(r[0]["status"], "unknown", "{r}");
    assert!(run.stderr.contains("smv posts resolve"), "{}", run.stderr);
    let note = r[0]["note"].as_str().unwrap();
    let seq: String = note
        .split("smv posts resolve ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(statuses(&server), 1);
    // Later runs send nothing; a person cannot cancel or release it blindly.
    s.smv_env(&env, &["queue", "run"])
        .ok()
        .stdout_has("Nothing is due");
    assert_eq!(statuses(&server), 1);
    s.smv(&["queue", "cancel", &id])
        .fails(5)
        .stderr_has("smv posts resolve");
    s.smv(&["queue", "release", &id]).fails(5);
    s.smv(&["status"]).ok().stdout_has("Unknown outcomes: 1");
    assert_eq!(
        s.smv(&["--json", "queue"]).ok().json()[0]["status"],
        "unknown"
    );
    // bob (post) may not resolve it; carol (approve) may.
    refused(
        &s,
        Some(&bob),
        "bob",
        &["posts", "resolve", &seq, "--not-published", "--reason", "x"],
    );
    let done = s
        .smv_as(
            &carol,
            &[
                "--json",
                "posts",
                "resolve",
                &seq,
                "--not-published",
                "--reason",
                "not on the timeline",
            ],
        )
        .ok()
        .json();
    assert_eq!(done["queued"]["status"], "held");
    // Released, it goes out again (the network had not published it, as carol found).
    s.smv_as(&carol, &["queue", "release", &id]).ok();
    let again = s.smv_env(
        &[("SMV_TEST_CLOCK_OFFSET", "180")],
        &["--json", "queue", "run"],
    );
    assert_eq!(again.ok().json()[0]["status"], "sent");
    assert_eq!(statuses(&server), 2);
    s.smv(&["audit", "verify"]).ok();
}

/// `kill -9` of a queue run between sending and recording the outcome: the next run does
/// not send it again and marks it unknown; resolved as published, it is sent.
#[test]
fn a_queue_run_killed_between_sending_and_the_outcome_does_not_post_twice() {
    let (s, bob, carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    let q = s
        .smv_as(
            &bob,
            &["--json", "post", "demo", "once", "--at", &support_time(60)],
        )
        .ok()
        .json();
    let id = q[0]["id"].as_str().unwrap().to_string();
    let killed = s.smv_env(
        &[
            ("SMV_TEST_CLOCK_OFFSET", "120"),
            ("SMV_FAILPOINT", "post-after-send:abort"),
        ],
        &["queue", "run"],
    );
    assert_ne!(killed.code, 0);
    assert_eq!(outbox_texts(&s), vec!["once"]);
    let run = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", "120")],
            &["--json", "queue", "run"],
        )
        .fails(12)
        .json();
    assert_eq!(run[0]["status"], "unknown");
    assert_eq!(outbox_texts(&s), vec!["once"], "posted twice");
    let st = s.smv(&["--json", "status"]).ok().json();
    let seq = st["unknown"][0]["intent_seq"].to_string();
    assert_eq!(st["unknown"][0]["queue_id"], id.as_str());
    let done = s
        .smv_as(
            &carol,
            &[
                "--json",
                "posts",
                "resolve",
                &seq,
                "--published",
                "https://x.example/1",
            ],
        )
        .ok()
        .json();
    assert_eq!(done["queued"]["status"], "sent");
    assert_eq!(done["queued"]["url"], "https://x.example/1");
    assert_eq!(outbox_texts(&s), vec!["once"]);
}

/// `smv account remove` says what it changes, `--dry-run` changes nothing (not a byte), and
/// history is kept: scheduled posts and drafts cancelled, not deleted; a token left without
/// an account revoked; the groups and grants it loses listed.
#[test]
fn removing_an_account_reports_what_it_changes_and_keeps_history() {
    let (s, bob, _carol) = setup();
    s.smv(&["account", "add", "other", "--provider", "outbox"])
        .ok();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s.smv(&["grant", "bob", "other", "post"]).ok();
    s.smv(&["group", "add", "both", "demo,other"]).ok();
    s.smv(&["group", "add", "solo", "demo"]).ok();
    let q = s
        .smv_as(
            &bob,
            &[
                "--json",
                "post",
                "demo",
                "later",
                "--at",
                &support_time(600),
            ],
        )
        .ok()
        .json();
    let qid = q[0]["id"].as_str().unwrap().to_string();
    let d = draft_id(
        &s.smv_as(&bob, &["--json", "draft", "demo,other", "a draft"])
            .ok(),
    );
    let only = s
        .smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "only",
            "--account",
            "demo",
            "--level",
            "post",
            "--expires",
            "1d",
        ])
        .ok()
        .json()["record"]["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    let wide = s
        .smv(&[
            "--json",
            "token",
            "create",
            "--name",
            "wide",
            "--account",
            "demo,other",
            "--level",
            "post",
            "--expires",
            "1d",
        ])
        .ok()
        .json()["record"]["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    let before = s.vault_bytes();
    let plan = s
        .smv(&["--json", "account", "remove", "demo", "--dry-run"])
        .ok()
        .json();
    assert_eq!(s.vault_bytes(), before, "a dry run changes nothing");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["scheduled_cancelled"], serde_json::json!([qid]));
    assert_eq!(plan["drafts_cancelled"], serde_json::json!([d]));
    let tokens = plan["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens
            .iter()
            .any(|t| t["accessor"] == only.as_str() && t["revoked"] == true)
    );
    assert!(
        tokens
            .iter()
            .any(|t| t["accessor"] == wide.as_str() && t["revoked"] == false)
    );
    let groups = plan["groups"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g["group"] == "both" && g["emptied"] == false)
    );
    assert!(
        groups
            .iter()
            .any(|g| g["group"] == "solo" && g["emptied"] == true)
    );
    let grants: Vec<_> = plan["grants_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["member"].as_str().unwrap().to_string())
        .collect();
    assert!(grants.contains(&"bob".to_string()) && grants.contains(&"carol".to_string()));
    let text = s.smv(&["account", "remove", "demo", "--dry-run"]).ok();
    assert!(text.stdout.contains("would change"), "{}", text.stdout);
    // Without --yes and no terminal: refused, nothing changed.
    s.smv(&["account", "remove", "demo"]).fails(2);
    assert_eq!(s.vault_bytes(), before);
    let done = s
        .smv(&["--json", "account", "remove", "demo", "--yes"])
        .ok()
        .json();
    assert_eq!(done["dry_run"], false);
    // History: the scheduled post and the draft are there, cancelled, with the name.
    let all = s.smv(&["--json", "queue", "--all"]).ok().json();
    assert_eq!(all[0]["id"], qid.as_str());
    assert_eq!(all[0]["status"], "cancelled");
    assert_eq!(all[0]["account"], "demo");
    assert!(
        all[0]["note"]
            .as_str()
            .unwrap()
            .contains("account demo removed")
    );
    let drafts = s.smv(&["--json", "drafts", "--all"]).ok().json();
    assert!(
        drafts
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == d.as_str() && x["status"] == "cancelled")
    );
    let listed = s.smv(&["--json", "token", "list", "--all"]).ok().json();
    let find = |a: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["accessor"] == a)
            .unwrap()
            .clone()
    };
    assert!(!find(&only)["revoked_at"].is_null());
    assert!(find(&wide)["revoked_at"].is_null());
    s.smv(&["audit", "verify"]).ok();
    // The removed account's name is free; its old posts stay the old account's.
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let all = s.smv(&["--json", "queue", "--all"]).ok().json();
    assert_eq!(all[0]["status"], "cancelled");
}

/// A scheduled post whose outcome could not be recorded (kept in `<vault>.outcomes`) is
/// `unknown` in the queue; the next run writes the kept outcome first and the post follows
/// the ledger (sent), without sending anything again.
#[test]
fn a_scheduled_post_whose_outcome_was_recorded_late_becomes_sent_by_the_next_run() {
    let (s, bob, _carol) = setup();
    s.smv(&["policy", "set", "demo", "--approvals", "0"]).ok();
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s.smv_as(&bob, &["post", "demo", "late", "--at", &support_time(60)])
        .ok();
    let run = s
        .smv_env(
            &[
                ("SMV_TEST_CLOCK_OFFSET", "120"),
                ("SMV_FAILPOINT", "post-outcome:error"),
            ],
            &["--json", "queue", "run"],
        )
        .fails(12)
        .json();
    assert_eq!(run[0]["status"], "unknown");
    assert_eq!(outbox_texts(&s), vec!["late"]);
    let run = s
        .smv_env(
            &[("SMV_TEST_CLOCK_OFFSET", "180")],
            &["--json", "queue", "run"],
        )
        .ok()
        .json();
    assert_eq!(run[0]["status"], "sent", "{run}");
    assert!(run[0]["post_id"].is_string(), "{run}");
    assert_eq!(outbox_texts(&s), vec!["late"], "nothing sent again");
    assert!(
        s.smv(&["--json", "status"]).ok().json()["unknown"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    s.smv(&["audit", "verify"]).ok();
}

/// Issue 24: "after `smv policy set masto --approvals 1` an admin's `smv post masto` went
/// straight out, and `policy set` did not say so". A policy that starts to need approvals is
/// strict unless `--no-strict`; a policy that needed approvals before keeps its exemption
/// (as a vault from before strict was the default has it) and every listing says who is
/// exempt; freezes stay outside approvals.
#[test]
fn approvals_bind_admins_by_default_and_an_exemption_is_shown() {
    let s = Sandbox::new();
    s.init().ok();
    s.smv(&["account", "add", "masto", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "masto", "manage"]).ok();
    let set = s.smv(&["policy", "set", "masto", "--approvals", "1"]).ok();
    assert!(set.stdout.contains("nobody is exempt"), "{}", set.stdout);
    // The admin, who holds `manage` (so `approve`), may not post directly any more.
    refused(&s, None, "alice", &["post", "masto", "straight out?"])
        .stderr_has("strict")
        .stderr_has("smv draft masto");
    refused(&s, None, "alice", &["post", "masto", "dry", "--dry-run"]);
    assert!(outbox_texts(&s).is_empty());
    let list = s.smv(&["--json", "policy", "list"]).ok().json();
    assert_eq!(list[0]["strict"], true);
    assert_eq!(list[0]["exempt"], "nobody");
    s.smv(&["policy", "list"]).ok().stdout_has("nobody");
    // Changing the number keeps it strict; `--approvals 0` lifts the approvals (and the
    // strictness with them: there is nothing left to bind); approvals again: strict again.
    s.smv(&["policy", "set", "masto", "--approvals", "2"]).ok();
    assert_eq!(
        s.smv(&["--json", "policy", "list"]).ok().json()[0]["strict"],
        true
    );
    s.smv(&["policy", "set", "masto", "--approvals", "0"]).ok();
    let open = s.smv(&["--json", "policy", "list"]).ok().json();
    assert_eq!(
        (&open[0]["strict"], &open[0]["exempt"]),
        (&false.into(), &"-".into())
    );
    s.smv(&["post", "masto", "direct while open"]).ok();
    s.smv(&["policy", "set", "masto", "--approvals", "1"]).ok();
    refused(&s, None, "alice", &["post", "masto", "again?"]);
    // An exempt policy (what a vault from before this change holds: approvals, not strict)
    // keeps its exemption when its number changes, and says so everywhere.
    let exempt = s.smv(&["policy", "set", "masto", "--no-strict"]).ok();
    assert!(
        exempt.stdout.contains("exempt: members holding `approve`"),
        "{}",
        exempt.stdout
    );
    assert!(exempt.stdout.contains("--strict"), "{}", exempt.stdout);
    let again = s.smv(&["policy", "set", "masto", "--approvals", "2"]).ok();
    assert!(
        again.stdout.contains("exempt: members holding `approve`"),
        "{}",
        again.stdout
    );
    let list = s.smv(&["--json", "policy", "list"]).ok().json();
    assert_eq!(
        (&list[0]["strict"], &list[0]["exempt"]),
        (&false.into(), &"approvers".into())
    );
    s.smv(&["policy", "list"]).ok().stdout_has("approvers");
    s.smv(&["post", "masto", "exempt admin"]).ok();
    // A rate guard alone makes no approval policy, strict or not.
    s.smv(&["account", "add", "plain", "--provider", "outbox"])
        .ok();
    s.smv(&["grant", "alice", "plain", "post"]).ok();
    s.smv(&["policy", "set", "plain", "--max-posts", "5", "--per", "1h"])
        .ok();
    s.smv(&["post", "plain", "rate-guarded only"]).ok();
    // Freezes stay outside approvals: an approver freezes, an admin unfreezes, at once.
    s.smv(&["policy", "set", "masto", "--strict"]).ok();
    s.smv(&["freeze", "masto", "--reason", "drill"]).ok();
    s.smv(&["unfreeze", "masto"]).ok();
    assert_eq!(
        outbox_texts(&s),
        vec!["direct while open", "exempt admin", "rate-guarded only"]
    );
}
