//! The escape hatch: a copy of the vault decrypts with the stock `age` CLI into a SQLite file
//! that `sqlite3` opens, and smv's identity files are ordinary age identities.

mod support;

use std::process::Command;

use support::Sandbox;

#[test]
fn vault_copy_decrypts_with_the_age_cli() {
    if !support::require_tool("age") || !support::require_tool("sqlite3") {
        return;
    }
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
    s.smv(&["member", "add", "joe"]).ok();
    s.smv(&["grant", "joe", "x-main", "post"]).ok();

    let copy = s.home().join("copy.smv");
    std::fs::copy(s.vault(), &copy).unwrap();
    let plain = s.home().join("plain.sqlite");
    let status = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(s.identity_file())
        .arg("-o")
        .arg(&plain)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success(), "age -d failed");

    let sql = |q: &str| {
        let out = Command::new("sqlite3").arg(&plain).arg(q).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let tables = sql(".tables");
    for t in ["accounts", "exposures", "grants", "members", "meta"] {
        assert!(tables.contains(t), "{t} missing from {tables}");
    }
    assert_eq!(
        sql("PRAGMA application_id").trim(),
        smv::vault::APPLICATION_ID.to_string()
    );
    assert_eq!(
        sql("PRAGMA user_version").trim(),
        smv::vault::SCHEMA_VERSION.to_string()
    );
    assert_eq!(sql("SELECT m.name, a.name, g.level FROM grants g JOIN members m ON m.id = g.member_id JOIN accounts a ON a.id = g.account_id").trim(), "joe|x-main|post");

    // A key that is not a custodian cannot do the same.
    let other = s.home().join("other.txt");
    assert!(
        Command::new("age-keygen")
            .arg("-o")
            .arg(&other)
            .status()
            .unwrap()
            .success()
    );
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&other)
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn vault_encrypted_by_the_age_cli_to_us_is_read_when_it_is_an_smv_database() {
    if !support::require_tool("age") || !support::require_tool("sqlite3") {
        return;
    }
    // The reverse direction: decrypt with age, change nothing, re-encrypt with age to the
    // same recipient: smv opens it (the format is plain age, no smv-specific framing).
    let s = Sandbox::new();
    s.init();
    let plain = s.home().join("plain.sqlite");
    assert!(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(s.identity_file())
            .arg("-o")
            .arg(&plain)
            .arg(s.vault())
            .status()
            .unwrap()
            .success()
    );
    let recipient = s.smv(&["identity", "show", "--json"]).ok().json()["recipient"]
        .as_str()
        .unwrap()
        .to_string();
    let reenc = s.home().join("reenc.smv");
    assert!(
        Command::new("age")
            .args(["-r", &recipient, "-o"])
            .arg(&reenc)
            .arg(&plain)
            .status()
            .unwrap()
            .success()
    );
    // The copy needs its audit log beside it (smv checks that the two belong together).
    std::fs::copy(s.audit(), s.home().join("reenc.smv.audit")).unwrap();
    // A file the log does not record (made outside smv: a custodian's `age -r`) opens only
    // once an admin says so, on the record: it bypassed smv's rules and log.
    let reenc = reenc.to_str().unwrap();
    s.smv(&["--vault", reenc, "whoami"])
        .fails(7)
        .stderr_has("not the one its audit log records")
        .stderr_has("smv restore");
    s.smv(&[
        "--vault",
        reenc,
        "restore",
        "--reason",
        "re-encrypted with age",
        "--yes",
    ])
    .ok();
    s.smv(&["--vault", reenc, "whoami"]).ok();
}
