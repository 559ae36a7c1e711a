//! The archive at hand: `smv posts` (filters, words, who sees what), `smv posts show SEQ`,
//! the derived index beside the log (rebuilt when missing or not this log's), and reading
//! an export or a log copy offline, verified first.

mod support;

use std::path::PathBuf;

use support::Sandbox;

/// alice (admin) posts to demo and x-main; bob (member) has `post` on demo only.
fn setup() -> (Sandbox, PathBuf) {
    let s = Sandbox::new();
    s.init();
    for a in ["demo", "x-main"] {
        s.smv(&["account", "add", a, "--provider", "outbox"]).ok();
        s.smv(&["grant", "alice", a, "post"]).ok();
    }
    let bob = s.add_custodian("bob", "member");
    s.smv(&["grant", "bob", "demo", "post"]).ok();
    s.smv(&["post", "demo,x-main", "Release 2.1 is out: faster sync"])
        .ok();
    s.smv(&["post", "x-main", "Q3 results\u{202e}txt.exe\nsecond line"])
        .ok();
    s.smv_as(&bob, &["post", "demo", "Café opening on Monday"])
        .ok();
    (s, bob)
}

fn seqs(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["seq"].as_u64().unwrap())
        .collect()
}

fn texts(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn posts_lists_what_was_posted_newest_first_with_its_receipt() {
    let (s, _bob) = setup();
    let all = s.smv(&["--json", "posts"]).ok().json();
    assert_eq!(
        texts(&all),
        [
            "Café opening on Monday",
            "Q3 results\u{202e}txt.exe\nsecond line",
            "Release 2.1 is out: faster sync",
            "Release 2.1 is out: faster sync",
        ]
    );
    let newest = &all[0];
    assert_eq!(newest["account"], "demo");
    assert_eq!(newest["member"], "bob");
    assert_eq!(newest["via"], "local");
    assert_eq!(newest["provider"], "outbox");
    assert!(newest["url"].as_str().unwrap().contains("outbox.jsonl#"));
    // The seq is the post's `ok` entry in the audit log.
    let seq = newest["seq"].as_u64().unwrap();
    let entry = s
        .audit_entries()
        .into_iter()
        .find(|e| e.seq == seq)
        .unwrap();
    assert_eq!(
        (entry.action.as_str(), entry.outcome),
        ("post", smv::audit::Outcome::Ok)
    );
    assert_eq!(entry.details["post_id"], newest["post_id"]);
    // Piped: TSV, one line per post, the text escaped.
    let run = s.smv(&["posts"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "seq\ttime\taccount\tmember\tvia\ttext\turl");
    assert_eq!(lines.len(), 5);
    assert!(
        lines[2].contains("Q3 results\\u{202e}txt.exe\\nsecond line"),
        "{}",
        lines[2]
    );
    assert!(!run.stdout.contains('\u{202e}'));
}

#[test]
fn filters_by_account_member_time_words_and_limit() {
    let (s, _bob) = setup();
    let q = |args: &[&str]| {
        let mut full = vec!["--json", "posts"];
        full.extend_from_slice(args);
        s.smv(&full).ok().json()
    };
    assert_eq!(texts(&q(&["--account", "x-main"])).len(), 2);
    assert_eq!(texts(&q(&["--member", "bob"])), ["Café opening on Monday"]);
    assert_eq!(texts(&q(&["--since", "1h"])).len(), 4);
    assert_eq!(texts(&q(&["--since", "+1h"])).len(), 0);
    assert_eq!(texts(&q(&["--until", "yesterday"])).len(), 0);
    assert_eq!(texts(&q(&["--text", "release"])).len(), 2);
    assert_eq!(texts(&q(&["--text", "RELEASE sync"])).len(), 2);
    assert_eq!(texts(&q(&["--text", "release monday"])).len(), 0);
    assert_eq!(texts(&q(&["--text", "cafe"])), ["Café opening on Monday"]);
    assert_eq!(texts(&q(&["--text", "mon*"])), ["Café opening on Monday"]);
    assert_eq!(
        texts(&q(&["--text", "release", "--account", "demo"])),
        ["Release 2.1 is out: faster sync"]
    );
    assert_eq!(texts(&q(&["--limit", "1"])), ["Café opening on Monday"]);
    assert_eq!(texts(&q(&["--account", "nobody"])).len(), 0);
    // FTS5 syntax is only words: no error, no other meaning.
    for words in [
        "NEAR(release sync",
        "\"",
        "text:release OR 1",
        "release NOT sync",
        "*",
        "^release",
        "release)",
    ] {
        let found = q(&["--text", words]);
        assert!(texts(&found).len() <= 2, "{words}: {found}");
    }
    assert_eq!(
        texts(&q(&["--text", "release NOT sync"])).len(),
        0,
        "NOT is a word"
    );
    // Bad input.
    s.smv(&["posts", "--account", "x\u{1b}[2J"]).fails(2);
    s.smv(&["posts", "--since", "soonish"]).fails(2);
    s.smv(&["posts", "--limit", "-1"]).fails(2);
}

#[test]
fn posts_show_prints_the_exact_text_and_receipt() {
    let (s, _bob) = setup();
    let all = s
        .smv(&["--json", "posts", "--account", "x-main"])
        .ok()
        .json();
    let seq = seqs(&all)[0].to_string();
    let run = s.smv(&["posts", "show", &seq]).ok();
    assert!(run.stdout.starts_with(&format!("Post {seq} to x-main at ")));
    assert!(run.stdout.contains("  by:       alice via local"));
    assert!(
        run.stdout
            .ends_with("\nQ3 results\\u{202e}txt.exe\nsecond line\n"),
        "{}",
        run.stdout
    );
    let json = s.smv(&["--json", "posts", "show", &seq]).ok().json();
    assert_eq!(json["text"], "Q3 results\u{202e}txt.exe\nsecond line");
    // An entry that is not a post, and one that does not exist.
    s.smv(&["posts", "show", "1"])
        .fails(3)
        .stderr_has("smv posts");
    s.smv(&["posts", "show", "99999"]).fails(3);
    s.smv(&["posts", "show", "x"]).fails(2);
}

#[test]
fn a_member_sees_the_posts_of_their_accounts_only() {
    let (s, bob) = setup();
    let mine = s.smv_as(&bob, &["--json", "posts"]).ok().json();
    assert_eq!(mine.as_array().unwrap().len(), 2);
    for p in mine.as_array().unwrap() {
        assert_eq!(p["account"], "demo");
    }
    assert_eq!(
        s.smv_as(&bob, &["--json", "posts", "--account", "x-main"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let xs = s
        .smv(&["--json", "posts", "--account", "x-main"])
        .ok()
        .json();
    let hidden = seqs(&xs)[0].to_string();
    s.smv_as(&bob, &["posts", "show", &hidden]).fails(3);
    // Without any grant, and not an auditor: refused, and the refusal is on the record.
    let carol = s.add_custodian("carol", "member");
    s.smv_as(&carol, &["posts"]).fails(4);
    assert!(s.audit_entries().iter().any(|e| e.actor == "carol"
        && e.action == "posts"
        && e.outcome == smv::audit::Outcome::Denied));
    // An auditor sees everything.
    let dave = s.add_custodian("dave", "auditor");
    assert_eq!(
        s.smv_as(&dave, &["--json", "posts"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn the_index_is_rebuilt_when_missing_or_not_this_logs() {
    let (s, _bob) = setup();
    let index = PathBuf::from(format!("{}.posts", s.audit().display()));
    let before = s.smv(&["--json", "posts"]).ok().json();
    assert!(index.exists());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&index).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // New posts are read in.
    s.smv(&["post", "demo", "one more"]).ok();
    let after = s.smv(&["--json", "posts"]).ok().json();
    assert_eq!(after.as_array().unwrap().len(), 5);
    // Deleted: rebuilt, the same answer.
    std::fs::remove_file(&index).unwrap();
    assert_eq!(s.smv(&["--json", "posts"]).ok().json(), after);
    // Another vault's index put in its place: not this log's, rebuilt.
    let other = Sandbox::new();
    other.init();
    other
        .smv(&["account", "add", "demo", "--provider", "outbox"])
        .ok();
    other.smv(&["grant", "alice", "demo", "post"]).ok();
    for i in 0..3 {
        other.smv(&["post", "demo", &format!("other {i}")]).ok();
    }
    other.smv(&["posts"]).ok();
    std::fs::copy(format!("{}.posts", other.audit().display()), &index).unwrap();
    assert_eq!(s.smv(&["--json", "posts"]).ok().json(), after);
    assert_ne!(after, before);
    // A file there that is not an index is not touched: refused with the way out.
    std::fs::write(&index, b"not a database").unwrap();
    s.smv(&["posts"]).fails(7);
    assert_eq!(std::fs::read(&index).unwrap(), b"not a database");
}

#[test]
fn an_export_or_a_log_copy_is_read_offline_after_it_verifies() {
    let (s, _bob) = setup();
    let export = s.home().join("export.jsonl");
    let copy = s.home().join("copy.audit");
    let key = s.home().join("audit.pub");
    std::fs::write(&key, s.smv(&["audit", "pubkey"]).ok().stdout).unwrap();
    s.smv(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--out",
        export.to_str().unwrap(),
    ])
    .ok();
    s.smv(&["audit", "backup", copy.to_str().unwrap()]).ok();
    let live = s.smv(&["--json", "posts"]).ok().json();
    // A machine with no vault and no identity.
    let auditor = Sandbox::new();
    for file in [&export, &copy] {
        let args = |extra: &[&str]| {
            let mut a = vec![
                "--json",
                "posts",
                "--log",
                file.to_str().unwrap(),
                "--pubkey",
                key.to_str().unwrap(),
            ];
            a.extend_from_slice(extra);
            a.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let run = |extra: &[&str]| {
            let a = args(extra);
            auditor.smv(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        assert_eq!(
            texts(&run(&[]).ok().json()),
            texts(&live),
            "{}",
            file.display()
        );
        assert_eq!(texts(&run(&["--member", "bob"]).ok().json()).len(), 1);
        let seq = seqs(&live)[0].to_string();
        let shown = run(&["show", &seq]).ok().json();
        assert_eq!(shown["text"], "Café opening on Monday");
        let log = auditor
            .smv(&[
                "--json",
                "audit",
                "log",
                "--log",
                file.to_str().unwrap(),
                "--pubkey",
                key.to_str().unwrap(),
                "--action",
                "post",
            ])
            .ok()
            .json();
        assert_eq!(
            log.as_array().unwrap().len(),
            8,
            "4 posts: intent and ok each"
        );
    }
    // A changed export is refused, not shown.
    let text = std::fs::read_to_string(&export).unwrap();
    let forged = s.home().join("forged.jsonl");
    std::fs::write(&forged, text.replace("faster sync", "slower sync")).unwrap();
    let run = auditor
        .smv(&[
            "posts",
            "--log",
            forged.to_str().unwrap(),
            "--pubkey",
            key.to_str().unwrap(),
        ])
        .fails(10);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    auditor
        .smv(&[
            "audit",
            "log",
            "--log",
            forged.to_str().unwrap(),
            "--pubkey",
            key.to_str().unwrap(),
        ])
        .fails(10);
    // Another vault's key: refused.
    let other = Sandbox::new();
    other.init();
    let other_key = other.home().join("other.pub");
    std::fs::write(&other_key, other.smv(&["audit", "pubkey"]).ok().stdout).unwrap();
    auditor
        .smv(&[
            "posts",
            "--log",
            copy.to_str().unwrap(),
            "--pubkey",
            other_key.to_str().unwrap(),
        ])
        .fails(10);
    // --log needs --pubkey.
    auditor
        .smv(&["posts", "--log", copy.to_str().unwrap()])
        .fails(2)
        .stderr_has("--pubkey");
    auditor
        .smv(&["audit", "log", "--log", copy.to_str().unwrap()])
        .fails(2);
}

/// The posts index is a cache: one of ours with a table missing is started again, and the
/// listing works; another program's database at its path is refused with what to do. Neither
/// shows SQLite's own wording ("no such table", "table meta already exists", a statement).
#[test]
fn a_damaged_or_foreign_posts_index_is_rebuilt_or_named_never_in_sqlite_words() {
    let (s, _) = setup();
    let before = s.smv(&["--json", "posts"]).ok().json();
    let index = s.data_dir().join("vault.smv.audit.posts");
    assert!(index.exists());
    let raw = [
        "no such table",
        "already exists in",
        "CREATE TABLE",
        "constraint failed",
    ];
    // Ours, damaged: rebuilt.
    let c = rusqlite::Connection::open(&index).unwrap();
    c.execute_batch("DROP TABLE meta; DROP TABLE posts;")
        .unwrap();
    drop(c);
    let run = s.smv(&["--json", "posts"]).ok();
    assert_eq!(run.json(), before);
    // Another program's database: refused (exit 7), with the fix, not in SQLite's words.
    std::fs::remove_file(&index).unwrap();
    let c = rusqlite::Connection::open(&index).unwrap();
    c.execute_batch("CREATE TABLE meta (k TEXT); INSERT INTO meta VALUES ('mine');")
        .unwrap();
    drop(c);
    let run = s.smv(&["posts"]).fails(7).stderr_has("hint:");
    for r in raw {
        assert!(!run.stderr.contains(r), "{}", run.stderr);
    }
    assert!(
        run.stderr.contains("not smv's posts index"),
        "{}",
        run.stderr
    );
    // Left untouched.
    let c = rusqlite::Connection::open(&index).unwrap();
    let kept: String = c.query_row("SELECT k FROM meta", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, "mine");
}
