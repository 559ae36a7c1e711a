//! The operations on both stores: the same random sequences run on the file store and the
//! in-memory store must leave the same state and the same audit trail. An operation that
//! works on one and not the other reaches past the store boundary (`crate::store`).

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::access::{Level, Role};
use crate::identity::{Identity, NoPrompt};
use crate::settings::{Env, Overrides};
use crate::store::memory::MemoryStore;

/// A sandboxed HOME with its settings, and alice's key.
fn home() -> (tempfile::TempDir, Arc<Settings>) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().display().to_string();
    let env = Env::from_pairs([("HOME", home.as_str()), ("SMV_KEYRING", "0")]);
    (
        dir,
        Arc::new(Settings::resolve(&Overrides::default(), env).unwrap()),
    )
}

/// alice's vault in the file store (`smv init`).
fn file_ctx() -> (tempfile::TempDir, Ctx) {
    let (dir, settings) = home();
    let opts = InitOptions {
        admin: "alice".into(),
        passphrase: None,
    };
    init(&settings, opts, &NoPrompt).unwrap();
    let identity = Arc::new(crate::identity::resolve(&settings, &NoPrompt).unwrap());
    let store = crate::store::open(settings.clone(), identity);
    (
        dir,
        Ctx::acting(settings, store, Principal::Key, "r".into()),
    )
}

/// alice's vault in the in-memory store, made as `smv init` makes one.
fn memory_ctx() -> (tempfile::TempDir, Ctx) {
    // A HOME only for the providers' state (the outbox file): the store keeps no file.
    let (dir, settings) = home();
    let identity = Arc::new(Identity::generate(crate::identity::Source::Env));
    let (vault, intent) = init::first_admin(&identity, "alice").unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::create(identity, vault, &intent).unwrap());
    (
        dir,
        Ctx::acting(settings, store, Principal::Key, "r".into()),
    )
}

#[derive(Debug, Clone)]
enum Op {
    AddMember(usize, bool),
    AddAccount(usize),
    Grant(usize, usize, Level),
    Revoke(usize, usize),
    Group(usize, Vec<usize>),
    Freeze(usize),
    FreezeAll,
    Unfreeze(usize),
    Policy(usize, u32),
    Post(usize),
    DryRun(usize),
    Draft(usize),
    Token(usize),
    RemoveMember(usize),
    RemoveAccount(usize),
}

const MEMBERS: [&str; 3] = ["alice", "bob", "carol"];
const ACCOUNTS: [&str; 3] = ["news", "jobs", "press"];

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Draft),
        Just(Level::Post),
        Just(Level::Approve),
        Just(Level::Manage)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1usize..3, any::<bool>()).prop_map(|(m, admin)| Op::AddMember(m, admin)),
        (0usize..3).prop_map(Op::AddAccount),
        (0usize..3, 0usize..3, level()).prop_map(|(m, a, l)| Op::Grant(m, a, l)),
        (0usize..3, 0usize..3).prop_map(|(m, a)| Op::Revoke(m, a)),
        (0usize..2, prop::collection::vec(0usize..3, 1..3)).prop_map(|(g, a)| Op::Group(g, a)),
        (0usize..3).prop_map(Op::Freeze),
        Just(Op::FreezeAll),
        (0usize..3).prop_map(Op::Unfreeze),
        (0usize..3, 0u32..2).prop_map(|(a, n)| Op::Policy(a, n)),
        (0usize..3).prop_map(Op::Post),
        (0usize..3).prop_map(Op::DryRun),
        (0usize..3).prop_map(Op::Draft),
        (0usize..3).prop_map(Op::Token),
        (1usize..3).prop_map(Op::RemoveMember),
        (0usize..3).prop_map(Op::RemoveAccount),
    ]
}

