//! API tokens: `smv token create | list | revoke`. The proxy (`smv serve`) accepts them in
//! place of a custodian key; here they are made, shown once, listed and revoked.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::post::resolve_targets;
use super::{Ctx, check_name};
use crate::access::{self, Action, Level};
use crate::audit::AuditLog;
use crate::secret::Secret;
use crate::vault::{NewToken, Token, TokenKind};
use crate::{Error, Result, clock};

/// Tokens live at most a year: a credential that never expires is one nobody reviews.
pub const MAX_TOKEN_DAYS: i64 = 366;

pub struct TokenSpec<'a> {
    pub name: &'a str,
    /// Account names or groups, comma-separated.
    pub accounts: &'a str,
    pub level: Level,
    pub expires_in_secs: i64,
    pub kind: TokenKind,
    /// Who the token acts for; None: the caller.
    pub owner: Option<&'a str>,
}

/// Mints a token; returns its record and the token itself, which is shown once and stored
/// nowhere (only its hash is in the vault, and nothing of it in the audit log).
pub fn token_create(ctx: &mut Ctx, spec: TokenSpec) -> Result<(Token, Secret)> {
    ctx.change("token.create", &format!("token:{}", spec.name), |tx| {
        check_name("token", spec.name)?;
        if spec.expires_in_secs > MAX_TOKEN_DAYS * 86_400 {
            return Err(Error::invalid(
                "--expires",
                format!("a token lives at most {MAX_TOKEN_DAYS} days"),
            )
            .with_hint("create a new one before it expires (`smv token list` shows when)"));
        }
        let owner = match spec.owner {
            Some(name) => tx.vault.member(name)?,
            None => tx.actor.clone(),
        };
        let for_other = owner.id != tx.actor.id;
        let accounts = resolve_targets(tx.vault, spec.accounts)?;
        for a in &accounts {
            let grant = tx.vault.grant_level(tx.actor, a.id)?;
            tx.require(
                Action::MintToken {
                    grant,
                    level: spec.level,
                    for_other,
                },
                &format!("create a `{}` token for `{}`", spec.level, a.name),
            )?;
        }
        if !owner.active {
            return Err(Error::Conflict(
                format!("member `{}` is removed", owner.name),
                None,
            ));
        }
        let expires_at =
            clock::stamp(clock::now() + chrono::Duration::seconds(spec.expires_in_secs));
        let (token, whole) = tx.vault.insert_token(NewToken {
            name: spec.name,
            owner: &owner,
            kind: spec.kind,
            level: spec.level,
            accounts: &accounts,
            expires_at: &expires_at,
            created_by: &tx.actor.name,
        })?;
        tx.detail("accessor", token.accessor.as_str());
        tx.detail("owner", token.owner.as_str());
        tx.detail("kind", token.kind.as_str());
        tx.detail("level", token.level.as_str());
        tx.detail("accounts", token.accounts.clone());
        tx.detail("expires_at", token.expires_at.as_str());
        Ok((token, whole))
    })
}

/// A token as listed: its record, whether it is usable now, and its last use.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenView {
    #[serde(flatten)]
    pub token: Token,
    pub live: bool,
    /// The latest audit entry made with it (through the proxy).
    pub last_used: Option<String>,
}

/// Admins and auditors see every token; anyone else the tokens they own or created.
pub fn token_list(ctx: &mut Ctx, all: bool) -> Result<Vec<TokenView>> {
    let log_path = ctx.settings.audit_log();
    ctx.read("token.list", "tokens", |tx| {
        let everyone = access::decide(&tx.actor.actor(), Action::ViewAllAccess).is_allowed();
        let now = clock::now_stamp();
        Ok(tx
            .vault
            .tokens()?
            .into_iter()
            .filter(|t| everyone || t.owner_id == tx.actor.id || t.created_by == tx.actor.name)
            .filter(|t| all || t.revoked_at.is_none())
            .map(|t| TokenView {
                live: t.is_live(&now),
                last_used: None,
                token: t,
            })
            .collect::<Vec<_>>())
    })
    .and_then(|mut views| {
        // From the log, after the look: a scan of the log does not hold the vault.
        let uses: HashMap<String, String> =
            AuditLog::open_read_only(&log_path)?.token_last_uses()?;
        for v in &mut views {
            v.last_used = uses.get(&v.token.accessor).cloned();
        }
        Ok(views)
    })
}

pub fn token_revoke(ctx: &mut Ctx, accessor: &str, reason: Option<&str>) -> Result<Token> {
    ctx.change("token.revoke", &format!("token:{accessor}"), |tx| {
        let token = tx.vault.token(accessor)?;
        if token.owner_id != tx.actor.id {
            tx.require(Action::RevokeToken, &format!("revoke token {accessor}"))?;
        }
        if token.revoked_at.is_some() {
            return Err(Error::Conflict(
                format!("token {accessor} is already revoked"),
                None,
            ));
        }
        let reason = reason.unwrap_or("revoked");
        tx.vault.revoke_token(&token, &tx.actor.name, reason)?;
        tx.detail("owner", token.owner.as_str());
        tx.detail("name", token.name.as_str());
        tx.vault.token(accessor)
    })
}
