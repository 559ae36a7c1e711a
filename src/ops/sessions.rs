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
    /// The request that needed the session (the post or check), for the audit details.
    pub request_id: String,
    pub channel: Channel,
    /// The session as of the snapshot the command loaded.
    pub snapshot: Option<Secret>,
}

impl<'a> VaultSessions<'a> {
    /// The session store for `account`, acting as `actor` in this command.
    pub fn new(
        ctx: &'a super::Ctx,
        account: &str,
        actor: &str,
        snapshot: Option<Secret>,
    ) -> VaultSessions<'a> {
        VaultSessions {
            settings: &ctx.settings,
            identity: ctx.identity(),
            account: account.to_string(),
            actor: actor.to_string(),
            request_id: ctx.request_id.clone(),
            channel: ctx.channel.clone(),
            snapshot,
        }
    }
}

fn fail(e: crate::Error) -> ProviderError {
    ProviderError::Unexpected(
        format!("the network session could not be stored in the vault: {e}").into(),
    )
}

impl SessionStore for VaultSessions<'_> {
    fn current(&self) -> Option<Secret> {
        self.snapshot.as_ref().map(Secret::duplicate)
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
        // logged. Its own request id, so that its outcome never closes the post's intent.
        let mut log = AuditLog::open_signing(
            &self.settings.audit_log(),
            LogKey::from_vault(&vault).map_err(fail)?,
        )
        .map_err(fail)?;
        let request_id = crate::ids::random_hex(8);
        let record = |outcome, reason: Option<String>| {
            let mut details = Map::new();
            details.insert("for_request".into(), self.request_id.clone().into());
            Record {
                actor: self.actor.clone(),
                channel: self.channel.clone(),
                action: "account.session".into(),
                target: format!("account:{}", self.account),
                outcome,
                reason,
                request_id: request_id.clone(),
                details,
            }
        };
        log.append(&record(Outcome::Intent, None)).map_err(fail)?;
        if let Err(e) = vault.save(self.identity) {
            let _ = log.append(&record(Outcome::Failed, Some(e.to_string())));
            return Err(fail(e));
        }
        log.append(&record(Outcome::Ok, None)).map_err(fail)?;
        Ok(Some(new))
    }
}
