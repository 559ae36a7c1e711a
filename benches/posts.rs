//! `smv posts` on a large log (issue 19): building the posts index beside a log of N
//! entries (the first `smv posts`), opening it when nothing is new and after one new post,
//! and the filtered queries — by account, member, time and words — each reading the shown
//! entries from the log, as `ops::posts` does. For comparison, the same word search as a
//! scan of the log without the index.
//!
//! Run: `cargo bench --bench posts` (N = 1,000,000; SMV_BENCH_ENTRIES to change it).

mod common;

use std::time::Instant;

use common::{measure, ms};
use smv::audit::posts::{PostIndex, PostQuery};
use smv::audit::{AuditLog, Channel, LogKey, Outcome, Record};

const WORDS: [&str; 16] = [
    "release",
    "launch",
    "update",
    "results",
    "event",
    "team",
    "product",
    "news",
    "today",
    "week",
    "customers",
    "support",
    "security",
    "hiring",
    "webinar",
    "thanks",
];

fn record(i: u64) -> Record {
    let mut details = serde_json::Map::new();
    details.insert("provider".into(), "mastodon".into());
    let n = i / 2;
    let text = format!(
        "{} {} {} number {n}{}",
        WORDS[(n % 16) as usize],
        WORDS[(n / 16 % 16) as usize],
        WORDS[(n / 256 % 16) as usize],
        if n % 100_000 == 7 { " zeppelin" } else { "" }
    );
    details.insert("text".into(), text.into());
    if i % 2 == 1 {
        details.insert("post_id".into(), format!("11{i:016}").into());
    }
    Record {
        actor: format!("member{}", n % 50),
        channel: Channel::Local,
        action: "post".into(),
        target: format!("account:acc{}", n % 200),
        outcome: if i.is_multiple_of(2) {
            Outcome::Intent
        } else {
            Outcome::Ok
        },
        reason: None,
        request_id: format!("{n:016x}"),
        details,
    }
}

fn add_account(i: u64) -> Record {
    Record {
        actor: "admin".into(),
        channel: Channel::Local,
        action: "account.add".into(),
        target: format!("account:acc{i}"),
        outcome: Outcome::Ok,
        reason: None,
        request_id: format!("add{i}"),
        details: Default::default(),
    }
}

fn build(path: &std::path::Path, n: u64) {
    let key = LogKey::from_seed("smv-posts/bench", &[7; 32]).unwrap();
    let mut log = AuditLog::create(path, key).unwrap();
    log.append_batch(&(0..200).map(add_account).collect::<Vec<_>>())
        .unwrap();
    let mut i = 0;
    while i < n {
        let batch: Vec<Record> = (i..(i + 10_000).min(n)).map(record).collect();
        log.append_batch(&batch).unwrap();
        i += batch.len() as u64;
    }
}

fn main() {
    let n: u64 = std::env::var("SMV_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::var("SMV_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .unwrap();
    let path = dir.path().join("bench.audit");
    println!(
        "smv posts benchmark (release build, {} cores), N = {n} entries ({} posts)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        n / 2
    );
    let t = Instant::now();
    build(&path, n);
    println!("build the log: {:.1} s", t.elapsed().as_secs_f64());
    let log = AuditLog::open_read_only(&path).unwrap();

    let t = Instant::now();
    let index = PostIndex::beside(log.path(), &log, &mut |_, _| {}).unwrap();
    println!(
        "first `smv posts`: index {} posts from the log: {:.1} s (index file {:.0} MB)",
        n / 2,
        t.elapsed().as_secs_f64(),
        std::fs::metadata(dir.path().join("bench.audit.posts"))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    );
    drop(index);

    let s = measure(50, || {
        PostIndex::beside(log.path(), &log, &mut |_, _| {}).unwrap();
    });
    println!(
        "open the index, nothing new: median {}  p99 {}",
        ms(s.median),
        ms(s.p99)
    );

    let key = LogKey::from_seed("smv-posts/bench", &[7; 32]).unwrap();
    let mut writer = AuditLog::open_signing(&path, key).unwrap();
    let mut i = n;
    let s = measure(20, || {
        writer.append(&record(i | 1)).unwrap();
        i += 2;
        PostIndex::beside(log.path(), &log, &mut |_, _| {}).unwrap();
    });
    println!(
        "append one post, then open the index (reads the one new entry): median {}  p99 {}",
        ms(s.median),
        ms(s.p99)
    );

    let index = PostIndex::beside(log.path(), &log, &mut |_, _| {}).unwrap();
    let mid = log.entry(n / 2).unwrap().unwrap().time;
    let acc = |name: &str| index.account(name).unwrap().unwrap();
    let cases: Vec<(&str, PostQuery)> = vec![
        (
            "newest 50, no filter",
            PostQuery {
                limit: 50,
                ..PostQuery::default()
            },
        ),
        (
            "--account acc7 (newest 50)",
            PostQuery {
                accounts: Some(vec![acc("acc7")]),
                limit: 50,
                ..PostQuery::default()
            },
        ),
        (
            "--account acc7 --limit 0 (all 2,500)",
            PostQuery {
                accounts: Some(vec![acc("acc7")]),
                limit: 0,
                ..PostQuery::default()
            },
        ),
        (
            "--member member3 (newest 50)",
            PostQuery {
                actor: Some("member3".into()),
                limit: 50,
                ..PostQuery::default()
            },
        ),
        (
            "--since (mid-log) --until (+1 s) (newest 50)",
            PostQuery {
                since: Some(mid.clone()),
                until: Some(
                    (chrono::DateTime::parse_from_rfc3339(&mid).unwrap()
                        + chrono::Duration::seconds(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                ),
                limit: 50,
                ..PostQuery::default()
            },
        ),
        (
            "--text zeppelin (rare word, all)",
            PostQuery {
                words: Some("zeppelin".into()),
                limit: 0,
                ..PostQuery::default()
            },
        ),
        (
            "--text \"release launch\" (newest 50)",
            PostQuery {
                words: Some("release launch".into()),
                limit: 50,
                ..PostQuery::default()
            },
        ),
        (
            "--account acc7 --text security (all)",
            PostQuery {
                accounts: Some(vec![acc("acc7")]),
                words: Some("security".into()),
                limit: 0,
                ..PostQuery::default()
            },
        ),
    ];
    for (label, q) in cases {
        let mut found = 0;
        let s = measure(20, || {
            let seqs = index.select(&q).unwrap();
            found = seqs.len();
            // As ops::posts: what is shown comes from the log's entries.
            for seq in seqs {
                std::hint::black_box(log.entry(seq).unwrap());
            }
        });
        println!(
            "posts {label:<44} {found:>6} found: median {}  p99 {}",
            ms(s.median),
            ms(s.p99)
        );
    }

    // Without the index: the same rare word, scanning every entry's JSON in the log.
    let t = Instant::now();
    let mut found = 0;
    log.each_after(0, n + 200, &["post"], &mut |e| {
        if e.outcome == Outcome::Ok
            && e.details
                .get("text")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.contains("zeppelin"))
        {
            found += 1;
        }
        Ok(())
    })
    .unwrap();
    println!(
        "for comparison, a scan of the log for `zeppelin` without the index: {found} found in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}
