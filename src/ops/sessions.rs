//! Network sessions kept in the vault, for providers that need them between posts.

use serde_json::Map;

use crate::audit::{AuditLog, Channel, LogKey, Outcome, Record};
use crate::identity::Identity;
use crate::providers::{ProviderError, SessionStore, SessionUpdate};
use crate::secret::Secret;
use crate::settings::Settings;
use crate::vault::{Vault, lock::WriteLock};

pub(crate) struct VaultSessions<'a> {
    pub settings: &'a Settings,
    pub identity: &'a Identity,
    pub account: String,
    pub actor: String,
    pub request_id: String,
    /// The session as of the snapshot the command loaded.
    pub snapshot: Option<Secret>,
}

fn fail(e: crate::Error) -> ProviderError {
    ProviderError::Unexpected(format!(
        "the network session could not be stored in the vault: {e}"
    ))
}

impl SessionStore for VaultSessions<'_> {
    fn current(&self) -> Option<Secret> {
        self.snapshot
            .as_ref()
            .map(|s| Secret::from_bytes(s.expose_to_provider().to_vec()))
    }

    fn update(&self, f: &mut SessionUpdate) -> Result<Option<Secret>, ProviderError> {
        let _lock = WriteLock::acquire(&self.settings.lock_file(), self.settings.lock_timeout_ms)
            .map_err(fail)?;
        let mut vault = Vault::load(&self.settings.vault, self.identity).map_err(fail)?;
        let account = vault.account(&self.account).map_err(fail)?;
        let current = vault.account_session(&account).map_err(fail)?;
        let Some(new) = f(current.as_ref())? else {
            return Ok(current);
        };
        vault
            .set_account_session(&account, Some(&new))
            .map_err(fail)?;
        // A vault change like any other: intent, write, outcome. The session itself is never
        // logged.
        let mut log = AuditLog::open_signing(
            &self.settings.audit_log(),
            LogKey::from_vault(&vault).map_err(fail)?,
        )
        .map_err(fail)?;
        let record = |outcome| Record {
            actor: self.actor.clone(),
            channel: Channel::Local,
            action: "account.session".into(),
            target: format!("account:{}", self.account),
            outcome,
            reason: None,
            request_id: self.request_id.clone(),
            details: Map::new(),
        };
        log.append(&record(Outcome::Intent)).map_err(fail)?;
        vault.save(self.identity).map_err(fail)?;
        log.append(&record(Outcome::Ok)).map_err(fail)?;
        Ok(Some(new))
    }
}
