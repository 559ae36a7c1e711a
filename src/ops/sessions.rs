//! Network sessions kept in the vault, for providers that need them between posts.

use std::sync::Arc;

use serde_json::Map;

use crate::audit::{Channel, Outcome, Record};
use crate::providers::{ProviderError, SessionStore, SessionUpdate};
use crate::secret::Secret;
use crate::store::Store;

pub(crate) struct VaultSessions {
    pub store: Arc<dyn Store>,
    pub account: String,
    pub actor: String,
    /// The request that needed the session (the post or check), for the audit details.
    pub request_id: String,
    pub channel: Channel,
    /// The session as of the snapshot the command loaded.
    pub snapshot: Option<Secret>,
}

impl VaultSessions {
    /// The session store for `account`, acting as `actor` in this command.
    pub fn new(
        ctx: &super::Ctx,
        account: &str,
        actor: &str,
        snapshot: Option<Secret>,
    ) -> VaultSessions {
        VaultSessions {
            store: ctx.store.clone(),
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

impl SessionStore for VaultSessions {
    fn current(&self) -> Option<Secret> {
        self.snapshot.as_ref().map(Secret::duplicate)
    }

    fn update(&self, f: &mut SessionUpdate) -> Result<Option<Secret>, ProviderError> {
        let mut change = self.store.begin_change().map_err(fail)?;
        let vault = &mut change.vault;
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
        let mut details = Map::new();
        details.insert("for_request".into(), self.request_id.clone().into());
        let intent = Record {
            actor: self.actor.clone(),
            channel: self.channel.clone(),
            action: "account.session".into(),
            target: format!("account:{}", self.account),
            outcome: Outcome::Intent,
            reason: None,
            request_id: crate::ids::random_hex(8),
            details,
        };
        let mut warnings = Vec::new();
        self.store
            .finish_change(change, &intent, &mut warnings)
            .map_err(|e| fail(e.into()))?;
        for w in warnings {
            self.store.notice(w);
        }
        Ok(Some(new))
    }
}
