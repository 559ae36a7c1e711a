//! `smv init`: a new vault, its audit log, and its first admin (a custodian).

use age::secrecy::SecretString;
use serde::Serialize;
use serde_json::Map;

use super::check_name;
use crate::access::Role;
use crate::audit::{Channel, Outcome, Record};
use crate::identity::{self, Identity, IdentityFileKind, PassphrasePrompt, Source};
use crate::settings::Settings;
use crate::vault::{NewMember, Vault};
use crate::{Error, Result, ids};

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
    // Before a key is made: a vault that exists is not made again.
    crate::store::check_new(settings)?;

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

    let (vault, intent) = first_admin(&identity, &opts.admin)?;
    let created_store = crate::store::create(settings, &identity, vault, &intent)?;
    let notice = match (notice, created_store.warnings.is_empty()) {
        (n, true) => n,
        (n, false) => Some(
            n.into_iter()
                .chain(created_store.warnings.iter().cloned())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    };
    Ok(InitReport {
        vault: created_store.vault_at,
        audit_log: created_store.log_at,
        member: opts.admin,
        recipient: identity.recipient_string(),
        identity: identity.source.describe(),
        identity_created: created,
        notice,
    })
}

/// The new vault in memory, its first admin (this identity, a custodian) in it, and the
/// intent that records its creation.
pub(crate) fn first_admin(identity: &Identity, admin: &str) -> Result<(Vault, Record)> {
    // Where it is written is the store's business (`store::create`).
    let vault = Vault::create(std::path::Path::new("new vault"))?;
    let recipient = identity.recipient_string();
    vault.insert_member(NewMember {
        name: admin,
        role: Role::Admin,
        recipient: Some(&recipient),
        created_by: admin,
    })?;
    let mut details = Map::new();
    details.insert("vault_id".into(), vault.id()?.into());
    details.insert("custodian".into(), recipient.into());
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
    Ok((vault, intent))
}