/// Runs one operation; its outcome as a comparable value (Ok, or the error's class).
fn apply(ctx: &mut Ctx, op: &Op) -> std::result::Result<(), &'static str> {
    let result: Result<()> = match op {
        Op::AddMember(m, admin) => member_add(
            ctx,
            MEMBERS[*m],
            if *admin { Role::Admin } else { Role::Member },
            None,
        )
        .map(drop),
        Op::AddAccount(a) => account_add(
            ctx,
            AccountAdd {
                name: ACCOUNTS[*a],
                provider: "outbox",
                handle: None,
                url: None,
            },
            None,
        )
        .map(drop),
        Op::Grant(m, a, l) => grant(ctx, MEMBERS[*m], ACCOUNTS[*a], *l).map(drop),
        Op::Revoke(m, a) => revoke(ctx, MEMBERS[*m], ACCOUNTS[*a]).map(drop),
        Op::Group(g, accounts) => {
            let list: Vec<&str> = accounts.iter().map(|a| ACCOUNTS[*a]).collect();
            group_add(ctx, ["all", "some"][*g], &list.join(",")).map(drop)
        }
        Op::Freeze(a) => freeze(
            ctx,
            &Scope::Account(ACCOUNTS[*a].into()),
            "a test freeze",
            None,
        )
        .map(drop),
        Op::FreezeAll => freeze(ctx, &Scope::All, "everything", None).map(drop),
        Op::Unfreeze(a) => unfreeze(ctx, &Scope::Account(ACCOUNTS[*a].into())).map(drop),
        Op::Policy(a, n) => policy_set(
            ctx,
            ACCOUNTS[*a],
            &PolicyChange {
                approvals: Some(*n),
                strict: None,
                rate: None,
            },
        )
        .map(drop),
        Op::Post(a) | Op::DryRun(a) => post(
            ctx,
            ACCOUNTS[*a],
            "hello from both stores",
            &PostOptions {
                dry_run: matches!(op, Op::DryRun(_)),
                idempotency_key: Some(format!("k{a}")),
            },
        )
        .map(drop),
        Op::Draft(a) => draft_create(ctx, ACCOUNTS[*a], "a draft").map(drop),
        Op::Token(a) => token_create(
            ctx,
            TokenSpec {
                name: "ci",
                accounts: ACCOUNTS[*a],
                level: Level::Post,
                expires_in_secs: 3600,
                kind: crate::vault::TokenKind::Ci,
                owner: None,
            },
        )
        .map(drop),
        Op::RemoveMember(m) => offboard(
            ctx,
            OffboardOptions {
                member: MEMBERS[*m],
                to: None,
                dry_run: false,
                require_active: true,
                reissue: false,
            },
        )
        .map(drop),
        Op::RemoveAccount(a) => account_remove(ctx, ACCOUNTS[*a], false).map(drop),
    };
    ctx.warnings.clear();
    result.map_err(|e| e.class().name())
}

/// Replaces what differs between two runs by nature (times, random ids and hashes, keys)
/// with placeholders, so that the rest can be compared.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| !(c.is_ascii_alphanumeric() || "-:.+_".contains(c)))
    {
        let core =
            word.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || "-:.+_".contains(c)));
        let tail = &word[core.len()..];
        let time = core.len() >= 19 && core.as_bytes().get(4) == Some(&b'-') && core.contains('T');
        let hexy = core.len() >= 8
            && core
                .trim_start_matches(['d', 'q', 't', 'k'])
                .chars()
                .all(|c| c.is_ascii_hexdigit());
        let key = core.starts_with("age1") || core.starts_with("smv_");
        out.push_str(if time {
            "<time>"
        } else if hexy || key {
            "<id>"
        } else {
            core
        });
        out.push_str(tail);
    }
    out
}

