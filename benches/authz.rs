//! Opening a large vault and answering one authorization question (the foundation issue):
//! vaults of 100 → 10,000 accounts, with 10 members and 50 grants per 100 accounts.
//! Reports medians and how each cost grows against the 100-account vault measured in the
//! same run, beside the raw cost of age-decrypting the same bytes.
//!
//! Run: `cargo bench --bench authz`

mod common;

use common::{Rng, measure, ms, us};
use smv::access::{self, Action, Level, Role};
use smv::identity::{Identity, Source};
use smv::secret::Secret;
use smv::vault::{NewAccount, NewMember, Vault};

fn build(
    dir: &std::path::Path,
    accounts: usize,
    members: usize,
    grants: usize,
) -> (std::path::PathBuf, Identity) {
    let path = dir.join(format!("v{accounts}.smv"));
    let me = Identity::generate(Source::Env);
    let mut v = Vault::create(&path).unwrap();
    let recipient = me.recipient_string();
    v.conn().execute_batch("BEGIN").unwrap();
    v.insert_member(NewMember {
        name: "admin",
        role: Role::Admin,
        recipient: Some(&recipient),
        created_by: "bench",
    })
    .unwrap();
    for i in 0..members {
        v.insert_member(NewMember {
            name: &format!("m{i}"),
            role: Role::Member,
            recipient: None,
            created_by: "admin",
        })
        .unwrap();
    }
    for i in 0..accounts {
        let secret = Secret::from_bytes(
            format!("token-{i}-abcdefghijklmnopqrstuvwxyz0123456789").into_bytes(),
        );
        v.insert_account(
            NewAccount {
                name: &format!("acc{i}"),
                provider: "mastodon",
                handle: Some("@company"),
                url: Some("https://social.example"),
                created_by: "admin",
            },
            Some(&secret),
        )
        .unwrap();
    }
    let members_v: Vec<_> = (0..members)
        .map(|i| v.member(&format!("m{i}")).unwrap())
        .collect();
    let mut rng = Rng(42);
    let mut n = 0;
    while n < grants {
        let m = &members_v[rng.below(members as u64) as usize];
        let a = rng.below(accounts as u64) as i64 + 1;
        if v.grant_level(m, a).unwrap().is_none() {
            v.set_grant(m, a, Level::ALL[rng.below(4) as usize], "admin")
                .unwrap();
            n += 1;
        }
    }
    v.conn().execute_batch("COMMIT").unwrap();
    // Measured with `Vault::load` alone (no audit log): written without a record.
    let sealed = v.seal(&me, 1, 0).unwrap();
    v.install(sealed, &me, smv::vault::WriteMode::CreateNew)
        .unwrap();
    (path, me)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!(
        "smv authorization benchmark (release build, {} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>8} {:>8} {:>8} {:>10} | {:>11} {:>11} {:>11} | {:>10} {:>10} | {:>11}",
        "accounts",
        "members",
        "grants",
        "file",
        "decrypt",
        "open",
        "open p90",
        "decide",
        "decide p90",
        "open+decide"
    );
    let mut base: Option<(f64, f64, f64, f64)> = None;
    for (accounts, members, grants) in
        [(100, 10, 500), (1_000, 100, 5_000), (10_000, 1_000, 50_000)]
    {
        let (path, me) = build(dir.path(), accounts, members, grants);
        let bytes = std::fs::read(&path).unwrap();
        let decrypt = measure(30, || {
            smv::envelope::decrypt_with(me.age_identity(), &bytes).unwrap();
        });
        // Every command after the first on this machine: the file is known sound (its
        // SHA-256 in the pin), its pages are not checked again.
        let sound: String = {
            use sha2::Digest;
            sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let open = measure(30, || {
            Vault::load_known(&path, &me, Some(&sound)).unwrap();
        });
        // The first sight of a file: every page checked (`PRAGMA quick_check`).
        let first = measure(10, || {
            Vault::load(&path, &me).unwrap();
        });
        let vault = Vault::load(&path, &me).unwrap();
        let mut rng = Rng(7);
        // One question as the operations layer asks it: who is acting (by key or name), which
        // account, their grant on it, and the rule.
        let decide = measure(2_000, || {
            let m = vault
                .member(&format!("m{}", rng.below(members as u64)))
                .unwrap();
            let a = vault
                .account(&format!("acc{}", rng.below(accounts as u64)))
                .unwrap();
            let grant = vault.grant_level(&m, a.id).unwrap();
            std::hint::black_box(access::decide(
                &m.actor(),
                Action::Grant {
                    grant,
                    level: Level::Post,
                },
            ));
        });
        let total = measure(30, || {
            let v = Vault::load_known(&path, &me, Some(&sound)).unwrap();
            let admin = v
                .member_by_recipient(&me.recipient_string())
                .unwrap()
                .unwrap();
            let a = v.account(&format!("acc{}", accounts / 2)).unwrap();
            let grant = v.grant_level(&admin, a.id).unwrap();
            std::hint::black_box(access::decide(
                &admin.actor(),
                Action::ViewAccount { grant },
            ));
        });
        println!(
            "{:>8} {:>8} {:>8} {:>8}KB | {:>11} {:>11} {:>11} | {:>10} {:>10} | {:>11}",
            accounts,
            members,
            grants,
            bytes.len() / 1024,
            ms(decrypt.median),
            ms(open.median),
            ms(open.p90),
            us(decide.median),
            us(decide.p90),
            ms(total.median)
        );
        println!(
            "{:>38} the first open of this file on a machine (every page checked): {}",
            "",
            ms(first.median)
        );
        let now = (
            bytes.len() as f64,
            open.median.as_secs_f64(),
            decide.median.as_secs_f64(),
            total.median.as_secs_f64(),
        );
        match base {
            None => base = Some(now),
            Some(b) => println!(
                "{:>38} growth vs 100 accounts: size ×{:.1}, open ×{:.1}, decide ×{:.1}, open+decide ×{:.1}",
                "",
                now.0 / b.0,
                now.1 / b.1,
                now.2 / b.2,
                now.3 / b.3
            ),
        }
        if accounts == 10_000 {
            let verdict = if total.median.as_secs_f64() < 0.020 {
                "MEETS"
            } else {
                "MISSES"
            };
            println!(
                "target: open + one authorization question under 20 ms on the 10,000-account vault: {verdict} ({})",
                ms(total.median)
            );
        }
    }
}
