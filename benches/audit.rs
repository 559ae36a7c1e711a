//! The audit log (the audit issue): `verify` on a large log, reported as entries/s beside the
//! raw speed of SHA-256 and Ed25519 verification measured in the same run; and one durable
//! append (fsync) at 1,000 and at N existing entries, to show that its cost does not grow;
//! and the idempotency lookup over one account's history, parsing every entry vs searching
//! SQLite's rows for the key first.
//!
//! Run: `cargo bench --bench audit` (N = 1,000,000; set SMV_BENCH_ENTRIES to change it).

mod common;

use std::time::Instant;

use common::{measure, ms};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use sha2::Digest;
use smv::audit::{self, AuditLog, Channel, LogKey, Outcome, Record};

fn record(i: u64) -> Record {
    let mut details = serde_json::Map::new();
    details.insert("provider".into(), "mastodon".into());
    details.insert("post_id".into(), format!("11{i:016}").into());
    Record {
        actor: format!("member{}", i % 50),
        channel: Channel::Local,
        action: "post".into(),
        target: format!("account:acc{}", i % 200),
        outcome: if i.is_multiple_of(2) {
            Outcome::Intent
        } else {
            Outcome::Ok
        },
        reason: None,
        request_id: format!("{:016x}", i / 2),
        details,
    }
}

fn build(path: &std::path::Path, n: u64) -> f64 {
    let key = LogKey::from_seed("smv-audit/bench", &[5; 32]).unwrap();
    let mut log = AuditLog::create(path, key).unwrap();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<Record> = (i..(i + 10_000).min(n)).map(record).collect();
        log.append_batch(&batch).unwrap();
        i += batch.len() as u64;
    }
    t.elapsed().as_secs_f64()
}

fn append_stats(path: &std::path::Path, label: &str) {
    let key = LogKey::from_seed("smv-audit/bench", &[5; 32]).unwrap();
    let mut log = AuditLog::open_signing(path, key).unwrap();
    let mut i = 0;
    let s = measure(200, || {
        log.append(&record(i)).unwrap();
        i += 1;
    });
    println!(
        "append one entry (durable, fsync) at {label:>9} entries: median {}  p99 {}",
        ms(s.median),
        ms(s.p99)
    );
}

fn main() {
    let n: u64 = std::env::var("SMV_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::var("SMV_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .unwrap();
    println!(
        "smv audit log benchmark (release build, {} cores), N = {n}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Raw primitives, same run.
    let body = serde_json::to_vec(&audit::Entry::from_record(
        123_456,
        "2026-11-22T12:00:00.000000Z".into(),
        &record(3),
    ))
    .unwrap();
    let reps = 200_000;
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(&body)));
    }
    let sha_per_s = reps as f64 / t.elapsed().as_secs_f64();
    let sk = SigningKey::from_bytes(&[9; 32]);
    let sig = sk.sign(b"smv-audit/bench\n1000000\nAAAA\n");
    let vk = sk.verifying_key();
    let t = Instant::now();
    for _ in 0..5_000 {
        vk.verify(b"smv-audit/bench\n1000000\nAAAA\n", &sig)
            .unwrap();
    }
    let ed_per_s = 5_000.0 / t.elapsed().as_secs_f64();
    println!(
        "raw SHA-256 of one {}-byte entry: {:.0}/s; raw Ed25519 verify: {:.0}/s",
        body.len(),
        sha_per_s,
        ed_per_s
    );

    let small = dir.path().join("small.sqlite");
    build(&small, 1_000);
    let large = dir.path().join("large.sqlite");
    let secs = build(&large, n);
    println!(
        "built the {n}-entry log in {secs:.1} s with group commits of 10,000 ({:.0} entries/s); file {} MB",
        n as f64 / secs,
        std::fs::metadata(&large).unwrap().len() / 1_000_000
    );

    let log = AuditLog::open_read_only(&large).unwrap();
    let verifier = LogKey::from_seed("smv-audit/bench", &[5; 32])
        .unwrap()
        .verifier()
        .unwrap();
    let t = Instant::now();
    let report = audit::verify_log(&log, &verifier, None, &mut |_| {}).unwrap();
    let vsecs = t.elapsed().as_secs_f64();
    let rate = report.entries as f64 / vsecs;
    println!(
        "verify: {} entries in {vsecs:.2} s = {rate:.0} entries/s ({} signatures checked); that is {:.2}× raw Ed25519-verify speed and {:.2}× raw SHA-256 speed",
        report.entries,
        report.signatures_checked,
        rate / ed_per_s,
        rate / sha_per_s
    );
    println!(
        "target: at least 100,000 entries/s: {}",
        if rate >= 100_000.0 { "MEETS" } else { "MISSES" }
    );

    // The idempotency check: one account's `post` entries (n / 200 of them), looking for a
    // key. Parsing every entry (as before) against SQLite's byte search for the key first.
    let filter = audit::Filter {
        account: Some("acc7".into()),
        action: Some("post".into()),
        ..audit::Filter::default()
    };
    let parse_all = measure(20, || {
        let found = log.entries(&filter).unwrap();
        assert!(
            found
                .iter()
                .all(|e| !e.details.contains_key("idempotency_key"))
        );
    });
    let search = measure(20, || {
        let found = log
            .entries_mentioning(&filter, br#""idempotency_key":"release-2.1""#)
            .unwrap();
        assert!(found.is_empty());
    });
    println!(
        "idempotency lookup over one account's {} entries: parse all {}, byte search first {} ({:.1}× faster)",
        n / 200,
        ms(parse_all.median),
        ms(search.median),
        parse_all.median.as_secs_f64() / search.median.as_secs_f64()
    );
    drop(log);

    append_stats(&small, "1,000");
    append_stats(&large, &format!("{n}"));
}
