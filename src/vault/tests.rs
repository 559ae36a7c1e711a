use super::*;
use crate::identity::{Identity, Source};

fn vault_with_admin(dir: &std::path::Path) -> (Vault, Identity) {
    let id = Identity::generate(Source::Env);
    let v = Vault::create(&dir.join("v.smv")).unwrap();
    let r = id.recipient_string();
    v.insert_member(NewMember {
        name: "alice",
        role: crate::access::Role::Admin,
        recipient: Some(&r),
        created_by: "alice",
    })
    .unwrap();
    (v, id)
}

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (mut v, id) = vault_with_admin(dir.path());
    v.save_new(&id).unwrap();
    assert!(matches!(v.save_new(&id), Err(Error::VaultExists(_))));
    let loaded = Vault::load(&dir.path().join("v.smv"), &id).unwrap();
    assert_eq!(
        loaded.member("alice").unwrap().role,
        crate::access::Role::Admin
    );
    assert_eq!(loaded.id().unwrap(), v.id().unwrap());
}

/// A vault written by the previous schema is migrated in memory on load, and reaches the
/// disk with the next save.
#[test]
fn a_version_1_vault_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut v, id) = vault_with_admin(dir.path());
    // Make it look exactly like schema 1: no groups, sessions, governance or rename tables.
    v.conn()
        .execute_batch(
            "DROP TABLE account_names; DROP TABLE token_accounts; DROP TABLE tokens; DROP TABLE queue; DROP TABLE freezes; DROP TABLE policies; DROP TABLE approvals;
             DROP TABLE draft_accounts; DROP TABLE drafts;
             DROP TABLE groups; ALTER TABLE accounts DROP COLUMN session;
             ALTER TABLE members DROP COLUMN former_recipient;
             ALTER TABLE accounts DROP COLUMN secret_label;
             ALTER TABLE accounts DROP COLUMN secret_expires_at;
             ALTER TABLE accounts DROP COLUMN api_version; PRAGMA user_version = 1;",
        )
        .unwrap();
    // Written as the old smv would have: today's save would read today's columns.
    let image = v.image().unwrap();
    let bytes = crate::envelope::encrypt_to(&[id.recipient()], &image).unwrap();
    std::fs::write(dir.path().join("v.smv"), bytes).unwrap();
    let mut loaded = Vault::load(&dir.path().join("v.smv"), &id).unwrap();
    let version: i64 = loaded
        .conn()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert!(!loaded.group_exists("any").unwrap());
    assert!(loaded.drafts(true).unwrap().is_empty());
    assert!(loaded.active_freezes().unwrap().is_empty());
    assert_eq!(loaded.member("alice").unwrap().former_recipient, None);
    loaded.save(&id).unwrap();
    let again = Vault::load(&dir.path().join("v.smv"), &id).unwrap();
    assert_eq!(again.member("alice").unwrap().name, "alice");
}

#[test]
fn a_writer_who_would_lose_access_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut v, id) = vault_with_admin(dir.path());
    v.save_new(&id).unwrap();
    let stranger = Identity::generate(Source::Env);
    let before = std::fs::read(dir.path().join("v.smv")).unwrap();
    assert!(matches!(v.save(&stranger), Err(Error::Conflict(..))));
    assert_eq!(before, std::fs::read(dir.path().join("v.smv")).unwrap());
}

/// The page-by-page check of a vault's database image runs unless this machine has
/// already found that very file sound (its SHA-256 in the pin): a damaged image is refused
/// by `load` and by `load_known` with any other hash, and only skipped for its own.
#[test]
fn the_image_check_is_skipped_only_for_a_file_known_sound() {
    let dir = tempfile::tempdir().unwrap();
    let (mut v, id) = vault_with_admin(dir.path());
    for i in 0..200 {
        v.conn()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                (format!("filler-{i}"), vec![b'x'; 200]),
            )
            .unwrap();
    }
    v.save_new(&id).unwrap();
    let path = dir.path().join("v.smv");
    let good = std::fs::read(&path).unwrap();
    let sound = sha256_hex(&good);
    assert!(Vault::load_known(&path, &id, Some(&sound)).is_ok());
    // Damage an index page of the image and seal it again, as `age -d`, an edit and
    // `age -r` would.
    let mut image = envelope::decrypt_with(id.age_identity(), &good)
        .ok()
        .unwrap()
        .to_vec();
    assert!(image.len() > 16384, "{}", image.len());
    for b in &mut image[8192 + 200..8192 + 300] {
        *b = 0xff;
    }
    let damaged = envelope::encrypt_to(&[id.recipient()], &image).unwrap();
    std::fs::write(&path, &damaged).unwrap();
    let refused = |r: Result<Vault>| match r {
        Err(Error::Corrupt { why, .. }) => assert!(why.contains("damaged"), "{why}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a damaged image was accepted"),
    };
    refused(Vault::load(&path, &id));
    refused(Vault::load_known(&path, &id, Some(&sound)));
    let known = sha256_hex(&damaged);
    // Known sound (it never would be: the check refused it): not checked again.
    assert!(Vault::load_known(&path, &id, Some(&known)).is_ok());
}
