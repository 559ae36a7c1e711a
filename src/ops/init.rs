//! `smv init`: a new vault, its audit log, and its first admin (a custodian).

use age::secrecy::SecretString;
use serde::Serialize;
use serde_json::Map;

use super::check_name;
use crate::access::Role;
use crate::audit::{AuditLog, Channel, LogKey, Outcome, Record};
use crate::identity::{self, Identity, IdentityFileKind, PassphrasePrompt, Source};
use crate::settings::Settings;
use crate::vault::pins::{Pin, Seen};
use crate::vault::{NewMember, Vault, WriteMode, lock::WriteLock};
use crate::{Error, Result, fsutil, ids};

pub struct InitOptions {
    /// The first admin's member name.
    pub admin: String,
    /// Protect a newly created identity file with this passphrase.
    pub passphrase: Option<SecretString>,
}

#[derive(Debug, Serialize)]
pub struct InitReport {
    pub vault: String,
    pub audit_log: String,
    pub member: String,
    pub recipient: String,
    pub identity: String,
    pub identity_created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

pub fn init(
    settings: &Settings,
    opts: InitOptions,
    prompt: &dyn PassphrasePrompt,
) -> Result<InitReport> {
    check_name("member", &opts.admin)?;
    let vault_path = &settings.vault;
    if vault_path.exists() {
        return Err(Error::VaultExists(vault_path.clone()));
    }
    if let Some(dir) = vault_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fsutil::create_private_dir(dir)?;
    }
    let _lock = WriteLock::acquire(&settings.lock_file(), settings.lock_timeout_ms)?;

    let (identity, created, notice) = match identity::resolve_existing(settings, prompt)? {
        Some(existing) => {
            if opts.passphrase.is_some() {
                return Err(Error::invalid(
                    "--passphrase",
                    format!("an identity already exists ({}), and the passphrase applies only to a new one", existing.source.describe()),
                )
                .with_hint("run without --passphrase to reuse that identity, or name a new file with --identity FILE"));
            }
            (existing, false, None)
        }
        None => {
            let fresh = Identity::generate(Source::Env);
            let kind = match &opts.passphrase {
                Some(p) => IdentityFileKind::Passphrase(p),
                None => IdentityFileKind::Plain,
            };
            let stored = identity::store_new(settings, &fresh, kind)?;
            let mut fresh = fresh;
            fresh.source = stored.source;
            (fresh, true, stored.notice)
        }
    };

    let audit_path = settings.audit_log();
    let vault = Vault::create(&settings.vault)?;
    let mut log = AuditLog::create(&audit_path, LogKey::from_vault(&vault)?)?;
    let mut warnings = Vec::new();
    let result = create_vault(
        settings,
        vault,
        &identity,
        &opts.admin,
        &mut log,
        &mut warnings,
    );
    if result.is_err() {
        // Nothing refers to a log whose vault was never written; leave the directory as it was.
        drop(log);
        for ext in ["", "-wal", "-shm"] {
            let mut p = audit_path.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(p);
        }
    }
    let (vault, head) = result?;
    // This machine made the vault: remember it, and how far it and its log have come (see
    // vault::pins).
    let mut pin = Pin::new(vault.id()?, LogKey::from_vault(&vault)?.verifier_key());
    pin.generation = vault.generation()?.unwrap_or(0);
    pin.checkpoint = head.map(|(size, root)| Seen {
        size,
        root: ids::hex(&root),
    });
    crate::vault::pins::record(&settings.known_vaults, vault_path, &pin)?;
    let notice = match (notice, warnings.is_empty()) {
        (n, true) => n,
        (n, false) => Some(n.into_iter().chain(warnings).collect::<Vec<_>>().join("\n")),
    };
    Ok(InitReport {
        vault: vault_path.display().to_string(),
        audit_log: audit_path.display().to_string(),
        member: opts.admin,
        recipient: identity.recipient_string(),
        identity: identity.source.describe(),
        identity_created: created,
        notice,
    })
}

fn create_vault(
    settings: &Settings,
    mut vault: Vault,
    identity: &Identity,
    admin: &str,
    log: &mut AuditLog,
    warnings: &mut Vec<String>,
) -> Result<(Vault, Option<(u64, crate::audit::merkle::Hash)>)> {
    let recipient = identity.recipient_string();
    vault.insert_member(NewMember {
        name: admin,
        role: Role::Admin,
        recipient: Some(&recipient),
        created_by: admin,
    })?;
    let mut details = Map::new();
    details.insert("vault_id".into(), vault.id()?.into());
    details.insert("custodian".into(), recipient.clone().into());
    let intent = Record {
        actor: admin.to_string(),
        channel: Channel::Local,
        action: "init".into(),
        target: format!("member:{admin}"),
        outcome: Outcome::Intent,
        reason: None,
        request_id: ids::random_hex(8),
        details,
    };
    let sealed = vault.seal(identity, 1, 0)?;
    super::store::write_logged(
        settings,
        identity,
        &mut vault,
        sealed,
        WriteMode::CreateNew,
        &intent,
        &mut |records| log.append_batch(records).map(|_| ()),
        warnings,
    )?;
    Ok((vault, log.committed()))
}
