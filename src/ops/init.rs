//! `smv init`: a new vault, its audit log, and its first admin (a custodian).

use age::secrecy::SecretString;
use serde::Serialize;
use serde_json::Map;

use super::check_name;
use crate::access::Role;
use crate::audit::{AuditLog, Channel, LogKey, Outcome, Record};
use crate::identity::{self, Identity, IdentityFileKind, PassphrasePrompt, Source};
use crate::settings::Settings;
use crate::vault::{NewMember, Vault, lock::WriteLock};
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
    let result = create_vault(vault, &identity, &opts.admin, &mut log);
    if result.is_err() {
        // Nothing refers to a log whose vault was never written; leave the directory as it was.
        drop(log);
        for ext in ["", "-wal", "-shm"] {
            let mut p = audit_path.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(p);
        }
    }
    result?;
    // This machine made the vault: remember it (see vault::pins).
    let vault = Vault::load(vault_path, &identity)?;
    crate::vault::pins::record(
        &settings.known_vaults,
        vault_path,
        &crate::vault::pins::Pin {
            vault_id: vault.id()?,
            audit_key: LogKey::from_vault(&vault)?.verifier_key(),
        },
    )?;
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
    mut vault: Vault,
    identity: &Identity,
    admin: &str,
    log: &mut AuditLog,
) -> Result<()> {
    let recipient = identity.recipient_string();
    vault.insert_member(NewMember {
        name: admin,
        role: Role::Admin,
        recipient: Some(&recipient),
        created_by: admin,
    })?;
    let request_id = ids::random_hex(8);
    let mut details = Map::new();
    details.insert("vault_id".into(), vault.id()?.into());
    details.insert("custodian".into(), recipient.clone().into());
    let record = |outcome, reason, details| Record {
        actor: admin.to_string(),
        channel: Channel::Local,
        action: "init".into(),
        target: format!("member:{admin}"),
        outcome,
        reason,
        request_id: request_id.clone(),
        details,
    };
    log.append(&record(Outcome::Intent, None, details))?;
    let saved = vault.save_new(identity);
    let reason = saved.as_ref().err().map(|e| e.to_string());
    let outcome = if saved.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    log.append(&record(outcome, reason, Map::new()))?;
    saved
}