/// The state as comparable text: every table but `meta` (ids and keys), rows in order.
fn dump(ctx: &Ctx) -> String {
    ctx.store
        .view(|vault| {
            let conn = vault.conn();
            let mut tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta' ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            tables.sort();
            let mut out = String::new();
            for t in tables {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {t}"))?;
                let n = stmt.column_count();
                let mut rows: Vec<String> = stmt
                    .query_map([], |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => "null".to_string(),
                                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Text(v) => {
                                        mask(&String::from_utf8_lossy(v))
                                    }
                                    rusqlite::types::ValueRef::Blob(_) => "<blob>".into(),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .map(|v| v.join("|"))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                rows.sort();
                out.push_str(&format!("{t}: {}\n", rows.join(" / ")));
            }
            Ok(out)
        })
        .unwrap()
}

/// The audit trail as comparable text: who did what to what, with what outcome and reason.
fn trail(ctx: &Ctx) -> Vec<String> {
    ctx.store
        .reader()
        .unwrap()
        .entries(&Default::default())
        .unwrap()
        .into_iter()
        .map(|e| {
            mask(&format!(
                "{} {} {} {} {}",
                e.actor,
                e.action,
                e.target,
                e.outcome.as_str(),
                e.reason.unwrap_or_default()
            ))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_same_operations_leave_the_same_state_and_trail_in_both_stores(ops in prop::collection::vec(op(), 1..14)) {
        let (_f, mut file) = file_ctx();
        let (_m, mut memory) = memory_ctx();
        // alice may post once there is an account (many sequences exercise the post path).
        let setup = [Op::AddAccount(0), Op::Grant(0, 0, Level::Post)];
        for op in setup.iter().chain(ops.iter()) {
            let a = apply(&mut file, op);
            let b = apply(&mut memory, op);
            prop_assert_eq!(a, b, "{:?} ended differently", op);
        }
        prop_assert_eq!(dump(&file), dump(&memory));
        prop_assert_eq!(trail(&file), trail(&memory));
        // Both trails verify.
        let verified = |ctx: &Ctx| ctx.store.verify_log(None, &mut |_, _| ()).unwrap().is_ok();
        prop_assert!(verified(&file));
        prop_assert!(verified(&memory));
    }
}

#[test]
fn the_masks_hide_only_what_differs_by_nature() {
    assert_eq!(
        mask("2026-12-02T17:19:07Z d1a2b3c4d news alice t0badf00d age1qqq"),
        "<time> <id> news alice <id> <id>"
    );
    assert_eq!(mask("grant account:news ok"), "grant account:news ok");
}

#[test]
fn the_comparison_sees_a_difference() {
    // Not vacuous: one more grant on one side shows in both the state and the trail.
    let (_f, mut file) = file_ctx();
    let (_m, mut memory) = memory_ctx();
    for ctx in [&mut file, &mut memory] {
        apply(ctx, &Op::AddMember(1, false)).unwrap();
        apply(ctx, &Op::AddAccount(0)).unwrap();
    }
    assert_eq!(dump(&file), dump(&memory));
    apply(&mut file, &Op::Grant(1, 0, Level::Post)).unwrap();
    assert_ne!(dump(&file), dump(&memory));
    assert_ne!(trail(&file), trail(&memory));
}

#[test]
fn blobs_are_kept_by_content_in_both_stores() {
    for (_dir, ctx) in [file_ctx(), memory_ctx()] {
        let id = ctx.store.put_blob(b"a picture").unwrap();
        assert_eq!(
            ctx.store.put_blob(b"a picture").unwrap(),
            id,
            "content-addressed"
        );
        assert_ne!(ctx.store.put_blob(b"another").unwrap(), id);
        assert_eq!(&ctx.store.get_blob(&id).unwrap()[..], b"a picture");
        // The name is keyed: not the plain SHA-256 of the content.
        use sha2::Digest;
        assert_ne!(id.0, crate::ids::hex(&sha2::Sha256::digest(b"a picture")));
        let missing = crate::store::BlobId("0".repeat(64));
        assert!(matches!(
            ctx.store.get_blob(&missing),
            Err(Error::NotFound { .. })
        ));
    }
}

#[test]
fn a_file_blob_swapped_for_another_is_refused() {
    let (dir, ctx) = file_ctx();
    let a = ctx.store.put_blob(b"first").unwrap();
    let b = ctx.store.put_blob(b"second").unwrap();
    let blobs = dir.path().join(".local/share/smv/vault.smv.blobs");
    std::fs::copy(blobs.join(&b.0), blobs.join(&a.0)).unwrap();
    assert!(matches!(ctx.store.get_blob(&a), Err(Error::Corrupt { .. })));
    // Sealed like the vault: the plaintext is not in the file.
    let raw = std::fs::read(blobs.join(&b.0)).unwrap();
    assert!(!raw.windows(6).any(|w| w == b"second"));
}

#[test]
fn one_change_at_a_time_and_one_queue_runner_in_memory() {
    let (_m, ctx) = memory_ctx();
    let store = ctx.store.clone();
    let first = store.begin_change().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let second = store.begin_change().unwrap();
            tx.send(()).unwrap();
            drop(second);
        })
    };
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(200))
            .is_err(),
        "a second change began while the first held the lock"
    );
    drop(first);
    rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    waiter.join().unwrap();
    let claim = store.claim_queue().unwrap();
    drop(claim);
    store.claim_queue().unwrap();
}

#[test]
fn a_failing_step_keeps_its_entries_and_a_panicking_one_keeps_none_in_memory() {
    let (_m, ctx) = memory_ctx();
    let store = ctx.store.clone();
    let size = || store.reader().unwrap().size().unwrap();
    let before = size();
    let rec = Record {
        actor: "alice".into(),
        channel: Channel::Local,
        action: "test".into(),
        target: "t".into(),
        outcome: Outcome::Denied,
        reason: None,
        request_id: "r".into(),
        details: Map::new(),
    };
    let failed: Result<()> = store.grouped(|log| {
        log.append(&rec)?;
        Err(Error::invalid("x", "refused"))
    });
    assert!(failed.is_err());
    assert_eq!(size(), before + 1, "a refusal's entry is kept");
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.grouped(|log| -> Result<()> {
            log.append(&rec)?;
            panic!("half-way");
        })
    }));
    assert!(crashed.is_err());
    assert_eq!(size(), before + 1, "the half-written group was kept");
    assert!(store.verify_log(None, &mut |_, _| {}).unwrap().is_ok());
}

#[test]
fn the_archive_reads_the_same_in_both_stores() {
    let list = |ctx: &mut Ctx| -> Vec<String> {
        posts(ctx, &PostsFilter::default(), &mut |_, _| ())
            .unwrap()
            .into_iter()
            .map(|p| format!("{} {} {}", p.account, p.member, p.text))
            .collect()
    };
    let (_f, mut file) = file_ctx();
    let (_m, mut memory) = memory_ctx();
    for ctx in [&mut file, &mut memory] {
        for op in [
            Op::AddAccount(0),
            Op::Grant(0, 0, Level::Post),
            Op::Post(0),
            Op::DryRun(0),
        ] {
            apply(ctx, &op).unwrap();
        }
    }
    let a = list(&mut file);
    assert_eq!(a, ["news alice hello from both stores"]);
    assert_eq!(a, list(&mut memory));
}

/// A Unix peer the proxy maps to a member (`smv serve --uid UID=NAME`) may not mint a token
/// (a mapping is the server's flag: a token minted through it would outlive its removal), and
/// a token such a peer minted before the rule is revoked by `revoke_peer_minted_tokens` (what
/// `smv serve` runs at start), on the record; a token minted with a key is left alone.
#[test]
fn a_mapped_unix_peer_mints_no_token_and_the_ones_it_minted_before_are_revoked() {
    for (_dir, mut ctx) in [file_ctx(), memory_ctx()] {
        apply(&mut ctx, &Op::AddAccount(0)).unwrap();
        apply(&mut ctx, &Op::Grant(0, 0, Level::Post)).unwrap();
        let spec = || TokenSpec {
            name: "ci",
            accounts: ACCOUNTS[0],
            level: Level::Post,
            expires_in_secs: 3600,
            kind: crate::vault::TokenKind::Personal,
            owner: None,
        };
        let mut peer = Ctx::acting(
            ctx.settings.clone(),
            ctx.store.clone(),
            Principal::Peer {
                uid: 1000,
                member: "alice".into(),
            },
            "p".into(),
        );
        let refused = token_create(&mut peer, spec()).unwrap_err();
        assert!(
            matches!(&refused, Error::Denied { rule, .. } if **rule == crate::access::Deny::TokenMints),
            "{refused}"
        );
        let denied = ctx
            .store
            .reader()
            .unwrap()
            .entries(&Default::default())
            .unwrap()
            .into_iter()
            .rev()
            .find(|e| e.action == "token.create")
            .unwrap();
        assert_eq!(denied.outcome, crate::audit::Outcome::Denied, "audited");

        // What the old code did for a peer: the token minted through the proxy channel.
        let old = peer
            .change("token.create", "token:old", |tx| {
                let accounts = super::post::resolve_targets(tx.vault, ACCOUNTS[0])?;
                let (token, _whole) = tx.vault.insert_token(crate::vault::NewToken {
                    name: "old",
                    owner: tx.actor,
                    kind: crate::vault::TokenKind::Personal,
                    level: Level::Post,
                    accounts: &accounts,
                    expires_at: &crate::clock::stamp(
                        crate::clock::now() + chrono::Duration::hours(1),
                    ),
                    created_by: &tx.actor.name,
                })?;
                tx.detail("accessor", token.accessor.as_str());
                Ok(token)
            })
            .unwrap();
        let (kept, _) = token_create(&mut ctx, spec()).unwrap();

        let revoked = revoke_peer_minted_tokens(&mut ctx).unwrap();
        assert_eq!(revoked, std::slice::from_ref(&old.accessor));
        let listed = token_list(&mut ctx, true).unwrap();
        let find = |a: &str| listed.iter().find(|v| v.token.accessor == a).unwrap();
        assert!(
            !find(&old.accessor).live,
            "the peer's token no longer works"
        );
        assert_eq!(
            find(&old.accessor).token.reason.as_deref(),
            Some(PEER_MINTED)
        );
        assert!(find(&kept.accessor).live, "a key's token is left alone");
        // Once: a second start finds nothing and writes nothing.
        let before = ctx
            .store
            .reader()
            .unwrap()
            .entries(&Default::default())
            .unwrap()
            .len();
        assert!(revoke_peer_minted_tokens(&mut ctx).unwrap().is_empty());
        let after = ctx
            .store
            .reader()
            .unwrap()
            .entries(&Default::default())
            .unwrap()
            .len();
        assert_eq!(before, after);
        assert!(ctx.store.verify_log(None, &mut |_, _| ()).unwrap().is_ok());
    }
}

/// Issue 23, files beside the vault written without the key: a keyless writer knows the
/// custodians' public keys, so they can seal content of their own for them, but cannot name
/// it (the name is an HMAC under the vault's fingerprint key): put under an existing name, it
/// is refused.
#[test]
fn a_blob_sealed_by_a_keyless_writer_is_refused() {
    let (dir, ctx) = file_ctx();
    let a = ctx.store.put_blob(b"first").unwrap();
    let mut recipients = None;
    ctx.store
        .look(&mut |v| {
            recipients = Some(v.custodian_recipients()?);
            Ok(())
        })
        .unwrap();
    let forged = crate::envelope::encrypt_to(&recipients.unwrap(), b"planted").unwrap();
    let blobs = dir.path().join(".local/share/smv/vault.smv.blobs");
    std::fs::write(blobs.join(&a.0), forged).unwrap();
    assert!(matches!(ctx.store.get_blob(&a), Err(Error::Corrupt { .. })));
}
